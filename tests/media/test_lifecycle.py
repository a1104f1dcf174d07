"""Erasure, retention and backups cover media exactly as they cover text:
after an erasure no byte of the photo (nor of its ciphertext) is left in the
database files, the blob directory or a backup taken afterwards."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import respx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from helpline.lifecycle import retention
from helpline.lifecycle.backup import backup
from helpline.media import store
from tests.conftest import PG_URL, FakeClock
from tests.console.conv_helpers import make_agent
from tests.media import samples
from tests.media.helpers import (
    graph_media,
    media_rows,
    post_media,
    run_fetcher,
    services_of,
    wa_media_payload,
)


def _photo_stored_in_a_file(client: TestClient, app: FastAPI) -> tuple[bytes, bytes, Path]:
    photo = samples.big_jpeg(0.2)
    graph_media(respx.mock, "9100000000000001", photo, mime_type="image/jpeg")
    post_media(client, wa_media_payload("image", "9100000000000001", mime_type="image/jpeg"))
    run_fetcher(app)
    (row,) = media_rows(app)
    assert row.blob_ref is not None
    media_dir = Path(services_of(app).settings.media_dir or "")
    sealed = (media_dir / f"{row.blob_ref}.sealed").read_bytes()
    return photo, sealed, media_dir


def _files_under(*roots: Path) -> list[Path]:
    return [p for root in roots for p in ([root] if root.is_file() else root.rglob("*"))
            if p.is_file()]


@respx.mock
def test_erasure_leaves_no_byte_of_the_photo_in_database_blobs_or_backup(
    client: TestClient, app: FastAPI, tmp_path: Path
) -> None:
    services = services_of(app)
    photo, sealed, media_dir = _photo_stored_in_a_file(client, app)
    before = tmp_path / "before.tar"
    backup(services, before)
    with tarfile.open(before) as tar:
        assert [n for n in tar.getnames() if n.startswith("media/")] != []
    assert samples.DISTINCTIVE not in before.read_bytes()

    conversation = make_agent(client).get("/api/conversations?view=queue").json()["items"][0]
    retention.erase_conversation_texter(services, conversation["id"], actor_id="admin-test")

    assert media_rows(app) == []
    assert list(media_dir.glob("*.sealed")) == []
    after = tmp_path / "after.tar"
    backup(services, after)
    with tarfile.open(after) as tar:
        assert [n for n in tar.getnames() if n.startswith("media/")] == []
    # Plaintext needles of the original (EXIF camera, a run of its bytes) and
    # a run of the ciphertext, in every file the installation keeps.
    needles = [samples.DISTINCTIVE, photo[4000:4064], sealed[1000:1064]]
    roots = [media_dir, after]
    if not PG_URL:
        roots += list(tmp_path.glob("helpline.db*"))
    for path in _files_under(*roots):
        content = path.read_bytes()
        for needle in needles:
            assert needle not in content, f"{path.name} still holds a piece of the photo"


@respx.mock
def test_retention_removes_the_media_row_and_its_file(
    client: TestClient, app: FastAPI, clock: FakeClock
) -> None:
    _, _, media_dir = _photo_stored_in_a_file(client, app)
    clock.advance(days=services_of(app).policy.retention_days + 1)
    result = retention.purge(services_of(app), pause=False)
    assert result.rows.get("media") == 1
    assert media_rows(app) == []
    assert list(media_dir.glob("*.sealed")) == []


def test_an_orphaned_file_is_swept(app: FastAPI) -> None:
    services = services_of(app)
    media_dir = Path(services.settings.media_dir or "")
    media_dir.mkdir(parents=True)
    orphan = media_dir / "leftover.sealed"
    orphan.write_bytes(b"\x01" * 64)
    os.utime(orphan, (0, 0))  # older than the grace period of a running fetch
    with services.db.session() as session:
        assert store.sweep(session, services.settings) == 1
    assert not orphan.exists()
