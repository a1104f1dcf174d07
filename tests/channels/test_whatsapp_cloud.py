"""WhatsApp Cloud API adapter: real payloads in, exact requests out.

Fixtures under tests/fixtures/whatsapp/ are trimmed copies of real-shaped bodies
(numbers replaced by 316000000xx fakes, names by "Jane Doe"); the conformance
corpus under tests/fixtures/conformance/whatsapp/ is run unchanged.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from starlette.datastructures import Headers

from helpline.channels.base import (
    Button,
    ChannelName,
    ChannelSendError,
    DeliveryStatus,
    Ignored,
    InboundEvent,
    InboundMessage,
    MalformedPayload,
    MessageKind,
    OutboundMessage,
    SendResult,
    SignatureInvalid,
)
from helpline.channels.whatsapp_cloud import WebhookForbidden, WhatsAppCloud, error_outcome

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "whatsapp"
CONFORMANCE = Path(__file__).resolve().parents[1] / "fixtures" / "conformance" / "whatsapp"
APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
ACCESS_TOKEN = "test-access-token"
PHONE_NUMBER_ID = "100000000000002"
API_URL = "https://graph.example.test/v23.0"
MESSAGES_URL = f"{API_URL}/{PHONE_NUMBER_ID}/messages"
# Every name in the fixtures and the corpus; none may survive parsing.
PROFILE_NAMES = ("Jane Doe", "Test Name", "Sheena Nelson", "User A", "janedoe", "realsheenanelson")


# --- helpers ---------------------------------------------------------------


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def make_channel(client: httpx.AsyncClient | None = None, **overrides: Any) -> WhatsAppCloud:
    options: dict[str, Any] = {
        "app_secret": APP_SECRET,
        "verify_token": VERIFY_TOKEN,
        "access_token": ACCESS_TOKEN,
        "phone_number_id": PHONE_NUMBER_ID,
        "api_url": API_URL,
        "client": client or httpx.AsyncClient(),
        "template_name": "neutral_hello",
    }
    options.update(overrides)
    return WhatsAppCloud(**options)


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def parse(name: str) -> list[InboundEvent]:
    return make_channel().parse(fixture(name))


def only(events: list[InboundEvent]) -> InboundEvent:
    assert len(events) == 1, events
    return events[0]


def send(message: OutboundMessage, **overrides: Any) -> SendResult:
    async def go() -> SendResult:
        async with httpx.AsyncClient() as client:
            return await make_channel(client, **overrides).send(message)

    return asyncio.run(go())


def send_error(message: OutboundMessage) -> ChannelSendError:
    with pytest.raises(ChannelSendError) as caught:
        send(message)
    return caught.value


def sent_json(route: respx.Route) -> Any:
    return json.loads(route.calls.last.request.content)


def field_values(event: InboundEvent) -> list[str]:
    return [str(value) for value in dataclasses.asdict(event).values()]


def ok_response(message_id: str = "wamid.sent1") -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "messaging_product": "whatsapp",
            "contacts": [{"input": "31600000001", "wa_id": "31600000001"}],
            "messages": [{"id": message_id}],
        },
    )


def graph_error(status: int, code: int, **headers: str) -> httpx.Response:
    return httpx.Response(
        status,
        headers=headers,
        json={
            "error": {
                "message": "(#131047) Re-engagement message to 31600000001",
                "type": "OAuthException",
                "code": code,
                "error_data": {"messaging_product": "whatsapp", "details": "secret details"},
                "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam",
            }
        },
    )


# --- handshake ---------------------------------------------------------------


def test_handshake_returns_challenge_for_matching_verify_token() -> None:
    query = {
        "hub.mode": "subscribe",
        "hub.verify_token": VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }
    assert make_channel().handshake(query) == "1158201444"


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN},
        {},
    ],
    ids=["wrong-token", "wrong-mode", "no-token", "no-challenge", "empty"],
)
def test_handshake_is_forbidden_without_matching_subscribe_request(query: dict[str, str]) -> None:
    with pytest.raises(WebhookForbidden) as caught:
        make_channel().handshake(query)
    assert caught.value.status_code == 403


def test_handshake_is_forbidden_when_no_verify_token_is_configured() -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"}
    with pytest.raises(WebhookForbidden):
        make_channel(verify_token=None).handshake(query)


# --- signature ---------------------------------------------------------------


def test_valid_signature_is_accepted() -> None:
    body = fixture("text__basic")
    make_channel().verify({"X-Hub-Signature-256": sign(body)}, {}, body)


@pytest.mark.parametrize(
    "header_name", ["x-hub-signature-256", "X-HUB-SIGNATURE-256", "x-Hub-Signature-256"]
)
def test_signature_header_is_found_in_any_case(header_name: str) -> None:
    body = fixture("text__basic")
    make_channel().verify({header_name: sign(body)}, {}, body)


def test_signature_header_is_found_in_starlette_headers() -> None:
    body = fixture("text__basic")
    headers = Headers(raw=[(b"x-hub-signature-256", sign(body).encode())])
    make_channel().verify(headers, {}, body)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Hub-Signature-256": ""},
        {"X-Hub-Signature-256": "sha256="},
        {"X-Hub-Signature-256": "sha1=" + "0" * 40},
        {"X-Hub-Signature-256": "sha256=" + "0" * 64},
        {"X-Hub-Signature-256": "sha256=ünïcødé"},
        {"X-Hub-Signature": "sha256=whatever"},
    ],
    ids=[
        "missing",
        "empty",
        "no-digest",
        "wrong-algorithm",
        "wrong-digest",
        "non-ascii",
        "sha1-name",
    ],
)
def test_missing_or_bad_signature_is_rejected(headers: dict[str, str]) -> None:
    with pytest.raises(SignatureInvalid):
        make_channel().verify(headers, {}, fixture("text__basic"))


def test_signature_with_another_secret_is_rejected() -> None:
    body = fixture("text__basic")
    with pytest.raises(SignatureInvalid):
        make_channel().verify({"X-Hub-Signature-256": sign(body, "other-secret")}, {}, body)


def test_signature_over_a_modified_body_is_rejected() -> None:
    body = fixture("text__basic")
    tampered = body.replace(b"Body Text", b"Body text")
    with pytest.raises(SignatureInvalid):
        make_channel().verify({"X-Hub-Signature-256": sign(body)}, {}, tampered)


def test_empty_app_secret_is_refused_because_anyone_could_sign() -> None:
    with pytest.raises(ValueError, match="app_secret"):
        make_channel(app_secret="")


def test_repr_hides_every_secret() -> None:
    channel = make_channel()
    for text in (repr(channel), str(channel)):
        assert text == "WhatsAppCloud(***)"
        for secret in (APP_SECRET, VERIFY_TOKEN, ACCESS_TOKEN, PHONE_NUMBER_ID):
            assert secret not in text


# --- parsing: every message type --------------------------------------------

WA_SENDER = "31600000001"


@pytest.mark.parametrize(
    ("name", "kind", "text", "choice"),
    [
        ("text__basic", MessageKind.TEXT, "Body Text", None),
        ("text__referral", MessageKind.TEXT, "BODY", None),
        ("image__no_caption", MessageKind.IMAGE, None, None),
        ("video__caption", MessageKind.VIDEO, "caption", None),
        ("document__caption", MessageKind.DOCUMENT, "caption", None),
        ("audio__voice", MessageKind.AUDIO, None, None),
        ("sticker__animated", MessageKind.STICKER, None, None),
        ("location__chosen", MessageKind.LOCATION, None, None),
        ("contacts__three_cards", MessageKind.CONTACTS, None, None),
        ("interactive__button_reply", MessageKind.CHOICE, "title", "callback_data"),
        ("interactive__list_reply", MessageKind.CHOICE, "title", "callback_data"),
        ("interactive__nfm_reply", MessageKind.UNSUPPORTED, None, None),
        ("button__quick_reply", MessageKind.CHOICE, "title", "callback_data"),
        ("reaction__emoji", MessageKind.REACTION, "\U0001f62e", None),
        ("order__products", MessageKind.UNSUPPORTED, None, None),
        ("unsupported__unknown_type", MessageKind.UNSUPPORTED, None, None),
        ("edit__text", MessageKind.TEXT, "Text was edited", None),
    ],
)
def test_message_type_becomes_inbound_message_of_matching_kind(
    name: str, kind: MessageKind, text: str | None, choice: str | None
) -> None:
    event = only(parse(name))
    assert isinstance(event, InboundMessage)
    assert event.channel is ChannelName.WHATSAPP
    assert event.kind is kind
    assert event.text == text
    assert event.choice == choice
    assert event.sender == WA_SENDER
    assert event.reply_to == WA_SENDER
    assert event.sent_at.tzinfo is not None


def test_text_message_keeps_id_and_utc_timestamp() -> None:
    event = only(parse("text__basic"))
    assert isinstance(event, InboundMessage)
    assert event.provider_message_id == "wamid.xyzxyz"
    assert event.sent_at == datetime(2023, 10, 11, 16, 53, 43, tzinfo=UTC)


def test_location_coordinates_and_contact_cards_are_not_carried() -> None:
    for name in ("location__chosen", "contacts__three_cards"):
        values = " ".join(field_values(only(parse(name))))
        assert "37.46" not in values
        assert "Hacker Way" not in values
        assert "+31 6 000000" not in values


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("system__phone_number_change", "whatsapp.system"),
        ("system__user_id_change", "whatsapp.system"),
        ("reaction__unreaction_empty", "whatsapp.unreaction"),
        ("reaction__unreaction_no_emoji", "whatsapp.unreaction"),
        ("revoke__original_id", "whatsapp.revoke"),
        ("request_welcome__chat_opened", "whatsapp.request_welcome"),
        ("status__deleted", "whatsapp.unsupported_status"),
        ("account_update__disabled", "whatsapp.unsupported_field"),
        ("text__no_sender", "whatsapp.no_sender"),
        # Meta's group messages reference: `group_id` set; never one-to-one.
        ("group__text", "whatsapp.group"),
        ("text__invalid_sender", "whatsapp.invalid_sender"),
        ("text__invalid_bsuid", "whatsapp.invalid_sender"),
    ],
)
def test_authentic_but_unusable_input_is_ignored_with_fixed_reason(name: str, reason: str) -> None:
    assert parse(name) == [Ignored(reason=reason)]


def test_value_level_error_is_ignored_but_its_message_still_arrives_as_unsupported() -> None:
    events = parse("interactive__value_error")
    assert events[0] == Ignored(reason="whatsapp.value_error")
    message = events[1]
    assert isinstance(message, InboundMessage)
    assert message.kind is MessageKind.UNSUPPORTED
    assert len(events) == 2


def test_text_with_emoji_rtl_marks_and_nul_is_preserved_exactly() -> None:
    event = only(parse("text__special_characters"))
    assert isinstance(event, InboundMessage)
    assert event.text == (
        "Hoi \U0001f469\u200d\u2764\ufe0f\u200d\U0001f469 \u202eمرحبا\u202c\u200f a\u0000b"
    )


def test_bad_timestamp_falls_back_to_epoch_instead_of_raising() -> None:
    event = only(parse("text__bad_timestamp"))
    assert isinstance(event, InboundMessage)
    assert event.sent_at == datetime(1970, 1, 1, tzinfo=UTC)


# --- parsing: senders ----------------------------------------------------------


def test_sender_is_phone_number_even_when_user_id_is_also_present() -> None:
    event = only(parse("text__basic"))
    assert isinstance(event, InboundMessage)
    assert event.sender == event.reply_to == "31600000001"


@pytest.mark.parametrize(
    ("name", "user_id"),
    [
        ("text__user_id_only", "NL.10000000000000000005"),
        # The message's own from_user_id wins over the contact's differing user_id.
        ("text__bsuid_only", "NL.10000000000000000001"),
        ("text__contact_user_id_only", "NL.10000000000000000006"),
    ],
)
def test_sender_without_phone_number_is_the_business_scoped_user_id(
    name: str, user_id: str
) -> None:
    event = only(parse(name))
    assert isinstance(event, InboundMessage)
    assert event.sender == event.reply_to == user_id
    assert event.kind is MessageKind.TEXT


# --- parsing: statuses ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "state"),
    [
        ("status__sent", "sent"),
        ("status__delivered", "delivered"),
        ("status__delivered_bsuid", "delivered"),
        ("status__read", "read"),
        ("status__played", "read"),
    ],
)
def test_status_becomes_delivery_status(name: str, state: str) -> None:
    event = only(parse(name))
    assert isinstance(event, DeliveryStatus)
    assert event.state == state
    assert event.error_code is None
    assert event.at.tzinfo is not None


def test_failed_status_carries_first_error_code_and_title() -> None:
    event = only(parse("status__failed"))
    assert isinstance(event, DeliveryStatus)
    assert (event.state, event.error_code) == ("failed", "130472")
    assert event.error_title == "User's number is part of an experiment"


def test_failed_status_outside_window_maps_to_hold() -> None:
    event = only(parse("status__failed_131047"))
    assert isinstance(event, DeliveryStatus)
    assert event.provider_message_id == "wamid.out2"
    assert event.error_code == "131047"
    assert error_outcome(event.error_code) == "hold"


def test_one_post_with_two_messages_and_a_status_yields_three_events_in_order() -> None:
    first, second, status = parse("batch__two_messages_and_status")
    assert isinstance(first, InboundMessage)
    assert isinstance(second, InboundMessage)
    assert (first.sender, first.text) == ("31600000001", "Eerste bericht")
    assert (second.sender, second.text) == ("31600000002", "Second message")
    assert isinstance(status, DeliveryStatus)
    assert (status.provider_message_id, status.state) == ("wamid.out1", "delivered")


def test_every_entry_and_change_is_read() -> None:
    body = json.loads(fixture("text__basic"))
    body["entry"].append(json.loads(fixture("status__read"))["entry"][0])
    body["entry"][0]["changes"].append(
        json.loads(fixture("account_update__disabled"))["entry"][0]["changes"][0]
    )
    events = make_channel().parse(json.dumps(body).encode())
    assert [type(e) for e in events] == [InboundMessage, Ignored, DeliveryStatus]


# --- parsing: profile names never leave the parser ---------------------------


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_profile_name_never_appears_in_parsed_events(path: Path) -> None:
    events = make_channel().parse(path.read_bytes())
    for name in PROFILE_NAMES:
        assert name not in repr(events)
        for event in events:
            assert not any(name in value for value in field_values(event))


def test_inbound_message_repr_hides_sender_and_text() -> None:
    text = repr(parse("text__basic"))
    assert "31600000001" not in text
    assert "Body Text" not in text


# --- parsing: hostile and odd bodies -------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"\xff\xfe", b"[]", b'"text"', b"42", b"null"],
    ids=["empty", "text", "bad-utf8", "array", "string", "number", "null"],
)
def test_body_that_is_not_a_json_object_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedPayload):
        make_channel().parse(body)


@pytest.mark.parametrize(
    ("body", "reasons"),
    [
        ({"object": "page", "entry": []}, ["whatsapp.unsupported_object"]),
        ({}, ["whatsapp.unsupported_object"]),
        ({"object": "whatsapp_business_account", "entry": "x"}, ["whatsapp.invalid_envelope"]),
        ({"object": "whatsapp_business_account", "entry": [5]}, ["whatsapp.invalid_entry"]),
        (
            {"object": "whatsapp_business_account", "entry": [{"changes": [None]}]},
            ["whatsapp.invalid_change"],
        ),
        (
            {
                "object": "whatsapp_business_account",
                "entry": [{"changes": [{"field": "messages", "value": {"messages": {}}}]}],
            },
            ["whatsapp.invalid_value"],
        ),
        (
            {
                "object": "whatsapp_business_account",
                "entry": [
                    {
                        "changes": [
                            {
                                "field": "messages",
                                "value": {
                                    "messages": [{"from": "31600000001", "type": "text"}, 7],
                                    "statuses": [
                                        {"status": "read"},
                                        {"id": "w", "status": "bogus"},
                                    ],
                                },
                            }
                        ]
                    }
                ],
            },
            [
                "whatsapp.invalid_message",
                "whatsapp.invalid_message",
                "whatsapp.invalid_status",
                "whatsapp.unsupported_status",
            ],
        ),
    ],
    ids=[
        "other-object",
        "no-object",
        "entry-not-list",
        "entry-not-object",
        "change-null",
        "messages-not-list",
        "broken-items",
    ],
)
def test_unknown_shapes_become_ignored_instead_of_raising(
    body: dict[str, Any], reasons: list[str]
) -> None:
    events = make_channel().parse(json.dumps(body).encode())
    assert events == [Ignored(reason=r) for r in reasons]


def test_one_broken_message_does_not_hide_its_neighbour() -> None:
    body = json.loads(fixture("text__basic"))
    messages = body["entry"][0]["changes"][0]["value"]["messages"]
    messages.insert(0, {"id": ["not", "a", "string"], "type": "text"})
    first, second = make_channel().parse(json.dumps(body).encode())
    assert first == Ignored(reason="whatsapp.invalid_message")
    assert isinstance(second, InboundMessage)
    assert second.text == "Body Text"


# --- conformance corpus ----------------------------------------------------------

CORPUS = sorted(p for p in CONFORMANCE.glob("*.json") if p.name != "index.json")


@pytest.mark.skipif(not CORPUS, reason="conformance corpus not present")
@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_conformance_payload_parses_without_exception(path: Path) -> None:
    raw = path.read_bytes()
    channel = make_channel()
    channel.verify({"X-Hub-Signature-256": sign(raw)}, {}, raw)
    events = channel.parse(raw)
    assert all(isinstance(e, InboundMessage | DeliveryStatus | Ignored) for e in events)
    for name in PROFILE_NAMES:
        assert name not in repr(events)
        assert not any(name in v for e in events for v in field_values(e))

    data = json.loads(raw)
    texts = [
        m["text"]["body"]
        for entry in data["entry"]
        for change in entry["changes"]
        if change.get("field") == "messages"
        for m in change["value"].get("messages", [])
        if m.get("type") == "text"
    ]
    inbound_texts = [
        e.text for e in events if isinstance(e, InboundMessage) and e.kind is MessageKind.TEXT
    ]
    for text in texts:
        assert text in inbound_texts


def test_conformance_corpus_has_the_text_messages_we_expect() -> None:
    if not CORPUS:
        pytest.skip("conformance corpus not present")
    text_files = [p for p in CORPUS if '"type": "text"' in p.read_text()]
    assert len(text_files) >= 10


# --- sending -------------------------------------------------------------------


def run_send(
    message: OutboundMessage, response: httpx.Response | Callable[..., Any] | Exception
) -> tuple[SendResult | ChannelSendError, respx.Route]:
    with respx.mock(assert_all_called=True) as router:
        route = router.post(MESSAGES_URL)
        if isinstance(response, httpx.Response):
            route.mock(return_value=response)
        else:
            route.mock(side_effect=response)
        try:
            return send(message), route
        except ChannelSendError as exc:
            return exc, route


def test_send_text_posts_exact_json_with_bearer_token() -> None:
    result, route = run_send(OutboundMessage(to="31600000001", text="Hoi 👋"), ok_response())
    assert result == SendResult(provider_message_id="wamid.sent1")
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert sent_json(route) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "31600000001",
        "type": "text",
        "text": {"preview_url": False, "body": "Hoi 👋"},
    }


def test_send_to_business_scoped_user_id_uses_recipient_field() -> None:
    _, route = run_send(OutboundMessage(to="NL.10000000000000000005", text="Hoi"), ok_response())
    body = sent_json(route)
    assert body["recipient"] == "NL.10000000000000000005"
    assert "to" not in body


def test_send_strips_plus_from_phone_number() -> None:
    _, route = run_send(OutboundMessage(to="+31600000001", text="Hoi"), ok_response())
    assert sent_json(route)["to"] == "31600000001"


def test_up_to_three_buttons_become_reply_buttons_with_titles_cut_to_20() -> None:
    buttons = (
        Button(id="yes", title="Ja"),
        Button(id="no", title="Nee"),
        Button(id="later", title="Misschien later, dank je"),
    )
    _, route = run_send(
        OutboundMessage(to="31600000001", text="Doorverwijzen?", buttons=buttons), ok_response()
    )
    assert sent_json(route) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "31600000001",
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": "Doorverwijzen?"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": "yes", "title": "Ja"}},
                    {"type": "reply", "reply": {"id": "no", "title": "Nee"}},
                    {"type": "reply", "reply": {"id": "later", "title": "Misschien later, dan"}},
                ]
            },
        },
    }


def test_four_to_ten_buttons_become_a_list_with_rows_cut_to_24() -> None:
    buttons = tuple(Button(id=f"opt{i}", title=f"Optie {i}") for i in range(1, 4)) + (
        Button(id="long", title="Een hele lange optietitel die te lang is"),
    )
    _, route = run_send(
        OutboundMessage(to="31600000001", text="Kies", buttons=buttons), ok_response()
    )
    assert sent_json(route) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "31600000001",
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": "Kies"},
            "action": {
                "button": "Menu",
                "sections": [
                    {
                        "rows": [
                            {"id": "opt1", "title": "Optie 1"},
                            {"id": "opt2", "title": "Optie 2"},
                            {"id": "opt3", "title": "Optie 3"},
                            {"id": "long", "title": "Een hele lange optietite"},
                        ]
                    }
                ],
            },
        },
    }


def test_more_than_ten_buttons_become_numbered_plain_text() -> None:
    buttons = tuple(Button(id=f"o{i}", title=f"Optie {i}") for i in range(1, 12))
    _, route = run_send(
        OutboundMessage(to="31600000001", text="Kies", buttons=buttons), ok_response()
    )
    lines = "\n".join(f"{i}. Optie {i}" for i in range(1, 12))
    assert sent_json(route) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "31600000001",
        "type": "text",
        "text": {"preview_url": False, "body": f"Kies\n\n{lines}"},
    }


def test_send_template_uses_message_name_and_language() -> None:
    message = OutboundMessage(
        to="31600000001", kind="template", template_name="neutral_hello", template_language="en"
    )
    _, route = run_send(message, ok_response())
    assert sent_json(route) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "31600000001",
        "type": "template",
        "template": {"name": "neutral_hello", "language": {"code": "en"}},
    }


def test_send_template_falls_back_to_configured_template_and_language() -> None:
    _, route = run_send(OutboundMessage(to="31600000001", kind="template"), ok_response())
    assert sent_json(route)["template"] == {"name": "neutral_hello", "language": {"code": "nl"}}


def test_send_read_receipt_posts_exact_json_and_returns_the_read_id() -> None:
    message = OutboundMessage(
        to="31600000001", kind="read_receipt", reply_to_message_id="wamid.in1"
    )
    result, route = run_send(message, httpx.Response(200, json={"success": True}))
    assert result == SendResult(provider_message_id="wamid.in1")
    assert sent_json(route) == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.in1",
    }


# --- sending: errors -----------------------------------------------------------

TEXT = OutboundMessage(to="31600000001", text="Hoi")


@pytest.mark.parametrize(
    ("response", "outcome", "reason"),
    [
        (graph_error(400, 131047), "hold", "whatsapp:131047"),
        (graph_error(400, 130429), "retry", "whatsapp:130429"),
        (graph_error(400, 131056), "retry", "whatsapp:131056"),
        (graph_error(400, 131026), "fail", "whatsapp:131026"),
        (graph_error(400, 100), "fail", "whatsapp:100"),
        (graph_error(401, 190), "pause", "whatsapp:190"),
        (graph_error(500, 131000), "retry", "whatsapp:131000"),
        (graph_error(503, 999999), "retry", "whatsapp:999999"),
        (httpx.Response(500, text="<html>oops</html>"), "retry", "whatsapp:http_500"),
        (httpx.Response(502), "retry", "whatsapp:http_502"),
        (httpx.Response(401, text="nope"), "pause", "whatsapp:http_401"),
        (httpx.Response(404, text="nope"), "fail", "whatsapp:http_404"),
        (httpx.Response(200, json={"messages": []}), "fail", "whatsapp:bad_response"),
    ],
    ids=[
        "131047",
        "130429",
        "131056",
        "131026",
        "100",
        "190",
        "500-131000",
        "503-unknown",
        "500-html",
        "502-empty",
        "401-text",
        "404-text",
        "200-no-id",
    ],
)
def test_send_errors_map_to_outbox_outcomes(
    response: httpx.Response, outcome: str, reason: str
) -> None:
    error, _ = run_send(TEXT, response)
    assert isinstance(error, ChannelSendError)
    assert (error.outcome, error.reason) == (outcome, reason)


def test_rate_limit_429_is_retried_after_the_given_delay() -> None:
    error, _ = run_send(TEXT, httpx.Response(429, headers={"Retry-After": "30"}))
    assert isinstance(error, ChannelSendError)
    assert (error.outcome, error.reason, error.retry_after) == ("retry", "whatsapp:http_429", 30.0)


def test_rate_limit_code_with_retry_after_header_keeps_the_delay() -> None:
    error, _ = run_send(TEXT, graph_error(400, 80007, **{"Retry-After": "12"}))
    assert isinstance(error, ChannelSendError)
    assert (error.outcome, error.reason, error.retry_after) == ("retry", "whatsapp:80007", 12.0)


@pytest.mark.parametrize(
    ("exception", "reason"),
    [
        (httpx.ReadTimeout("timed out"), "whatsapp:timeout"),
        (httpx.ConnectTimeout("timed out"), "whatsapp:timeout"),
        (httpx.ConnectError("refused"), "whatsapp:network"),
        (httpx.RemoteProtocolError("reset"), "whatsapp:network"),
    ],
    ids=["read-timeout", "connect-timeout", "connect-error", "protocol-error"],
)
def test_network_failures_are_retried(exception: Exception, reason: str) -> None:
    error, _ = run_send(TEXT, exception)
    assert isinstance(error, ChannelSendError)
    assert (error.outcome, error.reason) == ("retry", reason)


def test_send_error_never_carries_meta_text_number_or_token() -> None:
    error, _ = run_send(TEXT, graph_error(400, 131047))
    assert isinstance(error, ChannelSendError)
    for text in (str(error), repr(error), error.reason):
        assert "Re-engagement" not in text
        assert "31600000001" not in text
        assert "secret details" not in text
        assert ACCESS_TOKEN not in text


def test_send_without_access_token_pauses_the_channel_without_a_request() -> None:
    with respx.mock(assert_all_called=False) as router:
        route = router.post(MESSAGES_URL)
        with pytest.raises(ChannelSendError) as caught:
            send(TEXT, access_token=None)
        assert not route.called
    assert (caught.value.outcome, caught.value.reason) == ("pause", "whatsapp:not_configured")


def test_template_without_any_name_pauses_the_channel() -> None:
    with pytest.raises(ChannelSendError) as caught:
        send(OutboundMessage(to="31600000001", kind="template"), template_name=None)
    assert caught.value.outcome == "pause"


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        ("131047", "hold"),
        ("130429", "retry"),
        ("131048", "retry"),
        ("131056", "retry"),
        ("80007", "retry"),
        ("429", "retry"),
        ("190", "pause"),
        ("401", "pause"),
        ("250", "pause"),
        ("131026", "fail"),
        ("131051", "fail"),
        ("100", "fail"),
        ("130472", "fail"),
        (None, "fail"),
        ("garbage", "fail"),
    ],
)
def test_error_outcome_maps_codes_for_the_outbox(code: str | None, outcome: str) -> None:
    assert error_outcome(code) == outcome


def test_username_delivery_is_the_bsuid_with_its_parent_and_no_username() -> None:
    event = only(parse("text__username"))
    assert isinstance(event, InboundMessage)
    assert event.sender == "NL.10000000000000000001"
    assert event.reply_to == "NL.10000000000000000001"
    assert event.aliases == ("NL.ENT.10000000000000000009",)
    assert "fake_user" not in str(vars(event))


def test_phone_bsuid_and_parent_travel_together_strongest_first() -> None:
    event = only(parse("text__basic"))
    assert isinstance(event, InboundMessage)
    assert event.sender == event.reply_to == "31600000001"
    assert event.aliases == ("NL.10000000000000000001", "NL.ENT.10000000000000000009")


@pytest.mark.parametrize(
    ("field", "sender"),
    [
        ("from", "bla"),
        ("from", "0031612345678"),  # leading zero: not E.164
        ("from", "3161234567890123456"),  # longer than E.164 allows
        ("from", "31 6 1234"),
        ("from_user_id", "nl.1234"),
        ("from_user_id", "US."),
        ("from_user_id", "US.12-34"),
        ("from_parent_user_id", "US.ENT."),
    ],
)
def test_sender_outside_the_documented_shapes_is_dropped(field: str, sender: str) -> None:
    payload = json.loads(fixture("text__basic"))
    value = payload["entry"][0]["changes"][0]["value"]
    value["contacts"] = []
    message = value["messages"][0]
    del message["from"]
    message[field] = sender
    events = make_channel().parse(json.dumps(payload).encode())
    assert events == [Ignored(reason="whatsapp.invalid_sender")]
