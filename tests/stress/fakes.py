"""Fake platforms on localhost that misbehave on request.

`FaultyPlatform` answers every POST through a `script(n, path, body)` that
returns an `Action`: a normal answer, a status code (with headers such as
Retry-After), a slow answer, or a connection reset. Every request is recorded
(path, JSON body, monotonic time) before the action runs, so a test can count
what the platform received even when the caller never saw the answer.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.process.fakes import free_port


@dataclass(frozen=True)
class Action:
    status: int = 200
    delay: float = 0.0
    reset: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None


OK = Action()
Script = Callable[[int, str, dict[str, Any]], Action]


def graph_ok(n: int, body: dict[str, Any]) -> dict[str, Any]:
    """Graph API's documented answer to POST /{phone_number_id}/messages."""
    return {"messaging_product": "whatsapp",
            "contacts": [{"input": body.get("to"), "wa_id": body.get("to")}],
            "messages": [{"id": f"wamid.FAKE{n}"}]}


def signal_ok(n: int, body: dict[str, Any]) -> dict[str, Any]:
    """signal-cli-rest-api's answer to POST /v2/send."""
    return {"timestamp": str(1764072000000 + n)}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # resets are deliberate; nothing to print


class FaultyPlatform:
    def __init__(self, script: Script | None = None,
                 ok: Callable[[int, dict[str, Any]], dict[str, Any]] = graph_ok,
                 prefix: str = "/v23.0") -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: Script = script or (lambda n, path, body: OK)
        self._lock = threading.Lock()
        self.prefix = prefix
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length) or b"{}"
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {}
                with fake._lock:
                    n = len(fake.requests) + 1
                    fake.requests.append({"path": self.path, "json": body,
                                          "at": time.monotonic(), "n": n})
                action = fake.script(n, self.path, body)
                if action.delay:
                    time.sleep(action.delay)
                if action.reset:
                    # RST instead of FIN: the client sees "connection reset".
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.close()
                    return
                payload = action.body if action.body is not None else (
                    ok(n, body) if action.status < 400
                    else {"error": {"message": "fake failure", "code": action.status}})
                encoded = json.dumps(payload).encode()
                self.send_response(action.status)
                for name, value in action.headers.items():
                    self.send_header(name, value)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(encoded)))
                self.end_headers()
                self.wfile.write(encoded)

            def log_message(self, *args: object) -> None:
                return

        self.port = free_port()
        self.server = _Server(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    def __enter__(self) -> FaultyPlatform:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def texts(self) -> list[tuple[str, str]]:
        """(recipient, text or template name) of every request received."""
        out = []
        for r in self.requests:
            body = r["json"]
            to = str(body.get("to") or body.get("recipient") or body.get("recipients"))
            text = (body.get("text") or {}).get("body") or body.get("message") or (
                (body.get("template") or {}).get("name")) or json.dumps(body.get("interactive"))
            out.append((to, str(text)))
        return out
