"""Fuzzing the webhooks and the whole HTTP API through the real app.

Webhooks: hypothesis-generated bodies, correctly signed (WhatsApp) or with the
right token (Signal): arbitrary JSON, mutated copies of the documented payloads
in tests/fixtures/, huge arrays, deep nesting and odd Unicode. An authentic
body is always answered 200 (the platform would retry anything else for
days), never 500; a delivery stores all of its messages or none; text
round-trips exactly, also through the console API.

The API: schemathesis generates requests for every route in app.openapi();
none may answer 500.

Example counts are modest; HELPLINE_FUZZ_EXAMPLES raises them for a long run.
"""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func
from sqlmodel import select

from helpline.channels.base import Channel, InboundMessage, MalformedPayload
from helpline.services import Services
from helpline.store.models import Message, Texter
from tests.conftest import SIGNAL_TOKEN, sign, wa_text_payload
from tests.console.helpers import sign_in_as

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("HELPLINE_FUZZ_EXAMPLES", "25"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large, HealthCheck.large_base_example],
)
API_FUZZ = settings(FUZZ, max_examples=max(5, EXAMPLES // 3))
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
OUR_SIGNAL_NUMBER = "+31600000099"  # tests.conftest make_settings
LONE_SURROGATE = re.compile("[\ud800-\udfff]")

ODD = ["\u202e", "\u200d", "\u200b", "\x00", "\ud800", "\udfff", "\ufeff", "\U0001f469\u200d"
       "\U0001f469\u200d\U0001f467", "\u0627\u0644\u0633\u0644\u0627\u0645", "\r\n", "\\", '"']
odd_text = st.one_of(
    st.text(alphabet=st.characters(categories=["L", "M", "N", "P", "S", "Z", "C", "Cs"]),
            max_size=40),
    st.lists(st.sampled_from(ODD), max_size=8).map("".join),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | odd_text,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(odd_text | st.sampled_from(["id", "from", "type", "text", "body",
                                                  "messages", "envelope", "source"]),
                      inner, max_size=4),
    max_leaves=20,
)


def services_of(app: FastAPI) -> Services:
    services: Services = app.state.services
    return services


def inbound_count(app: FastAPI) -> int:
    with services_of(app).db.session() as session:
        return int(session.exec(
            select(func.count()).select_from(Message).where(Message.direction == "in")
        ).one())


def stored_texts(app: FastAPI) -> dict[str, str]:
    """Decrypted inbound bodies by message id (real vault, real keys)."""
    services = services_of(app)
    out: dict[str, str] = {}
    with services.db.session() as session:
        rows = session.exec(
            select(Message, Texter.data_key_id).join(Texter).where(Message.direction == "in")
        ).all()
        for message, key_id in rows:
            if message.body is not None:
                key = services.vault.key(session, key_id)
                out[message.id] = services.vault.open(key, message.body, "messages", "body",
                                                      message.id)
    return out


class Poster:
    """Posts authentic deliveries and checks the all-or-nothing rule on each."""

    def __init__(self, client: TestClient, app: FastAPI) -> None:
        self.client, self.app = client, app
        self.seen: set[tuple[str, str]] = set()

    def channel(self, name: str) -> Channel:
        return services_of(self.app).channels[name]

    def post(self, name: str, body: bytes) -> list[InboundMessage]:
        try:
            events = self.channel(name).parse(body)
        except MalformedPayload:
            events = []
        messages = [e for e in events if isinstance(e, InboundMessage)]
        new = {(m.channel.value, m.provider_message_id) for m in messages} - self.seen
        before = inbound_count(self.app)
        if name == "whatsapp":
            r = self.client.post("/webhooks/whatsapp", content=body,
                                 headers={"X-Hub-Signature-256": sign(body),
                                          "Content-Type": "application/json"})
        else:
            r = self.client.post(f"/webhooks/signal?token={SIGNAL_TOKEN}", content=body,
                                 headers={"Content-Type": "application/json"})
        assert r.status_code == 200, (r.status_code, r.text)
        assert inbound_count(self.app) - before == len(new), "delivery stored in part"
        self.seen |= new
        return messages


@pytest.fixture
def poster(client: TestClient, app: FastAPI) -> Poster:
    return Poster(client, app)


def fixture_payloads(platform: str) -> list[Any]:
    out = []
    for path in sorted((FIXTURES / platform).glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if platform == "signal":
            data = _retarget_signal(data)
        out.append(data)
    return out


def _retarget_signal(data: Any) -> Any:
    """The fixtures address another account; ours is in make_settings."""
    if isinstance(data, list):
        return [_retarget_signal(d) for d in data]
    if isinstance(data, dict):
        if "account" in data:
            data = {**data, "account": OUR_SIGNAL_NUMBER}
        return {k: _retarget_signal(v) for k, v in data.items()}
    return data


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, (*prefix, i)))
    return out


@st.composite
def near_valid(draw: st.DrawFn, platform: str) -> bytes:
    """A documented payload with a few leaves replaced, removed or duplicated."""
    doc = copy.deepcopy(draw(st.sampled_from(fixture_payloads(platform))))
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        action = draw(st.sampled_from(["replace", "delete", "duplicate", "odd"]))
        if action == "delete":
            del parent[last]
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[last]))
        elif action == "odd":
            parent[last] = draw(odd_text)
        else:
            parent[last] = draw(json_values)
    return json.dumps(doc).encode()


