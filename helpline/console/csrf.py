"""CSRF and Origin checks for every unsafe console request, app-wide.

An ASGI middleware rather than a per-route dependency, so a route added
tomorrow is covered without anyone remembering to. For any method other than
GET/HEAD/OPTIONS under `/api` or `/console`:

1. no session cookie -> 401 (nothing to forge; the contract's anonymous answer);
2. `Origin` must equal HELPLINE_PUBLIC_URL, or when unset the request's own
   scheme and host -> else 403 (SameSite=Strict already stops most cross-site
   posts; this also stops a sibling origin and old browsers);
3. `X-CSRF-Token` must equal the session's token
   (`helpline.console.sessions.csrf_token_for`) -> else 403.

Sign-in (`TOKEN_EXEMPT_PATHS`) has no session yet: it gets the Origin check only.
Webhooks live under `/webhooks` and are authenticated by signatures instead.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from helpline.console import sessions
from helpline.http import SecurityHeaders
from helpline.services import Services

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PROTECTED_PREFIXES = ("/api", "/console")
TOKEN_EXEMPT_PATHS = frozenset({"/api/auth/login"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def is_protected(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in PROTECTED_PREFIXES)


def normalise_origin(value: str | None) -> str | None:
    """`scheme://host[:port]` lowercased, default port dropped; None if not an origin."""
    if not value:
        return None
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def expected_origin(services: Services, conn: HTTPConnection) -> str | None:
    if services.settings.public_url:
        return normalise_origin(services.settings.public_url)
    host = conn.headers.get("host")
    if not host:
        return None
    return normalise_origin(f"{conn.url.scheme}://{host}")


class CsrfMiddleware:
    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"].upper() not in SAFE_METHODS
            and is_protected(scope["path"])
        ):
            refusal = self.refusal(HTTPConnection(scope), scope["path"])
            if refusal is not None:
                # This middleware sits outside SecurityHeaders (it is added
                # later), so its own answers get the headers explicitly.
                await SecurityHeaders(refusal)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, conn: HTTPConnection, path: str) -> JSONResponse | None:
        exempt = path in TOKEN_EXEMPT_PATHS
        token = conn.cookies.get(sessions.cookie_name(self.services.settings))
        if not exempt and not token:
            return JSONResponse({"error": "not signed in"}, status_code=401)
        origin = normalise_origin(conn.headers.get("origin"))
        expected = expected_origin(self.services, conn)
        if origin is None or expected is None or origin != expected:
            return JSONResponse({"error": "origin not allowed"}, status_code=403)
        if exempt:
            return None
        if token is None or not sessions.csrf_matches(
            self.services, token, conn.headers.get("x-csrf-token")
        ):
            return JSONResponse({"error": "missing or wrong CSRF token"}, status_code=403)
        return None
