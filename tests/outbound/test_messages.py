"""Every message key exists in every language and renders with the params the
policy passes: no missing key, no undefined variable, nothing over 4096 chars."""

from __future__ import annotations

import itertools
import tomllib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jinja2
import pytest

from helpline.outbound.messages import (
    DEFAULT_TEMPLATES,
    MAX_MESSAGE_LENGTH,
    MessageCatalog,
    MessageCatalogError,
)
from routing.commands import LANGUAGE_NAMES
from routing.model import (
    AcceptSwitch,
    Action,
    OfferSwitch,
    Pending,
    ReferralProposed,
    Reply,
    State,
    TexterMessage,
    Tick,
)
from routing.policy import decide_unguarded
from routing.policy_file import default_policy

POLICY = default_policy()
CATALOG = MessageCatalog()
LANGUAGES = POLICY.languages

# What decide passes with each key; checked against real decide output below.
PARAMS: dict[str, set[str]] = {
    "welcome": {"retention_days", "opening_hours", "social_work", "sexual_health",
                "other_languages", "place"},
    "welcome_back": set(),
    "menu": {"social_work", "sexual_health"},
    "peer_queued": set(),
    "after_hours": {"next_open_day", "next_open_date", "next_open_time", "emergency"},
    "after_hours_unknown": {"emergency"},
    "urgent": {"emergency"},
    "urgent_after_hours": {"next_open_day", "next_open_date", "next_open_time", "emergency"},
    "emergency": {"emergency"},
    "consent_question": {"partner", "description", "hours"},
    "referred": {"partner"},
    "consent_declined": {"partner"},
    "consent_expired": {"partner"},
    "already_referred": {"partner"},
    "withdrawn": {"partners"},
    "nothing_to_withdraw": set(),
    "stopped": set(),
    "erase_confirm": set(),
    "erased": set(),
    "erase_cancelled": set(),
    "privacy": {"retention_days"},
    "language_question": set(),
    "language_set": set(),
    "help": set(),
    "hours": {"opening_hours", "partner_hours"},
    "partner_hours": {"partner", "hours"},
    # Move to Signal: the offer's params come from the service (channel_switch.offer).
    "switch_offer": {"number", "link", "code", "hours"},
    "switch_unavailable": set(),
    "switch_already": set(),
    "switch_moved": set(),
    "switch_refused": set(),
    "switch_refused_known": set(),
    "alerts_on": {"per_week"},
    "alerts_off": set(),
    # Rendered by the service for each subscriber (alert_broadcast).
    "safety_alert": {"text"},
}
SERVICE_PARAMS = {"switch_offer": (("number", "+31600000099"),
                                   ("link", "https://signal.me/#p/+31600000099"),
                                   ("code", "K7P4-9XQ2"), ("hours", "24"))}
BUTTON_KEYS = {
    "button_peer",
    "button_social_work",
    "button_sexual_health",
    "button_emergency",
    "button_yes",
    "button_no",
    *(f"lang_{code}" for code in LANGUAGE_NAMES),
}


def _replies() -> list[Reply]:
    """Replies from a sweep of states, events and moments through decide."""
    ams_open = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
    moments = [
        ams_open,
        datetime(2026, 3, 7, 11, 0, tzinfo=UTC),  # Saturday
        datetime(2026, 3, 3, 7, 0, tzinfo=UTC),  # before opening: "today"
        datetime(2026, 3, 3, 20, 0, tzinfo=UTC),  # evening: "tomorrow"
    ]
    asked = ams_open - timedelta(minutes=1)
    states = [
        State(),
        State(is_new_texter=False, conversation="open"),
        State(is_new_texter=False, conversation="closed"),
        State(is_new_texter=False, conversation="open", pending=Pending("consent", asked, "ggd")),
        State(is_new_texter=False, conversation="open", pending=Pending("erase", asked)),
        State(is_new_texter=False, conversation="open", pending=Pending("language", asked)),
        State(is_new_texter=False, conversation="open", active_referrals=frozenset({"pmw"})),
        State(channel="signal"),
        State(is_new_texter=False, conversation="open", channel="signal"),
        State(is_new_texter=False, conversation="open", channel="webchat"),
        State(is_new_texter=False, conversation="open", alerts=True),
    ]
    texts = [
        "hoi",
        "1",
        "2",
        "3",
        "4",
        "ja",
        "nee",
        "WIS",
        "STOP",
        "PRIVACY",
        "MENU",
        "TAAL",
        "HULP",
        "UREN",
        "GGD uren",
        "INTREKKEN",
        "ik word bedreigd",
        "pl",
        "SIGNAL",
        "SIGNAL K7P4-9XQ2",
        "MELDINGEN",
    ]
    events = [*(TexterMessage(t) for t in texts), ReferralProposed("pmw"), Tick()]
    replies: list[Reply] = []
    for state, event, now in itertools.product(states, events, moments):
        for late in (timedelta(0), POLICY.consent_timeout):
            actions = decide_unguarded(state, event, now=now + late, policy=POLICY)
            replies += _with_nested(actions)
    # Closed for a long time: no opening to promise.
    closed = replace(
        POLICY,
        closed_dates=frozenset((ams_open + timedelta(days=i)).date() for i in range(-3, 500)),
    )
    for text in ("hoi", "ik word bedreigd"):
        actions = decide_unguarded(State(), TexterMessage(text), now=moments[1], policy=closed)
        replies += [a for a in actions if isinstance(a, Reply)]
    return replies


