"""Statistics that cannot identify anyone.

Why it looks like this (DESIGN invariant 4): the mere fact that someone texted
the line is data about their sex life, so the statistics table (`stat_counts`)
holds no texter, conversation, pseudonym, blind index or timestamp. A count is
written *when something happens* (a conversation starts, a referral is
accepted, a volunteer answers), keyed only by a fixed bucket (ISO week
"2026-W48" and calendar month "2026-11", in the policy's time zone), a metric,
a dimension and a key. The figures therefore survive retention and erasure,
and deleting a texter cannot be undone by looking at the counts.

Counts are of distinct conversations, not of messages: each conversation row
carries `stats_flags`, the tokens of what it already moved, so a texter who
sends 500 messages moves any count by at most 1. The flags go with the
conversation when it is deleted; the counts stay. Everything about a
conversation is counted in the bucket where the conversation *started*, so a
breakdown (by topic, by language) always adds up against the same total.
Practice conversations (training in the simulator) are never counted.

Publishing (`published`): only fixed buckets, never free date ranges, so one
query cannot be subtracted from another. A count from 1 to k-1 (k =
`policy.stats_threshold`) is shown as "<k". Complementary suppression hides
more cells (shown as ">=k", a true statement) wherever a hidden count could be
worked out again from a total and its visible neighbours: within a bucket
(channel + ... = total, urgent + not urgent = total), across periods (the weeks
between two Mondays that start a month add up to those months; the months of
a year add up to the year) and from the published bounds themselves (two
hidden cells known to be >= 1 that add up to 2 are both 1). The rule is
applied until no hidden small count is pinned to one value by bounds
propagation over every equation; `tests/stats/test_suppression.py` checks the
result against the linear algebra of all published figures. Parts of the
system that share no equation (a topic's weeks and months, a partner's
referrals) are suppressed independently: hiding a cell in one cannot protect
or expose a cell in another, so they are never hidden on each other's account.

Published values are persisted (`stat_published`) and recomputed only for
the years whose counts changed, in the background (see "publishing" below).

Wait times are stored as counts per coarse bin (minutes), never per
conversation, and a quantile is published only for a bucket with at least k
answered conversations.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Executable, Table, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from helpline import logs
from helpline.store.models import (
    Conversation,
    StatCount,
    StatPartition,
    StatPublished,
    Texter,
    User,
)
from routing import hours
from routing.model import Policy

if TYPE_CHECKING:
    from helpline.services import Services

# ------------------------------------------------------------------ names

CONVERSATIONS = "conversations"
URGENT = "urgent"
OUTSIDE_HOURS = "outside_hours"
NEVER_ANSWERED = "never_answered"
REFERRALS_PROPOSED = "referrals_proposed"
REFERRALS_ACCEPTED = "referrals_accepted"
REFERRALS_WITHDRAWN = "referrals_withdrawn"
ERASURE_REQUESTS = "erasure_requests"
WAIT = "wait_first_answer"  # stored histogram; never published as counts
WAIT_MINUTES = "wait_first_answer_minutes"  # published quantiles

ALL = "all"
# Dimensions of the conversation count that split every conversation into
# exactly one key (so they add up to the total), and those that may leave
# some conversations out (the remainder is an unpublished "rest").
PARTITIONS = ("channel", "queue")
PARTIAL = ("language",)
# Single counts that are a part of the conversation total.
PARTS_OF_TOTAL = (URGENT, OUTSIDE_HOURS, NEVER_ANSWERED)
REFERRAL_STAGES = {"proposed": REFERRALS_PROPOSED, "accepted": REFERRALS_ACCEPTED,
                   "withdrawn": REFERRALS_WITHDRAWN}

# Lower edges of the wait bins in minutes; the last bin is open ("a day or more").
WAIT_BINS = (0, 1, 2, 5, 10, 15, 30, 60, 120, 240, 480, 1440)

Period = Literal["week", "month", "year"]
PERIODS: tuple[Period, ...] = ("week", "month")
CellId = tuple[str, str, str, str, str]  # period, bucket, metric, dimension, key
REST = "*rest*"  # key of the unpublished remainder of a partial dimension

_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_FLAGS_MAX = 2000


class StatsError(ValueError):
    pass


# ------------------------------------------------------------------ buckets


def buckets_for(moment: datetime, policy: Policy) -> tuple[tuple[str, str], ...]:
    """(period, bucket) pairs for a moment, in the line's own time zone."""
    day = hours.local(moment, policy).date()
    iso = day.isocalendar()
    return (("week", f"{iso.year}-W{iso.week:02d}"), ("month", f"{day.year}-{day.month:02d}"))


