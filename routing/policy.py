"""`decide`: the one entry point of the conversation policy.

Reading order for a texter's message (`_message`):

1. A stopped texter who writes again is resumed (unless they wrote STOP again).
2. A pending question older than `Policy.consent_timeout` lapses first, so a late
   "JA" can never refer anyone.
3. A tapped button (`choice`), then an answer to the pending question.
4. A command alone on the line, then a menu choice (number, word, partner name).
5. Everything else is free text: it always reaches the peers, with the welcome,
   the urgent reply and the after-hours notice around it as needed.

Commands and menu choices are answered by the bot and do not Enqueue: the
service still stores the texter's message in the open conversation (if any), but
a "MENU" or "PRIVACY" must not put a conversation back in the peer queue or open
a new one at 3 a.m. The exceptions open or move a conversation on purpose: menu
"talk to a peer" and "emergency information" (Enqueue "peer"), a yes to a
referral (Enqueue the partner) and a withdrawal (back to "peer").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from routing import alerts, commands, hours, switch
from routing.model import (
    Action,
    AskConsent,
    ClearPending,
    DeclineConsent,
    Enqueue,
    Erase,
    Event,
    LapseConsent,
    MarkUrgent,
    NoteAfterHours,
    Partner,
    Pending,
    PendingKind,
    Policy,
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
from routing.text import phrase
from routing.urgency import is_urgent

YES_NO_BUTTONS = (("yes", "button_yes"), ("no", "button_no"))
MENU_BUTTONS = tuple((f"menu:{slot}", f"button_{slot}") for slot in commands.MENU_ORDER)


def language_buttons(policy: Policy) -> tuple[tuple[str, str], ...]:
    return tuple((f"lang:{code}", f"lang_{code}") for code in policy.languages)


def decide(state: State, event: Event, *, now: datetime, policy: Policy) -> list[Action]:
    """Return what to do about `event`. Never raises, never reads the clock.

    The guard is a last resort: a bug in the policy must not lose a texter's
    message, so it still reaches the peers. Tests call `decide_unguarded` so such
    bugs are found rather than hidden.
    """
    try:
        return decide_unguarded(state, event, now=now, policy=policy)
    except Exception:
        if isinstance(event, TexterMessage):
            return [Enqueue("peer", "urgent" if state.urgent else "normal")]
        return []


def decide_unguarded(state: State, event: Event, *, now: datetime, policy: Policy) -> list[Action]:
    ctx = _Ctx(state, _aware(now), policy)
    if isinstance(event, Tick):
        return _lapse(ctx.pending_expired())
    if isinstance(event, ReferralProposed):
        return _proposed(ctx, event.partner)
    return _message(ctx, event)


# ---------------------------------------------------------------- context


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class _Ctx:
    state: State
    now: datetime
    policy: Policy

    @property
    def lang(self) -> str:
        code = self.state.language
        return code if code in self.policy.languages else self.policy.default_language

    def reply(
        self,
        key: str,
        params: Iterable[tuple[str, str]] = (),
        buttons: tuple[tuple[str, str], ...] = (),
        *,
        language: str | None = None,
    ) -> Reply:
        return Reply(key, tuple(params), buttons, language or self.lang)

    def text(self, by_language: dict[str, str], fallback: str = "-") -> str:
        return (
            by_language.get(self.lang) or by_language.get(self.policy.default_language) or fallback
        )

    def name(self, partner: Partner) -> str:
        return self.text(partner.name, partner.id)

    def partner_name(self, partner_id: str) -> str:
        partner = self.policy.partner(partner_id)
        return self.name(partner) if partner else partner_id

    def emergency(self) -> tuple[str, str]:
        return ("emergency", self.text(self.policy.emergency, "112"))

    def pending_expired(self) -> Pending | None:
        pending = self.state.pending
        if pending is None:
            return None
        if self.now - _aware(pending.asked_at) >= self.policy.consent_timeout:
            return pending
        return None

    @property
    def priority(self) -> Literal["normal", "urgent"]:
        return "urgent" if self.state.urgent else "normal"

    @property
    def queue(self) -> str:
        """Where free text goes: the open conversation's queue, else the peers."""
        return self.state.queue if self.state.conversation == "open" else "peer"

    def menu_params(self) -> list[tuple[str, str]]:
        params = []
        for slot in ("social_work", "sexual_health"):
            partner = self.policy.partner(self.policy.menu.get(slot, ""))
            params.append((slot, self.name(partner) if partner else "-"))
        return params


