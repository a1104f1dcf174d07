"""Web chat benchmark: many open chat pages with live streams on one server
process, and answer-to-page latency.

    .venv/bin/python benchmarks/webchat.py                      # 200 pages, 60 s
    .venv/bin/python benchmarks/webchat.py --pages 200 --seconds 600

1. Starts `helpline serve` (web and embedded worker in ONE process, SQLite in
   a temp dir, HELPLINE_WEBCHAT=true) and waits for /healthz.
2. Opens --pages visitors: each posts a first message through
   POST /chat/api/messages (getting its own cookie) and holds
   GET /chat/api/events open, as a page does. All streams live in this
   client process (asyncio, one connection each).
3. Volunteers (real accounts and sessions in the database, five
   conversations each) claim every conversation through the console API.
4. For --seconds, answers a random visitor at --rate per second through
   POST /api/conversations/{id}/messages and measures from the start of that
   POST to the arrival of the reply's `message` event on the visitor's stream
   (console API -> outbox -> worker -> adapter -> stream -> client).
5. Samples the server's resident memory (VmRSS) every second.

Prints p50/p95/p99/max latency, peak and final RSS, streams held and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import platform
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlmodel import select  # noqa: E402

from helpline.config import Settings  # noqa: E402
from helpline.console import sessions  # noqa: E402
from helpline.services import Services, build_services  # noqa: E402
from helpline.store.db import make_engine  # noqa: E402
from helpline.store.migrate import upgrade  # noqa: E402
from helpline.store.models import Conversation, Texter, User  # noqa: E402
from helpline.webchat.session import visitor_id  # noqa: E402

PER_VOLUNTEER = 5  # the default policy's max_conversations_per_volunteer


def key_b64(seed: str) -> str:
    return base64.b64encode(hashlib.sha256(seed.encode()).digest()).decode()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def volunteer(services: Services, n: int) -> tuple[str, str, str]:
    now = services.now()
    with services.db.session() as session:
        data_key, key = services.vault.create_key(session, now)
        user = User(username=f"bench-{n}", alias=f"Bench-{n}", role="volunteer",
                    password_hash="-", data_key_id=data_key.id,  # noqa: S106
                    totp_secret=b"", created_at=now, password_changed_at=now)
        user.totp_secret = services.vault.seal(key, "JBSWY3DPEHPK3PXP", "users", "totp_secret",
                                               user.id)
        session.add(user)
        session.flush()
        token = sessions.start_session(services, session, user, now)
    return (sessions.cookie_name(services.settings), token,
            sessions.csrf_token_for(services, token))


class Page:
    """One visitor's open chat page: its cookie and its event stream."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.cookie = ""
        self.waiting: dict[str, asyncio.Future[float]] = {}
        self.connected = asyncio.Event()
        self.dropped = 0

    async def open(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/chat/api/messages", json={"text": f"hoi {self.n}"},
                                     headers={"X-Helpline-Chat": "1"})
        response.raise_for_status()
        jar: SimpleCookie = SimpleCookie()
        jar.load(response.headers["set-cookie"])
        self.cookie = jar["helpline_chat"].value

    async def listen(self, client: httpx.AsyncClient) -> None:
        headers = {"Cookie": f"helpline_chat={self.cookie}"}
        while True:
            try:
                async with client.stream("GET", "/chat/api/events", headers=headers,
                                         timeout=httpx.Timeout(10.0, read=None)) as stream:
                    kind = ""
                    async for line in stream.aiter_lines():
                        if line.startswith("event:"):
                            kind = line[6:].strip()
                            if kind == "ready":
                                self.connected.set()
                        elif line.startswith("data:") and kind == "message":
                            body = json.loads(line[5:]).get("body", "")
                            future = self.waiting.pop(body, None)
                            if future is not None and not future.done():
                                future.set_result(time.perf_counter())
            except (httpx.HTTPError, asyncio.IncompleteReadError):
                self.dropped += 1
                await asyncio.sleep(0.5)
            except RuntimeError:  # the client closed at the end of the run
                return


