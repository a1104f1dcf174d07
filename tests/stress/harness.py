"""Crash-consistency harness: a real `helpline serve` killed with SIGKILL at
random moments and restarted on the same database, while signed WhatsApp
deliveries are retried (as Meta does) until answered 200, or replies are
committed for the worker to send.

Used by tests/stress/test_crash.py (short form) and benchmarks/crash.py (long
form). Sizes come from the environment so the same test can run long by hand:

    HELPLINE_STRESS_DELIVERIES=2000 HELPLINE_STRESS_KILLS=40 pytest tests/stress -m slow
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import col, func, select

from helpline.channels.base import ChannelName, InboundMessage, MessageKind
from helpline.config import Settings
from helpline.ingest import intake
from helpline.ingest.inbox import INBOX, inbox_url
from helpline.outbound.conversations import current_conversation, queue_outbound
from helpline.services import Services, build_services
from helpline.store.db import make_engine
from helpline.store.migrate import upgrade
from helpline.store.models import Message, OutboxItem, Texter
from tests.conftest import WHATSAPP_SECRET, key, make_settings, sign
from tests.process.fakes import free_port
from tests.stress.fakes import Action, FaultyPlatform

ROOT = Path(__file__).resolve().parents[2]
MASTER = key("stress-master")
INDEX = key("stress-index")


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def stress_settings(database_url: str, **overrides: Any) -> Settings:
    return make_settings(database_url, master_key=MASTER, index_key=INDEX, **overrides)


def server_env(database_url: str, graph_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}
    env.update({
        "PYTHONPATH": str(ROOT),
        "HELPLINE_DATABASE_URL": database_url,
        "HELPLINE_MASTER_KEY": MASTER,
        "HELPLINE_INDEX_KEY": INDEX,
        "HELPLINE_WHATSAPP_APP_SECRET": WHATSAPP_SECRET,
        "HELPLINE_WHATSAPP_VERIFY_TOKEN": "verify",
        "HELPLINE_WHATSAPP_ACCESS_TOKEN": "token-abc",
        "HELPLINE_WHATSAPP_PHONE_NUMBER_ID": "1000000001",
        "HELPLINE_WHATSAPP_API_URL": graph_url,
        "HELPLINE_WORKER_POLL_SECONDS": "0.2",
        "HELPLINE_STRESS_LEASE_SECONDS": "2",
        "HELPLINE_LOG_LEVEL": "INFO",
    })
    env.update(extra)
    return env


def wa_delivery(n: int, run: str, texters: int) -> tuple[str, bytes]:
    """A signed-ready WhatsApp text delivery with a unique message id and body."""
    wa_id = f"3161{(n % texters):07d}"
    text = f"stress {run} bericht {n}"
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881",
                         "phone_number_id": "1000000001"},
            "contacts": [{"profile": {"name": "Stress Test"}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": f"wamid.STRESS{run}{n}",
                          "timestamp": "1764072000", "type": "text",
                          "text": {"body": text}}]}}]}],
    }
    return text, json.dumps(payload).encode()


class Server:
    """One `helpline serve` at a time on a fixed port; log appended across restarts."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.port = free_port()
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.stress.server", "serve", "--port", str(self.port)],
                env=self.env, cwd=self.log.parent, stdout=out, stderr=subprocess.STDOUT,
            )
        self.starts += 1

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"server not ready:\n{self.log_tail()}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, size: int = 3000) -> str:
        return self.log.read_bytes()[-size:].decode(errors="replace")


class KillLoop(threading.Thread):
    """Start the server; after 0.5 to 3 s of readiness SIGKILL it; restart.
    After `target` kills the server stays up until `finish()`."""

    def __init__(self, server: Server, target: int, seed: int,
                 up: tuple[float, float] = (0.5, 3.0)) -> None:
        super().__init__(daemon=True)
        self.server, self.target, self.up = server, target, up
        self.rng = random.Random(seed)
        self.kills = 0
        self.restart_seconds: list[float] = []
        self.error: BaseException | None = None
        self.ready = threading.Event()
        self._stop_requested = threading.Event()

    def run(self) -> None:
        try:
            while True:
                began = time.monotonic()
                self.server.start()
                self.server.wait_ready()
                self.restart_seconds.append(time.monotonic() - began)
                self.ready.set()
                if self.kills >= self.target or self._stop_requested.is_set():
                    return
                if self._stop_requested.wait(self.rng.uniform(*self.up)):
                    return
                self.server.kill()
                self.kills += 1
        except BaseException as exc:  # noqa: BLE001 - reported by finish()
            self.error = exc
            self.ready.set()

    def mean_restart(self) -> float:
        times = self.restart_seconds
        return round(sum(times) / len(times), 1) if times else 0.0

    def finish(self) -> None:
        self._stop_requested.set()
        self.join(timeout=120)
        if self.error is not None:
            raise self.error


