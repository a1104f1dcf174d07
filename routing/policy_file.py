"""The policy file (TOML): partners, opening hours, languages, urgent words.

`load_policy` is strict on purpose: a typo in an opening time or a partner id
must stop the start with a message naming where it is, not silently leave the
line closed or refer texters to nobody. See `default_policy.toml` (identical to
deploy/policy.example.toml) for every key.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date, time, timedelta
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from routing.model import WEBCHAT_FAVICONS, Partner, Policy, WebChatLook

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
_TOP_KEYS = {
    "timezone",
    "languages",
    "default_language",
    "retention_days",
    "stats_threshold",
    "max_conversations_per_volunteer",
    "sign_replies_with_alias",
    "shift_hours",
    "alerts_per_week",
    "alert_sends_per_minute",
    "notify_waiting_minutes",
    "notify_repeat_minutes",
    "support",
    "place",
    "read_receipts",
    "consent_timeout_hours",
    "consent_timeout_minutes",
    "hours",
    "menu",
    "emergency",
    "urgent_words",
    "partners",
    "webchat",
}
_MENU_SLOTS = {"social_work", "sexual_health"}


class PolicyFileError(ValueError):
    """The policy file is malformed; the message says where and what."""


def _fail(path: str, problem: str) -> PolicyFileError:
    return PolicyFileError(f"policy file: {path}: {problem}")


def _get(table: dict[str, Any], key: str, kind: type | tuple[type, ...], path: str) -> Any:
    value = table[key]
    # bool is an int in Python; a "retention_days = true" is still a mistake.
    if isinstance(value, bool) and kind is int:
        raise _fail(path, f"expected an integer, got {value!r}")
    if not isinstance(value, kind):
        name = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise _fail(path, f"expected {name}, got {type(value).__name__} {value!r}")
    return value


def _strings(value: Any, path: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(path, "expected a list of strings")
    return tuple(value)


def _by_language(value: Any, path: str, languages: tuple[str, ...]) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _fail(path, "expected a table of language = text")
    for code, text in value.items():
        if code not in languages:
            raise _fail(f"{path}.{code}", f"unknown language (known: {', '.join(languages)})")
        if not isinstance(text, str):
            raise _fail(f"{path}.{code}", "expected a string")
    return dict(value)


def _clock(hour: str, minute: str, path: str) -> time:
    h, m = int(hour), int(minute)
    if (h, m) == (24, 0):
        return time.max
    if h > 23 or m > 59:
        raise _fail(path, f"{hour}:{minute} is not a time of day")
    return time(h, m)


def _ranges(value: Any, path: str) -> tuple[tuple[time, time], ...]:
    result = []
    for i, text in enumerate(_strings(value, path)):
        match = _RANGE.match(text.replace(" ", ""))
        where = f"{path}[{i}]"
        if match is None:
            raise _fail(where, f'expected "HH:MM-HH:MM", got {text!r}')
        start = _clock(match[1], match[2], where)
        end = _clock(match[3], match[4], where)
        if end <= start:
            # Overnight ranges are two days' entries: keeps "which day" unambiguous.
            raise _fail(where, f"{text!r} closes before it opens; split it over two days")
        result.append((start, end))
    return tuple(sorted(result))


def _hours(table: Any) -> tuple[dict[int, tuple[tuple[time, time], ...]], frozenset[date]]:
    if not isinstance(table, dict):
        raise _fail("hours", "expected a table")
    weekly: dict[int, tuple[tuple[time, time], ...]] = {}
    closed: set[date] = set()
    for key, value in table.items():
        if key == "closed":
            if not isinstance(value, list):
                raise _fail("hours.closed", "expected a list of dates")
            for i, day in enumerate(value):
                # A TOML date, not a string: a typo like 2026-13-01 is then a syntax error.
                if not isinstance(day, date) or hasattr(day, "hour"):
                    raise _fail(
                        f"hours.closed[{i}]", f"expected a date like 2026-12-25, got {day!r}"
                    )
                closed.add(day)
        elif key in WEEKDAYS:
            ranges = _ranges(value, f"hours.{key}")
            if ranges:
                weekly[WEEKDAYS.index(key)] = ranges
        else:
            raise _fail(f"hours.{key}", f"unknown key (use {', '.join(WEEKDAYS)} or closed)")
    return weekly, frozenset(closed)


def _partner(value: Any, path: str, languages: tuple[str, ...]) -> Partner:
    if not isinstance(value, dict):
        raise _fail(path, "expected a table")
    for key in value:
        if key not in {"id", "name", "description", "hours"}:
            raise _fail(f"{path}.{key}", "unknown key")
    if "id" not in value or "name" not in value:
        raise _fail(path, "a partner needs id and name")
    partner_id = _get(value, "id", str, f"{path}.id")
    if not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", partner_id) or partner_id == "peer":
        raise _fail(f"{path}.id", f"{partner_id!r}: use lowercase letters, digits, - or _")
    return Partner(
        id=partner_id,
        name=_by_language(value["name"], f"{path}.name", languages),
        description=_by_language(value.get("description", {}), f"{path}.description", languages),
        hours=_by_language(value.get("hours", {}), f"{path}.hours", languages),
    )


def _timeout(doc: dict[str, Any]) -> timedelta:
    if "consent_timeout_hours" in doc and "consent_timeout_minutes" in doc:
        raise _fail("consent_timeout_minutes", "give consent_timeout_hours or _minutes, not both")
    for key, unit in (("consent_timeout_hours", "hours"), ("consent_timeout_minutes", "minutes")):
        if key in doc:
            amount = _get(doc, key, int, key)
            if amount <= 0:
                raise _fail(key, "must be positive")
            return timedelta(**{unit: amount})
    return Policy().consent_timeout


def _positive_int(doc: dict[str, Any], key: str, default: int, minimum: int = 1) -> int:
    if key not in doc:
        return default
    value: int = _get(doc, key, int, key)
    if value < minimum:
        raise _fail(key, f"must be at least {minimum}")
    return value


def _webchat(value: Any) -> WebChatLook:
    if not isinstance(value, dict):
        raise _fail("webchat", "expected a table")
    defaults = WebChatLook()
    for key in value:
        if key not in ("title", "exit_url", "favicon"):
            raise _fail(f"webchat.{key}", "unknown key")
    title = _get(value, "title", str, "webchat.title") if "title" in value else defaults.title
    if not 0 < len(title.strip()) <= 60:
        raise _fail("webchat.title", "give a title of 1 to 60 characters")
    exit_url = (_get(value, "exit_url", str, "webchat.exit_url") if "exit_url" in value
                else defaults.exit_url)
    # Only a plain https address (plain http for this machine only, for tests and
    # the demo): Quick exit must never run script or stay on our origin.
    if not re.fullmatch(r"(?:https://[A-Za-z0-9.-]+|http://(?:127\.0\.0\.1|localhost))"
                        r"(?::\d+)?(?:/[^\s\"'<>]*)?", exit_url):
        raise _fail("webchat.exit_url", "expected an https:// address of a neutral site")
    favicon = (_get(value, "favicon", str, "webchat.favicon") if "favicon" in value
               else defaults.favicon)
    if favicon not in WEBCHAT_FAVICONS:
        raise _fail("webchat.favicon", f"use one of {', '.join(WEBCHAT_FAVICONS)}")
    return WebChatLook(title=title.strip(), exit_url=exit_url, favicon=favicon)


def load_policy(text: str) -> Policy:
    """Parse and check a policy file. Raises PolicyFileError naming the line
    (syntax errors) or the key path (everything else) and the problem."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message ends in "(at line L, column C)", or in "(at end of
        # document)" for an unclosed bracket: then say which line that is.
        message = str(exc)
        if message.endswith("(at end of document)"):
            lines = text.count("\n") + 1
            message = message.removesuffix(")") + f", line {lines})"
        raise PolicyFileError(f"policy file: {message}") from None
    for key in doc:
        if key not in _TOP_KEYS:
            raise _fail(key, "unknown key")
    defaults = Policy()

    languages = _strings(doc.get("languages", list(defaults.languages)), "languages")
    if not languages:
        raise _fail("languages", "list at least one language")
    default_language = (
        _get(doc, "default_language", str, "default_language")
        if ("default_language" in doc)
        else languages[0]
    )
    if default_language not in languages:
        raise _fail("default_language", f"{default_language!r} is not in languages")

    timezone = _get(doc, "timezone", str, "timezone") if "timezone" in doc else defaults.timezone
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise _fail("timezone", f"unknown time zone {timezone!r}") from None

    weekly, closed = _hours(doc.get("hours", {}))

    partners_raw = doc.get("partners", [])
    if not isinstance(partners_raw, list):
        raise _fail("partners", "expected [[partners]] tables")
    partners = tuple(_partner(p, f"partners[{i}]", languages) for i, p in enumerate(partners_raw))
    ids = [p.id for p in partners]
    for i, partner_id in enumerate(ids):
        if partner_id in ids[:i]:
            raise _fail(f"partners[{i}].id", f"duplicate partner id {partner_id!r}")

    menu_raw = doc.get("menu", {})
    if not isinstance(menu_raw, dict):
        raise _fail("menu", "expected a table")
    menu: dict[str, str] = {}
    for slot, partner_id in menu_raw.items():
        if slot not in _MENU_SLOTS:
            raise _fail(f"menu.{slot}", f"unknown menu slot (use {', '.join(sorted(_MENU_SLOTS))})")
        if partner_id not in ids:
            raise _fail(f"menu.{slot}", f"no partner with id {partner_id!r}")
        menu[slot] = partner_id

    urgent_raw = doc.get("urgent_words", {})
    if not isinstance(urgent_raw, dict):
        raise _fail("urgent_words", "expected a table of language = [words]")
    urgent: dict[str, tuple[str, ...]] = {}
    for code, words in urgent_raw.items():
        if code not in languages:
            raise _fail(f"urgent_words.{code}", "unknown language")
        urgent[code] = _strings(words, f"urgent_words.{code}")

    sign = doc.get("sign_replies_with_alias", False)
    if not isinstance(sign, bool):
        raise _fail("sign_replies_with_alias", "expected true or false")
    read_receipts = doc.get("read_receipts", False)
    if not isinstance(read_receipts, bool):
        raise _fail("read_receipts", "expected true or false")

    return Policy(
        languages=languages,
        default_language=default_language,
        timezone=timezone,
        weekly_hours=weekly,
        closed_dates=closed,
        partners=partners,
        urgent_words=urgent,
        emergency=_by_language(doc.get("emergency", {}), "emergency", languages),
        consent_timeout=_timeout(doc),
        retention_days=_positive_int(doc, "retention_days", defaults.retention_days, 0),
        stats_threshold=_positive_int(doc, "stats_threshold", defaults.stats_threshold),
        max_conversations_per_volunteer=_positive_int(
            doc, "max_conversations_per_volunteer", defaults.max_conversations_per_volunteer
        ),
        sign_replies_with_alias=sign,
        shift_length=timedelta(
            hours=_positive_int(doc, "shift_hours", defaults.shift_length // timedelta(hours=1))
        ),
        support=_by_language(doc.get("support", {}), "support", languages),
        place=_by_language(doc.get("place", {}), "place", languages),
        alerts_per_week=_positive_int(doc, "alerts_per_week", defaults.alerts_per_week),
        alert_sends_per_minute=_positive_int(
            doc, "alert_sends_per_minute", defaults.alert_sends_per_minute
        ),
        notify_waiting_minutes=_positive_int(
            doc, "notify_waiting_minutes", defaults.notify_waiting_minutes
        ),
        notify_repeat_minutes=_positive_int(
            doc, "notify_repeat_minutes", defaults.notify_repeat_minutes
        ),
        read_receipts=read_receipts,
        menu=menu,
        webchat=_webchat(doc.get("webchat", {})),
    )


def default_policy_text() -> str:
    """The built-in policy file, shipped inside the package."""
    return resources.files("routing").joinpath("default_policy.toml").read_text(encoding="utf-8")


@cache
def default_policy() -> Policy:
    """The built-in default: Tilburg, identical to deploy/policy.example.toml."""
    return load_policy(default_policy_text())
