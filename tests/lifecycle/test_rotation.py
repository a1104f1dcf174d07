"""Master key rotation: `helpline keys rotate` in a subprocess, killed with
SIGKILL at random points many times; after every kill each data key still
opens with the old or the new master key; a last run finishes, and then
everything opens with the new key alone.

HELPLINE_ROTATION_KILLS sets the number of kills (default 15, for CI time).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, text

from helpline import crypto
from helpline.config import Settings
from helpline.store.db import make_engine
from helpline.store.migrate import upgrade
from helpline.store.models import DataKey
from tests.conftest import key

OLD = key("master")
NEW = key("master-2027")
KEYS = 6000


def ring(*keys: str) -> crypto.KeyRing:
    import base64

    raw = [base64.b64decode(k) for k in keys]
    return crypto.KeyRing(raw[0], raw[1] if len(raw) > 1 else None)


def seed(url: str, n: int) -> dict[str, bytes]:
    from datetime import UTC, datetime

    engine = make_engine(url)
    upgrade(engine)
    old = ring(OLD)
    raw: dict[str, bytes] = {}
    rows = []
    now = datetime.now(UTC)
    for i in range(n):
        key_id = f"k{i:06d}"
        raw[key_id] = crypto.new_data_key()
        rows.append({"id": key_id, "wrapped": old.wrap(raw[key_id], key_id),
                     "master_key_id": old.current_id, "created_at": now})
    with engine.begin() as conn:
        conn.execute(insert(DataKey), rows)
    engine.dispose()
    return raw


def check(url: str, keyring: crypto.KeyRing, raw: dict[str, bytes]) -> tuple[int, int]:
    """Every key opens to its original bytes; returns (under new, under old)."""
    engine = create_engine(url)
    new_id = ring(NEW).current_id
    under_new = under_old = 0
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, wrapped, master_key_id FROM data_keys")).all()
    engine.dispose()
    assert len(rows) == len(raw)
    for key_id, wrapped, master_id in rows:
        wrapped = bytes(wrapped)
        assert keyring.unwrap(wrapped, key_id) == raw[key_id]
        assert crypto.KeyRing.wrapped_by(wrapped) == master_id  # column and bytes agree
        if master_id == new_id:
            under_new += 1
        else:
            under_old += 1
    return under_new, under_old


def rotate_cmd(url: str, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}
    env.update({
        "HELPLINE_DATABASE_URL": url,
        "HELPLINE_MASTER_KEY": NEW,
        "HELPLINE_MASTER_KEY_PREVIOUS": OLD,
        "HELPLINE_INDEX_KEY": key("index"),
    })
    return subprocess.Popen(
        [sys.executable, "-m", "helpline.cli", "keys", "rotate", "--batch", "25"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_rotation_killed_at_random_points_never_loses_a_key_and_finishes(
    database_url: str, tmp_path: Path
) -> None:
    raw = seed(database_url, KEYS)
    both = ring(NEW, OLD)
    rng = random.Random(int(os.environ.get("HELPLINE_ROTATION_SEED", "0")) or None)
    kills = int(os.environ.get("HELPLINE_ROTATION_KILLS", "15"))
    progress: list[int] = []
    for _ in range(kills):
        proc = rotate_cmd(database_url, tmp_path)
        assert proc.stdout is not None
        # Wait until it has counted the work (imports done, rotating now),
        # then kill it somewhere in the middle of its batches.
        first = proc.stdout.readline()
        if first:
            time.sleep(rng.uniform(0, 0.12))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        under_new, under_old = check(database_url, both, raw)
        progress.append(under_new)
        if under_old == 0:
            break
    print("keys under the new master key after each kill:", progress)
    # Killed runs only ever move forward.
    assert progress == sorted(progress)
    finish = rotate_cmd(database_url, tmp_path)
    out, _ = finish.communicate(timeout=120)
    assert finish.returncode == 0, out
    assert f"data keys under the current master key: {KEYS}" in out.decode()
    # The old key can now be dropped: everything opens with the new key alone.
    assert check(database_url, ring(NEW), raw) == (KEYS, 0)


def test_rotation_reports_keys_under_an_unknown_master_key_and_leaves_them(
    settings_factory: Callable[..., Settings],
) -> None:
    from helpline.lifecycle import rotation
    from helpline.services import build_services

    settings = settings_factory(master_key=NEW)
    raw = seed(settings.database_url, 3)  # wrapped under OLD, which is not configured
    services = build_services(settings)
    result = rotation.rotate(services)
    assert (result.rewrapped, result.unreadable, result.current) == (0, 3, 0)
    services.db.dispose()
    assert check(settings.database_url, ring(OLD), raw) == (0, 3)

    services = build_services(settings_factory(master_key=NEW, master_key_previous=OLD))
    result = rotation.rotate(services, batch=2)
    assert (result.rewrapped, result.unreadable, result.current) == (3, 0, 3)
    services.db.dispose()
    assert check(settings.database_url, ring(NEW), raw) == (3, 0)