@FUZZ
@given(value=json_values)
def test_signed_arbitrary_json_is_answered_200_and_never_half_stored(
    poster: Poster, value: Any
) -> None:
    body = json.dumps(value).encode()
    poster.post("whatsapp", body)
    poster.post("signal", body)


@FUZZ
@given(body=near_valid("whatsapp"))
def test_mutated_meta_payloads_never_give_a_server_error(poster: Poster, body: bytes) -> None:
    poster.post("whatsapp", body)


@FUZZ
@given(body=near_valid("signal"))
def test_mutated_signal_payloads_never_give_a_server_error(poster: Poster, body: bytes) -> None:
    poster.post("signal", body)


def test_deep_nesting_is_treated_as_malformed_not_a_crash(poster: Poster) -> None:
    deep = b"[" * 10_000 + b"]" * 10_000
    deep_obj = b'{"a":' * 10_000 + b"1" + b"}" * 10_000
    for body in (deep, deep_obj):
        poster.post("whatsapp", body)
        poster.post("signal", body)
    # Deep nesting inside an otherwise valid message.
    inner = json.dumps(wa_text_payload("x", message_id="wamid.DEEP")).replace(
        '"x"', '{"a":' * 5_000 + "1" + "}" * 5_000).encode()
    assert poster.post("whatsapp", inner) == []


def test_huge_arrays_store_every_message_or_are_ignored(poster: Poster, app: FastAPI) -> None:
    payload = wa_text_payload("batch")
    template = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    payload["entry"][0]["changes"][0]["value"]["messages"] = [
        {**template, "id": f"wamid.HUGE{n}", "text": {"body": f"bericht {n}"}} for n in range(100)
    ]
    assert len(poster.post("whatsapp", json.dumps(payload).encode())) == 100
    assert sorted(stored_texts(app).values()) == sorted(f"bericht {n}" for n in range(100))
    poster.post("whatsapp", json.dumps({"object": "whatsapp_business_account",
                                        "entry": list(range(20_000))}).encode())
    poster.post("signal", json.dumps([0] * 20_000).encode())


SPECIALS = [
    "\u202eevil\u202c \u200f\u05e9\u05dc\u05d5\u05dd",  # RTL override, RTL mark, Hebrew
    "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 \u200d\u200c",  # ZWJ, ZWNJ
    "nul\x00in\x00the\x00middle\x00",
    "lone \ud800 high and \udfff low",
    "x" * 65_536,
    "\U0001f642" * 16_384,  # 64 KiB of 4-byte characters
]


