"""The dashboard's HTML, rendered on the server: no inline script or style (the CSP forbids both),
every value escaped. `t` turns a catalogue key into text in the page's language."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from bots.dashboard.charts import bar_chart
from bots.dashboard.figures import Figure, Layer, Section
from core.audit import AuditRecord, VerifyResult
from core.i18n import Catalogue
from core.outbox import DeadLetter
from core.timezones import VIETNAM


@dataclass(frozen=True)
class Texts:
    """The catalogue in one language: `t(key, **params)`, and `t.label(key)` for labels that may be
    plain text (a channel's name) rather than a catalogue key."""

    catalogue: Catalogue
    lang: str

    def __call__(self, key: str, **params: Any) -> str:
        return self.catalogue.t(key, self.lang, **params)

    def label(self, key: str) -> str:
        return self(key) if self.catalogue.has(key) else key


T = Texts
NAV = (("overview", "/dashboard"), ("map", "/dashboard/map"), ("deadletters", "/dashboard/deadletters"),
       ("audit", "/dashboard/audit"))
TIME_FORMAT = "%d/%m/%Y %H:%M"
MAX_CODES = 5  # codes named in a map marker's label


@dataclass(frozen=True)
class Place:
    """Whose figures a page shows: `name` (a commune's, or the whole province's) and, for the province's
    view, the communes to choose from (`choices`: code and name) and the one chosen (None: all)."""

    name: str
    choices: Sequence[tuple[str, str]] = ()
    chosen: str | None = None

    def query(self, first: str = "?") -> str:
        """The chosen commune carried from page to page."""
        return f"{first}commune={self.chosen}" if self.choices and self.chosen else ""


def layout(t: T, *, title: str, body: str, active: str | None = None, csrf: str | None = None,
           head: str = "", scripts: Sequence[str] = (), place: Place | None = None) -> str:
    lang = t.lang
    nav = ""
    keep = place.query() if place is not None else ""
    if csrf is not None:
        other = "en" if lang == "vi" else "vi"
        links = "".join(
            f'<a href="{href}{keep}"{" aria-current=page class=active" if key == active else ""}>'
            f'{escape(t(f"dashboard.nav.{key}"))}</a>' for key, href in NAV)
        nav = (f'<nav class="nav">{links}<a href="?lang={other}{place.query("&") if place else ""}" '
               f'lang="{other}">{escape(t("dashboard.nav.language"))}</a>'
               f'<form method="post" action="/dashboard/logout" class="inline">'
               f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
               f'<button type="submit">{escape(t("dashboard.nav.logout"))}</button></form></nav>')
    where = (f'<span class="place" id="place">{escape(place.name)}</span>'
             if place is not None and place.name else "")
    script_tags = "".join(f'<script src="{escape(src)}"></script>' for src in scripts)
    choices = commune_choices(t, place) if place is not None and csrf is not None else ""
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{escape(title)} · {escape(t("dashboard.name"))}</title>'
            f'<link rel="stylesheet" href="/static/dashboard.css">{head}</head>'
            f'<body><header class="top"><strong>{escape(t("dashboard.name"))}</strong>{where}{nav}</header>'
            f'<main>{choices}<h1>{escape(title)}</h1>{body}</main>{script_tags}</body></html>')


def commune_choices(t: T, place: Place) -> str:
    """The province's commune filter: the whole province, then each commune (links, no script)."""
    if not place.choices:
        return ""
    options = [("", t("dashboard.province.all")), *place.choices]
    links = "".join(
        f'<a href="?commune={escape(code)}" data-commune="{escape(code)}"'
        f'{" aria-current=true class=active" if (code or None) == place.chosen else ""}>{escape(name)}</a>'
        for code, name in options)
    return (f'<nav class="communes" id="communes" aria-label="{escape(t("dashboard.province.filter"))}">'
            f'{links}</nav>')


def message_page(t: T, title_key: str, text_key: str, **params: Any) -> str:
    return layout(t, title=t(title_key), body=f'<p class="notice">{escape(t(text_key, **params))}</p>')


def login_page(t: T, token: str, csrf: str) -> str:
    body = (f'<p>{escape(t("dashboard.login.explain"))}</p>'
            f'<form method="post" action="/dashboard/login">'
            f'<input type="hidden" name="token" value="{escape(token)}">'
            f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
            f'<button type="submit" class="primary" id="login">{escape(t("dashboard.login.button"))}</button>'
            f'</form>')
    return layout(t, title=t("dashboard.login.title"), body=body)