async def _gate(loop: KillLoop, n: int, total: int) -> None:
    """Spread the work over the server's lives: item n waits for kill n*K/N."""
    needed = n * (loop.target + 1) // max(1, total)
    while loop.kills < needed and loop.error is None and loop.is_alive():
        await asyncio.sleep(0.02)


# --- inbound ---------------------------------------------------------------


@dataclass
class InboundReport:
    database: str
    deliveries: int
    kills: int
    attempts: int
    answered_200: int
    refused_or_reset: int
    non_200: dict[str, int]
    stored_exactly_once: int
    missing: int
    stored_twice_or_more: int
    seconds: float
    server_500s: int = 0
    mean_restart_seconds: float = 0.0

    def as_json(self) -> str:
        return json.dumps(asdict(self))


async def _deliver(url: str, items: list[tuple[str, bytes]], loop: KillLoop,
                   rate: float, concurrency: int) -> dict[str, Any]:
    stats: dict[str, Any] = {"attempts": 0, "ok": 0, "errors": 0, "status": Counter()}
    slots = asyncio.Semaphore(concurrency)
    rng = random.Random(7)
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0),
                                 limits=httpx.Limits(max_connections=concurrency)) as client:

        async def one(body: bytes) -> None:
            async with slots:
                while True:
                    stats["attempts"] += 1
                    try:
                        r = await client.post(f"{url}/webhooks/whatsapp", content=body,
                                              headers={"X-Hub-Signature-256": sign(body),
                                                       "Content-Type": "application/json"})
                    except httpx.HTTPError:
                        stats["errors"] += 1
                    else:
                        if r.status_code == 200:
                            stats["ok"] += 1
                            return
                        stats["status"][str(r.status_code)] += 1
                    # Meta retries with backoff; a short one keeps the run short.
                    await asyncio.sleep(rng.uniform(0.2, 0.6))

        tasks = []
        for n, (_text, body) in enumerate(items):
            await _gate(loop, n, len(items))
            tasks.append(asyncio.create_task(one(body)))
            await asyncio.sleep(1.0 / rate)
        await asyncio.gather(*tasks)
    return stats


def wait_inbox_empty(database_url: str, timeout: float = 120.0) -> None:
    """What the running server acknowledged but has not processed yet: wait
    until its inbox processor has taken it all (the inbox, helpline/ingest/inbox.py)."""
    url = inbox_url(database_url) or database_url
    engine = make_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as conn:
                left = conn.execute(select(func.count()).select_from(INBOX)).scalar_one()
            if left == 0:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{left} deliveries still in the inbox")
            time.sleep(0.1)
    finally:
        engine.dispose()


def stored_inbound(database_url: str) -> Counter[str]:
    """Decrypt every inbound message body (real keys, real vault) and count them."""
    services = build_services(stress_settings(database_url))
    counts: Counter[str] = Counter()
    try:
        with services.db.session() as session:
            keys: dict[str, bytes] = {}
            rows = session.exec(
                select(Message, Texter.data_key_id)
                .join(Texter, col(Texter.id) == col(Message.texter_id))
                .where(Message.direction == "in")
            ).all()
            for message, key_id in rows:
                if key_id not in keys:
                    keys[key_id] = services.vault.key(session, key_id)
                if message.body is not None:
                    counts[services.vault.open(keys[key_id], message.body, "messages", "body",
                                               message.id)] += 1
    finally:
        services.db.dispose()
    return counts


def count_500s(log: Path) -> int:
    text = log.read_text(errors="replace") if log.exists() else ""
    return text.count("http.unhandled") + text.count("Exception in ASGI application")


def run_inbound(database_url: str, workdir: Path, *, deliveries: int, kills: int,
                texters: int = 25, rate: float = 40.0, concurrency: int = 12,
                seed: int = 1,
                after_last_start: Callable[[str, list[str]], None] | None = None,
                ) -> InboundReport:
    """`after_last_start(url, texts)` runs once every delivery is answered 200
    and the server's last life has begun, before anything waits for the
    inbox: what an outsider sees right after the last restart."""
    run = f"{seed}x{int(time.time())}"
    items = [wa_delivery(n, run, texters) for n in range(deliveries)]
    log = workdir / "serve-inbound.log"
    started = time.monotonic()
    with FaultyPlatform() as graph:
        server = Server(server_env(database_url, graph.url), log)
        loop = KillLoop(server, kills, seed)
        loop.start()
        try:
            loop.ready.wait(120)
            stats = asyncio.run(_deliver(server.url, items, loop, rate, concurrency))
            loop.finish()
            if after_last_start is not None:
                after_last_start(server.url, [text for text, _ in items])
        finally:
            try:
                loop.finish()
                wait_inbox_empty(database_url)
            finally:
                server.stop()
    seconds = time.monotonic() - started
    counts = stored_inbound(database_url)
    expected = [text for text, _ in items]
    return InboundReport(
        database=database_url.split(":", 1)[0].split("+")[0],
        deliveries=deliveries,
        kills=loop.kills,
        attempts=stats["attempts"],
        answered_200=stats["ok"],
        refused_or_reset=stats["errors"],
        non_200=dict(stats["status"]),
        stored_exactly_once=sum(1 for t in expected if counts[t] == 1),
        missing=sum(1 for t in expected if counts[t] == 0),
        stored_twice_or_more=sum(1 for t in expected if counts[t] > 1),
        seconds=round(seconds, 1),
        server_500s=count_500s(log),
        mean_restart_seconds=loop.mean_restart(),
    )


