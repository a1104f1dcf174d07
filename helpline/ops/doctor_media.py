"""`helpline doctor`'s look at the media directory (HELPLINE_MEDIA_DIR).

Larger photos, voice notes and videos are sealed files there (helpline/media/
store.py). What goes wrong in practice: the directory is not writable by the
worker (every large download then fails), app and worker see different
directories (the worker's files are missing for the app), the disk fills up,
a restore or a copy widened the modes, or the worker no longer sweeps files of
erased rows. Each is one line, like the other checks. Nothing is created or
changed: a directory that does not exist yet is only checked for whether it
can be created.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Final, Literal, Protocol

from helpline.config import Settings
from helpline.media.store import SWEEP_GRACE, media_dir

Level = Literal["ok", "warn", "FAIL"]


class Report(Protocol):
    """What the doctor's report offers here (doctor.py imports this module,
    so it is named by shape, not imported)."""

    def add(self, level: Level, topic: str, text: str) -> None: ...

MB: Final = 1024 * 1024
# Below this a single voice note or video (16-32 MB caps) may no longer fit.
FREE_FAIL: Final = 100 * MB
# Below this a retention period's photos and voice notes may not.
FREE_WARN: Final = 1024 * MB


def check_media_dir(settings: Settings, report: Report, *, database_ok: bool) -> None:
    directory = media_dir(settings)
    if not directory.exists():
        _not_yet(directory, report)
        return
    if not directory.is_dir():
        report.add("FAIL", "media", f"{directory} is not a directory; point HELPLINE_MEDIA_DIR "
                   "at a directory (or remove the file so it can be created).")
        return
    if not os.access(directory, os.W_OK | os.X_OK):
        report.add("FAIL", "media", f"{directory} is not writable by this account: large "
                   "media would fail to be stored. Give it to the helpline's user "
                   "(`chown`), mode 0700.")
    else:
        report.add("ok", "media", f"{directory} exists and is writable")
    mode = stat.S_IMODE(directory.stat().st_mode)
    if mode & 0o077:
        report.add("warn", "media", f"{directory} is mode {mode:o}: other accounts may list "
                   "it; run `chmod 700` on it (it is created 0700).")
    files = sorted(directory.glob("*.sealed"))
    wide = [path.name for path in files if _wide(path)]
    if wide:
        report.add("warn", "media", f"{len(wide)} of {len(files)} media file(s) readable by "
                   f"other accounts; run `chmod 600 {directory}/*.sealed` (they are created "
                   "0600).")
    elif files:
        report.add("ok", "media", f"{len(files)} media file(s), all 0600")
    _free_space(directory, report)
    if database_ok:
        _rows_and_files(settings, directory, files, report)


def _not_yet(directory: Path, report: Report) -> None:
    parent = directory.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if os.access(parent, os.W_OK | os.X_OK):
        report.add("ok", "media", f"{directory} does not exist yet; it is created (0700) "
                   "with the first large file")
        _free_space(parent, report)
    else:
        report.add("FAIL", "media", f"{directory} does not exist and {parent} is not writable "
                   "by this account, so it cannot be created: create it (mode 0700, owned by "
                   "the helpline's user) or set HELPLINE_MEDIA_DIR.")


def _wide(path: Path) -> bool:
    try:
        return bool(stat.S_IMODE(path.stat().st_mode) & 0o077)
    except OSError:
        return False


def _free_space(directory: Path, report: Report) -> None:
    import shutil

    free = shutil.disk_usage(directory).free
    shown = f"{free / MB:,.0f} MB free"
    if free < FREE_FAIL:
        report.add("FAIL", "media disk", f"{shown} under {directory}: a voice note or video "
                   "may no longer fit. Free space or move HELPLINE_MEDIA_DIR.")
    elif free < FREE_WARN:
        report.add("warn", "media disk", f"{shown} under {directory}: plan for one retention "
                   "period of photos and voice notes (docs/operating.md, 'Media files').")
    else:
        report.add("ok", "media disk", f"{shown} under {directory}")


def _rows_and_files(settings: Settings, directory: Path, files: list[Path],
                    report: Report) -> None:
    """Files no row names (the worker should sweep them) and rows whose file is
    missing (app and worker do not share the directory, or it was lost)."""
    from sqlalchemy import text

    from helpline.store.db import make_engine

    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            named = {str(ref) for (ref,) in conn.execute(
                text("SELECT blob_ref FROM media WHERE blob_ref IS NOT NULL"))}
    except Exception as exc:  # noqa: BLE001 - reported, like the other checks
        report.add("FAIL", "media", f"cannot read the media table ({type(exc).__name__}).")
        return
    finally:
        engine.dispose()
    on_disk = {path.stem for path in files}
    cutoff = time.time() - SWEEP_GRACE.total_seconds()
    orphans = [path for path in files if path.stem not in named]
    stale = [path for path in orphans if _older_than(path, cutoff)]
    missing = named - on_disk
    if missing:
        report.add("FAIL", "media", f"{len(missing)} stored media file(s) are missing from "
                   f"{directory}: volunteers see an error for them. Do app and worker use the "
                   "same HELPLINE_MEDIA_DIR? A backup holds them (`helpline restore`).")
    if stale:
        report.add("warn", "media", f"{len(stale)} orphan media file(s) (no row names them) "
                   "older than 10 minutes: the worker sweeps them, so is `helpline worker` "
                   "running against this directory?")
    elif not missing:
        report.add("ok", "media", f"every file belongs to a row ({len(orphans)} orphan(s) "
                   "younger than 10 minutes)" if orphans else "every file belongs to a row")


def _older_than(path: Path, cutoff: float) -> bool:
    try:
        return path.stat().st_mtime < cutoff
    except OSError:
        return False
