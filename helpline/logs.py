"""Structured logging: one JSON line per event, event names and internal ids only.

Log lines are a classic leak in this field (a webhook body in a debug log is a
list of phone numbers and what they said). So call sites pass an event name and
a few internal ids; `event()` refuses any field that is not on the allow-list,
and nothing here ever formats a request body.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

ALLOWED_FIELDS = frozenset(
    {
        "conversation",
        "message",
        "outbox",
        "inbox",
        "media",  # a media row's random id
        "texter",
        "pseudonym",
        "user",
        "channel",
        "count",
        "stored",
        "duplicates",
        "statuses",
        "ignored",
        "reason",
        "detail",  # a fixed event name beside a reason word (intake.ignored)
        "state",
        "attempt",
        "delay",
        "status",
        "role",
        "action",
        "partner",
        "queue",
        "kind",
        "seconds",
        "path",
        "method",
        "batch",
        "done",
        "total",
        "error",
        "port",
        "host",
        "helpline",  # a helpline's slug: a region of the organisation, nobody's data
    }
)

_logger = logging.getLogger("helpline")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            payload.update(fields)
        if record.exc_info and record.exc_info[0] is not None:
            # The exception type only: messages and tracebacks may quote data.
            payload["exception"] = record.exc_info[0].__name__
        return json.dumps(payload, ensure_ascii=False, default=str)


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.set_name("helpline-stderr")
    root = logging.getLogger("helpline")
    # Replace our own handler only (configure runs once per app), keep others.
    root.handlers[:] = [h for h in root.handlers if h.get_name() != "helpline-stderr"] + [handler]
    root.setLevel(level)
    root.propagate = False
    # Access logs carry client addresses and full URLs (with ?token=): off.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("httpx").setLevel(logging.WARNING)


def event(name: str, level: int = logging.INFO, **fields: Any) -> None:
    unknown = set(fields) - ALLOWED_FIELDS
    if unknown:
        raise ValueError(f"log field not allowed: {sorted(unknown)}")
    _logger.log(level, name, extra={"fields": fields})
