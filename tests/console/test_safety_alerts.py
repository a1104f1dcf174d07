"""Safety alerts end to end (issue 18, part 1) through the real app, with the
Graph API and signal-cli-rest-api faked by respx: subscribing in two
languages, a draft masked, nothing sent before a second person approves, sent
once to each subscriber after it, the WhatsApp template outside the 24 h
window and the text on reply, counts without recipients, statistics
suppressed, and deliveries erased with the texter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import respx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from helpline.store.models import AlertDelivery, SafetyAlert, Texter
from tests.conftest import FakeClock
from tests.console.conv_helpers import make_agent
from tests.outbound.test_channel_switch import (
    Platforms,
    count,
    send_all,
    services_of,
    signal,
    whatsapp,
)

A, B = "31611111111", "31622222222"
UUID = "3f2e1d0c-9b8a-4c7d-8e6f-5a4b3c2d1e0f"
REPORT = ("Pas op voor een klant, belt van 06-98765432, rijdt in AB-12-CD, mailt "
          "klant.x@example.nl. Hij sloeg {pseudonym} gisteren.")


def drain(app: FastAPI, clock: FakeClock, seconds: int = 10) -> None:
    """Run the worker while the paced deliveries fall due."""
    for _ in range(seconds):
        send_all(app)
        clock.advance(seconds=1)
    send_all(app)


@pytest.fixture
def platforms() -> Iterator[Platforms]:
    with respx.mock(assert_all_called=False) as router:
        yield Platforms(router)


def test_subscribing_and_unsubscribing_in_two_languages(
    app: FastAPI, client: TestClient, platforms: Platforms
) -> None:
    whatsapp(client, "MELDINGEN", wa_id=A)
    send_all(app)
    on = platforms.whatsapp_texts()[-1]
    assert on.startswith("Je krijgt nu veiligheidsmeldingen")
    assert "Hoogstens 2 per week" in on
    with services_of(app).db.session() as s:
        assert s.exec(select(Texter.alerts_since)).one() is not None
    whatsapp(client, "meldingen", wa_id=A)
    send_all(app)
    assert platforms.whatsapp_texts()[-1].startswith("Je krijgt geen veiligheidsmeldingen meer")

    signal(client, "TAAL english", uuid=UUID)
    signal(client, "Alerts!", uuid=UUID)
    send_all(app)
    assert platforms.signal_sends()[-1]["message"].startswith("You now get safety alerts")
    assert "At most 2 a week" in platforms.signal_sends()[-1]["message"]
    signal(client, "STOP", uuid=UUID)
    with services_of(app).db.session() as s:
        assert s.exec(select(Texter.alerts_since).where(Texter.channel == "signal")).one() is None


def test_an_alert_is_masked_approved_by_a_second_person_and_sent_once_to_each(
    app: FastAPI, client: TestClient, clock: FakeClock, platforms: Platforms
) -> None:
    services = services_of(app)
    whatsapp(client, "MELDINGEN", wa_id=B)  # B's 24 h window will have closed
    clock.advance(hours=25)
    whatsapp(client, "MELDINGEN", wa_id=A)
    signal(client, "MELDINGEN", uuid=UUID)
    whatsapp(client, "Er was een gevaarlijke klant", wa_id="31633333333")  # not subscribed
    send_all(app)
    before_whatsapp, before_signal = len(platforms.graph.calls), len(platforms.signal.calls)

    roos, iris = make_agent(client, alias="Roos"), make_agent(client, alias="Iris")
    coco = make_agent(client, "coordinator", alias="Coco")
    reporter = next(i for i in roos.get("/api/conversations").json()["items"]
                    if i["pseudonym"])
    cid, pseudonym = reporter["id"], reporter["pseudonym"]
    assert roos.post(f"/api/conversations/{cid}/claim").status_code == 200
    drafted = roos.post(f"/api/conversations/{cid}/alerts",
                        {"text": REPORT.format(pseudonym=pseudonym)})
    assert drafted.status_code == 201, drafted.text
    alert = drafted.json()
    assert alert["state"] == "draft"
    assert alert["body"] == ("Pas op voor een klant, belt van 06-9876****, rijdt in AB-**-**, "
                             "mailt k***@***.nl. Hij sloeg [...] gisteren.")
    assert pseudonym not in drafted.text

    # Nothing leaves before approval.
    send_all(app)
    assert (len(platforms.graph.calls), len(platforms.signal.calls)) == (before_whatsapp,
                                                                         before_signal)
    # Four eyes: the drafter cannot approve; a partner or admin may not either.
    refused = roos.post(f"/api/alerts/{alert['id']}/approve")
    assert refused.status_code == 409
    assert refused.json()["code"] == "four_eyes"
    admin = make_agent(client, "admin", alias="Adam")
    assert admin.post(f"/api/alerts/{alert['id']}/approve").status_code == 403
    approved = iris.post(f"/api/alerts/{alert['id']}/approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "sent"
    assert approved.json()["recipients"] == 3
    assert iris.post(f"/api/alerts/{alert['id']}/approve").status_code == 409

    drain(app, clock)
    new_texts = platforms.whatsapp_texts()[before_whatsapp:]
    alert_texts = [t for t in new_texts if t.startswith("Veiligheidsmelding van de hulplijn")]
    assert len(alert_texts) == 1  # A, inside the window
    assert "06-9876****" in alert_texts[0]
    templates = [c for c in platforms.graph.calls[before_whatsapp:]
                 if b'"template"' in c.request.content]
    assert len(templates) == 1  # B, outside the window: only the neutral template
    signal_alerts = [m for m in platforms.signal_sends()[before_signal:]
                     if m["message"].startswith("Veiligheidsmelding")]
    assert [m["recipients"] for m in signal_alerts] == [[UUID]]

    # B answers the template: now the text goes out, once.
    whatsapp(client, "ok, wat is er?", wa_id=B)
    send_all(app)
    later = [t for t in platforms.whatsapp_texts() if t.startswith("Veiligheidsmelding")]
    assert len(later) == 2
    send_all(app)
    assert len([t for t in platforms.whatsapp_texts()
                if t.startswith("Veiligheidsmelding")]) == 2

    # The console lists the alert with counts, never who received it.
    for agent in (coco, iris):
        listing = agent.get("/api/alerts")
        assert listing.status_code == 200
        item = listing.json()["items"][0]
        assert item["recipients"] == 3
        assert sum(item["deliveries"].values()) == 3
        with services.db.session() as s:
            for texter in s.exec(select(Texter)).all():
                assert texter.id not in listing.text
                assert texter.pseudonym not in listing.text
        page = agent.get("/console/alerts")
        assert page.status_code == 200
        assert "06-9876****" in page.text
    assert coco.get("/api/alerts").json()["subscribers"] == 3
    # A partner worker has nothing to do with alerts.
    gera = make_agent(client, "partner", alias="Gera", partner="ggd")
    assert gera.get("/api/alerts").status_code == 403

    # Statistics count the alert and subscribers, small numbers suppressed.
    stats = coco.get("/api/stats?period=week").json()
    metrics = {(r["metric"], r["value"]) for r in stats["rows"]}
    assert ("safety_alerts_sent", "<5") in metrics
    assert ("alert_subscriptions", "<5") in metrics

    # Erasure takes the texter's deliveries (and subscription) with it.
    whatsapp(client, "WIS", wa_id=A)
    whatsapp(client, "JA", wa_id=A)
    assert count(app, AlertDelivery) == 2
    with services.db.session() as s:
        assert s.exec(select(SafetyAlert)).one().recipients == 3


def test_drafts_are_refused_clearly(app: FastAPI, client: TestClient,
                                    platforms: Platforms) -> None:
    whatsapp(client, "hallo", wa_id=A)
    roos, iris = make_agent(client, alias="Roos"), make_agent(client, alias="Iris")
    coco = make_agent(client, "coordinator", alias="Coco")
    cid = roos.get("/api/conversations").json()["items"][0]["id"]
    roos.post(f"/api/conversations/{cid}/claim")
    # A colleague's conversation, an unknown one, a coordinator: no draft.
    assert iris.post(f"/api/conversations/{cid}/alerts", {"text": "x"}).status_code == 404
    assert roos.post("/api/conversations/nope/alerts", {"text": "x"}).status_code == 404
    assert coco.post(f"/api/conversations/{cid}/alerts", {"text": "x"}).status_code == 403
    for bad in ({"text": ""}, {"text": "x" * 1001}, {}, {"text": 3}):
        assert roos.post(f"/api/conversations/{cid}/alerts", bad).status_code in (400, 422)
    draft = roos.post(f"/api/conversations/{cid}/alerts", {"text": "Let op bij de Ringbaan"})
    alert_id = draft.json()["id"]
    assert iris.post(f"/api/alerts/{alert_id}/discard").status_code == 409
    assert coco.post(f"/api/alerts/{alert_id}/discard").json()["state"] == "discarded"
    assert coco.post(f"/api/alerts/{alert_id}/approve").status_code == 409
    assert coco.post("/api/alerts/nope/approve").status_code == 404
    listed = coco.get("/api/alerts").json()["items"][0]
    assert (listed["state"], listed["body"]) == ("discarded", None)


def test_the_weekly_maximum_promised_to_subscribers_holds(
    app: FastAPI, client: TestClient, clock: FakeClock, platforms: Platforms
) -> None:
    whatsapp(client, "MELDINGEN", wa_id=A)
    roos, coco = make_agent(client, alias="Roos"), make_agent(client, "coordinator")
    cid = roos.get("/api/conversations").json()["items"][0]["id"]
    ids = [roos.post(f"/api/conversations/{cid}/alerts", {"text": f"melding {n}"}).json()["id"]
           for n in range(3)]
    assert coco.post(f"/api/alerts/{ids[0]}/approve").status_code == 200
    assert coco.post(f"/api/alerts/{ids[1]}/approve").status_code == 200
    third = coco.post(f"/api/alerts/{ids[2]}/approve")
    assert third.status_code == 409
    assert (third.json()["code"], third.json()["limit"]) == ("alerts_weekly_limit", 2)
    clock.advance(days=7, seconds=1)
    coco = make_agent(client, "coordinator")  # the old session has long expired
    assert coco.post(f"/api/alerts/{ids[2]}/approve").status_code == 200