def bucket_start(period: str, bucket: str) -> date:
    if period == "week":
        year, week = bucket.split("-W")
        return date.fromisocalendar(int(year), int(week), 1)
    if period == "month":
        year, month = bucket.split("-")
        return date(int(year), int(month), 1)
    return date(int(bucket), 1, 1)


def _key(value: str | None) -> str:
    if value is None or not _KEY.fullmatch(value):
        return "other"
    return value


# ------------------------------------------------------------------ recording


def _mark(conversation: Conversation, token: str) -> bool:
    """Set a per-conversation flag; False when it was already set (or the
    flags are full: then we fail closed and count nothing more)."""
    flags = set(conversation.stats_flags.split())
    if token in flags:
        return False
    flags.add(token)
    joined = " ".join(sorted(flags))
    if len(joined) > _FLAGS_MAX:
        logs.event("stats.flags_full", conversation=conversation.id)
        return False
    conversation.stats_flags = joined
    return True


def _has(conversation: Conversation, token: str) -> bool:
    return token in conversation.stats_flags.split()


def _upserts(
    dialect_insert: Callable[[Table], Any],
) -> tuple[Executable, Executable]:
    counts_table: Table = StatCount.__table__  # type: ignore[attr-defined]
    counts = dialect_insert(counts_table)
    counts = counts.on_conflict_do_update(
        index_elements=["period", "bucket", "metric", "dimension", "key"],
        set_={"count": counts_table.c.count + counts.excluded.count},
    )
    parts_table: Table = StatPartition.__table__  # type: ignore[attr-defined]
    parts = dialect_insert(parts_table)
    parts = parts.on_conflict_do_update(
        index_elements=["partition"], set_={"version": parts_table.c.version + 1}
    )
    return counts, parts


# Built once and run with a list of rows (executemany): a multi-row VALUES
# statement has a new shape for every number of rows, and SQLAlchemy compiled
# it afresh each time (a quarter of the cost of a new texter's first message).
_UPSERTS = {"postgresql": _upserts(pg_insert), "sqlite": _upserts(sqlite_insert)}


def add_counts(session: Session, counts: Mapping[CellId, int]) -> None:
    """Add to stored counts (upsert). Rows go in sorted order, so two
    transactions touching the same rows lock them in the same order."""
    rows = [
        {"period": p, "bucket": b, "metric": m, "dimension": d, "key": k, "count": n}
        for (p, b, m, d, k), n in sorted(counts.items())
        if n
    ]
    if not rows:
        return
    upsert_counts, upsert_parts = _UPSERTS[session.get_bind().dialect.name]
    connection = session.connection()
    connection.execute(upsert_counts, rows)
    # Same transaction: the published figures of these years are now stale.
    parts = sorted({partition_of(cell) for cell, n in counts.items() if n})
    connection.execute(upsert_parts, [
        {"partition": p, "version": 1, "published_version": 0, "group_key": "",
         "threshold": 0, "cost_ms": 0} for p in parts
    ])


def partition_of(cell: CellId) -> str:
    """The year a cell's bucket belongs to ("2026-W01", "2026-11", "2026")."""
    return cell[1][:4]


def _bump(
    services: Services, session: Session, moment: datetime,
    items: Iterable[tuple[str, str, str]],
) -> None:
    counts: dict[CellId, int] = {}
    wanted = sorted(set(items))
    if not wanted:
        return
    for period, bucket in buckets_for(moment, services.policy):
        for metric, dimension, key in wanted:
            counts[(period, bucket, metric, dimension, key)] = 1
    add_counts(session, counts)


