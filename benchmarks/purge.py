"""Retention benchmark: purge 1,000,000 expired messages while webhooks arrive.

    python benchmarks/purge.py                         # SQLite in a temp dir
    python benchmarks/purge.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench

What it does:
  1. migrates a fresh database and bulk-inserts N expired texters (60 days
     inactive), each with a data key, a conversation, M messages (random
     ciphertext-sized bodies) and an outbox row;
  2. starts the real app under uvicorn in a child process (worker off);
  3. sends signed WhatsApp webhooks from 4 client threads (new texters, so
     each one is a full intake transaction: dedup, texter, key, message,
     routing, outbox), first for a baseline, then during the purge;
  4. runs `lifecycle.purge()` in another child process and times it;
  5. prints purge time and webhook latency (p50 / p99 / max) before and during.

Everything stays on 127.0.0.1; request loops are bounded in count and time.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET = "bench-app-secret"


def key(seed: str) -> str:
    return base64.b64encode(hashlib.sha256(seed.encode()).digest()).decode()


def env_for(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}
    env.update({
        "HELPLINE_DATABASE_URL": url,
        "HELPLINE_MASTER_KEY": key("bench-master"),
        "HELPLINE_INDEX_KEY": key("bench-index"),
        "HELPLINE_WHATSAPP_APP_SECRET": SECRET,
        "HELPLINE_WHATSAPP_VERIFY_TOKEN": "bench-verify",
        "HELPLINE_WHATSAPP_ACCESS_TOKEN": "bench",
        "HELPLINE_WHATSAPP_PHONE_NUMBER_ID": "1000000001",
        "HELPLINE_WHATSAPP_API_URL": "http://127.0.0.1:9/v23.0",
        "HELPLINE_EMBEDDED_WORKER": "false",
        "HELPLINE_LOG_LEVEL": "WARNING",
        "HELPLINE_RETENTION_DAYS": "30",
        "PYTHONPATH": str(ROOT),
    })
    return env


# --- data -------------------------------------------------------------------


def seed(url: str, texters: int, per_texter: int, unanswered: float = 0.1) -> float:
    from sqlalchemy import insert

    from helpline.crypto import KeyRing, new_data_key
    from helpline.store.db import make_engine
    from helpline.store.migrate import upgrade
    from helpline.store.models import Conversation, DataKey, Message, OutboxItem, Texter

    started = time.perf_counter()
    engine = make_engine(url)
    upgrade(engine)
    ring = KeyRing(base64.b64decode(key("bench-master")))
    old = datetime.now(UTC) - timedelta(days=60)
    chunk = 200
    for start in range(0, texters, chunk):
        keys, people, convs, msgs, outbox = [], [], [], [], []
        for i in range(start, min(texters, start + chunk)):
            kid, tid, cid = f"k{i:08d}", f"t{i:08d}", f"c{i:08d}"
            keys.append({"id": kid, "wrapped": ring.wrap(new_data_key(), kid),
                         "master_key_id": ring.current_id, "created_at": old})
            people.append({"id": tid, "blind_index": secrets.token_hex(32),
                           "pseudonym": f"Bench-{i}", "data_key_id": kid,
                           "channel": "whatsapp", "reply_address": os.urandom(40),
                           "stopped": False, "practice": False, "created_at": old,
                           "last_activity_at": old, "last_inbound_at": old})
            convs.append({"id": cid, "texter_id": tid, "channel": "whatsapp",
                          "queue": "peer", "priority": "normal", "status": "closed",
                          "created_at": old, "last_message_at": old, "practice": False,
                          # Statistics count never-answered conversations at
                          # deletion; most conversations did get an answer.
                          "first_response_at": None if i % 100 < unanswered * 100 else old})
            for j in range(per_texter):
                msgs.append({"id": f"m{i:08d}{j:04d}", "conversation_id": cid,
                             "texter_id": tid, "direction": "in" if j % 2 else "out",
                             "kind": "text", "body": os.urandom(29 + 80),
                             "author_kind": "texter", "status": "received",
                             "created_at": old})
            outbox.append({"id": f"o{i:08d}", "message_id": f"m{i:08d}0000", "texter_id": tid,
                           "channel": "whatsapp", "kind": "text", "state": "sent",
                           "attempts": 1, "next_attempt_at": old, "created_at": old})
        with engine.begin() as conn:
            conn.execute(insert(DataKey), keys)
            conn.execute(insert(Texter), people)
            conn.execute(insert(Conversation), convs)
            conn.execute(insert(Message), msgs)
            conn.execute(insert(OutboxItem), outbox)
        done = min(texters, start + chunk) * per_texter
        print(f"\rseeded {done} messages", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    engine.dispose()
    return time.perf_counter() - started


# --- child processes --------------------------------------------------------


def serve(port: int) -> None:
    import uvicorn

    from helpline.config import Settings
    from helpline.main import create_app

    app = create_app(Settings())  # type: ignore[call-arg]
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def purge_only() -> None:
    from helpline.lifecycle.retention import purge
    from helpline.services import build_services

    services = build_services(__import__("helpline.config").config.Settings())
    import resource

    started = time.perf_counter()
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    result = purge(services)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    used = (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)
    print(json.dumps({"seconds": elapsed, "cpu_seconds": used, "texters": result.texters,
                      "rows": result.rows}), flush=True)


# --- load -------------------------------------------------------------------


def payload(n: int) -> bytes:
    number = f"3169{n:07d}"
    body = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": "1000000001"},
            "contacts": [{"profile": {"name": "Bench"}, "wa_id": number}],
            "messages": [{"from": number, "id": f"wamid.BENCH{n}", "timestamp": "1764072000",
                          "type": "text", "text": {"body": "hallo, een vraag"}}]}}]}]}
    return json.dumps(body).encode()


class Load:
    def __init__(self, port: int, threads: int = 4) -> None:
        self.url = f"http://127.0.0.1:{port}/webhooks/whatsapp"
        self.samples: list[tuple[float, float, int]] = []  # (start, seconds, status)
        self.stop = threading.Event()
        self.counter = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _next(self) -> int:
        with self.lock:
            self.counter += 1
            return self.counter

    def _run(self) -> None:
        deadline = time.monotonic() + 600  # bounded in time, whatever happens
        with httpx.Client(timeout=60) as client:
            while not self.stop.is_set() and time.monotonic() < deadline:
                body = payload(self._next())
                sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                started = time.monotonic()
                response = client.post(self.url, content=body, headers={
                    "X-Hub-Signature-256": sig, "Content-Type": "application/json"})
                self.samples.append((started, time.monotonic() - started, response.status_code))
                time.sleep(0.01)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(samples: list[tuple[float, float, int]], since: float, until: float) -> dict[str, Any]:
    window = [s for s in samples if since <= s[0] < until]
    ms = [s[1] * 1000 for s in window]
    return {"requests": len(window), "errors": sum(1 for s in window if s[2] != 200),
            "p50_ms": round(pct(ms, 50), 1), "p99_ms": round(pct(ms, 99), 1),
            "max_ms": round(max(ms), 1) if ms else None,
            "mean_ms": round(statistics.fmean(ms), 1) if ms else None}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--per-texter", type=int, default=100)
    parser.add_argument("--unanswered", type=float, default=0.1,
                        help="fraction of conversations never answered by a person")
    parser.add_argument("--baseline", type=float, default=5.0, help="seconds of load before")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--purge-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if args.purge_only:
        purge_only()
        return

    tmp = tempfile.TemporaryDirectory(prefix="helpline-bench-")
    url = args.database_url or f"sqlite:///{tmp.name}/bench.db"
    texters = args.messages // args.per_texter
    seeded = seed(url, texters, args.per_texter, args.unanswered)
    print(f"seeded {texters * args.per_texter} messages of {texters} texters in {seeded:.1f} s")

    env = env_for(url)
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)], env=env,
                              cwd=tmp.name)
    try:
        with httpx.Client() as probe:
            for _ in range(200):
                try:
                    if probe.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
        load = Load(port)
        load.start()
        t0 = time.monotonic()
        time.sleep(args.baseline)
        t1 = time.monotonic()
        child = subprocess.run([sys.executable, __file__, "--purge-only"], env=env,
                               cwd=tmp.name, capture_output=True, text=True, check=True,
                               timeout=900)
        t2 = time.monotonic()
        load.finish()
    finally:
        server.terminate()
        server.wait(timeout=30)
    result = json.loads(child.stdout.strip().splitlines()[-1])
    report = {
        "database": "sqlite" if url.startswith("sqlite") else "postgresql",
        "purge_seconds": round(result["seconds"], 1),
        # CPU time of the purging process: what the purge costs on a quiet
        # machine, whatever else shares the cores during the run.
        "purge_cpu_seconds": round(result["cpu_seconds"], 1),
        "load_average_1min_after": round(os.getloadavg()[0], 1),
        "purged": result["rows"] | {"texters": result["texters"]},
        "webhooks_before": summary(load.samples, t0, t1),
        "webhooks_during": summary(load.samples, t1, t2),
    }
    print(json.dumps(report, indent=2))
    tmp.cleanup()


if __name__ == "__main__":
    main()
