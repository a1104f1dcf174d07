"""Every stored column, classified. A column missing here fails the suite, so
nobody adds a field that stores personal data without saying so (and without
docs/privacy.md learning about it).

Classes:
  plain      - operational, no person's content or identifier
  encrypted  - AES-256-GCM envelope under the owner's data key
  wrapped    - a data key wrapped by the master key
  blind      - keyed HMAC (blind index / keyed hash), not reversible without the index key
  secret     - a one-way password hash
  aggregate  - identifier-free statistics
"""

from __future__ import annotations

import re

from sqlalchemy import create_engine, inspect

from helpline.store.migrate import upgrade

INVENTORY: dict[str, dict[str, str]] = {
    "alembic_version": {"version_num": "plain"},
    # A helpline's own business numbers and name (issue 17): the
    # organisation's public contact points, nobody's personal data.
    "helplines": {"id": "plain", "slug": "plain", "name": "plain",
                  "whatsapp_phone_number_id": "plain", "signal_number": "plain",
                  "policy": "plain", "created_at": "plain"},
    "memberships": {"id": "plain", "user_id": "plain", "helpline_id": "plain", "role": "plain",
                    "partner_id": "plain", "created_at": "plain"},
    "data_keys": {"id": "plain", "wrapped": "wrapped", "master_key_id": "plain",
                  "created_at": "plain"},
    "texters": {
        "helpline_id": "plain",
        "id": "plain", "blind_index": "blind", "pseudonym": "plain", "data_key_id": "plain",
        "channel": "plain", "reply_address": "encrypted", "language": "plain",
        "stopped": "plain", "practice": "plain", "pending_kind": "plain",
        "pending_partner": "plain", "pending_asked_at": "plain",
        "after_hours_notice_until": "plain", "created_at": "plain",
        "last_activity_at": "plain", "last_inbound_at": "plain", "alerts_since": "plain",
    },
    "safety_alerts": {"helpline_id": "plain", "id": "plain", "data_key_id": "plain",
                      "body": "encrypted",
                      "state": "plain", "drafted_by_id": "plain", "approved_by_id": "plain",
                      "created_at": "plain", "sent_at": "plain", "recipients": "plain"},
    "alert_deliveries": {"id": "plain", "alert_id": "plain", "message_id": "plain",
                         "texter_id": "plain"},
    "texter_identifiers": {"blind_index": "blind", "texter_id": "plain", "created_at": "plain"},
    "switch_codes": {"code_hash": "blind", "texter_id": "plain", "created_at": "plain",
                     "expires_at": "plain"},
    "conversations": {
        "helpline_id": "plain",
        "id": "plain", "texter_id": "plain", "channel": "plain", "queue": "plain",
        "priority": "plain", "status": "plain", "claimed_by_id": "plain", "claimed_at": "plain",
        "created_at": "plain", "last_message_at": "plain", "waiting_since": "plain",
        "first_response_at": "plain", "closed_at": "plain", "practice": "plain",
        "stats_flags": "plain",
        "content_warning": "plain",
    },
    "messages": {
        "id": "plain", "conversation_id": "plain", "texter_id": "plain", "direction": "plain",
        "kind": "plain", "body": "encrypted", "author_kind": "plain", "author_id": "plain",
        "status": "plain", "error_reason": "plain", "provider_ref": "blind",
        "created_at": "plain", "status_at": "plain", "provider_message_id": "encrypted",
    },
    "media": {
        "id": "plain", "message_id": "plain", "conversation_id": "plain", "texter_id": "plain",
        "kind": "plain", "state": "plain", "source": "encrypted", "content_type": "plain",
        "size": "plain", "content": "encrypted", "blob_ref": "plain", "attempts": "plain",
        "next_attempt_at": "plain", "locked_until": "plain", "error_reason": "plain",
        "created_at": "plain", "stored_at": "plain",
    },
    "inbox": {"id": "plain", "ref": "plain", "channel": "plain", "master_key_id": "plain",
              "wrapped_key": "wrapped", "body": "encrypted", "received_at": "plain",
              "attempts": "plain", "next_attempt_at": "plain", "locked_until": "plain"},
    "outbox": {
        "id": "plain", "message_id": "plain", "texter_id": "plain", "data_key_id": "plain",
        "payload": "encrypted", "channel": "plain", "kind": "plain", "state": "plain",
        "attempts": "plain", "next_attempt_at": "plain", "locked_until": "plain",
        "last_error": "plain", "buttons": "plain", "created_at": "plain",
    },
    "dedup_keys": {"key": "blind", "created_at": "plain"},
    "erased_keys": {"key_id": "plain", "erased_on": "plain"},
    "users": {
        "helpline_id": "plain",
        "id": "plain", "username": "plain", "alias": "plain", "role": "plain",
        "partner_id": "plain", "password_hash": "secret", "data_key_id": "plain",
        "totp_secret": "encrypted", "totp_last_step": "plain", "disabled": "plain",
        "ui_language": "plain", "created_at": "plain", "password_changed_at": "plain",
    },
    "volunteer_notifiers": {"user_id": "plain", "signal_target": "encrypted",
                            "quiet_from": "plain", "quiet_until": "plain",
                            "last_sent_at": "plain"},
    "referrals": {
        "id": "plain", "conversation_id": "plain", "texter_id": "plain", "partner_id": "plain",
        "state": "plain", "proposed_by": "plain", "proposed_by_id": "plain",
        "note": "encrypted", "shared": "plain", "asked_at": "plain", "answered_at": "plain",
        "withdrawn_at": "plain",
    },
    "notes": {"id": "plain", "conversation_id": "plain", "texter_id": "plain",
              "author_id": "plain", "audience": "plain", "body": "encrypted",
              "created_at": "plain"},
    "conversation_labels": {"id": "plain", "conversation_id": "plain", "texter_id": "plain",
                            "label": "plain", "created_at": "plain"},
    "alerts": {
        "helpline_id": "plain",
        "id": "plain", "kind": "plain", "channel": "plain", "created_at": "plain",
               "resolved_at": "plain"},
    "channel_pauses": {"helpline_id": "plain", "channel": "plain", "until": "plain",
                       "reason": "plain"},
    "stat_counts": {"helpline_id": "aggregate",
        "period": "aggregate", "bucket": "aggregate", "metric": "aggregate",
                    "dimension": "aggregate", "key": "aggregate", "count": "aggregate"},
    "stat_partitions": {"helpline_id": "aggregate",
        "partition": "aggregate", "version": "aggregate",
                        "published_version": "aggregate", "group_key": "aggregate",
                        "published_at": "aggregate", "threshold": "aggregate",
                        "cost_ms": "aggregate"},
    "stat_published": {"helpline_id": "aggregate",
        "period": "aggregate", "bucket": "aggregate", "metric": "aggregate",
                       "dimension": "aggregate", "key": "aggregate", "partition": "aggregate",
                       "value": "aggregate"},
    "sessions": {"helpline_id": "plain", "id": "blind", "user_id": "plain", "created_at": "plain",
                 "last_seen_at": "plain"},
    "audit_log": {
        "helpline_id": "plain",
        "id": "plain", "at": "plain", "actor_id": "plain", "action": "plain",
                  "object_ref": "plain"},
    "login_failures": {"id": "plain", "scope": "plain", "key": "blind", "at": "plain"},
    "saved_replies": {
        "helpline_id": "plain",
        "id": "plain", "language": "plain", "title": "plain", "body": "plain",
                      "created_at": "plain", "updated_at": "plain"},
}

