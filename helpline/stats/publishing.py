"""Publishing: suppressed figures persisted per year of buckets, refreshed in the background.

Published values are persisted (`stat_published`) and recomputed only for the
years whose counts changed (see the note below).
"""


from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlmodel import Session

from helpline import logs
from helpline.stats.cells import PERIODS, CellId, StatsError
from helpline.stats.counting import partition_of
from helpline.stats.suppression import (
    Row,
    _render,
    build_system,
    components,
    load_counts,
    rows_for,
    subsystem,
    suppress,
)
from helpline.store.models import (
    DEFAULT_HELPLINE_ID,
    StatPartition,
    StatPublished,
)

if TYPE_CHECKING:
    from helpline.services import Services


# ------------------------------------------------------------------ publishing
#
# Suppression of a few years of buckets takes seconds of pure Python, so the
# published values are persisted (`stat_published`) per year of buckets and
# recomputed only for years whose counts changed (`stat_partitions.version`,
# bumped with every count upsert). Years whose equations connect them (a run
# of weeks that crosses New Year, a year's months) are recomputed and written
# together, in one transaction, so every published figure of a connected part
# comes from one reading of the counts. A request recomputes stale years itself
# only when that took at most INLINE_BUDGET_MS last time (a small line sees new
# figures at once); otherwise it serves the last published figures, says so
# ("as_of", "stale"), and the worker (`run_refresher`) recomputes them.

INLINE_BUDGET_MS = 150
REFRESH_SECONDS = 30.0


@dataclass(frozen=True)
class _State:
    version: int
    published_version: int
    group_key: str
    published_at: datetime | None
    threshold: int
    cost_ms: int

    def dirty(self, k: int) -> bool:
        return (self.version != self.published_version or self.threshold != k
                or not self.group_key)


def _states(session: Session, helpline_id: str, *, lock: bool = False) -> dict[str, _State]:
    query = select(
        StatPartition.partition, StatPartition.version,  # type: ignore[call-overload]
        StatPartition.published_version, StatPartition.group_key,
        StatPartition.published_at, StatPartition.threshold, StatPartition.cost_ms,
    ).where(StatPartition.helpline_id == helpline_id)
    if lock:
        query = query.with_for_update()
    return {
        str(r[0]): _State(int(r[1]), int(r[2]), str(r[3]), r[4], int(r[5]), int(r[6]))
        for r in session.execute(query).all()
    }


def _closure(
    dirty: Iterable[str], states: Mapping[str, _State],
    comp_parts: Sequence[set[str]], part_comps: Mapping[str, list[int]],
) -> set[str]:
    """The stale years plus every year connected to them, now (by an
    equation) or when they were last published (so a part that split since
    is not left half old, half new)."""
    groups: dict[str, set[str]] = defaultdict(set)
    for name, state in states.items():
        if state.group_key:
            groups[state.group_key].add(name)
    closure: set[str] = set()
    todo = list(dirty)
    while todo:
        name = todo.pop()
        if name in closure:
            continue
        closure.add(name)
        known = states.get(name)
        if known is not None and known.group_key:
            todo.extend(groups[known.group_key])
        for index in part_comps.get(name, ()):
            todo.extend(comp_parts[index])
    return closure


def _group_keys(closure: set[str], comp_parts: Sequence[set[str]]) -> dict[str, str]:
    """Years of the closure that are connected now, keyed by their first year."""
    parent = {name: name for name in closure}

    def find(name: str) -> str:
        while parent[name] != name:
            name = parent[name]
        return name

    for names in comp_parts:
        if names and names <= closure:
            first, *others = sorted(names)
            for other in others:
                a, b = sorted((find(first), find(other)))
                parent[b] = a
    return {name: find(name) for name in closure}