async def run(args: argparse.Namespace, settings: Settings, base: str, pid: int,
              services: Services) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=args.pages + 50, max_keepalive_connections=50)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30.0) as client:
        pages = [Page(n) for n in range(args.pages)]
        for start in range(0, len(pages), 20):
            await asyncio.gather(*(p.open(client) for p in pages[start:start + 20]))
        listeners = [asyncio.create_task(p.listen(client)) for p in pages]
        await asyncio.wait_for(asyncio.gather(*(p.connected.wait() for p in pages)), 60)
        print(f"{len(pages)} pages open with live streams", flush=True)

        # Which conversation belongs to which page (the benchmark holds the keys).
        deadline = time.monotonic() + 60
        by_page: dict[int, str] = {}
        while len(by_page) < len(pages) and time.monotonic() < deadline:
            with services.db.session() as s:
                for page in pages:
                    if page.n in by_page:
                        continue
                    blind = services.index.compute(
                        "webchat", visitor_id(services.index, page.cookie))
                    texter = s.exec(select(Texter).where(Texter.blind_index == blind)).first()
                    if texter is None:
                        continue
                    conversation = s.exec(select(Conversation).where(
                        Conversation.texter_id == texter.id)).first()
                    if conversation is not None:
                        by_page[page.n] = conversation.id
            await asyncio.sleep(0.2)
        agents = [volunteer(services, n)
                  for n in range((len(pages) + PER_VOLUNTEER - 1) // PER_VOLUNTEER)]
        owner: dict[int, tuple[str, str, str]] = {}
        for page in pages:
            agent = agents[page.n // PER_VOLUNTEER]
            cookie, token, csrf = agent
            response = await client.post(
                f"/api/conversations/{by_page[page.n]}/claim",
                headers={"Cookie": f"{cookie}={token}", "X-CSRF-Token": csrf,
                         "Origin": base})
            response.raise_for_status()
            owner[page.n] = agent

        latencies: list[float] = []
        lost = 0
        rss: list[int] = [rss_kib(pid)]
        rng = random.Random(16)
        ends = time.monotonic() + args.seconds
        next_sample = time.monotonic() + 1
        sent = 0

        async def answer(page: Page) -> None:
            nonlocal lost
            text = f"antwoord {secrets.token_hex(6)}"
            future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
            page.waiting[text] = future
            cookie, token, csrf = owner[page.n]
            started = time.perf_counter()
            response = await client.post(
                f"/api/conversations/{by_page[page.n]}/messages", json={"body": text},
                headers={"Cookie": f"{cookie}={token}", "X-CSRF-Token": csrf, "Origin": base})
            response.raise_for_status()
            try:
                arrived = await asyncio.wait_for(future, 10)
                latencies.append((arrived - started) * 1000)
            except TimeoutError:
                lost += 1

        tasks = []
        while time.monotonic() < ends:
            tasks.append(asyncio.create_task(answer(rng.choice(pages))))
            sent += 1
            await asyncio.sleep(rng.expovariate(args.rate))
            if time.monotonic() >= next_sample:
                rss.append(rss_kib(pid))
                next_sample += 1
        await asyncio.gather(*tasks)
        rss.append(rss_kib(pid))
        for task in listeners:
            task.cancel()
        for task in listeners:
            with contextlib.suppress(asyncio.CancelledError):
                await task
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")

    return {
        "pages": args.pages, "seconds": args.seconds, "answers": sent,
        "delivered": len(latencies), "lost": lost,
        "p50_ms": round(statistics.median(ordered), 1) if ordered else None,
        "p95_ms": round(pct(0.95), 1), "p99_ms": round(pct(0.99), 1),
        "max_ms": round(ordered[-1], 1) if ordered else None,
        "rss_peak_mb": round(max(rss) / 1024, 1), "rss_end_mb": round(rss[-1] / 1024, 1),
        "stream_reconnects": sum(p.dropped for p in pages),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=2.0, help="answers per second")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="helpline-webchat-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        settings = Settings(_env_file=None, database_url=url,  # type: ignore[call-arg]
                            master_key=key_b64("bench-master"),
                            index_key=key_b64("bench-index"), log_level="WARNING",
                            secure_cookies=False)
        services = build_services(settings)
        port = 20000 + secrets.randbelow(20000)
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "HELPLINE_DATABASE_URL": url,
               "HELPLINE_MASTER_KEY": key_b64("bench-master"),
               "HELPLINE_INDEX_KEY": key_b64("bench-index"), "HELPLINE_WEBCHAT": "true",
               "HELPLINE_SECURE_COOKIES": "false", "HELPLINE_LOG_LEVEL": "WARNING",
               "HELPLINE_KEY_STORE": str(Path(tmp) / "keystore"),
               # One client address opens all the pages: lift the new-chat limit.
               "HELPLINE_WEBCHAT_NEW_PER_MINUTE": "100000",
               "HELPLINE_WEBCHAT_GLOBAL_PER_MINUTE": "100000"}
        proc = subprocess.Popen([sys.executable, "-m", "helpline.cli", "serve", "--host",
                                 "127.0.0.1", "--port", str(port)], env=env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(400):
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                time.sleep(0.05)
            result = asyncio.run(run(args, settings, base, proc.pid, services))
        finally:
            proc.terminate()
            proc.wait(timeout=20)
            services.db.dispose()
    result["machine"] = (f"{platform.machine()}, {os.cpu_count()} cores, "
                         f"Python {platform.python_version()}")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
