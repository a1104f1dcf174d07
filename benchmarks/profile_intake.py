"""Where intake's CPU goes: `intake.receive` in a loop, in-process, no HTTP.

Parses the same signed WhatsApp text payloads as benchmarks/ingest.py (500
texters, so the first 500 messages create texters and send welcomes) and calls
`intake.receive` directly, so the number is intake's own CPU per message.
`--batch N` stores N deliveries per transaction, as group commit does under load.

    python benchmarks/profile_intake.py [--messages 3000] [--batch N] [--postgres URL] [--profile]
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import hashlib
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.loadgen import SECRET, payload  # noqa: E402
from helpline.channels.whatsapp_cloud import WhatsAppCloud  # noqa: E402
from helpline.config import Settings  # noqa: E402
from helpline.ingest import intake  # noqa: E402
from helpline.services import build_services  # noqa: E402
from helpline.store.db import make_engine  # noqa: E402
from helpline.store.migrate import upgrade  # noqa: E402

WARM = 600  # every texter of the 500 exists after this: the steady state


def key(seed: str) -> str:
    return base64.b64encode(hashlib.sha256(seed.encode()).digest()).decode()


def bench_settings(url: str, **overrides: object) -> Settings:
    """Settings for an in-process benchmark: fixed keys, WhatsApp configured."""
    return Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=url, master_key=key("m"), index_key=key("i"),
        whatsapp_app_secret=SECRET, whatsapp_phone_number_id="1000000001",
        whatsapp_access_token="t", log_level="WARNING",  # noqa: S106 - a benchmark
        **overrides,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--postgres", default=None, help="SQLAlchemy URL of an EMPTY database")
    parser.add_argument("--profile", action="store_true", help="print the top of cProfile")
    parser.add_argument("--batch", type=int, default=1,
                        help="deliveries per transaction (group commit), as under load")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.postgres or f"sqlite:///{tmp}/profile.db"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        services = build_services(bench_settings(url))
        channel = WhatsAppCloud(app_secret=SECRET, verify_token=None, access_token="t",  # noqa: S106
                                phone_number_id="1000000001", api_url="http://127.0.0.1:9",
                                client=None)  # type: ignore[arg-type]
        batches = [channel.parse(payload(n, "p")) for n in range(args.messages)]
        cpu = time.process_time()
        for events in batches[:WARM]:
            intake.receive(services, "whatsapp", events)
        cpu = time.process_time() - cpu
        print(f"first {WARM} messages (500 new texters, welcome, statistics): "
              f"{cpu / WARM * 1000:.2f} ms CPU per message")
        profiler = cProfile.Profile()
        wall, cpu = time.perf_counter(), time.process_time()
        if args.profile:
            profiler.enable()
        steady = [("whatsapp", events) for events in batches[WARM:]]
        for at in range(0, len(steady), args.batch):
            intake.receive_many(services, steady[at:at + args.batch])
        profiler.disable()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        n = len(batches) - WARM
        print(f"{n} messages: {n / wall:.0f} msg/s, {cpu / n * 1000:.2f} ms CPU per message")
        if args.profile:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
        services.db.dispose()


if __name__ == "__main__":
    main()
