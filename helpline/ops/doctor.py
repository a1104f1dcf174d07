"""`helpline doctor`: check a configuration end to end and say what to fix.

Each check prints one line, `ok`, `warn` or `FAIL`, with plain instructions.
The exit code is 1 when anything failed. Nothing secret is ever printed: keys,
tokens and the Signal number are only compared, never echoed, database URLs are
shown with the password masked, and errors from other systems are reduced to a
status code or an exception type (their messages may quote what we sent).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TextIO

import httpx
from pydantic import ValidationError

from helpline.config import ConfigError, Settings
from helpline.ops.doctor_media import check_media_dir

Level = Literal["ok", "warn", "FAIL"]
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


@dataclass
class Report:
    """The installation's lines, then one section of lines per helpline."""

    lines: list[tuple[Level, str, str]] = field(default_factory=list)
    sections: list[tuple[str, list[tuple[Level, str, str]]]] = field(default_factory=list)
    # The numbers signal-cli-rest-api holds (None: not asked or no answer).
    signal_registered: set[str] | None = None

    def add(self, level: Level, topic: str, text: str) -> None:
        self.lines.append((level, topic, text))

    def section(self, title: str) -> Callable[[Level, str, str], None]:
        lines: list[tuple[Level, str, str]] = []
        self.sections.append((title, lines))

        def add(level: Level, topic: str, text: str) -> None:
            lines.append((level, topic, text))

        return add

    def _all(self) -> list[tuple[Level, str, str]]:
        return self.lines + [line for _, lines in self.sections for line in lines]

    @property
    def failed(self) -> bool:
        return any(level == "FAIL" for level, _, _ in self._all())

    def print(self, out: TextIO) -> None:
        for level, topic, text in self.lines:
            print(f"{level:<4} {topic}: {text}", file=out)
        for title, lines in self.sections:
            print(f"\n[{title}]", file=out)
            for level, topic, text in lines:
                print(f"{level:<4} {topic}: {text}", file=out)
        problems = sum(1 for level, _, _ in self._all() if level == "FAIL")
        warnings = sum(1 for level, _, _ in self._all() if level == "warn")
        if problems:
            print(f"\n{problems} problem(s) to fix, {warnings} warning(s).", file=out)
        else:
            print(f"\nAll checks passed ({warnings} warning(s)).", file=out)


def check_keys(settings: Settings, report: Report) -> None:
    ok = True
    for name, read in (
        ("HELPLINE_MASTER_KEY", settings.master_key_bytes),
        ("HELPLINE_INDEX_KEY", settings.index_key_bytes),
        ("HELPLINE_MASTER_KEY_PREVIOUS", settings.previous_master_key_bytes),
    ):
        try:
            read()
        except ConfigError as exc:
            report.add("FAIL", "keys", str(exc))
            ok = False
        else:
            if name == "HELPLINE_MASTER_KEY_PREVIOUS" and settings.master_key_previous:
                report.add("warn", "keys", "HELPLINE_MASTER_KEY_PREVIOUS is set: finish the "
                           "rotation with `helpline keys rotate`, then remove it.")
    if ok:
        if settings.master_key_bytes() == settings.index_key_bytes():
            report.add("FAIL", "keys", "HELPLINE_MASTER_KEY and HELPLINE_INDEX_KEY are the same; "
                       "run `helpline keys generate` and use two different keys.")
        else:
            report.add("ok", "keys", "master and index keys present, 32 random bytes, "
                       "not example values")


