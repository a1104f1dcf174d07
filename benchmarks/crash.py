"""Crash consistency, long form: the tests/stress harness with the issue's sizes.

`helpline serve` is killed with SIGKILL after 0.5 to 3 s of readiness and
restarted on the same database while (inbound) signed WhatsApp deliveries are
retried until answered 200, or (outbound) replies are committed for the worker
to send to a fake Graph API. Prints one JSON line per run and a Markdown row.

    python benchmarks/crash.py [--deliveries 2000] [--replies 1000] [--kills 40]
                               [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test]

Without --postgres it runs on SQLite; with it, on PostgreSQL in a fresh schema
that is dropped afterwards.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.stress.harness import run_inbound, run_outbound  # noqa: E402


def fresh_schema(url: str) -> tuple[str, str]:
    schema = f"crash_{secrets.token_hex(5)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    sep = "&" if "?" in url else "?"
    return schema, f"{url}{sep}options=-csearch_path%3D{schema}"


def drop_schema(url: str, schema: str) -> None:
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--replies", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=40)
    parser.add_argument("--postgres", metavar="URL")
    parser.add_argument("--only", choices=["inbound", "outbound"])
    args = parser.parse_args()

    targets = [("postgresql", args.postgres)] if args.postgres else [("sqlite", None)]
    rows = []
    for name, pg in targets:
        for kind in ("inbound", "outbound"):
            if args.only and kind != args.only:
                continue
            with tempfile.TemporaryDirectory() as tmp:
                work = Path(tmp)
                schema = None
                if pg:
                    schema, url = fresh_schema(pg)
                else:
                    url = f"sqlite:///{work / 'crash.db'}"
                try:
                    if kind == "inbound":
                        result = run_inbound(url, work, deliveries=args.deliveries,
                                             kills=args.kills)
                        ok = (result.missing == 0 and result.stored_twice_or_more == 0
                              and result.server_500s == 0)
                        rows.append(
                            f"| inbound | {name} | {result.deliveries} | {result.kills} | "
                            f"{result.attempts} | {result.stored_exactly_once} | "
                            f"{result.missing} | {result.stored_twice_or_more} | "
                            f"{result.seconds} | {'pass' if ok else 'FAIL'} |")
                    else:
                        out = run_outbound(url, work, replies=args.replies, kills=args.kills)
                        ok = out.lost == 0 and out.rows_not_sent == 0 and out.server_500s == 0
                        rows.append(
                            f"| outbound | {name} | {out.replies} | {out.kills} | "
                            f"{out.received_by_fake} | {out.replies - out.lost} | {out.lost} | "
                            f"{out.duplicates} dup. sends | {out.seconds} | "
                            f"{'pass' if ok else 'FAIL'} |")
                        result = out  # type: ignore[assignment]
                    print(f"crash.{kind} {result.as_json()}", flush=True)
                finally:
                    if pg and schema:
                        drop_schema(pg, schema)
    print("\n| run | database | items | kills | requests | stored/sent once | lost "
          "| duplicates | seconds | result |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
