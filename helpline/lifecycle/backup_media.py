"""Media files in a backup: the sealed files of the blob directory, as they are.

They are AES-256-GCM under the texter's data key (helpline/media/store.py), so
without the key store's share and the master key a backup's media are as
unreadable as its messages. A restore places only the files a restored row
names: an erased texter's stay behind in the backup, unopenable.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tarfile
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

from helpline.config import Settings
from helpline.media import store as media_store

MEMBER = re.compile(r"media/[A-Za-z0-9_-]{1,64}\.sealed")


def add(tar: tarfile.TarFile, settings: Settings) -> None:
    directory = media_store.media_dir(settings)
    if not directory.is_dir():
        return
    for path in sorted(directory.glob("*.sealed")):
        with contextlib.suppress(FileNotFoundError):  # erased while the backup ran
            tar.add(path, arcname=f"media/{path.name}")


def place(extracted: Path, settings: Settings, engine: Engine) -> None:
    """Only the files a restored row names: an erased texter's stay behind."""
    if not extracted.is_dir():
        return
    with engine.connect() as conn:
        named = set(conn.execute(text(
            "SELECT blob_ref FROM media WHERE blob_ref IS NOT NULL")).scalars())
    target = media_store.media_dir(settings)
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    for path in extracted.glob("*.sealed"):
        if path.stem not in named:
            continue
        shutil.copyfile(path, target / path.name)
        os.chmod(target / path.name, 0o600)
