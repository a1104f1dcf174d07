"""`decide`: the one entry point of the conversation policy."""

from __future__ import annotations

from datetime import datetime

from routing.model import Action, Enqueue, Event, Policy, Reply, State, TexterMessage


def decide(state: State, event: Event, *, now: datetime, policy: Policy) -> list[Action]:
    """Return what to do about `event`. Never raises, never reads the clock."""
    actions: list[Action] = []
    if isinstance(event, TexterMessage):
        if state.is_new_texter:
            actions.append(Reply("welcome"))
        actions.append(Enqueue("peer", "urgent" if state.urgent else "normal"))
    return actions
