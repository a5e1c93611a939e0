"""The procedure catalogue (data/procedures.yml): typed, validated, and turned into form-engine specs
whose last fields are the papers, asked as photos or PDFs."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from core.forms import FormSpec
from core.i18n import DEFAULT_LANGUAGE, LocalText, local
from core.text import fold

FORM_PREFIX = "procedure."
_PROCEDURE_ID = re.compile(r"[a-z][a-z0-9_]{1,47}")
_PROCEDURE_KEYS = frozenset({
    "id", "name", "synonyms", "fee", "fee_note", "time_limit_days", "in_person", "in_person_note",
    "legal_basis", "fields", "papers", "version", "result_fields", "notify",
})
# Who hears of a new dossier: the staff by default; a procedure may name other staff roles.
NOTIFY_ROLES = frozenset({"staff", "admin"})
_REQUIRED_KEYS = ("id", "name", "synonyms", "fee", "time_limit_days", "in_person", "legal_basis", "fields",
                  "papers")
_PAPER_KEYS = frozenset({"name", "label", "required", "help"})


@dataclass(frozen=True)
class Paper:
    name: str
    label: LocalText
    required: bool = True


@dataclass(frozen=True)
class Procedure:
    id: str
    name: LocalText
    synonyms: tuple[str, ...]
    fee: int
    time_limit_days: int
    in_person: bool
    legal_basis: str
    form: FormSpec
    papers: tuple[Paper, ...]
    fee_note: LocalText | None = None
    in_person_note: LocalText | None = None
    # The form fields printed on the signed result, in order: what the paper shows, nothing more.
    result_fields: tuple[str, ...] = ()
    # The roles told at once of a new dossier of this procedure (procedures.yml `notify`).
    notify: tuple[str, ...] = ("staff",)

    @property
    def form_id(self) -> str:
        return self.form.id

    def name_in(self, lang: str) -> str:
        return local(self.name, lang)

    def paper_named(self, name: str) -> Paper | None:
        return next((paper for paper in self.papers if paper.name == name), None)


@dataclass(frozen=True)
class ProcedureCatalogue:
    procedures: tuple[Procedure, ...]

    def __iter__(self) -> Iterator[Procedure]:
        return iter(self.procedures)

    def __len__(self) -> int:
        return len(self.procedures)

    def get(self, procedure_id: str) -> Procedure | None:
        return next((p for p in self.procedures if p.id == procedure_id), None)

    def by_form(self, form_id: str) -> Procedure | None:
        return next((p for p in self.procedures if p.form_id == form_id), None)

    def form_specs(self) -> dict[str, FormSpec]:
        return {p.form_id: p.form for p in self.procedures}

    def match(self, text: str) -> Procedure | None:
        """The procedure whose name or a synonym appears in `text`, longest phrase first."""
        folded = f" {fold(text)} "
        candidates = [(fold(phrase), p) for p in self.procedures
                      for phrase in (*p.synonyms, *p.name.values())]
        for phrase, procedure in sorted(candidates, key=lambda item: len(item[0]), reverse=True):
            if f" {phrase} " in folded:
                return procedure
        return None


def load_catalogue(path: Path) -> ProcedureCatalogue:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    try:
        return parse_catalogue(loaded)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def parse_catalogue(data: Any) -> ProcedureCatalogue:
    if not isinstance(data, Mapping) or not isinstance(data.get("procedures"), list):
        raise ValueError("expected a top-level 'procedures' list")
    paper_prompt = _local_text(data.get("paper_prompt"), "'paper_prompt'")
    if any("{paper}" not in text for text in paper_prompt.values()):
        raise ValueError("'paper_prompt' must contain {paper} in every language")
    procedures = tuple(
        _procedure(raw, paper_prompt, number) for number, raw in enumerate(data["procedures"], 1)
    )
    if not procedures:
        raise ValueError("'procedures' is empty")
    _unique([p.id for p in procedures], "procedure id")
    # "giấy khai sinh" and "giay khai sinh" are one phrase; only two procedures sharing one is an error.
    _unique([s for p in procedures for s in {fold(s) for s in p.synonyms}], "synonym (without diacritics)")
    return ProcedureCatalogue(procedures)


def _procedure(raw: Any, paper_prompt: LocalText, number: int) -> Procedure:
    if not isinstance(raw, Mapping):
        raise ValueError(f"procedure #{number}: expected a mapping")
    procedure_id = raw.get("id")
    if not isinstance(procedure_id, str) or not _PROCEDURE_ID.fullmatch(procedure_id):
        raise ValueError(
            f"procedure #{number}: 'id' must match {_PROCEDURE_ID.pattern}, got {procedure_id!r}"
        )
    where = f"procedure {procedure_id!r}"
    unknown = sorted(str(key) for key in raw if key not in _PROCEDURE_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}")
    missing = [key for key in _REQUIRED_KEYS if key not in raw]
    if missing:
        raise ValueError(f"{where}: missing key(s) {missing}")
    papers = _papers(raw["papers"], where)
    name = _local_text(raw["name"], f"{where}: 'name'")
    fields = raw["fields"]
    if not isinstance(fields, list) or not fields:
        raise ValueError(f"{where}: 'fields' must be a non-empty list")
    form = FormSpec.from_dict({
        "id": FORM_PREFIX + procedure_id,
        "title": dict(name),
        "fields": [*fields, *(_paper_field(paper, paper_prompt) for paper in papers)],
        "version": raw.get("version", 1),
    })
    if any(f.type == "photo" for f in form.fields[: len(fields)]):
        raise ValueError(f"{where}: list photos under 'papers', not 'fields'")
    return Procedure(
        id=procedure_id, name=name, synonyms=_synonyms(raw["synonyms"], where),
        fee=_natural(raw["fee"], f"{where}: 'fee'", minimum=0),
        time_limit_days=_natural(raw["time_limit_days"], f"{where}: 'time_limit_days'", minimum=1),
        in_person=_flag(raw["in_person"], f"{where}: 'in_person'"),
        legal_basis=_plain(raw["legal_basis"], f"{where}: 'legal_basis'"),
        form=form, papers=papers,
        fee_note=_optional_text(raw.get("fee_note"), f"{where}: 'fee_note'"),
        in_person_note=_optional_text(raw.get("in_person_note"), f"{where}: 'in_person_note'"),
        result_fields=_result_fields(raw.get("result_fields", []), form, len(fields), where),
        notify=_notify(raw.get("notify", ["staff"]), where),
    )


def _notify(raw: Any, where: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(role, str) and role in NOTIFY_ROLES for role in raw):
        raise ValueError(f"{where}: 'notify' must be a list of roles among {sorted(NOTIFY_ROLES)}")
    return tuple(raw)


def _papers(raw: Any, where: str) -> tuple[Paper, ...]:
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{where}: 'papers' must be a non-empty list")
    papers = []
    for number, item in enumerate(raw, 1):
        spot = f"{where}, paper #{number}"
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            raise ValueError(f"{spot}: expected a mapping with 'name' and 'label'")
        unknown = sorted(str(key) for key in item if key not in _PAPER_KEYS)
        if unknown:
            raise ValueError(f"{spot}: unknown key(s) {unknown}")
        papers.append(Paper(item["name"], _local_text(item.get("label"), f"{spot}: 'label'"),
                            _flag(item.get("required", True), f"{spot}: 'required'")))
    if not any(paper.required for paper in papers):
        raise ValueError(f"{where}: at least one paper must be required")
    return tuple(papers)


def _paper_field(paper: Paper, paper_prompt: LocalText) -> dict[str, Any]:
    prompt = {lang: paper_prompt.get(lang, paper_prompt[DEFAULT_LANGUAGE]).format(paper=label)
              for lang, label in paper.label.items()}
    return {"name": paper.name, "type": "photo", "label": dict(paper.label), "prompt": prompt,
            "required": paper.required}


def _result_fields(raw: Any, form: FormSpec, field_count: int, where: str) -> tuple[str, ...]:
    names = [spec.name for spec in form.fields[:field_count]]
    if not isinstance(raw, list) or not all(isinstance(name, str) for name in raw):
        raise ValueError(f"{where}: 'result_fields' must be a list of field names")
    unknown = [name for name in raw if name not in names]
    if unknown:
        raise ValueError(f"{where}: 'result_fields' names no such field(s) {unknown}")
    return tuple(raw)


def _synonyms(raw: Any, where: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw or not all(isinstance(s, str) and s.strip() for s in raw):
        raise ValueError(f"{where}: 'synonyms' must be a non-empty list of phrases")
    return tuple(s.strip() for s in raw)


def _local_text(raw: Any, where: str) -> LocalText:
    if isinstance(raw, str) and raw.strip():
        return {DEFAULT_LANGUAGE: raw.strip()}
    if isinstance(raw, Mapping) and DEFAULT_LANGUAGE in raw and all(
        isinstance(v, str) and v.strip() for v in raw.values()
    ):
        return {str(lang): text.strip() for lang, text in raw.items()}
    raise ValueError(f"{where} must be a text or a mapping with a {DEFAULT_LANGUAGE!r} text")


def _optional_text(raw: Any, where: str) -> LocalText | None:
    return None if raw is None else _local_text(raw, where)


def _natural(raw: Any, where: str, minimum: int) -> int:
    if type(raw) is not int or raw < minimum:
        raise ValueError(f"{where} must be a whole number ≥ {minimum}, got {raw!r}")
    return raw


def _flag(raw: Any, where: str) -> bool:
    if not isinstance(raw, bool):
        raise ValueError(f"{where} must be true or false, got {raw!r}")
    return raw


def _plain(raw: Any, where: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError(f"{where} must be a non-empty text")
    return raw.strip()


def _unique(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what} {value!r}")
        seen.add(value)


__all__ = ["FORM_PREFIX", "Paper", "Procedure", "ProcedureCatalogue", "load_catalogue",
           "local", "parse_catalogue"]