def observe_conversation(
    services: Services, session: Session, conversation: Conversation, language: str | None
) -> None:
    """Count what is now true of a conversation and was not counted yet: the
    conversation itself (with its channel, first queue and whether it started
    outside opening hours), its language once known, urgency once marked.
    Safe to call after every message: each count moves once per conversation."""
    if conversation.practice:
        return
    items: list[tuple[str, str, str]] = []
    if _mark(conversation, "c"):
        items += [
            (CONVERSATIONS, ALL, ALL),
            (CONVERSATIONS, "channel", _key(conversation.channel)),
            (CONVERSATIONS, "queue", _key(conversation.queue)),
        ]
        if not hours.is_open(conversation.created_at, services.policy):
            items.append((OUTSIDE_HOURS, ALL, ALL))
    if language and _mark(conversation, "l"):
        items.append((CONVERSATIONS, "language", _key(language)))
    if conversation.priority == "urgent" and _mark(conversation, "u"):
        items.append((URGENT, ALL, ALL))
    _bump(services, session, conversation.created_at, items)


def record_label(
    services: Services, session: Session, conversation: Conversation, topic: str
) -> None:
    """A topic label was set in the console (counted once per conversation and
    topic; removing the label later does not uncount it)."""
    if conversation.practice:
        return
    key = _key(topic)
    if _mark(conversation, f"t:{key}"):
        _bump(services, session, conversation.created_at, [(CONVERSATIONS, "topic", key)])


def record_referral(
    services: Services, session: Session, conversation: Conversation, partner: str,
    stage: Literal["proposed", "accepted", "withdrawn"],
) -> None:
    if conversation.practice:
        return
    metric = REFERRAL_STAGES.get(stage)
    if metric is None:
        raise StatsError(f"unknown referral stage {stage!r}")
    key = _key(partner)
    if _mark(conversation, f"r{stage[0]}:{key}"):
        _bump(services, session, conversation.created_at, [(metric, "partner", key)])


def wait_bin(minutes: float) -> str:
    edge = max(b for b in WAIT_BINS if b <= max(minutes, 0))
    return str(edge)


def record_first_answer(
    services: Services, session: Session, conversation: Conversation, now: datetime
) -> None:
    """The first human answer: one count in the wait histogram of the bucket
    where the conversation started. No per-conversation duration is kept."""
    if conversation.practice or _has(conversation, "n"):
        return
    if _mark(conversation, "w"):
        minutes = (now - conversation.created_at).total_seconds() / 60
        _bump(services, session, conversation.created_at, [(WAIT, "bin", wait_bin(minutes))])


def record_closed(
    services: Services, session: Session, conversation: Conversation, now: datetime
) -> None:
    """A conversation closed (or is about to be deleted): never answered by a
    human if no answer was counted."""
    if _newly_never_answered(conversation):
        _bump(services, session, conversation.created_at, [(NEVER_ANSWERED, ALL, ALL)])


def _newly_never_answered(conversation: Conversation) -> bool:
    """True once per conversation that ends without a human answer."""
    if conversation.practice or conversation.first_response_at is not None:
        return False
    return not _has(conversation, "w") and _mark(conversation, "n")


def record_removed(
    services: Services, session: Session, texter_ids: Sequence[str], now: datetime
) -> None:
    """Texters are about to be deleted (erasure or retention): their
    conversations without a human answer count as never answered."""
    if not texter_ids:
        return
    conversations = session.exec(  # type: ignore[call-overload]
        select(Conversation).where(
            Conversation.texter_id.in_(list(texter_ids)),  # type: ignore[attr-defined]
            Conversation.practice.is_(False),  # type: ignore[attr-defined]
            Conversation.first_response_at.is_(None),  # type: ignore[union-attr]
        )
    ).scalars().all()
    # One upsert for the whole batch, not one per conversation: a retention
    # purge removes thousands of texters at a time.
    counts: dict[CellId, int] = {}
    for conversation in conversations:
        if not _newly_never_answered(conversation):
            continue
        for period, bucket in buckets_for(conversation.created_at, services.policy):
            cell = (period, bucket, NEVER_ANSWERED, ALL, ALL)
            counts[cell] = counts.get(cell, 0) + 1
    add_counts(session, counts)


def record_erasure(
    services: Services, session: Session, texter: Texter, now: datetime
) -> None:
    """A texter (or an admin on their behalf) asked to be erased. Counted in
    the bucket of the request; retention is not a request and is not counted."""
    if texter.practice:
        return
    _bump(services, session, now, [(ERASURE_REQUESTS, ALL, ALL)])


# ------------------------------------------------------------------ reading


