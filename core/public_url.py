"""The service's public address (`XASO_PUBLIC_URL`), the start of every link a message carries (voice,
photos, PDFs, `/verify`, the dashboard): what `xaso serve` takes when it is unset, the check on one that
is set, and the agreement of the nodes that share one database."""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy.exc import IntegrityError

from core.config import Settings, url_port
from core.db import Database
from core.models import SharedSetting, utcnow

WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})  # noqa: S104  (recognised, never bound)
PUBLIC_URL_KEY = "public_url"


@dataclass(frozen=True)
class PublicAddress:
    """The public address a server uses, with a sentence for the log and, when it looks wrong, a warning."""

    url: str
    note: str
    warning: str | None = None


def served_url(host: str, port: int) -> str:
    """`http://HOST:PORT` for a server listening on host:port; every interface is reached on 127.0.0.1."""
    shown = "127.0.0.1" if host in WILDCARD_HOSTS else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def is_local_host(name: str, served_host: str) -> bool:
    """True for a name of this machine: loopback, `localhost`, a wildcard, its host name, the host served."""
    name = name.lower().strip("[]")
    if name in ("localhost", served_host.lower(), socket.gethostname().lower()):
        return True
    if name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def public_address(settings: Settings, host: str, port: int) -> PublicAddress:
    """The public address for `xaso serve --host HOST --port PORT`: `XASO_PUBLIC_URL` when set (with a
    warning when it names this machine on another port), otherwise the address served."""
    if settings.public_url_is_set:
        url = settings.public_url
        return PublicAddress(url, f"public address (XASO_PUBLIC_URL): {url}", _port_warning(url, host, port))
    url = served_url(host, port)
    note = f"XASO_PUBLIC_URL is not set: links in messages use {url}, the address served"
    if host in WILDCARD_HOSTS:
        note += (f" (serving on every interface, {host or 'all'}, so 127.0.0.1 stands for this machine; "
                 "set XASO_PUBLIC_URL to the address villagers' phones reach)")
    return PublicAddress(url, note)


def _port_warning(url: str, host: str, port: int) -> str | None:
    named_port, named_host = url_port(url), urlsplit(url).hostname
    if named_host is None or named_port in (None, port) or not is_local_host(named_host, host):
        return None
    return (f"XASO_PUBLIC_URL is {url}, port {named_port} of this machine, but xaso serves port {port}: "
            f"links in messages (voice, photos, PDFs, /verify) will not reach it unless a proxy on port "
            f"{named_port} forwards here; set XASO_PUBLIC_URL={served_url(host, port)} or serve "
            f"--port {named_port}")


@dataclass(frozen=True)
class Recorded:
    value: str
    node: str
    at: datetime


def node_name() -> str:
    return f"{socket.gethostname()} pid {os.getpid()}"[:128]


async def agree_on_public_url(database: Database, url: str, node: str | None = None) -> str | None:
    """Records `url` as the public address of the nodes on `database`; returns a warning naming both
    addresses when another node recorded a different one. Nodes must agree: a sender recognises our own
    media only in links that start with its own public address, so a voice clip or photo linked by a
    node with another address is sent as a bare link instead of as audio or an image."""
    node = node or node_name()
    try:
        previous = await _record(database, PUBLIC_URL_KEY, url, node)
    except IntegrityError:  # another node recorded the first address at the same moment
        previous = await _record(database, PUBLIC_URL_KEY, url, node)
    if previous is None or previous.value == url:
        return None
    return (f"nodes sharing this database disagree on the public address: this node ({node}) uses {url}, "
            f"but {previous.node} recorded {previous.value} at {previous.at:%Y-%m-%d %H:%M} UTC. Links one "
            "node makes (voice, photos, PDFs, /verify) look foreign to the other, which then sends voice "
            "and files as bare links: give every node the same XASO_PUBLIC_URL. If the address was "
            f"changed on purpose and every node now uses {url}, all is well: it is now the recorded one.")


async def _record(database: Database, key: str, value: str, node: str) -> Recorded | None:
    """Stores `value` under `key`, returning what was stored before (None the first time)."""
    async with database.session() as session:
        row = await session.get(SharedSetting, key, with_for_update=True)
        if row is None:
            session.add(SharedSetting(key=key, value=value, node=node, updated_at=utcnow()))
            await session.flush()
            return None
        previous = Recorded(row.value, row.node, row.updated_at)
        row.value, row.node, row.updated_at = value, node, utcnow()
        return previous
