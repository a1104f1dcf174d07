"""Webhook routes: verify → parse → intake (one transaction) → 200.

Authentic but unusable bodies get 200 (a platform would otherwise retry them
for days); a wrong signature 401; an oversized body 413 before parsing; a
database that cannot store 503, so the platform retries later.
Request bodies are never logged.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from helpline import intake, logs
from helpline.channels.base import Channel, InboundEvent, MalformedPayload
from helpline.errors import NotFound
from helpline.group_commit import GroupCommit
from helpline.http import ServicesDep, read_capped
from helpline.services import Services

router = APIRouter(tags=["webhooks"])


def _channel(services: ServicesDep, name: str) -> Channel:
    channel = services.channels.get(name)
    if channel is None:
        raise NotFound()
    return channel


async def _receive(request: Request, services: ServicesDep, name: str) -> Response:
    channel = _channel(services, name)
    body = await read_capped(request, services.settings.webhook_max_bytes)
    channel.verify(request.headers, request.query_params, body)
    try:
        events = channel.parse(body)
    except MalformedPayload:
        logs.event("webhook.malformed", logging.INFO, channel=name)
        return Response(status_code=200)
    await _store(request, services, name, events)
    return Response(status_code=200)


async def _store(
    request: Request, services: Services, name: str, events: list[InboundEvent]
) -> None:
    if services.db.is_sqlite:
        # SQLite writes one transaction at a time anyway: stored here, on the
        # event loop, with whatever else arrived meanwhile in the same
        # transaction (helpline/group_commit.py). That skips handing the work
        # to a thread and back; under load those hand-offs queued behind the
        # GIL and cost seconds of latency (benchmarks/README.md, webhook
        # ingest). The price: while another process (a separate worker,
        # `helpline purge`) holds the write lock, this process waits for it
        # as a whole, for milliseconds (a purge batch: tens of them).
        group: GroupCommit = request.app.state.group_commit
        await group.store(name, events)
        return
    await run_in_threadpool(intake.receive, services, name, events)


@router.get("/webhooks/whatsapp", response_class=PlainTextResponse)
async def whatsapp_handshake(request: Request, services: ServicesDep) -> PlainTextResponse:
    from helpline.channels.whatsapp_cloud import WhatsAppCloud

    channel = _channel(services, "whatsapp")
    if not isinstance(channel, WhatsAppCloud):
        raise NotFound()
    return PlainTextResponse(channel.handshake(request.query_params))


@router.post("/webhooks/whatsapp")
async def whatsapp_webhook(request: Request, services: ServicesDep) -> Response:
    return await _receive(request, services, "whatsapp")


@router.post("/webhooks/signal")
async def signal_webhook(request: Request, services: ServicesDep) -> Response:
    return await _receive(request, services, "signal")
