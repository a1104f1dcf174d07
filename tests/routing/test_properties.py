"""Properties of `decide` over random states and events (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from routing.commands import ANSWER_WORDS, COMMAND_WORDS
from routing.model import (
    Action,
    AskConsent,
    DeclineConsent,
    Erase,
    LapseConsent,
    Pending,
    Refer,
    ReferralProposed,
    Reply,
    State,
    TexterMessage,
    Tick,
)
from routing.policy import decide_unguarded

from .helpers import POLICY

PARTNERS = ["pmw", "ggd", "other"]
WORDS = [
    w
    for table in (COMMAND_WORDS, ANSWER_WORDS)
    for t in table.values()
    for ws in t.values()
    for w in ws
]
START = datetime(2026, 1, 1, tzinfo=UTC)

moments = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 1, 1), timezones=st.just(UTC)
)
pendings = st.one_of(
    st.none(),
    st.builds(
        Pending,
        kind=st.sampled_from(["consent", "erase", "language"]),
        asked_at=moments,
        partner=st.one_of(st.none(), st.sampled_from(PARTNERS)),
    ),
)
states = st.builds(
    State,
    is_new_texter=st.booleans(),
    language=st.one_of(st.none(), st.sampled_from([*POLICY.languages, "xx"])),
    conversation=st.sampled_from(["none", "open", "closed"]),
    urgent=st.booleans(),
    stopped=st.booleans(),
    pending=pendings,
    active_referrals=st.frozensets(st.sampled_from(PARTNERS)),
    queue=st.sampled_from(["peer", *PARTNERS]),
    after_hours_notice_until=st.one_of(st.none(), moments),
)
texts = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.sampled_from(WORDS),
    st.sampled_from(["1", "2", "3", "4", "7", "GGD uren", "taal en", "ik word bedreigd"]),
)
choices = st.one_of(
    st.none(),
    st.sampled_from(["yes", "no", "lang:en", "lang:zz", "menu:peer", "menu:sexual_health", "x"]),
)
events = st.one_of(
    st.builds(TexterMessage, text=texts, choice=choices),
    st.builds(ReferralProposed, partner=st.sampled_from(PARTNERS)),
    st.just(Tick()),
)


def _is_yes(event: object) -> bool:
    if not isinstance(event, TexterMessage):
        return False
    if event.choice == "yes":
        return True
    from routing.commands import answer, line_of

    line = line_of(event.text)
    return line is not None and (answer(line) == "yes" or line == "1")


@settings(max_examples=150, deadline=None)
@given(state=states, event=events, now=moments)
def test_decide_never_raises_and_returns_actions(
    state: State, event: object, now: datetime
) -> None:
    actions = decide_unguarded(state, event, now=now, policy=POLICY)  # type: ignore[arg-type]
    assert isinstance(actions, list)
    for action in actions:
        if isinstance(action, Reply):
            assert action.language in POLICY.languages


@settings(max_examples=150, deadline=None)
@given(state=states, event=events, now=moments)
def test_never_refers_without_a_recorded_yes(state: State, event: object, now: datetime) -> None:
    actions: list[Action] = decide_unguarded(state, event, now=now, policy=POLICY)  # type: ignore[arg-type]
    refers = [a for a in actions if isinstance(a, Refer)]
    if not refers:
        return
    assert len(refers) == 1
    pending = state.pending
    assert pending is not None
    assert pending.kind == "consent"
    assert refers[0].partner == pending.partner
    assert now - pending.asked_at < POLICY.consent_timeout
    assert _is_yes(event)


@settings(max_examples=120, deadline=None)
@given(state=states, event=events, now=moments)
def test_erase_only_after_a_yes_to_the_erase_question(
    state: State, event: object, now: datetime
) -> None:
    actions = decide_unguarded(state, event, now=now, policy=POLICY)  # type: ignore[arg-type]
    if any(isinstance(a, Erase) for a in actions):
        assert state.pending is not None
        assert state.pending.kind == "erase"
        assert _is_yes(event)
        assert isinstance(actions[-1], Erase)
        assert isinstance(actions[-2], Reply)


@settings(max_examples=120, deadline=None)
@given(state=states, event=events, now=moments)
def test_each_consent_question_is_closed_once(state: State, event: object, now: datetime) -> None:
    """An open consent question ends in at most one Refer/Decline/Lapse per step."""
    actions = decide_unguarded(state, event, now=now, policy=POLICY)  # type: ignore[arg-type]
    closings = [a for a in actions if isinstance(a, Refer | DeclineConsent | LapseConsent)]
    assert len(closings) <= 1 + sum(isinstance(a, AskConsent) for a in actions)
    if closings:
        assert state.pending is not None
        assert state.pending.kind == "consent"
        assert all(a.partner == state.pending.partner for a in closings)


def test_a_conversation_walk_refers_only_after_yes() -> None:
    """A scripted walk: ask, chat, answer; the refer comes with the yes."""
    state = State(is_new_texter=False, conversation="open")
    now = START + timedelta(days=4, hours=11)  # Monday 5 January 2026, 12:00 CET
    asked = decide_unguarded(state, TexterMessage("3"), now=now, policy=POLICY)
    assert AskConsent("ggd") in asked
    state = State(is_new_texter=False, conversation="open", pending=Pending("consent", now, "ggd"))
    chat = decide_unguarded(state, TexterMessage("is het gratis?"), now=now, policy=POLICY)
    assert not any(isinstance(a, Refer) for a in chat)
    yes = decide_unguarded(state, TexterMessage("JA"), now=now + timedelta(hours=1), policy=POLICY)
    assert Refer("ggd") in yes
