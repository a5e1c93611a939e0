"""`xaso speaker --feed URL`: the reference loudspeaker client.

It polls the commune's signed feed, and for each entry it has not played yet: verifies the signature and
the certificate chain against the root it was given (`--trust`, the commune's `root-ca.pem`: the operator
copies it onto the speaker once; nothing is trusted from the network), checks that the entry is an
announcement for its hamlet whose time has come, downloads the audio and checks its SHA-256 against the
signed one, then saves it (and plays it with `--play`) in order, and remembers it in `played.json`.
Anything that fails a check is refused and never played.

The audio is fetched from the feed's own server (the path of the signed URL): a speaker on the commune's
LAN may reach the server by another name than its public one, and where the bytes come from does not
matter since their digest is signed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit, urlunsplit

import aiohttp
from cryptography import x509

from core.signing import MalformedEnvelope, SignedDocument, verify
from core.signing.verify import REASON_SUMMARY

log = logging.getLogger(__name__)
KIND = "announcement"
MAX_FEED_BYTES = 2 * 1024 * 1024
MAX_AUDIO_BYTES = 20 * 1024 * 1024
PLAYED_FILE = "played.json"
CLOCK_SKEW = dt.timedelta(minutes=5)
DEFAULT_PLAYER = "ffplay -nodisp -autoexit -loglevel quiet"


@dataclass(frozen=True, slots=True)
class Outcome:
    code: str
    ok: bool
    reason: str
    path: Path | None = None


@dataclass
class Speaker:
    feed_url: str
    out_dir: Path
    anchors: Sequence[x509.Certificate]
    player: Sequence[str] | None = None  # a command to play an MP3 file, e.g. ["mpg123", "-q"]
    timeout: float = 30.0
    played: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.played = self._load_played()
        query = parse_qs(urlsplit(self.feed_url).query)
        self.hamlet = (query.get("hamlet") or [None])[0]

    async def poll(self, session: aiohttp.ClientSession) -> list[Outcome]:
        """One look at the feed; new entries are handled oldest first."""
        entries = await self._fetch_feed(session)
        outcomes: list[Outcome] = []
        for entry in entries:
            code = entry.get("code") if isinstance(entry, dict) else None
            if isinstance(code, str) and code in self.played:
                continue
            outcome = await self._handle(session, entry)
            outcomes.append(outcome)
            if outcome.ok:
                self.played.append(outcome.code)
                self._save_played()
        return outcomes

    async def run(self, interval: float, stop: asyncio.Event, out: TextIO) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as session:
            while not stop.is_set():
                try:
                    for outcome in await self.poll(session):
                        report(outcome, out)
                except (aiohttp.ClientError, TimeoutError, ValueError) as problem:
                    print(f"feed unavailable: {type(problem).__name__}: {problem}", file=out, flush=True)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval)

    # -- inside

    async def _fetch_feed(self, session: aiohttp.ClientSession) -> list[Any]:
        async with session.get(self.feed_url) as response:
            response.raise_for_status()
            body = await response.content.read(MAX_FEED_BYTES + 1)
        if len(body) > MAX_FEED_BYTES:
            raise ValueError("feed too large")
        data = json.loads(body)
        entries = data.get("entries") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise ValueError("not a loudspeaker feed")
        return entries

    async def _handle(self, session: aiohttp.ClientSession, entry: Any) -> Outcome:
        try:
            envelope = SignedDocument.from_json(entry)
        except MalformedEnvelope as problem:
            return Outcome("?", False, f"malformed: {problem}")
        checked = verify(envelope, self.anchors)
        if not checked.ok:
            return Outcome(envelope.code, False, "; ".join(REASON_SUMMARY[item] for item in checked.reasons))
        problem = self._document_problem(envelope)
        if problem:
            return Outcome(envelope.code, False, problem)
        audio = envelope.document["audio"]
        try:
            data = await self._fetch_audio(session, str(audio["url"]))
        except (aiohttp.ClientError, TimeoutError, ValueError) as problem:
            return Outcome(envelope.code, False, f"audio unavailable: {type(problem).__name__}")
        if hashlib.sha256(data).hexdigest() != audio["sha256"]:
            return Outcome(envelope.code, False, "the audio differs from the signed one (SHA-256 mismatch)")
        path = self._save(envelope, data)
        if self.player:
            await self._play(path)
        return Outcome(envelope.code, True, "played" if self.player else "saved", path)

    def _document_problem(self, envelope: SignedDocument) -> str | None:
        document = envelope.document
        if envelope.kind != KIND:
            return f"not an announcement ({envelope.kind})"
        audio = document.get("audio")
        if not isinstance(audio, dict) or not isinstance(audio.get("url"), str) \
                or not isinstance(audio.get("sha256"), str) or len(audio["sha256"]) != 64:
            return "no signed audio"
        hamlets = document.get("hamlets")
        if not isinstance(hamlets, list):
            return "no signed audience"
        if hamlets and self.hamlet not in hamlets:
            return "signed for other hamlets"
        try:
            publish_at = dt.datetime.strptime(str(document.get("publish_at")), "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            return "no signed publication time"
        if publish_at.replace(tzinfo=dt.UTC) > dt.datetime.now(dt.UTC) + CLOCK_SKEW:
            return "not yet due"
        return None

    def _audio_url(self, signed_url: str) -> str:
        feed, audio = urlsplit(self.feed_url), urlsplit(signed_url)
        return urlunsplit((feed.scheme, feed.netloc, audio.path, audio.query, ""))

    async def _fetch_audio(self, session: aiohttp.ClientSession, signed_url: str) -> bytes:
        async with session.get(self._audio_url(signed_url)) as response:
            response.raise_for_status()
            data = await response.content.read(MAX_AUDIO_BYTES + 1)
        if len(data) > MAX_AUDIO_BYTES:
            raise ValueError("audio too large")
        return data

    def _save(self, envelope: SignedDocument, data: bytes) -> Path:
        stamp = str(envelope.document["publish_at"]).replace(":", "").replace("-", "")
        path = self.out_dir / f"{stamp}-{envelope.code}.mp3"
        partial = path.with_suffix(".part")
        partial.write_bytes(data)
        partial.replace(path)
        (path.with_suffix(".json")).write_text(envelope.dumps(indent=2), encoding="utf-8")
        return path

    async def _play(self, path: Path) -> None:
        assert self.player
        try:
            process = await asyncio.create_subprocess_exec(*self.player, str(path))
            await process.wait()
        except OSError as problem:
            log.warning("cannot play %s: %s", path, problem)

    def _load_played(self) -> list[str]:
        try:
            loaded = json.loads((self.out_dir / PLAYED_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        return [item for item in loaded if isinstance(item, str)] if isinstance(loaded, list) else []

    def _save_played(self) -> None:
        path = self.out_dir / PLAYED_FILE
        partial = path.with_name(f"{PLAYED_FILE}.{os.getpid()}.part")
        partial.write_text(json.dumps(self.played[-1000:]), encoding="utf-8")
        partial.replace(path)


def report(outcome: Outcome, out: TextIO) -> None:
    if outcome.ok:
        print(f"{outcome.reason.upper()} {outcome.code} -> {outcome.path}", file=out, flush=True)
    else:
        print(f"REFUSED {outcome.code}: {outcome.reason}", file=out, flush=True)


def load_anchors(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def speaker_command(args: argparse.Namespace, default_trust: Path, out: TextIO, err: TextIO) -> int:
    """Exit 0 when it ran (with --once: and nothing was refused), 1 if something was refused, 2 on
    a configuration problem."""
    trust = Path(args.trust) if args.trust else default_trust
    try:
        anchors = load_anchors(trust)
    except (OSError, ValueError) as problem:
        print(f"xaso speaker: cannot read the trusted root {trust}: {problem} (pass --trust root-ca.pem)",
              file=err)
        return 2
    if not urlsplit(args.feed).scheme.startswith("http"):
        print("xaso speaker: --feed must be an http(s) URL", file=err)
        return 2
    player = shlex.split(args.player) if args.play else None
    speaker = Speaker(args.feed, Path(args.out), anchors, player)
    if args.once:
        async def once() -> list[Outcome]:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=speaker.timeout)) as session:
                return await speaker.poll(session)
        try:
            outcomes = asyncio.run(once())
        except (aiohttp.ClientError, TimeoutError, ValueError) as problem:
            print(f"xaso speaker: feed unavailable: {problem}", file=err)
            return 2
        for outcome in outcomes:
            report(outcome, out)
        return 0 if all(outcome.ok for outcome in outcomes) else 1
    stop = asyncio.Event()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(speaker.run(args.interval, stop, out))
    return 0


def add_parser(commands: Any) -> argparse.ArgumentParser:
    speaker: argparse.ArgumentParser = commands.add_parser(
        "speaker", help="the reference loudspeaker: play the signed feed")
    speaker.add_argument("--feed", required=True, metavar="URL",
                         help="e.g. http://SERVER:8080/loudspeaker/feed?hamlet=kem")
    speaker.add_argument("--trust", metavar="ROOT",
                         help="the commune's root certificate, PEM (default: var/keys/root-ca.pem)")
    speaker.add_argument("--out", default="speaker", metavar="DIR", help="where audio and played.json go")
    speaker.add_argument("--play", action="store_true", help="play each new announcement")
    speaker.add_argument("--player", default=DEFAULT_PLAYER,
                         help=f"player command (default: {DEFAULT_PLAYER})")
    speaker.add_argument("--interval", type=float, default=30.0, help="seconds between polls")
    speaker.add_argument("--once", action="store_true", help="poll once and exit")
    return speaker
