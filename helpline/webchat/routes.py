"""Routes of the web chat (`/chat`), active only with `HELPLINE_WEBCHAT=true`;
otherwise every route is 404.

Thin on purpose: the page posts what the visitor types to
`POST /chat/api/messages`; the route checks the cookie, the limits and (once)
the proof of work, then hands the message to the inbox exactly like a
webhook delivery (helpline/channels/webchat.py parses it). The page reads its
conversation from `GET /chat/api/messages` and listens on
`GET /chat/api/events`. `POST /chat/api/delete` erases it.

Nothing here reads or logs the client's address or user agent (uvicorn's
access log is off, see `helpline.main.run_server`): the visitor is the
cookie, and the cookie is stored only as a keyed hash.

Every route exists twice: `/chat...` for the default helpline and
`/chat/{slug}...` for any other (`_chat_helpline` picks it from the path, an
unknown slug is 404). The helpline decides the page's policy (languages,
look, retention of the cookie), the queue the delivery lands in, the cookie's
name and the key the visitor id is derived under (helpline/webchat/session.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import tomllib
from collections.abc import AsyncIterator
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import jinja2
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from helpline.channels.base import ChannelName
from helpline.channels.webchat import MAX_TEXT, WebChatChannel
from helpline.errors import HelplineError, NotFound
from helpline.helplines import HelplineConfig
from helpline.http import ServicesDep, read_capped
from helpline.ingest.group_commit import GroupCommit
from helpline.ingest.inbox import Inbox
from helpline.lifecycle.retention import retention_days
from helpline.services import Services
from helpline.store.columns import DEFAULT_HELPLINE_ID
from helpline.webchat import session as chat_session
from helpline.webchat.deletion import erase_visitor
from helpline.webchat.limits import ChatLimits, TooFast
from helpline.webchat.live import Hub
from helpline.webchat.transcript import texter_id, transcript

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates" / "webchat"
MAX_POST = 16 * 1024
HEARTBEAT_SECONDS = 15.0


class BadChatMessage(HelplineError):
    status_code = 400
    public_message = f"Not a chat message (at most {MAX_TEXT} characters of text)."


class MessageTooLong(HelplineError):
    status_code = 413
    public_message = f"That message is too long: at most {MAX_TEXT} characters."


class NoChat(HelplineError):
    status_code = 401
    public_message = "No chat yet: send a message first."


class TooManyStreams(HelplineError):
    status_code = 429
    public_message = "This chat is open in too many tabs. Close one and reload."


# Open event streams: a few tabs per visitor, and a ceiling per process, so one
# cookie (or many) cannot hold the server's memory and sockets.
STREAMS_PER_VISITOR = 4
STREAMS_PER_PROCESS = 5000


class ChatPost(BaseModel):
    model_config = ConfigDict(extra="ignore")

    text: str | None = Field(default=None, max_length=MAX_TEXT)
    choice: str | None = Field(default=None, max_length=64)
    id: str | None = Field(default=None, max_length=40)
    language: str | None = Field(default=None, max_length=8)
    challenge: str | None = Field(default=None, max_length=80)
    counter: str | None = Field(default=None, max_length=12)


class WebChat:
    """What the web chat keeps per app: limits, proof of work, live hub."""

    def __init__(self, services: Services) -> None:
        settings = services.settings
        self.limits = ChatLimits(
            burst=settings.webchat_session_burst, seconds=settings.webchat_session_seconds,
            global_per_minute=settings.webchat_global_per_minute,
            new_per_minute=settings.webchat_new_per_minute)
        self.proof = chat_session.ProofOfWork(services.index, settings.webchat_pow_bits)
        self.hub = Hub(services)


def _channel(services: ServicesDep) -> WebChatChannel:
    channel = services.channels.get(ChannelName.WEBCHAT)
    if not services.settings.webchat or not isinstance(channel, WebChatChannel):
        raise NotFound()
    return channel


ChannelDep = Annotated[WebChatChannel, Depends(_channel)]


def _state(request: Request) -> WebChat:
    chat: WebChat = request.app.state.webchat
    return chat


def _chat_helpline(request: Request, services: ServicesDep) -> HelplineConfig:
    """The helpline of the page the request is for (see the module doc)."""
    slug = request.path_params.get("slug")
    if slug is None:
        return services.helpline(DEFAULT_HELPLINE_ID)
    found = services.helplines.find_slug(str(slug))
    if found is None:
        raise NotFound()
    return found


HelplineDep = Annotated[HelplineConfig, Depends(_chat_helpline)]


def _is_default(helpline: HelplineConfig) -> bool:
    return helpline.id == DEFAULT_HELPLINE_ID


def _base(helpline: HelplineConfig) -> str:
    return "/chat" if _is_default(helpline) else f"/chat/{helpline.slug}"


def _cookie(helpline: HelplineConfig) -> str:
    return chat_session.cookie_name(None if _is_default(helpline) else helpline.slug)


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(("html",)),
        undefined=jinja2.StrictUndefined,
    )


@lru_cache(maxsize=1)
def page_strings() -> dict[str, dict[str, str]]:
    with (TEMPLATES / "strings.toml").open("rb") as fh:
        return {code: dict(table) for code, table in tomllib.load(fh).items()}


def _visitor(helpline: HelplineConfig, request: Request) -> tuple[str | None, str | None]:
    token = chat_session.valid_token(request.cookies.get(_cookie(helpline)))
    if token is None:
        return None, None
    return token, chat_session.visitor_id(helpline.index, token)


def _cookie_age(services: Services, helpline: HelplineConfig) -> int:
    # The cookie goes when the conversation would: retention after last activity.
    return max(1, retention_days(services, helpline.id)) * 86400


router = APIRouter(tags=["webchat"])


@router.get("/chat", response_class=HTMLResponse)
@router.get("/chat/{slug}", response_class=HTMLResponse)
def chat_page(
    services: ServicesDep, channel: ChannelDep, helpline: HelplineDep,
    lang: Annotated[str | None, Query()] = None,
) -> HTMLResponse:
    policy = helpline.policy
    strings = page_strings()
    language = lang if lang in policy.languages and lang in strings else (
        policy.default_language if policy.default_language in strings else "en")
    names = {code: services.catalog.render(f"lang_{code}", code) for code in policy.languages
             if code in strings}
    html = _environment().get_template("chat.html").render(
        t=strings[language], language=language, languages=names, look=policy.webchat,
        pow_bits=services.settings.webchat_pow_bits, max_text=MAX_TEXT, base=_base(helpline))
    return HTMLResponse(html)


@router.get("/chat/api/challenge")
@router.get("/chat/{slug}/api/challenge")
def chat_challenge(request: Request, channel: ChannelDep, helpline: HelplineDep) -> dict[str, Any]:
    # `helpline` is unused but resolved: an unknown slug is 404 here too.
    chat = _state(request)
    if chat.proof.bits == 0:
        return {"challenge": None, "bits": 0}
    return {"challenge": chat.proof.challenge(), "bits": chat.proof.bits}


@router.post("/chat/api/messages", status_code=202)
@router.post("/chat/{slug}/api/messages", status_code=202)
async def chat_post(request: Request, services: ServicesDep, channel: ChannelDep,
                    helpline: HelplineDep) -> Response:
    channel.verify(request.headers, request.query_params, b"")
    body = await read_capped(request, MAX_POST)
    try:
        post = ChatPost.model_validate_json(body)
    except ValidationError as exc:
        if any(e.get("type") == "string_too_long" and e.get("loc") == ("text",)
               for e in exc.errors()):
            raise MessageTooLong() from None
        raise BadChatMessage() from None
    if not (post.text or "").strip() and not post.choice:
        raise BadChatMessage()
    chat = _state(request)
    token, visitor = _visitor(helpline, request)
    is_new = token is None or visitor is None
    if token is None or visitor is None:
        chat.proof.check(post.challenge, post.counter)
        token = chat_session.new_token()
        visitor = chat_session.visitor_id(helpline.index, token)
    try:
        chat.limits.check(visitor, new=is_new, now=time.monotonic())
    except TooFast as exc:
        return JSONResponse({"error": exc.public_message, "retry_after": exc.retry_after},
                            status_code=429, headers={"Retry-After": str(exc.retry_after)})
    delivery = {"visitor": visitor, "id": post.id, "text": post.text, "choice": post.choice,
                "language": post.language, "helpline": helpline.id}
    inbox: Inbox = request.app.state.inbox
    group: GroupCommit = request.app.state.group_commit
    await group.append(inbox.seal(ChannelName.WEBCHAT.value,
                                  json.dumps(delivery, ensure_ascii=False).encode()))
    response = JSONResponse({"status": "accepted"}, status_code=202)
    # Renewed with every message: it lasts as long as the conversation may.
    response.headers["set-cookie"] = chat_session.cookie_header(
        token, max_age=_cookie_age(services, helpline), secure=True, name=_cookie(helpline))
    return response


@router.get("/chat/api/messages")
@router.get("/chat/{slug}/api/messages")
async def chat_messages(
    request: Request, services: ServicesDep, channel: ChannelDep, helpline: HelplineDep
) -> dict[str, Any]:
    _token, visitor = _visitor(helpline, request)
    if visitor is None:
        return {"active": False, "language": None, "messages": []}
    return await run_in_threadpool(transcript, services, helpline, visitor)


@router.post("/chat/api/delete")
@router.post("/chat/{slug}/api/delete")
async def chat_delete(request: Request, services: ServicesDep, channel: ChannelDep,
                      helpline: HelplineDep) -> Response:
    channel.verify(request.headers, request.query_params, b"")
    _token, visitor = _visitor(helpline, request)
    erased = False
    if visitor is not None:
        # What is still in the inbox must be stored first, or it would
        # come back as a new conversation right after the erasure.
        # Best effort and short: a busy inbox must not hold the visitor up.
        inbox: Inbox = request.app.state.inbox
        with contextlib.suppress(HelplineError, TimeoutError):
            await run_in_threadpool(inbox.drain, 2.0)
        erased = await run_in_threadpool(erase_visitor, services, helpline, visitor)
    response = JSONResponse({"status": "deleted" if erased else "nothing to delete"})
    response.headers["set-cookie"] = chat_session.clearing_header(secure=True,
                                                                  name=_cookie(helpline))
    return response


@router.get("/chat/api/events")
@router.get("/chat/{slug}/api/events")
async def chat_events(request: Request, services: ServicesDep, channel: ChannelDep,
                      helpline: HelplineDep) -> StreamingResponse:
    _token, visitor = _visitor(helpline, request)
    if visitor is None:
        raise NoChat()
    if (channel.streams.count(visitor) >= STREAMS_PER_VISITOR
            or channel.streams.count() >= STREAMS_PER_PROCESS):
        raise TooManyStreams()
    hub = _state(request).hub

    async def stream() -> AsyncIterator[str]:
        queue = channel.streams.open(visitor)
        owner = await run_in_threadpool(texter_id, services, helpline, visitor)
        hub.watch(queue, owner)
        try:
            yield "retry: 3000\nevent: ready\ndata: {}\n\n"
            while not await request.is_disconnected():
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=HEARTBEAT_SECONDS)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if item.get("resolve"):
                    if owner is None:
                        owner = await run_in_threadpool(texter_id, services, helpline, visitor)
                        hub.watch(queue, owner)
                    if owner is not None:
                        yield "event: update\ndata: {}\n\n"
                elif item.get("update") or item.get("reload"):
                    yield "event: update\ndata: {}\n\n"
                else:
                    yield f"event: message\ndata: {json.dumps(item, ensure_ascii=False)}\n\n"
        finally:
            hub.unwatch(queue, owner)
            channel.streams.close(visitor, queue)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"X-Accel-Buffering": "no"})


async def _close_hub(chat: WebChat, stop: asyncio.Event) -> None:
    await stop.wait()
    await chat.hub.aclose()


def install(app: FastAPI) -> None:
    chat = app.state.webchat = WebChat(app.state.services)

    async def start(services: Services, stop: asyncio.Event,
                    tasks: list[asyncio.Task[None]]) -> None:
        tasks.append(asyncio.create_task(_close_hub(chat, stop)))

    app.state.startup_hooks.append(start)
    app.include_router(router)


__all__ = ["WebChat", "install", "page_strings", "router"]