# Names that would betray an identifier or a network trace stored in clear.
FORBIDDEN = re.compile(
    r"(^|_)(ip|ip_address|remote_addr|user_agent|phone|number|msisdn|wa_id|uuid|"
    r"profile|name|email|address)($|_)"
)
ALLOWED_NAMES = {("users", "username"), ("texters", "reply_address"), ("helplines", "name"),
                 ("helplines", "whatsapp_phone_number_id"), ("helplines", "signal_number")}


def test_every_column_is_classified(database_url: str) -> None:
    engine = create_engine(database_url)
    upgrade(engine)
    inspector = inspect(engine)
    found = {t: {c["name"] for c in inspector.get_columns(t)} for t in inspector.get_table_names()}
    engine.dispose()
    assert set(found) == set(INVENTORY), "tables differ from the data inventory"
    for table, columns in found.items():
        assert columns == set(INVENTORY[table]), f"{table}: columns differ from the inventory"


def test_no_column_is_named_like_an_identifier_in_clear() -> None:
    for table, columns in INVENTORY.items():
        for column, klass in columns.items():
            if FORBIDDEN.search(column) and (table, column) not in ALLOWED_NAMES:
                raise AssertionError(f"{table}.{column} looks like an identifier ({klass})")
            if (table, column) in ALLOWED_NAMES and table == "texters":
                assert klass == "encrypted"