@FUZZ
@given(text=st.one_of(odd_text, st.sampled_from(SPECIALS)))
@example(text=SPECIALS[2])
@example(text=SPECIALS[3])
@example(text=SPECIALS[4])
def test_odd_unicode_round_trips_exactly_through_storage_and_console(
    client: TestClient, app: FastAPI, poster: Poster, text: str
) -> None:
    if "X-CSRF-Token" not in client.headers:
        sign_in_as(client, app, "volunteer")
    n = len(poster.seen)
    before = stored_texts(app)
    # json.dumps escapes lone surrogates as "\ud800", as a platform's encoder would.
    body = json.dumps(wa_text_payload(text, message_id=f"wamid.ODD{n}",
                                      wa_id=f"316{n % 7:08d}")).encode()
    # What the JSON conveys: a surrogate pair written as two escapes is one character.
    text = json.loads(json.dumps(text))
    [message] = poster.post("whatsapp", body)
    assert message.text == text
    [message_id] = set(stored_texts(app)) - set(before)
    assert stored_texts(app)[message_id] == text
    with services_of(app).db.session() as session:
        row = session.get(Message, message_id)
        assert row is not None
        conversation_id = row.conversation_id
    r = client.get(f"/api/conversations/{conversation_id}")
    assert r.status_code == 200, r.text[:200]
    shown = {m["id"]: m["body"] for m in r.json()["messages"]}
    # Exact, except that a lone surrogate (no UTF-8 form) is shown as U+FFFD.
    assert shown[message_id] == LONE_SURROGATE.sub("\ufffd", text)


def test_lone_surrogates_in_sender_ids_are_not_a_server_error(poster: Poster) -> None:
    for n, sender in enumerate(["31\ud800612345678", "\udfff", "US.\ud83d"]):
        poster.post("whatsapp", json.dumps(
            wa_text_payload("hoi", message_id=f"wamid.SURR{n}", wa_id=sender)).encode())
        frame = {"envelope": {"sourceUuid": sender, "source": sender, "sourceNumber": sender,
                              "timestamp": 1700000000000 + n,
                              "dataMessage": {"timestamp": 1700000000000 + n, "message": "hoi"}},
                 "account": OUR_SIGNAL_NUMBER}
        poster.post("signal", json.dumps(frame).encode())


@FUZZ
@given(text=st.one_of(odd_text, st.sampled_from(SPECIALS)))
def test_odd_unicode_round_trips_from_signal(poster: Poster, app: FastAPI, text: str) -> None:
    assume(text != "")  # an empty dataMessage is housekeeping, ignored by design
    n = len(poster.seen)
    frame = {"envelope": {"sourceUuid": f"0d6e4a1c-5b7f-4c3e-9a2d-8f1b2c3d{n:04d}",
                          "sourceDevice": 1, "timestamp": 1700000000000 + n,
                          "dataMessage": {"timestamp": 1700000000000 + n, "message": text}},
             "account": OUR_SIGNAL_NUMBER}
    [message] = poster.post("signal", json.dumps(frame).encode())
    text = json.loads(json.dumps(text))
    assert message.text == text
    assert text in stored_texts(app).values()


# --- schemathesis ------------------------------------------------------------


def test_no_route_answers_500_to_generated_requests(app: FastAPI, client: TestClient) -> None:
    import schemathesis

    sign_in_as(client, app, "admin")
    signed_in = {k: v for k, v in client.headers.items()
                 if k.lower() in ("origin", "x-csrf-token")}
    cookies = dict(client.cookies.items())
    # The description is served to admins only, and only with HELPLINE_API_DOCS
    # (tests/console/test_api_docs.py); the fuzzer reads it from the app.
    schema = schemathesis.openapi.from_dict(app.openapi())
    schema.app = app
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # Err raises here
        operations += 1

        @API_FUZZ
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            for auth in (True, False):
                response = case.call(headers=signed_in if auth else None,
                                     cookies=cookies if auth else None)
                if response.status_code >= 500 and response.status_code != 503:
                    failures.append(f"{case.method} {case.formatted_path} -> "
                                    f"{response.status_code}")

        check()
    assert operations > 10
    assert not failures, sorted(set(failures))[:20]
