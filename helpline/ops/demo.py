"""`helpline demo`: a zero-configuration local trial.

Everything lives in `./.helpline/` (directory mode 0700, files 0600): the SQLite
database, development keys (`keys.env`) and the demo accounts with their
passwords and TOTP secrets (`accounts.json`). Running the command again reuses
all of it, so the printed credentials stay the same.

Two helplines share the installation, Tilburg and Zeeland
(helpline/ops/demo_helplines.py), each with its own four accounts; every
printed account line says which helpline it works in (`helpline=SLUG`).

The keys are generated on this machine, but they sit next to the database in
plain files: whoever can read the directory can read every conversation in it.
That is fine for trying the helpline with the simulator and never fine for real
texters, hence the warning on every start; `helpline serve` refuses to run
without keys that come from the environment.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

from sqlmodel import select

from helpline.config import ConfigError, Settings

HOME_NAME = ".helpline"
KEYS_FILE = "keys.env"
ACCOUNTS_FILE = "accounts.json"
DB_FILE = "helpline.db"
DEFAULT_PORT = 8000

# helpline slug, role, username, alias, partner id. Tilburg's keep the
# usernames a one-helpline demo always had (README, earlier accounts.json).
DEMO_ACCOUNTS: tuple[tuple[str, str, str, str, str | None], ...] = (
    ("tilburg", "volunteer", "volunteer", "Tulp", None),
    ("tilburg", "partner", "ggd", "GGD-demo", "ggd"),
    ("tilburg", "coordinator", "coordinator", "Coördinator", None),
    ("tilburg", "admin", "admin", "Beheer", None),
    ("zeeland", "volunteer", "zeeland-volunteer", "Zeester", None),
    ("zeeland", "partner", "zeeland-ggd", "GGD-Zeeland", "ggd"),
    ("zeeland", "coordinator", "zeeland-coordinator", "Coördinator Zeeland", None),
    ("zeeland", "admin", "zeeland-admin", "Beheer Zeeland", None),
)

WARNING = """\
!!! ------------------------------------------------------------------ !!!
!!!  DEMO MODE. Development keys are stored in {keys}
!!!  next to the database. They are for trying the helpline only:
!!!  never use this directory for real texters. For production, see
!!!  docs/operating.md (helpline keys generate, helpline serve).
!!! ------------------------------------------------------------------ !!!"""


@dataclass(frozen=True)
class DemoAccount:
    role: str
    username: str
    password: str
    totp_secret: str
    alias: str
    partner: str | None = None
    # Accounts files written before the demo had two helplines: all Tilburg's.
    helpline: str = "tilburg"

    def line(self) -> str:
        return (
            f"role={self.role} username={self.username} password={self.password} "
            f"totp_secret={self.totp_secret} helpline={self.helpline}"
        )


def _write_private(path: Path, text: str) -> None:
    """Create (or replace) a file readable by its owner only."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def prepare_home(base: Path) -> Path:
    home = base / HOME_NAME
    home.mkdir(mode=0o700, exist_ok=True)
    os.chmod(home, 0o700)
    return home


def load_or_create_keys(home: Path) -> tuple[str, str, bool]:
    """(master key, index key, created). Refuses to make new keys for a
    database that was encrypted under keys that are now gone."""
    path = home / KEYS_FILE
    if path.exists():
        values: dict[str, str] = {}
        for raw in path.read_text(encoding="utf-8").splitlines():
            name, sep, value = raw.strip().partition("=")
            if sep and not name.startswith("#"):
                values[name.strip()] = value.strip()
        try:
            return values["HELPLINE_MASTER_KEY"], values["HELPLINE_INDEX_KEY"], False
        except KeyError:
            raise ConfigError(
                f"{path} is damaged; delete {home} to start the demo afresh."
            ) from None
    if (home / DB_FILE).exists():
        raise ConfigError(
            f"{path} is missing but {home / DB_FILE} exists; without its keys that database "
            f"cannot be read. Delete {home} to start the demo afresh."
        )
    master = base64.b64encode(secrets.token_bytes(32)).decode()
    index = base64.b64encode(secrets.token_bytes(32)).decode()
    _write_private(
        path,
        "# Development keys of `helpline demo`. For trying only: NEVER for real texters.\n"
        f"HELPLINE_MASTER_KEY={master}\nHELPLINE_INDEX_KEY={index}\n",
    )
    return master, index, True


