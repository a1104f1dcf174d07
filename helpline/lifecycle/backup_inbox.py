"""The SQLite inbox file in a backup (helpline/lifecycle/backup.py).

Deliveries the helpline has acknowledged but not yet processed live in
`helpline.db-inbox`; the platform will never send them again, so a backup
without them loses messages. The file is copied as it is: its bodies are
sealed under keys wrapped by the master key (helpline/ingest/inbox.py), so
the copy is as unreadable without the master key as the rest of the backup.
On PostgreSQL the inbox is a table, and the dump holds it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from pathlib import Path

from helpline.lifecycle.keystore import BackupError

MEMBER = "inbox.sqlite"


def inbox_path(database: Path) -> Path:
    return Path(f"{database}-inbox")


def copy(database: Path, dest: Path) -> bool:
    """A consistent copy (online backup API) of the inbox file, if there is
    one; returns whether there was."""
    source_path = inbox_path(database)
    if not source_path.exists():
        return False
    source = sqlite3.connect(source_path, timeout=30)
    target = sqlite3.connect(dest)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    os.chmod(dest, 0o600)
    return True


def check_empty(database: Path) -> None:
    """Refuse a target whose own inbox still holds deliveries (they would be
    overwritten)."""
    path = inbox_path(database)
    if not path.exists():
        return
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        waiting = conn.execute("SELECT count(*) FROM inbox").fetchone()[0]
    except sqlite3.Error:
        waiting = 0  # no inbox table: nothing to lose
    finally:
        conn.close()
    if waiting:
        raise BackupError(
            "the target's inbox holds deliveries: restore only into a new, empty instance")


def place(database: Path, copied: Path) -> None:
    """Put the backup's inbox file in place, or none when the backup has no
    inbox member (nothing was waiting and no file existed yet)."""
    path = inbox_path(database)
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")
    if not copied.exists():
        return
    partial = path.with_name(path.name + ".restoring")
    shutil.copyfile(copied, partial)
    os.chmod(partial, 0o600)
    os.replace(partial, path)
