"""Frozen data for the conversation policy: state, events, policy, actions.

Actions are data, never text: `Reply(key="welcome")` names a message template
in `templates/messages/<lang>/`; the service renders and sends it.

How the service carries out a list of actions
---------------------------------------------
Execute them in list order, in the same transaction as the event. Order matters:
`Enqueue` comes before `Refer` (the referral attaches to the conversation the
Enqueue opened), a `Reply` comes before `Stop` and before `Erase` (it must still
be sent). A Reply listed in the same result as `Stop` is still sent.

Consent bookkeeping: every `AskConsent(p)` is eventually closed by exactly one of
`Refer(p)`, `DeclineConsent(p)` or `LapseConsent(p)`; a given referral is later
ended by `Withdraw(p)`. Each of these is recorded with partner and time, never
with identity (DESIGN invariant 5).
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
    """What the policy may know about one texter. No identity, no text history.

    The service fills it before each `decide`:

    - `is_new_texter`: the texter row was created by this very message (first
      contact ever, or the first message after an erasure).
    - `language`: the stored language code, None until the texter chose one.
    - `conversation`: the texter's latest conversation: "none" (never had one),
      "open" or "closed".
    - `urgent`: the open conversation is marked urgent (False when not open).
    - `stopped`: the texter sent STOP and has not written since.
    - `pending`: the open question, with the time it was asked (`now` of the
      decide call that returned `SetPending`).
    - `active_referrals`: partner ids with a referral in effect (consent given,
      not withdrawn) for the open conversation; empty when none is open.
    - `queue`: the queue the open conversation waits in ("peer" or a partner id).
    - `after_hours_notice_until`: the `until` of the last `NoteAfterHours`; used
      to tell the texter about opening hours once per closed period.
    - `alerts`: the texter subscribed to safety alerts.
    """

    is_new_texter: bool = True
    language: str | None = None
    conversation: Literal["none", "open", "closed"] = "none"
    urgent: bool = False
    stopped: bool = False
    pending: Pending | None = None
    active_referrals: frozenset[str] = frozenset()
    channel: str = "whatsapp"
    queue: str = "peer"
    after_hours_notice_until: datetime | None = None
    alerts: bool = False  # subscribed to safety alerts (ALERTS / MELDINGEN)


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
    """A volunteer proposed a referral from the console. The note the volunteer
    wrote is stored by the service; the policy only needs the partner."""

    partner: str


@dataclass(frozen=True)
class Tick:
    """Periodic wake-up, so pending questions can lapse."""


Event = TexterMessage | ReferralProposed | Tick


# ---------------------------------------------------------------- policy


@dataclass(frozen=True)
class Partner:
    """A partner organisation. `name`, `description` and `hours` are per language
    code; a missing language falls back to the policy's default language."""

    id: str
    name: dict[str, str]
    description: dict[str, str] = field(default_factory=dict)
    hours: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WebChatLook:
    """How the web chat page presents itself. Neutral on purpose: a tab title
    or icon that says "sex work helpline" on a shared phone is a risk in itself,
    and Quick exit lands on `exit_url`, a site nobody would think twice about."""

    title: str = "Notes"
    exit_url: str = "https://www.buienradar.nl/"
    favicon: str = "notes"  # one of WEBCHAT_FAVICONS (shipped in helpline/static/webchat/)


WEBCHAT_FAVICONS = ("notes", "cloud", "leaf")


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
    # Volunteer wellbeing: after this long signed in, the console suggests a
    # break and shows `support` (per console language: where a volunteer can
    # talk after a heavy conversation). Measured from the sign-in the session
    # already records, so nothing new is kept about the volunteer.
    shift_length: timedelta = timedelta(hours=4)
    support: dict[str, str] = field(default_factory=dict)
    # Where the peer group is, per texter language, as the welcome says it
    # ("in Tilburg", "w Tilburgu"): each helpline names its own region, and a
    # language without one leaves the place out rather than borrowing another
    # language's words.
    place: dict[str, str] = field(default_factory=dict)
    # Blue ticks on WhatsApp when a volunteer opens the conversation: off by
    # default, since they tell whoever holds the texter's phone that the
    # helpline read it.
    read_receipts: bool = False
    # Safety alerts: at most this many are sent a week (subscribers are told),
    # and deliveries leave at most this many a minute (Signal's rate limits).
    alerts_per_week: int = 2
    alert_sends_per_minute: int = 30
    # Volunteer notifications: someone waited this long unanswered in the peer
    # queue; a volunteer is told at most once per `notify_repeat_minutes`.
    notify_waiting_minutes: int = 10
    notify_repeat_minutes: int = 30
    # Menu slots -> partner id: "social_work" (menu 2) and "sexual_health" (menu 3).
    menu: dict[str, str] = field(default_factory=dict)
    webchat: WebChatLook = field(default_factory=WebChatLook)

    def partner(self, partner_id: str) -> Partner | None:
        return next((p for p in self.partners if p.id == partner_id), None)


