"""Frozen data for the conversation policy: state, events, policy, actions.

Actions are data, never text: `Reply(key="welcome")` names a message template
in `templates/messages/<lang>/`; the service renders and sends it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Literal

# ---------------------------------------------------------------- state

PendingKind = Literal["consent", "erase", "language"]


@dataclass(frozen=True)
class Pending:
    """A question the bot asked and the texter has not answered yet."""

    kind: PendingKind
    asked_at: datetime
    partner: str | None = None


@dataclass(frozen=True)
class State:
    """What the policy may know about one texter. No identity, no text history."""

    is_new_texter: bool = True
    language: str | None = None
    conversation: Literal["none", "open", "closed"] = "none"
    urgent: bool = False
    stopped: bool = False
    pending: Pending | None = None
    active_referrals: frozenset[str] = frozenset()
    channel: str = "whatsapp"


# ---------------------------------------------------------------- events


@dataclass(frozen=True)
class TexterMessage:
    """The texter wrote. `text` is None for media without caption; `choice` is the
    id of a tapped button or list row."""

    text: str | None
    kind: str = "text"
    choice: str | None = None


@dataclass(frozen=True)
class ReferralProposed:
    """A volunteer proposed a referral from the console."""

    partner: str


@dataclass(frozen=True)
class Tick:
    """Periodic wake-up, so pending questions can lapse."""


Event = TexterMessage | ReferralProposed | Tick


# ---------------------------------------------------------------- policy


@dataclass(frozen=True)
class Partner:
    id: str
    name: dict[str, str]
    description: dict[str, str] = field(default_factory=dict)
    hours: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Policy:
    languages: tuple[str, ...] = ("nl", "en", "es", "ro", "bg", "pl")
    default_language: str = "nl"
    timezone: str = "Europe/Amsterdam"
    # weekday (0 = Monday) -> list of (open, close) in local time
    weekly_hours: dict[int, tuple[tuple[time, time], ...]] = field(default_factory=dict)
    closed_dates: frozenset[date] = frozenset()
    partners: tuple[Partner, ...] = ()
    urgent_words: dict[str, tuple[str, ...]] = field(default_factory=dict)
    emergency: dict[str, str] = field(default_factory=dict)
    consent_timeout: timedelta = timedelta(hours=24)
    retention_days: int = 30
    stats_threshold: int = 5
    max_conversations_per_volunteer: int = 5
    sign_replies_with_alias: bool = False

    def partner(self, partner_id: str) -> Partner | None:
        return next((p for p in self.partners if p.id == partner_id), None)


# ---------------------------------------------------------------- actions

Params = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Reply:
    """Send the message template `key` in the texter's language."""

    key: str
    params: Params = ()
    buttons: tuple[tuple[str, str], ...] = ()  # (choice id, message key of its title)


@dataclass(frozen=True)
class Enqueue:
    """Make sure the conversation is open and waiting in `queue`."""

    queue: str = "peer"
    priority: Literal["normal", "urgent"] = "normal"


@dataclass(frozen=True)
class MarkUrgent:
    pass


@dataclass(frozen=True)
class SetLanguage:
    code: str


@dataclass(frozen=True)
class SetPending:
    kind: PendingKind
    partner: str | None = None


@dataclass(frozen=True)
class ClearPending:
    pass


@dataclass(frozen=True)
class AskConsent:
    """Record that consent for `partner` was asked (the question is a Reply)."""

    partner: str


@dataclass(frozen=True)
class Refer:
    """The texter said yes: the partner gets access from now on."""

    partner: str


@dataclass(frozen=True)
class DeclineConsent:
    partner: str


@dataclass(frozen=True)
class LapseConsent:
    partner: str


@dataclass(frozen=True)
class Withdraw:
    partner: str


@dataclass(frozen=True)
class Erase:
    """Destroy the texter's data key, then every row of theirs."""


@dataclass(frozen=True)
class Stop:
    """No more bot messages until the texter writes again."""


@dataclass(frozen=True)
class Resume:
    pass


Action = (
    Reply
    | Enqueue
    | MarkUrgent
    | SetLanguage
    | SetPending
    | ClearPending
    | AskConsent
    | Refer
    | DeclineConsent
    | LapseConsent
    | Withdraw
    | Erase
    | Stop
    | Resume
)