def _with_nested(actions: list[Action]) -> list[Reply]:
    """The replies, and those an action carries for the service to choose
    from (with the params the service adds)."""
    out: list[Reply] = []
    for a in actions:
        nested = ([a.offer, a.unavailable] if isinstance(a, OfferSwitch)
                  else [a.moved, a.refused] if isinstance(a, AcceptSwitch) else [a])
        for r in nested:
            if isinstance(r, Reply):
                out.append(replace(r, params=r.params + SERVICE_PARAMS.get(r.key, ())))
    return out


REPLIES = [*_replies(), Reply("safety_alert", (("text", "AB-**-** bij de Ringbaan"),))]


def test_decide_uses_exactly_the_declared_keys_and_params() -> None:
    seen: dict[str, set[str]] = {}
    for r in REPLIES:
        params = {name for name, _ in r.params}
        assert params == PARAMS[r.key], r.key
        seen[r.key] = params
        for _choice, title_key in r.buttons:
            assert title_key in BUTTON_KEYS
    assert set(seen) == set(PARAMS)


def test_every_language_has_a_file() -> None:
    assert set(CATALOG.languages) == set(LANGUAGES)


@pytest.mark.parametrize("language", LANGUAGES)
def test_identical_key_sets(language: str) -> None:
    assert CATALOG.keys(language) == set(PARAMS) | BUTTON_KEYS


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_reply_renders_in_every_language(language: str) -> None:
    for r in REPLIES:
        text = CATALOG.render(r.key, language, dict(r.params))
        assert text.strip(), r.key
        assert len(text) <= MAX_MESSAGE_LENGTH, r.key
        assert "{{" not in text
        assert "{%" not in text


@pytest.mark.parametrize(("language", "key"), list(itertools.product(LANGUAGES, sorted(PARAMS))))
def test_each_key_needs_its_params(language: str, key: str) -> None:
    sample = next(r for r in REPLIES if r.key == key)
    CATALOG.render(key, language, dict(sample.params))
    for missing in PARAMS[key]:
        params = {k: v for k, v in sample.params if k != missing}
        with pytest.raises(jinja2.UndefinedError):
            CATALOG.render(key, language, params)


@pytest.mark.parametrize("language", LANGUAGES)
def test_button_titles_fit_whatsapp(language: str) -> None:
    for key in BUTTON_KEYS:
        title = CATALOG.render(key, language, {})
        assert 0 < len(title) <= 20, (key, title)


@pytest.mark.parametrize("code", sorted(LANGUAGE_NAMES))
def test_language_buttons_are_endonyms_everywhere(code: str) -> None:
    for language in LANGUAGES:
        assert CATALOG.render(f"lang_{code}", language, {}) == LANGUAGE_NAMES[code]


@pytest.mark.parametrize("language", [code for code in LANGUAGES if code != "en"])
def test_translations_say_they_need_review(language: str) -> None:
    header = (DEFAULT_TEMPLATES / language / "messages.toml").read_text(encoding="utf-8")[:400]
    assert "Machine translation, needs review by a native speaker" in header