def demo_settings(home: Path, master: str, index: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{home / DB_FILE}",
        "master_key": master,
        "index_key": index,
        "master_key_previous": None,
        "demo": True,
        "simulator": True,
        "webchat": True,
        "secure_cookies": False,
        "embedded_worker": True,
        "policy_file": None,
        # A demo talks to no real platform, whatever the environment says.
        "whatsapp_app_secret": None,
        "whatsapp_access_token": None,
        "signal_api_url": None,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def load_accounts(home: Path) -> list[DemoAccount]:
    path = home / ACCOUNTS_FILE
    if not path.exists():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    return [DemoAccount(**item) for item in data["accounts"]]


def ensure_accounts(settings: Settings, home: Path) -> list[DemoAccount]:
    """Both helplines and their demo accounts: read from accounts.json, made
    the first time (and those a file of an older demo lacks), and (re)created
    in the database whenever they are missing there."""
    from helpline.console.accounts import create_user
    from helpline.console.auth import new_totp_secret
    from helpline.ops.demo_helplines import ensure_helplines
    from helpline.services import build_services
    from helpline.store.models import User

    accounts = load_accounts(home)
    known = {a.username for a in accounts}
    missing = [
        DemoAccount(role=role, username=username, password=secrets.token_urlsafe(12),
                    totp_secret=new_totp_secret(), alias=alias, partner=partner,
                    helpline=helpline)
        for helpline, role, username, alias, partner in DEMO_ACCOUNTS
        if username not in known
    ]
    if missing:
        accounts += missing
        _write_private(
            home / ACCOUNTS_FILE,
            json.dumps({"accounts": [asdict(a) for a in accounts]}, indent=2) + "\n",
        )
    services = build_services(settings)
    try:
        helplines = ensure_helplines(services)
        with services.db.session() as session:
            existing = set(session.exec(select(User.username)).all())
        for account in accounts:
            if account.username not in existing:
                create_user(
                    services, account.username, account.role, account.password,
                    alias=account.alias, partner_id=account.partner,
                    totp_secret=account.totp_secret, helpline_id=helplines[account.helpline],
                )
    finally:
        services.db.dispose()
    return accounts


def print_banner(
    accounts: list[DemoAccount], home: Path, port: int, out: TextIO, err: TextIO
) -> None:
    import segno

    from helpline.console.auth import provisioning_uri
    from helpline.ops.demo_helplines import HELPLINES

    print(WARNING.format(keys=home / KEYS_FILE), file=err, flush=True)
    print("Demo accounts (also in .helpline/accounts.json), per helpline:", file=out)
    for helpline in HELPLINES:
        print(f"# {helpline.name} (helpline={helpline.slug}, fake WhatsApp phone number id "
              f"{helpline.whatsapp_phone_number_id}, Signal {helpline.signal_number})", file=out)
        for account in accounts:
            if account.helpline == helpline.slug:
                print(account.line(), file=out)
    volunteer = next(a for a in accounts if a.role == "volunteer")
    print("\nScan this with an authenticator app for the volunteer's sign-in code", file=out)
    print(f"(or run `helpline demo --code {volunteer.role}` for the current code):", file=out)
    segno.make(provisioning_uri(volunteer.totp_secret, volunteer.username)).terminal(
        out=out, compact=True
    )
    print(f"\nConsole:   http://127.0.0.1:{port}/console", file=out)
    print(f"Simulator: http://127.0.0.1:{port}/simulator  (type as a texter; choose "
          "Tilburg or Zeeland under 'Write to')", file=out)
    print(f"Web chat:  http://127.0.0.1:{port}/chat  (Tilburg's web chat page; Zeeland's: "
          f"http://127.0.0.1:{port}/chat/zeeland)", file=out)
    print("Stop with Ctrl+C. Run `helpline demo` again to continue where you left off.\n",
          file=out, flush=True)


def current_code(base: Path, role: str) -> str:
    import pyotp

    for account in load_accounts(base / HOME_NAME):
        if account.role == role or account.username == role:
            return str(pyotp.TOTP(account.totp_secret).now())
    raise ConfigError(f"no demo account {role!r} here; run `helpline demo` first.")


def _private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def run(port: int = DEFAULT_PORT, *, base: Path | None = None) -> int:
    from helpline.main import run_server
    from helpline.store.db import make_engine
    from helpline.store.migrate import upgrade

    # Database, WAL and journal files readable by their owner only.
    os.umask(0o077)
    base = base or Path.cwd()
    home = prepare_home(base)
    master, index, _ = load_or_create_keys(home)
    settings = demo_settings(home, master, index)
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    accounts = ensure_accounts(settings, home)
    for name in (KEYS_FILE, ACCOUNTS_FILE):
        if not _private(home / name):
            os.chmod(home / name, 0o600)
    print_banner(accounts, home, port, sys.stdout, sys.stderr)
    return run_server(settings, "127.0.0.1", port)
