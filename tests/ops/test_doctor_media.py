"""`helpline doctor` checks the media directory: there or creatable, 0700 with
0600 files, writable, free disk, files no row names and rows whose file is gone.
The files are real ones, written by the fetcher from a faked Graph API."""

from __future__ import annotations

import io
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import respx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from helpline.config import Settings
from helpline.ops import doctor, doctor_media
from tests.media import samples
from tests.media.helpers import graph_media, media_rows, post_media, run_fetcher, wa_media_payload

AS_ROOT = os.geteuid() == 0


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], tmp_path: Path) -> Settings:
    media: dict[str, Any] = {"media_dir": tmp_path / "media", "media_inline_max_bytes": 4096,
                             "key_store": tmp_path / "helpline.keystore"}
    return settings_factory(**media)


def media_lines(settings: Settings, *, database_ok: bool = True) -> list[tuple[str, str, str]]:
    report = doctor.Report()
    doctor_media.check_media_dir(settings, report, database_ok=database_ok)
    return report.lines


def levels(lines: list[tuple[str, str, str]]) -> set[str]:
    return {level for level, _, _ in lines}


def text_of(lines: list[tuple[str, str, str]]) -> str:
    return "\n".join(f"{level} {topic}: {text}" for level, topic, text in lines)


class Stored(NamedTuple):
    directory: Path
    file: Path


@pytest.fixture
def stored(client: TestClient, app: FastAPI, migrated: Settings) -> Stored:
    """A photo large enough to be a sealed file, stored the real way."""
    with respx.mock:
        graph_media(respx.mock, "9400000000000001", samples.big_jpeg(0.2),
                    mime_type="image/jpeg")
        post_media(client, wa_media_payload("image", "9400000000000001",
                                            mime_type="image/jpeg"))
        assert run_fetcher(app) == 1
    (row,) = media_rows(app)
    directory = Path(str(migrated.media_dir))
    assert row.blob_ref is not None
    return Stored(directory, directory / f"{row.blob_ref}.sealed")


def test_the_doctor_reports_the_media_directory_among_its_checks(
    migrated: Settings, settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    from tests.ops.test_doctor import staffed

    # Staffed: a helpline without a volunteer fails the doctor (test_doctor_helplines).
    settings = staffed(settings_factory(media_dir=tmp_path / "media", whatsapp_app_secret=None,
                                        signal_api_url=None,
                                        key_store=tmp_path / "helpline.keystore"))
    out = io.StringIO()
    assert doctor.main(settings, out) == 0, out.getvalue()
    assert f"ok   media: {tmp_path / 'media'} does not exist yet" in out.getvalue()
    assert "ok   media disk: " in out.getvalue()
    assert not (tmp_path / "media").exists()  # the doctor created nothing


def test_a_healthy_directory_with_stored_media_passes(migrated: Settings, stored: Stored) -> None:
    lines = media_lines(migrated)
    assert levels(lines) == {"ok"}, text_of(lines)
    text = text_of(lines)
    assert "exists and is writable" in text
    assert "1 media file(s), all 0600" in text
    assert "every file belongs to a row" in text
    assert "MB free" in text


def test_wide_modes_of_the_directory_and_its_files_are_warnings(
    migrated: Settings, stored: Stored
) -> None:
    stored.directory.chmod(0o755)
    stored.file.chmod(0o644)
    text = text_of(media_lines(migrated))
    assert "warn media: " in text
    assert "is mode 755" in text
    assert "chmod 700" in text
    assert "1 of 1 media file(s) readable by other accounts" in text


def test_an_old_orphan_file_is_counted_and_a_young_one_is_not_yet(
    migrated: Settings, stored: Stored
) -> None:
    young = stored.directory / "youngorphan.sealed"
    young.write_bytes(b"sealed")
    young.chmod(0o600)
    text = text_of(media_lines(migrated))
    assert "every file belongs to a row (1 orphan(s) younger than 10 minutes)" in text
    old = stored.directory / "oldorphan.sealed"
    old.write_bytes(b"sealed")
    old.chmod(0o600)
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    lines = media_lines(migrated)
    assert ("warn", "media") in {line[:2] for line in lines}
    assert "1 orphan media file(s) (no row names them) older than 10 minutes" in text_of(lines)


def test_a_row_whose_file_is_missing_fails(migrated: Settings, stored: Stored) -> None:
    stored.file.unlink()
    lines = media_lines(migrated)
    assert "FAIL" in levels(lines)
    assert "1 stored media file(s) are missing" in text_of(lines)
    assert "same HELPLINE_MEDIA_DIR" in text_of(lines)


def test_without_a_database_the_rows_are_not_compared(migrated: Settings, stored: Stored) -> None:
    stored.file.unlink()
    assert "missing" not in text_of(media_lines(migrated, database_ok=False))


def test_a_file_where_the_directory_should_be_fails(settings: Settings) -> None:
    Path(str(settings.media_dir)).write_text("not a directory")
    lines = media_lines(settings, database_ok=False)
    assert levels(lines) == {"FAIL"}
    assert "is not a directory" in text_of(lines)


@pytest.mark.parametrize(("free_mb", "level"), [(50, "FAIL"), (500, "warn"), (50_000, "ok")])
def test_free_disk_space_is_reported(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, free_mb: int, level: str
) -> None:
    # The disk cannot be filled in a test; its answer is replaced, nothing else.
    usage = shutil.disk_usage("/")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(
        free=free_mb * doctor_media.MB))
    (disk,) = [line for line in media_lines(settings, database_ok=False)
               if line[1] == "media disk"]
    assert disk[0] == level
    assert f"{free_mb:,} MB free" in disk[2]


@pytest.mark.skipif(AS_ROOT, reason="root may write anywhere: os.access says yes")
def test_a_directory_this_account_cannot_write_fails(settings: Settings) -> None:
    directory = Path(str(settings.media_dir))
    directory.mkdir(mode=0o500)
    try:
        lines = media_lines(settings, database_ok=False)
    finally:
        directory.chmod(0o700)
    assert "is not writable by this account" in text_of(lines)


@pytest.mark.skipif(AS_ROOT, reason="root may write anywhere: os.access says yes")
def test_a_directory_that_cannot_be_created_fails(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        lines = media_lines(settings_factory(media_dir=locked / "media"), database_ok=False)
    finally:
        locked.chmod(0o700)
    assert "cannot be created" in text_of(lines)