def check_database(settings: Settings, report: Report) -> None:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from helpline.store.db import make_engine
    from helpline.store.migrate import is_current

    try:
        shown = make_url(settings.database_url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a bad URL is reported below
        report.add("FAIL", "database", "HELPLINE_DATABASE_URL is not a valid URL; use "
                   "sqlite:///path/helpline.db or postgresql+psycopg://user:pass@host/db.")
        return
    missing = _missing_sqlite_file(settings.database_url)
    if missing is not None:
        # Connecting would create an empty file: a check must not create what it checks.
        report.add("FAIL", "database", f"{shown}: the file {missing} does not exist yet; "
                   "run `helpline migrate` (or start `helpline serve`) to create it, or "
                   "point HELPLINE_DATABASE_URL at the existing database.")
        return
    try:
        engine = make_engine(settings.database_url)
    except Exception as exc:  # noqa: BLE001
        report.add("FAIL", "database", f"cannot use {shown} ({type(exc).__name__}); check "
                   "HELPLINE_DATABASE_URL.")
        return
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current = is_current(engine)
    except Exception as exc:  # noqa: BLE001
        report.add("FAIL", "database", f"cannot reach {shown} ({type(exc).__name__}); check "
                   "that the database runs, the host, user and password in "
                   "HELPLINE_DATABASE_URL, and the network between them.")
        return
    finally:
        engine.dispose()
    if not current:
        report.add("FAIL", "database", f"{shown} is reachable but migrations are pending; "
                   "run `helpline migrate` (serve and worker also migrate at start).")
    else:
        report.add("ok", "database", f"{shown} reachable, migrations current")


def _missing_sqlite_file(database_url: str) -> Path | None:
    """The SQLite file a URL names, if it does not exist (None for
    PostgreSQL, in-memory databases and existing files)."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    path = Path(str(url.database))
    return None if path.exists() else path


def check_policy(settings: Settings, report: Report) -> None:
    from helpline.services import load_policy

    where = str(settings.policy_file) if settings.policy_file else "built-in defaults"
    try:
        policy = load_policy(settings)
    except FileNotFoundError:
        report.add("FAIL", "policy", f"HELPLINE_POLICY_FILE {where} does not exist; copy "
                   "deploy/policy.example.toml there or unset the variable.")
        return
    except Exception as exc:  # noqa: BLE001 - the policy parser explains itself
        report.add("FAIL", "policy", f"{where} is not valid: {exc}")
        return
    report.add("ok", "policy", f"{where} valid ({len(policy.languages)} languages)")
    from helpline.ops.doctor_helplines import review_warning

    if warning := review_warning(policy, f" of {where}"):
        report.add("warn", "policy", warning)


def check_whatsapp(settings: Settings, report: Report, client: httpx.Client) -> None:
    if not settings.whatsapp_enabled:
        report.add("ok", "whatsapp", "off (HELPLINE_WHATSAPP_APP_SECRET not set)")
        return
    missing = [
        name
        for name, value in (
            ("HELPLINE_WHATSAPP_VERIFY_TOKEN", settings.whatsapp_verify_token),
            ("HELPLINE_WHATSAPP_ACCESS_TOKEN", settings.whatsapp_access_token),
            ("HELPLINE_WHATSAPP_PHONE_NUMBER_ID", settings.whatsapp_phone_number_id),
        )
        if not value
    ]
    if missing:
        report.add("FAIL", "whatsapp", "WhatsApp is on but " + ", ".join(missing) +
                   " not set; see docs/operating.md, 'WhatsApp'.")
        return
    if not settings.whatsapp_template:
        report.add("warn", "whatsapp", "HELPLINE_WHATSAPP_TEMPLATE is not set: replies after "
                   "24 h of silence wait until the texter writes again, with no neutral "
                   "template asking them to.")
    token = settings.whatsapp_access_token
    if token is None:  # checked above; keeps the type checker informed
        return
    # A harmless read of our own phone number object:
    # https://developers.facebook.com/docs/graph-api/reference/whats-app-business-account-to-number-current-status/
    url = f"{settings.whatsapp_api_url}/{settings.whatsapp_phone_number_id}"
    try:
        response = client.get(
            url, headers={"Authorization": f"Bearer {token.get_secret_value()}"}
        )
    except httpx.HTTPError as exc:
        report.add("FAIL", "whatsapp", f"cannot reach {settings.whatsapp_api_url} "
                   f"({type(exc).__name__}); check outgoing HTTPS from this machine.")
        return
    if response.status_code == 200:
        report.add("ok", "whatsapp", "access token accepted for the configured phone number id")
    elif response.status_code in (401, 403):
        report.add("FAIL", "whatsapp", f"access token refused (HTTP {response.status_code}); "
                   "make a new permanent System User token with whatsapp_business_messaging "
                   "and put it in HELPLINE_WHATSAPP_ACCESS_TOKEN.")
    elif response.status_code in (400, 404):
        report.add("FAIL", "whatsapp", f"phone number id not found for this token (HTTP "
                   f"{response.status_code}); copy the id from WhatsApp Manager > Phone "
                   "numbers into HELPLINE_WHATSAPP_PHONE_NUMBER_ID.")
    else:
        report.add("FAIL", "whatsapp", f"unexpected answer HTTP {response.status_code} from "
                   "the Graph API; try again later.")


def check_signal(settings: Settings, report: Report, client: httpx.Client) -> None:
    if not settings.signal_enabled:
        report.add("ok", "signal", "off (HELPLINE_SIGNAL_API_URL not set)")
        return
    api = settings.signal_api_url
    if not settings.signal_number:
        report.add("FAIL", "signal", "HELPLINE_SIGNAL_API_URL is set but HELPLINE_SIGNAL_NUMBER "
                   "is not.")
        return
    if settings.signal_receive == "webhook" and not settings.signal_webhook_token:
        report.add("FAIL", "signal", "receiving by webhook needs HELPLINE_SIGNAL_WEBHOOK_TOKEN "
                   "(a long random string, also in RECEIVE_WEBHOOK_URL as ?token=).")
    # https://bbernhard.github.io/signal-cli-rest-api/#/General/get_v1_about
    try:
        about = client.get(f"{api}/v1/about")
    except httpx.HTTPError as exc:
        report.add("FAIL", "signal", f"signal-cli-rest-api at {api} unreachable "
                   f"({type(exc).__name__}); is the container running and the URL right?")
        return
    if about.status_code != 200:
        report.add("FAIL", "signal", f"{api}/v1/about answered HTTP {about.status_code}; "
                   "is HELPLINE_SIGNAL_API_URL the signal-cli-rest-api base URL?")
        return
    mode = ""
    with contextlib.suppress(ValueError):
        mode = str(about.json().get("mode", ""))
    if settings.signal_receive == "webhook" and mode and mode != "json-rpc":
        report.add("FAIL", "signal", f"the API runs in {mode} mode, which cannot push to a "
                   "webhook: set MODE=json-rpc on the container, or HELPLINE_SIGNAL_RECEIVE=poll.")
    elif settings.signal_receive == "poll" and mode == "json-rpc":
        report.add("FAIL", "signal", "the API runs in json-rpc mode, where polling does not "
                   "work: set HELPLINE_SIGNAL_RECEIVE=webhook (and RECEIVE_WEBHOOK_URL).")
    else:
        suffix = f" ({mode} mode)" if mode else ""
        report.add("ok", "signal", f"signal-cli-rest-api reachable{suffix}")
    # https://bbernhard.github.io/signal-cli-rest-api/#/Accounts/get_v1_accounts
    try:
        accounts = client.get(f"{api}/v1/accounts")
        numbers = accounts.json() if accounts.status_code == 200 else None
    except (httpx.HTTPError, ValueError) as exc:
        report.add("FAIL", "signal", f"could not list registered numbers ({type(exc).__name__}).")
        return
    if not isinstance(numbers, list):
        report.add("FAIL", "signal", f"could not list registered numbers (HTTP "
                   f"{accounts.status_code}).")
        return
    report.signal_registered = {str(n) for n in numbers}
    if settings.signal_number.get_secret_value() in numbers:
        report.add("ok", "signal", "HELPLINE_SIGNAL_NUMBER is registered with the API")
    else:
        report.add("FAIL", "signal", "HELPLINE_SIGNAL_NUMBER is not registered with "
                   "signal-cli-rest-api; register or link it (docs/operating.md, 'Signal').")


def check_exposure(settings: Settings, report: Report) -> None:
    if settings.simulator or settings.demo:
        report.add("warn", "simulator", "HELPLINE_SIMULATOR is on: anyone who can reach "
                   "/simulator can open conversations. Turn it off for a real helpline.")
    if settings.webchat:
        pow_text = (f"proof of work {settings.webchat_pow_bits} bits" if settings.webchat_pow_bits
                    else "no proof of work (HELPLINE_WEBCHAT_POW_BITS=16 slows scripted floods)")
        report.add("ok", "web chat", f"on at /chat, {pow_text}; its cookie is Secure, so "
                   "the page works over https only.")
    if settings.public_url and not settings.public_url.startswith("https://"):
        report.add("warn", "public url", "HELPLINE_PUBLIC_URL is not https; the console must "
                   "only be reached over TLS (see deploy/Caddyfile).")
    if not settings.public_url:
        report.add("warn", "public url", "HELPLINE_PUBLIC_URL is not set; set it to the "
                   "console's https origin so the Origin check cannot be fooled by a proxy.")


def _private_files(settings: Settings) -> list[Path]:
    from sqlalchemy.engine import make_url

    from helpline.lifecycle.keystore import key_store_path

    files: list[Path] = []
    try:
        url = make_url(settings.database_url)
    except Exception:  # noqa: BLE001 - check_database reports a bad URL
        return files
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        for base in (str(url.database), f"{url.database}-inbox"):
            files += [Path(base + suffix) for suffix in ("", "-wal", "-shm")]
    files.append(key_store_path(settings))
    return files


def check_file_modes(settings: Settings, report: Report) -> None:
    """Database, inbox and key store files hold sealed data and key shares:
    the owner alone should read them (0600)."""
    wide = []
    seen = 0
    for path in _private_files(settings):
        try:
            mode = path.stat().st_mode & 0o777
        except OSError:
            continue
        seen += 1
        if mode & 0o077:
            wide.append(f"{path} ({mode:o})")
    if wide:
        report.add("warn", "file modes", "readable by other accounts: " + ", ".join(wide)
                   + "; run `chmod 600` on them (new files are created 0600).")
    elif seen == 0:
        report.add("ok", "file modes", "no database, inbox or key store file here yet "
                   "(they are created 0600)")
    else:
        report.add("ok", "file modes", f"{seen} database, inbox and key store file(s) are 0600")


def check_inbox(settings: Settings, report: Report) -> None:
    """The backlog of acknowledged but unprocessed deliveries, read without
    creating or migrating anything (doctor creates nothing)."""
    import sqlite3

    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from helpline.ingest import inbox_schema
    from helpline.ingest.inbox import inbox_url
    from helpline.store.db import make_engine, utcnow

    try:
        url = inbox_url(settings.database_url)
    except Exception:  # noqa: BLE001 - the database check reports a bad URL
        return
    if url is None:
        engine = make_engine(settings.database_url)
    else:
        path = make_url(url).database
        if not path or path == ":memory:" or not Path(path).exists():
            report.add("ok", "inbox", "no inbox file yet (created at the first start)")
            return
        engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(
            f"file:{path}?mode=ro", uri=True))
    try:
        with engine.connect() as conn:
            if url is not None and inbox_schema.version(conn) != inbox_schema.CURRENT:
                found = inbox_schema.version(conn)
                if found > inbox_schema.CURRENT:
                    report.add("FAIL", "inbox", f"the inbox file has schema version {found}, "
                               "newer than this helpline; run the newer version.")
                    return
                report.add("warn", "inbox", f"the inbox file has schema version {found}; "
                           "serve, worker or migrate bring it up to date at start.")
                return
            backlog = inbox_schema.backlog(conn, utcnow())
    except Exception as exc:  # noqa: BLE001
        report.add("FAIL", "inbox", f"cannot read the inbox ({type(exc).__name__}); run "
                   "`helpline migrate`, and check the file's owner and mode.")
        return
    finally:
        engine.dispose()
    text = f"{backlog.count} deliveries waiting"
    if backlog.oldest_seconds is not None:
        text += f", the oldest for {backlog.oldest_seconds:.0f} s"
    if backlog.stalled(settings.inbox_max_age_seconds):
        report.add("FAIL", "inbox", f"{text}: older than HELPLINE_INBOX_MAX_AGE_SECONDS "
                   f"({settings.inbox_max_age_seconds:g} s). Is the processor running "
                   "(serve, or `helpline worker` on PostgreSQL)? See its log for inbox.error.")
    else:
        report.add("ok", "inbox", text)


def run_checks(settings: Settings, client: httpx.Client | None = None) -> Report:
    report = Report()
    check_keys(settings, report)
    check_database(settings, report)
    database_ok = report.lines[-1][:2] == ("ok", "database")
    if database_ok:
        check_inbox(settings, report)
    check_file_modes(settings, report)
    database_ok = ("ok", "database") in {line[:2] for line in report.lines}
    check_media_dir(settings, report, database_ok=database_ok)
    check_policy(settings, report)
    own = client is None
    http = client or httpx.Client(timeout=TIMEOUT)
    try:
        check_whatsapp(settings, report, http)
        check_signal(settings, report, http)
        check_exposure(settings, report)
        if database_ok:
            check_helplines(settings, report, http)
        else:
            report.add("warn", "helplines", "not checked: the database is not usable (above).")
    finally:
        if own:
            http.close()
    return report


def check_helplines(settings: Settings, report: Report, client: httpx.Client) -> None:
    from helpline.ops.doctor_helplines import check_every_helpline

    try:
        check_every_helpline(settings, report.section, client, report.signal_registered)
    except Exception as exc:  # noqa: BLE001 - one unreadable table must not hide the rest
        report.add("FAIL", "helplines", f"cannot read the helplines ({type(exc).__name__}); "
                   "run `helpline migrate`.")


def main(
    load: Callable[[], Settings] | Settings | None = None, out: TextIO | None = None
) -> int:
    out = out or sys.stdout
    try:
        settings = load if isinstance(load, Settings) else (load or Settings)()
    except ValidationError as exc:
        # Names and reasons only: pydantic would otherwise quote the value.
        for error in exc.errors():
            name = "HELPLINE_" + "_".join(str(p) for p in error["loc"]).upper()
            print(f"FAIL config: {name}: {error['msg']}", file=out)
        return 1
    report = run_checks(settings)
    report.print(out)
    return 1 if report.failed else 0
