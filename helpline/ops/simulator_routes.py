"""Routes of the simulator page (`/simulator`), active only when
`HELPLINE_SIMULATOR=true` or in `helpline demo`; otherwise every route is 404.

The page is the simulated phone. It posts what the texter types to
`POST /simulator/api/messages` (through `SimulatorChannel.verify/parse` into the
same `intake.receive` as a webhook) and reads its own conversation back from
`GET /simulator/api/messages`: inbound messages, plus replies once the outbox
worker has handed them to `SimulatorChannel.send`. A server-sent event stream
tells it when to read again, so the bot's and the volunteers' answers appear
live. Nothing here needs a console session: like a webhook, the simulator plays
the outside world; the volunteer side stays behind the console's login.

With several helplines the texter picks whose number to write to
(`?helpline=<slug>` on every call, the default helpline without it): the
message is filed under that helpline only, as a delivery to its WhatsApp or
Signal number would be, and the phone reads back that helpline's texter
(its own blind-index domain). An unknown slug is 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import tomllib
from collections.abc import AsyncIterator
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import jinja2
from fastapi import APIRouter, Cookie, Depends, FastAPI, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from sqlmodel import select
from starlette.concurrency import run_in_threadpool

from helpline.channels.base import ChannelName, DeliveryStatus, MalformedPayload
from helpline.channels.simulator import SESSION_RE, SimulatorChannel, session_address
from helpline.console.deps import OptionalUser
from helpline.console.placeholders import PLACEHOLDERS
from helpline.errors import HelplineError, NotFound
from helpline.helplines import HelplineConfig
from helpline.http import ServicesDep, read_capped
from helpline.ingest import intake
from helpline.live.bus import LiveEvent
from helpline.ops import simulator_strings
from helpline.outbound.status import provider_ref
from helpline.services import Services
from helpline.store.models import DEFAULT_HELPLINE_ID, Conversation, Message, OutboxItem, Texter

PACKAGE = Path(__file__).resolve().parent.parent
TEMPLATES = PACKAGE.parent / "templates" / "console"
STATIC = PACKAGE / "static"
SCRIPTS_FILE = PACKAGE / "data" / "practice_scripts.toml"
MAX_POST = 64 * 1024
_MEDIA_LABELS = {kind: PLACEHOLDERS[kind]
                 for kind in ("image", "audio", "video", "document", "sticker")}
MAX_MEDIA_POST = 9 * 1024 * 1024  # base64 of the channel's 8 MB plus the JSON around it
# Replies the page may show: the worker has handed them to the channel.
SHOWN = ("sent", "delivered", "read")


class BadSimulatorPost(HelplineError):
    status_code = 400
    public_message = "not a simulator message"


class BadSession(HelplineError):
    status_code = 400
    public_message = "missing or malformed simulator session"


def enabled(services: Services) -> bool:
    settings = services.settings
    return settings.simulator or settings.demo


def channel_of(services: ServicesDep) -> SimulatorChannel:
    channel = services.channels.get(ChannelName.SIMULATOR)
    if not enabled(services) or not isinstance(channel, SimulatorChannel):
        raise NotFound()
    return channel


ChannelDep = Annotated[SimulatorChannel, Depends(channel_of)]


def helpline_of(
    services: ServicesDep, helpline: Annotated[str | None, Query(max_length=32)] = None
) -> HelplineConfig:
    """The helpline the simulated texter writes to: `?helpline=<slug>`, else
    the default one."""
    if helpline is None:
        return services.helpline(DEFAULT_HELPLINE_ID)
    found = services.helplines.by_slug(helpline)
    if found is None:
        raise NotFound()
    return found


HelplineDep = Annotated[HelplineConfig, Depends(helpline_of)]


def numbers(services: Services) -> list[dict[str, str | None]]:
    """What the page offers to write to: each helpline's name and numbers."""
    return [{"slug": h.slug, "name": h.name, "whatsapp": h.whatsapp_phone_number_id,
             "signal": h.signal_number} for h in services.helplines.all()]


@lru_cache(maxsize=1)
def practice_scripts() -> dict[str, Any]:
    """The scripted practice texters (helpline/data/practice_scripts.toml)."""
    with SCRIPTS_FILE.open("rb") as fh:
        data = tomllib.load(fh)
    languages = list(data.get("languages", []))
    scripts = []
    for raw in data.get("script", []):
        titles, lines = raw["title"], raw["lines"]
        scripts.append({"id": raw["id"], "title": dict(titles), "lines": dict(lines)})
    return {"languages": languages, "scripts": scripts}


@lru_cache(maxsize=1)
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(("html",)),
        undefined=jinja2.StrictUndefined,
    )


