"""The `helpline` command. Thin: parses arguments, calls services."""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import signal
import sys
from collections.abc import Callable

from helpline.config import ConfigError, Settings

Handler = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, Handler] = {}


def command(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        COMMANDS[name] = fn
        return fn

    return register


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]


def fail(message: str) -> int:
    print(f"helpline: {message}", file=sys.stderr)
    return 2


@command("migrate")
def cmd_migrate(args: argparse.Namespace) -> int:
    from helpline.ingest import inbox_schema
    from helpline.ingest.inbox import inbox_url
    from helpline.store.db import make_engine
    from helpline.store.migrate import upgrade

    settings = load_settings()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    url = inbox_url(settings.database_url)
    if url is not None:
        # SQLite: the inbox file has versioned steps of its own.
        engine = make_engine(url)
        try:
            inbox_schema.migrate(engine)
        finally:
            engine.dispose()
    print("migrations applied")
    return 0


@command("keys generate")
def cmd_keys_generate(args: argparse.Namespace) -> int:
    print(f"HELPLINE_MASTER_KEY={base64.b64encode(os.urandom(32)).decode()}")
    print(f"HELPLINE_INDEX_KEY={base64.b64encode(os.urandom(32)).decode()}")
    return 0


@command("serve")
def cmd_serve(args: argparse.Namespace) -> int:
    settings = load_settings()
    settings.check_production()
    from helpline.main import run_server

    return run_server(settings, args.host, args.port)


@command("worker")
def cmd_worker(args: argparse.Namespace) -> int:
    import httpx

    from helpline import logs
    from helpline.ingest import inbox
    from helpline.live import postgres as live_pg
    from helpline.main import build_channels
    from helpline.outbound import outbox
    from helpline.services import build_services

    settings = load_settings()
    settings.check_production()
    logs.configure(settings.log_level)
    services = build_services(settings)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        services.bus.bind(loop)
        tasks: list[asyncio.Task[None]] = []
        async with httpx.AsyncClient(timeout=httpx.Timeout(15.0, connect=5.0)) as client:
            build_channels(services, client)
            processor = None
            if not services.db.is_sqlite:
                # PostgreSQL: workers process the inbox too (the app processes
                # do when HELPLINE_EMBEDDED_WORKER is on); consoles hear of
                # what they store through NOTIFY.
                await live_pg.start(services, stop, tasks)
                processor = inbox.Inbox(services)
                tasks.append(asyncio.create_task(inbox.run_processor(processor, stop)))
            await outbox.run_worker(services, stop)
            for task in tasks:
                await task
            if processor is not None:
                processor.dispose()

    asyncio.run(run())
    return 0


@command("purge")
def cmd_purge(args: argparse.Namespace) -> int:
    from helpline.helplines import UnknownHelpline
    from helpline.lifecycle.progress import Progress
    from helpline.lifecycle.purge import purge
    from helpline.services import build_services

    services = build_services(load_settings())
    try:
        result = purge(services, helpline=args.helpline, progress=Progress("texters erased"))
    except UnknownHelpline:
        return fail(f"no helpline with the slug {args.helpline!r} (`helpline helpline list`)")
    finally:
        services.db.dispose()
    for line in result.lines():
        print(line)
    return 0


@command("keys rotate")
def cmd_keys_rotate(args: argparse.Namespace) -> int:
    from helpline.lifecycle.progress import Progress
    from helpline.lifecycle.rotation import count_pending, rotate
    from helpline.services import build_services

    services = build_services(load_settings())
    try:
        pending, _ = count_pending(services)
        print(f"data keys to re-wrap: {pending}", flush=True)
        result = rotate(services, batch=args.batch,
                        progress=Progress("data keys re-wrapped", pending))
    finally:
        services.db.dispose()
    print(f"data keys re-wrapped: {result.rewrapped}")
    print(f"data keys under the current master key: {result.current}")
    if result.unreadable:
        return fail(
            f"{result.unreadable} data keys are wrapped under a master key that is not "
            "configured: set HELPLINE_MASTER_KEY_PREVIOUS to that key and run again"
        )
    return 0


@command("backup")
def cmd_backup(args: argparse.Namespace) -> int:
    if args.helpline is not None:
        from helpline.lifecycle.backup_helpline_cli import cli_backup_helpline

        return cli_backup_helpline(args.file, args.helpline, load_settings())
    from helpline.lifecycle.backup import cli_backup

    return cli_backup(args.file, load_settings())


@command("restore")
def cmd_restore(args: argparse.Namespace) -> int:
    from pathlib import Path

    from helpline.lifecycle.backup_helpline import is_helpline_backup

    if is_helpline_backup(Path(args.file)):
        from helpline.lifecycle.backup_helpline_cli import cli_restore_helpline

        return cli_restore_helpline(args.file, load_settings())
    from helpline.lifecycle.backup import cli_restore

    return cli_restore(args.file, load_settings())


