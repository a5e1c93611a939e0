"""The reference loudspeaker against the real feed over HTTP: it saves what the commune signed, in order
and once; through a tampering proxy it refuses every altered entry (text, audience, signature, audio,
another CA's certificate) and saves nothing of them."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography import x509

from bots.cli import main
from bots.speaker import Speaker
from core.config import Settings
from core.signing import SignedDocument, create_commune_keys
from core.signing.envelope import sign_envelope
from tests.support.announcements import write_until_preview
from tests.support.roles import staff_joins

CONFIRMED = "Đã ký số và phát hành"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"tts_engine": "espeak", "rate_limit_burst": 400,
                                       "rate_limit_per_minute": 1200})


def root_of(settings: Settings) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates((settings.var_dir / "keys" / "root-ca.pem").read_bytes())


async def publish_three(client: TestClient) -> None:
    official = await staff_joins(client)
    for hamlets, text in ((("kem",), "Xóm Kèm: sáng mai phun thuốc muỗi, đóng cửa sổ."),
                          ((), "Toàn xã: thứ bảy tổng vệ sinh đường làng."),
                          (("la_cut",), "Xóm La Cút: chiều nay mất nước từ 14 giờ.")):
        await write_until_preview(official, hamlets=hamlets, topic="general", text=text)
        replies = await official.press("announce:confirm")
        assert CONFIRMED in replies[0]["text"]


async def poll(speaker: Speaker) -> list[Any]:
    async with aiohttp.ClientSession() as session:
        return await speaker.poll(session)


async def test_speaker_saves_what_is_signed_in_order_once(client: TestClient, settings: Settings,
                                                          tmp_path: Path) -> None:
    await publish_three(client)
    feed_url = str(client.make_url("/loudspeaker/feed?hamlet=kem"))
    speaker = Speaker(feed_url, tmp_path / "speaker", root_of(settings))
    outcomes = await poll(speaker)
    assert [outcome.ok for outcome in outcomes] == [True, True], outcomes
    saved = [outcome.path for outcome in outcomes]  # in the order they were played
    assert len(set((tmp_path / "speaker").glob("*.mp3"))) == 2 and all(path.exists() for path in saved)
    documents = [json.loads(path.with_suffix(".json").read_text())["document"] for path in saved]
    assert [document["text"][:7] for document in documents] == ["Xóm Kèm", "Toàn xã"]  # in order
    for path, document in zip(saved, documents, strict=True):
        assert hashlib.sha256(path.read_bytes()).hexdigest() == document["audio"]["sha256"]
    assert await poll(speaker) == []  # played already
    again = Speaker(feed_url, tmp_path / "speaker", root_of(settings))  # a restart remembers
    assert await poll(again) == []
    # With a player, each new announcement is played in turn (here the "player" logs what it got).
    log = tmp_path / "player.log"
    player = [sys.executable, "-c", f"import sys; open({str(log)!r}, 'a').write(sys.argv[1] + '\\n')"]
    playing = Speaker(feed_url, tmp_path / "speaker2", root_of(settings), player=player)
    outcomes = await poll(playing)
    assert [outcome.reason for outcome in outcomes] == ["played", "played"]
    assert log.read_text().split() == [str(outcome.path) for outcome in outcomes]


class TamperingProxy:
    """Serves a feed and audio that the test prepared, altered as it likes."""

    def __init__(self) -> None:
        self.feed: dict[str, Any] = {"entries": []}
        self.audio: dict[str, bytes] = {}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/loudspeaker/feed", self.serve_feed)
        app.router.add_get("/media/{media_id}", self.serve_media)
        return app

    async def serve_feed(self, request: web.Request) -> web.Response:
        return web.json_response(self.feed)

    async def serve_media(self, request: web.Request) -> web.Response:
        data = self.audio.get(request.match_info["media_id"])
        return web.Response(body=data, content_type="audio/mpeg") if data else web.Response(status=404)


def media_id(entry: dict[str, Any]) -> str:
    return str(entry["document"]["audio"]["url"]).split("/media/")[1].split("?")[0]


async def test_speaker_refuses_anything_altered(client: TestClient, settings: Settings,
                                                tmp_path: Path) -> None:
    await publish_three(client)
    real = await (await client.get("/loudspeaker/feed?hamlet=kem")).json()
    la_cut = (await (await client.get("/loudspeaker/feed?hamlet=la_cut")).json())["entries"][-1]
    genuine = real["entries"][0]
    audio = {}
    for entry in (*real["entries"], la_cut):
        response = await client.get("/media/" + str(entry["document"]["audio"]["url"]).split("/media/")[1])
        audio[media_id(entry)] = await response.read()

    def altered(change: Any) -> dict[str, Any]:
        entry = copy.deepcopy(genuine)
        change(entry)
        return entry

    def flip_signature(entry: dict[str, Any]) -> None:
        value = bytearray(entry["signature"]["value"].encode())
        value[10] = ord("A") if value[10] != ord("A") else ord("B")
        entry["signature"]["value"] = value.decode()

    # Another CA signs the very same document: a valid signature, but not the commune's.
    forger = create_commune_keys(tmp_path / "forger", "Xã Giả Mạo")
    envelope = SignedDocument.from_json(genuine)
    forged = sign_envelope(forger.key, forger.certificate, forger.chain, envelope.document,
                           kind="announcement", code=envelope.code, signed_at=envelope.signed_at_time)
    swapped_audio = altered(lambda e: e["document"]["audio"].update(url=e["document"]["audio"]["url"]
                                                                    .replace(media_id(e), "f" * 32)))
    cases = {
        "text": altered(lambda e: e["document"].update(text="Xóm Kèm: nộp tiền vào tài khoản 123.")),
        "hamlets": altered(lambda e: e["document"].update(hamlets=[])),
        "digest": altered(lambda e: e["document"]["audio"].update(sha256="0" * 64)),
        "signature": altered(flip_signature),
        "time": altered(lambda e: e.update(signed_at="2026-01-01T00:00:00Z")),
        "other CA": forged.to_json(),
        "other hamlet": la_cut,
        "swapped audio": swapped_audio,
        "malformed": {"format": "xaso-signed/1", "code": "nope"},
    }
    proxy = TamperingProxy()
    proxy.audio = {**audio, "f" * 32: audio[media_id(la_cut)]}  # other (real, signed) speech
    proxy.feed = {"entries": list(cases.values())}
    async with TestServer(proxy.app()) as server:
        speaker = Speaker(str(server.make_url("/loudspeaker/feed?hamlet=kem")), tmp_path / "speaker",
                          root_of(settings))
        outcomes = await poll(speaker)
        reasons = dict(zip(cases, (outcome.reason for outcome in outcomes), strict=True))
        assert not any(outcome.ok for outcome in outcomes), reasons
        assert "changed after it was signed" in reasons["text"]
        assert "changed after it was signed" in reasons["hamlets"]
        assert "signature does not match" in reasons["signature"] and "signature" in reasons["time"]
        assert "trusted root" in reasons["other CA"]
        assert "other hamlets" in reasons["other hamlet"]
        assert "SHA-256" in reasons["swapped audio"] or "changed" in reasons["swapped audio"]
        assert "malformed" in reasons["malformed"]
        assert list((tmp_path / "speaker").glob("*.mp3")) == []
        # Only the signed audio itself passes, also when served by the proxy.
        proxy.feed = {"entries": [genuine]}
        proxy.audio = {media_id(genuine): b"ID3" + audio[media_id(genuine)][3:]}
        (bad,) = await poll(speaker)
        assert not bad.ok and "SHA-256" in bad.reason
        proxy.audio = audio
        (good,) = await poll(speaker)
        assert good.ok and len(list((tmp_path / "speaker").glob("*.mp3"))) == 1


async def test_the_command_line_client(client: TestClient, settings: Settings, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    await publish_three(client)
    feed = str(client.make_url("/loudspeaker/feed?hamlet=la_cut"))
    root = str(settings.var_dir / "keys" / "root-ca.pem")
    out = str(tmp_path / "out")
    code = await asyncio.to_thread(main, ["speaker", "--feed", feed, "--trust", root, "--out", out, "--once"])
    printed = capsys.readouterr().out
    assert code == 0 and printed.count("SAVED") == 2, printed
    assert await asyncio.to_thread(main, ["speaker", "--feed", feed, "--trust", root, "--out", out,
                                          "--once"]) == 0
    assert "SAVED" not in capsys.readouterr().out
    missing = await asyncio.to_thread(main, ["speaker", "--feed", feed, "--trust", str(tmp_path / "none.pem"),
                                             "--once"])
    assert missing == 2
