"""The key store: one 32-byte share per data key, kept apart from the database.

A backup seals each wrapped data key once more under its share (helpline/lifecycle/backup.py).
Erasure and retention write a tombstone (`erased_keys`); `apply_tombstones` then deletes
that key's share, so that no backup, old or new, opens that texter's key again, even
with the master key. The store must be ONE current copy (mirrored by overwriting, never
versioned): an old copy would bring the shares of erased texters back.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, select
from sqlmodel import col

from helpline import logs
from helpline.config import Settings
from helpline.errors import HelplineError
from helpline.services import Services
from helpline.store.models import DataKey, ErasedKey


class BackupError(HelplineError):
    """The backup or restore cannot go on; the message says why and what to do."""


def key_store_path(settings: Settings) -> Path:
    return Path(settings.key_store) if settings.key_store else Path.cwd() / "helpline.keystore"


@dataclass
class KeyStore:
    path: Path
    shares: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> KeyStore:
        if not path.exists():
            return cls(path)
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != "helpline-keystore":
            raise BackupError(f"{path} is not a helpline key store")
        return cls(path, {k: base64.b64decode(v) for k, v in data["shares"].items()})

    def save(self) -> None:
        data = {
            "format": "helpline-keystore",
            "version": 1,
            "shares": {k: base64.b64encode(v).decode() for k, v in sorted(self.shares.items())},
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".keystore-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        # The rename must survive a crash before we delete the tombstones.
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@contextlib.contextmanager
def locked_store(path: Path) -> Iterator[KeyStore]:
    """The key store under an exclusive lock (worker, purge and backup may
    run at once on one machine)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield KeyStore.load(path)
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        os.close(lock)


def apply_tombstones(services: Services, *, create: bool = False) -> int:
    """Delete from the key store the shares of destroyed data keys. Returns
    how many shares were removed. Without a key store here (and `create`
    false) the tombstones wait for the machine that has it."""
    path = key_store_path(services.settings)
    if not create and not path.exists():
        return 0
    with locked_store(path) as store:
        return _apply_locked(services, store)


def _apply_locked(services: Services, store: KeyStore) -> int:
    with services.db.session() as session:
        tombstones = list(session.execute(select(col(ErasedKey.key_id))).scalars())
        live = set(session.execute(select(col(DataKey.id))).scalars())
    # Tombstoned keys, and any share whose key is gone for another reason
    # (a detached goodbye's key dropped by the outbox worker).
    doomed = (set(tombstones) | (set(store.shares) - live)) & set(store.shares)
    if doomed:
        for key_id in doomed:
            del store.shares[key_id]
        store.save()
    if tombstones:
        with services.db.session() as session:
            for start in range(0, len(tombstones), 500):
                chunk = tombstones[start : start + 500]
                session.execute(delete(ErasedKey).where(col(ErasedKey.key_id).in_(chunk)))
    if doomed:
        logs.event("backup.shares_removed", count=len(doomed))
    return len(doomed)
