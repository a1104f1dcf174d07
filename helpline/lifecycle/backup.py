"""Backup and restore, and what erasure means for a backup taken earlier.

A backup is a tar file (mode 0600) with three members:

* `database.sqlite` (SQLite online backup API) or `database.pgdump`
  (`pg_dump --format=custom` inside an exported snapshot) holding every table,
  EXCEPT the wrapped data keys: in the SQLite copy they are blanked and the
  file vacuumed, from the dump their table data is left out;
* `keys.json`: every wrapped data key, sealed once more (AES-256-GCM) under a
  per-key random *share* that lives only in the key store;
* `manifest.json`: format, backend, counts. Nothing else.

The key store (`HELPLINE_KEY_STORE`, default `./helpline.keystore`, next to
`.env`) is a small file kept apart from the database and from its backups. It
holds one 32-byte share per data key. Erasure and retention write a tombstone
(`erased_keys`); `apply_tombstones` (worker, `purge`, `backup`) then deletes
that key's share from the key store. From then on NO backup, old or new, can
open that texter's data key, even with the master key: the share is gone,
while every other texter still restores. Threat answered: a backup taken on
Monday must not bring back on Friday a texter who asked on Wednesday to be
forgotten, neither through an honest restore nor for whoever holds the backup
file and the keys in use on Friday.

Limits (docs/privacy.md): a copy of the key store taken before the erasure,
together with an old backup and the master key, still opens the key: the key
store must be kept as ONE current copy (mirrored by overwriting, never
versioned); and until the tombstone is applied (seconds with the worker
running next to the key store) the share still exists.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, inspect, select, text, update
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, col

from helpline import logs
from helpline.config import Settings
from helpline.crypto import CryptoError, KeyRing
from helpline.lifecycle import backup_inbox, backup_media
from helpline.lifecycle.deletion import delete_texters
from helpline.lifecycle.keystore import (
    BackupError,
    KeyStore,
    _apply_locked,
    key_store_path,
    locked_store,
)
from helpline.lifecycle.progress import Progress
from helpline.services import Services
from helpline.store.models import DataKey, ErasedKey, OutboxItem, Texter

FORMAT = "helpline-backup"
INBOX_MEMBER = backup_inbox.MEMBER
VERSION = 1
_NONCE = 12


def _aad(key_id: str) -> bytes:
    return b"helpline backup share\x00" + key_id.encode()


def seal_key(share: bytes, key_id: str, wrapped: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(share).encrypt(nonce, wrapped, _aad(key_id))


def open_key(share: bytes, key_id: str, sealed: bytes) -> bytes:
    try:
        return AESGCM(share).decrypt(sealed[:_NONCE], sealed[_NONCE:], _aad(key_id))
    except InvalidTag:
        raise BackupError("a key in the backup does not open with the key store") from None


# ---------------------------------------------------------------------------
# Backup.


@dataclass
class BackupResult:
    backend: str
    data_keys: int
    bytes: int


def backup(services: Services, target: Path) -> BackupResult:
    target = Path(target)
    if target.exists():
        raise BackupError(f"{target} exists; choose a new file name")
    with locked_store(key_store_path(services.settings)) as store:
        _apply_locked(services, store)
        with tempfile.TemporaryDirectory(prefix="helpline-backup-") as tmp:
            work = Path(tmp)
            members = ["manifest.json", "keys.json"]
            if services.db.is_sqlite:
                db_name = "database.sqlite"
                keys = _snapshot_sqlite(services, work / db_name)
                # Deliveries acknowledged but not yet processed live in a file
                # of their own; a backup without them would lose messages the
                # platform will never send again. (PostgreSQL: the dump holds
                # the inbox table.) Sealed under the master key like the rest.
                if backup_inbox.copy(_sqlite_path(services.db.url), work / INBOX_MEMBER):
                    members.append(INBOX_MEMBER)
            else:
                db_name = "database.pgdump"
                keys = _snapshot_postgres(services, work / db_name)
            for key_id, _, _ in keys:
                if key_id not in store.shares:
                    store.shares[key_id] = os.urandom(32)
            # Shares first: a backup must never exist whose keys the store lacks.
            store.save()
            sealed = [
                {"id": key_id, "master_key_id": master_id,
                 "sealed": base64.b64encode(seal_key(store.shares[key_id], key_id,
                                                     wrapped)).decode()}
                for key_id, master_id, wrapped in keys
            ]
            backend = "sqlite" if services.db.is_sqlite else "postgresql"
            manifest = {"format": FORMAT, "version": VERSION, "backend": backend,
                        "created_at": services.now().isoformat(), "data_keys": len(sealed)}
            (work / "keys.json").write_text(json.dumps(sealed), encoding="utf-8")
            (work / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
            partial = target.with_name(target.name + ".partial")
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w") as tar:
                for name in (*members, db_name):
                    tar.add(work / name, arcname=name)
                backup_media.add(tar, services.settings)
            os.replace(partial, target)
    size = target.stat().st_size
    logs.event("backup.written", count=len(sealed))
    return BackupResult(backend, len(sealed), size)


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory database cannot be backed up")
    return Path(database)


def _snapshot_sqlite(services: Services, dest: Path) -> list[tuple[str, str, bytes]]:
    source = sqlite3.connect(_sqlite_path(services.db.url), timeout=30)
    copy = sqlite3.connect(dest)
    progress = Progress("pages copied")

    def report(status: int, remaining: int, total: int) -> None:
        progress.total = total
        progress.update(total - remaining)

    try:
        # The online backup API copies a consistent snapshot while the app
        # writes; in steps, so a terminal sees progress (page counts only).
        source.backup(copy, pages=4096, progress=report)
        progress.finish()
    finally:
        source.close()
    try:
        copy.execute("PRAGMA secure_delete=ON")
        keys = [(r[0], r[1], bytes(r[2])) for r in copy.execute(
            "SELECT id, master_key_id, wrapped FROM data_keys ORDER BY id")]
        copy.execute("UPDATE data_keys SET wrapped = X''")
        copy.execute("DELETE FROM erased_keys")
        copy.commit()
        # Rebuild the file so no free page still holds a wrapped key.
        copy.execute("VACUUM")
    finally:
        copy.close()
    os.chmod(dest, 0o600)
    return keys


def _libpq(url: str) -> str:
    """A libpq URI for pg_dump / pg_restore from the SQLAlchemy URL."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}


