"""The citizen's 1–5 satisfaction rating of a delivered dossier, from the buttons on the delivery
notice: `dossier-rate:<CODE>:<N>`. Button data comes from the client, so the dossier must be the
presser's own, of their commune, and delivered; a rating is recorded once. Every press is audited."""

from __future__ import annotations

import re

from backends.onestop.ratings import HIGHEST, LOWEST, rating_of, rating_summary, record_rating
from backends.onestop.store import Dossier, dossier_of_user
from bots.dialogue.base import Context
from core.messages import Button, Reply
from core.timezones import VIETNAM

FAMILY = "dossier-rate"  # public: every citizen may press it, checked here
_CODE = re.compile(r"[A-Za-z]{2,4}-\d{4}-\d{6}")
_RATING = re.compile(r"[1-5]")
ACTION = "dossier.rate"


def stars(rating: int) -> str:
    return "⭐" * rating


def rating_buttons(code: str) -> tuple[Button, ...]:
    return tuple(Button(stars(n), f"{FAMILY}:{code}:{n}", means=f"rating:{n}")
                 for n in range(LOWEST, HIGHEST + 1))


async def rate(context: Context) -> list[Reply]:
    """`dossier-rate:<CODE>:<N>`: the data is a code and a rating, not an action."""
    press = context.pressed
    if not _CODE.fullmatch(press.action) or not _RATING.fullmatch(press.arg):
        return [Reply(context.t("unknown_button"))]
    code, rating = press.action.upper(), int(press.arg)
    subject = f"dossier:{code}"
    dossier = await dossier_of_user(context.session, code, context.identity.id,
                                    commune=context.services.commune.code)
    if dossier is None:  # someone else's or none at all: the same answer, nothing learned
        context.audit(ACTION, subject=subject, outcome="deny", detail={"rating": rating})
        return [Reply(context.t("dossier_rating.not_yours"))]
    if dossier.status != "delivered":
        context.audit(ACTION, subject=subject, outcome="refused", detail={"status": dossier.status})
        return [Reply(context.t("dossier_rating.not_delivered", code=code))]
    if not await record_rating(context.session, dossier.id, rating):
        earlier = await rating_of(context.session, dossier.id)
        context.audit(ACTION, subject=subject, outcome="duplicate", detail={"rating": rating})
        return [Reply(context.t("dossier_rating.already", code=code,
                                stars=stars(earlier.rating if earlier else rating)))]
    context.audit(ACTION, subject=subject, detail={"rating": rating})
    return [Reply(context.t("dossier_rating.thanks", code=code, stars=stars(rating)))]


async def staff_line(context: Context, dossier: Dossier) -> str:
    """For `/dossier CODE`: the citizen's rating, once the dossier is delivered."""
    if dossier.status != "delivered":
        return ""
    found = await rating_of(context.session, dossier.id)
    if found is None:
        return context.t("dossier_rating.staff_none")
    at = found.at.astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M")
    return context.t("dossier_rating.staff_line", stars=f"{stars(found.rating)} {found.rating}/5", at=at)


async def average_line(context: Context) -> str:
    """For `/dossiers`: the average rating of the commune's dossiers so far, or nothing before the first."""
    summary = await rating_summary(context.session, commune=context.services.commune.code)
    if summary.average is None:
        return ""
    return context.t("dossier_rating.average", average=f"{summary.average:.1f}", count=summary.count)
