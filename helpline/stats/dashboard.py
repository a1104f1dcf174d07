"""The statistics page's figures, as coordinators read them in a meeting:
trends over weeks or months, first-answer times, out-of-hours share,
referrals made and accepted, and one bucket's channels, languages, topics
and queues.

Everything here is built from *published* values only (already suppressed by
helpline/stats/suppression.py): nothing is added up across cells, because a
sum of published cells next to a hidden one would give the hidden one away.
A share (out of hours) is shown only when both of its numbers are published.

Whose figures they are is the `Scope`: today the installation's one helpline;
with several helplines (issue 17) a scope names one of them or the national
view, and only `figures` needs to learn how to select it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from helpline.stats import cells, publishing

if TYPE_CHECKING:
    from helpline.services import Services

Values = Mapping[cells.CellId, int | str]

# How many buckets the trends show: a year of weeks, two years of months.
TREND_BUCKETS = {"week": 52, "month": 24}
BUCKET_FORMS = {"week": re.compile(r"\d{4}-W\d{2}"), "month": re.compile(r"\d{4}-\d{2}")}
BREAKDOWNS = ("channel", "language", "topic", "media", "queue")


@dataclass(frozen=True)
class Scope:
    """Whose figures: one helpline's, or `None`: the national figures (every
    helpline together, helpline.stats.national)."""

    helpline: str | None = None


def figures(services: Services, scope: Scope) -> dict[cells.CellId, int | str]:
    """The published values of a scope."""
    from helpline.stats import national

    if scope.helpline is None:
        return national.current(services)
    return publishing.current(services, scope.helpline)


@dataclass(frozen=True)
class Bar:
    """One line of a bar list: a label, the value as shown, and the bar's
    length as a share of the longest (None: nothing drawn, the value is
    suppressed or missing)."""

    key: str
    shown: str
    fraction: float | None
    suppressed: bool = False

    @property
    def width(self) -> str:
        """The bar's length in a 0-1000 wide SVG; a non-zero count is at least
        visible (a sliver), so 1 of 500 is not drawn as nothing."""
        if self.fraction is None or self.fraction <= 0:
            return "0"
        return f"{max(self.fraction * 1000, 6):.0f}"


@dataclass
class Dashboard:
    period: str
    threshold: int
    buckets: list[str]
    bucket: str | None
    previous: str | None
    following: str | None
    trend: list[Bar] = field(default_factory=list)
    waits: list[tuple[str, Bar, Bar]] = field(default_factory=list)
    outside: list[Bar] = field(default_factory=list)
    urgent: list[Bar] = field(default_factory=list)
    unanswered: list[Bar] = field(default_factory=list)
    partners: list[str] = field(default_factory=list)
    referrals: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)
    breakdowns: dict[str, list[Bar]] = field(default_factory=dict)
    headline: dict[str, tuple[str, str | None]] = field(default_factory=dict)


def valid_bucket(period: str, bucket: str) -> bool:
    form = BUCKET_FORMS.get(period)
    return form is not None and form.fullmatch(bucket) is not None


def is_suppressed(value: int | str | None) -> bool:
    return isinstance(value, str)


def _shown(value: int | str | None) -> str:
    if value is None:
        return "0"
    if isinstance(value, str):
        return value.replace(">=", "≥")
    return str(value)


def bars(items: Sequence[tuple[str, int | str | None]]) -> list[Bar]:
    """Bars scaled to the largest published value of the list."""
    top = max((v for _, v in items if isinstance(v, int)), default=0)
    out = []
    for key, value in items:
        if isinstance(value, int):
            out.append(Bar(key, str(value), value / top if top else 0.0))
        else:
            out.append(Bar(key, _shown(value), None, suppressed=value is not None))
    return out


def _cell(values: Values, period: str, bucket: str, metric: str,
          dimension: str = cells.ALL, key: str = cells.ALL) -> int | str | None:
    return values.get((period, bucket, metric, dimension, key))


def _share(part: int | str | None, whole: int | str | None, k: int) -> Bar:
    """A percentage, only from two published numbers."""
    if isinstance(whole, int) and whole > 0 and (part is None or isinstance(part, int)):
        share = (part or 0) / whole
        return Bar("", f"{round(share * 100)}%", share)
    if isinstance(part, str):
        # The part is hidden: say how many it is at most/least, not a share.
        return Bar("", _shown(part), None, suppressed=True)
    if isinstance(whole, str):
        return Bar("", f"<{k}", None, suppressed=True)
    return Bar("", "–", None)


def minutes(value: int) -> str:
    """A first-answer time bin edge as people say it."""
    if value >= 1440:
        return "≥ 1 d"
    if value >= 60:
        return f"{value // 60} h" if value % 60 == 0 else f"{value / 60:.1f} h"
    return f"{value} min"


def build(values: Values, period: str, bucket: str | None, k: int) -> Dashboard:
    """The page for one period; `bucket` picks the one shown in detail (the
    newest with conversations when None or not published)."""
    buckets = sorted({c[1] for c in values if c[0] == period
                      and c[2] == cells.CONVERSATIONS and c[3] == cells.ALL})
    buckets = buckets[-TREND_BUCKETS.get(period, 52):]
    chosen = bucket if bucket in buckets else (buckets[-1] if buckets else None)
    index = buckets.index(chosen) if chosen is not None else -1
    board = Dashboard(
        period=period, threshold=k, buckets=buckets, bucket=chosen,
        previous=buckets[index - 1] if index > 0 else None,
        following=buckets[index + 1] if 0 <= index < len(buckets) - 1 else None,
    )
    if chosen is None:
        return board
    totals = {b: _cell(values, period, b, cells.CONVERSATIONS) for b in buckets}
    board.trend = bars([(b, totals[b]) for b in buckets])
    board.urgent = bars([(b, _cell(values, period, b, cells.URGENT)) for b in buckets])
    board.unanswered = bars([(b, _cell(values, period, b, cells.NEVER_ANSWERED))
                             for b in buckets])
    board.outside = [
        Bar(b, share.shown, share.fraction, share.suppressed)
        for b in buckets
        for share in [_share(_cell(values, period, b, cells.OUTSIDE_HOURS), totals[b], k)]
    ]
    board.waits = _waits(values, period, buckets, k)
    board.partners, board.referrals = _referrals(values, period, buckets)
    for dimension in BREAKDOWNS:
        keys = sorted({c[4] for c in values if c[0] == period and c[1] == chosen
                       and c[2] == cells.CONVERSATIONS and c[3] == dimension
                       and c[4] != cells.REST})
        board.breakdowns[dimension] = bars(
            [(key, _cell(values, period, chosen, cells.CONVERSATIONS, dimension, key))
             for key in keys]
        )
    board.headline = _headline(values, period, chosen, board.previous, k)
    return board


def _waits(values: Values, period: str, buckets: list[str], k: int) -> list[tuple[str, Bar, Bar]]:
    medians = {b: _cell(values, period, b, cells.WAIT_MINUTES, "quantile", "median")
               for b in buckets}
    p90s = {b: _cell(values, period, b, cells.WAIT_MINUTES, "quantile", "p90") for b in buckets}
    top = max((v for v in p90s.values() if isinstance(v, int)), default=0)
    rows = []
    for b in buckets:
        pair = []
        for value in (medians[b], p90s[b]):
            if isinstance(value, int):
                pair.append(Bar(b, minutes(value), value / top if top else 0.0))
            else:
                # Fewer than k first answers: no time is published.
                pair.append(Bar(b, f"<{k}", None, suppressed=True))
        rows.append((b, pair[0], pair[1]))
    return rows


def _referrals(
    values: Values, period: str, buckets: list[str]
) -> tuple[list[str], list[tuple[str, list[tuple[str, str]]]]]:
    metrics = (cells.REFERRALS_PROPOSED, cells.REFERRALS_ACCEPTED)
    partners = sorted({c[4] for c in values if c[0] == period and c[2] in metrics
                       and c[3] == "partner"})
    rows = []
    for b in buckets:
        line = []
        for partner in partners:
            proposed, accepted = (_cell(values, period, b, m, "partner", partner)
                                  for m in metrics)
            line.append((_shown(proposed), _shown(accepted)))
        if any(v != ("0", "0") for v in line):
            rows.append((b, line))
    return partners, rows


def _headline(values: Values, period: str, bucket: str, previous: str | None,
              k: int) -> dict[str, tuple[str, str | None]]:
    """The figures a meeting starts with, for the bucket and the one before."""
    def pair(metric: str, dimension: str = cells.ALL, key: str = cells.ALL,
             fmt: str = "count") -> tuple[str, str | None]:
        now = _cell(values, period, bucket, metric, dimension, key)
        before = (_cell(values, period, previous, metric, dimension, key)
                  if previous else None)

        def show(value: int | str | None) -> str:
            if fmt == "minutes":
                return minutes(value) if isinstance(value, int) else f"<{k}"
            return _shown(value)
        return show(now), (show(before) if previous else None)

    outside_now = _share(_cell(values, period, bucket, cells.OUTSIDE_HOURS),
                         _cell(values, period, bucket, cells.CONVERSATIONS), k).shown
    outside_before = (
        _share(_cell(values, period, previous, cells.OUTSIDE_HOURS),
               _cell(values, period, previous, cells.CONVERSATIONS), k).shown
        if previous else None
    )
    return {
        "conversations": pair(cells.CONVERSATIONS),
        "median_wait": pair(cells.WAIT_MINUTES, "quantile", "median", fmt="minutes"),
        "outside": (outside_now, outside_before),
        "urgent": pair(cells.URGENT),
    }
