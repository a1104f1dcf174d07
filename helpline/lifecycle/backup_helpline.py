"""Backup and restore of ONE helpline (`helpline backup --helpline SLUG`):
its rows only, to bring a region back into an installation that no longer
holds it, or to move it into another installation with the same keys.

A tar file (mode 0600) with:

* `manifest.json`: format, the helpline's id, slug and name, the schema
  revision, counts per table, and a fingerprint of the helpline's blind-index
  key (an HMAC of a fixed string: it tells a restore whether HELPLINE_INDEX_KEY
  is the same, and nothing else);
* `rows.jsonl`: the helpline's rows, table by table, parents first, exactly as
  stored: texts, reply addresses and media keys stay sealed under the data keys;
* `keys.json`: its data keys, wrapped by the master key and sealed once more
  under the key store's shares, as in the whole-installation backup;
* `media/<id>.sealed`: the sealed files its media rows name.

Which rows: the helpline's own row, every row with its `helpline_id`, and the
rows owned through one of those (a texter's messages, media, identifiers...,
a user's notification settings; see OWNER_COLUMNS). Not in it: what belongs
to the installation or to a moment (sign-in sessions, login failures, the
dedup keys, the inbox, tombstones; DEFERRED below), and a texter erased before
the backup (their tombstone is applied first, so their key is not in it).

A restore needs the same master key and index key, and the key store that
holds the shares (HELPLINE_KEY_STORE: the installation's the backup came
from). It refuses, before writing anything, a target that already holds the
helpline (id or slug), whose numbers another helpline has, with an account of
the same username or alias, or of another schema revision. References to
people of other helplines (a volunteer of Tilburg with a membership in
Zeeland) are kept when the target has them and cleared or left out otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Integer, Table, insert, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import SQLModel

from helpline import logs
from helpline.config import Settings
from helpline.crypto import BlindIndex, CryptoError, KeyRing
from helpline.helplines import derive_index_key, own_numbers
from helpline.lifecycle.backup import open_key, seal_key
from helpline.lifecycle.keystore import (
    BackupError,
    KeyStore,
    _apply_locked,
    key_store_path,
    locked_store,
)
from helpline.media import store as media_store
from helpline.services import Services
from helpline.store.models import DEFAULT_HELPLINE_ID, Helpline, User

FORMAT = "helpline-backup-one-helpline"
VERSION = 1
# A row without `helpline_id` belongs to the helpline of the first of these
# columns it has (a message: its texter's; a notifier: its user's).
OWNER_COLUMNS = ("texter_id", "conversation_id", "alert_id", "user_id")
# Installation-wide or momentary: never in one helpline's backup.
DEFERRED = frozenset({"sessions", "login_failures", "dedup_keys", "inbox", "erased_keys",
                      "data_keys"})
_CHUNK = 500


def index_fingerprint(index: BlindIndex) -> str:
    return hmac.new(index.key, b"helpline backup index check", hashlib.sha256).hexdigest()[:32]


def tables() -> list[Table]:
    """Every table one helpline's rows can live in, parents first."""
    import helpline.store.models  # noqa: F401 - every table registered

    return [t for t in SQLModel.metadata.sorted_tables
            if t.name not in DEFERRED and _owner(t) is not None]


def _owner(table: Table) -> str | None:
    if table.name == "helplines":
        return "id"
    if "helpline_id" in table.c:
        return "helpline_id"
    for name in OWNER_COLUMNS:
        if name in table.c and table.c[name].foreign_keys:
            return name
    return None


def _criteria(helpline_id: str) -> dict[str, ColumnElement[bool]]:
    """Per table, the WHERE that picks the helpline's rows."""
    out: dict[str, ColumnElement[bool]] = {}
    for table in tables():
        owner = _owner(table)
        assert owner is not None  # noqa: S101 - tables() keeps only owned ones
        if owner in ("id", "helpline_id"):
            out[table.name] = table.c[owner] == helpline_id
            continue
        (fk,) = table.c[owner].foreign_keys
        parent = fk.column.table
        out[table.name] = table.c[owner].in_(
            select(fk.column).where(out[parent.name]).scalar_subquery())
    return out


