"""Soak: a steady webhook load with a console connected, watching memory and latency.

Starts `helpline serve` (web, embedded worker off) and `helpline worker` as two
processes on one database, signs a volunteer in and keeps `/api/events` open,
then sends unique signed WhatsApp text messages at RATE per second for MINUTES.
Every 30 s it reports the window's p50/p99 latency, errors, events seen by the
console, the inbox backlog (deliveries answered but not yet processed), and
resident memory of the app and of the worker. At the end it waits for the
inbox to empty and reports how long that took and how many messages were
stored. On SQLite the app process answers and processes the inbox, the worker
sends; on PostgreSQL the app answers and the worker processes and sends.

    python benchmarks/soak.py [--rate 300] [--minutes 10] [--postgres URL]
                              [--check [--empty-within 5]]
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

import httpx
import pyotp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from loadgen import Results, open_loop, payload, webhook_request  # noqa: E402, I001

from tests.process.fakes import FakeGraphAPI, free_port, wait_http  # noqa: E402

TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
PASSWORD = "soak-password-long-enough"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def env_for(database_url: str, graph: FakeGraphAPI) -> dict[str, str]:
    key = lambda seed: base64.b64encode(hashlib.sha256(seed.encode()).digest()).decode()  # noqa: E731
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}
    env.update({
        "HELPLINE_DATABASE_URL": database_url, "HELPLINE_MASTER_KEY": key("soak-m"),
        "HELPLINE_INDEX_KEY": key("soak-i"), "HELPLINE_WHATSAPP_APP_SECRET": "bench-secret",
        "HELPLINE_WHATSAPP_VERIFY_TOKEN": "v", "HELPLINE_WHATSAPP_ACCESS_TOKEN": "t",
        "HELPLINE_WHATSAPP_PHONE_NUMBER_ID": "1000000001", "HELPLINE_WHATSAPP_API_URL": graph.url,
        "HELPLINE_LOG_LEVEL": "WARNING", "HELPLINE_EMBEDDED_WORKER": "false",
        "HELPLINE_SECURE_COOKIES": "false",
    })
    return env


async def console(base: str, seen: list[float], stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(30, read=None)) as c:
        code = pyotp.TOTP(TOTP).now()
        r = await c.post("/api/auth/login", headers={"Origin": base},
                         json={"username": "soak", "password": PASSWORD, "totp": code})
        r.raise_for_status()
        async with c.stream("GET", "/api/events") as stream:
            async for line in stream.aiter_lines():
                if line.startswith("data:"):
                    seen.append(time.monotonic())
                if stop.is_set():
                    return


class Backlog:
    """Rows in the inbox, and inbound messages stored, read straight from the database."""

    def __init__(self, database_url: str) -> None:
        from helpline.ingest.inbox import inbox_url
        from helpline.store.db import make_engine

        self.inbox = make_engine(inbox_url(database_url) or database_url)
        self.main = make_engine(database_url)

    def waiting(self) -> int:
        from sqlalchemy import func, select

        from helpline.ingest.inbox import INBOX

        with self.inbox.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(INBOX)).scalar_one())

    def stored(self) -> int:
        from sqlalchemy import text

        with self.main.connect() as conn:
            return int(conn.execute(
                text("SELECT count(*) FROM messages WHERE direction = 'in'")).scalar_one())

    def close(self) -> None:
        self.inbox.dispose()
        self.main.dispose()


async def load(url: str, rate: float, minutes: float, app_pid: int, worker_pid: int,
               seen: list[float], backlog: Backlog) -> tuple[list[dict[str, float]], Results]:
    windows: list[dict[str, float]] = []
    start = time.perf_counter()
    next_report, reported = start + 30, 0

    def report(results: Results) -> None:
        nonlocal next_report, reported
        now = time.perf_counter()
        if now < next_report:
            return
        next_report += 30
        window = Results(latencies=results.latencies[reported:])
        reported = len(results.latencies)
        windows.append({
            "t": round(now - start), "p50": window.pct(0.5), "p99": window.pct(0.99),
            "errors": results.failures, "events": len(seen), "backlog": backlog.waiting(),
            "app_mb": rss_mb(app_pid), "worker_mb": rss_mb(worker_pid),
        })
        print(json.dumps(windows[-1]), flush=True)

    results = await open_loop(url, lambda n: webhook_request(url, payload(n, "soak")), rate,
                              int(rate * minutes * 60), tick=report)
    print(f"all: {results.count} sent, p50 {results.pct(0.5):.1f} ms, "
          f"p99 {results.pct(0.99):.1f} ms, failures {results.failures}", flush=True)
    return windows, results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=300)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--postgres", default=None)
    parser.add_argument("--check", action="store_true",
                        help="exit 1 unless every message was answered 200, stored, and "
                             "announced on the console's stream, and the inbox was empty "
                             "within --empty-within seconds of the last answer "
                             "(.ci/run's short form)")
    parser.add_argument("--empty-within", type=float, default=5.0)
    args = parser.parse_args()
    outcome: dict[str, int] = {}
    with FakeGraphAPI() as graph, tempfile.TemporaryDirectory() as tmp:
        url = args.postgres or f"sqlite:///{tmp}/soak.db"
        env = env_for(url, graph)
        helpline = [sys.executable, "-m", "helpline.cli"]
        subprocess.run([*helpline, "migrate"], env=env, cwd=tmp, check=True,
                       capture_output=True)
        subprocess.run([*helpline, "user", "add", "--username", "soak", "--role", "volunteer",
                        "--password-stdin", "--totp-secret", TOTP],
                       input=PASSWORD.encode(), env=env, cwd=tmp, check=True,
                       capture_output=True)
        port = free_port()
        app = subprocess.Popen([*helpline, "serve", "--port", str(port)], env=env, cwd=tmp)
        # At the lower CPU priority of deploy/systemd/helpline-worker.service (Nice=10).
        worker = subprocess.Popen(["nice", "-n", "10", *helpline, "worker"], env=env, cwd=tmp)
        base = f"http://127.0.0.1:{port}"
        backlog = Backlog(url)
        try:
            wait_http(f"{base}/healthz", timeout=60)
            start_mb = (rss_mb(app.pid), rss_mb(worker.pid))

            async def run() -> list[dict[str, float]]:
                seen: list[float] = []
                stop = asyncio.Event()
                watcher = asyncio.create_task(console(base, seen, stop))
                await asyncio.sleep(1)
                windows, results = await load(f"{base}/webhooks/whatsapp", args.rate,
                                              args.minutes, app.pid, worker.pid, seen, backlog)
                ended = time.monotonic()
                while backlog.waiting():
                    await asyncio.sleep(0.1)
                stored = backlog.stored()
                outcome["empty_after_ms"] = round((time.monotonic() - ended) * 1000)
                print(f"inbox empty {time.monotonic() - ended:.2f} s after the last 200; "
                      f"{stored} messages stored", flush=True)
                deadline = time.monotonic() + 10
                while len(seen) <= results.count and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)  # the stream's "ready" plus one event each
                outcome.update(sent=results.count, failures=results.failures, stored=stored,
                               events=len(seen) - 1)
                stop.set()
                watcher.cancel()
                return windows

            windows = asyncio.run(run())
        finally:
            backlog.close()
            app.terminate()
            worker.terminate()
            app.wait(30)
            worker.wait(30)
    if windows:
        first, last = windows[0], windows[-1]
        print(f"start RSS app {start_mb[0]:.0f} MB worker {start_mb[1]:.0f} MB; "
              f"first window app {first['app_mb']:.0f} MB, last {last['app_mb']:.0f} MB "
              f"({(last['app_mb'] / first['app_mb'] - 1) * 100:+.1f} %); worker "
              f"{first['worker_mb']:.0f} -> {last['worker_mb']:.0f} MB; p99 first "
              f"{first['p99']:.0f} ms, last {last['p99']:.0f} ms; errors {last['errors']:.0f}; "
              f"console events {last['events']:.0f}")
    print(f"outcome: {json.dumps(outcome)}")
    if args.check and not (outcome.get("failures") == 0
                           and outcome.get("stored") == outcome.get("sent")
                           and outcome.get("events", 0) >= outcome.get("sent", 1)
                           and outcome.get("empty_after_ms", 10**9) <= args.empty_within * 1000):
        sys.exit(1)


if __name__ == "__main__":
    main()
