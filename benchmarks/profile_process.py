"""Where the inbox processor's time goes: `Inbox.process_batch` in a loop,
in-process, on a backlog filled as benchmarks/process_rate.py fills it (500
returning texters, sealed WhatsApp deliveries in the inbox).

Reports the wall rate, the CPU per message, and the statements and commits
per batch (counted with SQLAlchemy events on the engine the inbox uses), so a
change can be told apart as fewer round trips, fewer fsyncs or less Python.

    python benchmarks/profile_process.py [--messages 4000] [--batch N]
                                         [--postgres URL] [--profile]

--postgres takes the URL of a database whose schema is dropped and recreated.
--batch defaults to the inbox's own batch_limit (32 on SQLite, 128 on
PostgreSQL).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from benchmarks.process_rate import SECRET, TEXTERS, empty_schema, fill  # noqa: E402
from benchmarks.profile_intake import bench_settings  # noqa: E402
from helpline.channels.whatsapp_cloud import WhatsAppCloud  # noqa: E402
from helpline.ingest.inbox import Inbox  # noqa: E402
from helpline.services import build_services  # noqa: E402
from helpline.store.db import make_engine  # noqa: E402
from helpline.store.migrate import upgrade  # noqa: E402


def reset(url: str) -> None:
    empty_schema(url)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()


def run(url: str, messages: int, batch: int | None, profile: bool) -> None:
    from sqlalchemy import event

    reset(url)
    fill(url, messages, "p")
    services = build_services(bench_settings(url))
    services.channels["whatsapp"] = WhatsAppCloud(
        app_secret=SECRET, verify_token=None, access_token="t",  # noqa: S106 - a benchmark
        phone_number_id="1000000001", api_url="http://127.0.0.1:9",
        client=None)  # type: ignore[arg-type]
    inbox = Inbox(services)
    limit = batch or inbox.batch_limit
    counts: Counter[str] = Counter()
    engines = {id(e): e for e in (services.db.engine, inbox.db.engine)}

    def statement(*_: object) -> None:
        counts["statements"] += 1

    def commit(*_: object) -> None:
        counts["commits"] += 1

    for engine in engines.values():
        event.listen(engine, "before_cursor_execute", statement)
        event.listen(engine, "commit", commit)
    profiler = cProfile.Profile() if profile else None
    batches = done = 0
    cpu, wall = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    while True:
        processed = inbox.process_batch(limit)
        if processed == 0:
            break
        batches += 1
        done += processed
    if profiler:
        profiler.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"database: {url.split(':')[0]}  deliveries: {done} (texters {TEXTERS})  "
          f"batch: {limit}  load: {os.getloadavg()[0]:.1f}")
    print(f"{done / wall:.0f} msg/s wall, {1000 * cpu / done:.2f} ms CPU per message, "
          f"{counts['statements'] / batches:.1f} statements and "
          f"{counts['commits'] / batches:.1f} commits per batch")
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    inbox.dispose()
    services.db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--postgres", default=None, help="SQLAlchemy URL; its schema is reset")
    parser.add_argument("--profile", action="store_true", help="print the top of cProfile")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run(args.postgres or f"sqlite:///{tmp}/profile.db", args.messages, args.batch,
            args.profile)


if __name__ == "__main__":
    main()
