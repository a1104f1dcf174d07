"""HTTP plumbing shared by every route: security headers, error rendering,
body size cap, and the `Annotated` dependency aliases."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from helpline import logs
from helpline.errors import HelplineError
from helpline.services import Services

# Nothing from other origins, no inline script or style: a message body that
# smuggles markup can neither run nor phone home (DESIGN invariant 7).
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
]
_OURS = frozenset(h for h, _ in SECURITY_HEADERS)
_SIMULATOR_PERMISSIONS = b"camera=(), microphone=(self), geolocation=(), interest-cohort=()"


class SecurityHeaders:
    """Pure ASGI middleware, so every response gets the headers: errors,
    JSON, streaming (server-sent events) and static files alike."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() not in _OURS
                ]
                headers.extend(SECURITY_HEADERS)
                if str(scope.get("path", "")) == "/simulator":
                    # The simulator records a voice note from its own page; every
                    # other page keeps the microphone off.
                    headers = [(k, v) for k, v in headers if k != b"permissions-policy"]
                    headers.append((b"permissions-policy", _SIMULATOR_PERMISSIONS))
                if not any(k.lower() == b"cache-control" for k, _ in headers):
                    path: str = scope.get("path", "")
                    if not path.startswith("/static/"):
                        headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class SafeJSONResponse(JSONResponse):
    """JSON that always encodes: a lone surrogate that slipped into stored
    text becomes U+FFFD instead of a 500 for everyone who opens it."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            return text.encode("utf-8", "replace")


# Console and API bodies are small (a note is at most 4,000 characters); the
# webhooks are answered before this layer, with their own cap.
REQUEST_MAX_BYTES = 64 * 1024
# Photo and PDF uploads (a reply's attachment, the simulator's media) are the
# only larger bodies; their routes cap them again with read_capped.
UPLOAD_MAX_BYTES = 12 * 1024 * 1024
_UPLOAD_PATHS = re.compile(r"/api/conversations/[^/]+/attachments|/simulator/api/media")
# An oversized body is read up to this much more and dropped, so the client
# gets its 413 instead of a reset connection; beyond it the connection closes.
_DRAIN_MAX_BYTES = 1024 * 1024


class BodyCap:
    """413 with a clear error for any body above REQUEST_MAX_BYTES, before a
    route parses it. Pure ASGI: the body is buffered (it is small) and
    replayed to the app."""

    def __init__(self, app: ASGIApp, limit: int = REQUEST_MAX_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        if str(scope.get("path", "")).startswith("/webhooks/"):
            await self.app(scope, receive, send)
            return
        if _UPLOAD_PATHS.fullmatch(str(scope.get("path", ""))):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length", b"")
        too_large = declared.isdigit() and int(declared) > self.limit
        chunks: list[bytes] = []
        size = 0
        more = not too_large or int(declared) <= _DRAIN_MAX_BYTES
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                too_large = True
                chunks = []
            elif not too_large:
                chunks.append(chunk)
            more = message.get("more_body", False) and size <= _DRAIN_MAX_BYTES
        if too_large:
            response = SafeJSONResponse(
                {"error": f"request body too large (at most {self.limit} bytes)"},
                status_code=413,
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class CatchAll:
    """A server error answered inside the middleware stack: Starlette's own
    last-resort handler sits outside every middleware, so its 500 had no
    security headers, and it re-raised, which reset the connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:  # noqa: BLE001 - answered, logged by type only
            logs.event("http.unhandled", status=500, kind=type(exc).__name__,
                       path=scope.get("path", ""))
            if not started:
                response = SafeJSONResponse({"error": "internal error"}, status_code=500)
                await response(scope, receive, send)


class BodyTooLarge(HelplineError):
    status_code = 413
    public_message = "request body too large"


class ClientGone(HelplineError):
    # 499 in nginx's sense: nobody is left to read the answer. Without this a
    # sender that hangs up mid-body left a server-error traceback in the log.
    status_code = 400
    public_message = "request body incomplete"


async def read_capped(request: Request, limit: int) -> bytes:
    """Read at most `limit` bytes; refuse more before parsing anything."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge()
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge()
            chunks.append(chunk)
    except ClientDisconnect as exc:
        raise ClientGone() from exc
    return b"".join(chunks)


async def helpline_error_handler(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, HelplineError):
        return await unhandled_error_handler(request, exc)
    headers = {"Retry-After": "5"} if exc.status_code == 503 else None
    if exc.status_code >= 500:
        logs.event("http.error", status=exc.status_code, kind=type(exc).__name__,
                   path=request.url.path)
    said = str(exc) if exc.explains else exc.public_message
    return SafeJSONResponse({**exc.details(), "error": said},
                            status_code=exc.status_code,
                            headers=headers)


async def unhandled_error_handler(request: Request, exc: Exception) -> JSONResponse:
    # The type only: messages and tracebacks may quote personal data.
    logs.event("http.unhandled", status=500, kind=type(exc).__name__, path=request.url.path)
    return SafeJSONResponse({"error": "internal error"}, status_code=500)


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """422 naming the fields and what is wrong, never echoing the input
    (FastAPI's default quotes it back: a note's text, or a lone surrogate
    that cannot even be encoded)."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    fields = [
        {
            "field": ".".join(str(part) for part in error.get("loc", ())),
            "message": str(error.get("msg", "invalid")),
        }
        for error in errors[:20]
    ]
    return SafeJSONResponse({"error": "invalid request", "fields": fields}, status_code=422)


async def get_services(request: Request) -> Services:
    # async on purpose: FastAPI runs a plain `def` dependency in a worker
    # thread, and this one was a thread hand-off on every request (every
    # webhook) just to read app.state.
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

__all__ = ["Any", "ServicesDep"]