def _snapshot_postgres(services: Services, dest: Path) -> list[tuple[str, str, bytes]]:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupError("pg_dump is not installed (Debian: apt-get install postgresql-client)")
    with services.db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            # One snapshot for the dump and the keys: exactly consistent.
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
            keys = [(r[0], r[1], bytes(r[2])) for r in conn.execute(
                text("SELECT id, master_key_id, wrapped FROM data_keys ORDER BY id"))]
            # Arguments are a fixed list (no shell); the URL is the operator's own.
            subprocess.run(  # noqa: S603
                [pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--schema={schema}",
                 "--no-owner", "--no-privileges",
                 f"--exclude-table-data={schema}.data_keys",
                 f"--exclude-table-data={schema}.erased_keys",
                 f"--file={dest}", f"--dbname={_libpq(services.db.url)}"],
                check=True, env=_pg_env(), capture_output=True,
            )
    os.chmod(dest, 0o600)
    return keys


# ---------------------------------------------------------------------------
# Restore.


@dataclass
class RestoreResult:
    data_keys: int = 0
    erased_since: int = 0
    texters_dropped: int = 0
    foreign_master: int = 0


def _read_backup(source: Path, work: Path) -> tuple[dict[str, Any], list[dict[str, str]], Path]:
    try:
        with tarfile.open(source, mode="r") as tar:
            names = set(tar.getnames())
            allowed = {"manifest.json", "keys.json", "database.sqlite", "database.pgdump",
                       INBOX_MEMBER}
            plain = {n for n in names if not backup_media.MEMBER.fullmatch(n) and n != "media"}
            if not plain <= allowed or "manifest.json" not in names:
                raise BackupError(f"{source} is not a helpline backup")
            tar.extractall(work, filter="data")
    except tarfile.TarError:
        raise BackupError(f"{source} is not a helpline backup") from None
    manifest = json.loads((work / "manifest.json").read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise BackupError(f"{source} is not a helpline backup of a known version")
    keys = json.loads((work / "keys.json").read_text(encoding="utf-8"))
    name = "database.sqlite" if manifest["backend"] == "sqlite" else "database.pgdump"
    return manifest, keys, work / name


def recover_keys(
    entries: list[dict[str, str]], store: KeyStore
) -> tuple[dict[str, tuple[str, bytes]], set[str]]:
    """The master-wrapped keys the key store still opens, and the ids it no
    longer does (erased since the backup)."""
    opened: dict[str, tuple[str, bytes]] = {}
    erased: set[str] = set()
    for entry in entries:
        share = store.shares.get(entry["id"])
        if share is None:
            erased.add(entry["id"])
            continue
        opened[entry["id"]] = (
            entry["master_key_id"], open_key(share, entry["id"],
                                             base64.b64decode(entry["sealed"])))
    return opened, erased


def _check_empty(engine: Engine) -> list[str]:
    """Names of the (empty) tables present; raises if any holds a row."""
    inspector = inspect(engine)
    tables = inspector.get_table_names()
    with engine.connect() as conn:
        for table in tables:
            if table == "alembic_version":
                continue
            quoted = engine.dialect.identifier_preparer.quote(table)
            if conn.execute(text(f"SELECT 1 FROM {quoted} LIMIT 1")).first():  # noqa: S608
                raise BackupError(
                    "the target database is not empty: restore only into a new, empty "
                    "database (point HELPLINE_DATABASE_URL at one)"
                )
    return tables


def restore(settings: Settings, source: Path) -> RestoreResult:
    from helpline.store.db import make_engine
    from helpline.store.migrate import upgrade

    ring = KeyRing(settings.master_key_bytes(), settings.previous_master_key_bytes())
    store_path = key_store_path(settings)
    if not store_path.exists():
        raise BackupError(
            f"no key store at {store_path}: set HELPLINE_KEY_STORE to the key store "
            "kept with the keys (the backup is unreadable without it)"
        )
    store = KeyStore.load(store_path)
    with tempfile.TemporaryDirectory(prefix="helpline-restore-") as tmp:
        manifest, entries, db_file = _read_backup(Path(source), Path(tmp))
        opened, erased = recover_keys(entries, store)
        if make_url(settings.database_url).get_backend_name() == "sqlite":
            _sqlite_path(settings.database_url).parent.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.database_url)
        try:
            backend = engine.dialect.name
            if (manifest["backend"] == "sqlite") != (backend == "sqlite"):
                raise BackupError(
                    f"this is a {manifest['backend']} backup; the target is {backend}"
                )
            existing = _check_empty(engine)
            if backend == "sqlite":
                engine.dispose()
                backup_inbox.check_empty(_sqlite_path(settings.database_url))
                _place_sqlite(settings.database_url, db_file)
                backup_inbox.place(_sqlite_path(settings.database_url),
                                   db_file.with_name(INBOX_MEMBER))
                engine = make_engine(settings.database_url)
                result = _fill_keys(engine, ring, opened, erased, insert=False)
            else:
                result = _restore_postgres(engine, settings.database_url, db_file, existing,
                                           ring, opened, erased)
            upgrade(engine)
            backup_media.place(Path(tmp) / "media", settings, engine)
        finally:
            engine.dispose()
    logs.event("backup.restored", count=result.data_keys)
    return result


