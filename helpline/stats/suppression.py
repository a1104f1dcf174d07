"""Suppression: which counts may be published, and as what.

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

Wait times are stored as counts per coarse bin (minutes), never per
conversation, and a quantile is published only for a bucket with at least k
answered conversations.
"""


from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from sqlalchemy import select
from sqlmodel import Session

from helpline import logs
from helpline.stats.cells import (
    ALERT_SUBSCRIPTIONS,
    ALERTS_SENT,
    ALL,
    CONVERSATIONS,
    ERASURE_REQUESTS,
    NEVER_ANSWERED,
    OUTSIDE_HOURS,
    PARTIAL,
    PARTITIONS,
    PARTS_OF_TOTAL,
    PERIODS,
    REFERRALS_ACCEPTED,
    REFERRALS_PROPOSED,
    REFERRALS_WITHDRAWN,
    REST,
    URGENT,
    VOLUNTEER_NOTIFICATIONS,
    WAIT,
    WAIT_BINS,
    WAIT_MINUTES,
    CellId,
    StatsError,
    bucket_start,
)
from helpline.store.models import (
    DEFAULT_HELPLINE_ID,
    StatCount,
)

if TYPE_CHECKING:
    pass


# ------------------------------------------------------------------ reading


def load_counts(session: Session, helpline_id: str = DEFAULT_HELPLINE_ID) -> dict[CellId, int]:
    rows = session.execute(
        select(StatCount.period, StatCount.bucket, StatCount.metric,  # type: ignore[call-overload]
               StatCount.dimension, StatCount.key, StatCount.count)
        .where(StatCount.helpline_id == helpline_id)
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
    ALERTS_SENT, ALERT_SUBSCRIPTIONS, VOLUNTEER_NOTIFICATIONS,
))}
_DIM_ORDER = {d: i for i, d in enumerate((ALL, "channel", "language", "queue", "topic",
                                           "media"))}


def rows_for(values: Mapping[CellId, int | str], period: str) -> list[Row]:
    selected = [c for c in values if c[0] == period]
    selected.sort(key=lambda c: (c[1], _ORDER.get(c[2], 99), c[2],
                                 _DIM_ORDER.get(c[3], 99), c[3], c[4]))
    return [Row(bucket=c[1], metric=c[2], dimension=c[3], key=c[4], value=values[c])
            for c in selected]