# ---------------------------------------------------------------------------
# Values in rows.jsonl: JSON, with bytes and datetimes marked.


def _encode(value: Any) -> Any:
    if isinstance(value, bytes | memoryview):
        return {"$b": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, datetime):
        return {"$t": value.isoformat()}
    if isinstance(value, date):
        return {"$d": value.isoformat()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "$b" in value:
            return base64.b64decode(value["$b"])
        if "$t" in value:
            return datetime.fromisoformat(value["$t"])
        if "$d" in value:
            return date.fromisoformat(value["$d"])
    return value


# ---------------------------------------------------------------------------
# Backup.


@dataclass
class HelplineBackupResult:
    slug: str
    rows: dict[str, int]
    data_keys: int
    media_files: int
    bytes: int


def backup_helpline(services: Services, slug: str, target: Path) -> HelplineBackupResult:
    target = Path(target)
    if target.exists():
        raise BackupError(f"{target} exists; choose a new file name")
    config = services.helplines.by_slug(slug)
    if config is None:
        services.helplines.reload()
        config = services.helplines.by_slug(slug)
    if config is None:
        raise BackupError(f"no helpline with the slug {slug!r} (`helpline helpline list`)")
    if config.id == DEFAULT_HELPLINE_ID:
        raise BackupError("the default helpline is the installation's own: back it up with "
                          "`helpline backup FILE` (the whole installation)")
    with locked_store(key_store_path(services.settings)) as store, \
            tempfile.TemporaryDirectory(prefix="helpline-backup-") as tmp:
        # Erased texters first: their keys' shares go, their rows are gone.
        _apply_locked(services, store)
        work = Path(tmp)
        counts, keys, blobs, revision = _snapshot(services, config.id, work / "rows.jsonl")
        for key_id, *_ in keys:
            if key_id not in store.shares:
                store.shares[key_id] = os.urandom(32)
        store.save()  # shares first: never a backup whose keys the store lacks
        sealed = [{"id": key_id, "master_key_id": master_id, "created_at": created.isoformat(),
                   "sealed": base64.b64encode(seal_key(store.shares[key_id], key_id,
                                                       wrapped)).decode()}
                  for key_id, master_id, wrapped, created in keys]
        manifest = {
            "format": FORMAT, "version": VERSION, "revision": revision,
            "helpline": {"id": config.id, "slug": config.slug, "name": config.name},
            "index_check": index_fingerprint(config.index),
            "created_at": services.now().isoformat(), "rows": counts, "data_keys": len(sealed),
        }
        (work / "keys.json").write_text(json.dumps(sealed), encoding="utf-8")
        (work / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        directory = media_store.media_dir(services.settings)
        partial = target.with_name(target.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        files = 0
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w") as tar:
            for name in ("manifest.json", "keys.json", "rows.jsonl"):
                tar.add(work / name, arcname=name)
            for blob in sorted(blobs):
                path = directory / f"{blob}.sealed"
                if path.exists():
                    tar.add(path, arcname=f"media/{blob}.sealed")
                    files += 1
        os.replace(partial, target)
    logs.event("backup.helpline_written", helpline=config.slug, count=len(sealed))
    return HelplineBackupResult(config.slug, counts, len(sealed), files, target.stat().st_size)


def _snapshot(
    services: Services, helpline_id: str, dest: Path
) -> tuple[dict[str, int], list[tuple[str, str, bytes, datetime]], set[str], str]:
    """The helpline's rows, its data keys and media blob ids, from ONE snapshot."""
    from helpline.store.models import DataKey

    criteria = _criteria(helpline_id)
    counts: dict[str, int] = {}
    key_ids: set[str] = set()
    blobs: set[str] = set()
    with services.db.engine.connect() as conn:
        if not services.db.is_sqlite:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            revision = str(conn.execute(
                text("SELECT version_num FROM alembic_version")).scalar_one())
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                for table in tables():
                    n = 0
                    for row in conn.execute(select(table).where(criteria[table.name])).mappings():
                        n += 1
                        if row.get("data_key_id"):
                            key_ids.add(row["data_key_id"])
                        if table.name == "media" and row.get("blob_ref"):
                            blobs.add(row["blob_ref"])
                        out.write(json.dumps({"t": table.name, "r": {
                            k: _encode(v) for k, v in row.items()}}) + "\n")
                    counts[table.name] = n
            keys = []
            ordered = sorted(key_ids)
            for start in range(0, len(ordered), _CHUNK):
                chunk = ordered[start:start + _CHUNK]
                for key in conn.execute(select(DataKey.__table__).where(  # type: ignore[attr-defined]
                        DataKey.__table__.c.id.in_(chunk))).mappings():  # type: ignore[attr-defined]
                    keys.append((key["id"], key["master_key_id"], bytes(key["wrapped"]),
                                 key["created_at"]))
    return counts, keys, blobs, revision


# ---------------------------------------------------------------------------
# Restore.


def is_helpline_backup(source: Path) -> bool:
    """Does `source` hold one helpline (rather than a whole installation)?"""
    try:
        with tarfile.open(source, mode="r") as tar:
            member = tar.extractfile("manifest.json")
            if member is None:
                return False
            return bool(json.loads(member.read()).get("format") == FORMAT)
    except (tarfile.TarError, KeyError, ValueError, OSError):
        return False


@dataclass
class HelplineRestoreResult:
    slug: str
    rows: dict[str, int] = field(default_factory=dict)
    data_keys: int = 0
    erased_since: int = 0
    texters_dropped: int = 0
    left_out: dict[str, int] = field(default_factory=dict)  # references nobody has
    media_files: int = 0
    blob_refs: set[str] = field(default_factory=set, repr=False)

    def lines(self) -> list[str]:
        out = [f"helpline restored: {self.slug}", f"data keys restored: {self.data_keys}",
               f"data keys erased since the backup: {self.erased_since}",
               f"texters left out (erased since the backup): {self.texters_dropped}"]
        out += [f"{table} restored: {n}" for table, n in sorted(self.rows.items()) if n]
        out += [f"{table} left out (they name someone this installation does not have): {n}"
                for table, n in sorted(self.left_out.items())]
        out.append(f"media files restored: {self.media_files}")
        return out


def restore_helpline(settings: Settings, source: Path) -> HelplineRestoreResult:
    from helpline.store.db import make_engine
    from helpline.store.migrate import is_current

    ring = KeyRing(settings.master_key_bytes(), settings.previous_master_key_bytes())
    store_path = key_store_path(settings)
    if not store_path.exists():
        raise BackupError(f"no key store at {store_path}: set HELPLINE_KEY_STORE to the key "
                          "store of the installation the backup came from")
    store = KeyStore.load(store_path)
    with tempfile.TemporaryDirectory(prefix="helpline-restore-") as tmp:
        work = Path(tmp)
        manifest, entries = _read(Path(source), work)
        helpline = manifest["helpline"]
        index = BlindIndex(derive_index_key(settings.index_key_bytes(), helpline["id"]))
        if not hmac.compare_digest(index_fingerprint(index), manifest["index_check"]):
            raise BackupError("this backup was made with another HELPLINE_INDEX_KEY: its "
                              "texters would not be found again; restore with the same keys")
        opened, erased = _open_keys(entries, store, ring, store_path)
        engine = make_engine(settings.database_url)
        try:
            if not is_current(engine):
                raise BackupError("the target database is not migrated to this version: run "
                                  "`helpline migrate` first")
            with engine.begin() as conn:
                revision = conn.execute(text("SELECT version_num FROM alembic_version"))
                if revision.scalar_one() != manifest["revision"]:
                    raise BackupError("the backup comes from another schema revision; restore "
                                      "it with the helpline version that wrote it")
                rows = _load_rows(work / "rows.jsonl")
                _refuse_conflicts(conn, settings, helpline, rows)
                result = _insert(conn, helpline["slug"], rows, opened, erased)
            result.media_files = _place_media(work / "media", settings, result.blob_refs)
        finally:
            engine.dispose()
    logs.event("backup.helpline_restored", helpline=helpline["slug"], count=result.data_keys)
    return result


def _read(source: Path, work: Path) -> tuple[dict[str, Any], list[dict[str, str]]]:
    try:
        with tarfile.open(source, mode="r") as tar:
            for member in tar.getmembers():
                name = member.name
                fixed = name in ("manifest.json", "keys.json", "rows.jsonl", "media")
                if not (fixed or (name.startswith("media/") and name.endswith(".sealed")
                                  and "/" not in name[6:] and ".." not in name)):
                    raise BackupError(f"{source} is not a helpline backup")
            tar.extractall(work, filter="data")
    except tarfile.TarError:
        raise BackupError(f"{source} is not a helpline backup") from None
    manifest = json.loads((work / "manifest.json").read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise BackupError(f"{source} is not a helpline backup of a known version")
    return manifest, json.loads((work / "keys.json").read_text(encoding="utf-8"))


def _open_keys(
    entries: list[dict[str, str]], store: KeyStore, ring: KeyRing, store_path: Path
) -> tuple[dict[str, tuple[str, bytes, datetime]], set[str]]:
    opened: dict[str, tuple[str, bytes, datetime]] = {}
    erased: set[str] = set()
    for entry in entries:
        share = store.shares.get(entry["id"])
        if share is None:
            erased.add(entry["id"])
            continue
        wrapped = open_key(share, entry["id"], base64.b64decode(entry["sealed"]))
        try:
            ring.unwrap(wrapped, entry["id"])
        except CryptoError:
            raise BackupError("the backup's data keys are wrapped by a master key this "
                              "installation does not have (HELPLINE_MASTER_KEY, "
                              "HELPLINE_MASTER_KEY_PREVIOUS)") from None
        opened[entry["id"]] = (entry["master_key_id"], wrapped,
                               datetime.fromisoformat(entry["created_at"]))
    if entries and not opened:
        raise BackupError(f"the key store at {store_path} holds none of the backup's keys: set "
                          "HELPLINE_KEY_STORE to the key store of the installation the backup "
                          "came from")
    return opened, erased


def _load_rows(path: Path) -> dict[str, list[dict[str, Any]]]:
    known = {t.name: t for t in tables()}
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in known}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            item = json.loads(line)
            table = known.get(item["t"])
            if table is None:
                raise BackupError(f"the backup has rows of an unknown table {item['t']!r}")
            row = {k: _decode(v) for k, v in item["r"].items()}
            if set(row) - set(table.c.keys()):
                raise BackupError(f"the backup's {table.name} rows have unknown columns")
            rows[table.name].append(row)
    return rows


def _refuse_conflicts(conn: Connection, settings: Settings, helpline: dict[str, str],
                      rows: dict[str, list[dict[str, Any]]]) -> None:
    """Everything that would make the restore fail half-way, or file a
    delivery under the wrong helpline, refused before any write."""
    present = [Helpline(**r) for r in conn.execute(select(Helpline.__table__)).mappings()]  # type: ignore[attr-defined]
    for other in present:
        if other.id == helpline["id"] or other.slug == helpline["slug"]:
            raise BackupError(f"this installation already has the helpline {other.slug!r}: "
                              "restoring over an existing helpline is refused (restore into "
                              "an installation that does not hold it)")
    (mine,) = rows["helplines"]
    wanted = set(own_numbers(settings, Helpline(**mine))) - {None}
    for other in present:
        if wanted & (set(own_numbers(settings, other)) - {None}):
            raise BackupError(f"helpline {other.slug!r} of this installation has one of the "
                              "restored helpline's numbers; give one of them another number first")
    users = User.__table__  # type: ignore[attr-defined]
    for column in ("username", "alias"):
        values = [r[column] for r in rows.get("users", [])]
        taken: list[str] = []
        for start in range(0, len(values), _CHUNK):
            taken += conn.execute(select(users.c[column]).where(
                users.c[column].in_(values[start:start + _CHUNK]))).scalars().all()
        if taken:
            raise BackupError(f"accounts with the {column} {', '.join(sorted(taken))} exist in "
                              "this installation; rename or remove them first")


def _insert(
    conn: Connection, slug: str, rows: dict[str, list[dict[str, Any]]],
    opened: dict[str, tuple[str, bytes, datetime]], erased: set[str],
) -> HelplineRestoreResult:
    from helpline.store.models import DataKey

    result = HelplineRestoreResult(slug=slug, data_keys=len(opened), erased_since=len(erased))
    keys = DataKey.__table__  # type: ignore[attr-defined]
    key_rows = [{"id": k, "master_key_id": m, "wrapped": w, "created_at": c}
                for k, (m, w, c) in opened.items()]
    for start in range(0, len(key_rows), _CHUNK):
        conn.execute(insert(keys), key_rows[start:start + _CHUNK])
    kept: dict[str, set[Any]] = {"data_keys": set(opened)}
    for table in tables():
        good = list(_keep(conn, table, rows[table.name], kept, result))
        if table.name == "texters":
            result.texters_dropped = len(rows[table.name]) - len(good)
        pk = [c.name for c in table.primary_key.columns]
        kept[table.name] = {tuple(r[c] for c in pk) if len(pk) > 1 else r[pk[0]] for r in good}
        if table.name == "media":
            result.blob_refs = {r["blob_ref"] for r in good if r.get("blob_ref")}
        if len(pk) == 1 and isinstance(table.c[pk[0]].type, Integer):
            # A counter (the audit log's): the target numbers them on.
            good = [{k: v for k, v in r.items() if k != pk[0]} for r in good]
        for start in range(0, len(good), _CHUNK):
            conn.execute(insert(table), good[start:start + _CHUNK])
        result.rows[table.name] = len(good)
    return result


def _keep(conn: Connection, table: Table, rows: list[dict[str, Any]], kept: dict[str, set[Any]],
          result: HelplineRestoreResult) -> Iterator[dict[str, Any]]:
    """The rows whose references hold: to a restored row, or to one the target
    has (another helpline's volunteer). A reference to nobody is cleared when
    the column allows it; otherwise the row stays out (an erased texter's)."""
    checks = []
    for fk in table.foreign_keys:
        parent = fk.column.table.name
        values = {r.get(fk.parent.name) for r in rows} - {None} - kept.get(parent, set())
        existing: set[Any] = set()
        listed = sorted(v for v in values if v is not None)
        for start in range(0, len(listed), _CHUNK):
            existing |= set(conn.execute(select(fk.column).where(
                fk.column.in_(listed[start:start + _CHUNK]))).scalars())
        checks.append((fk.parent.name, fk.parent.nullable, parent, existing))
    for row in rows:
        ok = True
        for column, nullable, parent, existing in checks:
            value = row.get(column)
            if value is None or value in kept.get(parent, set()) or value in existing:
                continue
            if nullable and parent != "data_keys":
                row[column] = None
                continue
            ok = False
        if ok:
            yield row
        else:
            result.left_out[table.name] = result.left_out.get(table.name, 0) + 1


def _place_media(extracted: Path, settings: Settings, named: set[str]) -> int:
    """Only the files a restored row names: an erased texter's stay behind."""
    if not extracted.is_dir():
        return 0
    target = media_store.media_dir(settings)
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    placed = 0
    for path in extracted.glob("*.sealed"):
        if path.stem in named:
            data = path.read_bytes()
            fd = os.open(target / path.name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            placed += 1
    return placed