def _address(session: str | None, practice: bool) -> str:
    if not session or not SESSION_RE.match(session):
        raise BadSession()
    return session_address(session, practice=practice)


def _texter(
    services: Services, session: Any, address: str, helpline: HelplineConfig
) -> Texter | None:
    blind = helpline.index.compute(ChannelName.SIMULATOR.value, address)
    found: Texter | None = session.exec(select(Texter).where(
        Texter.blind_index == blind, Texter.helpline_id == helpline.id)).first()
    return found


def transcript(
    services: Services, channel: SimulatorChannel, address: str,
    helpline: HelplineConfig | None = None,
) -> dict[str, Any]:
    """The simulated phone's view of its conversation, decrypted for display.

    Replies still queued (or held) are not shown: a real phone has not
    received them either. Replies the page receives here for the first time
    are reported back as read, so the console shows the ticks a phone would.
    """
    helpline = helpline or services.helpline(DEFAULT_HELPLINE_ID)
    pending = channel.mailbox.take(address)
    read: list[str] = []
    with services.db.session() as session:
        texter = _texter(services, session, address, helpline)
        if texter is None:
            for provider_id in pending:
                channel.mailbox.put(address, provider_id)
            return {"pseudonym": None, "practice": False, "messages": []}
        key = services.vault.key(session, texter.data_key_id)
        rows = session.exec(
            select(Message)
            .where(Message.texter_id == texter.id)
            .order_by(Message.created_at, Message.direction)  # type: ignore[arg-type]
        ).all()
        refs = {provider_ref(services, "simulator", pid): pid for pid in pending}
        shown_ids = [m.id for m in rows if m.direction == "out" and m.status in SHOWN]
        buttons: dict[str, str] = {}
        if shown_ids:
            for item in session.exec(
                select(OutboxItem).where(OutboxItem.message_id.in_(shown_ids))  # type: ignore[union-attr]
            ).all():
                if item.message_id and item.buttons:
                    buttons[item.message_id] = item.buttons
        messages = []
        for m in rows:
            if m.direction == "out" and m.status not in SHOWN:
                continue
            if m.provider_ref in refs:
                read.append(refs.pop(m.provider_ref))
            body = (
                services.vault.open(key, m.body, "messages", "body", m.id)
                if m.body is not None
                else ""
            )
            if m.kind in _MEDIA_LABELS:
                # The phone shows that a photo or voice note went, not its bytes.
                body = f"{_MEDIA_LABELS[m.kind]} {body}".strip()
            author = "you" if m.direction == "in" else "bot" if m.author_kind == "bot" else (
                "volunteer"
            )
            messages.append(
                {
                    "id": m.id,
                    "direction": m.direction,
                    "author": author,
                    "body": body,
                    "at": m.created_at.isoformat(),
                    "buttons": _buttons(buttons.get(m.id)),
                }
            )
        result = {"pseudonym": texter.pseudonym, "practice": texter.practice,
                  "messages": messages}
    # Not yet committed as sent when we looked: keep them for the next read.
    for provider_id in refs.values():
        channel.mailbox.put(address, provider_id)
    if read:
        now = services.now()
        intake.receive(
            services,
            ChannelName.SIMULATOR.value,
            [DeliveryStatus(ChannelName.SIMULATOR, pid, "read", now) for pid in read],
        )
    return result


def _buttons(raw: str | None) -> list[dict[str, str]]:
    import json

    if not raw:
        return []
    try:
        pairs = json.loads(raw)
    except ValueError:
        return []
    return [{"id": str(p[0]), "title": str(p[1])} for p in pairs if len(p) == 2]


def _texter_id(services: Services, address: str, helpline: HelplineConfig) -> str | None:
    with services.db.session() as session:
        texter = _texter(services, session, address, helpline)
        return texter.id if texter is not None else None


def _owner(services: Services, conversation_id: str) -> str | None:
    with services.db.session() as session:
        conversation = session.get(Conversation, conversation_id)
        return conversation.texter_id if conversation is not None else None


router = APIRouter(tags=["simulator"])


