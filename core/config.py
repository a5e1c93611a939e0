"""Configuration: every setting is an `XASO_*` environment variable; a `.env` file is honoured."""

from __future__ import annotations

import os
import re
import secrets
import warnings
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PORTS = {"http": 80, "https": 443}
DEFAULT_COMMUNE = "LB"  # XASO_COMMUNE_CODE unless set
# Old setting → the one that replaced it. The old one is still read (when the new one is not set), with
# a warning, so that an existing .env keeps working.
RENAMED = {"telegram_inbox_workers": "inbox_workers", "telegram_inbox_keep_days": "inbox_keep_days"}


def url_port(url: str) -> int | None:
    """The port an http(s) address names, written or implied by its scheme; None when `url` is not an
    http(s) address with a host and a valid port."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return port or DEFAULT_PORTS[parts.scheme]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="XASO_", env_file=".env", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///xaso.db"
    commune_code: str = DEFAULT_COMMUNE
    commune_name: str = "Xã La Bằng"
    # A province's installation: the communes served, by code, comma-separated ("LB,SM"), each described
    # in data/communes/<code>/ (core/province.py). Empty: XASO_COMMUNE_CODE's alone, as a commune runs it.
    communes: str = ""
    # Where villagers reach the service: every link in a message starts with it. When unset, `xaso serve`
    # takes the address it serves (core/public_url.py); other commands use this default.
    public_url: str = "http://127.0.0.1:8080"
    # When unset, a random key is made once and kept in var_dir/secret.key (see `secret()`).
    secret_key: SecretStr | None = None
    data_dir: Path = REPO_ROOT / "data"
    var_dir: Path = Path("var")

    telegram_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_api_base: str = "https://api.telegram.org/bot"
    # Where getFile paths are downloaded from; derived from telegram_api_base when unset.
    telegram_file_base: str | None = None
    # getUpdates instead of the webhook, for a commune server without a public address.
    telegram_polling: bool = False
    telegram_poll_timeout: int = 30
    # Outbound pace (Bot API limits): messages/s per private chat, per minute per group, overall.
    telegram_per_chat_rate: float = 1.0
    telegram_group_per_minute: float = 20.0
    telegram_global_rate: float = 30.0
    # Deprecated: XASO_INBOX_WORKERS and XASO_INBOX_KEEP_DAYS, since every channel shares the inbox.
    telegram_inbox_workers: int | None = Field(default=None, ge=1, le=64)
    telegram_inbox_keep_days: float | None = Field(default=None, gt=0)
    zalo_app_id: str | None = None
    zalo_app_secret: SecretStr | None = None
    zalo_oa_secret: SecretStr | None = None
    zalo_access_token: SecretStr | None = None
    zalo_refresh_token: SecretStr | None = None
    zalo_api_base: str = "https://openapi.zalo.me"
    zalo_oauth_base: str = "https://oauth.zaloapp.com"
    zalo_bot_token: SecretStr | None = None
    zalo_bot_webhook_secret: SecretStr | None = None
    zalo_bot_api_base: str = "https://bot-api.zaloplatforms.com"
    # Zalo Bot API input: "auto" polls with getUpdates unless XASO_PUBLIC_URL is https (then the webhook).
    zalo_bot_mode: Literal["auto", "webhook", "polling"] = "auto"
    zalo_poll_timeout: int = 30
    # Outbound pace for both Zalo modes (about 4,000 requests/min per app): per chat and overall, msg/s.
    zalo_per_chat_rate: float = 2.0
    zalo_global_rate: float = 50.0
    stripe_api_key: SecretStr | None = None
    stripe_api_base: str = "https://api.stripe.com"
    stripe_webhook_secret: SecretStr | None = None
    # Stripe.js on the payment page: the publishable key (pk_…) and where the script is loaded from
    # (Stripe's own for Stripe's API, `<api base>/js.stripe.com/v3/` for localstripe, when unset).
    stripe_publishable_key: str | None = None
    stripe_js_url: str | None = None
    tts_engine: Literal["auto", "gtts", "espeak"] = "auto"
    nlu_backend: Literal["embedded", "rasa"] = "embedded"
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_timeout: float = 1.5  # seconds; past it the embedded NLU answers
    hook_secrets: dict[str, SecretStr] = Field(default_factory=dict)
    # Standard Webhooks out: new dossiers and status changes are POSTed here, signed with
    # hook_secrets["onestop"]; off while either is unset.
    onestop_webhook_url: str | None = None

    # Webhook channels (Telegram, Zalo OA, Zalo Bot) store each event before the platform gets its 200;
    # a few workers handle them (one chat at a time each, in order), and done ones are kept this many days.
    inbox_workers: int = Field(default=4, ge=1, le=64)
    inbox_keep_days: float = Field(default=3.0, gt=0)
    # Seconds a node holds an inbox event or an outbox message without a word: renewed every third of
    # it while the work lasts, so a node that dies has its work taken over by another within about this.
    lease_seconds: float = Field(default=10.0, ge=1.0, le=600.0)

    # Policy knobs (SECURITY.md): per-user token bucket, input limits, outbox retries.
    rate_limit_per_minute: int = 30
    rate_limit_burst: int = 10
    # New web chat sessions per client address; behind a reverse proxy every villager shares one.
    web_sessions_per_minute: int = 120
    web_sessions_burst: int = 60
    max_text_chars: int = 4000
    max_request_bytes: int = 15 * 1024 * 1024
    max_attachment_bytes: int = 10 * 1024 * 1024
    outbox_max_attempts: int = 8
    outbox_base_delay: float = 2.0
    outbox_max_delay: float = 600.0
    nlu_threshold: float = 0.3
    # The audit chain's head is signed with the commune's key this often, when it moved, and on shutdown
    # (core/audit_checkpoints.py).
    audit_checkpoint_seconds: float = Field(default=300.0, gt=0, le=86400)
    consult_average_minutes: float = Field(default=10.0, gt=0)  # expected wait per consult ahead
    consult_escalate_minutes: float = Field(default=15.0, gt=0)  # unanswered this long: alert others
    # Staff dashboard (bots/dashboard): one-time login link, idle and absolute session lifetimes.
    dashboard_link_minutes: float = Field(default=10.0, gt=0, le=60)
    dashboard_idle_minutes: float = Field(default=30.0, gt=0)
    dashboard_session_hours: float = Field(default=12.0, gt=0)
    # Village reports: a report of the same kind this close (metres, both located) or in the same hamlet
    # (either without a location), made within this many hours, is linked to the first one.
    report_duplicate_metres: float = Field(default=200.0, ge=0)
    report_duplicate_hours: float = Field(default=48.0, ge=0)
    load_demo_data: bool = True
    # `xaso serve` runs on uvloop's event loop where uvloop is installed (a dependency wherever it has a
    # wheel), on asyncio's own otherwise or when this is false (bots/http_server.py).
    uvloop: bool = True

    @field_validator("commune_code")
    @classmethod
    def _commune_code(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z]{2,4}", value):
            raise ValueError("XASO_COMMUNE_CODE must be 2 to 4 capital letters, e.g. LB")
        return value

    @field_validator("communes")
    @classmethod
    def _communes(cls, value: str) -> str:
        codes = [code.strip() for code in value.split(",") if code.strip()]
        if any(not re.fullmatch(r"[A-Z]{2,4}", code) for code in codes):
            raise ValueError("XASO_COMMUNES must list commune codes of 2 to 4 capital letters, e.g. LB,SM")
        if len(set(codes)) != len(codes):
            raise ValueError("XASO_COMMUNES lists a commune twice")
        return ",".join(codes)

    @model_validator(mode="after")
    def _home_commune_served(self) -> Settings:
        listed = self.communes.split(",") if self.communes else []
        if listed and self.commune_code not in listed:
            if "commune_code" in self.model_fields_set:
                raise ValueError(f"XASO_COMMUNE_CODE {self.commune_code} is not in XASO_COMMUNES")
            # The installation's own commune: the one CLI commands and staff invites act for by default.
            self.commune_code = listed[0]
        return self

    @property
    def served_communes(self) -> tuple[str, ...]:
        """The codes of the communes this installation serves, XASO_COMMUNE_CODE's first."""
        listed = tuple(self.communes.split(",")) if self.communes else ()
        if not listed:
            return (self.commune_code,)
        return (self.commune_code, *(code for code in listed if code != self.commune_code))

    @property
    def several_communes(self) -> bool:
        """A province's installation (XASO_COMMUNES lists more than one commune)."""
        return len(self.served_communes) > 1

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        url = value.strip().rstrip("/")
        if url_port(url) is None:
            raise ValueError("XASO_PUBLIC_URL must be an http(s) address, e.g. https://xaso.example.vn")
        return url

    @field_validator("onestop_webhook_url")
    @classmethod
    def _onestop_webhook_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"https?://[^\s/]+", value):
            raise ValueError("XASO_ONESTOP_WEBHOOK_URL must be an http(s) URL")
        return value or None

    @model_validator(mode="after")
    def _renamed(self) -> Settings:
        for old, new in RENAMED.items():
            value = getattr(self, old)
            if value is None:
                continue
            if new in self.model_fields_set:
                advice = f"XASO_{new.upper()} is set too and wins"
            else:
                setattr(self, new, value)
                advice = f"use XASO_{new.upper()}"
            warnings.warn(f"XASO_{old.upper()} is deprecated: {advice}", FutureWarning, stacklevel=2)
        return self

    @property
    def public_url_is_set(self) -> bool:
        """True when XASO_PUBLIC_URL (or the caller) chose the public address, not the default."""
        return "public_url" in self.model_fields_set

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def secret(self) -> bytes:
        """The key material behind field encryption, tokens and signatures."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.var_dir / "secret.key"
        if not path.exists():
            self.var_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
        return path.read_text().strip().encode()