def load_counts(session: Session) -> dict[CellId, int]:
    rows = session.execute(
        select(StatCount.period, StatCount.bucket, StatCount.metric,  # type: ignore[call-overload]
               StatCount.dimension, StatCount.key, StatCount.count)
    ).all()
    return {(r[0], r[1], r[2], r[3], r[4]): int(r[5]) for r in rows if r[5]}


@dataclass
class System:
    """All published cells (stored weeks and months, years summed from
    months), the unpublished remainders, and every linear equation between
    them that anyone who reads this code knows to hold."""

    values: dict[CellId, int]
    rests: set[CellId] = field(default_factory=set)
    equations: list[list[tuple[CellId, int]]] = field(default_factory=list)


def build_system(counts: Mapping[CellId, int]) -> System:
    values: dict[CellId, int] = {}
    for cell, n in counts.items():
        if cell[2] == WAIT or cell[0] not in PERIODS:
            continue
        values[cell] = n
        if cell[0] == "month":
            year: CellId = ("year", cell[1][:4], cell[2], cell[3], cell[4])
            values[year] = values.get(year, 0) + n
    system = System(values=values)
    by_bucket: dict[tuple[str, str], list[CellId]] = defaultdict(list)
    for cell in list(values):
        by_bucket[(cell[0], cell[1])].append(cell)

    # Within a bucket: parts of the conversation total.
    for (period, bucket), cells in by_bucket.items():
        total: CellId = (period, bucket, CONVERSATIONS, ALL, ALL)
        for dimension in (*PARTITIONS, *PARTIAL):
            parts = [c for c in cells if c[2] == CONVERSATIONS and c[3] == dimension]
            _group(system, total, parts, rest=dimension in PARTIAL)
        for metric in PARTS_OF_TOTAL:
            _group(system, total, [c for c in cells if c[2] == metric], rest=True)

    # Across periods, per cell key (rests included).
    series: dict[tuple[str, str, str], dict[str, list[CellId]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for cell in values:  # rests included
        series[(cell[2], cell[3], cell[4])][cell[0]].append(cell)
    # A month that starts on a Monday starts a week too: the weeks before it
    # add up to the months before it.
    month_starts = {bucket_start("month", c[1]) for c in values if c[0] == "month"}
    cuts = sorted(d for d in month_starts if d.weekday() == 0)

    def segment(cell: CellId) -> int:
        start = bucket_start(cell[0], cell[1])
        return sum(1 for cut in cuts if cut <= start)

    for periods in series.values():
        chains: dict[int, list[tuple[CellId, int]]] = defaultdict(list)
        for cell in periods.get("week", []):
            chains[segment(cell)].append((cell, 1))
        for cell in periods.get("month", []):
            chains[segment(cell)].append((cell, -1))
        # (Both sides always exist in real data; a one-sided chain would only
        # come from hand-made counts.)
        system.equations.extend(
            chain for chain in chains.values() if {a for _, a in chain} == {1, -1}
        )
        months_of: dict[str, list[CellId]] = defaultdict(list)
        for cell in periods.get("month", []):
            months_of[cell[1][:4]].append(cell)
        for cell in periods.get("year", []):
            system.equations.append([(m, 1) for m in months_of[cell[1]]] + [(cell, -1)])
    return system


def _group(system: System, total: CellId, parts: list[CellId], *, rest: bool) -> None:
    total_value = system.values.get(total, 0)
    if not parts:
        # Nothing counted in this dimension: no equation to protect (a part
        # that is zero is published as zero).
        return
    equation = [(c, 1) for c in parts] + [(total, -1)]
    if total not in system.values:
        # No conversation counted in this bucket, yet parts exist (data from
        # before an upgrade): publish them, but there is no equation to keep.
        return
    if rest:
        remainder = total_value - sum(system.values[c] for c in parts)
        if remainder < 0:
            logs.event("stats.inconsistent_group", kind=parts[0][2])
            return
        rest_cell: CellId = (total[0], total[1], parts[0][2], parts[0][3], REST)
        system.values[rest_cell] = remainder
        system.rests.add(rest_cell)
        equation.append((rest_cell, 1))
    system.equations.append(equation)


Status = Literal["visible", "primary", "complementary"]
INF = math.inf
# Enough passes for the tightening that matters (pinning a value takes a
# couple); each pass is linear in the size of the hidden system.
PASSES = 12


def suppress(system: System, k: int) -> dict[CellId, Status]:
    """Primary suppression of 1..k-1, then complementary suppression until no
    hidden small count (a published cell or an unpublished remainder) is
    pinned to a single value by the equations and the published bounds."""
    if k < 2:
        raise StatsError("the statistics threshold must be at least 2")
    status: dict[CellId, Status] = {}
    # Parts of the system that share no equation cannot leak into each other:
    # each is suppressed on its own (same choices, far fewer cells per pass;
    # one part that cannot be resolved no longer stops the others).
    for part in components(system):
        if len(part) == 1:
            (cell,) = part
            if cell not in system.rests:
                value = system.values[cell]
                status[cell] = "primary" if 1 <= value < k else "visible"
            continue
        status.update(_suppress_part(subsystem(system, part), k))
    return status


def connected(
    cells: Iterable[CellId], links: Iterable[Sequence[CellId]]
) -> dict[CellId, set[CellId]]:
    """Union-find: `cells` grouped so that the cells of each link (and
    everything linked to them, transitively) share a group, keyed by one
    member of it."""
    parent: dict[CellId, CellId] = {cell: cell for cell in cells}

    def find(cell: CellId) -> CellId:
        while parent[cell] != cell:
            parent[cell] = parent[parent[cell]]
            cell = parent[cell]
        return cell

    for link in links:
        root = find(link[0])
        for cell in link[1:]:
            other = find(cell)
            if other != root:
                parent[other] = root
    groups: dict[CellId, set[CellId]] = defaultdict(set)
    for cell in parent:
        groups[find(cell)].add(cell)
    return groups


def components(system: System) -> list[set[CellId]]:
    """Cells connected by equations, rests included."""
    groups = connected(system.values, ([c for c, _ in eq] for eq in system.equations))
    return sorted(groups.values(), key=min)


def subsystem(system: System, cells: set[CellId]) -> System:
    return System(
        values={c: v for c, v in system.values.items() if c in cells},
        rests={c for c in system.rests if c in cells},
        equations=[eq for eq in system.equations if eq[0][0] in cells],
    )


def _suppress_part(system: System, k: int) -> dict[CellId, Status]:
    status: dict[CellId, Status] = {}
    for cell, value in system.values.items():
        if cell in system.rests:
            continue
        status[cell] = "primary" if 1 <= value < k else "visible"
    containing: dict[CellId, list[int]] = defaultdict(list)
    for index, equation in enumerate(system.equations):
        for cell, _ in equation:
            containing[cell].append(index)
    totals = {c for c in system.values if c[2] == CONVERSATIONS and c[3] == ALL}

    groups: dict[frozenset[CellId], dict[CellId, tuple[float, float]]] = {}
    for _round in range(10_000):
        bounds = propagate(system, status, k, groups)
        pinned = sorted(
            c for c, (lo, hi) in bounds.items()
            # lo > hi cannot happen with consistent data; treat it as pinned.
            if lo >= hi and 1 <= system.values[c] < k
        )
        if not pinned:
            return status
        # The leak may run through any value the reader can pin (a hidden
        # neighbour pinned by another equation): look next to those too. One
        # complementary cell per pinned small count per round.
        leaking = {c for c, (lo, hi) in bounds.items() if lo >= hi}
        chosen: set[CellId] = set()
        # Statuses change only at the end of a round: the best cell to hide
        # in an equation is worked out once per round.
        best_of: dict[int, tuple[bool, int, CellId] | None] = {}

        for cell in pinned:
            near = {cell} | {
                c for index in containing[cell] for c, _ in system.equations[index]
                if c in leaking
            }
            indexes = {index for pinned_cell in near for index in containing[pinned_cell]}
            for index in indexes - best_of.keys():
                best_of[index] = min(
                    ((c in totals, system.values[c], c)
                     for c, _ in system.equations[index]
                     if status.get(c) == "visible" and system.values[c] >= k),
                    default=None,
                )
            best = min((o for i in indexes if (o := best_of[i]) is not None), default=None)
            if best is not None:
                chosen.add(best[2])
                continue
            # Nothing left to hide next to it: hide every visible cell of its
            # buckets (their totals included) rather than publish it.
            buckets = {(c[0], c[1]) for index in containing[cell]
                       for c, _ in system.equations[index]}
            chosen.update(
                other for other in status
                if (other[0], other[1]) in buckets and status[other] == "visible"
                and system.values[other] >= k
            )
        if not chosen:
            logs.event("stats.suppression_unresolved", count=len(pinned))
            return status
        for cell in chosen:
            status[cell] = "complementary"
    logs.event("stats.suppression_rounds_exhausted")
    return status


def propagate(
    system: System, status: Mapping[CellId, Status], k: int,
    cache: dict[frozenset[CellId], dict[CellId, tuple[float, float]]] | None = None,
) -> dict[CellId, tuple[float, float]]:
    """What a reader can deduce about each hidden value: start from the
    published bounds ("<k" is 1..k-1, ">=k" is k or more, a remainder is 0 or
    more) and tighten them with every equation until nothing changes."""
    bounds: dict[CellId, tuple[float, float]] = {}
    for cell in system.values:
        state = "rest" if cell in system.rests else status[cell]
        if state == "primary":
            bounds[cell] = (1, k - 1)
        elif state == "complementary":
            bounds[cell] = (k, INF)
        elif state == "rest":
            bounds[cell] = (0, INF)
    if not bounds:
        return bounds
    work: list[tuple[list[tuple[CellId, int]], float]] = []
    for eq in system.equations:
        unknown = [(c, a) for c, a in eq if c in bounds]
        if unknown:
            constant: float = -sum(a * system.values[c] for c, a in eq if c not in bounds)
            work.append((unknown, constant))
    if cache is None:
        _tighten(work, bounds)
        return bounds
    # Bounds only travel between hidden cells that share an equation. A group
    # of such cells with the same members as in the last round has the same
    # equations, constants and starting bounds, so the same result: only the
    # groups a newly hidden cell joined are tightened again.
    members = connected(bounds, ([c for c, _ in unknown] for unknown, _ in work))
    root_of = {cell: root for root, cells in members.items() for cell in cells}
    work_of: dict[CellId, list[tuple[list[tuple[CellId, int]], float]]] = defaultdict(list)
    for item in work:
        work_of[root_of[item[0][0][0]]].append(item)
    fresh: dict[frozenset[CellId], dict[CellId, tuple[float, float]]] = {}
    out: dict[CellId, tuple[float, float]] = {}
    for root, cells in members.items():
        key = frozenset(cells)
        local = cache.get(key)
        if local is None:
            local = {cell: bounds[cell] for cell in cells}
            _tighten(work_of.get(root, []), local)
        fresh[key] = local
        out.update(local)
    cache.clear()
    cache.update(fresh)
    return out


def _tighten(
    work: Sequence[tuple[list[tuple[CellId, int]], float]],
    bounds: dict[CellId, tuple[float, float]],
) -> None:
    for _pass in range(PASSES):
        changed = False
        for unknown, constant in work:
            # Sum of the smallest and largest contributions, keeping the
            # infinite ones apart so "the others" is one subtraction.
            low_sum: float = 0.0
            high_sum: float = 0.0
            low_inf = high_inf = 0
            parts = []
            for cell, a in unknown:
                lo, hi = bounds[cell]
                low, high = (a * lo, a * hi) if a > 0 else (a * hi, a * lo)
                parts.append((low, high))
                if low == -INF:
                    low_inf += 1
                else:
                    low_sum += low
                if high == INF:
                    high_inf += 1
                else:
                    high_sum += high
            for (cell, a), (low, high) in zip(unknown, parts, strict=True):
                others_low_inf = low_inf - (low == -INF)
                others_high_inf = high_inf - (high == INF)
                rest_min = -INF if others_low_inf else low_sum - (0 if low == -INF else low)
                rest_max = INF if others_high_inf else high_sum - (0 if high == INF else high)
                if a > 0:
                    new_lo, new_hi = constant - rest_max, constant - rest_min
                else:
                    new_lo, new_hi = rest_min - constant, rest_max - constant
                lo, hi = bounds[cell]
                lo2, hi2 = max(lo, new_lo), min(hi, new_hi)
                if (lo2, hi2) != (lo, hi):
                    bounds[cell] = (lo2, hi2)
                    changed = True
        if not changed:
            break


@dataclass(frozen=True)
class Row:
    bucket: str
    metric: str
    dimension: str
    key: str
    value: int | str


def published(counts: Mapping[CellId, int], k: int) -> dict[CellId, int | str]:
    """Every publishable value, all periods at once (so the week, month and
    year views are suppressed consistently with each other)."""
    system = build_system(counts)
    return _render(system, suppress(system, k), counts, k)


def _render(
    system: System, status: Mapping[CellId, Status], counts: Mapping[CellId, int], k: int
) -> dict[CellId, int | str]:
    out: dict[CellId, int | str] = {}
    for cell, state in status.items():
        value = system.values[cell]
        out[cell] = (
            value if state == "visible" else f"<{k}" if state == "primary" else f">={k}"
        )
    for cell, value in _wait_quantiles(counts, k).items():
        out[cell] = value
    return out


def _wait_quantiles(counts: Mapping[CellId, int], k: int) -> dict[CellId, int]:
    histograms: dict[tuple[str, str], dict[int, int]] = defaultdict(dict)
    for (period, bucket, metric, _dimension, key), n in counts.items():
        if metric == WAIT and period in PERIODS and key.isdigit():
            histograms[(period, bucket)][int(key)] = n
    out: dict[CellId, int] = {}
    for (period, bucket), histogram in histograms.items():
        total = sum(histogram.values())
        if total < k:
            continue
        for name, q in (("median", 0.5), ("p90", 0.9)):
            out[(period, bucket, WAIT_MINUTES, "quantile", name)] = _quantile(histogram, total, q)
    return out


def _quantile(histogram: Mapping[int, int], total: int, q: float) -> int:
    """Upper edge (minutes) of the bin holding the q-quantile (nearest rank);
    the open last bin reports its lower edge, 1440 = "a day or more"."""
    rank = max(1, math.ceil(q * total))
    seen = 0
    for index, edge in enumerate(WAIT_BINS):
        seen += histogram.get(edge, 0)
        if seen >= rank:
            return WAIT_BINS[index + 1] if index + 1 < len(WAIT_BINS) else edge
    return WAIT_BINS[-1]


_ORDER = {m: i for i, m in enumerate((
    CONVERSATIONS, URGENT, OUTSIDE_HOURS, NEVER_ANSWERED, WAIT_MINUTES,
    REFERRALS_PROPOSED, REFERRALS_ACCEPTED, REFERRALS_WITHDRAWN, ERASURE_REQUESTS,
))}
_DIM_ORDER = {d: i for i, d in enumerate((ALL, "channel", "language", "queue", "topic"))}


def rows_for(values: Mapping[CellId, int | str], period: str) -> list[Row]:
    selected = [c for c in values if c[0] == period]
    selected.sort(key=lambda c: (c[1], _ORDER.get(c[2], 99), c[2],
                                 _DIM_ORDER.get(c[3], 99), c[3], c[4]))
    return [Row(bucket=c[1], metric=c[2], dimension=c[3], key=c[4], value=values[c])
            for c in selected]


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


def _states(session: Session, *, lock: bool = False) -> dict[str, _State]:
    query = select(
        StatPartition.partition, StatPartition.version,  # type: ignore[call-overload]
        StatPartition.published_version, StatPartition.group_key,
        StatPartition.published_at, StatPartition.threshold, StatPartition.cost_ms,
    )
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


def refresh(services: Services, *, budget_ms: int | None = None) -> int:
    """Recompute and persist the published values of every stale year (and
    the years connected to it). Returns how many years were published; 0 when
    nothing was stale, when another process published first, or (with
    `budget_ms`) when those years took longer than that the last time."""
    k = services.policy.stats_threshold
    started = time.perf_counter()
    with services.db.session() as session:
        states = _states(session)
        dirty = {name for name, state in states.items() if state.dirty(k)}
        if not dirty:
            return 0
        counts = load_counts(session)
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
        now_states = _states(session, lock=True)
        for name, state in states.items():
            again = now_states.get(name)
            if again is None or (again.published_version, again.group_key, again.threshold) != (
                state.published_version, state.group_key, state.threshold
            ):
                logs.event("stats.refresh_superseded")
                return 0
        session.execute(
            table.delete().where(table.c.partition.in_(sorted(closure)))
        )
        rows = [
            {"period": c[0], "bucket": c[1], "metric": c[2], "dimension": c[3], "key": c[4],
             "partition": partition_of(c), "value": str(v)}
            for c, v in sorted(values.items())
        ]
        for start in range(0, len(rows), 500):
            session.execute(table.insert(), rows[start:start + 500])
        for name in sorted(closure):
            row = session.get(StatPartition, name)
            if row is None:  # counts written without a version (hand-made data)
                row = StatPartition(partition=name)
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
_cache: dict[tuple[int, str], tuple[object, dict[CellId, int | str]]] = {}


def _parse(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def snapshot(services: Services) -> Snapshot:
    k = services.policy.stats_threshold
    with services.db.session() as session:
        states = _states(session)
    dirty = [name for name, state in states.items() if state.dirty(k)]
    if dirty:
        if not any(state.published_at is not None for state in states.values()):
            refresh(services)  # nothing published yet: there is no older answer to give
        elif max(states[name].cost_ms for name in dirty) <= INLINE_BUDGET_MS:
            refresh(services, budget_ms=INLINE_BUDGET_MS)
    with services.db.session() as session:
        states = _states(session)
        key = (k, sorted((name, s.published_version, s.group_key, s.threshold, s.published_at)
                         for name, s in states.items()))
        slot = (id(services), services.db.url)
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
                ).all()
            }
            _cache[slot] = (key, values)
    now = services.now()
    stale_at = [s.published_at for s in states.values() if s.dirty(k)]
    as_of = min((at for at in stale_at if at is not None), default=now)
    return Snapshot(values=values, as_of=as_of, stale=bool(stale_at))


def current(services: Services) -> dict[CellId, int | str]:
    """The published values (see `snapshot`)."""
    return snapshot(services).values


async def run_refresher(services: Services, stop: asyncio.Event) -> None:
    """From the worker: publish stale statistics in a thread, so requests
    never wait for a recomputation that takes seconds."""
    while not stop.is_set():
        try:
            await asyncio.to_thread(refresh, services)
        except Exception as exc:  # noqa: BLE001 - retried next round; never stops the worker
            logs.event("stats.refresh_failed", logging.WARNING, error=type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=REFRESH_SECONDS)


def report(services: Services, period: str) -> list[Row]:
    if period not in PERIODS:
        raise StatsError("period must be week or month")
    return rows_for(current(services), period)


# ------------------------------------------------------------------ transparency


@dataclass
class Transparency:
    year: int
    threshold: int
    figures: list[Row]
    accounts: dict[str, int]
    audit: dict[str, int]
    as_of: datetime | None = None
    stale: bool = False


def transparency(services: Services, year: int) -> Transparency:
    """A yearly summary a coordinator can publish as it is: conversations,
    erasure requests and referrals (suppressed like everything else), the
    number of accounts with access by role, and how often the audit log
    recorded access (by kind of action; no actor, no object)."""
    snap = snapshot(services)
    values = snap.values
    with services.db.session() as session:
        accounts = {
            str(role): int(n)
            for role, n in session.execute(
                select(User.role, func.count()).where(User.disabled == False)  # type: ignore[call-overload]  # noqa: E712
                .group_by(User.role)
            ).all()
        }
        audit = _audit_counts(session, year)
    wanted = {CONVERSATIONS: (ALL,), ERASURE_REQUESTS: (ALL,), REFERRALS_PROPOSED: ("partner",),
              REFERRALS_ACCEPTED: ("partner",), REFERRALS_WITHDRAWN: ("partner",)}
    figures = [
        row for row in rows_for(values, "year")
        if row.bucket == str(year) and row.dimension in wanted.get(row.metric, ())
    ]
    return Transparency(year=year, threshold=services.policy.stats_threshold,
                        figures=figures, accounts=accounts, audit=audit,
                        as_of=snap.as_of, stale=snap.stale)


def _audit_counts(session: Session, year: int) -> dict[str, int]:
    from helpline.store import models

    entry = getattr(models, "AuditEntry", None)
    if entry is None:
        return {}
    start = datetime(year, 1, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC)
    rows = session.execute(
        select(entry.action, func.count())
        .where(entry.at >= start, entry.at < end)
        .group_by(entry.action)
    ).all()
    return {str(action): int(n) for action, n in rows}
