"""Webhook ingest: helpline vs a bare signature-checking FastAPI endpoint.

Same load generator (benchmarks/loadgen.py: raw sockets, so it does not bound the
baseline), same run, same machine. Targets: the bare endpoint; the bare endpoint
plus one durable SQLite INSERT of the raw body per request (the floor for any
endpoint that keeps what it acknowledges); the helpline. Two measurements each:

* throughput: a closed loop of C concurrent senders posting unique signed
  WhatsApp text messages for N messages; messages/s and latency percentiles;
* latency at a fixed rate: an open loop at R messages/s for S seconds; p50/p99.

The helpline runs as each database's documented layout: on SQLite one
`helpline serve` (embedded worker on: it answers, processes the inbox and sends
welcomes to a fake Graph API on localhost); on PostgreSQL (--postgres) as in
deploy/compose.yaml, `helpline serve` with HELPLINE_EMBEDDED_WORKER=false plus
one `helpline worker` (at Nice=10, as its systemd unit) that processes the inbox
and sends. A 200 means the
delivery is durable in the inbox; "processed/s" is how fast the messages were
then stored, routed and answered (the closed loop's messages divided by the time
until the last of them was processed), and "lag" how long after the last 200 of
the fixed-rate run its last message was processed. Usage:

    python benchmarks/ingest.py [--messages 3000] [--concurrency 16] [--rate 200]
                                [--seconds 10] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from loadgen import SECRET, closed_loop, open_loop, payload, webhook_request  # noqa: E402, I001

from tests.process.fakes import FakeGraphAPI, free_port, wait_http  # noqa: E402


def throughput(url: str, total: int, concurrency: int, run: str) -> dict[str, float]:
    requests = (webhook_request(url, payload(n, run)) for n in range(total))
    return asyncio.run(closed_loop(url, requests, concurrency)).summary()


def fixed_rate(url: str, rate: float, seconds: float, run: str) -> dict[str, float]:
    results = asyncio.run(open_loop(url, lambda n: webhook_request(url, payload(n, run)),
                                    rate, int(rate * seconds)))
    return results.summary(rate)


def start_helpline(
    port: int, database_url: str, graph: FakeGraphAPI, cwd: str, *, worker: bool = False
) -> list[subprocess.Popen[bytes]]:
    key = lambda seed: base64.b64encode(hashlib.sha256(seed.encode()).digest()).decode()  # noqa: E731
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}
    env.update({
        "HELPLINE_DATABASE_URL": database_url, "HELPLINE_MASTER_KEY": key("bench-m"),
        "HELPLINE_INDEX_KEY": key("bench-i"), "HELPLINE_WHATSAPP_APP_SECRET": SECRET,
        "HELPLINE_WHATSAPP_VERIFY_TOKEN": "v", "HELPLINE_WHATSAPP_ACCESS_TOKEN": "t",
        "HELPLINE_WHATSAPP_PHONE_NUMBER_ID": "1000000001", "HELPLINE_WHATSAPP_API_URL": graph.url,
        "HELPLINE_LOG_LEVEL": "WARNING",
        "HELPLINE_EMBEDDED_WORKER": "false" if worker else "true",
    })
    log = open(Path(cwd) / f"serve-{port}.log", "wb")  # noqa: SIM115 - lives as long as the server
    procs = [subprocess.Popen([sys.executable, "-m", "helpline.cli", "serve", "--port", str(port)],
                              env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)]
    if worker:
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=60)  # migrations applied
        # At the lower CPU priority of deploy/systemd/helpline-worker.service (Nice=10).
        procs.append(subprocess.Popen(
            ["nice", "-n", "10", sys.executable, "-m", "helpline.cli", "worker"],
            env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT))
    return procs


def start_bare(port: int, store: str | None = None) -> list[subprocess.Popen[bytes]]:
    env = dict(os.environ, BARE_SECRET=SECRET)
    if store is not None:
        env["BARE_STORE"] = store
    return [subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "benchmarks.bare_app:app", "--port", str(port),
         "--log-level", "warning", "--no-access-log"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]


WARM_UP = 500  # loadgen.payload cycles through 500 texters


def processed_after(database_url: str | None, began: float, expected: int,
                    *, sent: bool = False) -> float | None:
    """Seconds from `began` until the helpline's inbox is empty and `expected`
    inbound messages are stored (and, with `sent`, the outbox has nothing left
    to send): the 200s only say a delivery is durable; this says when it was
    processed (None for the bare targets)."""
    if database_url is None:
        return None
    from sqlalchemy import func, select

    from helpline.ingest.inbox import INBOX, inbox_url
    from helpline.store.db import make_engine
    from helpline.store.models import Message, OutboxItem

    inbox = make_engine(inbox_url(database_url) or database_url)
    main = make_engine(database_url)
    try:
        while True:
            with inbox.connect() as conn:
                left = conn.execute(select(func.count()).select_from(INBOX)).scalar_one()
            if left == 0:
                with main.connect() as conn:
                    stored = conn.execute(select(func.count()).select_from(Message).where(
                        Message.direction == "in")).scalar_one()  # type: ignore[arg-type]
                    unsent = conn.execute(select(func.count()).select_from(OutboxItem).where(
                        OutboxItem.state.in_(("pending", "sending")))  # type: ignore[attr-defined]
                    ).scalar_one() if sent else 0
                if stored >= expected and not unsent:
                    return time.monotonic() - began
            time.sleep(0.02)
    finally:
        inbox.dispose()
        main.dispose()


def measure(
    name: str, procs: list[subprocess.Popen[bytes]], port: int, args: argparse.Namespace,
    database_url: str | None = None,
) -> dict[str, object]:
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=60)
        url = f"http://127.0.0.1:{port}/webhooks/whatsapp"
        # Warm-up: every one of the 500 texters writes once and gets their
        # welcome, so the runs measure the steady state (returning texters)
        # rather than the worker still sending 500 welcomes beside them.
        throughput(url, WARM_UP, args.concurrency, f"warm{name}")
        processed_after(database_url, time.monotonic(), WARM_UP, sent=True)
        began = time.monotonic()
        through = throughput(url, args.messages, args.concurrency, f"t{name}")
        drained = processed_after(database_url, began, WARM_UP + args.messages)
        if drained is not None:
            through["processed_rate"] = args.messages / drained
        began = time.monotonic()
        fixed = fixed_rate(url, args.rate, args.seconds, f"o{name}")
        total = WARM_UP + args.messages + int(args.rate * args.seconds)
        drained = processed_after(database_url, began, total)
        if drained is not None:
            # How long after the last 200 the last message was processed.
            fixed["processing_lag"] = max(0.0, drained - args.seconds)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
    print(name, through, fixed, file=sys.stderr)
    return {"target": name, "throughput": through, "fixed_rate": fixed}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--postgres", default=None, help="SQLAlchemy URL of an EMPTY database")
    args = parser.parse_args()
    results = []
    with FakeGraphAPI() as graph, tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        results.append(measure("bare", start_bare(port), port, args))
        port = free_port()
        results.append(measure("bare+sqlite-insert", start_bare(port, f"{tmp}/floor.db"), port,
                               args))
        port = free_port()
        sqlite_url = f"sqlite:///{tmp}/bench.db"
        results.append(measure("helpline-sqlite", start_helpline(
            port, sqlite_url, graph, tmp), port, args, sqlite_url))
        if args.postgres:
            port = free_port()
            results.append(measure("helpline-postgres", start_helpline(
                port, args.postgres, graph, tmp, worker=True), port, args, args.postgres))
    bare_rate = float(results[0]["throughput"]["rate"])  # type: ignore[index]
    print(f"{'target':20} {'msg/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>6} "
          f"{'processed/s':>11} | {'@rate':>6} {'p50 ms':>8} {'p99 ms':>8} {'lag s':>6} errors")
    for r in results:
        t, f = r["throughput"], r["fixed_rate"]  # type: ignore[assignment]
        processed = f"{t['processed_rate']:11.0f}" if "processed_rate" in t else f"{'-':>11}"  # type: ignore[operator, index]
        lag = f"{f['processing_lag']:6.2f}" if "processing_lag" in f else f"{'-':>6}"  # type: ignore[operator, index]
        print(f"{r['target']:20} {t['rate']:8.0f} {t['p50']:8.1f} {t['p99']:8.1f} "  # type: ignore[index]
              f"{t['rate'] / bare_rate:6.2f} {processed} | "  # type: ignore[index]
              f"{f['rate']:6.0f} {f['p50']:8.1f} {f['p99']:8.1f} {lag} "  # type: ignore[index]
              f"{int(t['errors']) + int(f['errors'])}")  # type: ignore[index]
    print(json.dumps(results))


if __name__ == "__main__":
    main()
