"""routing/ must stay pure: standard library and itself only (CONVENTIONS)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROUTING = Path(__file__).resolve().parents[2] / "routing"
FILES = sorted(ROUTING.glob("*.py"))


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_there_are_routing_modules() -> None:
    assert len(FILES) >= 8


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_routing_imports_only_the_standard_library(path: Path) -> None:
    outside = {
        name
        for name in _imports(path)
        if name != "routing" and name not in sys.stdlib_module_names and name != "__future__"
    }
    assert not outside, f"{path.name} imports {outside}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_routing_never_reads_the_clock(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    for call in ("datetime.now", "datetime.utcnow", "date.today", "time.time(", "monotonic("):
        assert call not in source, f"{path.name} reads the clock via {call}"
