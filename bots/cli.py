"""The `xaso` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from core.config import Settings

log = logging.getLogger(__name__)


def _settings() -> Settings:
    return Settings()


def serve_settings(args: argparse.Namespace) -> Settings:
    """The settings `xaso serve` runs with: its switches, and the public address (XASO_PUBLIC_URL, or
    the address served when it is unset), told in the log with a warning when it looks wrong."""
    from core.public_url import public_address

    settings = _settings()
    address = public_address(settings, args.host, args.port)
    log.info(address.note)
    if address.warning is not None:
        log.warning(address.warning)
    updates: dict[str, object] = {"public_url": address.url}
    if args.telegram_polling:
        updates["telegram_polling"] = True
    if args.zalo_polling:
        updates["zalo_bot_mode"] = "polling"
    return settings.model_copy(update=updates)


def serve_app(args: argparse.Namespace) -> Any:
    """The aiohttp application `xaso serve` runs (its assistant started by the app's startup hook)."""
    from bots.assistant import Assistant
    from bots.server import create_app

    settings = serve_settings(args)
    print(f"xaso: serving {settings.commune_name} on http://{args.host}:{args.port}/chat "
          f"(database {settings.database_url.split('://')[0]})", flush=True)
    return create_app(Assistant.build(settings))


def cmd_serve(args: argparse.Namespace) -> int:
    from bots.http_server import run
    from bots.server import ASSISTANT

    # aiohttp's run_app, answering requests that are not HTTP with JSON, on uvloop unless XASO_UVLOOP is
    # false (bots/http_server.py).
    app = serve_app(args)
    run(app, host=args.host, port=args.port, shutdown_timeout=15.0, uvloop=app[ASSISTANT].settings.uvloop)
    return 0


async def _chat(args: argparse.Namespace) -> int:
    from bots.assistant import Assistant
    from bots.console import ConsoleChat

    assistant = Assistant.build(_settings())
    await assistant.start()
    try:
        await ConsoleChat(assistant.handle, assistant.services.outbox, args.user).run()
    finally:
        await assistant.close()
    return 0


def _nlu_engine(settings: Settings) -> Any:
    from bots.assistant import load_nlu

    return load_nlu(settings)


def cmd_nlu(args: argparse.Namespace) -> int:
    from nlu import cli as nlu_cli

    settings = _settings()
    if args.nlu_command == "train":
        nlu_cli.run_train(settings.data_dir / "nlu.yml", settings.var_dir / "nlu-model.joblib", sys.stdout)
        return 0
    path = Path(getattr(args, "file", "") or ".")
    if getattr(args, "cross_validate", None) is not None:
        return _on_file(path, "cross-validate",
                        lambda: nlu_cli.run_cross_validation(path, args.cross_validate, sys.stdout))
    engine = _nlu_engine(settings)
    if args.nlu_command == "parse":
        nlu_cli.run_parse(engine, sys.stdin, sys.stdout)
        return 0
    return _on_file(path, "evaluate", lambda: nlu_cli.run_evaluate(engine, path, sys.stdout))


def _on_file(path: Path, verb: str, work: Callable[[], object]) -> int:
    """Runs `work` on an input file, turning a missing or unreadable file into a short message."""
    if not path.is_file():
        print(f"no such file: {path}", file=sys.stderr)
        return 2
    try:
        work()
    except ValueError as problem:
        print(f"cannot {verb} {path}: {problem}", file=sys.stderr)
        return 2
    return 0


async def _with_database(action: Callable[[Any], Coroutine[Any, Any, int]], migrate: bool = True) -> int:
    from core.db import Database

    database = Database(_settings().database_url)
    try:
        if migrate:
            await database.upgrade()
        elif not await database.has_schema():
            print(f"no xaso database at {database.url.split('@')[-1]}: check XASO_DATABASE_URL",
                  file=sys.stderr)
            return 2
        return await action(database)
    finally:
        await database.close()


async def _invite(args: argparse.Namespace) -> int:
    from bots.services.assembly import grantable_roles
    from core.audit import AuditLog
    from core.crypto import Hasher
    from core.identity import create_invite

    args.role = args.role.lower()
    settings = _settings()
    roles = grantable_roles(settings.data_dir, settings.commune_code)  # as the services declare them
    if args.role not in roles:
        print(f"unknown role {args.role!r}; choose one of: {', '.join(roles)}", file=sys.stderr)
        return 2
    served = settings.served_communes
    commune = args.commune.upper() if args.commune else None
    if commune is not None and commune not in served:
        print(f"unknown commune {args.commune!r}; this installation serves {', '.join(served)}",
              file=sys.stderr)
        return 2
    if args.role == "province":
        if commune is not None:
            print("the role province is for every commune: leave out --commune", file=sys.stderr)
            return 2
    elif commune is None and len(served) > 1:
        # A province's staff work for one commune: a role for all of them is not handed out by mistake.
        print(f"this installation serves {', '.join(served)}: say which commune the role is for, "
              f"e.g. --commune {served[-1]}", file=sys.stderr)
        return 2
    elif commune is None:  # a commune's own installation: its roles stay its own in a province later
        commune = settings.commune_code
    if args.seller is not None:  # tied to one seller of the commune's products.yml (bots/linked_invites.py)
        from bots.linked_invites import invite_seller

        return await invite_seller(settings, args.role, args.seller, _with_database, commune)
    if args.stay is not None:  # tied to one homestay of the commune's tourism/stays.yml
        from bots.linked_invites import invite_host

        return await invite_host(settings, args.role, args.stay, _with_database, commune)

    async def make(database: Any) -> int:
        async with database.session() as session:
            code = await create_invite(session, Hasher(settings.secret()), args.role, created_by="cli",
                                       commune=commune)
        await AuditLog(database).record("cli", "role.invite", detail={"role": args.role, "commune": commune})
        where = f" in commune {commune}" if commune else ""
        print(f"One-time invite for the role {args.role}{where} (valid 7 days). "
              f"Send in any chat: /join {code}")
        print(code)
        return 0

    return await _with_database(make)


def cmd_audit(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    prepare = _audit_checkpoint if args.audit_command == "checkpoint" else _audit_verify
    work = prepare(args)  # keys and files are read first; an int is an exit code
    if isinstance(work, int):
        return work
    try:
        # Never migrate here: a mistyped URL must not yield a fresh, empty and "valid" chain.
        return asyncio.run(_with_database(work, migrate=False))
    except SQLAlchemyError as problem:
        print(f"xaso audit {args.audit_command}: cannot read the audit log ({type(problem).__name__}); "
              "is the schema at the latest revision (`xaso db upgrade`)?", file=sys.stderr)
        return 2


DatabaseWork = Callable[[Any], Coroutine[Any, Any, int]]


def _audit_verify(args: argparse.Namespace) -> DatabaseWork | int:
    from cryptography import x509

    from core.audit import verify_command
    from core.audit_checkpoints import Checkpoint, CheckpointCheck, read_checkpoint_lines
    from core.signing.keys import signing_certificates

    settings = _settings()
    kept: list[Checkpoint] = []
    try:
        certificates = (x509.load_pem_x509_certificates(Path(args.cert).read_bytes()) if args.cert
                        else signing_certificates(_home_keys(settings)))
        for name in args.checkpoints:
            kept.extend(read_checkpoint_lines(Path(name).read_text(encoding="utf-8"), name))
    except (OSError, ValueError) as problem:
        print(f"xaso audit verify: {problem}", file=sys.stderr)
        return 2
    check = CheckpointCheck.from_certificates(settings.commune_code, certificates, kept)

    async def verify(database: Any) -> int:
        return await verify_command(database, sys.stdout, check)

    return verify


def _home_keys(settings: Settings) -> Path:
    """The installation's own commune's keys, which sign the audit chain (core/province.py)."""
    from core.province import keys_dir

    return keys_dir(settings.var_dir, settings.commune_code, settings.commune_code)


def _audit_checkpoint(args: argparse.Namespace) -> DatabaseWork | int:
    from core.audit_checkpoints import checkpoint_command
    from core.signing import Keyring

    settings = _settings()
    keyring = Keyring()
    keyring.load(_home_keys(settings))
    if keyring.signer is None:
        print(f"xaso audit checkpoint: no signing keys in {_home_keys(settings)}: run `xaso keys init`",
              file=sys.stderr)
        return 2

    async def write(database: Any) -> int:
        return await checkpoint_command(database, keyring, settings.commune_code, sys.stdout, sys.stderr)

    return write


async def _telegram(args: argparse.Namespace) -> int:
    from telegram.error import TelegramError

    from bots.telegram.admin import SetupError, set_webhook, webhook_info

    action = set_webhook if args.telegram_command == "set-webhook" else webhook_info
    try:
        await action(_settings(), sys.stdout)
    except SetupError as problem:
        print(f"xaso telegram: {problem}", file=sys.stderr)
        return 2
    except TelegramError as problem:
        print(f"xaso telegram: the Bot API refused: {problem.message}", file=sys.stderr)
        return 1
    return 0


async def _zalo(args: argparse.Namespace) -> int:
    import aiohttp

    from bots.zalo import admin
    from bots.zalo.bot_api import BotAPIError

    settings = _settings()
    try:
        if args.zalo_command == "token":
            async def show(database: Any) -> int:
                await admin.token(settings, database, sys.stdout, refresh=args.refresh,
                                  import_env=args.import_env)
                return 0
            return await _with_database(show)
        action = admin.set_webhook if args.zalo_command == "set-webhook" else admin.webhook_info
        await action(settings, sys.stdout)
    except admin.SetupError as problem:
        print(f"xaso zalo: {problem}", file=sys.stderr)
        return 2
    except BotAPIError as problem:
        print(f"xaso zalo: the Bot API refused: {problem.description}", file=sys.stderr)
        return 1
    except aiohttp.ClientError as problem:
        print(f"xaso zalo: Zalo unreachable ({type(problem).__name__})", file=sys.stderr)
        return 1
    return 0


async def _db_upgrade(args: argparse.Namespace) -> int:
    async def done(database: Any) -> int:
        print("database schema is at the latest revision")
        return 0

    return await _with_database(done)


def cmd_keys(args: argparse.Namespace) -> int:
    from bots.signing_cli import keys_init, keys_issue

    run = keys_issue if args.keys_command == "issue" else keys_init
    return run(_settings(), args, sys.stdout, sys.stderr)


def cmd_verify(args: argparse.Namespace) -> int:
    from bots.signing_cli import verify_file

    return verify_file(_settings(), Path(args.file), Path(args.trust) if args.trust else None, sys.stdout)


def cmd_tourism(args: argparse.Namespace) -> int:
    """`xaso tourism posters`: a PDF poster per place, its QR opening the place's audio-guide page."""
    from backends.tourism.places import TourismError, load_tourism
    from backends.tourism.posters import write_posters
    from core.i18n import Catalogue
    from core.province import commune_path

    settings = _settings()
    try:
        tourism = load_tourism(commune_path(settings.data_dir, settings.commune_code, "tourism"))
    except TourismError as problem:
        print(problem, file=sys.stderr)
        return 1
    if not tourism:
        print("no places in data/tourism/places.yml", file=sys.stderr)
        return 1
    catalogue = Catalogue.load(settings.data_dir / "i18n")
    out = Path(args.out)
    written = write_posters(list(tourism), settings.public_url, out, catalogue.t("tourism.poster.scan", "vi"),
                            catalogue.t("tourism.poster.scan", "en"))
    for path in written:
        print(path)
    return 0


def cmd_speaker(args: argparse.Namespace) -> int:
    from bots.speaker import speaker_command

    return speaker_command(args, _home_keys(_settings()) / "root-ca.pem", sys.stdout, sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xaso", description="Xã Số: the commune's chat assistant")
    parser.add_argument("--log-level", default=None, help="default: INFO for serve, WARNING otherwise")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "serve", help="run the whole service (web chat, webhooks, outbox)",
        description="Run the whole service. Links in messages start with XASO_PUBLIC_URL; when it is unset, "
        "with the address served, http://HOST:PORT (127.0.0.1 for 0.0.0.0 or ::).")
    serve.add_argument("--host", default="127.0.0.1",
                       help="the address to listen on; 0.0.0.0 for every interface (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8080,
                       help="the TCP port to listen on; without XASO_PUBLIC_URL, links in messages use it "
                       "too (default: %(default)s)")
    serve.add_argument("--telegram-polling", action="store_true",
                       help="receive Telegram with getUpdates, no public address needed (default: off: "
                       "the webhook, unless XASO_TELEGRAM_POLLING is true)")
    serve.add_argument("--zalo-polling", action="store_true",
                       help="receive the Zalo Bot API with getUpdates (default: off: XASO_ZALO_BOT_MODE "
                       "decides; its auto polls unless XASO_PUBLIC_URL is https)")
    serve.set_defaults(run=cmd_serve)

    chat = commands.add_parser("chat", help="talk to the assistant in this terminal")
    chat.add_argument("--user", default="console-user", metavar="ID",
                      help="whom you chat as; the same ID finds the same conversation again "
                      "(default: %(default)s)")
    chat.set_defaults(run=lambda args: asyncio.run(_chat(args)))

    nlu = commands.add_parser("nlu", help="the language model: parse, evaluate, train")
    nlu_commands = nlu.add_subparsers(dest="nlu_command", required=True)
    nlu_commands.add_parser("parse", help="one utterance per stdin line -> one JSON per line")
    evaluate = nlu_commands.add_parser("evaluate", help="accuracy and latency on a TSV or Rasa YAML file")
    evaluate.add_argument(
        "--cross-validate",
        type=int,
        metavar="N",
        help="N-fold cross-validation on FILE, a Rasa YAML training file (trains N models)",
    )
    evaluate.add_argument("file")
    nlu_commands.add_parser("train", help="train the embedded model from data/nlu.yml")
    nlu.set_defaults(run=cmd_nlu)

    invite = commands.add_parser("invite", help="print a one-time code that grants ROLE with /join")
    invite.add_argument("role",
                        help="the role granted: staff, doctor, seller, host, tutor or admin (required)")
    invite.add_argument("--stay", metavar="ID",
                        help="with the role host: the homestay (the commune's tourism/stays.yml) the code "
                        "links the account to (default: none, a host role without a homestay)")
    invite.add_argument("--seller", metavar="ID",
                        help="with the role seller: the seller (the commune's products.yml) the code "
                        "acts for (default: none, a plain seller role)")
    invite.add_argument("--commune", metavar="CODE",
                        help="the commune the role is for (one of XASO_COMMUNES; required where the "
                        "installation serves several); whoever joins with the code works in it "
                        "(default: none, every commune, where it serves one)")
    invite.set_defaults(run=lambda args: asyncio.run(_invite(args)))

    audit = commands.add_parser("audit", help="the audit log")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    audit_verify = audit_commands.add_parser(
        "verify", help="check the hash chain and its signed checkpoints",
        description="Walk the audit hash chain and check every signed checkpoint: its signature, and that "
        "the chain recomputed up to its entry ends in the head it signed. Exit 0 sound, 1 broken (the "
        "first problem is printed), 2 when checkpoints cannot be checked or nothing can be read.")
    audit_verify.add_argument("--cert", metavar="PEM",
                              help="the commune's signing certificate(s) to check checkpoints with "
                              "(default: XASO_VAR_DIR/keys, the current and the retired ones)")
    audit_verify.add_argument("--checkpoints", metavar="FILE", action="append", default=[],
                              help="checkpoints kept elsewhere, one JSON a line as `xaso audit checkpoint` "
                              "prints them, judged with the stored ones (repeatable; default: none)")
    audit_commands.add_parser(
        "checkpoint", help="sign the chain's head now; print the checkpoint as one JSON line",
        description="Sign the audit chain's head with the commune's key and store the checkpoint (the server "
        "also does it every XASO_AUDIT_CHECKPOINT_SECONDS and on shutdown). Prints it on stdout as one "
        "JSON line, to keep elsewhere: `xaso audit verify --checkpoints FILE` judges such copies.")
    audit.set_defaults(run=cmd_audit)

    telegram = commands.add_parser("telegram", help="the Telegram bot's webhook registration")
    telegram_commands = telegram.add_subparsers(dest="telegram_command", required=True)
    telegram_commands.add_parser("set-webhook", help="register {XASO_PUBLIC_URL}/telegram/webhook + secret")
    telegram_commands.add_parser("info", help="show what Telegram knows of the webhook")
    telegram.set_defaults(run=lambda args: asyncio.run(_telegram(args)))

    zalo = commands.add_parser("zalo", help="Zalo: the OA token, the Bot API webhook")
    zalo_commands = zalo.add_subparsers(dest="zalo_command", required=True)
    zalo_token = zalo_commands.add_parser("token", help="show the OA access token's expiry (never the token)")
    zalo_token.add_argument("--refresh", action="store_true", help="refresh it now through OAuth v4")
    zalo_token.add_argument("--import", dest="import_env", action="store_true",
                            help="replace the stored tokens by XASO_ZALO_ACCESS_TOKEN / _REFRESH_TOKEN")
    zalo_commands.add_parser("set-webhook", help="register {XASO_PUBLIC_URL}/zalo/bot/webhook + secret")
    zalo_commands.add_parser("info", help="show the Zalo bot and what Zalo knows of its webhook")
    zalo.set_defaults(run=lambda args: asyncio.run(_zalo(args)))

    db = commands.add_parser("db", help="the database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="migrate to the latest revision")
    db.set_defaults(run=lambda args: asyncio.run(_db_upgrade(args)))

    keys = commands.add_parser("keys", help="the commune's signing key and certificate")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    keys_init = keys_commands.add_parser("init", help="make a commune CA and signing certificate, or import")
    keys_init.add_argument("--import-cert", metavar="CERT", help="a licensed CA's signing certificate (PEM)")
    keys_init.add_argument("--import-key", metavar="KEY", help="its private key (PEM, unencrypted)")
    keys_init.add_argument("--chain", metavar="CHAIN", help="the issuing CAs up to the root (PEM)")
    keys_init.add_argument("--force", action="store_true", help="replace existing keys")
    keys_init.add_argument("--province", action="store_true",
                           help="make the province's root CA instead (XASO_VAR_DIR/keys/province), which "
                                "issues the communes' certificates with `xaso keys issue`")
    keys_init.add_argument("--name", metavar="NAME",
                           help="with --province: who runs the CA (default: Sở Khoa học và Công nghệ and "
                                "the province of commune.yml)")
    keys_issue = keys_commands.add_parser(
        "issue", help="the province CA certifies communes' signing keys (XASO_VAR_DIR/keys/communes/CODE)")
    keys_issue.add_argument("codes", nargs="+", metavar="CODE", help="a commune served (XASO_COMMUNES)")
    keys_issue.add_argument("--force", action="store_true", help="replace the commune's existing keys")
    keys.set_defaults(run=cmd_keys)

    verify = commands.add_parser(
        "verify", help="check a signed result (exit 0 valid, 1 not, 2 unreadable)",
        description="Check a signed result: the result PDF as the chat sends it (signed PAdES), or the "
                    "signed JSON from /verify/CODE.json; the kind is read from the content. "
                    "Exit 0 valid, 1 not valid, 2 unreadable or neither kind.")
    verify.add_argument("file", metavar="FILE",
                        help="a signed result PDF, or the .json from /verify/CODE.json")
    verify.add_argument("--trust", metavar="ROOT", help="trusted root(s), PEM (default: own keys)")
    verify.set_defaults(run=cmd_verify)

    tourism = commands.add_parser("tourism", help="tourism: printable posters of the places")
    tourism_commands = tourism.add_subparsers(dest="tourism_command", required=True)
    posters = tourism_commands.add_parser(
        "posters", help="a PDF per place whose QR opens its audio-guide page ({XASO_PUBLIC_URL}/places/ID)")
    posters.add_argument("--out", default="posters", help="the folder to write them to (default: posters)")
    tourism.set_defaults(run=cmd_tourism)

    from bots.speaker import add_parser as add_speaker_parser  # logic and options in bots/speaker.py

    add_speaker_parser(commands).set_defaults(run=cmd_speaker)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Vietnamese in and out whatever the terminal's locale says.
    for stream in (sys.stdin, sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(encoding="utf-8", errors="replace")
    args = build_parser().parse_args(argv)
    level = args.log_level or ("INFO" if args.command == "serve" else "WARNING")
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