def _place_sqlite(url: str, db_file: Path) -> None:
    path = _sqlite_path(url)
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".restoring")
    shutil.copyfile(db_file, partial)
    os.chmod(partial, 0o600)
    os.replace(partial, path)


def _fill_keys(
    engine: Engine,
    ring: KeyRing,
    opened: dict[str, tuple[str, bytes]],
    erased: set[str],
    *,
    insert: bool,
) -> RestoreResult:
    """Put the recovered wrapped keys back; erase whatever used a key the key
    store no longer opens, before anything can read the restored database."""
    from datetime import UTC, datetime

    result = RestoreResult(data_keys=len(opened), erased_since=len(erased))
    now = datetime.now(UTC)
    progress = Progress("data keys restored", len(opened))
    with Session(engine) as session, session.begin():
        for done, (key_id, (master_id, wrapped)) in enumerate(opened.items(), 1):
            progress.update(done)
            try:
                ring.unwrap(wrapped, key_id)
            except CryptoError:
                result.foreign_master += 1
            if insert:
                session.add(DataKey(id=key_id, wrapped=wrapped, master_key_id=master_id,
                                    created_at=now))
            else:
                session.execute(update(DataKey).where(col(DataKey.id) == key_id)
                                .values(wrapped=wrapped))
        if insert and erased:
            # Placeholders so the erasure below can run its usual statements.
            for key_id in erased:
                session.add(DataKey(id=key_id, wrapped=b"", master_key_id="erased",
                                    created_at=now))
        session.flush()
        gone = list(erased)
        for start in range(0, len(gone), 500):
            chunk = gone[start : start + 500]
            rows = session.execute(
                select(col(Texter.id), col(Texter.data_key_id))
                .where(col(Texter.data_key_id).in_(chunk))
            ).all()
            deleted = delete_texters(session, [r[0] for r in rows], [r[1] for r in rows], now)
            result.texters_dropped += deleted.texters
            session.execute(delete(OutboxItem).where(col(OutboxItem.data_key_id).in_(chunk)))
            session.execute(delete(DataKey).where(col(DataKey.id).in_(chunk)))
        # No tombstones for keys that no backup can open any more.
        session.execute(delete(ErasedKey))
    progress.finish()
    return result


