"""Abuse limits: a flood from one visitor is throttled with a clear answer
while other visitors and the console go on; a flood of new chats hits the
global limit; the optional proof of work."""

from __future__ import annotations

import hashlib
import time
from itertools import count

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import func, select

from helpline.config import Settings
from helpline.main import create_app
from helpline.store.models import Conversation, Message
from helpline.webchat.limits import ChatLimits, TooFast
from helpline.webchat.session import ProofOfWork, ProofRequired
from tests.conftest import FakeClock
from tests.console.conv_helpers import make_agent
from tests.webchat.helpers import say, services_of


def stored_inbound(app: FastAPI) -> int:
    with services_of(app).db.session() as s:
        return s.exec(select(func.count()).select_from(Message)
                      .where(Message.direction == "in")).one()


def test_a_flood_of_1000_messages_from_one_visitor_is_throttled_and_nothing_else_slows(
    app: FastAPI, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The flood arrives within one instant: no token refills while it lasts.
    monkeypatch.setattr("helpline.webchat.routes.time.monotonic", lambda: 1000.0)
    burst = services_of(app).settings.webchat_session_burst
    agent = make_agent(TestClient(app), "volunteer")
    start = time.perf_counter()
    assert agent.get("/api/conversations").status_code == 200
    console_before = time.perf_counter() - start

    codes: list[int] = []
    refusal = None
    for n in range(1000):
        response = say(client, f"flood {n}", id=f"c-flood-{n}")
        codes.append(response.status_code)
        if response.status_code == 429 and refusal is None:
            refusal = response
    assert codes.count(202) == burst
    assert codes.count(429) == 1000 - burst
    assert refusal is not None
    assert refusal.json()["error"].startswith("You are sending messages too quickly")
    assert int(refusal.headers["retry-after"]) >= 1
    assert stored_inbound(app) == burst  # the queue and the disk saw only the burst

    with TestClient(app, base_url="https://testserver") as other:
        assert say(other, "Een gewone vraag").status_code == 202
    start = time.perf_counter()
    items = agent.get("/api/conversations").json()["items"]
    console_after = time.perf_counter() - start
    assert len(items) == 2
    assert console_after < max(0.5, 10 * console_before)


def test_the_visitor_may_write_again_after_the_wait(
    app: FastAPI, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr("helpline.webchat.routes.time.monotonic", lambda: now[0])
    burst = services_of(app).settings.webchat_session_burst
    for n in range(burst):
        assert say(client, f"m{n}").status_code == 202
    refused = say(client, "one more")
    assert refused.status_code == 429
    now[0] += float(refused.headers["retry-after"])
    assert say(client, "one more").status_code == 202


def test_a_flood_of_new_chats_meets_the_global_limit_with_a_clear_answer(
    migrated: Settings, clock: FakeClock
) -> None:
    settings = migrated.model_copy(update={"webchat": True, "webchat_new_per_minute": 12})
    app = create_app(settings, clock=clock, run_worker=False, run_inbox=False)
    codes = []
    with TestClient(app, base_url="https://testserver") as client:
        for n in range(5):
            client.cookies.clear()
            response = say(client, f"new {n}")
            codes.append(response.status_code)
    assert codes == [202, 202, 429, 429, 429]  # a burst of 12 // 6 = 2
    assert "very busy" in response.json()["error"]
    assert "112" in response.json()["error"]
    with services_of(app).db.session() as s:
        assert s.exec(select(func.count()).select_from(Conversation)).one() == 2


def test_the_per_visitor_buckets_do_not_grow_without_bound() -> None:
    limits = ChatLimits(burst=2, seconds=1, global_per_minute=10**9, new_per_minute=10**9)
    limits.visitor.keys = 100
    for n in range(1000):
        limits.check(f"v{n}", new=True, now=1.0)
    assert len(limits.visitor._buckets) == 100


def test_the_global_message_bucket_refills() -> None:
    limits = ChatLimits(burst=100, seconds=1, global_per_minute=60, new_per_minute=60)
    for _ in range(10):
        limits.check("v", new=False, now=5.0)
    with pytest.raises(TooFast):
        limits.check("v", new=False, now=5.0)
    limits.check("v", new=False, now=6.1)


def solve(challenge: str, bits: int) -> str:
    for counter in count():
        digest = hashlib.sha256(f"{challenge}:{counter}".encode()).digest()
        if int.from_bytes(digest, "big") >> (256 - bits) == 0:
            return str(counter)
    raise AssertionError


@pytest.fixture
def pow_app(migrated: Settings, clock: FakeClock) -> FastAPI:
    settings = migrated.model_copy(update={"webchat": True, "webchat_pow_bits": 8})
    return create_app(settings, clock=clock, run_worker=False, run_inbox=False)


def test_with_proof_of_work_the_first_message_needs_a_solved_challenge(
    pow_app: FastAPI,
) -> None:
    with TestClient(pow_app, base_url="https://testserver") as client:
        refused = say(client, "Hoi")
        assert refused.status_code == 403
        assert "Reload the page" in refused.json()["error"]
        data = client.get("/chat/api/challenge").json()
        assert data["bits"] == 8
        counter = solve(data["challenge"], 8)
        assert say(client, "Hoi", challenge=data["challenge"], counter=counter).status_code == 202
        # Later messages of the same chat need none.
        assert say(client, "Nog iets").status_code == 202
        # A solved challenge opens one chat only.
        client.cookies.clear()
        again = say(client, "Hoi", challenge=data["challenge"], counter=counter)
        assert again.status_code == 403


def test_a_wrong_forged_or_expired_proof_is_refused() -> None:
    from helpline.crypto import BlindIndex

    proof = ProofOfWork(BlindIndex(b"k" * 32), bits=8)
    challenge = proof.challenge(now=1000.0)
    counter = solve(challenge, 8)
    expires, nonce, _sig = challenge.split(".")
    forged = f"{int(expires) + 999}.{nonce}.{'0' * 32}"
    for args in ((challenge, "x"), (forged, solve(forged, 8)), ("junk", "1"), (None, None),
                 (challenge, counter, 2000.0)):
        with pytest.raises(ProofRequired):
            proof.check(*args)  # type: ignore[arg-type]
    proof.check(challenge, counter, now=1001.0)


def test_without_proof_of_work_the_challenge_is_empty(client: TestClient) -> None:
    assert client.get("/chat/api/challenge").json() == {"challenge": None, "bits": 0}


def test_headers_of_a_refusal_carry_the_security_headers(client: TestClient) -> None:
    for _ in range(20):
        response = say(client, "x")
    assert response.status_code == 429
    assert "default-src 'none'" in response.headers["content-security-policy"]
