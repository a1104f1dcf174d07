"""signal-cli-rest-api adapter: real payload shapes in, neutral events out; exact requests out.

Fixtures in tests/fixtures/signal/ follow what signal-cli prints (JsonMessageEnvelope)
as wrapped by signal-cli-rest-api, with a fake number, UUID and profile name.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import ssl
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import respx

from helpline.channels.base import (
    Button,
    ChannelName,
    ChannelSendError,
    DeliveryStatus,
    Ignored,
    InboundEvent,
    InboundMessage,
    MalformedPayload,
    MediaRef,
    MessageKind,
    OutboundMessage,
    SendResult,
    SignatureInvalid,
)
from helpline.channels.signal_cli import SignalCli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "signal"
API = "http://signal-api:8080"
ACCOUNT = "+31600000001"
TEXTER_NUMBER = "+31600000002"
TEXTER_UUID = "0d6e4a1c-5b7f-4c3e-9a2d-8f1b2c3d4e5f"
PROFILE_NAME = "Jane Doe"
TOKEN = "s3cret-webhook-token"

T = TypeVar("T")

# Building an SSL context per client costs ~0.1 s; no test talks TLS anyway.
_TLS = ssl.create_default_context()


def _run(factory: Callable[[SignalCli], Awaitable[T]]) -> T:
    """Build the adapter with a client inside the event loop and close it after."""

    async def main() -> T:
        async with httpx.AsyncClient(verify=_TLS) as client:
            channel = SignalCli(api_url=API, number=ACCOUNT, webhook_token=TOKEN, client=client)
            return await factory(channel)

    return asyncio.run(main())


@pytest.fixture
def http_client() -> Iterator[httpx.AsyncClient]:
    # parse() and verify() never touch the client; it is only closed.
    client = httpx.AsyncClient(verify=_TLS)
    yield client
    asyncio.run(client.aclose())


@pytest.fixture
def channel(http_client: httpx.AsyncClient) -> SignalCli:
    return SignalCli(api_url=API, number=ACCOUNT, webhook_token=TOKEN, client=http_client)


def _at(ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


def _msg(
    ts: int, kind: MessageKind, text: str | None, aliases: tuple[str, ...] = (),
    media: MediaRef | None = None,
) -> InboundMessage:
    return InboundMessage(
        channel=ChannelName.SIGNAL,
        provider_message_id=f"{TEXTER_UUID}:{ts}",
        sender=TEXTER_UUID,
        reply_to=TEXTER_UUID,
        kind=kind,
        text=text,
        sent_at=_at(ts),
        aliases=aliases,
        account=ACCOUNT,  # which of our numbers it came in on (the helpline)
        media=media,
    )


def _status(ts: int, state: str, at: int) -> DeliveryStatus:
    return DeliveryStatus(
        channel=ChannelName.SIGNAL,
        provider_message_id=str(ts),
        state=state,  # type: ignore[arg-type]
        at=_at(at),
        account=ACCOUNT,
    )


EXPECTED: dict[str, list[InboundEvent]] = {
    "data__text_jsonrpc": [
        _msg(1700000000000, MessageKind.TEXT, "Hoi, kan ik iets vragen? 🙂"),
    ],
    "data__text_bare_envelope": [
        _msg(1700000001000, MessageKind.TEXT, "Is het anoniem?"),
    ],
    # The number is visible here, but the UUID still wins: one texter, one key.
    # The visible number travels as an alias of the UUID (one texter, two keys).
    "data__text_number_visible": [
        _msg(1700000002000, MessageKind.TEXT, "Hello", aliases=("+31600000002",))
    ],
    "data__null_message": [Ignored(reason="signal.empty")],
    # signal-cli-jsonrpc(5), --receive-mode=manual: params.result is the frame.
    "data__text_manual_receive": [_msg(1700000010000, MessageKind.TEXT, "Handmatig ontvangen")],
    "data__invalid_sender": [Ignored(reason="signal.invalid_sender")],
    "data__attachment_image": [
        _msg(1700000004000, MessageKind.IMAGE, "Is dit normaal?",
             media=MediaRef("gS4dTo2yXBK1Gt9mJRTa.jpg", "image/jpeg", kind="image")),
    ],
    "data__attachment_voice": [_msg(1700000005000, MessageKind.AUDIO, None,
                                    media=MediaRef("m3Zq8vPwY1cR7dLkT0aB.aac", "audio/aac",
                                                   kind="audio"))],
    "data__reaction": [_msg(1700000006000, MessageKind.REACTION, "❤️")],
    "data__sticker": [_msg(1700000007000, MessageKind.STICKER, None)],
    "sync__sent_transcript": [Ignored(reason="signal.sync")],
    "typing__started": [Ignored(reason="signal.typing")],
    "group__v2_text": [Ignored(reason="signal.group")],
    "receipt__delivered": [_status(1700000000500, "delivered", 1700000011000)],
    "receipt__read": [
        _status(1700000000500, "read", 1700000012000),
        _status(1700000000900, "read", 1700000012000),
    ],
    "exception__untrusted_identity": [Ignored(reason="signal.exception")],
    "call__offer": [Ignored(reason="signal.call")],
    "story__text": [Ignored(reason="signal.story")],
    "other_account__text": [Ignored(reason="signal.other_account")],
    "receive__array_mixed": [
        Ignored(reason="signal.typing"),
        _msg(1700000021000, MessageKind.TEXT, "Ben je er?"),
        _status(1700000000500, "delivered", 1700000022000),
        Ignored(reason="signal.typing"),
    ],
}

FIXTURE_FILES = sorted(FIXTURES.glob("*.json"))


def test_every_fixture_has_an_expectation() -> None:
    assert {path.stem for path in FIXTURE_FILES} == set(EXPECTED)


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda path: path.stem)
def test_fixture_parses_to_expected_events(channel: SignalCli, path: Path) -> None:
    assert channel.parse(path.read_bytes()) == EXPECTED[path.stem]


def _strings(event: InboundEvent) -> list[str]:
    return [repr(event)] + [str(value) for value in dataclasses.asdict(event).values()]


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda path: path.stem)
def test_profile_name_never_reaches_an_event(channel: SignalCli, path: Path) -> None:
    assert PROFILE_NAME.encode() in path.read_bytes() or path.stem.startswith("sync")
    for event in channel.parse(path.read_bytes()):
        for text in _strings(event):
            assert PROFILE_NAME not in text


def test_event_repr_hides_sender_and_text(channel: SignalCli) -> None:
    (event,) = channel.parse((FIXTURES / "data__text_jsonrpc.json").read_bytes())
    assert TEXTER_UUID not in repr(event)
    assert "Hoi" not in repr(event)


def _envelope(**fields: Any) -> dict[str, Any]:
    envelope: dict[str, Any] = {
        "source": TEXTER_UUID,
        "sourceNumber": None,
        "sourceUuid": TEXTER_UUID,
        "sourceName": PROFILE_NAME,
        "sourceDevice": 1,
        "timestamp": 1700000000000,
    }
    envelope.update(fields)
    return envelope


def _body(envelope: dict[str, Any], account: str = ACCOUNT) -> bytes:
    notification = {
        "jsonrpc": "2.0",
        "method": "receive",
        "params": {"envelope": envelope, "account": account},
    }
    return json.dumps(notification).encode()


def _data(message: str | None, **fields: Any) -> dict[str, Any]:
    return {"timestamp": 1700000000000, "message": message, "expiresInSeconds": 0, **fields}


@pytest.mark.parametrize(
    "text",
    [
        "Hoi 👋🏽 ik ben 🏳️‍⚧️",
        "\u200fמה שלומך\u200f and \u202bمرحبا\u202c",
        "nul\x00byte",
        "regel een\nregel twee\r\n\ttab  ",
        "Ééñ çå ß \ufeff",
    ],
)
def test_text_round_trips_exactly(channel: SignalCli, text: str) -> None:
    (event,) = channel.parse(_body(_envelope(dataMessage=_data(text))))
    assert isinstance(event, InboundMessage)
    assert event.text == text


def test_uppercase_uuid_is_lowercased(channel: SignalCli) -> None:
    upper = TEXTER_UUID.upper()
    body = _body(_envelope(source=upper, sourceUuid=upper, dataMessage=_data("hoi")))
    (event,) = channel.parse(body)
    assert isinstance(event, InboundMessage)
    assert event.sender == event.reply_to == TEXTER_UUID
    assert event.provider_message_id == f"{TEXTER_UUID}:1700000000000"


def test_sender_falls_back_to_number_without_uuid(channel: SignalCli) -> None:
    body = _body(
        _envelope(
            source=TEXTER_NUMBER,
            sourceNumber=TEXTER_NUMBER,
            sourceUuid=None,
            dataMessage=_data("hoi"),
        )
    )
    (event,) = channel.parse(body)
    assert isinstance(event, InboundMessage)
    assert event.sender == event.reply_to == TEXTER_NUMBER


def test_envelope_without_sender_is_ignored(channel: SignalCli) -> None:
    body = _body(_envelope(source=None, sourceUuid=None, dataMessage=_data("hoi")))
    assert channel.parse(body) == [Ignored(reason="signal.no_sender")]


def test_data_timestamp_falls_back_to_envelope(channel: SignalCli) -> None:
    body = _body(_envelope(timestamp=1700000000123, dataMessage={"message": "hoi"}))
    (event,) = channel.parse(body)
    assert isinstance(event, InboundMessage)
    assert event.provider_message_id == f"{TEXTER_UUID}:1700000000123"
    assert event.sent_at == datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)


def test_attachment_caption_is_the_text(channel: SignalCli) -> None:
    attachment = {"contentType": "video/mp4", "id": "a.mp4", "caption": "kijk"}
    (event,) = channel.parse(_body(_envelope(dataMessage=_data(None, attachments=[attachment]))))
    assert isinstance(event, InboundMessage)
    assert (event.kind, event.text) == (MessageKind.VIDEO, "kijk")


def test_pdf_attachment_is_a_document(channel: SignalCli) -> None:
    attachment = {"contentType": "application/pdf", "id": "a.pdf"}
    (event,) = channel.parse(_body(_envelope(dataMessage=_data(None, attachments=[attachment]))))
    assert isinstance(event, InboundMessage)
    assert (event.kind, event.text) == (MessageKind.DOCUMENT, None)


def test_removed_reaction_is_ignored(channel: SignalCli) -> None:
    reaction = {"emoji": "👍", "targetSentTimestamp": 1, "isRemove": True}
    body = _body(_envelope(dataMessage=_data(None, reaction=reaction)))
    assert channel.parse(body) == [Ignored(reason="signal.unreaction")]


def test_shared_contact_card_content_is_dropped(channel: SignalCli) -> None:
    card = {"name": {"display": "Other Person"}, "phone": [{"value": "+31600000003"}]}
    (event,) = channel.parse(_body(_envelope(dataMessage=_data(None, contacts=[card]))))
    assert isinstance(event, InboundMessage)
    assert (event.kind, event.text) == (MessageKind.CONTACTS, None)
    assert "+31600000003" not in str(dataclasses.asdict(event))


def test_edit_arrives_as_new_text(channel: SignalCli) -> None:
    data = {**_data("verbeterd"), "timestamp": 1700000009000}
    edit = {"targetSentTimestamp": 1700000000000, "dataMessage": data}
    (event,) = channel.parse(_body(_envelope(editMessage=edit)))
    assert isinstance(event, InboundMessage)
    assert event.text == "verbeterd"
    assert event.provider_message_id == f"{TEXTER_UUID}:1700000009000"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"dataMessage": _data("hoi", groupV2={"id": "abc="})}, "signal.group"),
        ({"dataMessage": _data(None, remoteDelete={"timestamp": 1})}, "signal.remote_delete"),
        ({"dataMessage": _data(None, isExpirationUpdate=True)}, "signal.expiration_update"),
        ({"dataMessage": _data("")}, "signal.empty"),
        ({"receiptMessage": {"when": 1, "timestamps": [1]}}, "signal.receipt_unknown"),
        (
            {"receiptMessage": {"when": 1, "isDelivery": True, "timestamps": []}},
            "signal.receipt_empty",
        ),
        ({}, "signal.unsupported"),
        ({"dataMessage": {**_data(None), "message": 5}}, "signal.malformed"),
        ({"dataMessage": "not an object"}, "signal.malformed"),
    ],
)
def test_unusable_envelopes_are_ignored(
    channel: SignalCli, fields: dict[str, Any], reason: str
) -> None:
    assert channel.parse(_body(_envelope(**fields))) == [Ignored(reason=reason)]


def test_message_from_our_own_number_is_ignored(channel: SignalCli) -> None:
    body = _body(
        _envelope(source=ACCOUNT, sourceNumber=ACCOUNT, sourceUuid=None, dataMessage=_data("x"))
    )
    assert channel.parse(body) == [Ignored(reason="signal.self")]


def test_json_rpc_error_is_ignored(channel: SignalCli) -> None:
    body = b'{"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}}'
    assert channel.parse(body) == [Ignored(reason="signal.error")]


@pytest.mark.parametrize(
    "payload",
    [
        42,
        "receive",
        None,
        {},
        [[{"envelope": {}}]],
        {"jsonrpc": "2.0", "id": "7", "result": {"timestamp": 1}},
        {"jsonrpc": "2.0", "method": "receiveSync", "params": {}},
        {"jsonrpc": "2.0", "method": "receive", "params": "x"},
        {"jsonrpc": "2.0", "method": "receive", "error": {"code": -1, "message": "boom"}},
        {"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}},
        {"envelope": "not an object", "account": ACCOUNT},
        {"envelope": {}, "account": 5},
    ],
)
def test_unexpected_shapes_are_ignored_not_raised(channel: SignalCli, payload: object) -> None:
    events = channel.parse(json.dumps(payload).encode())
    assert events
    assert all(isinstance(event, Ignored) for event in events)


def test_empty_array_yields_nothing(channel: SignalCli) -> None:
    assert channel.parse(b"[]") == []


@pytest.mark.parametrize("body", [b"", b"not json", b"\xff\xfe\x00garbage", b"[" * 100_000])
def test_body_that_is_not_json_is_malformed(channel: SignalCli, body: bytes) -> None:
    with pytest.raises(MalformedPayload):
        channel.parse(body)


# --- verify ------------------------------------------------------------------


def test_verify_accepts_the_right_token(channel: SignalCli) -> None:
    channel.verify({}, {"token": TOKEN}, b"{}")


@pytest.mark.parametrize("query", [{}, {"token": ""}, {"token": "wrong"}, {"token": "ŧøķęñ"}])
def test_verify_rejects_missing_or_wrong_token(channel: SignalCli, query: dict[str, str]) -> None:
    with pytest.raises(SignatureInvalid):
        channel.verify({}, query, b"{}")


@pytest.mark.parametrize("configured", [None, ""])
def test_verify_rejects_everything_without_a_configured_token(
    http_client: httpx.AsyncClient, configured: str | None
) -> None:
    channel = SignalCli(api_url=API, number=ACCOUNT, webhook_token=configured, client=http_client)
    for query in ({}, {"token": ""}, {"token": "anything"}):
        with pytest.raises(SignatureInvalid):
            channel.verify({}, query, b"{}")


def test_repr_hides_number_and_token(channel: SignalCli) -> None:
    text = repr(channel)
    assert ACCOUNT not in text
    assert TOKEN not in text
    assert "signal-api" not in text


# --- send --------------------------------------------------------------------


def _sent_json(route: respx.Route) -> Any:
    return json.loads(route.calls.last.request.content)


def test_send_text_posts_exact_json_and_returns_timestamp() -> None:
    text = "Hoi 👋 \u200fشكرا\u200f\x00"
    with respx.mock(base_url=API, assert_all_called=True) as router:
        route = router.post("/v2/send").respond(201, json={"timestamp": "1700000000500"})
        result = _run(lambda ch: ch.send(OutboundMessage(to=TEXTER_UUID, text=text)))
    assert result == SendResult(provider_message_id="1700000000500")
    assert _sent_json(route) == {"message": text, "number": ACCOUNT, "recipients": [TEXTER_UUID]}


def test_send_accepts_integer_timestamp() -> None:
    with respx.mock(base_url=API) as router:
        router.post("/v2/send").respond(201, json={"timestamp": 1700000000500})
        result = _run(lambda ch: ch.send(OutboundMessage(to=TEXTER_UUID, text="hoi")))
    assert result == SendResult(provider_message_id="1700000000500")


def test_send_accepts_signal_cli_results_shape() -> None:
    body = {
        "timestamp": 1700000000500,
        "results": [{"recipientAddress": {"uuid": TEXTER_UUID, "number": None}, "type": "SUCCESS"}],
    }
    with respx.mock(base_url=API) as router:
        router.post("/v2/send").respond(200, json=body)
        result = _run(lambda ch: ch.send(OutboundMessage(to=TEXTER_UUID, text="hoi")))
    assert result == SendResult(provider_message_id="1700000000500")


def test_send_without_readable_timestamp_still_counts_as_sent() -> None:
    with respx.mock(base_url=API) as router:
        router.post("/v2/send").respond(201, text="OK")
        result = _run(lambda ch: ch.send(OutboundMessage(to=TEXTER_UUID, text="hoi")))
    assert result == SendResult(provider_message_id="")


def test_buttons_become_numbered_lines() -> None:
    message = OutboundMessage(
        to=TEXTER_UUID,
        text="Waarmee kunnen we helpen?",
        buttons=(Button(id="peer", title="Praten"), Button(id="ggd", title="SOA-test")),
    )
    with respx.mock(base_url=API) as router:
        route = router.post("/v2/send").respond(201, json={"timestamp": "1"})
        _run(lambda ch: ch.send(message))
    assert _sent_json(route)["message"] == "Waarmee kunnen we helpen?\n\n1. Praten\n2. SOA-test"


def test_template_is_sent_as_its_plain_text() -> None:
    message = OutboundMessage(
        to=TEXTER_UUID,
        kind="template",
        text="We zijn er weer.",
        template_name="reopen",
        template_language="nl",
    )
    with respx.mock(base_url=API) as router:
        route = router.post("/v2/send").respond(201, json={"timestamp": "2"})
        _run(lambda ch: ch.send(message))
    assert _sent_json(route) == {
        "message": "We zijn er weer.",
        "number": ACCOUNT,
        "recipients": [TEXTER_UUID],
    }


def test_empty_message_fails_without_a_request() -> None:
    with respx.mock(base_url=API, assert_all_called=False) as router:
        route = router.post("/v2/send")
        with pytest.raises(ChannelSendError) as info:
            _run(lambda ch: ch.send(OutboundMessage(to=TEXTER_UUID, text="")))
    assert (info.value.outcome, info.value.reason) == ("fail", "signal:empty_message")
    assert not route.called


def test_read_receipt_posts_exact_json() -> None:
    message = OutboundMessage(
        to=TEXTER_UUID,
        kind="read_receipt",
        reply_to_message_id=f"{TEXTER_UUID}:1700000000000",
    )
    with respx.mock(base_url=API, assert_all_called=True) as router:
        route = router.post(f"/v1/receipts/{ACCOUNT}").respond(204)
        result = _run(lambda ch: ch.send(message))
    assert result == SendResult(provider_message_id="")
    assert _sent_json(route) == {
        "receipt_type": "read",
        "recipient": TEXTER_UUID,
        "timestamp": 1700000000000,
    }


def test_read_receipt_for_unknown_message_id_fails() -> None:
    message = OutboundMessage(to=TEXTER_UUID, kind="read_receipt", reply_to_message_id="wamid.x")
    with pytest.raises(ChannelSendError) as info:
        _run(lambda ch: ch.send(message))
    assert (info.value.outcome, info.value.reason) == ("fail", "signal:bad_receipt_target")


CAPTCHA_TEXT = (
    "Failed to send (some) messages:\n"
    f'{TEXTER_NUMBER}: CAPTCHA proof required for sending to "{TEXTER_NUMBER}", available '
    'options "RECAPTCHA, PUSH_CHALLENGE" with challenge token '
    '"26ccfae6-4fc1-4df0-a27c-084a8191704c", or wait "86400" seconds.\n'
    "To get the captcha token, go to https://signalcaptchas.org/challenge/generate.html\n"
    "1700812896656\nFailed to send message due to rate limiting\n"
)


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        pytest.param(
            429,
            {
                "error": "Failed to send message due to rate limiting. Use the attached "
                "challenge tokens to lift the rate limit restrictions via the "
                "'/v1/accounts/{number}/rate-limit-challenge' endpoint.",
                "challenge_tokens": ["26ccfae6-4fc1-4df0-a27c-084a8191704c"],
                "account": ACCOUNT,
            },
            {},
            ("pause", "signal:captcha_required", None),
            id="429-challenge-tokens",
        ),
        pytest.param(
            429,
            {
                "error": "Failed to send message due to rate limiting. Use the attached "
                "challenge tokens to lift the rate limit restrictions.",
                "challenge_tokens": [""],
                "account": ACCOUNT,
            },
            {"Retry-After": "60"},
            ("pause", "signal:rate_limited", 60.0),
            id="429-empty-tokens",
        ),
        pytest.param(
            400,
            {"error": CAPTCHA_TEXT},
            {},
            ("pause", "signal:captcha_required", 86400.0),
            id="400-proof-required",
        ),
        pytest.param(
            400,
            {"error": "Failed to send message due to rate limiting"},
            {},
            ("pause", "signal:rate_limited", None),
            id="400-rate-limiting",
        ),
        pytest.param(
            400,
            {
                "error": "Failed to send message: [413] Rate limit exceeded: 413 "
                "(RateLimitException)"
            },
            {},
            ("pause", "signal:rate_limited", None),
            id="400-413-rate-limit",
        ),
        pytest.param(
            500,
            {"error": "org.whispersystems.RateLimitException: [429]"},
            {},
            ("pause", "signal:rate_limited", None),
            id="500-rate-limit-exception",
        ),
        pytest.param(
            400,
            {
                "error": {
                    "code": -5,
                    "message": "Failed to send message due to rate limiting",
                    "data": {
                        "response": {
                            "timestamp": 1721686852997,
                            "results": [
                                {
                                    "recipientAddress": {"uuid": TEXTER_UUID, "number": None},
                                    "type": "RATE_LIMIT_FAILURE",
                                    "token": "26ccfae6-4fc1-4df0-a27c-084a8191704c",
                                    "retryAfterSeconds": 86400,
                                }
                            ],
                        }
                    },
                }
            },
            {},
            ("pause", "signal:captcha_required", 86400.0),
            id="json-rpc-error-passthrough",
        ),
        pytest.param(
            400,
            {
                "error": "Failed to send (some) messages:\n"
                f'{TEXTER_NUMBER}: Unregistered user "{TEXTER_NUMBER}"\n1714855949363\n'
                "Failed to send message\n"
            },
            {},
            ("fail", "signal:unregistered", None),
            id="400-unregistered",
        ),
        pytest.param(
            400,
            {
                "error": "Failed to send (some) messages:\n"
                f'{TEXTER_NUMBER}: Untrusted Identity for "{TEXTER_NUMBER}"'
            },
            {},
            ("fail", "signal:untrusted_identity", None),
            id="400-untrusted",
        ),
        pytest.param(
            400,
            {
                "error": "Failed to send (some) messages:\n"
                f'{TEXTER_NUMBER}: Network failure for "{TEXTER_NUMBER}"'
            },
            {},
            ("retry", "signal:network_failure", None),
            id="400-network-failure",
        ),
        pytest.param(
            400,
            {"error": "Specified account does not exist"},
            {},
            ("pause", "signal:account_unavailable", None),
            id="400-account-missing",
        ),
        pytest.param(500, {"error": "boom"}, {}, ("retry", "signal:http_500", None), id="500"),
        pytest.param(502, None, {}, ("retry", "signal:http_502", None), id="502-no-body"),
        pytest.param(404, None, {}, ("pause", "signal:http_404", None), id="404-old-bridge"),
        pytest.param(
            400,
            {"error": "Couldn't process request"},
            {},
            ("retry", "signal:http_400", None),
            id="400-other",
        ),
    ],
)
def test_send_errors_map_to_outbox_outcomes(
    status: int,
    body: object,
    headers: dict[str, str],
    expected: tuple[str, str, float | None],
) -> None:
    with respx.mock(base_url=API) as router:
        if body is None:
            router.post("/v2/send").respond(status, headers=headers, text="Bad Gateway")
        else:
            router.post("/v2/send").respond(status, headers=headers, json=body)
        with pytest.raises(ChannelSendError) as info:
            _run(lambda ch: ch.send(OutboundMessage(to=TEXTER_UUID, text="hoi")))
    error = info.value
    assert (error.outcome, error.reason, error.retry_after) == expected
    # The bridge's text names the texter; none of it may travel further.
    for leaked in (TEXTER_NUMBER, TEXTER_UUID, ACCOUNT, "26ccfae6"):
        assert leaked not in str(error)
        assert leaked not in error.reason


def test_failed_result_in_a_success_response_is_an_error() -> None:
    body = {
        "timestamp": 1700000000500,
        "results": [{"recipientAddress": {"uuid": TEXTER_UUID}, "type": "UNREGISTERED_FAILURE"}],
    }
    with respx.mock(base_url=API) as router:
        router.post("/v2/send").respond(200, json=body)
        with pytest.raises(ChannelSendError) as info:
            _run(lambda ch: ch.send(OutboundMessage(to=TEXTER_UUID, text="hoi")))
    assert (info.value.outcome, info.value.reason) == ("fail", "signal:unregistered")


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (httpx.ReadTimeout("timed out"), "signal:timeout"),
        (httpx.ConnectTimeout("timed out"), "signal:timeout"),
        (httpx.ConnectError("refused"), "signal:unreachable"),
        (httpx.RemoteProtocolError("closed"), "signal:unreachable"),
    ],
)
def test_transport_errors_are_retried(exc: Exception, reason: str) -> None:
    with respx.mock(base_url=API) as router:
        router.post("/v2/send").mock(side_effect=exc)
        with pytest.raises(ChannelSendError) as info:
            _run(lambda ch: ch.send(OutboundMessage(to=TEXTER_UUID, text="hoi")))
    assert (info.value.outcome, info.value.reason) == ("retry", reason)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


# --- receive (poll mode) -----------------------------------------------------


def test_receive_polls_and_parses_the_array() -> None:
    body = (FIXTURES / "receive__array_mixed.json").read_bytes()
    with respx.mock(base_url=API, assert_all_called=True) as router:
        route = router.get(f"/v1/receive/{ACCOUNT}").respond(200, content=body)
        events = _run(lambda ch: ch.receive())
    assert route.called
    assert events == EXPECTED["receive__array_mixed"]


def test_receive_of_nothing_is_empty() -> None:
    with respx.mock(base_url=API) as router:
        router.get(f"/v1/receive/{ACCOUNT}").respond(200, json=[])
        assert _run(lambda ch: ch.receive()) == []


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (
            httpx.Response(
                400,
                json={
                    "error": "websocket: the client is not using the websocket protocol: "
                    "'upgrade' token not found in 'Connection' header"
                },
            ),
            "signal:receive_json_rpc_mode",
        ),
        (
            httpx.Response(400, json={"error": "User +31600000001 is not registered."}),
            "signal:receive_400",
        ),
        (httpx.Response(500, text="oops"), "signal:receive_500"),
        (httpx.Response(200, text="<html>proxy</html>"), "signal:receive_malformed"),
    ],
)
def test_receive_errors_are_retried(response: httpx.Response, reason: str) -> None:
    with respx.mock(base_url=API) as router:
        router.get(f"/v1/receive/{ACCOUNT}").mock(return_value=response)
        with pytest.raises(ChannelSendError) as info:
            _run(lambda ch: ch.receive())
    assert (info.value.outcome, info.value.reason) == ("retry", reason)


def test_receive_timeout_is_retried() -> None:
    with respx.mock(base_url=API) as router:
        router.get(f"/v1/receive/{ACCOUNT}").mock(side_effect=httpx.ReadTimeout("slow"))
        with pytest.raises(ChannelSendError) as info:
            _run(lambda ch: ch.receive())
    assert (info.value.outcome, info.value.reason) == ("retry", "signal:receive_timeout")


@pytest.mark.parametrize(
    "fields",
    [
        {"sourceUuid": "not-a-uuid", "source": None},
        {"sourceUuid": None, "sourceNumber": "0612345678", "source": None},
        {"sourceUuid": None, "sourceNumber": None, "source": "bla"},
        {"sourceUuid": None, "sourceNumber": "+31 6 1234", "source": None},
    ],
    ids=["uuid", "number-without-plus", "source-word", "number-with-spaces"],
)
def test_sender_that_is_neither_aci_uuid_nor_e164_is_dropped(
    channel: SignalCli, fields: dict[str, object]
) -> None:
    body = _body(_envelope(dataMessage=_data("hoi"), **fields))
    assert channel.parse(body) == [Ignored(reason="signal.invalid_sender")]


def test_manual_receive_form_with_our_own_sync_message_is_still_ignored(
    channel: SignalCli,
) -> None:
    # The doc's own example of the manual form is a syncMessage.
    frame = json.loads(_body(_envelope(syncMessage={"sentMessage": {"message": "j"}})))
    wrapped = {"jsonrpc": "2.0", "method": "receive",
               "params": {"subscription": 0, "result": frame["params"]}}
    assert channel.parse(json.dumps(wrapped).encode()) == [Ignored(reason="signal.sync")]
