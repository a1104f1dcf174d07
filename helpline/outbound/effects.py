"""Carry out the routing policy's actions inside the intake transaction.

`routing/` decides, this module does: each action below maps to a few row
changes. The mapping is deliberately flat so a reviewer can check, action by
action, that nothing reaches a partner without a recorded yes.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from helpline import logs
from helpline.live.bus import LiveEvent
from helpline.outbound import channel_switch
from helpline.outbound.conversations import queue_outbound
from helpline.services import Services
from helpline.stats import counting
from helpline.store.models import Conversation, Referral, Texter
from routing import model as r


def build_state(
    session: Session,
    texter: Texter,
    conversation: Conversation | None,
    *,
    is_new_texter: bool,
    had_conversation: bool,
    active_referrals: frozenset[str] | None = None,
) -> r.State:
    pending = None
    if texter.pending_kind in ("consent", "erase", "language") and texter.pending_asked_at:
        pending = r.Pending(
            kind=texter.pending_kind,  # type: ignore[arg-type]
            asked_at=texter.pending_asked_at,
            partner=texter.pending_partner,
        )
    active: frozenset[str] = active_referrals or frozenset()
    if conversation is not None and active_referrals is None:
        active = frozenset(
            session.exec(
                select(Referral.partner_id).where(
                    Referral.conversation_id == conversation.id, Referral.state == "accepted"
                )
            ).all()
        )
    return r.State(
        is_new_texter=is_new_texter,
        language=texter.language,
        conversation=(
            "open" if conversation is not None else "closed" if had_conversation else "none"
        ),
        urgent=conversation is not None and conversation.priority == "urgent",
        stopped=texter.stopped,
        pending=pending,
        active_referrals=active,
        channel=texter.channel,
        queue=conversation.queue if conversation is not None else "peer",
        after_hours_notice_until=texter.after_hours_notice_until,
        alerts=texter.alerts_since is not None,
    )


class Effects:
    def __init__(
        self,
        services: Services,
        session: Session,
        texter: Texter,
        conversation: Conversation,
        key: bytes,
        now: datetime,
        *,
        proposed_by_id: str | None = None,
        note: str | None = None,
    ) -> None:
        self.services = services
        self.session = session
        self.texter = texter
        self.conversation = conversation
        self.key = key
        self.now = now
        self.proposed_by_id = proposed_by_id
        self.note = note
        self.outbound = False
        self.erased = False
        self.farewell: str | None = None
        self.live: list[LiveEvent] = []

    @property
    def language(self) -> str:
        return (self.texter.language
                or self.services.policy_for(self.texter.helpline_id).default_language)

    def apply(self, actions: list[r.Action]) -> None:
        for index, action in enumerate(actions):
            if self.erased:
                break
            following = actions[index + 1] if index + 1 < len(actions) else None
            if isinstance(action, r.Reply) and isinstance(following, r.Erase):
                # The confirmation before an erasure cannot be a message of the
                # conversation (erasure deletes those): it leaves as a detached
                # outbox item under its own key (helpline.lifecycle.retention).
                self.farewell = self.services.catalog.render(
                    action.key, self.language, dict(action.params)
                )
                continue
            self._apply(action)

    def _apply(self, action: r.Action) -> None:  # noqa: C901 - one branch per action
        match action:
            case r.Reply(key=key, params=params, buttons=buttons, language=language):
                self.reply(key, dict(params), list(buttons), language)
            case r.NoteAfterHours(until=until):
                self.texter.after_hours_notice_until = until
            case r.Enqueue(queue=queue, priority=priority):
                self._enqueue(queue, priority)
            case r.MarkUrgent():
                self.conversation.priority = "urgent"
            case r.SetLanguage(code=code):
                self.texter.language = code
            case r.SetPending(kind=kind, partner=partner):
                self.texter.pending_kind = kind
                self.texter.pending_partner = partner
                self.texter.pending_asked_at = self.now
            case r.ClearPending():
                self.texter.pending_kind = None
                self.texter.pending_partner = None
                self.texter.pending_asked_at = None
            case r.AskConsent(partner=partner):
                self._ask_consent(partner)
            case r.Refer(partner=partner):
                self._answer(partner, "accepted")
            case r.DeclineConsent(partner=partner):
                self._answer(partner, "declined")
            case r.LapseConsent(partner=partner):
                self._answer(partner, "lapsed")
            case r.Withdraw(partner=partner):
                self._withdraw(partner)
            case r.Stop():
                self.texter.stopped = True
            case r.Resume():
                self.texter.stopped = False
            case r.Erase():
                from helpline.lifecycle.retention import audit_texter_erasure, erase_texter

                counting.record_erasure(self.services, self.session, self.texter, self.now)
                erase_texter(self.services, self.session, self.texter, self.now,
                             farewell=self.farewell)
                audit_texter_erasure(self.session, self.now, self.texter.helpline_id)
                self.erased = True
                self.outbound = self.outbound or self.farewell is not None
            case r.OfferSwitch(offer=offer, unavailable=unavailable):
                offered = channel_switch.offer(self.services, self.session, self.texter,
                                               self.now)
                chosen = offer if offered is not None else unavailable
                self.reply(chosen.key, {**dict(chosen.params), **(offered or {})},
                           list(chosen.buttons), chosen.language)
            case r.AcceptSwitch(code=code, moved=moved, refused=refused):
                self._accept_switch(code, moved, refused)
            case r.SubscribeAlerts():
                if self.texter.alerts_since is None:
                    self.texter.alerts_since = self.now
                    counting.record_alert_subscription(self.services, self.session,
                                                       self.texter, self.now)
            case r.UnsubscribeAlerts():
                self.texter.alerts_since = None
            case _:
                logs.event("effects.unknown_action", kind=type(action).__name__)

    def _accept_switch(self, code: str, moved: r.Reply, refused: r.Reply) -> None:
        result = channel_switch.accept(self.services, self.session, self.texter, self.key,
                                       code, self.now)
        if result is None:
            self.reply(refused.key, dict(refused.params), list(refused.buttons),
                       refused.language)
            return
        # From here on every action, and intake after them, is about the
        # moved texter and their conversation.
        self.texter, self.conversation, self.key = result.texter, result.conversation, result.key
        self.live.append(LiveEvent(kind="claim", conversation=self.conversation.id,
                                   queue=self.conversation.queue))
        self.reply(moved.key, dict(moved.params), list(moved.buttons), moved.language)

    def reply(
        self,
        key: str,
        params: dict[str, str],
        buttons: list[tuple[str, str]],
        language: str | None = None,
    ) -> None:
        catalog = self.services.catalog
        lang = language or self.language
        text = catalog.render(key, lang, params)
        rendered_buttons = [
            (choice, catalog.render(title_key, lang, {})) for choice, title_key in buttons
        ]
        message = queue_outbound(
            self.services,
            self.session,
            texter=self.texter,
            conversation=self.conversation,
            text=text,
            key=self.key,
            now=self.now,
            author_kind="bot",
            buttons=rendered_buttons or None,
        )
        self.outbound = True
        self.live.append(
            # The queue lets a console stream decide without a database read.
            LiveEvent.of(self.conversation, "message", message=message.id,
                      queue=self.conversation.queue)
        )

    def _enqueue(self, queue: str, priority: str) -> None:
        conversation = self.conversation
        # Practice conversations never leave the practice queue (training data
        # must not reach partners or mix with real work).
        target = "practice" if conversation.practice else queue
        # Assign only what changes: an unchanged conversation needs no flush.
        if conversation.queue != target:
            conversation.queue = target
        if priority == "urgent" and conversation.priority != "urgent":
            conversation.priority = "urgent"
        if conversation.status == "closed":
            conversation.status = "open"
        if conversation.waiting_since is None:
            conversation.waiting_since = self.now

    def _ask_consent(self, partner: str) -> None:
        for open_question in self.session.exec(
            select(Referral).where(
                Referral.conversation_id == self.conversation.id, Referral.state == "asked"
            )
        ).all():
            open_question.state = "lapsed"
            open_question.answered_at = self.now
        referral = Referral(
            conversation_id=self.conversation.id,
            texter_id=self.texter.id,
            partner_id=partner,
            proposed_by="user" if self.proposed_by_id else "texter",
            proposed_by_id=self.proposed_by_id,
            asked_at=self.now,
        )
        if self.note:
            referral.note = self.services.vault.seal(
                self.key, self.note, "referrals", "note", referral.id
            )
        self.session.add(referral)
        counting.record_referral(self.services, self.session, self.conversation, partner,
                                 "proposed")
        self.live.append(LiveEvent.of(self.conversation, "referral", state="asked"))

    def _answer(self, partner: str, state: str) -> None:
        referral = self.session.exec(
            select(Referral).where(
                Referral.conversation_id == self.conversation.id,
                Referral.partner_id == partner,
                Referral.state == "asked",
            )
        ).first()
        if referral is None:
            # Fail closed: a yes without a recorded question refers nothing.
            logs.event("effects.answer_without_question", conversation=self.conversation.id)
            return
        referral.state = state
        referral.answered_at = self.now
        if state == "accepted":
            counting.record_referral(self.services, self.session, self.conversation, partner,
                                  "accepted")
            self.conversation.queue = partner
            self.conversation.claimed_by_id = None
            self.conversation.claimed_at = None
            self.conversation.waiting_since = self.now
        self.live.append(
            LiveEvent.of(self.conversation, "referral", queue=partner,
                      state=state)
        )

    def _withdraw(self, partner: str) -> None:
        for referral in self.session.exec(
            select(Referral).where(
                Referral.conversation_id == self.conversation.id,
                Referral.partner_id == partner,
                Referral.state == "accepted",
            )
        ).all():
            referral.state = "withdrawn"
            referral.withdrawn_at = self.now
            counting.record_referral(self.services, self.session, self.conversation, partner,
                                  "withdrawn")
        if self.conversation.queue == partner:
            self.conversation.queue = "peer"
            self.conversation.claimed_by_id = None
            self.conversation.claimed_at = None
        self.live.append(
            LiveEvent.of(self.conversation, "referral", queue="peer",
                      state="withdrawn")
        )
