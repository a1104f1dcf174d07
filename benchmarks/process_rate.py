"""Processing rate: how fast the inbox processor stores a backlog, with one or
more processor processes.

Fills the inbox with N signed WhatsApp text deliveries from the 500 returning
texters of benchmarks/loadgen.py (their first messages are taken in
beforehand, in process, and their welcomes marked sent), then starts the real
processors and times how fast inbound messages appear in the database:
`helpline worker` processes (at Nice=10, as deploy/) on PostgreSQL, where
several share the inbox with FOR UPDATE SKIP LOCKED; `helpline serve` on
SQLite, where the app processes its own inbox (one writer: one process).
The rate is taken between 5 % and 95 % of the backlog, so process start-up
and the last partial batches do not count.

    python benchmarks/process_rate.py [--messages 20000] [--workers 1 2]
                                      [--postgres URL] [--code DIR]

--postgres takes the URL of a database (or, with `?options=-csearch_path%3DS`,
a schema) whose tables are dropped and recreated. --code runs migrations and
processors from another checkout (to compare two commits in one sitting).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from loadgen import SECRET, payload  # noqa: E402, I001

from tests.process.fakes import FakeGraphAPI, free_port, wait_http  # noqa: E402

TEXTERS = 500


def key(seed: str) -> str:
    return base64.b64encode(hashlib.sha256(seed.encode()).digest()).decode()


def environment(database_url: str, graph: FakeGraphAPI, code: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}
    env.update({
        "PYTHONPATH": str(code),
        "HELPLINE_DATABASE_URL": database_url, "HELPLINE_MASTER_KEY": key("m"),
        "HELPLINE_INDEX_KEY": key("i"), "HELPLINE_WHATSAPP_APP_SECRET": SECRET,
        "HELPLINE_WHATSAPP_VERIFY_TOKEN": "v", "HELPLINE_WHATSAPP_ACCESS_TOKEN": "t",
        "HELPLINE_WHATSAPP_PHONE_NUMBER_ID": "1000000001", "HELPLINE_WHATSAPP_API_URL": graph.url,
        "HELPLINE_LOG_LEVEL": "WARNING", "HELPLINE_SECURE_COOKIES": "false",
    })
    return env


def empty_schema(database_url: str) -> None:
    """On PostgreSQL, drop and recreate the URL's schema (SQLite files are new)."""
    from sqlalchemy import text

    from helpline.store.db import make_engine

    if database_url.startswith("postgresql"):
        engine = make_engine(database_url)
        with engine.begin() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()


def reset(database_url: str, env: dict[str, str], tmp: str) -> None:
    """An empty schema, migrated by the code under test."""
    empty_schema(database_url)
    subprocess.run([sys.executable, "-m", "helpline.cli", "migrate"], env=env, cwd=tmp,
                   check=True, stdout=subprocess.DEVNULL)


def fill(database_url: str, messages: int, run: str) -> None:
    """The texters' first messages through intake, then the backlog sealed
    into the inbox as the webhook route would append it."""
    from sqlalchemy import update

    from benchmarks.profile_intake import bench_settings
    from helpline.channels.whatsapp_cloud import WhatsAppCloud
    from helpline.ingest import intake
    from helpline.ingest.inbox import Inbox
    from helpline.services import build_services
    from helpline.store.models import OutboxItem

    # The same keys as environment(): bench_settings' fixed ones.
    services = build_services(bench_settings(database_url))
    channel = WhatsAppCloud(app_secret=SECRET, verify_token=None, access_token="t",  # noqa: S106
                            phone_number_id="1000000001", api_url="http://127.0.0.1:9",
                            client=None)  # type: ignore[arg-type]
    services.channels["whatsapp"] = channel
    for n in range(TEXTERS):
        intake.receive(services, "whatsapp", channel.parse(payload(n, f"w{run}")))
    with services.db.session() as session:
        session.execute(update(OutboxItem).values(state="sent"))  # type: ignore[arg-type]
    inbox = Inbox(services)
    step = 500
    for at in range(0, messages, step):
        inbox.append_many([inbox.seal("whatsapp", payload(n, run))
                           for n in range(at, min(messages, at + step))])
    inbox.dispose()
    services.db.dispose()


def stored(database_url: str) -> int:
    from sqlalchemy import func, select

    from helpline.store.db import make_engine
    from helpline.store.models import Message

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(Message).where(
                Message.direction == "in")).scalar_one())  # type: ignore[arg-type]
    finally:
        engine.dispose()


def processors(database_url: str, env: dict[str, str], count: int, tmp: str,
               log: Path) -> list[subprocess.Popen[bytes]]:
    out = open(log, "ab")  # noqa: SIM115 - lives as long as the processes
    if database_url.startswith("sqlite"):
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "helpline.cli", "serve", "--port", str(port)],
            env=env, cwd=tmp, stdout=out, stderr=subprocess.STDOUT)
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=60)
        return [proc]
    return [subprocess.Popen(["nice", "-n", "10", sys.executable, "-m", "helpline.cli", "worker"],
                             env=env, cwd=tmp, stdout=out, stderr=subprocess.STDOUT)
            for _ in range(count)]


def measure(database_url: str, messages: int, count: int, code: Path, run: str) -> float:
    with FakeGraphAPI() as graph, tempfile.TemporaryDirectory() as tmp:
        env = environment(database_url, graph, code)
        reset(database_url, env, tmp)
        # Filled by the code under test too (its intake, its tables).
        subprocess.run([sys.executable, __file__, "--fill", database_url, str(messages), run,
                        "--code", str(code)], check=True)
        base = TEXTERS
        low, high = base + messages * 5 // 100, base + messages * 95 // 100
        procs = processors(database_url, env, count, tmp, Path(tmp) / "processors.log")
        try:
            began = ended = None
            deadline = time.monotonic() + 1800
            while time.monotonic() < deadline:
                done = stored(database_url)
                now = time.monotonic()
                if began is None and done >= low:
                    began, at_begin = now, done
                if done >= high:
                    ended, at_end = now, done
                    break
                time.sleep(0.05)
            if began is None or ended is None:
                raise SystemExit("the backlog was not processed in 30 minutes")
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=30)
        return (at_end - at_begin) / (ended - began)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--postgres", default=None)
    parser.add_argument("--code", type=Path, default=ROOT)
    parser.add_argument("--sqlite", action="store_true", help="also SQLite (one processor)")
    parser.add_argument("--fill", nargs=3, metavar=("URL", "N", "RUN"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fill:
        sys.path.insert(0, str(args.code))
        fill(args.fill[0], int(args.fill[1]), args.fill[2])
        return
    rows: list[tuple[str, int, float]] = []
    if args.sqlite or not args.postgres:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/rate.db"
            rows.append(("sqlite", 1, measure(url, args.messages, 1, args.code, "s")))
            print(rows[-1], file=sys.stderr)
    if args.postgres:
        for count in args.workers:
            rows.append(("postgres", count, measure(args.postgres, args.messages, count,
                                                    args.code, f"p{count}")))
            print(rows[-1], file=sys.stderr)
    print(f"code: {args.code}  messages: {args.messages}  load: {os.getloadavg()[0]:.1f}")
    print(f"{'database':10} {'processes':>9} {'msg/s':>8}")
    for database, count, rate in rows:
        print(f"{database:10} {count:9d} {rate:8.0f}")


if __name__ == "__main__":
    main()