def _lapse(pending: Pending | None) -> list[Action]:
    if pending is None:
        return []
    if pending.kind == "consent" and pending.partner is not None:
        return [LapseConsent(pending.partner), ClearPending()]
    return [ClearPending()]


def _set_pending(ctx: _Ctx, kind: PendingKind, partner: str | None = None) -> list[Action]:
    """SetPending, lapsing a consent question it replaces: every AskConsent is
    closed by exactly one Refer, DeclineConsent or LapseConsent."""
    actions: list[Action] = []
    old = ctx.state.pending
    if old is not None and old.kind == "consent" and old.partner is not None:
        actions.append(LapseConsent(old.partner))
    actions.append(SetPending(kind, partner))
    return actions


# ---------------------------------------------------------------- consent


def _proposed(ctx: _Ctx, partner_id: str) -> list[Action]:
    partner = ctx.policy.partner(partner_id)
    # Unknown partner, a texter who said STOP, or a referral already in effect:
    # nothing to ask. The service should refuse the console request before this.
    if partner is None or ctx.state.stopped or partner_id in ctx.state.active_referrals:
        return []
    return _ask_consent(ctx, partner)


def _ask_consent(ctx: _Ctx, partner: Partner) -> list[Action]:
    if partner.id in ctx.state.active_referrals:
        return [ctx.reply("already_referred", [("partner", ctx.name(partner))])]
    question = ctx.reply(
        "consent_question",
        [
            ("partner", ctx.name(partner)),
            ("description", ctx.text(partner.description)),
            ("hours", ctx.text(partner.hours)),
        ],
        YES_NO_BUTTONS,
    )
    return [*_set_pending(ctx, "consent", partner.id), AskConsent(partner.id), question]


def _consent_answer(ctx: _Ctx, pending: Pending, yes: bool) -> list[Action]:
    if pending.partner is None:
        return [ClearPending()]  # malformed state: nothing was asked of anyone
    partner = ctx.policy.partner(pending.partner)
    if partner is None:
        # The partner left the policy while the question was open.
        return [LapseConsent(pending.partner), ClearPending()]
    params = [("partner", ctx.name(partner))]
    if not yes:
        return [DeclineConsent(partner.id), ClearPending(), ctx.reply("consent_declined", params)]
    return [
        Enqueue(partner.id, ctx.priority),
        Refer(partner.id),
        ClearPending(),
        ctx.reply("referred", params),
    ]


def _withdraw(ctx: _Ctx) -> list[Action]:
    actions: list[Action] = []
    pending = ctx.state.pending
    if pending is not None and pending.kind == "consent" and pending.partner is not None:
        # Withdrawing while the question is open is a no.
        actions += [DeclineConsent(pending.partner), ClearPending()]
    referrals = sorted(ctx.state.active_referrals)
    actions += [Withdraw(p) for p in referrals]
    if ctx.state.conversation == "open" and ctx.state.queue in referrals:
        actions.append(Enqueue("peer", ctx.priority))
    if not actions:
        return [ctx.reply("nothing_to_withdraw")]
    names = ", ".join(ctx.partner_name(p) for p in referrals)
    if not referrals and pending is not None and pending.partner is not None:
        names = ctx.partner_name(pending.partner)
    actions.append(ctx.reply("withdrawn", [("partners", names)]))
    return actions


# ---------------------------------------------------------------- messages


def _message(ctx: _Ctx, message: TexterMessage) -> list[Action]:
    state = ctx.state
    line = commands.line_of(message.text)
    command = commands.command(line) if line else None
    actions: list[Action] = []
    if state.stopped:
        if command == "stop" and message.choice is None:
            return [ctx.reply("stopped"), Stop(), *alerts.stop(state)]
        actions.append(Resume())

    expired = ctx.pending_expired()
    actions += _lapse(expired)
    if expired is not None:
        # From here on the question no longer exists, for every helper.
        ctx = replace(ctx, state=replace(state, pending=None))
    pending = ctx.state.pending

    handled = _choice(ctx, message.choice, pending) if message.choice else None
    if handled is None and pending is not None and line is not None:
        handled = _pending_answer(ctx, pending, line)
        if handled is None and pending.kind in ("erase", "language"):
            # Anything but an answer cancels an erase or language question:
            # only an immediate, explicit yes may destroy someone's data.
            actions.append(ClearPending())
            if pending.kind == "erase" and command is None:
                actions.append(ctx.reply("erase_cancelled"))
    if handled is None and line is not None:
        handled = _command(ctx, line, command, pending)
    if handled is None and line is not None:
        handled = _menu_line(ctx, line)
    if handled is not None:
        return actions + handled

    if expired is not None and expired.partner and line and commands.answer(line):
        name = ctx.partner_name(expired.partner)
        actions.append(ctx.reply("consent_expired", [("partner", name)]))
    return actions + _free_text(ctx, message.text)


