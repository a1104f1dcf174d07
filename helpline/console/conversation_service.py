"""Conversations as the console sees them: the one service layer the JSON API
(`conversation_routes`) and the HTML pages (`pages`) share.

Split by concern, gathered here so a route reads `svc.claim(...)`:

- `conversation_access`: who may see what (decided once, in SQL), the errors;
- `conversation_views`: lists, one conversation, saved replies, colleagues;
- `conversation_claims`: claim, release, transfer, close;
- `conversation_replies`: replies and retries;
- `conversation_annotations`: notes and labels;
- `conversation_referrals`: proposing a referral (the consent question);
- `content_warnings`: the content-warning flag.
"""

from __future__ import annotations

from helpline.console.content_warnings import set_content_warning
from helpline.console.conversation_access import (
    LABELS,
    PAGE_SIZE,
    VIEWS,
    Actor,
    View,
    require_reader,
    visible_conversation,
)
from helpline.console.conversation_annotations import add_note, set_labels
from helpline.console.conversation_claims import claim, close, release, transfer
from helpline.console.conversation_referrals import propose_referral
from helpline.console.conversation_replies import retry_message, send_message
from helpline.console.conversation_views import (
    Page,
    colleagues,
    get_conversation,
    list_conversations,
    record_open,
    saved_replies,
)

__all__ = [
    "LABELS",
    "PAGE_SIZE",
    "VIEWS",
    "Actor",
    "Page",
    "View",
    "add_note",
    "claim",
    "close",
    "colleagues",
    "get_conversation",
    "list_conversations",
    "propose_referral",
    "record_open",
    "release",
    "require_reader",
    "retry_message",
    "saved_replies",
    "send_message",
    "set_content_warning",
    "set_labels",
    "transfer",
    "visible_conversation",
]