def refresh(
    services: Services, *, budget_ms: int | None = None,
    helpline_id: str = DEFAULT_HELPLINE_ID,
) -> int:
    """Recompute and persist the published values of every stale year (and
    the years connected to it) of one helpline, under its own threshold.
    Returns how many years were published; 0 when nothing was stale, when
    another process published first, or (with `budget_ms`) when those years
    took longer than that the last time."""
    k = services.policy_for(helpline_id).stats_threshold
    started = time.perf_counter()
    with services.db.session() as session:
        states = _states(session, helpline_id)
        dirty = {name for name, state in states.items() if state.dirty(k)}
        if not dirty:
            return 0
        counts = load_counts(session, helpline_id)
        read_at = services.now()
    system = build_system(counts)
    parts = components(system)
    comp_parts = [{partition_of(cell) for cell in part} for part in parts]
    part_comps: dict[str, list[int]] = defaultdict(list)
    for index, names in enumerate(comp_parts):
        for name in names:
            part_comps[name].append(index)
    closure = _closure(dirty, states, comp_parts, part_comps)
    if budget_ms is not None and max(
        (states[name].cost_ms for name in closure if name in states), default=0
    ) > budget_ms:
        return 0
    cells: set[CellId] = set()
    for part, names in zip(parts, comp_parts, strict=True):
        if names <= closure:
            cells |= part
    sub = subsystem(system, cells)
    values = _render(
        sub, suppress(sub, k),
        {cell: n for cell, n in counts.items() if partition_of(cell) in closure}, k,
    )
    groups = _group_keys(closure, comp_parts)
    cost_ms = int((time.perf_counter() - started) * 1000)

    table = StatPublished.__table__  # type: ignore[attr-defined]
    with services.db.session() as session:
        now_states = _states(session, helpline_id, lock=True)
        for name, state in states.items():
            again = now_states.get(name)
            if again is None or (again.published_version, again.group_key, again.threshold) != (
                state.published_version, state.group_key, state.threshold
            ):
                logs.event("stats.refresh_superseded")
                return 0
        session.execute(
            table.delete().where(table.c.helpline_id == helpline_id,
                                 table.c.partition.in_(sorted(closure)))
        )
        rows = [
            {"helpline_id": helpline_id, "period": c[0], "bucket": c[1], "metric": c[2],
             "dimension": c[3], "key": c[4],
             "partition": partition_of(c), "value": str(v)}
            for c, v in sorted(values.items())
        ]
        for start in range(0, len(rows), 500):
            session.execute(table.insert(), rows[start:start + 500])
        for name in sorted(closure):
            row = session.get(StatPartition, (helpline_id, name))
            if row is None:  # counts written without a version (hand-made data)
                row = StatPartition(helpline_id=helpline_id, partition=name)
                session.add(row)
            row.published_version = states[name].version if name in states else row.version
            row.group_key = groups[name]
            row.published_at = read_at
            row.threshold = k
            row.cost_ms = cost_ms
    logs.event("stats.published", count=len(rows), seconds=round(cost_ms / 1000, 3))
    return len(closure)


@dataclass(frozen=True)
class Snapshot:
    """Published values; `as_of` is when the counts behind the oldest stale
    figures were read (now when none is stale)."""

    values: dict[CellId, int | str]
    as_of: datetime
    stale: bool


# Per process: the persisted values as last read, under the partition states
# they were read with (a new publication anywhere changes the key).
_cache: dict[tuple[int, str, str], tuple[object, dict[CellId, int | str]]] = {}


def _parse(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def snapshot(services: Services, helpline_id: str = DEFAULT_HELPLINE_ID) -> Snapshot:
    k = services.policy_for(helpline_id).stats_threshold
    with services.db.session() as session:
        states = _states(session, helpline_id)
    dirty = [name for name, state in states.items() if state.dirty(k)]
    if dirty:
        if not any(state.published_at is not None for state in states.values()):
            # Nothing published yet: there is no older answer to give.
            refresh(services, helpline_id=helpline_id)
        elif max(states[name].cost_ms for name in dirty) <= INLINE_BUDGET_MS:
            refresh(services, budget_ms=INLINE_BUDGET_MS, helpline_id=helpline_id)
    with services.db.session() as session:
        states = _states(session, helpline_id)
        key = (k, sorted((name, s.published_version, s.group_key, s.threshold, s.published_at)
                         for name, s in states.items()))
        slot = (id(services), services.db.url, helpline_id)
        cached = _cache.get(slot)
        if cached is not None and cached[0] == key:
            values = cached[1]
        else:
            values = {
                (r[0], r[1], r[2], r[3], r[4]): _parse(r[5])
                for r in session.execute(
                    select(StatPublished.period, StatPublished.bucket,  # type: ignore[call-overload]
                           StatPublished.metric, StatPublished.dimension,
                           StatPublished.key, StatPublished.value)
                    .where(StatPublished.helpline_id == helpline_id)
                ).all()
            }
            _cache[slot] = (key, values)
    now = services.now()
    stale_at = [s.published_at for s in states.values() if s.dirty(k)]
    as_of = min((at for at in stale_at if at is not None), default=now)
    return Snapshot(values=values, as_of=as_of, stale=bool(stale_at))


def current(
    services: Services, helpline_id: str = DEFAULT_HELPLINE_ID
) -> dict[CellId, int | str]:
    """One helpline's published values (see `snapshot`)."""
    return snapshot(services, helpline_id).values


async def run_refresher(services: Services, stop: asyncio.Event) -> None:
    """From the worker: publish stale statistics in a thread, so requests
    never wait for a recomputation that takes seconds."""
    while not stop.is_set():
        try:
            for helpline in services.helplines.all():
                await asyncio.to_thread(refresh, services, helpline_id=helpline.id)
        except Exception as exc:  # noqa: BLE001 - retried next round; never stops the worker
            logs.event("stats.refresh_failed", logging.WARNING, error=type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=REFRESH_SECONDS)


def report(
    services: Services, period: str, helpline_id: str = DEFAULT_HELPLINE_ID
) -> list[Row]:
    if period not in PERIODS:
        raise StatsError("period must be week or month")
    return rows_for(current(services, helpline_id), period)


