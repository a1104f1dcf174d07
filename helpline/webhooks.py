"""Webhook routes: verify → seal and append to the inbox → 200; the inbox
processor then parses and runs intake (helpline/inbox.py).

Authentic but unusable bodies get 200 (a platform would otherwise retry them
for days) and are dropped by the processor with a log line; a wrong signature
401; an oversized body 413 before anything else; a database that cannot
store 503, so the platform retries later. Request bodies are never logged.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from helpline.channels.base import Channel
from helpline.errors import NotFound
from helpline.group_commit import GroupCommit
from helpline.http import ServicesDep, read_capped
from helpline.inbox import Inbox
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
    # inbox processor (helpline/inbox.py); what a platform needs to know is
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
