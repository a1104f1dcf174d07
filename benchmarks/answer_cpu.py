"""CPU per answered webhook, in process: the ASGI app called directly, no HTTP.

benchmarks/ingest.py measures through sockets on two shared cores, where one
run differs from the next by +-0.1 in the ratio. This calls each target's ASGI
app with the same signed WhatsApp text messages from 16 concurrent senders (so
group commit batches them as under load) and reports the process's own CPU per
answer: repeatable to a few microseconds, so a change to the answering path
can be judged by itself. Targets: the bare endpoint (benchmarks/bare_app.py)
and the helpline without its inbox processor (what answering costs, not what
processing costs), on SQLite and, with --postgres, on PostgreSQL (its
server's CPU is not counted). HTTP parsing (uvicorn, h11) is outside, and the
same for every target.

    python benchmarks/answer_cpu.py [--requests 10000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.loadgen import SECRET, payload, signed  # noqa: E402

SENDERS = 16
WARM = 500  # every one of loadgen's 500 texters once

App = Callable[..., Any]


def helpline_app(url: str) -> App:
    from benchmarks.profile_intake import bench_settings
    from helpline.main import create_app
    from helpline.store.db import make_engine
    from helpline.store.migrate import upgrade

    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    settings = bench_settings(url, whatsapp_api_url="http://127.0.0.1:9")
    # Answering only: nothing processes the inbox or sends in this process.
    return create_app(settings, run_worker=False, run_inbox=False)


def bare_app() -> App:
    os.environ["BARE_SECRET"] = SECRET
    from benchmarks.bare_app import app

    return app


async def post(app: App, body: bytes) -> None:
    headers = [(k.lower().encode(), v.encode()) for k, v in signed(body).items()]
    headers += [(b"host", b"127.0.0.1"), (b"content-length", str(len(body)).encode())]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/webhooks/whatsapp", "raw_path": b"/webhooks/whatsapp",
        "query_string": b"", "root_path": "", "headers": headers,
        "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000), "state": {},
    }
    sent = False
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # the client stays connected
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    if status != [200]:
        raise SystemExit(f"answered {status}, not 200")


async def measure(app: App, requests: int) -> float:
    """Microseconds of this process's CPU per answered webhook."""
    inbound: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbound: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await inbound.put({"type": "lifespan.startup"})
    life = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"},
                                    "state": {}}, inbound.get, outbound.put))
    started = await outbound.get()
    if started["type"] != "lifespan.startup.complete":
        raise SystemExit(f"startup failed: {started}")

    async def senders(bodies: list[bytes]) -> None:
        async def one(part: list[bytes]) -> None:
            for body in part:
                await post(app, body)

        await asyncio.gather(*(one(bodies[i::SENDERS]) for i in range(SENDERS)))

    await senders([payload(n, "warm") for n in range(WARM)])
    bodies = [payload(n, "run") for n in range(requests)]
    gc.collect()
    cpu = time.process_time()
    await senders(bodies)
    cpu = time.process_time() - cpu
    await inbound.put({"type": "lifespan.shutdown"})
    await outbound.get()
    await life
    return cpu / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=10000)
    parser.add_argument("--postgres", default=None, help="SQLAlchemy URL of an EMPTY database")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        targets: list[tuple[str, Callable[[], App]]] = [
            ("bare", bare_app),
            ("helpline-sqlite", lambda: helpline_app(f"sqlite:///{tmp}/answer.db")),
        ]
        if args.postgres:
            targets.append(("helpline-postgres", lambda: helpline_app(args.postgres)))
        for name, build in targets:
            micros = asyncio.run(measure(build(), args.requests))
            print(f"{name:18} {micros:7.1f} us CPU per answered webhook")


if __name__ == "__main__":
    main()
