"""The one way a flow keeps a file a user sent: checked (type, size, pixels, active content, polyglots),
re-encoded, stored as the user's media — or refused with a polite reason (`upload.<reason>` in the
catalogue, in the user's language; nothing of a refused file is kept). How stored files are served:
core/media.py."""

from __future__ import annotations

import logging

from bots.dialogue.base import Context
from core.media import store_media
from core.messages import Reply
from core.uploads import UploadRejected, check_upload_async

log = logging.getLogger(__name__)


async def store_upload(context: Context, sealed: bool = False) -> str | Reply:
    """The stored media id of the incoming attachment, or the reply that refuses it; `sealed` stores it
    encrypted (health photos)."""
    attachment = context.incoming.attachment
    assert attachment is not None, "store_upload needs an incoming attachment"
    checked = await check_upload_async(attachment.filename, attachment.content_type, attachment.data)
    if isinstance(checked, UploadRejected):
        # The detail names what was found (PDF names, magic bytes, sizes), never the file's content.
        log.info("upload refused: %s (%s)", checked.reason.value, checked.detail)
        return Reply(context.t(checked.message_key))
    return await store_media(context.session, checked.data, checked.content_type,
                             owner_id=context.identity.id,
                             cipher=context.services.cipher if sealed else None)