def test_filters_render_days_and_schedules() -> None:
    text = CATALOG.render(
        "after_hours",
        "nl",
        {
            "next_open_day": "0",
            "next_open_date": "09-03",
            "next_open_time": "10:00",
            "emergency": "112",
        },
    )
    assert "maandag (09-03) om 10:00" in text
    hours = CATALOG.render(
        "hours", "en", {"opening_hours": "0-4 10:00-16:00;5 12:00-13:00", "partner_hours": "-"}
    )
    assert "Monday–Friday 10:00-16:00\nSaturday 12:00-13:00" in hours
    assert "day and night" in CATALOG.render(
        "hours", "en", {"opening_hours": "", "partner_hours": "-"}
    )


def test_plain_text_is_not_escaped() -> None:
    text = CATALOG.render("referred", "en", {"partner": "Soa & Sense <GGD>"})
    assert "Soa & Sense <GGD>" in text


def test_unknown_key_or_language_is_an_error() -> None:
    with pytest.raises(MessageCatalogError):
        CATALOG.render("nope", "nl", {})
    with pytest.raises(MessageCatalogError):
        CATALOG.render("welcome", "fr", {})


def test_render_buttons() -> None:
    assert CATALOG.render_buttons((("yes", "button_yes"), ("no", "button_no")), "nl") == [
        ("yes", "Ja"),
        ("no", "Nee"),
    ]


def test_malformed_files_are_reported(tmp_path: Path) -> None:
    (tmp_path / "nl").mkdir()
    target = tmp_path / "nl" / "messages.toml"
    target.write_text('[messages]\nx = "{{ oops"\n' + _META, encoding="utf-8")
    with pytest.raises(MessageCatalogError, match="messages.x"):
        MessageCatalog(tmp_path)
    target.write_text("[messages\n", encoding="utf-8")
    with pytest.raises(MessageCatalogError, match="line 1"):
        MessageCatalog(tmp_path)
    with pytest.raises(MessageCatalogError, match="no message files"):
        MessageCatalog(tmp_path / "empty")


_META = """
[meta]
weekdays = ["a", "b", "c", "d", "e", "f", "g"]
today = "t"
tomorrow = "m"
always_open = "x"
"""


def test_files_are_valid_toml_with_meta() -> None:
    for language in LANGUAGES:
        doc = tomllib.loads((DEFAULT_TEMPLATES / language / "messages.toml").read_text("utf-8"))
        assert len(doc["meta"]["weekdays"]) == 7


def _welcome(language: str) -> str:
    actions = decide_unguarded(
        State(language=language), TexterMessage(text="hoi"), now=datetime(2026, 11, 25, 11, 0,
                                                                            tzinfo=UTC),
        policy=POLICY,
    )
    welcome = next(a for a in actions if isinstance(a, Reply) and a.key == "welcome")
    return CATALOG.render("welcome", language, dict(welcome.params))


def test_the_dutch_welcome_offers_each_other_language_in_its_own_words() -> None:
    text = _welcome("nl")
    assert "Other language?" not in text
    tail = text.splitlines()[-5:]
    assert tail == ["English? Send LANGUAGE.", "¿En español? Envía IDIOMA.",
                    "În română? Trimite LIMBA.", "На български? Изпрати ЕЗИК.",
                    "Po polsku? Wyślij JĘZYK."]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_welcome_offers_the_others_and_not_itself(language: str) -> None:
    from routing.commands import command, line_of

    text = _welcome(language)
    offered = text.splitlines()[-(len(LANGUAGES) - 1):]
    assert len(offered) == len(LANGUAGES) - 1
    for line in offered:
        # The word to send is a real command, whatever the texter's language.
        word = line.rsplit(" ", 1)[-1].rstrip(".")
        assert command(line_of(word) or "") == "language", line
    meta = tomllib.loads((DEFAULT_TEMPLATES / language / "messages.toml").read_text("utf-8"))
    assert meta["meta"]["language_offer"] not in offered


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_welcome_names_the_policys_place_in_its_own_words(language: str) -> None:
    text = _welcome(language)
    assert POLICY.place[language] in text  # "in Tilburg", "w Tilburgu", ...
    # A helpline whose policy names no place for the language leaves it out
    # cleanly: no other language's words and no stray space.
    bare = decide_unguarded(
        State(language=language), TexterMessage(text="hoi"),
        now=datetime(2026, 11, 25, 11, 0, tzinfo=UTC), policy=replace(POLICY, place={}),
    )
    welcome = next(a for a in bare if isinstance(a, Reply) and a.key == "welcome")
    first = CATALOG.render("welcome", language, dict(welcome.params)).splitlines()[0]
    assert "Tilburg" not in first
    assert "Тилбург" not in first
    assert " ." not in first
