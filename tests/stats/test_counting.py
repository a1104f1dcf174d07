"""Statistics through the real app: what is counted, once per conversation,
surviving erasure and retention; who may read it; what the page shows."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select, text

from helpline.lifecycle import retention as lifecycle
from helpline.outbound.conversations import queue_outbound
from helpline.outbound.effects import Effects
from helpline.services import Services
from helpline.stats import counting
from helpline.store.models import Conversation, StatCount, Texter
from routing import model as r
from tests.conftest import FAKE_NUMBER, FakeClock, post_whatsapp, wa_text_payload

_ids = itertools.count(1)
WEEK, MONTH = "2026-W48", "2026-11"  # the FakeClock starts Wed 25 Nov 2026, 12:00 UTC


def say(client: TestClient, body: str, number: str = FAKE_NUMBER) -> None:
    payload = wa_text_payload(body, message_id=f"wamid.ST{next(_ids)}", wa_id=number)
    assert post_whatsapp(client, payload).status_code == 200


def services_of(app: FastAPI) -> Services:
    services: Services = app.state.services
    return services


def counts(app: FastAPI, period: str = "week") -> dict[tuple[str, str, str, str], int]:
    with services_of(app).db.session() as session:
        return {
            (b, m, d, k): n for p, b, m, d, k, n in session.execute(
                select(StatCount.period, StatCount.bucket, StatCount.metric,  # type: ignore[call-overload]
                       StatCount.dimension, StatCount.key, StatCount.count)
            ).all() if p == period
        }


def only_conversation(app: FastAPI) -> tuple[Conversation, Texter]:
    with services_of(app).db.session() as session:
        conversation = session.execute(select(Conversation)).scalars().one()
        texter = session.get(Texter, conversation.texter_id)
        assert texter is not None
        return conversation, texter


# ------------------------------------------------------------------ recording


def test_a_texter_sending_many_messages_moves_each_count_once(
    app: FastAPI, client: TestClient
) -> None:
    for n in range(25):
        say(client, f"bericht {n}")
    for period, bucket in (("week", WEEK), ("month", MONTH)):
        got = counts(app, period)
        assert got[(bucket, "conversations", "all", "all")] == 1
        assert got[(bucket, "conversations", "channel", "whatsapp")] == 1
        assert got[(bucket, "conversations", "queue", "peer")] == 1


def test_two_texters_are_two_conversations(app: FastAPI, client: TestClient) -> None:
    say(client, "hallo")
    say(client, "hallo", number="31600000001")
    assert counts(app)[(WEEK, "conversations", "all", "all")] == 2


def test_urgent_and_inside_hours_are_counted_per_conversation(
    app: FastAPI, client: TestClient
) -> None:
    say(client, "ik ben bedreigd")
    say(client, "weer bedreigd, geweld")
    got = counts(app)
    assert got[(WEEK, "urgent", "all", "all")] == 1
    assert (WEEK, "outside_hours", "all", "all") not in got  # Wednesday 13:00 local: open


def test_a_conversation_starting_on_saturday_counts_as_outside_hours(
    app: FastAPI, client: TestClient, clock: FakeClock
) -> None:
    clock.now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    say(client, "hallo")
    assert counts(app)[(WEEK, "outside_hours", "all", "all")] == 1


def test_language_is_counted_once_when_it_becomes_known(app: FastAPI, client: TestClient) -> None:
    say(client, "hallo")
    services = services_of(app)
    with services.db.session() as session:
        conversation = session.execute(select(Conversation)).scalars().one()
        counting.observe_conversation(services, session, conversation, "ro")
        counting.observe_conversation(services, session, conversation, "en")
    language = {k: n for (b, m, d, k), n in counts(app).items() if d == "language"}
    assert sum(language.values()) == 1


def test_practice_conversations_are_never_counted(app: FastAPI, client: TestClient) -> None:
    say(client, "hallo")
    services = services_of(app)
    with services.db.session() as session:
        session.execute(text("DELETE FROM stat_counts"))
        conversation = session.execute(select(Conversation)).scalars().one()
        conversation.practice = True
        conversation.stats_flags = ""
        counting.observe_conversation(services, session, conversation, "nl")
        counting.record_label(services, session, conversation, "health")
        counting.record_referral(services, session, conversation, "ggd", "proposed")
        counting.record_closed(services, session, conversation, services.now())
    assert counts(app) == {}


def test_referrals_are_counted_per_partner_and_stage_once_per_conversation(
    app: FastAPI, client: TestClient
) -> None:
    say(client, "hallo")
    services = services_of(app)
    with services.db.session() as session:
        conversation, texter = (session.execute(select(Conversation)).scalars().one(),
                                session.execute(select(Texter)).scalars().one())
        key = services.vault.key(session, texter.data_key_id)
        effects = Effects(services, session, texter, conversation, key, services.now())
        effects.apply([r.AskConsent(partner="ggd"), r.AskConsent(partner="ggd"),
                       r.Refer(partner="ggd"), r.Withdraw(partner="ggd"),
                       r.AskConsent(partner="pmw"), r.DeclineConsent(partner="pmw")])
    got = counts(app)
    assert got[(WEEK, "referrals_proposed", "partner", "ggd")] == 1
    assert got[(WEEK, "referrals_accepted", "partner", "ggd")] == 1
    assert got[(WEEK, "referrals_withdrawn", "partner", "ggd")] == 1
    assert got[(WEEK, "referrals_proposed", "partner", "pmw")] == 1
    assert (WEEK, "referrals_accepted", "partner", "pmw") not in got


def test_topic_labels_are_counted_once_per_conversation_and_topic(
    app: FastAPI, client: TestClient
) -> None:
    say(client, "hallo")
    services = services_of(app)
    with services.db.session() as session:
        conversation = session.execute(select(Conversation)).scalars().one()
        for topic in ("health", "health", "housing"):
            counting.record_label(services, session, conversation, topic)
    got = counts(app)
    assert got[(WEEK, "conversations", "topic", "health")] == 1
    assert got[(WEEK, "conversations", "topic", "housing")] == 1


def test_first_human_answer_lands_in_a_wait_bin_once(
    app: FastAPI, client: TestClient, clock: FakeClock
) -> None:
    say(client, "hallo")
    clock.advance(minutes=7)
    services = services_of(app)
    with services.db.session() as session:
        conversation = session.execute(select(Conversation)).scalars().one()
        texter = session.execute(select(Texter)).scalars().one()
        key = services.vault.key(session, texter.data_key_id)
        for _ in range(3):
            queue_outbound(services, session, texter=texter, conversation=conversation,
                           text="Hoi, ik ben er", key=key, now=services.now(),
                           author_kind="user")
    got = counts(app)
    assert got[(WEEK, "wait_first_answer", "bin", "5")] == 1
    assert sum(n for (b, m, d, k), n in got.items() if m == "wait_first_answer") == 1


def test_bot_replies_are_not_a_human_answer(app: FastAPI, client: TestClient) -> None:
    say(client, "hallo")
    say(client, "MENU")
    assert not any(m == "wait_first_answer" for (b, m, d, k) in counts(app))


def test_unanswered_conversation_purged_by_retention_counts_as_never_answered_and_stays(
    app: FastAPI, client: TestClient, clock: FakeClock
) -> None:
    say(client, "hallo")
    say(client, "hallo", number="31600000001")
    clock.advance(days=40)
    assert lifecycle.purge(services_of(app)).texters == 2
    got = counts(app)
    assert got[(WEEK, "never_answered", "all", "all")] == 2
    assert got[(WEEK, "conversations", "all", "all")] == 2
    with services_of(app).db.session() as session:
        assert session.execute(select(Conversation)).first() is None


def test_an_erasure_request_is_counted_and_the_figures_survive_it(
    app: FastAPI, client: TestClient, clock: FakeClock
) -> None:
    say(client, "hallo")
    clock.advance(hours=1)
    say(client, "WIS")
    say(client, "JA")
    with services_of(app).db.session() as session:
        assert session.execute(select(Texter)).first() is None
    got = counts(app)
    assert got[(WEEK, "erasure_requests", "all", "all")] == 1
    assert got[(WEEK, "conversations", "all", "all")] == 1
    assert got[(WEEK, "never_answered", "all", "all")] == 1


def test_the_statistics_table_holds_no_identifier(app: FastAPI, client: TestClient) -> None:
    say(client, "hallo, geweld")
    conversation, texter = only_conversation(app)
    services = services_of(app)
    columns = {c["name"] for c in inspect(services.db.engine).get_columns("stat_counts")}
    # The helpline is an organisation (issue 17), not a person.
    assert columns == {"helpline_id", "period", "bucket", "metric", "dimension", "key", "count"}
    with services.db.session() as session:
        rows = session.execute(text("SELECT * FROM stat_counts")).all()
    flat = " ".join(str(v) for row in rows for v in row)
    for secret in (conversation.id, texter.id, texter.pseudonym, texter.blind_index,
                   FAKE_NUMBER, "13:00", "12:00", "2026-11-25"):
        assert secret not in flat


# ------------------------------------------------------------------ access and API


def sign_in(client: TestClient, app: FastAPI, role: str) -> None:
    helpers = pytest.importorskip("tests.console.helpers")
    helpers.sign_in_as(client, app, role)


def busy_week(app: FastAPI) -> None:
    services = services_of(app)
    with services.db.session() as session:
        counting.add_counts(session, {
            ("week", WEEK, "conversations", "all", "all"): 30,
            ("week", WEEK, "conversations", "channel", "whatsapp"): 28,
            ("week", WEEK, "conversations", "channel", "signal"): 2,
            ("month", MONTH, "conversations", "all", "all"): 30,
            ("month", MONTH, "conversations", "channel", "whatsapp"): 28,
            ("month", MONTH, "conversations", "channel", "signal"): 2,
        })


@pytest.mark.parametrize("role", ["coordinator", "admin"])
def test_coordinators_and_admins_read_statistics_as_json(
    app: FastAPI, client: TestClient, role: str
) -> None:
    busy_week(app)
    sign_in(client, app, role)
    response = client.get("/api/stats", params={"period": "week"})
    assert response.status_code == 200
    body = response.json()
    assert body["period"] == "week"
    assert body["threshold"] == 5
    rows = {(r["bucket"], r["metric"], r["dimension"], r["key"]): r["value"]
            for r in body["rows"]}
    assert rows[(WEEK, "conversations", "all", "all")] == 30
    assert rows[(WEEK, "conversations", "channel", "signal")] == "<5"
    assert rows[(WEEK, "conversations", "channel", "whatsapp")] == ">=5"
    assert all(r["bucket"] == WEEK for r in body["rows"])


def test_statistics_as_csv(app: FastAPI, client: TestClient) -> None:
    busy_week(app)
    sign_in(client, app, "coordinator")
    response = client.get("/api/stats.csv", params={"period": "month"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(response.text)))
    assert lines[0] == ["bucket", "metric", "dimension", "key", "value"]
    assert [MONTH, "conversations", "channel", "signal", "<5"] in lines


@pytest.mark.parametrize("path", ["/api/stats", "/api/stats.csv",
                                  "/api/stats/transparency", "/console/stats"])
@pytest.mark.parametrize("role", ["volunteer", "partner"])
def test_volunteers_and_partners_cannot_read_statistics(
    app: FastAPI, client: TestClient, role: str, path: str
) -> None:
    sign_in(client, app, role)
    assert client.get(path).status_code == 403


@pytest.mark.parametrize("path", ["/api/stats", "/api/stats.csv", "/api/stats/transparency"])
def test_anonymous_statistics_requests_are_401(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 401


def test_an_anonymous_statistics_page_visit_goes_to_sign_in(client: TestClient) -> None:
    page = client.get("/console/stats", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/console/login"


@pytest.mark.parametrize("query", [{"period": "day"}, {"period": "2026-11-01..2026-11-07"}])
def test_only_fixed_periods_can_be_asked_for(
    app: FastAPI, client: TestClient, query: dict[str, str]
) -> None:
    sign_in(client, app, "coordinator")
    assert client.get("/api/stats", params=query).status_code == 422
    assert client.get("/api/stats.csv", params=query).status_code == 422


def test_transparency_summary_counts_accounts_erasures_and_referrals(
    app: FastAPI, client: TestClient, clock: FakeClock
) -> None:
    services = services_of(app)
    with services.db.session() as session:
        counting.add_counts(session, {
            ("month", "2026-10", "erasure_requests", "all", "all"): 7,
            ("month", "2026-11", "erasure_requests", "all", "all"): 2,
            ("month", "2026-11", "referrals_accepted", "partner", "ggd"): 3,
        })
    sign_in(client, app, "coordinator")
    body = client.get("/api/stats/transparency", params={"year": 2026}).json()
    figures = {(f["metric"], f["key"]): f["value"] for f in body["figures"]}
    assert figures[("erasure_requests", "all")] == 9
    assert figures[("referrals_accepted", "ggd")] == "<5"
    assert body["accounts"]["coordinator"] == 1
    assert body["year"] == 2026
    assert client.get("/api/stats/transparency", params={"year": 20261}).status_code == 422


def test_statistics_page_draws_an_svg_chart_in_dutch_and_english(
    app: FastAPI, client: TestClient
) -> None:
    busy_week(app)
    sign_in(client, app, "coordinator")
    page = client.get("/console/stats")
    assert page.status_code == 200
    html = page.text
    assert "<svg" in html
    assert "Statistieken" in html
    assert "Transparantieverslag" in html
    assert "&lt;5" in html
    assert " style=" not in html
    assert "http://" not in html.replace("http://www.w3.org", "")
    english = client.get("/console/stats", params={"period": "month"})
    assert english.status_code == 200
    services = services_of(app)
    with services.db.session() as session:
        session.execute(text("UPDATE users SET ui_language = 'en'"))
    english = client.get("/console/stats", params={"period": "month"})
    assert "Statistics" in english.text
    assert "Conversations per month" in english.text

