"""Published statistics are persisted per year and recomputed only where the
counts changed; a request never waits for an expensive recomputation, and
says how old the figures it serves are."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from datetime import UTC, date, datetime, timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from helpline.services import Services
from helpline.stats import cells, counting, publishing, suppression
from helpline.store.models import Conversation, StatPartition
from tests.conftest import FakeClock
from tests.stats.test_counting import MONTH, WEEK, counts, say, services_of, sign_in


def add_day(services: Services, day: date, n: int = 1, channel: str = "whatsapp") -> None:
    moment = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    counts: dict[cells.CellId, int] = {}
    for period, bucket in cells.buckets_for(moment, services.policy):
        counts[(period, bucket, cells.CONVERSATIONS, cells.ALL, cells.ALL)] = n
        counts[(period, bucket, cells.CONVERSATIONS, "channel", channel)] = n
    with services.db.session() as session:
        counting.add_counts(session, counts)


def partitions(services: Services) -> dict[str, StatPartition]:
    with services.db.session() as session:
        rows = session.execute(select(StatPartition)).scalars().all()
        for row in rows:
            session.expunge(row)
        return {row.partition: row for row in rows}


def pretend_expensive(services: Services) -> None:
    with services.db.session() as session:
        session.execute(update(StatPartition).values(cost_ms=publishing.INLINE_BUDGET_MS * 40))


def full_recomputation(services: Services) -> dict[cells.CellId, int | str]:
    with services.db.session() as session:
        counts = suppression.load_counts(session)
    return suppression.published(counts, services.policy.stats_threshold)


def week_total(client: TestClient) -> object:
    body = client.get("/api/stats", params={"period": "week"}).json()
    return {(r["bucket"], r["metric"], r["dimension"]): r["value"]
            for r in body["rows"]}.get((WEEK, "conversations", "all"))


def test_recording_an_event_marks_its_year_stale_in_the_same_transaction(
    app: FastAPI, client: TestClient
) -> None:
    say(client, "hallo")
    before = partitions(services_of(app))["2026"]
    say(client, "hallo", number="31600000002")
    after = partitions(services_of(app))["2026"]
    assert after.version > before.version
    assert after.published_version == before.published_version


def test_a_small_line_sees_new_figures_on_the_next_request(
    app: FastAPI, client: TestClient
) -> None:
    add_day(services_of(app), date(2026, 11, 25), n=30)
    sign_in(client, app, "coordinator")
    assert week_total(client) == 30
    add_day(services_of(app), date(2026, 11, 25), n=5)
    body = client.get("/api/stats", params={"period": "week"}).json()
    assert body["stale"] is False
    assert week_total(client) == 35


def test_expensive_stale_figures_are_served_as_published_with_their_age(
    app: FastAPI, client: TestClient, clock: FakeClock
) -> None:
    services = services_of(app)
    add_day(services, date(2026, 11, 25), n=30)
    sign_in(client, app, "coordinator")
    assert week_total(client) == 30
    published_at = clock.now
    pretend_expensive(services)
    clock.advance(minutes=5)
    add_day(services, date(2026, 11, 25), n=5)

    body = client.get("/api/stats", params={"period": "week"}).json()
    assert body["stale"] is True
    assert datetime.fromisoformat(body["as_of"]) == published_at
    assert week_total(client) == 30
    transparency = client.get("/api/stats/transparency", params={"year": 2026}).json()
    assert transparency["stale"] is True

    assert publishing.refresh(services) == 1
    body = client.get("/api/stats", params={"period": "week"}).json()
    assert body["stale"] is False
    assert datetime.fromisoformat(body["as_of"]) == clock.now
    assert week_total(client) == 35


def test_the_first_request_computes_when_nothing_was_published_yet(
    app: FastAPI, client: TestClient
) -> None:
    add_day(services_of(app), date(2026, 11, 25), n=30)
    pretend_expensive(services_of(app))
    sign_in(client, app, "coordinator")
    assert week_total(client) == 30


def test_the_worker_publishes_stale_figures(app: FastAPI) -> None:
    services = services_of(app)
    add_day(services, date(2026, 11, 25), n=30)

    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(publishing.run_refresher(services, stop))
        for _ in range(200):
            await asyncio.sleep(0.05)
            if partitions(services)["2026"].published_at is not None:
                break
        stop.set()
        await task

    asyncio.run(run())
    state = partitions(services)["2026"]
    assert state.published_version == state.version
    assert publishing.current(services)[("week", WEEK, "conversations", "all", "all")] == 30


def test_years_joined_by_a_week_across_new_year_are_published_together(app: FastAPI) -> None:
    services = services_of(app)
    # Tue 30 Dec 2025 is in ISO week 2026-W01 and in month 2025-12, so the
    # weeks and months around New Year are one equation. 1 January 2024 is a
    # Monday: no week crosses from 2023 into 2024, and 2023 stands alone.
    add_day(services, date(2025, 12, 30), n=7)
    add_day(services, date(2026, 1, 6), n=9)
    add_day(services, date(2023, 6, 7), n=8)
    add_day(services, date(2024, 1, 3), n=6)
    assert publishing.refresh(services) >= 3
    groups = {name: row.group_key for name, row in partitions(services).items()}
    assert groups["2025"] == groups["2026"]
    assert groups["2023"] != groups["2024"]

    first = partitions(services)
    add_day(services, date(2023, 6, 8), n=2)
    assert publishing.refresh(services) == 1  # only 2023 was recomputed
    after = partitions(services)
    assert after["2023"].published_version == after["2023"].version
    assert after["2026"].published_at == first["2026"].published_at
    assert publishing.current(services) == full_recomputation(services)


def test_recomputing_only_stale_years_gives_what_a_full_recomputation_gives(
    app: FastAPI, clock: FakeClock
) -> None:
    services = services_of(app)
    rng = random.Random(11)
    start = date(2023, 11, 1)
    for _round in range(6):
        for _ in range(rng.randrange(1, 30)):
            day = start + timedelta(days=rng.randrange(0, 4 * 365))
            add_day(services, day, n=rng.randrange(1, 9),
                    channel=rng.choice(["whatsapp", "signal"]))
        clock.advance(hours=1)
        publishing.refresh(services)
        assert publishing.current(services) == full_recomputation(services)


def test_a_new_threshold_republishes_everything(app: FastAPI) -> None:
    services = services_of(app)
    add_day(services, date(2026, 11, 25), n=4)
    assert publishing.current(services)[("week", WEEK, "conversations", "all", "all")] == "<5"
    services.policy = dataclasses.replace(services.policy, stats_threshold=3)
    assert publishing.current(services)[("week", WEEK, "conversations", "all", "all")] == 4


def test_closing_an_unanswered_conversation_in_the_console_counts_never_answered(
    app: FastAPI, client: TestClient
) -> None:
    say(client, "hallo")
    with services_of(app).db.session() as session:
        cid = session.execute(select(Conversation.id)).scalar_one()  # type: ignore[call-overload]
    sign_in(client, app, "volunteer")
    assert client.post(f"/api/conversations/{cid}/close").status_code == 200
    assert counts(app)[(WEEK, "never_answered", "all", "all")] == 1
    assert counts(app, "month")[(MONTH, "never_answered", "all", "all")] == 1


def test_labels_set_in_the_console_count_once_per_topic(
    app: FastAPI, client: TestClient
) -> None:
    say(client, "hallo")
    with services_of(app).db.session() as session:
        cid = session.execute(select(Conversation.id)).scalar_one()  # type: ignore[call-overload]
    sign_in(client, app, "volunteer")
    for labels in (["health"], ["health", "housing"], [], ["health"]):
        assert client.put(f"/api/conversations/{cid}/labels",
                          json={"labels": labels}).status_code == 200
    topics = {k: n for (b, m, d, k), n in counts(app).items() if d == "topic"}
    assert topics == {"health": 1, "housing": 1}


def test_transparency_route_reports_its_age(app: FastAPI, client: TestClient) -> None:
    sign_in(client, app, "coordinator")
    body = client.get("/api/stats/transparency", params={"year": 2025}).json()
    assert body["stale"] is False
    assert body["as_of"]