# ---------------------------------------------------------------- actions

Params = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Reply:
    """Send the message template `key` rendered with `params`.

    `language` is the language to render in; None means the texter's stored
    language (or the policy default). `decide` always sets it, because a
    `SetLanguage` earlier in the same list changes it. `buttons` are
    (choice id, message key of the button title); the title keys take no
    parameters and are at most 20 characters (WhatsApp's reply-button limit).
    A tapped button comes back as `TexterMessage.choice`.
    """

    key: str
    params: Params = ()
    buttons: tuple[tuple[str, str], ...] = ()  # (choice id, message key of its title)
    language: str | None = None


@dataclass(frozen=True)
class Enqueue:
    """Make sure the conversation is open and waiting in `queue`.

    No conversation open (state "none" or "closed"): open a new one under the same
    pseudonym in `queue`. Open: move it to `queue` if it is elsewhere and mark it
    as waiting for an answer. `priority` "urgent" puts it at the top; "normal"
    never downgrades a conversation that is already urgent.
    """

    queue: str = "peer"
    priority: Literal["normal", "urgent"] = "normal"


@dataclass(frozen=True)
class MarkUrgent:
    """Mark the (open or just opened) conversation urgent: shown as such in the
    console. Listed after the Enqueue that opens it."""


@dataclass(frozen=True)
class SetLanguage:
    """Store `code` as the texter's language (under the pseudonym)."""

    code: str


@dataclass(frozen=True)
class SetPending:
    """Store the open question (replacing any other), asked_at = `now`."""

    kind: PendingKind
    partner: str | None = None


@dataclass(frozen=True)
class ClearPending:
    """Forget the open question."""


@dataclass(frozen=True)
class AskConsent:
    """Record a consent request for `partner` (partner, time; no identity). The
    question itself is the Reply("consent_question") next to it."""

    partner: str


@dataclass(frozen=True)
class Refer:
    """The texter said yes to the pending question for `partner`: record the
    consent as given and grant the partner access to the open conversation from
    now on (messages before this moment stay hidden from the partner)."""

    partner: str


@dataclass(frozen=True)
class DeclineConsent:
    """The texter said no: record the request as declined. Nothing is shared."""

    partner: str


@dataclass(frozen=True)
class LapseConsent:
    """No answer within `Policy.consent_timeout`, or the question was replaced:
    record the request as lapsed. Nothing is shared."""

    partner: str


@dataclass(frozen=True)
class Withdraw:
    """End the referral to `partner`: record the withdrawal; the partner loses
    access to the conversation at once (including what it saw before)."""

    partner: str


@dataclass(frozen=True)
class Erase:
    """Destroy the texter's data key, then every row of theirs: messages,
    conversations, consents' links to them, pseudonym, blind index entry. The
    next message starts fresh (is_new_texter). Replies listed before it must
    still go out (render and queue them before the key is destroyed)."""


@dataclass(frozen=True)
class Stop:
    """Set `stopped`: send nothing more to this texter (bot or volunteer) until
    they write again. The Reply listed before it is still sent."""


@dataclass(frozen=True)
class Resume:
    """Clear `stopped`: the texter wrote again. Listed first."""


@dataclass(frozen=True)
class NoteAfterHours:
    """The texter was told the line is closed until `until` (aware, UTC): store it
    as `State.after_hours_notice_until` so the notice is not repeated before then."""

    until: datetime


@dataclass(frozen=True)
class OfferSwitch:
    """The WhatsApp texter asked to move to Signal. The service makes a one-time
    code valid 24 hours (it stores only a keyed hash of it) and sends `offer`
    with the params `number`, `link`, `code` and `hours` added; when the
    helpline has no Signal number it sends `unavailable` instead."""

    offer: Reply
    unavailable: Reply


@dataclass(frozen=True)
class AcceptSwitch:
    """A new Signal texter sent a move code. If it is known, unexpired and
    unused, the service moves the WhatsApp texter here (history, language,
    consent and referrals continue; the WhatsApp blind index and reply address
    are erased), deletes the code and sends `moved` (language None: the moved
    texter's). Otherwise it sends `refused` and moves nothing."""

    code: str
    moved: Reply
    refused: Reply


@dataclass(frozen=True)
class SubscribeAlerts:
    """Subscribe the texter to safety alerts (a time on their row; erased with them)."""


@dataclass(frozen=True)
class UnsubscribeAlerts:
    """End the texter's subscription to safety alerts."""


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
    | NoteAfterHours
    | OfferSwitch
    | AcceptSwitch
    | SubscribeAlerts
    | UnsubscribeAlerts
)
