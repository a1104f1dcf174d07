"""Several helplines at scale (issue 17): 20 helplines sharing 1,000,000 messages
against one helpline holding them all, in one run.

    python benchmarks/helplines.py [--helplines 20] [--messages 1000000]
                                   [--conversations 20000] [--ingest 3000] [--rounds 2]
                                   [--postgres URL]

Builds two databases of the same size: "one" (every conversation in the
default helpline) and "many" (the same number of conversations and messages
spread round-robin over N helplines, each added through the service the CLI
uses, with its own WhatsApp number). Bodies are sealed with AES-GCM under each
texter's key (bulk inserts, as benchmarks/console.py: the point is the size).
Then, in each:

1. Queue pages: server time of GET /api/conversations?view=queue and GET
   /console for a volunteer of one helpline (in-process TestClient). Target:
   under 100 ms.
2. Ingest: a real `helpline serve` (SQLite: embedded worker; PostgreSQL: serve
   plus one `helpline worker`, as deploy/) takes --ingest signed webhooks from
   500 texters in a closed loop of 16 senders; in "many" they write to the N
   helplines' numbers (texter k always to helpline k mod N), in "one" all to
   the default number. Reported: answered msg/s and processed msg/s (until the
   inbox is empty and every message is stored). The rounds alternate one and
   many so a machine's drift hits both. Target: "many" within 10 % of "one".

--postgres takes a URL; the databases `<name>_one` and `<name>_many` are
dropped and recreated on that server (through its `postgres` database, so
`<name>` itself need not exist).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from console import generate, settle, timed, volunteer_session  # noqa: E402, I001
from ingest import WARM_UP, processed_after, start_helpline  # noqa: E402
from loadgen import SECRET, closed_loop, payload, webhook_request  # noqa: E402

from fastapi.testclient import TestClient  # noqa: E402

from helpline.config import Settings  # noqa: E402
from helpline.main import create_app  # noqa: E402
from helpline.ops.helplines import HelplineSpec, add_helpline  # noqa: E402
from helpline.services import Services, build_services  # noqa: E402
from helpline.store.columns import DEFAULT_HELPLINE_ID  # noqa: E402
from helpline.store.db import make_engine  # noqa: E402
from helpline.store.migrate import upgrade  # noqa: E402
from tests.process.fakes import FakeGraphAPI, free_port  # noqa: E402

DEFAULT_NUMBER = "1000000001"


def key(seed: str) -> str:
    # The keys benchmarks/ingest.py's `start_helpline` gives the server.
    return base64.b64encode(hashlib.sha256(seed.encode()).digest()).decode()


def settings_for(url: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=url, master_key=key("bench-m"), index_key=key("bench-i"),
        whatsapp_app_secret=SECRET, whatsapp_verify_token="v", whatsapp_access_token="t",  # noqa: S106
        whatsapp_phone_number_id=DEFAULT_NUMBER, whatsapp_api_url="http://127.0.0.1:9/v23.0",
        secure_cookies=False, log_level="WARNING")


def region_number(i: int) -> str:
    return str(2000000000 + i)


def build(url: str, helplines: int, conversations: int, messages: int) -> list[tuple[str, str]]:
    """Migrates, adds helplines 2..N, fills; returns (helpline id, number) pairs."""
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    services = build_services(settings_for(url))
    numbers = [(DEFAULT_HELPLINE_ID, DEFAULT_NUMBER)]
    for i in range(1, helplines):
        row = add_helpline(services, HelplineSpec(
            slug=f"region-{i:02d}", name=f"Region {i}", whatsapp_phone_number_id=region_number(i)))
        numbers.append((row.id, region_number(i)))
    took = generate(services, conversations, messages,
                    helpline_ids=tuple(h for h, _ in numbers))
    services.db.dispose()
    print(f"  filled in {took:.0f} s", flush=True)
    settle(url)
    return numbers


def queue_times(url: str, helpline_id: str, runs: int) -> dict[str, dict[str, float]]:
    app = create_app(settings_for(url), run_worker=False)
    services: Services = app.state.services
    token, cookie = volunteer_session(services, "Bench", helpline_id)
    headers = {"Cookie": f"{cookie}={token}"}
    results = {}
    with TestClient(app) as client:
        listed = client.get("/api/conversations?view=queue", headers=headers).json()["items"]
        results["rows"] = {"median": float(len(listed))}
        for label, path in (("GET /api/conversations?view=queue", "/api/conversations?view=queue"),
                            ("GET /console (queue page)", "/console")):
            timed(client, path, 3, headers)  # warm up
            results[label] = timed(client, path, runs, headers)
    services.db.dispose()
    return results


def ingest(url: str, numbers: list[str], total: int, graph: FakeGraphAPI, tmp: str,
           run: str) -> dict[str, float]:
    """One server start: warm-up (the 500 texters' first messages and welcomes),
    then `total` webhooks in a closed loop; returns answered and processed msg/s."""
    from sqlalchemy import func, select

    from helpline.store.models import Message

    def deliveries(count: int, tag: str) -> Iterator[bytes]:
        target = f"http://127.0.0.1:{port}/webhooks/whatsapp"
        # Texter k (n mod 500) writes to helpline k mod N: 500 is a multiple
        # of 20, so a texter always writes to the same helpline.
        return (webhook_request(target, payload(n, tag, numbers[(n % 500) % len(numbers)]))
                for n in range(count))

    engine = make_engine(url)
    with engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(Message).where(
            Message.direction == "in")).scalar_one()  # type: ignore[arg-type]
    engine.dispose()
    port = free_port()
    procs = start_helpline(port, url, graph, tmp, worker=url.startswith("postgresql"))
    try:
        from tests.process.fakes import wait_http

        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=120)
        target = f"http://127.0.0.1:{port}/webhooks/whatsapp"
        asyncio.run(closed_loop(target, deliveries(WARM_UP, f"w{run}"), 16))
        processed_after(url, time.monotonic(), before + WARM_UP, sent=True)
        began = time.monotonic()
        answered = asyncio.run(closed_loop(target, deliveries(total, f"m{run}"), 16)).summary()
        drained = processed_after(url, began, before + WARM_UP + total)
        assert drained is not None
        return {"answered": answered["rate"], "processed": total / drained,
                "errors": answered["errors"]}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


def postgres_pair(url: str) -> dict[str, str]:
    import psycopg

    from helpline.live.postgres import conninfo

    name = url.rsplit("/", 1)[1].split("?")[0]
    urls = {}
    # The server's maintenance database: the one the URL names need not exist.
    maintenance = url.replace(f"/{name}", "/postgres", 1)
    with psycopg.connect(conninfo(maintenance), autocommit=True) as admin:
        for kind in ("one", "many"):
            admin.execute(f'DROP DATABASE IF EXISTS "{name}_{kind}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}_{kind}"')
            urls[kind] = url.replace(f"/{name}", f"/{name}_{kind}", 1)
    return urls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--helplines", type=int, default=20)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--conversations", type=int, default=20_000)
    parser.add_argument("--ingest", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--postgres", default=None)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="helpline-helplines-")
    urls = postgres_pair(args.postgres) if args.postgres else {
        kind: f"sqlite:///{tmp}/{kind}.db" for kind in ("one", "many")}
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, database: {urls['one'].split(':')[0]}, "
          f"load average {os.getloadavg()[0]:.1f}")
    numbers: dict[str, list[tuple[str, str]]] = {}
    for kind, count in (("one", 1), ("many", args.helplines)):
        print(f"{kind}: {count} helpline(s), {args.conversations} conversations, "
              f"{args.messages} messages", flush=True)
        numbers[kind] = build(urls[kind], count, args.conversations, args.messages)
    print("queue pages, server time in ms (in-process TestClient):")
    # In "many" a helpline in the middle of the list, not the default one.
    for kind, helpline_id in (("one", DEFAULT_HELPLINE_ID),
                              ("many", numbers["many"][len(numbers["many"]) // 2][0])):
        result = queue_times(urls[kind], helpline_id, args.runs)
        print(f"  {kind}: {int(result.pop('rows')['median'])} rows listed")
        for label, r in result.items():
            print(f"    {label:36s} median {r['median']:6.1f}  p95 {r['p95']:6.1f}  "
                  f"max {r['max']:6.1f}  cpu {r['cpu_median']:5.1f}")
    print(f"ingest, {args.ingest} webhooks per round, closed loop of 16 "
          f"(load average {os.getloadavg()[0]:.1f}):", flush=True)
    rates: dict[str, list[dict[str, float]]] = {"one": [], "many": []}
    with FakeGraphAPI() as graph:
        for round_ in range(args.rounds):
            for kind in ("one", "many") if round_ % 2 == 0 else ("many", "one"):
                r = ingest(urls[kind], [n for _, n in numbers[kind]], args.ingest, graph, tmp,
                           f"{kind}{round_}")
                rates[kind].append(r)
                print(f"  round {round_} {kind:4s}: answered {r['answered']:7.0f} msg/s, "
                      f"processed {r['processed']:6.0f} msg/s, errors {int(r['errors'])} "
                      f"(load {os.getloadavg()[0]:.1f})", flush=True)
    for what in ("answered", "processed"):
        one = statistics.median(r[what] for r in rates["one"])
        many = statistics.median(r[what] for r in rates["many"])
        print(f"{what}: one {one:.0f} msg/s, many {many:.0f} msg/s, "
              f"many/one {many / one:.3f}")


if __name__ == "__main__":
    main()
