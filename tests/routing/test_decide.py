"""Table-driven tests of `decide`: commands, menu, languages, consent, hours, urgency."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from routing import decide
from routing.commands import ANSWER_WORDS, COMMAND_WORDS, LANGUAGE_NAMES
from routing.model import (
    AskConsent,
    ClearPending,
    DeclineConsent,
    Enqueue,
    Erase,
    LapseConsent,
    MarkUrgent,
    NoteAfterHours,
    Pending,
    Refer,
    ReferralProposed,
    Reply,
    Resume,
    SetLanguage,
    SetPending,
    State,
    Stop,
    TexterMessage,
    Tick,
    Withdraw,
)

from .helpers import CLOSED, KNOWN, OPEN, POLICY, keys, reply, run

ALL_COMMANDS = [
    (command, lang, word)
    for command, by_lang in COMMAND_WORDS.items()
    for lang, words in by_lang.items()
    for word in words
]
YES_WORDS = [w for ws in ANSWER_WORDS["yes"].values() for w in ws]
NO_WORDS = [w for ws in ANSWER_WORDS["no"].values() for w in ws]
NEW = State()
CONSENT_GGD = replace(KNOWN, pending=Pending("consent", OPEN - timedelta(minutes=5), "ggd"))
ERASE_PENDING = replace(KNOWN, pending=Pending("erase", OPEN - timedelta(minutes=1)))
LANG_PENDING = replace(KNOWN, pending=Pending("language", OPEN - timedelta(minutes=1)))
REFERRED = replace(KNOWN, active_referrals=frozenset({"ggd"}), queue="ggd")


def variants(word: str) -> list[str]:
    """The same command as texters type it: shouting, accents dropped, "!"."""
    return [word, word.upper(), f"  {word.title()}! ", f"{word}."]


# ---------------------------------------------------------------- commands

EXPECTED = {
    "stop": ["stopped"],
    "erase": ["erase_confirm"],
    "privacy": ["privacy"],
    "menu": ["menu"],
    "language": ["language_question"],
    "help": ["help"],
    "hours": ["hours"],
    "withdraw": ["nothing_to_withdraw"],
    # An OfferSwitch carries its replies (the service adds the code): tests/routing/test_switch.py
    "signal": [],
    "alerts": ["alerts_on"],
}


@pytest.mark.parametrize(("command", "lang", "word"), ALL_COMMANDS)
def test_every_command_in_every_language(command: str, lang: str, word: str) -> None:
    for text in variants(word):
        actions = run(text)
        assert keys(actions) == EXPECTED[command], (text, actions)
        # Commands are answered by the bot, never put in the peer queue.
        assert not any(isinstance(a, Enqueue) for a in actions)


@pytest.mark.parametrize(
    "text", ["Vergeet mij", "VERGEET MIJ!", "forget me", "Usuń", "ȘTERGE", "uită-mă", "ИЗТРИЙ"]
)
def test_erase_words_ignore_case_and_accents(text: str) -> None:
    assert run(text) == [SetPending("erase"), reply(run(text), "erase_confirm")]


def test_a_command_inside_a_longer_message_is_free_text() -> None:
    for text in ("please stop", "hij zei\nSTOP\nmaar ging door", "wis dit niet"):
        actions = run(text)
        assert Enqueue("peer", "normal") in actions
        assert not any(isinstance(a, Stop | SetPending) for a in actions)


def test_stop_then_any_message_resumes() -> None:
    actions = run("STOP")
    assert actions == [Reply("stopped", language="nl"), Stop()]
    stopped = replace(KNOWN, stopped=True)
    again = run("hallo?", stopped)
    assert again[0] == Resume()
    assert Enqueue("peer", "normal") in again
    assert run("stop", stopped) == [Reply("stopped", language="nl"), Stop()]


def test_erase_needs_an_explicit_yes() -> None:
    for word in YES_WORDS:
        assert run(word, ERASE_PENDING) == [Reply("erased", language="nl"), Erase()]
    assert run("1", ERASE_PENDING) == [Reply("erased", language="nl"), Erase()]
    assert run("x", ERASE_PENDING, choice="yes") == [Reply("erased", language="nl"), Erase()]
    for word in NO_WORDS:
        assert run(word, ERASE_PENDING) == [ClearPending(), Reply("erase_cancelled", language="nl")]


def test_anything_else_cancels_an_erase_question() -> None:
    actions = run("eigenlijk heb ik een vraag", ERASE_PENDING)
    assert actions[:2] == [ClearPending(), Reply("erase_cancelled", language="nl")]
    assert Enqueue("peer", "normal") in actions
    assert not any(isinstance(a, Erase) for a in actions)


def test_a_late_yes_never_erases() -> None:
    late = replace(KNOWN, pending=Pending("erase", OPEN - POLICY.consent_timeout))
    assert not any(isinstance(a, Erase) for a in run("ja", late))


def test_privacy_names_retention_days() -> None:
    assert reply(run("PRIVACY"), "privacy").params == (("retention_days", "30"),)


def test_hours_lists_peer_and_partner_hours() -> None:
    params = dict(reply(run("uren"), "hours").params)
    assert params["opening_hours"].startswith("0-1 10:00-16:00")
    assert "GGD: inloopspreekuur" in params["partner_hours"]


@pytest.mark.parametrize("text", ["GGD uren", "ggd hours", "uren GGD", "PMW godziny"])
def test_partner_hours_on_request(text: str) -> None:
    partner = text.split()[0] if text.split()[0] != "uren" else "GGD"
    params = dict(reply(run(text), "partner_hours").params)
    assert params["partner"] == partner.upper()
    assert "13:00-14:00" in params["hours"] or "9:00-17:00" in params["hours"]


# ---------------------------------------------------------------- welcome, languages


def test_first_contact_gets_the_welcome_and_reaches_peers() -> None:
    actions = run("hoi, ik heb een vraag", NEW)
    assert keys(actions) == ["welcome"]
    welcome = reply(actions, "welcome")
    assert welcome.language == "nl"
    assert dict(welcome.params) == {
        "retention_days": "30",
        "opening_hours": "0-1 10:00-16:00;2 10:00-16:00,19:00-22:00;3-4 10:00-16:00",
        "social_work": "PMW",
        "sexual_health": "GGD",
        "other_languages": "en,es,ro,bg,pl",
        "place": "in Tilburg",
    }
    assert Enqueue("peer", "normal") in actions


def test_known_texter_after_a_closed_conversation_gets_welcome_back() -> None:
    actions = run("hoi weer", replace(KNOWN, conversation="closed", queue="ggd"))
    assert keys(actions) == ["welcome_back"]
    assert Enqueue("peer", "normal") in actions  # a new conversation starts with the peers


def test_open_conversation_just_enqueues() -> None:
    assert run("nog een vraag") == [Enqueue("peer", "normal")]


def test_media_without_caption_reaches_peers() -> None:
    actions = decide(KNOWN, TexterMessage(None, kind="image"), now=OPEN, policy=POLICY)
    assert actions == [Enqueue("peer", "normal")]


@pytest.mark.parametrize("word", ["MENU", "help", "hulp"])
def test_first_message_menu_or_help_is_the_welcome(word: str) -> None:
    assert keys(run(word, NEW)) == ["welcome"]


def test_first_message_language_gets_welcome_then_question() -> None:
    assert keys(run("LANGUAGE", NEW)) == ["welcome", "language_question"]


def test_language_question_offers_every_language_as_buttons() -> None:
    question = reply(run("taal"), "language_question")
    assert [b[0] for b in question.buttons] == [f"lang:{c}" for c in POLICY.languages]


LANGUAGE_ANSWERS = [
    *((str(i), code) for i, code in enumerate(POLICY.languages, start=1)),
    *((code, code) for code in POLICY.languages),
    *((name, code) for code, name in LANGUAGE_NAMES.items()),
    ("ROMANA", "ro"),
    ("espanol", "es"),
    ("english", "en"),
    ("Engels", "en"),
    ("polish", "pl"),
]


@pytest.mark.parametrize(("answer", "code"), LANGUAGE_ANSWERS)
def test_language_answer_by_number_code_or_name(answer: str, code: str) -> None:
    assert run(answer, LANG_PENDING) == [
        SetLanguage(code),
        ClearPending(),
        Reply("language_set", language=code),
    ]


def test_language_in_one_go_and_by_button() -> None:
    assert run("LANGUAGE english")[0] == SetLanguage("en")
    assert run("taal 5")[0] == SetLanguage("bg")
    assert run("🇬🇧", choice="lang:en")[0] == SetLanguage("en")


def test_replies_use_the_texter_language() -> None:
    state = replace(KNOWN, language="pl")
    assert reply(run("PRIVACY", state), "privacy").language == "pl"
    # An unknown stored language falls back to the default.
    assert reply(run("PRIVACY", replace(KNOWN, language="xx")), "privacy").language == "nl"


def test_language_is_never_guessed() -> None:
    # Nothing but an explicit choice sets the language.
    for text in ("Hello, I need help", "Hola", "Dzień dobry", "Здравейте"):
        assert not any(isinstance(a, SetLanguage) for a in run(text, NEW))


def test_a_non_answer_clears_the_language_question() -> None:
    actions = run("ik wil praten", LANG_PENDING)
    assert actions[0] == ClearPending()
    assert Enqueue("peer", "normal") in actions


# ---------------------------------------------------------------- menu


@pytest.mark.parametrize(
    ("typed", "choice"),
    [
        ("1", "menu:peer"),
        ("2", "menu:social_work"),
        ("3", "menu:sexual_health"),
        ("4", "menu:emergency"),
    ],
)
def test_menu_by_number_word_and_button_agree(typed: str, choice: str) -> None:
    assert run(typed) == run("whatever the title was", choice=choice)


def test_menu_peer() -> None:
    assert run("1") == [Enqueue("peer", "normal"), Reply("peer_queued", language="nl")]
    assert run("collega") == run("1")


def test_menu_peer_after_hours_gives_the_notice_instead() -> None:
    assert keys(run("1", now=CLOSED)) == ["after_hours"]


@pytest.mark.parametrize(
    ("text", "partner"),
    [
        ("2", "pmw"),
        ("PMW", "pmw"),
        ("maatschappelijk werk", "pmw"),
        ("3", "ggd"),
        ("GGD", "ggd"),
        ("soa test", "ggd"),
        ("sexual health", "ggd"),
    ],
)
def test_menu_partner_asks_consent(text: str, partner: str) -> None:
    actions = run(text)
    assert actions[:2] == [SetPending("consent", partner), AskConsent(partner)]
    question = reply(actions, "consent_question")
    params = dict(question.params)
    assert params["partner"] == partner.upper()
    assert params["description"]
    assert params["hours"]
    assert question.buttons == (("yes", "button_yes"), ("no", "button_no"))
    assert not any(isinstance(a, Refer | Enqueue) for a in actions)


def test_menu_emergency() -> None:
    actions = run("4")
    assert Enqueue("peer", "normal") in actions
    assert "112" in dict(reply(actions, "emergency").params)["emergency"]


def test_menu_command_has_buttons_and_names() -> None:
    menu = reply(run("menu"), "menu")
    assert [b[0] for b in menu.buttons] == [
        "menu:peer",
        "menu:social_work",
        "menu:sexual_health",
        "menu:emergency",
    ]
    assert dict(menu.params) == {"social_work": "PMW", "sexual_health": "GGD"}


# ---------------------------------------------------------------- consent


@pytest.mark.parametrize("word", [*YES_WORDS, "JA!", "Sí", "1"])
def test_yes_refers(word: str) -> None:
    assert run(word, CONSENT_GGD) == [
        Enqueue("ggd", "normal"),
        Refer("ggd"),
        ClearPending(),
        Reply("referred", (("partner", "GGD"),), language="nl"),
    ]


def test_yes_button_refers() -> None:
    assert Refer("ggd") in run("Ja", CONSENT_GGD, choice="yes")


@pytest.mark.parametrize("word", [*NO_WORDS, "NEE", "2"])
def test_no_declines_and_stays_with_peers(word: str) -> None:
    actions = run(word, CONSENT_GGD)
    assert actions == [
        DeclineConsent("ggd"),
        ClearPending(),
        Reply("consent_declined", (("partner", "GGD"),), language="nl"),
    ]


def test_other_text_keeps_the_question_open() -> None:
    actions = run("wat kost dat?", CONSENT_GGD)
    assert actions == [Enqueue("peer", "normal")]


def test_tick_lapses_an_old_question() -> None:
    assert run(Tick(), CONSENT_GGD) == []
    late = OPEN + POLICY.consent_timeout
    assert run(Tick(), CONSENT_GGD, now=late) == [LapseConsent("ggd"), ClearPending()]
    assert run(Tick(), ERASE_PENDING, now=late) == [ClearPending()]
    assert run(Tick(), KNOWN, now=late) == []


def test_a_yes_after_the_time_limit_lapses_and_does_not_refer() -> None:
    late = OPEN + POLICY.consent_timeout
    actions = run("ja", CONSENT_GGD, now=late)
    assert actions[:2] == [LapseConsent("ggd"), ClearPending()]
    assert not any(isinstance(a, Refer) for a in actions)
    assert "consent_expired" in keys(actions)
    assert Enqueue("peer", "normal") in actions


def test_volunteer_proposal_asks_consent() -> None:
    actions = run(ReferralProposed("pmw"))
    assert actions[:2] == [SetPending("consent", "pmw"), AskConsent("pmw")]
    assert keys(actions) == ["consent_question"]


def test_a_new_question_lapses_the_open_one() -> None:
    actions = run(ReferralProposed("pmw"), CONSENT_GGD)
    assert actions[0] == LapseConsent("ggd")
    assert AskConsent("pmw") in actions


@pytest.mark.parametrize(
    "state",
    [
        replace(KNOWN, stopped=True),
        replace(KNOWN, active_referrals=frozenset({"pmw"})),
    ],
)
def test_proposal_that_cannot_be_asked_does_nothing(state: State) -> None:
    assert run(ReferralProposed("pmw"), state) == []
    assert run(ReferralProposed("unknown"), KNOWN) == []


def test_choosing_an_already_referred_partner() -> None:
    assert keys(run("3", REFERRED)) == ["already_referred"]


@pytest.mark.parametrize("word", [w for ws in COMMAND_WORDS["withdraw"].values() for w in ws])
def test_withdraw_ends_every_referral(word: str) -> None:
    state = replace(REFERRED, active_referrals=frozenset({"ggd", "pmw"}))
    actions = run(word, state)
    assert actions == [
        Withdraw("ggd"),
        Withdraw("pmw"),
        Enqueue("peer", "normal"),
        Reply("withdrawn", (("partners", "GGD, PMW"),), language="nl"),
    ]


def test_withdraw_while_asked_is_a_no() -> None:
    actions = run("INTREKKEN", CONSENT_GGD)
    assert actions[:2] == [DeclineConsent("ggd"), ClearPending()]
    assert dict(reply(actions, "withdrawn").params) == {"partners": "GGD"}


def test_free_text_in_a_referred_conversation_stays_with_the_partner() -> None:
    assert run("dank je", REFERRED) == [Enqueue("ggd", "normal")]


def test_yes_without_a_question_is_just_text() -> None:
    actions = run("ja")
    assert actions == [Enqueue("peer", "normal")]


# ---------------------------------------------------------------- hours


def test_after_hours_notice_once_per_closed_period() -> None:
    actions = run("hallo", now=CLOSED)
    notice = reply(actions, "after_hours")
    params = dict(notice.params)
    assert params["next_open_day"] == "0"
    assert params["next_open_time"] == "10:00"
    assert "112" in params["emergency"]
    assert Enqueue("peer", "normal") in actions
    note = next(a for a in actions if isinstance(a, NoteAfterHours))
    again = run("hallo?", replace(KNOWN, after_hours_notice_until=note.until), now=CLOSED)
    assert again == [Enqueue("peer", "normal")]
    # After the line opened and closed again the notice comes back.
    next_week = CLOSED + timedelta(days=7)
    later = run("hallo", replace(KNOWN, after_hours_notice_until=note.until), now=next_week)
    assert "after_hours" in keys(later)


def test_after_hours_for_a_new_texter_follows_the_welcome() -> None:
    assert keys(run("hoi", NEW, now=CLOSED)) == ["welcome", "after_hours"]


def test_commands_get_no_after_hours_notice() -> None:
    assert keys(run("PRIVACY", now=CLOSED)) == ["privacy"]


# ---------------------------------------------------------------- urgency

URGENT_TEXTS = [
    "Hij heeft me verkracht",
    "ik word BEDREIGD door een klant",
    "Geweld!",
    "bel 112 voor mij",
    "he threatened me",
    "I was raped",
    "I want to kill myself",
    "me violaron ayer",
    "tengo pensamientos suicidas",
    "m-a amenințat",
    "Ме заплашва",
    "Ме изнасилиха",
    "grożą mi",
    "zostałam pobita",
    "samobójstwo",
]


@pytest.mark.parametrize("text", URGENT_TEXTS)
def test_urgent_words_in_any_language(text: str) -> None:
    actions = run(text)
    assert keys(actions) == ["urgent"]
    assert actions[1:] == [Enqueue("peer", "urgent"), MarkUrgent()]
    assert "112" in dict(reply(actions, "urgent").params)["emergency"]


@pytest.mark.parametrize(
    "text", ["Wat kost een soa-test?", "the 1120 bus", "het gewicht van de tas"]
)
def test_ordinary_text_is_not_urgent(text: str) -> None:
    actions = run(text)
    assert not any(isinstance(a, MarkUrgent) for a in actions)


def test_urgent_outside_hours_still_gets_emergency_reply_once() -> None:
    actions = run("ik word bedreigd", now=CLOSED)
    assert keys(actions) == ["urgent_after_hours"]
    assert Enqueue("peer", "urgent") in actions
    assert MarkUrgent() in actions
    assert sum(isinstance(a, NoteAfterHours) for a in actions) == 1


def test_urgent_new_texter_gets_emergency_info_first() -> None:
    assert keys(run("he threatened me", NEW)) == ["urgent", "welcome"]


def test_already_urgent_conversation_stays_urgent_without_repeating() -> None:
    state = replace(KNOWN, urgent=True)
    assert run("he threatened me again", state) == [Enqueue("peer", "urgent")]
    assert run("ok", state) == [Enqueue("peer", "urgent")]


# ---------------------------------------------------------------- robustness


def test_decide_guard_still_reaches_peers() -> None:
    broken = replace(POLICY, languages=())  # default language outside languages: odd but possible
    actions = decide(KNOWN, TexterMessage("hallo"), now=OPEN, policy=broken)
    assert Enqueue("peer", "normal") in actions