# --- outbound --------------------------------------------------------------


@dataclass
class OutboundReport:
    database: str
    replies: int
    kills: int
    received_by_fake: int
    lost: int
    duplicates: int
    rows_not_sent: int
    seconds: float
    server_500s: int = 0
    mean_restart_seconds: float = 0.0

    def as_json(self) -> str:
        return json.dumps(asdict(self))


def make_texters(services: Services, count: int, run: str) -> list[tuple[str, str]]:
    """Texters who just wrote in (so WhatsApp's 24 h window is open): (texter id, number)."""
    out = []
    for n in range(count):
        number = f"3162{n:07d}"
        now = services.now()
        intake.receive(services, "whatsapp", [InboundMessage(
            channel=ChannelName.WHATSAPP, provider_message_id=f"wamid.OUT{run}{n}",
            sender=number, reply_to=number, kind=MessageKind.TEXT,
            text=f"hallo {n}", sent_at=now)])
        with services.db.session() as session:
            blind = services.index.compute("whatsapp", number)
            texter = session.exec(select(Texter).where(Texter.blind_index == blind)).one()
            out.append((texter.id, number))
    return out


def queue_reply(services: Services, texter_id: str, text: str) -> None:
    """What a volunteer's reply does: message + outbox row in one transaction."""
    with services.db.session() as session:
        texter = session.get(Texter, texter_id)
        if texter is None:
            raise LookupError(texter_id)
        conversation = current_conversation(session, texter)
        if conversation is None:
            raise LookupError("no open conversation")
        queue_outbound(services, session, texter=texter, conversation=conversation, text=text,
                       key=services.vault.key(session, texter.data_key_id),
                       now=datetime.now(UTC))


def unsent_rows(services: Services) -> int:
    with services.db.session() as session:
        return len(session.exec(
            select(OutboxItem.id).where(col(OutboxItem.state) != "sent")).all())


def run_outbound(database_url: str, workdir: Path, *, replies: int, kills: int,
                 texters: int = 10, rate: float = 30.0, seed: int = 2,
                 drain_timeout: float = 180.0) -> OutboundReport:
    run = f"{seed}x{int(time.time())}"
    settings = stress_settings(database_url)
    services = build_services(settings)
    upgrade(services.db.engine)
    people = make_texters(services, texters, run)
    texts = [(people[n % texters][1], f"stress {run} antwoord {n}") for n in range(replies)]
    by_number = {number: tid for tid, number in people}
    rng = random.Random(seed)
    log = workdir / "serve-outbound.log"
    started = time.monotonic()

    # The provider answers after 0 to 80 ms: kills land between its answer and
    # our commit often enough to show the duplicate window.
    def script(n: int, path: str, body: dict[str, Any]) -> Action:
        return Action(delay=rng.uniform(0.0, 0.08))

    with FaultyPlatform(script) as graph:
        server = Server(server_env(database_url, graph.url), log)
        loop = KillLoop(server, kills, seed)
        loop.start()
        try:
            loop.ready.wait(120)

            async def produce() -> None:
                for n, (number, text) in enumerate(texts):
                    await _gate(loop, n, len(texts))
                    await asyncio.to_thread(queue_reply, services, by_number[number], text)
                    await asyncio.sleep(1.0 / rate)

            asyncio.run(produce())
            while loop.kills < kills and loop.is_alive():
                time.sleep(0.1)
            deadline = time.monotonic() + drain_timeout
            while unsent_rows(services) and time.monotonic() < deadline:
                time.sleep(0.25)
        finally:
            try:
                loop.finish()
            finally:
                server.stop()
        received = Counter(graph.texts())
    not_sent = unsent_rows(services)
    services.db.dispose()
    wanted = Counter(texts)
    return OutboundReport(
        database=database_url.split(":", 1)[0].split("+")[0],
        replies=replies,
        kills=loop.kills,
        received_by_fake=sum(received[t] for t in wanted),
        lost=sum(1 for t in wanted if received[t] == 0),
        # Welcomes included: a kill can duplicate any row in flight.
        duplicates=sum(c - 1 for c in received.values() if c > 1),
        rows_not_sent=not_sent,
        seconds=round(time.monotonic() - started, 1),
        server_500s=count_500s(log),
        mean_restart_seconds=loop.mean_restart(),
    )
