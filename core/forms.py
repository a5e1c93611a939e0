"""Generic forms (slot filling): specs loaded from YAML and a pure state machine that runs them.

`FormRunner` never touches storage. Each call takes the state returned by the previous one (a plain,
JSON-serialisable dict that the caller keeps in the conversation-state table) and returns the next `Step`,
so a form survives a restart, or moves to another node, by construction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

from core import answers, validators
from core.i18n import DEFAULT_LANGUAGE, Catalogue, LocalText, local
from core.messages import Button, Incoming, Reply
from core.text import fold
from core.validators import Invalid, Option, Result, Valid, Value

__all__ = [
    "FieldSpec",
    "FieldType",
    "FormRunner",
    "FormSpec",
    "Option",
    "Outcome",
    "Step",
    "load_forms",
]

FieldType = Literal["text", "name", "phone", "citizen_id", "date", "integer", "choice", "yes_no", "photo"]
FIELD_TYPES: tuple[str, ...] = get_args(FieldType)
Outcome = Literal["continue", "completed", "cancelled"]

STATE_FORMAT = 1  # bump when the shape of the state dict changes: every stored form then restarts
HINT_AFTER_ERRORS = 3
_SUMMARY_VALUE_CHARS = 200

_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
_OPTION_ID = re.compile(r"[A-Za-z0-9_.-]{1,32}")  # keeps "form:choice:<id>" inside Telegram's 64 bytes
_FORM_ID = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


# --- specs -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: FieldType
    prompt: LocalText
    label: LocalText | None = None  # shown in the summary; the prompt stands in when absent
    required: bool = True
    options: tuple[Option, ...] = ()
    min: int | None = None
    max: int | None = None
    max_length: int = 500
    past_only: bool = False
    future_only: bool = False
    help: LocalText | None = None

    def label_in(self, lang: str) -> str:
        return local(self.label or self.prompt, lang)

    def option(self, option_id: str) -> Option | None:
        return next((option for option in self.options if option.id == option_id), None)

    @classmethod
    def from_dict(cls, data: Any, where: str = "field") -> FieldSpec:
        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: expected a mapping, got {type(data).__name__}")
        name = data.get("name")
        if not isinstance(name, str) or not _FIELD_NAME.fullmatch(name):
            raise ValueError(f"{where}: 'name' must match {_FIELD_NAME.pattern}, got {name!r}")
        return _FieldParser(data, f"{where} ({name!r})").parse(name)


@dataclass(frozen=True)
class FormSpec:
    id: str
    title: LocalText
    fields: tuple[FieldSpec, ...]
    confirm: bool = True
    # Bump by hand to restart forms in progress; structural edits are also caught by `fingerprint`.
    version: int = 1

    @property
    def fingerprint(self) -> str:
        """A short hash of everything a stored state depends on (not the wording of prompts)."""
        shape = [STATE_FORMAT, self.version, self.confirm, [_field_shape(f) for f in self.fields]]
        return hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:16]

    def field_named(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)

    @classmethod
    def from_dict(cls, data: Any) -> FormSpec:
        if not isinstance(data, Mapping):
            raise ValueError(f"form: expected a mapping, got {type(data).__name__}")
        form_id = data.get("id")
        if not isinstance(form_id, str) or not _FORM_ID.fullmatch(form_id):
            raise ValueError(f"form: 'id' must match {_FORM_ID.pattern}, got {form_id!r}")
        where = f"form {form_id!r}"
        _reject_unknown_keys(data, {"id", "title", "fields", "confirm", "version"}, where)
        raw_fields = data.get("fields")
        if not isinstance(raw_fields, list) or not raw_fields:
            raise ValueError(f"{where}: 'fields' must be a non-empty list")
        fields = tuple(
            FieldSpec.from_dict(raw, f"{where}, field #{number}") for number, raw in enumerate(raw_fields, 1)
        )
        _reject_duplicates([f.name for f in fields], f"{where}: duplicate field name")
        version = data.get("version", 1)
        if type(version) is not int or version < 1:
            raise ValueError(f"{where}: 'version' must be a positive integer, got {version!r}")
        return cls(
            id=form_id,
            title=_local_text(data.get("title"), f"{where}: 'title'"),
            fields=fields,
            confirm=_boolean(data.get("confirm", True), f"{where}: 'confirm'"),
            version=version,
        )


def _field_shape(spec: FieldSpec) -> list[Any]:
    options = [option.id for option in spec.options]
    limits = [spec.min, spec.max, spec.max_length, spec.past_only, spec.future_only]
    return [spec.name, spec.type, spec.required, options, *limits]


_FIELD_KEYS = frozenset(
    {"name", "type", "prompt", "label", "required", "options", "min", "max", "max_length"}
    | {"past_only", "future_only", "help"}
)
# Keys that only make sense for one type; elsewhere they are a mistake in the spec.
_KEYS_FOR_TYPE = {
    "options": "choice",
    "min": "integer",
    "max": "integer",
    "max_length": "text",
    "past_only": "date",
    "future_only": "date",
}


class _FieldParser:
    def __init__(self, data: Mapping[str, Any], where: str) -> None:
        self.data = data
        self.where = where

    def parse(self, name: str) -> FieldSpec:
        _reject_unknown_keys(self.data, _FIELD_KEYS, self.where)
        field_type = self.data.get("type")
        if field_type not in FIELD_TYPES:
            raise ValueError(f"{self.where}: unknown type {field_type!r}; expected one of {FIELD_TYPES}")
        for key, only_for in _KEYS_FOR_TYPE.items():
            if key in self.data and field_type != only_for:
                raise ValueError(f"{self.where}: {key!r} only applies to {only_for!r} fields")
        spec = FieldSpec(
            name=name,
            type=field_type,
            prompt=_local_text(self.data.get("prompt"), f"{self.where}: 'prompt'"),
            label=self._optional_text("label"),
            required=_boolean(self.data.get("required", True), f"{self.where}: 'required'"),
            options=self._options() if field_type == "choice" else (),
            min=self._integer("min"),
            max=self._integer("max"),
            max_length=self._max_length(),
            past_only=_boolean(self.data.get("past_only", False), f"{self.where}: 'past_only'"),
            future_only=_boolean(self.data.get("future_only", False), f"{self.where}: 'future_only'"),
            help=self._optional_text("help"),
        )
        self._check_consistency(spec)
        return spec

    def _check_consistency(self, spec: FieldSpec) -> None:
        if spec.min is not None and spec.max is not None and spec.min > spec.max:
            raise ValueError(f"{self.where}: 'min' ({spec.min}) is greater than 'max' ({spec.max})")
        if spec.past_only and spec.future_only:
            raise ValueError(f"{self.where}: 'past_only' and 'future_only' exclude each other")
        if spec.max_length < 1:
            raise ValueError(f"{self.where}: 'max_length' must be positive")

    def _optional_text(self, key: str) -> LocalText | None:
        raw = self.data.get(key)
        return None if raw is None else _local_text(raw, f"{self.where}: {key!r}")

    def _integer(self, key: str) -> int | None:
        raw = self.data.get(key)
        if raw is not None and type(raw) is not int:
            raise ValueError(f"{self.where}: {key!r} must be an integer, got {raw!r}")
        return raw

    def _max_length(self) -> int:
        value = self._integer("max_length")
        return 500 if value is None else value

    def _options(self) -> tuple[Option, ...]:
        raw = self.data.get("options")
        if not isinstance(raw, list) or not raw:
            raise ValueError(f"{self.where}: a choice field needs a non-empty 'options' list")
        options = tuple(self._option(item, number) for number, item in enumerate(raw, 1))
        _reject_duplicates([o.id for o in options], f"{self.where}: duplicate option id")
        return options

    def _option(self, item: Any, number: int) -> Option:
        where = f"{self.where}, option #{number}"
        if not isinstance(item, Mapping):
            raise ValueError(f"{where}: expected a mapping with 'id' and 'label'")
        _reject_unknown_keys(item, {"id", "label", "synonyms"}, where)
        option_id = item.get("id")
        if not isinstance(option_id, str) or not _OPTION_ID.fullmatch(option_id):
            raise ValueError(f"{where}: 'id' must match {_OPTION_ID.pattern}, got {option_id!r}")
        return Option(option_id, _local_text(item.get("label"), f"{where}: 'label'"),
                      _synonyms(item.get("synonyms"), f"{where}: 'synonyms'"))


def _local_text(raw: Any, where: str) -> LocalText:
    """A string (every language) or a mapping of language → string that has at least Vietnamese."""
    if isinstance(raw, str) and raw.strip():
        return {DEFAULT_LANGUAGE: raw.strip()}
    if isinstance(raw, Mapping) and all(isinstance(v, str) and v.strip() for v in raw.values()):
        if DEFAULT_LANGUAGE in raw:
            return {str(lang): text.strip() for lang, text in raw.items()}
    raise ValueError(f"{where} must be a non-empty string or a mapping with a {DEFAULT_LANGUAGE!r} text")


def _synonyms(raw: Any, where: str) -> tuple[str, ...]:
    """A list of words, or a mapping of language → list of words (all count, whatever the language)."""
    if raw is None:
        return ()
    lists = list(raw.values()) if isinstance(raw, Mapping) else [raw]
    if not all(isinstance(items, list) and all(isinstance(w, str) and w.strip() for w in items)
               for items in lists):
        raise ValueError(f"{where} must be a list of words, or a mapping of language to such a list")
    return tuple(word.strip() for items in lists for word in items)


def _boolean(raw: Any, where: str) -> bool:
    if not isinstance(raw, bool):
        raise ValueError(f"{where} must be true or false, got {raw!r}")
    return raw


def _reject_unknown_keys(data: Mapping[str, Any], allowed: frozenset[str] | set[str], where: str) -> None:
    unknown = sorted(str(key) for key in data if key not in allowed)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")


def _reject_duplicates(names: list[str], message: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{message} {name!r}")
        seen.add(name)


def load_forms(path: Path) -> dict[str, FormSpec]:
    """Forms from a YAML file (`forms: [...]`) or from every *.yml file in a directory, keyed by id."""
    files = sorted(path.glob("*.yml")) if path.is_dir() else [path]
    forms: dict[str, FormSpec] = {}
    for file in files:
        loaded = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        raw_forms = loaded.get("forms") if isinstance(loaded, dict) else None
        if not isinstance(raw_forms, list):
            raise ValueError(f"{file}: expected a top-level 'forms' list")
        for raw in raw_forms:
            try:
                spec = FormSpec.from_dict(raw)
            except ValueError as error:
                raise ValueError(f"{file}: {error}") from None
            if spec.id in forms:
                raise ValueError(f"{file}: form {spec.id!r} defined twice")
            forms[spec.id] = spec
    return forms


# --- validation of one answer ----------------------------------------------------------------------------

_Check = Callable[[FieldSpec, str, dt.date], Result]

_CHECKS: dict[str, _Check] = {
    "text": lambda f, raw, today: validators.text(raw, max_length=f.max_length),
    "name": lambda f, raw, today: validators.name(raw),
    "phone": lambda f, raw, today: validators.phone(raw),
    "citizen_id": lambda f, raw, today: validators.citizen_id(raw),
    "date": lambda f, raw, today: validators.date(
        raw, today=today, past_only=f.past_only, future_only=f.future_only
    ),
    "integer": lambda f, raw, today: _integer(f, raw),
    "choice": lambda f, raw, today: _choice(f, raw),
    "yes_no": lambda f, raw, today: _yes_no(raw),
}


def _integer(spec: FieldSpec, raw: str) -> Result:
    """Digits as typed ("1.000"), or a number said the way people say it: "72 tuổi", "bảy mươi hai"."""
    result = validators.integer(raw, min_value=spec.min, max_value=spec.max)
    if isinstance(result, Valid):
        return result
    said = answers.number(raw)
    if said is None or said != said.to_integral_value():
        return result
    return validators.integer(str(int(said)), min_value=spec.min, max_value=spec.max)


def option_choices(options: tuple[Option, ...]) -> tuple[answers.Choice, ...]:
    return tuple(answers.Choice(o.id, tuple(o.label.values()), o.synonyms) for o in options)


def _choice(spec: FieldSpec, raw: str) -> Result:
    """An option by its number, id, label in any language, or one of its synonyms."""
    result = validators.choice(raw, spec.options)
    if isinstance(result, Valid):
        return result
    chosen = answers.choose(raw, option_choices(spec.options), numbered=True)
    if chosen is not None:
        return Valid(chosen.value)
    listed = " · ".join(f"{n}. {local(o.label, DEFAULT_LANGUAGE)}" for n, o in enumerate(spec.options, 1))
    return Invalid("validate.choice.options", {"options": listed})


def _yes_no(raw: str) -> Result:
    said = answers.yes_no(raw)
    return Valid(said) if said is not None else Invalid("validate.yes_no.invalid")


def _check_answer(spec: FieldSpec, incoming: Incoming, attachment_ref: str | None, today: dt.date) -> Result:
    if spec.type == "photo":
        if incoming.attachment is None:
            return validators.photo(None)
        if attachment_ref is None:
            raise ValueError("an attachment reached a photo field without attachment_ref: store it first")
        return validators.photo(attachment_ref)
    raw = incoming.text
    if raw is None and spec.type == "phone" and incoming.contact is not None:
        raw = incoming.contact.phone
    if raw is None:
        return Invalid("form.expected_text")
    return _CHECKS[spec.type](spec, raw, today)


# --- what the user did -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Action:
    kind: Literal[
        "cancel", "back", "skip", "confirm", "edit", "edit_field", "choice", "yes", "no", "unknown", "input"
    ]
    arg: str = ""


_PLAIN_BUTTONS: dict[str, _Action] = {
    "form:cancel": _Action("cancel"),
    "form:back": _Action("back"),
    "form:skip": _Action("skip"),
    "form:confirm": _Action("confirm"),
    "form:edit": _Action("edit"),
    "form:yes": _Action("yes"),
    "form:no": _Action("no"),
}
# Stop and back are core/answers' words (`is_cancel`, `is_back`), read in `FormRunner._typed`.
_TYPED_COMMANDS: dict[str, _Action] = {
    **dict.fromkeys(("bo qua", "skip", "/skip"), _Action("skip")),
}
# Fields whose answer is free words: only a stop word alone stops there ("Huy Hoàng" is a name).
_FREE_TEXT: frozenset[str] = frozenset({"text", "name"})
_CONFIRM_WORDS = frozenset({"xac nhan", "dung roi", "confirm", "/confirm"})
_EDIT_WORDS = frozenset({"sua", "sua lai", "chinh sua", "edit"})


def _command_word(text: str) -> str:
    return fold(text).strip(" .!?,;:")


def _parse_button(data: str) -> _Action:
    if data in _PLAIN_BUTTONS:
        return _PLAIN_BUTTONS[data]
    option_id = data.removeprefix("form:choice:")
    if option_id and option_id != data:
        return _Action("choice", option_id)
    field_name = data.removeprefix("form:edit:")
    if field_name and field_name != data:
        return _Action("edit_field", field_name)
    return _Action("unknown")


def _button_data(incoming: Incoming) -> str | None:
    if incoming.button is not None:
        return incoming.button
    # Zalo OA "query" buttons come back as the user's own text.
    if incoming.text and incoming.text.strip().startswith("form:"):
        return incoming.text.strip()
    return None


def _classify(incoming: Incoming) -> _Action:
    data = _button_data(incoming)
    if data is not None:
        return _parse_button(data)
    if incoming.text is not None:
        typed = _TYPED_COMMANDS.get(_command_word(incoming.text))
        if typed is not None:
            return typed
    return _Action("input")


# --- state -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _State:
    index: int
    values: dict[str, Value | None] = field(default_factory=dict)
    confirming: bool = False
    returning: bool = False  # editing one field from the summary: go back to it afterwards
    errors: int = 0  # invalid answers in a row on the current field

    def dump(self, spec: FormSpec) -> dict[str, Any]:
        return {
            "form": spec.id,
            "version": spec.version,
            "fingerprint": spec.fingerprint,
            "index": self.index,
            "values": dict(self.values),
            "confirming": self.confirming,
            "returning": self.returning,
            "errors": self.errors,
        }

    @classmethod
    def parse(cls, raw: Any, spec: FormSpec) -> _State | None:
        """The state, or None if it is malformed or belongs to another form or another edition of this one."""
        if not isinstance(raw, Mapping):
            return None
        same_form = (raw.get("form"), raw.get("version"), raw.get("fingerprint")) == (
            spec.id,
            spec.version,
            spec.fingerprint,
        )
        index, values, errors = raw.get("index"), raw.get("values"), raw.get("errors")
        confirming, returning = raw.get("confirming"), raw.get("returning")
        if not same_form or type(index) is not int or not 0 <= index < len(spec.fields):
            return None
        if not isinstance(values, Mapping) or not set(values) <= {f.name for f in spec.fields}:
            return None
        if not all(value is None or isinstance(value, str | int) for value in values.values()):
            return None
        if type(confirming) is not bool or type(returning) is not bool or type(errors) is not int:
            return None
        if confirming and any(f.required and values.get(f.name) is None for f in spec.fields):
            return None
        return cls(index, dict(values), confirming, returning, max(errors, 0))


def _vietnamese_date(iso: str) -> str:
    try:
        return dt.date.fromisoformat(iso).strftime("%d/%m/%Y")
    except ValueError:
        return iso


# --- the runner ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    state: dict[str, Any] | None  # None once the form is over
    replies: tuple[Reply, ...]
    outcome: Outcome = "continue"
    values: dict[str, Value | None] = field(default_factory=dict)  # filled when completed


class FormRunner:
    def __init__(
        self, spec: FormSpec, catalogue: Catalogue, *, today: Callable[[], dt.date] = validators.vietnam_today
    ) -> None:
        self.spec = spec
        self.catalogue = catalogue
        self.today = today

    def start(self, lang: str) -> Step:
        first = _State(index=0)
        intro = self._t("form.intro", lang, title=local(self.spec.title, lang), count=len(self.spec.fields))
        return Step(first.dump(self.spec), (Reply(intro), self._prompt(first, lang)))

    def expects_attachment(self, state: dict[str, Any]) -> bool:
        """Whether the next answer should be a photo, so the caller knows to store an attachment first."""
        current = _State.parse(state, self.spec)
        return current is not None and not current.confirming and self._field(current).type == "photo"

    def handle(
        self, state: dict[str, Any], incoming: Incoming, lang: str, attachment_ref: str | None = None
    ) -> Step:
        action = _classify(incoming)
        current = _State.parse(state, self.spec)
        if action.kind == "input" and incoming.text is not None:
            action = self._typed(current, incoming.text)
        if action.kind == "cancel":  # even from a stale state: the user wants out, not a fresh start
            return Step(None, (Reply(self._t("form.cancelled", lang)),), "cancelled")
        if current is None:
            return self._continue(_State(index=0), lang, notice=self._t("form.restarted", lang))
        if current.confirming:
            return self._at_summary(current, action, incoming, lang)
        return self._at_field(current, action, incoming, lang, attachment_ref)

    def _typed(self, current: _State | None, text: str) -> _Action:
        """A typed stop or back, in the one vocabulary of core/answers; otherwise the answer itself."""
        spec = self._field(current) if current is not None and not current.confirming else None
        free = spec is not None and spec.type in _FREE_TEXT
        # Where a yes is an answer, "dung" is "đúng" (yes), not "dừng" (stop).
        kind = "summary" if current is not None and current.confirming else spec.type if spec else None
        yes_here = kind in ("summary", "yes_no")
        if answers.is_cancel(text, strict=free) and not (yes_here and answers.yes_no(text) is True):
            return _Action("cancel")
        if answers.is_back(text):
            return _Action("back")
        return _Action("input")

    # -- one field

    def _at_field(
        self, current: _State, action: _Action, incoming: Incoming, lang: str, attachment_ref: str | None
    ) -> Step:
        spec = self._field(current)
        if action.kind == "back":
            return self._back(current, lang)
        if action.kind == "skip":
            if spec.required:
                return self._continue(current, lang, notice=self._t("form.cannot_skip", lang))
            return self._accept(current, None, lang)
        if action.kind == "choice" and spec.type == "choice" and spec.option(action.arg):
            return self._accept(current, action.arg, lang)
        if action.kind in ("yes", "no") and spec.type == "yes_no":
            return self._accept(current, action.kind == "yes", lang)
        if action.kind != "input":
            return self._continue(current, lang, notice=self._t("form.unknown_button", lang))
        if (not spec.required and spec.type != "yes_no" and incoming.attachment is None
                and incoming.text is not None and answers.is_skip(incoming.text)):
            return self._accept(current, None, lang)  # "không có", "chưa có", "để sau"
        result = _check_answer(spec, incoming, attachment_ref, self.today())
        if isinstance(result, Valid):
            return self._accept(current, result.value, lang)
        return self._invalid(current, result, lang)

    def _accept(self, current: _State, value: Value | None, lang: str) -> Step:
        values = {**current.values, self._field(current).name: value}
        if current.returning or (current.index == len(self.spec.fields) - 1 and self.spec.confirm):
            return self._summary(_State(current.index, values, confirming=True), lang)
        if current.index == len(self.spec.fields) - 1:
            ordered = {f.name: values.get(f.name) for f in self.spec.fields}
            return Step(None, (Reply(self._t("form.completed", lang)),), "completed", ordered)
        return self._continue(_State(current.index + 1, values), lang)

    def _invalid(self, current: _State, result: Invalid, lang: str) -> Step:
        failed = dataclasses.replace(current, errors=current.errors + 1)
        notice = self._t(result.error_key, lang, **result.params)
        return self._continue(failed, lang, notice=notice)

    def _back(self, current: _State, lang: str) -> Step:
        if current.returning:
            return self._summary(_State(current.index, current.values, confirming=True), lang)
        if current.index == 0:
            return self._continue(current, lang, notice=self._t("form.at_first", lang))
        return self._continue(_State(current.index - 1, current.values), lang)

    # -- the summary

    def _at_summary(self, current: _State, action: _Action, incoming: Incoming, lang: str) -> Step:
        if action.kind == "input" and incoming.text is not None:
            action = self._summary_words(incoming.text)
        if action.kind == "confirm":
            ordered = {f.name: current.values.get(f.name) for f in self.spec.fields}
            return Step(None, (Reply(self._t("form.completed", lang)),), "completed", ordered)
        if action.kind == "edit":
            return Step(current.dump(self.spec), (self._edit_menu(lang),))
        if action.kind == "edit_field" and self.spec.field_named(action.arg):
            index = next(i for i, f in enumerate(self.spec.fields) if f.name == action.arg)
            return self._continue(_State(index, current.values, returning=True), lang)
        if action.kind == "back":
            return self._continue(_State(len(self.spec.fields) - 1, current.values), lang)
        key = "form.unknown_button" if _button_data(incoming) is not None else "form.summary_hint"
        return self._summary(current, lang, notice=self._t(key, lang))

    def _summary_words(self, text: str) -> _Action:
        """What a typed answer to the summary means: confirm, edit, or a field's number or label to edit."""
        word = _command_word(text)
        answer = answers.yes_no(text)
        if word in _CONFIRM_WORDS or answer is True:
            return _Action("confirm")
        if word in _EDIT_WORDS or answer is False:
            return _Action("edit")
        for number, spec in enumerate(self.spec.fields, 1):
            labels = {fold(label) for label in (spec.label or spec.prompt).values()}
            if word == str(number) or word in labels:
                return _Action("edit_field", spec.name)
        return _Action("input")

    def _summary(self, current: _State, lang: str, notice: str | None = None) -> Step:
        lines = [notice] if notice else []
        lines.append(self._t("form.summary_title", lang, title=local(self.spec.title, lang)))
        for spec in self.spec.fields:
            lines.append(f"{spec.label_in(lang)}: {self._display(spec, current.values.get(spec.name), lang)}")
        buttons = (
            Button(self._t("form.button.confirm", lang), "form:confirm"),
            Button(self._t("form.button.edit", lang), "form:edit"),
            Button(self._t("form.button.cancel", lang), "form:cancel"),
        )
        return Step(current.dump(self.spec), (Reply("\n".join(lines), buttons),))

    def _edit_menu(self, lang: str) -> Reply:
        buttons = [Button(f.label_in(lang), f"form:edit:{f.name}") for f in self.spec.fields]
        buttons.append(Button(self._t("form.button.cancel", lang), "form:cancel"))
        return Reply(self._t("form.edit_which", lang), tuple(buttons))

    def _display(self, spec: FieldSpec, value: Value | None, lang: str) -> str:
        if value is None:
            return self._t("form.value.skipped", lang)
        if spec.type == "yes_no":
            return self._t("form.button.yes" if value else "form.button.no", lang)
        if spec.type == "photo":
            return self._t("form.value.photo", lang)
        if spec.type == "date" and isinstance(value, str):
            return _vietnamese_date(value)
        option = spec.option(str(value)) if spec.type == "choice" else None
        shown = local(option.label, lang) if option else str(value)
        return shown if len(shown) <= _SUMMARY_VALUE_CHARS else shown[: _SUMMARY_VALUE_CHARS - 1] + "…"

    # -- prompts

    def _continue(self, current: _State, lang: str, notice: str | None = None) -> Step:
        return Step(current.dump(self.spec), (self._prompt(current, lang, notice),))

    def _prompt(self, current: _State, lang: str, notice: str | None = None) -> Reply:
        spec = self._field(current)
        lines = [notice] if notice else []
        lines.append(local(spec.prompt, lang))
        if spec.help:
            lines.append(local(spec.help, lang))
        if current.values.get(spec.name) is not None:
            shown = self._display(spec, current.values[spec.name], lang)
            lines.append(self._t("form.current_value", lang, value=shown))
        if current.errors >= HINT_AFTER_ERRORS:
            lines.append(self._t("form.hint", lang))
        return Reply("\n".join(lines), self._buttons(current, spec, lang))

    def _buttons(self, current: _State, spec: FieldSpec, lang: str) -> tuple[Button, ...]:
        buttons = [Button(local(o.label, lang), f"form:choice:{o.id}") for o in spec.options]
        if spec.type == "yes_no":
            buttons += [
                Button(self._t("form.button.yes", lang), "form:yes"),
                Button(self._t("form.button.no", lang), "form:no"),
            ]
        if not spec.required:
            buttons.append(Button(self._t("form.button.skip", lang), "form:skip"))
        # The first question stays uncluttered; once stuck there, offer a way out.
        if current.index > 0 or current.returning:
            buttons.append(Button(self._t("form.button.back", lang), "form:back"))
        if current.index > 0 or current.returning or current.errors >= HINT_AFTER_ERRORS:
            buttons.append(Button(self._t("form.button.cancel", lang), "form:cancel"))
        return tuple(buttons)

    def _field(self, current: _State) -> FieldSpec:
        return self.spec.fields[current.index]

    def _t(self, key: str, lang: str, **params: Any) -> str:
        return self.catalogue.t(key, lang, **params)