def _value(t: T, figure: Figure) -> str:
    value = figure.value
    if value is None:
        return "—"
    if isinstance(value, bool):
        return t("dashboard.chain.ok") if value else t("dashboard.chain.broken")
    if isinstance(value, int | float):
        text = f"{value:,.0f}".replace(",", ".") if float(value).is_integer() else f"{value:.1f}"
        return {"min": f"{text} {t('dashboard.unit.min')}", "h": f"{text} {t('dashboard.unit.h')}",
                "vnd": f"{text} đ", "%": f"{text} %"}.get(figure.unit, text)
    return str(value)


def section_card(t: T, section: Section) -> str:
    figures = "".join(
        f'<div class="figure{" alert" if figure.alert else ""}" '
        f'data-key="{escape(section.key)}.{escape(figure.key)}">'
        f'<span class="value">{escape(_value(t, figure))}</span>'
        f'<span class="label">{escape(t.label(figure.label))}</span></div>'
        for figure in section.figures)
    title = t.label(section.title)
    chart = bar_chart([(t.label(bar.label), bar.value, bar.alert) for bar in section.bars], title)
    more = (f'<a class="more" href="{escape(section.link)}">{escape(t("dashboard.more"))}</a>'
            if section.link else "")
    items = "".join(
        f'<li{" class=alert" if item.alert else ""}><strong>{escape(item.code)}</strong> '
        + " · ".join(escape(t.label(cell)) for cell in item.cells) + "</li>"
        for item in section.items)
    listed = f'<ul class="items">{items}</ul>' if items else ""
    return (f'<section class="card" id="section-{escape(section.key)}"><h2>{escape(title)}</h2>'
            f'<div class="figures">{figures}</div>{chart}{listed}{more}</section>')


def overview(t: T, sections: Sequence[Section], generated: str) -> str:
    cards = "".join(section_card(t, section) for section in sections)
    return (f'<p class="muted">{escape(t("dashboard.generated", at=generated))}</p>'
            f'<div class="cards">{cards}</div>')


def map_body(t: T, hamlets: list[dict[str, Any]], layers: Sequence[Layer]) -> str:
    data = {"hamlets": hamlets,
            "layers": [{"key": layer.key, "title": t.label(layer.title), "colour": layer.colour,
                        "by_hamlet": {m.hamlet_id: m.count for m in layer.markers},
                        "codes": {m.hamlet_id: list(m.codes[:MAX_CODES]) for m in layer.markers if m.codes}}
                       for layer in layers]}
    # A JSON data block is not executed, so the CSP allows it; "</" is escaped so it cannot end the tag.
    payload = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    header = "".join(f"<th>{escape(t.label(layer.title))}</th>" for layer in layers)
    rows = "".join(
        f'<tr><td>{escape(h["name"])}</td>'
        + "".join(f'<td>{sum(m.count for m in layer.markers if m.hamlet_id == h["id"])}</td>'
                  for layer in layers)
        + "</tr>" for h in hamlets)
    notes = "".join(f'<p class="notice">{escape(_layer_note(t, layer))}</p>'
                    for layer in layers if layer.note or layer.unplaced)
    return (f'<div id="map" class="map" aria-label="{escape(t("dashboard.nav.map"))}"></div>'
            f'<script type="application/json" id="map-data">{payload}</script>{notes}'
            f'<table class="table"><thead><tr><th>{escape(t("dashboard.map.hamlet"))}</th>{header}</tr>'
            f'</thead>'
            f'<tbody>{rows}</tbody></table>')


def _layer_note(t: T, layer: Layer) -> str:
    """«Open dossiers: 4 not placed on the map. Dossiers carry no hamlet…»"""
    parts = [t("dashboard.map.unplaced", count=layer.unplaced)] if layer.unplaced else []
    if layer.note:
        parts.append(t.label(layer.note))
    return f"{t.label(layer.title)}: " + " ".join(parts)


