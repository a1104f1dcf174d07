"""The bot's texts: `templates/messages/<lang>/messages.toml`, rendered with Jinja2.

The routing policy only names a message (`Reply(key, params)`); this module
turns it into plain text in the texter's language. Every language has the same
keys (a test checks it), and a missing key is an error rather than a silent
fallback to Dutch: a texter who chose Polish must not get a Dutch consent
question they cannot read and then be asked to say yes to it.

File layout::

    # header comment (machine translation, needs review ...)
    [meta]
    weekdays = ["maandag", ...]   # 0 = Monday; used by the `day` and `schedule` filters
    today = "vandaag"
    tomorrow = "morgen"
    always_open = "dag en nacht"
    language_offer = "Liever Nederlands? Stuur TAAL."   # shown in the other languages' welcome
    [messages]
    welcome = \"\"\"...{{ retention_days }}...\"\"\"

Filters available in templates:

- `{{ next_open_day | day }}`: "today" / "tomorrow" / "0".."6" -> a word.
- `{{ opening_hours | schedule }}`: the routing schedule code
  ("0-4 10:00-16:00;5 12:00-14:00") -> one line per group of days.
- `{{ other_languages | offers }}`: language codes ("en,es") -> each one's
  `meta.language_offer`, in its own language, one a line.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import jinja2

DEFAULT_TEMPLATES = Path(__file__).resolve().parent.parent.parent / "templates" / "messages"

# WhatsApp's limit for a text body; longer texts are refused by the API.
MAX_MESSAGE_LENGTH = 4096


class MessageCatalogError(Exception):
    """A message file is malformed, or a key or language is missing."""


@dataclass(frozen=True)
class _Language:
    env: jinja2.Environment
    templates: dict[str, jinja2.Template]


def _meta_list(meta: Mapping[str, object], key: str, where: str) -> list[str]:
    value = meta.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MessageCatalogError(f"{where}: meta.{key} must be a list of strings")
    return list(value)


def _meta_str(meta: Mapping[str, object], key: str, where: str) -> str:
    value = meta.get(key)
    if not isinstance(value, str):
        raise MessageCatalogError(f"{where}: meta.{key} must be a string")
    return value


def _environment(
    meta: Mapping[str, object], where: str, offers: Mapping[str, str]
) -> jinja2.Environment:
    weekdays = _meta_list(meta, "weekdays", where)
    if len(weekdays) != 7:
        raise MessageCatalogError(f"{where}: meta.weekdays needs 7 names, Monday first")
    today = _meta_str(meta, "today", where)
    tomorrow = _meta_str(meta, "tomorrow", where)
    always_open = _meta_str(meta, "always_open", where)

    def day(value: str) -> str:
        if value == "today":
            return today
        if value == "tomorrow":
            return tomorrow
        return weekdays[int(value)]

    def days(span: str) -> str:
        first, _, last = span.partition("-")
        return f"{weekdays[int(first)]}–{weekdays[int(last)]}" if last else weekdays[int(first)]

    def schedule(code: str) -> str:
        if not code:
            return always_open
        lines = []
        for group in code.split(";"):
            span, _, ranges = group.partition(" ")
            lines.append(f"{days(span)} {ranges.replace(',', ', ')}")
        return "\n".join(lines)

    # Plain text for WhatsApp and Signal, never HTML: escaping would turn a
    # partner's "&" into "&amp;" in the texter's chat.
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701
        keep_trailing_newline=False,
    )
    def offer(codes: str) -> str:
        # Each other language in its own words ("English? Send LANGUAGE."), so
        # a texter who cannot read this one still finds theirs.
        return "\n".join(offers[c] for c in codes.split(",") if c in offers)

    env.filters["day"] = day
    env.filters["schedule"] = schedule
    env.filters["offers"] = offer
    return env


class MessageCatalog:
    """All languages' messages, parsed and compiled once at start."""

    def __init__(self, path: Path | str | None = None) -> None:
        root = Path(path) if path is not None else DEFAULT_TEMPLATES
        self._languages: dict[str, _Language] = {}
        docs: dict[str, tuple[str, dict[str, object]]] = {}
        for file in sorted(root.glob("*/messages.toml")):
            where = str(file)
            try:
                docs[file.parent.name] = (where, tomllib.loads(file.read_text(encoding="utf-8")))
            except tomllib.TOMLDecodeError as exc:
                raise MessageCatalogError(f"{where}: {exc}") from None
        # A language without an offer line is simply not offered elsewhere.
        offers = {
            code: offer
            for code, (_where, doc) in docs.items()
            for meta in [doc.get("meta", {})] if isinstance(meta, dict)
            for offer in [meta.get("language_offer")] if isinstance(offer, str)
        }
        for code, (where, doc) in docs.items():
            messages = doc.get("messages")
            if not isinstance(messages, dict):
                raise MessageCatalogError(f"{where}: missing [messages] table")
            meta = doc.get("meta", {})
            env = _environment(meta if isinstance(meta, dict) else {}, where, offers)
            templates: dict[str, jinja2.Template] = {}
            for key, source in messages.items():
                if not isinstance(source, str):
                    raise MessageCatalogError(f"{where}: messages.{key} must be a string")
                try:
                    templates[key] = env.from_string(source)
                except jinja2.TemplateSyntaxError as exc:
                    raise MessageCatalogError(f"{where}: messages.{key}: {exc}") from None
            self._languages[code] = _Language(env, templates)
        if not self._languages:
            raise MessageCatalogError(f"no message files under {root}")

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(self._languages))

    def keys(self, language: str) -> frozenset[str]:
        return frozenset(self._language(language).templates)

    def has(self, key: str, language: str) -> bool:
        return language in self._languages and key in self._languages[language].templates

    def _language(self, language: str) -> _Language:
        try:
            return self._languages[language]
        except KeyError:
            raise MessageCatalogError(f"no messages for language {language!r}") from None

    def render(self, key: str, language: str, params: Mapping[str, str] | None = None) -> str:
        """The text of `key` in `language`. Raises MessageCatalogError for an
        unknown key or language and jinja2.UndefinedError for a missing param."""
        template = self._language(language).templates.get(key)
        if template is None:
            raise MessageCatalogError(f"no message {key!r} in language {language!r}")
        return template.render(dict(params or {})).strip()

    def render_buttons(
        self, buttons: tuple[tuple[str, str], ...], language: str
    ) -> list[tuple[str, str]]:
        """(choice id, title) for a Reply's buttons: the titles are message keys."""
        return [(choice, self.render(title_key, language)) for choice, title_key in buttons]
