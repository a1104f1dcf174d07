"""ALERTS / MELDINGEN in the pure policy (routing.alerts): on, off with the
same word, off with STOP; the answer says how often at most."""

from __future__ import annotations

from dataclasses import replace

import pytest

from routing.commands import COMMAND_WORDS
from routing.model import Enqueue, Stop, SubscribeAlerts, UnsubscribeAlerts

from .helpers import KNOWN, keys, reply, run

SUBSCRIBED = replace(KNOWN, alerts=True)
WORDS = [w for ws in COMMAND_WORDS["alerts"].values() for w in ws]


@pytest.mark.parametrize("word", WORDS)
def test_the_alerts_word_subscribes_in_every_language(word: str) -> None:
    actions = run(word.upper())
    assert isinstance(actions[0], SubscribeAlerts)
    assert keys(actions) == ["alerts_on"]
    assert dict(reply(actions, "alerts_on").params) == {"per_week": "2"}
    assert not any(isinstance(a, Enqueue) for a in actions)


@pytest.mark.parametrize("word", WORDS)
def test_the_same_word_again_unsubscribes(word: str) -> None:
    actions = run(word, SUBSCRIBED)
    assert isinstance(actions[0], UnsubscribeAlerts)
    assert keys(actions) == ["alerts_off"]


def test_stop_ends_alerts_too() -> None:
    actions = run("STOP", SUBSCRIBED)
    assert keys(actions) == ["stopped"]
    assert [type(a) for a in actions[1:]] == [Stop, UnsubscribeAlerts]
    assert not any(isinstance(a, UnsubscribeAlerts) for a in run("STOP"))
    stopped = replace(SUBSCRIBED, stopped=True)
    assert UnsubscribeAlerts() in run("stop", stopped)
