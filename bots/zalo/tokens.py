"""The OA access token and its single-use refresh token, kept in the database (sealed).

A refresh goes: claim the refresh (`refreshing_until` set where `version` is still the one read and no
other claim is live) → call OAuth v4 → write both new tokens with `version + 1` in one statement, fenced
by the version. A second process that loses the claim waits for the version to move and uses the new
token, so two processes never spend the same refresh token. The only window in which a crash loses the
new refresh token is between Zalo's answer and that one UPDATE; a claim left by a crashed process expires
after `CLAIM_SECONDS`.

First start: the row is seeded from XASO_ZALO_ACCESS_TOKEN / XASO_ZALO_REFRESH_TOKEN; after that the
database is the truth (the environment's refresh token is spent after the first refresh), unless the
operator imports new ones with `xaso zalo token --import`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy import or_, update

from bots.zalo.models import ZaloToken
from core.config import Settings
from core.crypto import FieldCipher
from core.db import Database, upsert
from core.models import utcnow

log = logging.getLogger(__name__)
REFRESH_MARGIN = timedelta(hours=1)  # refreshed this long before the access token expires
CLAIM_SECONDS = 30.0
STORE_ATTEMPTS = 5
REFRESH_LIFETIME = timedelta(days=90)
OAUTH_PATH = "/v4/oa/access_token"
ACCESS_CONTEXT = "zalo_tokens.access"
REFRESH_CONTEXT = "zalo_tokens.refresh"


class TokenError(Exception):
    """The OA has no usable token (none configured, or the refresh token was refused)."""


@dataclass(frozen=True, slots=True)
class TokenState:
    access_token: str | None
    expires_at: datetime | None
    refresh_expires_at: datetime | None
    version: int
    has_refresh: bool
    updated_at: datetime

    def due(self, now: datetime) -> bool:
        return self.access_token is None or (self.expires_at is not None
                                             and self.expires_at - REFRESH_MARGIN <= now)


class TokenStore:
    def __init__(self, database: Database, cipher: FieldCipher, settings: Settings,
                 http: aiohttp.ClientSession | None = None) -> None:
        if not settings.zalo_app_id:
            raise TokenError("XASO_ZALO_APP_ID is not set")
        self.database = database
        self.cipher = cipher
        self.settings = settings
        self.http = http
        self.app_id = settings.zalo_app_id
        self._local = asyncio.Lock()  # one refresh at a time within this process

    # Reading

    async def seed(self) -> None:
        """Creates the row from the environment if there is none (never overwrites)."""
        access = self.settings.zalo_access_token
        refresh = self.settings.zalo_refresh_token
        values = self._values(access.get_secret_value() if access else None,
                              refresh.get_secret_value() if refresh else None, None)
        values |= {"app_id": self.app_id, "version": 0}
        insert = upsert(self.database.engine.dialect.name)
        async with self.database.session() as session:
            await session.execute(insert(ZaloToken).values(values).on_conflict_do_nothing(
                index_elements=["app_id"]))

    async def import_from_settings(self) -> TokenState:
        """Replaces the stored tokens by the environment's (the operator pasted new ones)."""
        await self.seed()
        access = self.settings.zalo_access_token
        refresh = self.settings.zalo_refresh_token
        if refresh is None and access is None:
            raise TokenError("neither XASO_ZALO_ACCESS_TOKEN nor XASO_ZALO_REFRESH_TOKEN is set")
        values = self._values(access.get_secret_value() if access else None,
                              refresh.get_secret_value() if refresh else None, None)
        async with self.database.session() as session:
            await session.execute(update(ZaloToken).where(ZaloToken.app_id == self.app_id)
                                  .values(**values, version=ZaloToken.version + 1, refreshing_until=None))
        return await self.state()

    async def state(self) -> TokenState:
        async with self.database.session() as session:
            row = await session.get(ZaloToken, self.app_id)
            if row is None:
                raise TokenError("no Zalo OA token stored yet")
            return TokenState(self._open(row.access_token_enc, ACCESS_CONTEXT), row.expires_at,
                              row.refresh_expires_at, row.version, row.refresh_token_enc is not None,
                              row.updated_at)

    async def access_token(self) -> tuple[str, int]:
        """A usable access token and its version, refreshed first when it expires within the margin."""
        current = await self.state()
        if current.due(utcnow()):
            current = await self.refresh(current.version)
        if current.access_token is None:
            raise TokenError("no Zalo OA access token")
        return current.access_token, current.version

    # Refreshing

    async def refresh(self, seen_version: int) -> TokenState:
        """Refreshes unless someone already did since `seen_version`; returns the tokens to use."""
        async with self._local:
            deadline = asyncio.get_running_loop().time() + CLAIM_SECONDS + 5
            while True:
                current = await self.state()
                if current.version != seen_version:
                    return current  # refreshed by another task or process meanwhile
                refresh_token = await self._claim(seen_version)
                if refresh_token is not None:
                    # Shielded: a caller's timeout must not cut the exchange between Zalo's answer (the
                    # old refresh token spent) and the write of the new one.
                    return await asyncio.shield(self._exchange(seen_version, refresh_token))
                if asyncio.get_running_loop().time() > deadline:
                    raise TokenError("another process holds the Zalo token refresh")
                await asyncio.sleep(0.2)

    async def _claim(self, version: int) -> str | None:
        now = utcnow()
        statement = (update(ZaloToken)
                     .where(ZaloToken.app_id == self.app_id, ZaloToken.version == version,
                            or_(ZaloToken.refreshing_until.is_(None), ZaloToken.refreshing_until < now))
                     .values(refreshing_until=now + timedelta(seconds=CLAIM_SECONDS))
                     .returning(ZaloToken.refresh_token_enc)
                     .execution_options(synchronize_session=False))
        async with self.database.session() as session:
            found = (await session.execute(statement)).first()
        if found is None:
            return None
        token = self._open(found[0], REFRESH_CONTEXT)
        if token is None:
            await self._release(version)
            raise TokenError("no Zalo refresh token stored: paste one and run `xaso zalo token --import`")
        return token

    async def _exchange(self, version: int, refresh_token: str) -> TokenState:
        try:
            answer = await self._call_oauth(refresh_token)
        except BaseException:
            await self._release(version)
            raise
        now = utcnow()
        try:
            lifetime = float(answer.get("expires_in") or 90000)
        except (TypeError, ValueError):
            lifetime = 90000.0
        values = self._values(answer["access_token"], answer["refresh_token"],
                              now + timedelta(seconds=lifetime))
        statement = (update(ZaloToken)
                     .where(ZaloToken.app_id == self.app_id, ZaloToken.version == version)
                     .values(**values, refresh_expires_at=now + REFRESH_LIFETIME, version=version + 1,
                             refreshing_until=None)
                     .returning(ZaloToken.version)
                     .execution_options(synchronize_session=False))
        # The old refresh token is spent now: storing the new one is retried before giving up.
        for attempt in range(1, STORE_ATTEMPTS + 1):
            try:
                async with self.database.session() as session:
                    if (await session.execute(statement)).first() is None:
                        # Only an operator's import moves the version under a live claim; theirs wins.
                        log.warning("zalo: tokens changed during a refresh; the imported ones are kept")
                break
            except Exception:
                if attempt == STORE_ATTEMPTS:
                    log.critical("zalo: the new tokens could not be stored and the old refresh token is "
                                 "spent: paste a new pair and run `xaso zalo token --import`")
                    raise
                await asyncio.sleep(0.5 * attempt)
        log.info("zalo: access token refreshed, valid until %s", values["expires_at"].isoformat())
        return await self.state()

    async def _call_oauth(self, refresh_token: str) -> dict[str, Any]:
        secret = self.settings.zalo_app_secret
        if secret is None:
            raise TokenError("XASO_ZALO_APP_SECRET is not set: the access token cannot be refreshed")
        url = self.settings.zalo_oauth_base.rstrip("/") + OAUTH_PATH
        form = {"refresh_token": refresh_token, "app_id": self.app_id, "grant_type": "refresh_token"}
        if self.http is None:
            raise TokenError("the Zalo HTTP client is not started")
        try:
            async with self.http.post(url, data=form, headers={"secret_key": secret.get_secret_value()},
                                      timeout=aiohttp.ClientTimeout(total=15)) as response:
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise TokenError(f"Zalo OAuth unreachable ({type(error).__name__})") from None
        if not isinstance(body, dict) or not body.get("access_token") or not body.get("refresh_token"):
            code = body.get("error") if isinstance(body, dict) else None
            name = body.get("error_name") if isinstance(body, dict) else None
            raise TokenError(f"Zalo OAuth refused the refresh token (error {code}, {name})")
        return body

    async def _release(self, version: int) -> None:
        async with self.database.session() as session:
            await session.execute(update(ZaloToken)
                                  .where(ZaloToken.app_id == self.app_id, ZaloToken.version == version)
                                  .values(refreshing_until=None))

    # Sealing

    def _values(self, access: str | None, refresh: str | None, expires_at: datetime | None) -> dict[str, Any]:
        return {"access_token_enc": self.cipher.encrypt(access, ACCESS_CONTEXT) if access else None,
                "refresh_token_enc": self.cipher.encrypt(refresh, REFRESH_CONTEXT) if refresh else None,
                "expires_at": expires_at, "updated_at": utcnow()}

    def _open(self, sealed: str | None, context: str) -> str | None:
        return self.cipher.decrypt(sealed, context) if sealed else None


