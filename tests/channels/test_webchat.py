"""The web chat adapter alone: verify, parse, send (no database, no routes)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest

from helpline.channels.base import (
    Button,
    ChannelSendError,
    Ignored,
    InboundMessage,
    MalformedPayload,
    OutboundMessage,
    SignatureInvalid,
)
from helpline.channels.webchat import WebChatChannel

VISITOR = "ab" * 32
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def channel() -> WebChatChannel:
    return WebChatChannel(clock=lambda: NOW, ref_of=lambda pid: f"ref:{pid}")


def body(**fields: object) -> bytes:
    return json.dumps({"visitor": VISITOR, **fields}).encode()


def test_a_message_becomes_an_inbound_message_keyed_by_the_visitor() -> None:
    [event] = channel().parse(body(id="c-x-1", text=" Hoi ", language="en"))
    assert isinstance(event, InboundMessage)
    assert event.sender == event.reply_to == VISITOR
    assert event.text == "Hoi"
    assert event.language == "en"
    assert event.provider_message_id == f"{VISITOR}/c-x-1"
    assert "Hoi" not in repr(event)
    assert VISITOR not in repr(event)


def test_a_chosen_button_is_a_choice() -> None:
    [event] = channel().parse(body(text="Praten", choice="menu:1"))
    assert isinstance(event, InboundMessage)
    assert event.choice == "menu:1"
    assert event.kind.value == "choice"


def test_a_strange_message_id_is_replaced_by_a_random_one() -> None:
    [event] = channel().parse(body(id="../../etc", text="x"))
    assert isinstance(event, InboundMessage)
    assert "../" not in event.provider_message_id


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (body(text="  "), "webchat.empty"),
        (json.dumps({"visitor": "Z" * 64, "text": "x"}).encode(), "webchat.invalid_sender"),
        (json.dumps({"visitor": "short", "text": "x"}).encode(), "webchat.malformed"),
        (b"[]", "webchat.malformed"),
    ],
)
def test_unusable_deliveries_are_ignored_with_a_reason(raw: bytes, reason: str) -> None:
    assert channel().parse(raw) == [Ignored(reason)]


def test_not_json_is_malformed() -> None:
    with pytest.raises(MalformedPayload):
        channel().parse(b"\xff not json")


def test_verify_wants_the_page_header_and_refuses_cross_site() -> None:
    chat = channel()
    chat.verify({"X-Helpline-Chat": "1"}, {}, b"")
    with pytest.raises(SignatureInvalid):
        chat.verify({}, {}, b"")
    with pytest.raises(SignatureInvalid):
        chat.verify({"X-Helpline-Chat": "1", "Sec-Fetch-Site": "cross-site"}, {}, b"")


def test_send_pushes_the_reply_to_the_visitors_open_streams() -> None:
    chat = channel()

    async def run() -> tuple[str, dict[str, object]]:
        queue = chat.streams.open(VISITOR)
        other = chat.streams.open("cd" * 32)
        result = await chat.send(OutboundMessage(to=VISITOR, text="Hallo",
                                                 buttons=(Button("menu:1", "Praten"),)))
        assert other.empty()
        return result.provider_message_id, queue.get_nowait()

    provider_id, item = asyncio.run(run())
    assert provider_id.startswith("wc.")
    assert item == {"ref": f"ref:{provider_id}", "direction": "out", "body": "Hallo",
                    "at": NOW.isoformat(), "buttons": [{"id": "menu:1", "title": "Praten"}]}


def test_send_with_no_open_page_succeeds_and_keeps_nothing() -> None:
    chat = channel()
    result = asyncio.run(chat.send(OutboundMessage(to=VISITOR, text="Hallo")))
    assert result.provider_message_id
    assert chat.streams.count() == 0


def test_a_slow_page_gets_one_reload_instead_of_an_endless_queue() -> None:
    chat = channel()

    async def run() -> list[dict[str, object]]:
        queue = chat.streams.open(VISITOR)
        for n in range(chat.streams.QUEUE_MAX + 5):
            await chat.send(OutboundMessage(to=VISITOR, text=f"m{n}"))
        items = []
        while not queue.empty():
            items.append(queue.get_nowait())
        return items

    items = asyncio.run(run())
    assert len(items) <= chat.streams.QUEUE_MAX
    assert {"reload": True} in items


@pytest.mark.parametrize(
    "message",
    [OutboundMessage(to="not-a-visitor", text="x"), OutboundMessage(to=VISITOR, text=""),
     OutboundMessage(to=VISITOR, kind="template", template_name="t")],
)
def test_send_refuses_what_it_cannot_deliver(message: OutboundMessage) -> None:
    with pytest.raises(ChannelSendError) as raised:
        asyncio.run(channel().send(message))
    assert raised.value.outcome == "fail"
