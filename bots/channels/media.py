"""Recognising links to our own media store: the only media a channel ever uploads to its platform."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from core.crypto import Hasher


def own_media_id(url: str, public_url: str, hasher: Hasher) -> str | None:
    """The media id behind a signed link to our own store (`{public_url}/media/{id}?exp=…&sig=…`), or
    None for any other address: those are never fetched, only shown as text. The link's expiry is not
    checked here, since a retried outbox message may be older than the link."""
    link, own = urlsplit(url), urlsplit(public_url)
    if (link.scheme, link.netloc) != (own.scheme, own.netloc):
        return None
    prefix = own.path.rstrip("/") + "/media/"
    if not link.path.startswith(prefix):
        return None
    media_id = link.path[len(prefix):]
    query = parse_qs(link.query)
    expires, signature = query.get("exp", [""])[0], query.get("sig", [""])[0]
    if not media_id or not expires or not signature:
        return None
    return media_id if hasher.verify(f"media:{media_id}:{expires}", signature) else None
