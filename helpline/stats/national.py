"""National figures: every helpline together, for the national coordinator
role (issue 17). No region's small count can be worked out from them.

How: a national figure is the sum of the regions' *published* figures only
(each already suppressed by that region's own threshold and complementary
suppression, helpline.stats.suppression). A region's "<k" or ">=k" adds
nothing. So everything computable from the national figures and the
regions' published figures is computable from the published figures alone:
"national minus the other regions" gives exactly the sum of the withheld
regions' *published* numbers, which is 0, never the count that was held
back. A national sum that still comes out between 0 and the threshold is
itself shown as "<k". Each figure says how many regions were left out, so
nobody reads a partial sum as the whole country.

Wait quantiles (median, 90th percentile) cannot be added up and are not
combined. Regions may keep their weeks in different time zones; the buckets
are summed by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from helpline.stats import publishing
from helpline.stats.cells import CellId

if TYPE_CHECKING:
    from helpline.services import Services

Published = Mapping[CellId, int | str]


@dataclass(frozen=True)
class NationalCell:
    value: int | str  # a number, or "<k"
    left_out: int  # regions whose figure was withheld (suppressed), not added


def combine(regions: Mapping[str, Published], k: int) -> dict[CellId, NationalCell]:
    """Sum each cell over the regions' published numbers (see the module's
    docstring for why only those)."""
    cells = {cell for published in regions.values() for cell in published
             if cell[3] != "quantile"}
    out: dict[CellId, NationalCell] = {}
    for cell in cells:
        total, left_out = 0, 0
        for published in regions.values():
            value = published.get(cell)
            if isinstance(value, int):
                total += value
            elif value is not None:
                left_out += 1
        shown: int | str = total if total == 0 or total >= k else f"<{k}"
        out[cell] = NationalCell(shown, left_out)
    return out


def regional(services: Services) -> dict[str, Published]:
    """Every helpline's published figures, by slug."""
    return {h.slug: publishing.current(services, h.id) for h in services.helplines.all()}


def national(services: Services) -> dict[CellId, NationalCell]:
    return combine(regional(services), services.policy.stats_threshold)


def current(services: Services) -> dict[CellId, int | str]:
    """The national values alone (the dashboard's input)."""
    return {cell: c.value for cell, c in national(services).items()}