def dead_letters_body(t: T, letters: Sequence[DeadLetter], csrf: str | None, replayed: str | None) -> str:
    """The dead letters, each with its replay button; without `csrf` (the province's read-only view)
    the list alone."""
    done = (f'<p class="notice ok" id="replayed">'
            f'{escape(t("dashboard.deadletters.replayed", id=replayed))}</p>'
            if replayed else "")
    if not letters:
        return done + f'<p id="empty">{escape(t("dashboard.deadletters.empty"))}</p>'
    columns = ("id", "channel", "user", "attempts", "error", "created", *(("action",) if csrf else ()))
    head = "".join(f"<th>{escape(t(f'dashboard.deadletters.{column}'))}</th>" for column in columns)
    action = ("" if csrf is None else
              '<td><form method="post" action="/dashboard/deadletters/{id}/replay">'
              f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
              f'<button type="submit" class="replay">{escape(t("dashboard.deadletters.replay"))}</button>'
              '</form></td>')
    rows = "".join(
        f'<tr id="dead-{letter.id}"><td>{letter.id}</td><td>{escape(letter.channel)}</td>'
        f'<td>{letter.user_id if letter.user_id is not None else "—"}</td><td>{letter.attempts}</td>'
        f'<td>{escape(letter.last_error or "")}</td><td>{escape(_local(letter.created_at))}</td>'
        f'{action.replace("{id}", str(letter.id))}</tr>' for letter in letters)
    return (f'{done}<p class="muted">{escape(t("dashboard.deadletters.explain"))}</p>'
            f'<div class="scroll"><table class="table"><thead><tr>{head}</tr></thead>'
            f'<tbody>{rows}</tbody></table></div>')


def audit_body(t: T, verdict: VerifyResult, entries: Sequence[AuditRecord], actor: str, action: str) -> str:
    if verdict.ok:
        status = (f'<p class="notice ok" id="chain">'
                  f'{escape(t("dashboard.audit.ok", count=verdict.checked))}</p>')
    else:
        broken = t("dashboard.audit.broken", seq=verdict.first_bad_seq or "?", reason=verdict.reason or "")
        status = f'<p class="notice alert" id="chain">{escape(broken)}</p>'
    form = (f'<form method="get" action="/dashboard/audit" class="filter">'
            f'<label>{escape(t("dashboard.audit.actor"))} <input name="actor" value="{escape(actor)}" '
            f'placeholder="user:12" maxlength="64"></label>'
            f'<label>{escape(t("dashboard.audit.action"))} <input name="action" value="{escape(action)}" '
            f'placeholder="dossier.approve" maxlength="64"></label>'
            f'<button type="submit">{escape(t("dashboard.audit.filter"))}</button></form>')
    head = "".join(f"<th>{escape(t(f'dashboard.audit.{column}'))}</th>"
                   for column in ("seq", "at", "actor", "action", "subject", "outcome"))
    rows = "".join(
        f'<tr><td>{entry.seq}</td><td>{escape(_local(entry.at))}</td><td>{escape(entry.actor)}</td>'
        f'<td>{escape(entry.action)}</td><td>{escape(entry.subject or "")}</td>'
        f'<td class="{"alert" if entry.outcome != "ok" else ""}">{escape(entry.outcome)}</td></tr>'
        for entry in entries)
    return (f'{status}{form}<div class="scroll"><table class="table" id="audit-entries">'
            f'<thead><tr>{head}</tr>'
            f'</thead><tbody>{rows}</tbody></table></div>')


def _local(at: Any) -> str:
    return at.astimezone(VIETNAM).strftime(TIME_FORMAT)


PROVINCE_COLUMNS = ("messages_today", "messages_week", "dossiers_open", "dossiers_overdue",
                    "consults_waiting", "reports_open", "orders_open")
ALERT_COLUMNS = frozenset({"dossiers_overdue"})


def province_table(t: T, rows: Sequence[Any], total: Any) -> str:
    """Each commune's figures side by side (bots/dashboard/province.py `CommuneRow`), the province's
    total last; a commune's name opens its own view."""
    head = "".join(f"<th>{escape(t(f'dashboard.province.{column}'))}</th>" for column in PROVINCE_COLUMNS)

    def cells(row: Any) -> str:
        return "".join(
            f'<td data-key="{column}"'
            f'{" class=alert" if column in ALERT_COLUMNS and getattr(row, column) else ""}>'
            f'{getattr(row, column)}</td>' for column in PROVINCE_COLUMNS)

    body = "".join(f'<tr id="commune-{escape(row.code)}"><th><a href="?commune={escape(row.code)}">'
                   f'{escape(row.name)}</a></th>{cells(row)}</tr>' for row in rows)
    body += (f'<tr id="commune-all" class="total"><th>{escape(t("dashboard.province.all"))}</th>'
             f'{cells(total)}</tr>')
    return (f'<section class="card province" id="province"><h2>{escape(t("dashboard.province.title"))}</h2>'
            f'<div class="scroll"><table class="table"><thead><tr>'
            f'<th>{escape(t("dashboard.province.commune"))}</th>{head}</tr></thead>'
            f'<tbody>{body}</tbody></table></div></section>')
