"""Webhook routes: verify → seal and append to the inbox → 200; the inbox
processor then parses and runs intake (helpline/ingest/inbox.py).

Authentic but unusable bodies get 200 (a platform would otherwise retry them
for days) and are dropped by the processor with a log line; a wrong signature
401; an oversized body 413 before anything else; a database that cannot
store 503, so the platform retries later. Request bodies are never logged.

Deliveries are answered by `HelplineApp`, ahead of FastAPI's middleware and
router; the routes below answer the same way where that lane does not apply
(an app mounted under a root path) and describe the API.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from helpline.channels.base import Channel
from helpline.errors import HelplineError, NotFound
from helpline.http import (
    SecurityHeaders,
    ServicesDep,
    helpline_error_handler,
    read_capped,
    unhandled_error_handler,
)
from helpline.ingest.group_commit import GroupCommit
from helpline.ingest.inbox import Inbox
from helpline.services import Services

router = APIRouter(tags=["webhooks"])


def _channel(services: Services, name: str) -> Channel:
    channel = services.channels.get(name)
    if channel is None:
        raise NotFound()
    return channel


async def _receive(request: Request, name: str) -> Response:
    # No dependency injection on this route: resolving it was a measurable
    # share of answering a webhook (benchmarks/README.md, webhook ingest).
    services: Services = request.app.state.services
    channel = _channel(services, name)
    body = await read_capped(request, services.settings.webhook_max_bytes)
    channel.verify(request.headers, request.query_params, body)
    # Parsing, storing and routing happen right behind the answer, in the
    # inbox processor (helpline/ingest/inbox.py); what a platform needs to know is
    # that the delivery is durable.
    inbox: Inbox = request.app.state.inbox
    group: GroupCommit = request.app.state.group_commit
    await group.append(inbox.seal(name, body))
    return Response(status_code=200)


@router.get("/webhooks/whatsapp", response_class=PlainTextResponse)
async def whatsapp_handshake(request: Request, services: ServicesDep) -> PlainTextResponse:
    from helpline.channels.whatsapp_cloud import WhatsAppCloud

    channel = _channel(services, "whatsapp")
    if not isinstance(channel, WhatsAppCloud):
        raise NotFound()
    return PlainTextResponse(channel.handshake(request.query_params))


@router.post("/webhooks/whatsapp")
async def whatsapp_webhook(request: Request) -> Response:
    return await _receive(request, "whatsapp")


@router.post("/webhooks/signal")
async def signal_webhook(request: Request) -> Response:
    return await _receive(request, "signal")


_DELIVERIES = {"/webhooks/whatsapp": "whatsapp", "/webhooks/signal": "signal"}


class HelplineApp(FastAPI):
    """FastAPI, except that webhook deliveries are answered before its
    middleware stack and router.

    Why: under load, answering webhooks is what the platforms time, and
    FastAPI's layers (error and telemetry middleware, matching the path
    against every console route, solving the endpoint's signature) cost
    nearly half of a webhook's answer in process (benchmarks/README.md,
    webhook ingest). The answer is the one the routes above give (same
    handler, error handlers and security headers); any other request, and a
    delivery under a root path, goes the usual way."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            name = _DELIVERIES.get(scope["path"])
            if name is not None:
                await _answer_delivery(self, scope, receive, send, name)
                return
        await super().__call__(scope, receive, send)


async def _answer_delivery(
    app: FastAPI, scope: Scope, receive: Receive, send: Send, name: str
) -> None:
    scope["app"] = app
    request = Request(scope, receive)
    try:
        response = await _receive(request, name)
    except HelplineError as exc:
        response = await helpline_error_handler(request, exc)
    except Exception as exc:  # noqa: BLE001 - a 500 like any route's, never a traceback
        response = await unhandled_error_handler(request, exc)
    await SecurityHeaders(response)(scope, receive, send)
