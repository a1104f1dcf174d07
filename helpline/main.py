"""`create_app(settings)` and the lifespan (HTTP clients, worker, receivers)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

import httpx
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import text

from helpline import logs
from helpline.channels.base import ChannelName, InboundEvent
from helpline.config import Settings
from helpline.errors import HelplineError
from helpline.http import (
    BodyCap,
    CatchAll,
    SafeJSONResponse,
    SecurityHeaders,
    helpline_error_handler,
    unhandled_error_handler,
    validation_error_handler,
)
from helpline.ingest import inbox as inbox_module
from helpline.ingest import webhooks
from helpline.ingest.group_commit import GroupCommit
from helpline.outbound import outbox
from helpline.services import Services, build_services
from helpline.store.db import utcnow
from helpline.store.migrate import is_current
from routing.model import Policy

_TLS: ssl.SSLContext | None = None


def tls_context() -> ssl.SSLContext:
    """One verified TLS context per process (building one loads the CA store)."""
    global _TLS
    if _TLS is None:
        _TLS = ssl.create_default_context()
    return _TLS


def build_channels(services: Services, client: httpx.AsyncClient) -> None:
    settings = services.settings
    if settings.whatsapp_enabled:
        from helpline.channels.whatsapp_cloud import WhatsAppCloud

        secret = settings.whatsapp_app_secret
        services.channels[ChannelName.WHATSAPP] = WhatsAppCloud(
            app_secret=secret.get_secret_value() if secret else "",
            verify_token=(
                settings.whatsapp_verify_token.get_secret_value()
                if settings.whatsapp_verify_token
                else None
            ),
            access_token=(
                settings.whatsapp_access_token.get_secret_value()
                if settings.whatsapp_access_token
                else None
            ),
            phone_number_id=settings.whatsapp_phone_number_id,
            api_url=settings.whatsapp_api_url,
            client=client,
            template_name=settings.whatsapp_template,
            template_language=settings.whatsapp_template_language,
        )
    if settings.signal_enabled and settings.signal_api_url:
        from helpline.channels.signal_cli import SignalCli

        signal = SignalCli(
            api_url=settings.signal_api_url,
            number=settings.signal_number.get_secret_value() if settings.signal_number else "",
            webhook_token=(
                settings.signal_webhook_token.get_secret_value()
                if settings.signal_webhook_token
                else None
            ),
            client=client,
        )
        signal.numbers = lambda: services.helplines.accounts("signal")
        signal.known = lambda account: services.helplines.knows("signal", account)
        services.channels[ChannelName.SIGNAL] = signal
    if settings.simulator or settings.demo:
        from helpline.channels.simulator import SimulatorChannel

        services.channels[ChannelName.SIMULATOR] = SimulatorChannel(clock=services.clock)
    if settings.webchat:
        from helpline.channels.webchat import WebChatChannel
        from helpline.outbound.status import provider_ref

        services.channels[ChannelName.WEBCHAT] = WebChatChannel(
            clock=services.clock,
            ref_of=lambda provider_id: provider_ref(services, ChannelName.WEBCHAT.value,
                                                    provider_id),
        )


async def poll_signal(services: Services, stop: asyncio.Event) -> None:
    """normal/native mode: signal-cli-rest-api has no push, so we fetch.

    What one poll returns is gone from the bridge, so a batch is kept in memory
    and handed to intake again until it is stored (database down: 503 for a
    webhook, here a retry loop).
    """
    from starlette.concurrency import run_in_threadpool

    from helpline.channels.signal_cli import SignalCli
    from helpline.errors import ServiceUnavailable
    from helpline.ingest import intake

    channel = services.channels.get(ChannelName.SIGNAL)
    if not isinstance(channel, SignalCli):
        return
    pending: list[InboundEvent] = []
    while not stop.is_set():
        try:
            # Every helpline's number on the bridge, each its own queue there.
            for number in sorted(services.helplines.accounts("signal")):
                if not pending:
                    pending = await channel.receive(number)
                if pending:
                    await run_in_threadpool(intake.receive, services, "signal", pending)
                    pending = []
        except ServiceUnavailable:
            logs.event("signal.poll_store_retry", count=len(pending))
            await asyncio.sleep(2)
            continue
        except Exception as exc:  # noqa: BLE001 - keep polling; unfetched messages stay on the bridge
            logs.event("signal.poll_error", error=type(exc).__name__)
            await asyncio.sleep(5)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)


def create_app(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utcnow,
    policy: Policy | None = None,
    http_client: httpx.AsyncClient | None = None,
    run_worker: bool | None = None,
    run_inbox: bool = True,
) -> FastAPI:
    logs.configure(settings.log_level)
    services = build_services(settings, clock=clock, policy=policy)
    client = http_client or httpx.AsyncClient(
        timeout=httpx.Timeout(15.0, connect=5.0), verify=tls_context()
    )
    build_channels(services, client)
    worker_enabled = settings.embedded_worker if run_worker is None else run_worker
    inbox = inbox_module.Inbox(services)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services.bus.bind(asyncio.get_running_loop())
        stop = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        for starter in app.state.startup_hooks:
            await starter(services, stop, tasks)
        # The inbox processor: on SQLite always here, where the console's
        # live events must be raised; on PostgreSQL with the worker (a
        # separate `helpline worker` takes it, and announces its events by
        # NOTIFY).
        if run_inbox and (services.db.is_sqlite or worker_enabled):
            tasks.append(asyncio.create_task(inbox_module.run_processor(inbox, stop)))
        if worker_enabled:
            tasks.append(asyncio.create_task(outbox.run_worker(services, stop)))
        if ChannelName.SIGNAL in services.channels and settings.signal_receive == "poll":
            tasks.append(asyncio.create_task(poll_signal(services, stop)))
        try:
            yield
        finally:
            stop.set()
            services.wakeup.set()
            if inbox.wake is not None:
                inbox.wake.set()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(task, timeout=10)
            if http_client is None:
                await client.aclose()
            await app.state.group_commit.aclose()
            inbox.dispose()
            services.db.dispose()

    app = webhooks.HelplineApp(
        title="Helpline",
        version="0.1.0",
        lifespan=lifespan,
        # Served by helpline/console/api_docs.py, for admins, when
        # HELPLINE_API_DOCS is on; app.openapi() still builds the description.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        default_response_class=SafeJSONResponse,
    )
    app.state.services = services
    app.state.inbox = inbox
    app.state.group_commit = GroupCommit(inbox)
    app.state.startup_hooks = []
    app.add_exception_handler(HelplineError, helpline_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(Exception, unhandled_error_handler)
    # Outermost first in effect: SecurityHeaders wraps CatchAll wraps BodyCap,
    # so a 413 and a 500 carry the headers too.
    app.add_middleware(BodyCap)
    app.add_middleware(CatchAll)
    app.add_middleware(SecurityHeaders)
    app.include_router(webhooks.router)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> JSONResponse:
        try:
            # Reads only: a monitor must not queue behind intake's writes.
            with services.db.read_engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            current = is_current(services.db.read_engine)
        except Exception:  # noqa: BLE001 - report, never raise
            return JSONResponse({"status": "unavailable", "database": False}, status_code=503)
        if not current:
            return JSONResponse({"status": "migrations pending", "database": True},
                                status_code=503)
        try:
            backlog = inbox.backlog()
        except Exception:  # noqa: BLE001 - report, never raise
            return JSONResponse({"status": "inbox unavailable", "database": True},
                                status_code=503)
        body = {"status": "ok", "database": True, "inbox": backlog.as_json()}
        if backlog.stalled(settings.inbox_max_age_seconds):
            # Deliveries are acknowledged but nobody processes them: take this
            # instance out of rotation so that someone looks.
            return JSONResponse({**body, "status": "inbox stalled"}, status_code=503)
        return JSONResponse(body)

    _install_parts(app)
    return app


def _install_parts(app: FastAPI) -> None:
    """Each part registers its own routes (and static files, startup hooks)."""
    from helpline.console import routes as console_routes
    from helpline.lifecycle import routes as lifecycle_routes
    from helpline.ops import simulator_routes
    from helpline.stats import national_routes
    from helpline.stats import pages as stats_pages
    from helpline.stats import routes as stats_routes
    from helpline.webchat import routes as webchat_routes

    for part in (console_routes, stats_routes, stats_pages, national_routes, simulator_routes,
                 lifecycle_routes, webchat_routes):
        part.install(app)


def run_server(settings: Settings, host: str, port: int) -> int:
    import gc

    import uvicorn

    from helpline.store.db import make_engine
    from helpline.store.migrate import upgrade

    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    app = create_app(settings)
    # Everything built so far (modules, mappers, routes) lives as long as the
    # process: keep it out of the cyclic collector's full passes, which
    # otherwise paused the server for about 100 ms at a time under load.
    gc.freeze()
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False,
                proxy_headers=True, server_header=False)
    return 0
