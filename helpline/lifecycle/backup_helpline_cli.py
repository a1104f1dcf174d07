"""`helpline backup --helpline SLUG` and `helpline restore` of such a file:
counts only, and a clear line when the backup or restore is refused."""

from __future__ import annotations

import subprocess
from pathlib import Path

from helpline.config import Settings
from helpline.lifecycle.backup_helpline import backup_helpline, restore_helpline
from helpline.lifecycle.keystore import BackupError, key_store_path


def cli_backup_helpline(file: str, slug: str, settings: Settings) -> int:
    from helpline.services import build_services

    services = build_services(settings)
    try:
        result = backup_helpline(services, slug, Path(file))
    except (BackupError, subprocess.CalledProcessError) as exc:
        print(f"helpline: backup failed: {exc}")
        return 1
    finally:
        services.db.dispose()
    print(f"helpline: {result.slug}")
    for table, count in sorted(result.rows.items()):
        if count:
            print(f"{table}: {count}")
    print(f"data keys: {result.data_keys}")
    print(f"media files: {result.media_files}")
    print(f"bytes written: {result.bytes}")
    print(f"key store: {key_store_path(settings)} (keep it apart from the backup)")
    return 0


def cli_restore_helpline(file: str, settings: Settings) -> int:
    try:
        result = restore_helpline(settings, Path(file))
    except BackupError as exc:
        print(f"helpline: restore failed: {exc}")
        return 1
    for line in result.lines():
        print(line)
    return 0
