"""The SIGNAL command and move codes in the pure policy (routing.switch)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from routing.model import AcceptSwitch, Enqueue, OfferSwitch, Reply, State
from routing.switch import CODE_ALPHABET, switch_code
from routing.text import phrase

from .helpers import KNOWN, keys, run

ON_SIGNAL = replace(KNOWN, channel="signal")
NEW_ON_SIGNAL = State(channel="signal")


@pytest.mark.parametrize("text", ["SIGNAL", "signal", " Signal! ", "signal."])
def test_signal_on_whatsapp_offers_the_move(text: str) -> None:
    actions = run(text)
    assert len(actions) == 1
    offer = actions[0]
    assert isinstance(offer, OfferSwitch)
    assert (offer.offer.key, offer.unavailable.key) == ("switch_offer", "switch_unavailable")
    assert offer.offer.language == "nl"


def test_signal_on_signal_or_web_chat_needs_no_move() -> None:
    assert keys(run("SIGNAL", ON_SIGNAL)) == ["switch_already"]
    assert keys(run("SIGNAL", replace(KNOWN, channel="webchat"))) == ["switch_unavailable"]


@pytest.mark.parametrize(
    ("text", "code"),
    [("SIGNAL K7P4-9XQ2", "K7P49XQ2"), ("k7p4-9xq2", "K7P49XQ2"), ("K7P49XQ2", "K7P49XQ2"),
     ("signal k7p4 9xq2!", "K7P49XQ2")],
)
def test_a_new_signal_texter_sending_a_code_asks_for_the_move(text: str, code: str) -> None:
    actions = run(text, NEW_ON_SIGNAL)
    assert len(actions) == 1
    accept = actions[0]
    assert isinstance(accept, AcceptSwitch)
    assert accept.code == code
    # The confirmation speaks the moved texter's language, which the service knows.
    assert accept.moved == Reply("switch_moved", language=None)
    assert accept.refused.key == "switch_refused"
    assert not any(isinstance(a, Enqueue) for a in actions)


def test_a_known_signal_texter_is_never_merged_on_a_code() -> None:
    assert keys(run("SIGNAL K7P4-9XQ2", ON_SIGNAL)) == ["switch_refused_known"]


@pytest.mark.parametrize("text", ["hallo daar", "fuckthis", "12345678", "help mij!", "ABCDEFGH"])
def test_words_are_not_codes_and_reach_the_peers(text: str) -> None:
    assert switch_code(phrase(text)) is None
    assert any(isinstance(a, Enqueue) for a in run(text, NEW_ON_SIGNAL))


def test_a_code_on_whatsapp_is_just_text() -> None:
    assert any(isinstance(a, Enqueue) for a in run("K7P4-9XQ2"))


def test_the_alphabet_has_no_look_alikes() -> None:
    assert not set("01OI") & set(CODE_ALPHABET)
    assert len(CODE_ALPHABET) == 32
