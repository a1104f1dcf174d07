"""Media tests keep their blob directory in the test's own temporary folder,
with a small inline threshold so both places (row and file) are exercised."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from helpline.config import Settings


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], tmp_path: Path) -> Settings:
    media: dict[str, Any] = {"media_dir": tmp_path / "media", "media_inline_max_bytes": 4096,
                             "key_store": tmp_path / "helpline.keystore"}
    return settings_factory(**media)
