"""The arrows between the rooms of `helpline/`, and their size, checked from the code itself.

Every `import` counts, at module level or inside a function: an import hidden in a
function is still an arrow, and a cycle through one still ties two rooms together. A
rule here is a promise of the architecture (README, "How it works"); break one on
purpose and this test names the file and the line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("helpline", "routing")


@dataclass(frozen=True)
class Arrow:
    source: str  # importing module, dotted
    target: str  # imported module (or name within it), dotted
    where: str  # path:line

    def __str__(self) -> str:
        return f"{self.where}: {self.source} imports {self.target}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> Iterator[Path]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts and "versions" in path.parts:
                continue  # generated from the models; its imports are Alembic's
            yield path


def arrows_in(path: Path, source: str) -> Iterator[Arrow]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = source if path.name == "__init__.py" else source.rpartition(".")[0]
    for node in ast.walk(tree):
        where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Arrow(source, alias.name, where)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # `from helpline.ingest import inbox` names a module; `from x import Y` a name
                yield Arrow(source, f"{base}.{alias.name}", where)


def all_arrows() -> list[Arrow]:
    return [arrow for path in source_files() for arrow in arrows_in(path, module_name(path))]


MODULES = {module_name(path) for path in source_files()}


def resolve(target: str) -> str | None:
    """The project module an import lands in (longest dotted prefix), or None."""
    parts = target.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in MODULES:
            return candidate
    return None


def inside(module: str, room: str) -> bool:
    return module == room or module.startswith(room + ".")


# (importer room, forbidden room, why)
FORBIDDEN = [
    ("routing", "helpline", "the policy is pure: state, event, clock and policy in, actions out"),
    ("helpline.channels", "helpline.store", "adapters translate; they touch no table"),
    ("helpline.channels", "routing", "adapters translate; the policy is intake's to call"),
    ("helpline.channels", "helpline.console", "adapters know no console"),
    ("helpline.console", "helpline.channels", "replies go through the outbox, never to a platform"),
    ("helpline.stats", "helpline.crypto", "statistics hold no identifier, so they need no key"),
    ("helpline.stats", "helpline.channels", "statistics count events, not platform payloads"),
    ("helpline.crypto", "helpline.store", "crypto knows no tables"),
    ("helpline.live", "helpline.store.models", "live events carry kinds and ids, never rows"),
]


def violations(arrows: list[Arrow]) -> list[str]:
    found = []
    for arrow in arrows:
        target = resolve(arrow.target) or arrow.target
        for room, forbidden, why in FORBIDDEN:
            if inside(arrow.source, room) and inside(target, forbidden):
                found.append(f"{arrow}  ({why})")
    return found


def cycles(arrows: list[Arrow]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for arrow in arrows:
        target = resolve(arrow.target)
        if target and target != arrow.source and not target.endswith("__init__"):
            # a package's __init__ holds only its docstring; an arrow into it is not a tie
            if (ROOT / Path(*target.split(".")) / "__init__.py").exists():
                continue
            graph[arrow.source].add(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_no_forbidden_arrow() -> None:
    assert violations(all_arrows()) == []


def test_no_import_cycle_inside_the_project() -> None:
    assert cycles(all_arrows()) == []


def test_every_room_says_what_it_owns() -> None:
    def lines(init: Path) -> int:
        return len((ast.get_docstring(ast.parse(init.read_text())) or "").splitlines())

    rooms = sorted((ROOT / "helpline").glob("*/__init__.py"))
    assert [str(init.relative_to(ROOT)) for init in rooms if lines(init) < 3] == []


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("helpline.console.pages", "helpline.channels.whatsapp_cloud.WhatsAppCloud"),
        ("helpline.stats.routes", "helpline.crypto.BlindIndex"),
        ("helpline.channels.signal_cli", "helpline.store.models.Texter"),
        ("routing.policy", "helpline.config.Settings"),
    ],
)
def test_an_added_forbidden_arrow_is_caught(source: str, target: str) -> None:
    assert violations([Arrow(source, target, "added:1")]) != []


def test_an_added_cycle_is_caught() -> None:
    arrows = [
        Arrow("helpline.ingest.intake", "helpline.outbound.outbox", "a:1"),
        Arrow("helpline.outbound.outbox", "helpline.ingest.intake", "b:1"),
    ]
    assert cycles(arrows) == [["helpline.ingest.intake", "helpline.outbound.outbox"]]


MAX_LINES = 500


def test_no_module_is_over_500_lines() -> None:
    # A module past this has become a family of concerns: give it a room of its own.
    # The migration is generated from the models (scripts/regen-initial-migration), so
    # it is left out, as it is from ruff and mypy.
    long = {
        str(path.relative_to(ROOT)): lines
        for path in source_files()
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