def _choice(ctx: _Ctx, choice: str, pending: Pending | None) -> list[Action] | None:
    """A tapped button or list row. Unknown ids fall through to the text."""
    if choice in ("yes", "no"):
        return _pending_answer(ctx, pending, choice) if pending else None
    if choice.startswith("lang:"):
        code = choice.removeprefix("lang:")
        if code in ctx.policy.languages:
            return _set_language(ctx, code, pending)
        return None
    if choice.startswith("menu:"):
        slot = choice.removeprefix("menu:")
        for known in commands.MENU_ORDER:
            if known == slot:
                return _menu(ctx, known)
    return None


def _pending_answer(ctx: _Ctx, pending: Pending | None, line: str) -> list[Action] | None:
    if pending is None:
        return None
    if pending.kind == "language":
        code = commands.language_code(line, ctx.policy.languages)
        return _set_language(ctx, code, pending) if code else None
    # "1" and "2" answer too: Signal shows the yes/no buttons as a numbered list.
    answer = commands.answer(line) or {"1": "yes", "2": "no"}.get(line)
    if answer is None:
        return None
    if pending.kind == "erase":
        if answer == "yes":
            # The goodbye is listed before Erase so the service sends it first.
            return [ctx.reply("erased"), Erase()]
        return [ClearPending(), ctx.reply("erase_cancelled")]
    return _consent_answer(ctx, pending, answer == "yes")


def _set_language(ctx: _Ctx, code: str, pending: Pending | None) -> list[Action]:
    actions: list[Action] = [SetLanguage(code)]
    if pending is not None and pending.kind == "language":
        actions.append(ClearPending())
    actions.append(ctx.reply("language_set", language=code))
    return actions


def _command(
    ctx: _Ctx, line: str, command: commands.Command | None, pending: Pending | None
) -> list[Action] | None:
    first, _, rest = line.partition(" ")
    if rest and commands.command(first) == "language":
        # "TAAL english" / "LANGUAGE 2" in one go.
        code = commands.language_code(rest, ctx.policy.languages)
        if code:
            return _set_language(ctx, code, pending)
    moving = switch.switch_actions(ctx.state.channel, ctx.state.is_new_texter, line,
                                   command == "signal", ctx.reply)
    if moving is not None:
        return moving
    if command is None:
        return None
    if command == "stop":
        return [ctx.reply("stopped"), Stop(), *alerts.stop(ctx.state)]
    if command == "alerts":
        return alerts.toggle(ctx.state, ctx.policy, ctx.reply)
    if command == "erase":
        return [*_set_pending(ctx, "erase"), ctx.reply("erase_confirm", (), YES_NO_BUTTONS)]
    if command == "withdraw":
        return _withdraw(ctx)
    actions: list[Action] = []
    # A first message that happens to be a command still gets the welcome, which
    # is where retention and erasure are explained; it already holds the menu.
    if ctx.state.is_new_texter:
        actions.append(_welcome(ctx))
        if command in ("menu", "help"):
            return actions
    if command == "language":
        actions += _set_pending(ctx, "language")
        actions.append(ctx.reply("language_question", (), language_buttons(ctx.policy)))
    elif command == "privacy":
        actions.append(ctx.reply("privacy", [("retention_days", str(ctx.policy.retention_days))]))
    elif command == "menu":
        actions.append(ctx.reply("menu", ctx.menu_params(), MENU_BUTTONS))
    elif command == "help":
        actions.append(ctx.reply("help"))
    else:  # hours
        actions.append(_hours(ctx))
    return actions


def _hours(ctx: _Ctx) -> Reply:
    partner_hours = "\n".join(
        f"{ctx.name(p)}: {p_hours}"
        for p in ctx.policy.partners
        if (p_hours := ctx.text(p.hours, ""))
    )
    return ctx.reply(
        "hours",
        [
            ("opening_hours", hours.schedule_code(ctx.policy)),
            ("partner_hours", partner_hours or "-"),
        ],
    )


