"""Console benchmark: a big database, then server time for the queue and a
conversation, and webhook-to-SSE latency at a steady message rate.

    /work/venv/bin/python benchmarks/console.py                 # SQLite in a temp dir
    /work/venv/bin/python benchmarks/console.py --database-url postgresql+psycopg://...

1. Generates N open conversations (one texter and data key each) and M
   messages spread over them, every body sealed with AES-GCM under its
   texter's key (bulk inserts, not the intake path: the point is the size).
2. Times GET /api/conversations?view=queue, GET /api/conversations/{id} and
   the two HTML pages in-process (FastAPI TestClient: server time plus a
   negligible in-memory transport).
3. Starts `helpline serve` as a separate process, holds an event stream open
   as a volunteer, posts signed WhatsApp webhooks at --rate per second and
   measures from the start of each POST to the arrival of its `message` event.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import json
import os
import platform
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import insert

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from helpline import crypto  # noqa: E402
from helpline.config import Settings  # noqa: E402
from helpline.console import sessions  # noqa: E402
from helpline.main import create_app  # noqa: E402
from helpline.services import Services, build_services  # noqa: E402
from helpline.store.columns import DEFAULT_HELPLINE_ID  # noqa: E402
from helpline.store.db import make_engine  # noqa: E402
from helpline.store.migrate import upgrade  # noqa: E402
from helpline.store.models import Conversation, DataKey, Message, Texter, User, new_id  # noqa: E402

APP_SECRET = "bench-app-secret"
WORDS = ("hoi", "ik", "heb", "een", "vraag", "over", "werk", "test", "geld", "wonen",
         "klant", "afspraak", "morgen", "waar", "kan", "ik", "terecht", "dank", "je", "wel")


def key_b64(seed: str) -> str:
    return base64.b64encode(hashlib.sha256(seed.encode()).digest()).decode()


def settings_for(url: str, **extra: Any) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=url, master_key=key_b64("bench-master"),
        index_key=key_b64("bench-index"), whatsapp_app_secret=APP_SECRET,
        whatsapp_verify_token="bench", whatsapp_access_token="bench",  # noqa: S106
        whatsapp_phone_number_id="1000000001", whatsapp_api_url="http://127.0.0.1:9/v23.0",
        secure_cookies=False, log_level="WARNING", **extra)


def body(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 30)))


def settle(url: str) -> None:
    """A real database grows over months; this one was bulk-loaded seconds
    ago. Write the load out and refresh planner statistics first, so the
    measurement is not of the database flushing a gigabyte of fresh WAL."""
    import sqlite3

    import psycopg

    from helpline.live.postgres import conninfo

    if url.startswith("sqlite"):
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as lite:
            lite.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            lite.execute("ANALYZE")
        return
    with psycopg.connect(conninfo(url), autocommit=True) as pg:
        pg.execute("CHECKPOINT")
        pg.execute("ANALYZE")


def generate(services: Services, conversations: int, messages: int, seed: int = 7,
             helpline_ids: tuple[str, ...] = (DEFAULT_HELPLINE_ID,)) -> float:
    """Conversations go round-robin to `helpline_ids` (benchmarks/helplines.py)."""
    rng = random.Random(seed)
    engine = services.db.engine
    ring = services.vault.ring
    now = datetime.now(UTC)
    started = time.perf_counter()
    per_conv = max(1, messages // conversations)
    done = 0
    chunk = 500
    for first in range(0, conversations, chunk):
        keys, texters, convs, msgs = [], [], [], []
        for n in range(first, min(first + chunk, conversations)):
            raw = crypto.new_data_key()
            key_id, texter_id, conv_id = new_id(), new_id(), new_id()
            keys.append({"id": key_id, "wrapped": ring.wrap(raw, key_id),
                         "master_key_id": ring.current_id, "created_at": now})
            last = now - timedelta(minutes=rng.randint(0, 60 * 24))
            helpline_id = helpline_ids[n % len(helpline_ids)]
            texters.append({
                "id": texter_id, "helpline_id": helpline_id, "blind_index": secrets.token_hex(32),
                "pseudonym": f"Bench-{n}", "data_key_id": key_id, "channel": "whatsapp",
                "reply_address": crypto.seal_text(raw, f"3160{n:07d}", table="texters",
                                                  column="reply_address", row_id=texter_id),
                "language": rng.choice(("nl", "en", "es", "ro", "bg", "pl")),
                "stopped": False, "practice": False, "created_at": last - timedelta(days=1),
                "last_activity_at": last, "last_inbound_at": last,
            })
            convs.append({
                "id": conv_id, "helpline_id": helpline_id, "texter_id": texter_id,
                "channel": "whatsapp", "queue": "peer",
                "priority": "urgent" if rng.random() < 0.05 else "normal", "status": "open",
                "created_at": last - timedelta(days=1), "last_message_at": last,
                "waiting_since": last if rng.random() < 0.6 else None, "practice": False,
            })
            count = per_conv if done + per_conv <= messages else max(0, messages - done)
            for i in range(count):
                mid = new_id()
                direction = "in" if i % 2 == 0 else "out"
                msgs.append({
                    "id": mid, "conversation_id": conv_id, "texter_id": texter_id,
                    "direction": direction, "kind": "text",
                    "body": crypto.seal_text(raw, body(rng), table="messages", column="body",
                                             row_id=mid),
                    "author_kind": "texter" if direction == "in" else "bot",
                    "status": "received" if direction == "in" else "delivered",
                    "created_at": last - timedelta(minutes=count - i),
                })
            done += count
        with engine.begin() as conn:
            conn.execute(insert(DataKey.__table__), keys)  # type: ignore[attr-defined]
            conn.execute(insert(Texter.__table__), texters)  # type: ignore[attr-defined]
            conn.execute(insert(Conversation.__table__), convs)  # type: ignore[attr-defined]
            for at in range(0, len(msgs), 10000):
                conn.execute(insert(Message.__table__), msgs[at:at + 10000])  # type: ignore[attr-defined]
        print(f"  {min(first + chunk, conversations)} conversations, {done} messages, "
              f"{time.perf_counter() - started:.0f} s", flush=True)
    return time.perf_counter() - started


def volunteer_session(services: Services, alias: str = "Bench",
                      helpline_id: str = DEFAULT_HELPLINE_ID) -> tuple[str, str]:
    now = services.now()
    with services.db.session() as session:
        data_key, key = services.vault.create_key(session, now)
        suffix = secrets.token_hex(3)
        user = User(username=f"u-{alias}-{suffix}", alias=f"{alias}-{suffix}",
                    role="volunteer", password_hash="-", data_key_id=data_key.id,  # noqa: S106
                    helpline_id=helpline_id,
                    totp_secret=b"", created_at=now, password_changed_at=now)
        user.totp_secret = services.vault.seal(key, "JBSWY3DPEHPK3PXP", "users", "totp_secret",
                                               user.id)
        session.add(user)
        session.flush()
        token = sessions.start_session(services, session, user, now)
    return token, sessions.cookie_name(services.settings)


def timed(client: TestClient, path: str, runs: int, headers: dict[str, str]) -> dict[str, float]:
    samples, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        response = client.get(path, headers=headers)
        samples.append((time.perf_counter() - t0) * 1000)
        # CPU seconds of this process (app + in-memory transport): what the
        # request costs when the machine is not shared with other jobs.
        cpu.append((time.process_time() - c0) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{path}: {response.status_code}")
    samples.sort()
    return {"median": statistics.median(samples), "p95": samples[int(len(samples) * 0.95) - 1],
            "max": samples[-1], "cpu_median": statistics.median(cpu)}


def measure_pages(settings: Settings, runs: int) -> dict[str, dict[str, float]]:
    app = create_app(settings, run_worker=False)
    services: Services = app.state.services
    token, cookie = volunteer_session(services)
    headers = {"Cookie": f"{cookie}={token}"}
    results = {}
    with TestClient(app) as client:
        queue = client.get("/api/conversations?view=queue", headers=headers).json()
        cid = queue["items"][len(queue["items"]) // 2]["id"]
        for label, path in (
            ("GET /api/conversations?view=queue", "/api/conversations?view=queue"),
            ("GET /api/conversations?view=all", "/api/conversations?view=all"),
            ("GET /api/conversations/{id} (100 messages)", f"/api/conversations/{cid}"),
            ("GET /console (queue page)", "/console"),
            ("GET /console/conversations/{id}", f"/console/conversations/{cid}"),
        ):
            timed(client, path, 3, headers)  # warm up
            results[label] = timed(client, path, runs, headers)
    return results


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure_live(settings: Settings, rate: float, seconds: float) -> dict[str, float]:
    services = build_services(settings)
    token, cookie = volunteer_session(services, "Live")
    services.db.dispose()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "HELPLINE_DATABASE_URL": settings.database_url,
           "HELPLINE_MASTER_KEY": key_b64("bench-master"),
           "HELPLINE_INDEX_KEY": key_b64("bench-index"),
           "HELPLINE_WHATSAPP_APP_SECRET": APP_SECRET, "HELPLINE_WHATSAPP_VERIFY_TOKEN": "bench",
           "HELPLINE_SECURE_COOKIES": "false", "HELPLINE_EMBEDDED_WORKER": "false",
           "HELPLINE_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "helpline.cli", "serve", "--host",
                             "127.0.0.1", "--port", str(port)], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(400):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        arrivals: list[tuple[float, str, str]] = []
        ready = threading.Event()
        stop = threading.Event()
        console = httpx.Client(base_url=base, cookies={cookie: token},
                               timeout=httpx.Timeout(30.0, read=None))

        def listen() -> None:
            kind = ""
            with contextlib.suppress(httpx.HTTPError), \
                    console.stream("GET", "/api/events") as response:
                for line in response.iter_lines():
                    if line.startswith("event:"):
                        kind = line.split(":", 1)[1].strip()
                    elif line.startswith("data:"):
                        data = json.loads(line.split(":", 1)[1])
                        if kind == "ready":
                            ready.set()
                        # The inbound message's event carries its queue; bot
                        # replies in the same batch do not.
                        elif kind == "message" and "queue" in data:
                            arrivals.append((time.perf_counter(), data["conversation"],
                                             data["message"]))
                    if stop.is_set():
                        return

        threading.Thread(target=listen, daemon=True).start()
        if not ready.wait(15):
            raise SystemExit("event stream did not open")
        total = int(rate * seconds)
        starts: dict[int, float] = {}
        ends: dict[int, float] = {}
        statuses: list[int] = []
        sender = httpx.Client(base_url=base, timeout=30,
                              limits=httpx.Limits(max_connections=32))

        def post(n: int) -> None:
            payload = {"object": "whatsapp_business_account", "entry": [{"id": "1",
                       "changes": [{"field": "messages", "value": {
                           "messaging_product": "whatsapp",
                           "metadata": {"display_phone_number": "15550000000",
                                        "phone_number_id": "1000000001"},
                           "messages": [{"from": f"3169{n % 300:07d}",
                                         "id": f"wamid.BENCH{secrets.token_hex(8)}",
                                         "timestamp": str(int(time.time())), "type": "text",
                                         "text": {"body": f"benchmark {n}"}}]}}]}]}
            raw = json.dumps(payload).encode()
            sig = "sha256=" + hmac.new(APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
            starts[n] = time.perf_counter()
            statuses.append(sender.post("/webhooks/whatsapp", content=raw, headers={
                "X-Hub-Signature-256": sig, "Content-Type": "application/json"}).status_code)
            ends[n] = time.perf_counter()

        # Open loop: a message every 1/rate s whether or not earlier ones are done.
        interval = 1.0 / rate
        begin = time.perf_counter()
        with ThreadPoolExecutor(max_workers=32) as pool:
            for n in range(total):
                delay = begin + n * interval - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(post, n)
        elapsed = time.perf_counter() - begin
        # Replies (welcomes) arrive as message events too: wait until the
        # stream has been quiet for 2 s rather than for `total` events.
        deadline = time.perf_counter() + 15
        seen, quiet_since = -1, time.perf_counter()
        while time.perf_counter() < deadline and time.perf_counter() - quiet_since < 2:
            if len(arrivals) != seen:
                seen, quiet_since = len(arrivals), time.perf_counter()
            time.sleep(0.05)
        stop.set()
        # Match each event to its webhook through the body (read via the API).
        number: dict[str, int] = {}
        for conversation in {c for _, c, _ in arrivals}:
            detail = console.get(f"/api/conversations/{conversation}").json()
            for m in detail["messages"]:
                words = (m["body"] or "").split()
                if m["direction"] == "in" and len(words) == 2 and words[1].isdigit():
                    number[m["id"]] = int(words[1])
        latencies = sorted((at - starts[number[mid]]) * 1000 for at, _, mid in arrivals
                           if mid in number and number[mid] in starts)
        # The same event measured from the webhook's 200 (after intake's commit):
        # what the live path itself adds, without intake's queueing.
        after = sorted((at - ends[number[mid]]) * 1000 for at, _, mid in arrivals
                       if mid in number and number[mid] in ends)
        posts = sorted((ends[n] - starts[n]) * 1000 for n in ends)
        sender.close()
        console.close()
        return {
            "webhook_p50": statistics.median(posts),
            "webhook_p99": posts[int(len(posts) * 0.99) - 1],
            "after_200_p50": statistics.median(after),
            "after_200_p99": after[int(len(after) * 0.99) - 1],
            "sent": total, "events": len(arrivals), "matched": len(latencies),
            "http_200": statuses.count(200), "achieved_rate": total / elapsed,
            "p50": statistics.median(latencies), "p95": latencies[int(len(latencies) * 0.95) - 1],
            "p99": latencies[int(len(latencies) * 0.99) - 1], "max": latencies[-1],
        }
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:  # an open event stream delays a graceful stop
            proc.kill()
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url")
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--reuse", action="store_true", help="skip generation (database filled)")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="helpline-bench-")
    url = args.database_url or f"sqlite:///{tmp}/bench.db"
    settings = settings_for(url)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, database: {url.split(':')[0]}, "
          f"load average {os.getloadavg()[0]:.1f}")
    if not args.reuse:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        services = build_services(settings)
        print(f"generating {args.conversations} conversations, {args.messages} messages")
        took = generate(services, args.conversations, args.messages)
        services.db.dispose()
        print(f"generated in {took:.0f} s")
        settle(url)
    print("server time (ms, in-process TestClient):")
    for label, r in measure_pages(settings, args.runs).items():
        print(f"  {label:44s} median {r['median']:6.1f}  p95 {r['p95']:6.1f}  "
              f"max {r['max']:6.1f}  cpu {r['cpu_median']:5.1f}")
    print(f"webhook -> SSE at {args.rate}/s for {args.seconds} s (separate server process):")
    live = measure_live(settings, args.rate, args.seconds)
    for k, v in live.items():
        print(f"  {k:14s} {v:.1f}" if isinstance(v, float) else f"  {k:14s} {v}")


if __name__ == "__main__":
    main()
