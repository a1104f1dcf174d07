"""Pacing of safety alerts (helpline.outbound.alert_broadcast): 500 Signal
subscribers get the alert no faster than the configured rate, each exactly
once, and a captcha answer from signal-cli-rest-api pauses the channel and
alerts a coordinator instead of pushing on."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from helpline.config import Settings
from helpline.main import create_app
from helpline.store.models import Alert, ChannelPause, OutboxItem
from routing.policy_file import default_policy
from tests.conftest import SIGNAL_API, SIGNAL_TOKEN, FakeClock
from tests.console.conv_helpers import make_agent
from tests.outbound.test_channel_switch import send_all, services_of

RATE = 120  # a minute: two a second
CAPTCHA_TEXT = (
    "Failed to send (some) messages:\n"
    '+31600000000: CAPTCHA proof required for sending to "+31600000000", available '
    'options "RECAPTCHA, PUSH_CHALLENGE" with challenge token '
    '"26ccfae6-4fc1-4df0-a27c-084a8191704c", or wait "86400" seconds.\n'
)


@pytest.fixture
def paced(migrated: Settings, clock: FakeClock) -> Iterator[TestClient]:
    policy = dataclasses.replace(default_policy(), alert_sends_per_minute=RATE,
                                 alerts_per_week=5)
    app = create_app(migrated, clock=clock, policy=policy, run_worker=False, run_inbox=False)
    with TestClient(app, base_url="http://testserver") as c:
        yield c


def uuid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def subscribe_on_signal(client: TestClient, how_many: int, clock: FakeClock) -> None:
    """One signal-cli-rest-api delivery holding every subscriber's ALERTS
    (the webhook takes an array of JSON-RPC receive notifications)."""
    ts = int(clock.now.timestamp() * 1000)
    body = [{"jsonrpc": "2.0", "method": "receive", "params": {"account": "+31600000099",
             "envelope": {"source": uuid(n), "sourceNumber": None, "sourceUuid": uuid(n),
                          "sourceDevice": 1, "timestamp": ts + n,
                          "dataMessage": {"timestamp": ts + n, "message": "ALERTS"}}}}
            for n in range(how_many)]
    assert client.post(f"/webhooks/signal?token={SIGNAL_TOKEN}", json=body).status_code == 200


def approve_one_alert(client: TestClient) -> None:
    roos, iris = make_agent(client, alias="Roos"), make_agent(client, alias="Iris")
    cid = roos.get("/api/conversations?limit=1").json()["items"][0]["id"]
    roos.post(f"/api/conversations/{cid}/claim")
    alert = roos.post(f"/api/conversations/{cid}/alerts", {"text": "Let op: AB-12-CD"}).json()
    assert iris.post(f"/api/alerts/{alert['id']}/approve").json()["recipients"] > 0


def test_500_signal_subscribers_are_paced_and_each_gets_it_once(
    paced: TestClient, clock: FakeClock
) -> None:
    app: FastAPI = paced.app  # type: ignore[assignment]
    subscribe_on_signal(paced, 500, clock)
    with respx.mock(assert_all_called=False) as router:
        route = router.post(f"{SIGNAL_API}/v2/send").respond(201, json={"timestamp": "1"})
        send_all(app)  # the 500 confirmations
        route.calls.reset()
        approve_one_alert(paced)
        per_second: Counter[int] = Counter()
        recipients: Counter[str] = Counter()
        for second in range(300):
            before = len(route.calls)
            send_all(app)
            for call in route.calls[before:]:
                sent: dict[str, Any] = json.loads(call.request.content)
                assert sent["message"].startswith("Safety alert") or sent["message"].startswith(
                    "Veiligheidsmelding")
                recipients[sent["recipients"][0]] += 1
            per_second[second] = len(route.calls) - before
            clock.advance(seconds=1)
    assert max(per_second.values()) <= RATE // 60
    assert sum(per_second.values()) == 500
    assert set(recipients.values()) == {1}
    assert len(recipients) == 500


def test_a_captcha_pauses_the_alert_and_alerts_a_coordinator(
    paced: TestClient, clock: FakeClock
) -> None:
    app: FastAPI = paced.app  # type: ignore[assignment]
    services = services_of(app)
    subscribe_on_signal(paced, 10, clock)
    answers = iter([httpx.Response(201, json={"timestamp": "1"})] * 2
                   + [httpx.Response(400, json={"error": CAPTCHA_TEXT})])
    with respx.mock(assert_all_called=False) as router:
        route = router.post(f"{SIGNAL_API}/v2/send").respond(201, json={"timestamp": "1"})
        send_all(app)
        confirmations = len(route.calls)
        approve_one_alert(paced)
        route.mock(side_effect=lambda request: next(
            answers, httpx.Response(201, json={"timestamp": "1"})))
        for _ in range(30):
            send_all(app)
            clock.advance(seconds=1)
        # Two delivered, the third met the captcha, then the channel is quiet.
        assert len(route.calls) - confirmations == 3
    with services.db.session() as s:
        pause = s.exec(select(ChannelPause).where(ChannelPause.channel == "signal")).one()
        assert pause.until > clock.now
        assert [a.kind for a in s.exec(select(Alert)).all()] == ["signal:captcha_required"]
        waiting = s.exec(select(OutboxItem).where(OutboxItem.state == "pending")).all()
        assert len(waiting) == 8
