"""Peer-safety tables (issue 18): move codes to Signal, safety alerts and
their deliveries, volunteers' notification settings. Every column is
classified in `tests/store/test_data_inventory.py`; `helpline.store.models`
imports this module, so the tables are registered with the others."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, String
from sqlmodel import Field, SQLModel

from helpline.store.columns import blob, new_id, owner, ts


class SwitchCode(SQLModel, table=True):
    """A one-time code that moves a WhatsApp texter to Signal (issue 18). Only
    a keyed hash of the code is kept, so a copy of the database cannot be used
    to take over someone's conversation; the row goes when the code is used,
    when a new code replaces it, and with the texter."""

    __tablename__ = "switch_codes"
    code_hash: str = Field(sa_column=Column(String(64), primary_key=True))
    texter_id: str = Field(foreign_key="texters.id", max_length=32, index=True)
    created_at: datetime = ts()
    expires_at: datetime = ts()


class SafetyAlert(SQLModel, table=True):
    """A warning about a dangerous client, drafted by a volunteer from a report
    and sent to the subscribers after a second person approved it (issue 18).
    The masked text is sealed under the alert's own data key; the row names
    no conversation or reporter (who drafted and approved is in the audit
    log and here as account ids)."""

    __tablename__ = "safety_alerts"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    helpline_id: str = owner()
    data_key_id: str = Field(foreign_key="data_keys.id", max_length=32)
    body: bytes = blob()
    state: str = Field(default="draft", max_length=12)  # draft / sent / discarded
    drafted_by_id: str | None = Field(default=None, foreign_key="users.id", max_length=32)
    approved_by_id: str | None = Field(default=None, foreign_key="users.id", max_length=32)
    created_at: datetime = ts()
    sent_at: datetime | None = ts(nullable=True, index=True)
    recipients: int = 0


class AlertDelivery(SQLModel, table=True):
    """Which message carried an alert to a subscriber: only ever counted by
    status, never listed (the console shows counts, not recipients). Deleted
    with the texter."""

    __tablename__ = "alert_deliveries"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    alert_id: str = Field(foreign_key="safety_alerts.id", index=True, max_length=32)
    message_id: str = Field(foreign_key="messages.id", max_length=32)
    texter_id: str = Field(foreign_key="texters.id", index=True, max_length=32)


class VolunteerNotifier(SQLModel, table=True):
    """Where a volunteer wants content-free "someone is waiting" notifications
    (issue 18): their Signal number sealed under the account's own data key,
    as texters' identifiers are, and quiet hours ("HH:MM" local time)."""

    __tablename__ = "volunteer_notifiers"
    user_id: str = Field(foreign_key="users.id", primary_key=True, max_length=32)
    signal_target: bytes = blob()
    quiet_from: str | None = Field(default=None, max_length=5)
    quiet_until: str | None = Field(default=None, max_length=5)
    last_sent_at: datetime | None = ts(nullable=True)
