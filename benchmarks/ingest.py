"""Webhook ingest: helpline vs a bare signature-checking FastAPI endpoint.

Same load generator, same run, same machine. Two measurements per target:

* throughput: a closed loop of C concurrent senders posting unique signed
  WhatsApp text messages for N messages; messages/s and latency percentiles;
* latency at a fixed rate: an open loop at R messages/s for S seconds; p50/p99.

The helpline runs as `helpline serve` (embedded worker on, sending welcomes to a
fake Graph API on localhost), on SQLite and, when --postgres is given, on
PostgreSQL. Usage:

    python benchmarks/ingest.py [--messages 3000] [--concurrency 16] [--rate 200]
                                [--seconds 10] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.process.fakes import FakeGraphAPI, free_port, wait_http  # noqa: E402

SECRET = "bench-secret"


def payload(n: int, run: str) -> bytes:
    wa_id = f"3160{n % 500:07d}"
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "1000000001"},
            "contacts": [{"profile": {"name": "Bench Texter"}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": f"wamid.BENCH{run}{n}",
                          "timestamp": str(int(time.time())), "type": "text",
                          "text": {"body": f"benchmark bericht {n}"}}]}}]}],
    }
    return json.dumps(body).encode()


def signed(body: bytes) -> dict[str, str]:
    sig = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={sig}", "Content-Type": "application/json"}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


async def closed_loop(url: str, total: int, concurrency: int, run: str) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=httpx.Timeout(60, pool=None), limits=limits) as c:

        async def sender() -> None:
            nonlocal errors
            for n in counter:
                body = payload(n, run)
                t = time.perf_counter()
                try:
                    r = await c.post(url, content=body, headers=signed(body))
                    errors += r.status_code != 200
                except httpx.HTTPError:
                    errors += 1
                latencies.append(time.perf_counter() - t)

        start = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return {"rate": total / elapsed, "p50": pct(latencies, 0.5), "p99": pct(latencies, 0.99),
            "errors": errors}


async def open_loop(url: str, rate: float, seconds: float, run: str) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(timeout=httpx.Timeout(60, pool=None), limits=limits) as c:

        async def one(n: int) -> None:
            nonlocal errors
            body = payload(n, run)
            t = time.perf_counter()
            try:
                r = await c.post(url, content=body, headers=signed(body))
                errors += r.status_code != 200
            except httpx.HTTPError:
                errors += 1
            latencies.append(time.perf_counter() - t)

        tasks = []
        start = time.perf_counter()
        total = int(rate * seconds)
        for n in range(total):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks)
    return {"rate": rate, "p50": pct(latencies, 0.5), "p99": pct(latencies, 0.99),
            "errors": errors}


def start_helpline(
    port: int, database_url: str, graph: FakeGraphAPI, cwd: str
) -> subprocess.Popen[bytes]:
    key = lambda seed: base64.b64encode(hashlib.sha256(seed.encode()).digest()).decode()  # noqa: E731
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}
    env.update({
        "HELPLINE_DATABASE_URL": database_url, "HELPLINE_MASTER_KEY": key("bench-m"),
        "HELPLINE_INDEX_KEY": key("bench-i"), "HELPLINE_WHATSAPP_APP_SECRET": SECRET,
        "HELPLINE_WHATSAPP_VERIFY_TOKEN": "v", "HELPLINE_WHATSAPP_ACCESS_TOKEN": "t",
        "HELPLINE_WHATSAPP_PHONE_NUMBER_ID": "1000000001", "HELPLINE_WHATSAPP_API_URL": graph.url,
        "HELPLINE_LOG_LEVEL": "WARNING",
    })
    log = open(Path(cwd) / f"serve-{port}.log", "wb")  # noqa: SIM115 - lives as long as the server
    return subprocess.Popen([sys.executable, "-m", "helpline.cli", "serve", "--port", str(port)],
                            env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)


def start_bare(port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, BARE_SECRET=SECRET)
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "benchmarks.bare_app:app", "--port", str(port),
         "--log-level", "warning", "--no-access-log"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measure(
    name: str, proc: subprocess.Popen[bytes], port: int, args: argparse.Namespace
) -> dict[str, object]:
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=60)
        url = f"http://127.0.0.1:{port}/webhooks/whatsapp"
        asyncio.run(closed_loop(url, 200, args.concurrency, f"warm{name}"))
        through = asyncio.run(closed_loop(url, args.messages, args.concurrency, f"t{name}"))
        fixed = asyncio.run(open_loop(url, args.rate, args.seconds, f"o{name}"))
    finally:
        proc.terminate()
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
        results.append(measure("helpline-sqlite", start_helpline(
            port, f"sqlite:///{tmp}/bench.db", graph, tmp), port, args))
        if args.postgres:
            port = free_port()
            results.append(measure("helpline-postgres", start_helpline(
                port, args.postgres, graph, tmp), port, args))
    bare_rate = float(results[0]["throughput"]["rate"])  # type: ignore[index]
    print(f"{'target':20} {'msg/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>6} | "
          f"{'@rate':>6} {'p50 ms':>8} {'p99 ms':>8} errors")
    for r in results:
        t, f = r["throughput"], r["fixed_rate"]  # type: ignore[assignment]
        print(f"{r['target']:20} {t['rate']:8.0f} {t['p50']:8.1f} {t['p99']:8.1f} "  # type: ignore[index]
              f"{t['rate'] / bare_rate:6.2f} | {f['rate']:6.0f} {f['p50']:8.1f} {f['p99']:8.1f} "  # type: ignore[index]
              f"{int(t['errors']) + int(f['errors'])}")  # type: ignore[index]
    print(json.dumps(results))


if __name__ == "__main__":
    main()