async def keep_fresh(store: TokenStore, stop: asyncio.Event, every: float = 300.0) -> None:
    """Refreshes ahead of expiry in the background, so that sends never wait for it."""
    while not stop.is_set():
        try:
            current = await store.state()
            if current.has_refresh and current.due(utcnow()):
                await store.refresh(current.version)
        except TokenError as problem:
            log.warning("zalo: %s", problem)
        except Exception:
            log.exception("zalo: token refresh failed")
        try:
            await asyncio.wait_for(stop.wait(), every)
        except TimeoutError:
            pass


def describe(state: TokenState, now: datetime | None = None) -> dict[str, Any]:
    """What `xaso zalo token` prints: never the tokens themselves."""
    now = now or utcnow()
    left = (state.expires_at - now).total_seconds() if state.expires_at else None
    return {"access_token": "set" if state.access_token else "missing",
            "expires_at": state.expires_at.isoformat() if state.expires_at else "unknown (not refreshed yet)",
            "expires_in_hours": round(left / 3600, 2) if left is not None else None,
            "refresh_token": "set" if state.has_refresh else "missing",
            "refresh_token_expires_at": (state.refresh_expires_at.isoformat()
                                         if state.refresh_expires_at else None),
            "version": state.version, "updated_at": state.updated_at.isoformat()}
