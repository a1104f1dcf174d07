"""Statistics over 1,000,000 recorded events: how long `/api/stats` takes.

    /work/venv/bin/python benchmarks/stats.py [--events 1000000] [--database-url URL]

Writes the counts that 1,000,000 events (conversations started, languages,
queues, topics, urgency, opening hours, referrals, waits, never answered,
erasure requests) spread over two years leave behind, in the same buckets the
recording code uses (`cells.buckets_for` and `counting.add_counts`; events are
summed before writing, which is what the upserts do one at a time in
production). Then it times what the route and the worker do: publish
(suppress weeks, months and years, persist), read the published rows, and
the transparency summary. Prints the median and the worst of the runs for:
the first publication; the first request after a newly recorded event (served
from the last publication, marked stale) and the worker's republication of
the stale years that follows; requests when nothing is stale (from a process
that has not read `stat_published` yet, and again); the suppression alone.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpline.config import Settings  # noqa: E402
from helpline.services import build_services  # noqa: E402
from helpline.stats import cells, counting, publishing, suppression, transparency
from helpline.store.migrate import upgrade  # noqa: E402

CHANNELS = [("whatsapp", 0.8), ("signal", 0.2)]
LANGUAGES = [("nl", 0.55), ("en", 0.2), ("ro", 0.1), ("bg", 0.08), ("es", 0.05),
             ("pl", 0.0195), (None, 0.0005)]
QUEUES = [("peer", 0.97), ("pmw", 0.02), ("ggd", 0.01)]
TOPICS = ["health", "safety", "money", "housing", "legal", "police_municipality", "work",
          "other"]
PARTNERS = ["pmw", "ggd"]


def pick(rng: random.Random, table: list[tuple[str | None, float]]) -> str | None:
    x = rng.random()
    for value, weight in table:
        x -= weight
        if x <= 0:
            return value
    return table[-1][0]


def generate(services: object, events: int, seed: int = 1) -> Counter[cells.CellId]:
    rng = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    span = timedelta(days=730).total_seconds()
    counts: Counter[cells.CellId] = Counter()
    policy = services.policy  # type: ignore[attr-defined]
    bucket_cache: dict[int, tuple[tuple[str, str], ...]] = {}
    recorded = 0
    while recorded < events:
        moment = start + timedelta(seconds=rng.random() * span)
        hour = int(moment.timestamp()) // 3600
        buckets = bucket_cache.get(hour)
        if buckets is None:
            buckets = bucket_cache[hour] = cells.buckets_for(moment, policy)
        items: list[tuple[str, str, str]] = [
            (cells.CONVERSATIONS, cells.ALL, cells.ALL),
            (cells.CONVERSATIONS, "channel", str(pick(rng, CHANNELS))),
            (cells.CONVERSATIONS, "queue", str(pick(rng, QUEUES))),
        ]
        language = pick(rng, LANGUAGES)
        if language:
            items.append((cells.CONVERSATIONS, "language", language))
        if rng.random() < 0.6:
            items.append((cells.CONVERSATIONS, "topic", rng.choice(TOPICS)))
        if rng.random() < 0.04:
            items.append((cells.URGENT, cells.ALL, cells.ALL))
        if rng.random() < 0.5:
            items.append((cells.OUTSIDE_HOURS, cells.ALL, cells.ALL))
        if rng.random() < 0.85:
            minutes = rng.expovariate(1 / 20)
            items.append((cells.WAIT, "bin", counting.wait_bin(minutes)))
        else:
            items.append((cells.NEVER_ANSWERED, cells.ALL, cells.ALL))
        if rng.random() < 0.03:
            partner = rng.choice(PARTNERS)
            items.append((cells.REFERRALS_PROPOSED, "partner", partner))
            if rng.random() < 0.6:
                items.append((cells.REFERRALS_ACCEPTED, "partner", partner))
                if rng.random() < 0.1:
                    items.append((cells.REFERRALS_WITHDRAWN, "partner", partner))
        if rng.random() < 0.01:
            items.append((cells.ERASURE_REQUESTS, cells.ALL, cells.ALL))
        for period, bucket in buckets:
            for metric, dimension, key in items:
                counts[(period, bucket, metric, dimension, key)] += 1
        recorded += len(items)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp()
    url = args.database_url or f"sqlite:///{tmp}/bench.db"
    key = base64.b64encode(os.urandom(32)).decode()
    settings = Settings(_env_file=None, database_url=url, master_key=key,  # type: ignore[call-arg]
                        index_key=base64.b64encode(os.urandom(32)).decode())
    services = build_services(settings)
    upgrade(services.db.engine)
    began = time.perf_counter()
    counts = generate(services, args.events)
    with services.db.session() as session:
        counting.add_counts(session, counts)
    print(f"recorded {args.events:,} events as {len(counts):,} rows "
          f"in {time.perf_counter() - began:.1f} s ({services.db.engine.dialect.name})")

    def timed(call: object) -> float:
        t0 = time.perf_counter()
        call()  # type: ignore[operator]
        return (time.perf_counter() - t0) * 1000

    def line(label: str, timings: list[float], extra: str = "") -> None:
        print(f"{label}: median {statistics.median(timings):.1f} ms, "
              f"max {max(timings):.1f} ms{extra}")

    def new_event() -> None:
        # One more conversation this week, as the recording code writes it
        # (count upserts + the year's version bump, one transaction).
        moment = datetime(2026, 11, 25, 12, tzinfo=UTC)
        counts = {(period, bucket, cells.CONVERSATIONS, cells.ALL, cells.ALL): 1
                  for period, bucket in cells.buckets_for(moment, services.policy)}
        with services.db.session() as session:
            counting.add_counts(session, counts)

    def week() -> list[suppression.Row]:
        return publishing.report(services, "week")

    line("first publication (worker, nothing published yet)",
         [timed(lambda: publishing.refresh(services))])
    rows = week()
    hidden = sum(1 for r in rows if isinstance(r.value, str))
    print(f"  week view: {len(rows)} rows, {hidden} suppressed")

    after_event, republish, stale_flags = [], [], []
    for _ in range(max(3, args.runs // 3)):
        new_event()
        publishing._cache.clear()  # another app process: nothing read yet
        after_event.append(timed(week))
        stale_flags.append(publishing.snapshot(services).stale)
        republish.append(timed(lambda: publishing.refresh(services)))
    line("GET /api/stats?period=week, first request after a new event (served stale)",
         after_event, f" (stale: {sorted(set(stale_flags))})")
    line("worker republishes the stale years after that event", republish)

    cold_cache, warm = [], []
    for _ in range(args.runs):
        publishing._cache.clear()
        cold_cache.append(timed(week))
        warm.append(timed(week))
    line("GET /api/stats?period=week, nothing stale, process reads stat_published", cold_cache)
    line("GET /api/stats?period=week, nothing stale, same process again", warm)
    line("GET /api/stats?period=month", [timed(lambda: publishing.report(services, "month"))
                                         for _ in range(args.runs)])
    line("transparency 2026", [timed(lambda: transparency.transparency(services, 2026))
                               for _ in range(args.runs)])
    with services.db.session() as session:
        counts = suppression.load_counts(session)
    full = []
    for _ in range(3):
        t0 = time.perf_counter()
        suppression.published(counts, services.policy.stats_threshold)
        full.append((time.perf_counter() - t0) * 1000)
    line("suppression of everything in memory (no database)", full)
    services.db.dispose()


if __name__ == "__main__":
    main()