@router.get("/simulator", response_class=HTMLResponse)
def simulator_page(
    channel: ChannelDep,
    services: ServicesDep,
    user: OptionalUser,
    lang: Annotated[str | None, Query(max_length=8)] = None,
    remembered: Annotated[str | None, Cookie(alias=simulator_strings.COOKIE)] = None,
) -> HTMLResponse:
    """In the language asked for (kept for the browser session), else the
    signed-in account's console language, else Dutch."""
    language = simulator_strings.page_language(
        lang, remembered, user.ui_language if user is not None else None
    )
    scripts = practice_scripts()
    html = _templates().get_template("simulator.html").render(
        scripts=scripts["scripts"], languages=scripts["languages"], lang=language,
        helplines=numbers(services),
        t=simulator_strings.STRINGS[language],
        other=next(c for c in simulator_strings.LANGUAGES if c != language),
    )
    response = HTMLResponse(html)
    if lang in simulator_strings.LANGUAGES:
        # A session cookie: the choice lasts while the browser is open.
        response.set_cookie(simulator_strings.COOKIE, language, httponly=True,
                            samesite="strict", path="/simulator",
                            secure=services.settings.secure_cookies)
    return response


@router.get("/simulator/api/scripts")
def simulator_scripts(channel: ChannelDep) -> dict[str, Any]:
    return practice_scripts()


def _receive(
    services: Services, events: list[Any], practice: bool, helpline: HelplineConfig
) -> intake.IntakeResult:
    return intake.receive_many(services, [(ChannelName.SIMULATOR.value, events)],
                               practice=practice, helpline_id=helpline.id)[0]


@router.post("/simulator/api/messages", status_code=202)
async def simulator_post(
    request: Request, services: ServicesDep, channel: ChannelDep, helpline: HelplineDep
) -> JSONResponse:
    body = await read_capped(request, MAX_POST)
    channel.verify(request.headers, request.query_params, body)
    try:
        post = channel.read(body)
        events = channel.parse(body)
    except MalformedPayload:
        raise BadSimulatorPost() from None
    result = await run_in_threadpool(_receive, services, events, post.practice, helpline)
    return JSONResponse({"stored": result.stored, "duplicates": result.duplicates},
                        status_code=202)


@router.post("/simulator/api/media", status_code=202)
async def simulator_media(
    request: Request, services: ServicesDep, channel: ChannelDep, helpline: HelplineDep
) -> JSONResponse:
    """A photo or voice note from the page (base64 in the JSON post), so
    training covers media: it is fetched, cleaned and sealed like any other."""
    body = await read_capped(request, MAX_MEDIA_POST)
    channel.verify(request.headers, request.query_params, body)
    try:
        post = channel.read(body)
        if post.media is None or post.media_kind not in ("image", "audio"):
            raise MalformedPayload("no media")
        events = channel.parse(body)
    except MalformedPayload:
        raise BadSimulatorPost() from None
    result = await run_in_threadpool(_receive, services, events, post.practice, helpline)
    return JSONResponse({"stored": result.stored, "duplicates": result.duplicates},
                        status_code=202)


@router.get("/simulator/api/messages")
async def simulator_messages(
    services: ServicesDep,
    channel: ChannelDep,
    helpline: HelplineDep,
    x_simulator_session: Annotated[str | None, Header()] = None,
    practice: bool = False,
) -> dict[str, Any]:
    address = _address(x_simulator_session, practice)
    return await run_in_threadpool(transcript, services, channel, address, helpline)


@router.get("/simulator/api/events")
async def simulator_events(
    request: Request,
    services: ServicesDep,
    channel: ChannelDep,
    helpline: HelplineDep,
    session: Annotated[str | None, Query()] = None,
    practice: bool = False,
) -> StreamingResponse:
    """`event: update` whenever something changed in this texter's conversation.
    (EventSource cannot send headers, hence the session in the query string;
    access logs are off, see helpline.logs.)"""
    address = _address(session, practice)

    async def stream() -> AsyncIterator[str]:
        queue: asyncio.Queue[LiveEvent] = asyncio.Queue(maxsize=100)

        async def pump() -> None:
            async for event in services.bus.subscribe():
                if event.conversation is not None and not queue.full():
                    queue.put_nowait(event)

        task = asyncio.create_task(pump())
        try:
            yield "retry: 3000\n\n"
            texter_id = await run_in_threadpool(_texter_id, services, address, helpline)
            while not await request.is_disconnected():
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=15)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if texter_id is None:
                    texter_id = await run_in_threadpool(_texter_id, services, address, helpline)
                if event.conversation is None or texter_id is None:
                    continue
                owner = await run_in_threadpool(_owner, services, event.conversation)
                if owner == texter_id:
                    yield f"event: update\ndata: {event.kind}\n\n"
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"}
    )


def install(app: FastAPI) -> None:
    app.include_router(router)
    # The console may already serve helpline/static at /static; if not, we do.
    if not any(getattr(route, "path", None) == "/static" for route in app.routes):
        app.mount("/static", StaticFiles(directory=STATIC), name="static")


__all__ = ["install", "practice_scripts", "router", "transcript"]
