"""Shared builders for the routing tests (no conftest: plain imports)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from routing.model import Action, Event, Reply, State, TexterMessage
from routing.policy import decide_unguarded
from routing.policy_file import default_policy

AMS = ZoneInfo("Europe/Amsterdam")
POLICY = default_policy()
# Monday 2 March 2026, 12:00 in Tilburg: the line is open.
OPEN = datetime(2026, 3, 2, 12, 0, tzinfo=AMS).astimezone(UTC)
# Saturday 7 March 2026, 12:00: closed.
CLOSED = datetime(2026, 3, 7, 12, 0, tzinfo=AMS).astimezone(UTC)
KNOWN = State(is_new_texter=False, language="nl", conversation="open")


def run(
    event: Event | str, state: State = KNOWN, now: datetime = OPEN, choice: str | None = None
) -> list[Action]:
    if isinstance(event, str):
        event = TexterMessage(text=event, choice=choice)
    return decide_unguarded(state, event, now=now, policy=POLICY)


def keys(actions: list[Action]) -> list[str]:
    return [a.key for a in actions if isinstance(a, Reply)]


def reply(actions: list[Action], key: str) -> Reply:
    return next(a for a in actions if isinstance(a, Reply) and a.key == key)