@command("demo")
def cmd_demo(args: argparse.Namespace) -> int:
    from helpline.ops import demo

    if args.code:
        from pathlib import Path

        print(demo.current_code(Path.cwd(), args.code))
        return 0
    return demo.run(args.port)


@command("doctor")
def cmd_doctor(args: argparse.Namespace) -> int:
    from helpline.ops import doctor

    return doctor.main(load_settings)


@command("user add")
def cmd_user_add(args: argparse.Namespace) -> int:
    from helpline.console.user_cli import user_add

    return user_add(args, load_settings())


@command("helpline add")
def cmd_helpline_add(args: argparse.Namespace) -> int:
    from helpline.ops.helpline_cli import helpline_add

    return helpline_add(args, load_settings())


@command("helpline list")
def cmd_helpline_list(args: argparse.Namespace) -> int:
    from helpline.ops.helpline_cli import helpline_list

    return helpline_list(args, load_settings())


@command("user grant")
def cmd_user_grant(args: argparse.Namespace) -> int:
    from helpline.ops.helpline_cli import user_grant

    return user_grant(args, load_settings())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="helpline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="production server (web + worker)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    sub.add_parser("worker", help="outbox and retention worker alone")
    sub.add_parser("migrate", help="apply database migrations")
    purge = sub.add_parser(
        "purge", help="run retention now, every helpline under its own policy; prints counts only"
    )
    purge.add_argument("--helpline", metavar="SLUG", help="only this helpline's texters")
    demo = sub.add_parser("demo", help="local trial: SQLite, dev keys and accounts in ./.helpline/")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--code", metavar="ROLE",
                      help="print the current TOTP code of a demo account")
    sub.add_parser("doctor", help="check configuration and connectivity")
    keys = sub.add_parser("keys", help="key management")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    keys_sub.add_parser("generate", help="print fresh keys for .env")
    rotate = keys_sub.add_parser(
        "rotate", help="re-wrap every data key under HELPLINE_MASTER_KEY; resumable, safe to kill"
    )
    rotate.add_argument("--batch", type=int, default=200, help="data keys per transaction")
    backup = sub.add_parser("backup", help="consistent snapshot; unreadable without the keys")
    backup.add_argument("file")
    backup.add_argument("--helpline", metavar="SLUG",
                        help="only this helpline's rows, media and keys")
    restore = sub.add_parser(
        "restore", help="load a backup into an empty instance (one helpline's: into an "
        "installation that does not hold it)")
    restore.add_argument("file")
    from helpline.console.user_cli import add_parser as add_user_parser

    add_user_parser(sub)
    from helpline.ops.helpline_cli import add_parser as add_helpline_parser

    add_helpline_parser(sub)
    for extend in EXTENSIONS:
        extend(sub)
    return parser


# Other modules add subcommands here (user, demo, doctor, backup, ...).
EXTENSIONS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = []


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    name = args.command
    sub = getattr(args, f"{name}_command", None)
    handler = COMMANDS.get(f"{name} {sub}" if sub else name)
    if handler is None:
        parser.print_help()
        return 2
    try:
        code = handler(args)
        # Flush here, inside the try: a reader that went away (`| head`)
        # must end the command quietly, not in a traceback at exit.
        sys.stdout.flush()
    except BrokenPipeError:
        return _reader_gone()
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - explained below, or raised again
        message = explain(exc)
        if message is None:
            raise
        return fail(message)
    return code


def _reader_gone() -> int:
    # Point stdout at /dev/null so the interpreter's own flush at exit does
    # not raise again (https://docs.python.org/3/library/signal.html#note-on-sigpipe).
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 128 + signal.SIGPIPE


DATABASE_HINT = ("check HELPLINE_DATABASE_URL and that the database runs, then "
                 "`helpline migrate`; `helpline doctor` says what is wrong")


def explain(exc: Exception) -> str | None:
    """One line, with what to do, for what a user can cause: configuration,
    a database that is down or not migrated, a path that does not exist.
    None for anything else (a bug, which should show its traceback). Only
    exception types and file names are shown: a driver's message may quote
    the URL it was given, password included."""
    from sqlalchemy import exc as sa_exc

    from helpline.errors import HelplineError, ServiceUnavailable

    if isinstance(exc, ConfigError):
        return str(exc)
    if isinstance(exc, ServiceUnavailable):
        return f"the database is unavailable or not migrated: {DATABASE_HINT}"
    if isinstance(exc, HelplineError):
        return str(exc)
    if isinstance(exc, sa_exc.ArgumentError):
        return ("HELPLINE_DATABASE_URL is not a database URL; use sqlite:///path/helpline.db "
                "or postgresql+psycopg://user:password@host/db")
    if isinstance(exc, sa_exc.DBAPIError | sa_exc.OperationalError):
        return f"cannot use the database ({type(exc.orig or exc).__name__}): {DATABASE_HINT}"
    if isinstance(exc, OSError) and exc.filename:
        reason = exc.strerror or type(exc).__name__
        return f"{reason}: {exc.filename}; check that the path exists and may be written"
    return None


if __name__ == "__main__":
    sys.exit(main())