def _menu_line(ctx: _Ctx, line: str) -> list[Action] | None:
    """A typed menu choice: its number, a menu word, or a partner's id or name
    (optionally with an hours word: "GGD uren" gives the GGD's hours)."""
    if line.isdigit() and 1 <= int(line) <= len(commands.MENU_ORDER):
        return _menu(ctx, commands.MENU_ORDER[int(line) - 1])
    slot = commands.menu_word(line)
    if slot is not None:
        return _menu(ctx, slot)
    for partner in ctx.policy.partners:
        names = {phrase(partner.id), *(phrase(n) for n in partner.name.values())}
        names.discard("")
        if line in names:
            return _ask_consent(ctx, partner)
        for name in names:
            for rest in (line.removeprefix(name + " "), line.removesuffix(" " + name)):
                if rest != line and commands.command(rest) == "hours":
                    params = [("partner", ctx.name(partner)), ("hours", ctx.text(partner.hours))]
                    return [ctx.reply("partner_hours", params)]
    return None


def _menu(ctx: _Ctx, slot: commands.MenuChoice) -> list[Action]:
    if slot in ("social_work", "sexual_health"):
        partner = ctx.policy.partner(ctx.policy.menu.get(slot, ""))
        if partner is not None:
            return _ask_consent(ctx, partner)
        slot = "peer"  # no partner configured for this slot: the peers help
    actions: list[Action] = [Enqueue("peer" if slot == "emergency" else ctx.queue, ctx.priority)]
    if slot == "emergency":
        actions.append(ctx.reply("emergency", [ctx.emergency()]))
        return actions
    notice = _after_hours(ctx)
    return actions + (notice or [ctx.reply("peer_queued")])


def _welcome(ctx: _Ctx) -> Reply:
    params = [
        ("retention_days", str(ctx.policy.retention_days)),
        ("opening_hours", hours.schedule_code(ctx.policy)),
        ("place", ctx.policy.place.get(ctx.lang, "")),
        *ctx.menu_params(),
        # The other languages offer themselves, each in its own words.
        ("other_languages", ",".join(c for c in ctx.policy.languages if c != ctx.lang)),
    ]
    # No buttons: the welcome is long and numbers its menu in the text, which
    # reads the same on every channel (buttons would be listed a second time).
    return ctx.reply("welcome", params)


def _after_hours(ctx: _Ctx, *, force: bool = False) -> list[Action]:
    """The closed-line notice, at most once per closed period (unless `force`)."""
    if hours.is_open(ctx.now, ctx.policy):
        return []
    noticed = ctx.state.after_hours_notice_until
    if not force and noticed is not None and ctx.now < _aware(noticed):
        return []
    opening = hours.next_opening(ctx.now, ctx.policy)
    if opening is None:
        # Closed for longer than we look ahead: no date to promise.
        until = ctx.now + timedelta(days=1)
        return [ctx.reply("after_hours_unknown", [ctx.emergency()]), NoteAfterHours(until)]
    params = [*hours.opening_params(opening, ctx.now, ctx.policy), ctx.emergency()]
    return [ctx.reply("after_hours", params), NoteAfterHours(opening)]


def _free_text(ctx: _Ctx, text: str | None) -> list[Action]:
    state = ctx.state
    all_words = [w for ws in ctx.policy.urgent_words.values() for w in ws]
    urgent_now = is_urgent(text, all_words)
    actions: list[Action] = []
    first_urgent = urgent_now and not state.urgent
    open_now = hours.is_open(ctx.now, ctx.policy)
    if first_urgent:
        # Emergency information first: it is what someone in danger needs most.
        if open_now:
            actions.append(ctx.reply("urgent", [ctx.emergency()]))
        else:
            opening = hours.next_opening(ctx.now, ctx.policy)
            if opening is not None:
                params = [*hours.opening_params(opening, ctx.now, ctx.policy), ctx.emergency()]
                actions += [ctx.reply("urgent_after_hours", params), NoteAfterHours(opening)]
            else:
                actions.append(ctx.reply("urgent", [ctx.emergency()]))
    if state.is_new_texter:
        actions.append(_welcome(ctx))
    elif state.conversation != "open":
        actions.append(ctx.reply("welcome_back"))
    actions.append(Enqueue(ctx.queue, "urgent" if urgent_now or state.urgent else "normal"))
    if first_urgent:
        actions.append(MarkUrgent())
    if not any(isinstance(a, NoteAfterHours) for a in actions):
        actions += _after_hours(ctx)
    return actions