def _restore_postgres(
    engine: Engine,
    url: str,
    dump: Path,
    existing: list[str],
    ring: KeyRing,
    opened: dict[str, tuple[str, bytes]],
    erased: set[str],
) -> RestoreResult:
    pg_restore = shutil.which("pg_restore")
    if pg_restore is None:
        raise BackupError("pg_restore is not installed (Debian: apt-get install postgresql-client)")
    with engine.begin() as conn:
        # Only empty tables (checked above), e.g. from a `helpline migrate`.
        for table in existing:
            quoted = engine.dialect.identifier_preparer.quote(table)
            conn.execute(text(f"DROP TABLE IF EXISTS {quoted} CASCADE"))
        schemas = set(conn.execute(
            text("SELECT nspname FROM pg_namespace")).scalars())
    listing = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [pg_restore, "--list", str(dump)], check=True, capture_output=True, text=True,
        env=_pg_env(),
    ).stdout
    lines = []
    for line in listing.splitlines():
        parts = line.split()
        # Skip CREATE SCHEMA for a schema the target already has (public).
        if " SCHEMA - " in line and len(parts) >= 6 and parts[5] in schemas:
            line = ";" + line
        lines.append(line)
    toc = dump.with_suffix(".toc")
    toc.write_text("\n".join(lines) + "\n", encoding="utf-8")
    base = [pg_restore, "--no-owner", "--no-privileges", "--exit-on-error",
            f"--use-list={toc}", f"--dbname={_libpq(url)}"]
    for section in ("pre-data", "data"):
        subprocess.run([*base, f"--section={section}", str(dump)],  # noqa: S603
                       check=True, capture_output=True, env=_pg_env())
    result = _fill_keys(engine, ring, opened, erased, insert=True)
    # Constraints and indexes last: foreign keys see the keys and erasures.
    subprocess.run([*base, "--section=post-data", str(dump)],  # noqa: S603
                   check=True, capture_output=True, env=_pg_env())
    return result


# ---------------------------------------------------------------------------
# Command line.


def cli_backup(file: str, settings: Settings) -> int:
    from helpline.services import build_services

    services = build_services(settings)
    try:
        result = backup(services, Path(file))
    except (BackupError, subprocess.CalledProcessError) as exc:
        print(f"helpline: backup failed: {_why(exc)}")
        return 1
    finally:
        services.db.dispose()
    print(f"backend: {result.backend}")
    print(f"data keys: {result.data_keys}")
    print(f"bytes written: {result.bytes}")
    print(f"key store: {key_store_path(settings)} (keep it apart from the backup)")
    return 0


def cli_restore(file: str, settings: Settings) -> int:
    try:
        result = restore(settings, Path(file))
    except (BackupError, subprocess.CalledProcessError) as exc:
        print(f"helpline: restore failed: {_why(exc)}")
        return 1
    print(f"data keys restored: {result.data_keys}")
    print(f"data keys erased since the backup: {result.erased_since}")
    print(f"texters left out (erased since the backup): {result.texters_dropped}")
    if result.foreign_master:
        print(f"data keys under a master key that is not configured: {result.foreign_master} "
              "(set HELPLINE_MASTER_KEY_PREVIOUS to it, then run `helpline keys rotate`)")
    return 0


def _why(exc: Exception) -> str:
    if isinstance(exc, subprocess.CalledProcessError):
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        # pg_dump / pg_restore messages name tables, never row content.
        return f"{Path(str(exc.cmd[0])).name} exited {exc.returncode}: {stderr.strip()[:500]}"
    return str(exc)
