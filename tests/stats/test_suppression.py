"""Small-count suppression: each rule, and a property test that no hidden small
count can be worked out again from everything published.

The property test does not reuse the equations of `helpline.stats.suppression`. It models
the data the way an attacker who reads the code would: every published figure
is a sum of unknown numbers of conversations of each kind (channel, language
or none, urgent or not) on each stretch of days that falls in one ISO week and
one month. A hidden small count can be recomputed exactly when its row lies in
the span of the rows of the visible figures (linear algebra over the
rationals, done modulo a large prime). Zeros that are left out of the output
count as visible zeros, as they are for a reader.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpline.stats import suppression
from helpline.stats.cells import ALL, CONVERSATIONS, URGENT, WAIT, WAIT_MINUTES, CellId, StatsError

K = 5


def cells(period: str, bucket: str, **values: int) -> dict[CellId, int]:
    out: dict[CellId, int] = {}
    for name, value in values.items():
        metric, dimension, key = name.split("__")
        out[(period, bucket, metric, dimension, key)] = value
    return out


def test_counts_from_one_to_k_minus_one_are_shown_as_less_than_k() -> None:
    counts = cells("month", "2026-11", conversations__all__all=40,
                   conversations__topic__health=3, conversations__topic__money=12)
    out = suppression.published(counts, K)
    assert out[("month", "2026-11", CONVERSATIONS, "topic", "health")] == "<5"
    assert out[("month", "2026-11", CONVERSATIONS, "topic", "money")] == 12
    assert out[("month", "2026-11", CONVERSATIONS, ALL, ALL)] == 40


def test_single_hidden_cell_of_a_total_gets_a_complementary_neighbour() -> None:
    counts = cells("month", "2026-11", conversations__all__all=43,
                   conversations__channel__whatsapp=40, conversations__channel__signal=3)
    out = suppression.published(counts, K)
    assert out[("month", "2026-11", CONVERSATIONS, "channel", "signal")] == "<5"
    # Otherwise signal = 43 - 40.
    assert out[("month", "2026-11", CONVERSATIONS, "channel", "whatsapp")] == ">=5"
    assert out[("month", "2026-11", CONVERSATIONS, ALL, ALL)] == 43


def test_next_smallest_cell_is_the_complementary_one() -> None:
    counts = cells("month", "2026-11", conversations__all__all=60,
                   conversations__queue__peer=40, conversations__queue__ggd=2,
                   conversations__queue__pmw=18)
    out = suppression.published(counts, K)
    assert out[("month", "2026-11", CONVERSATIONS, "queue", "ggd")] == "<5"
    assert out[("month", "2026-11", CONVERSATIONS, "queue", "pmw")] == ">=5"
    assert out[("month", "2026-11", CONVERSATIONS, "queue", "peer")] == 40


def test_two_hidden_ones_that_must_both_be_one_get_a_third() -> None:
    # Two hidden cells known to be 1..4 that add up to 2 are both 1.
    counts = cells("month", "2026-11", conversations__all__all=12,
                   conversations__channel__whatsapp=10, conversations__channel__signal=1,
                   conversations__channel__simulator=1)
    out = suppression.published(counts, K)
    assert out[("month", "2026-11", CONVERSATIONS, "channel", "whatsapp")] == ">=5"


def test_a_small_remainder_is_protected_too() -> None:
    # 18 of 20 urgent: "2 were not urgent" is a small count as well.
    counts = cells("month", "2026-11", conversations__all__all=20, urgent__all__all=18,
                   conversations__channel__whatsapp=20)
    out = suppression.published(counts, K)
    assert out[("month", "2026-11", URGENT, ALL, ALL)] == ">=5"


def test_a_small_total_hides_every_part() -> None:
    counts = cells("month", "2026-11", conversations__all__all=4,
                   conversations__channel__whatsapp=3, conversations__channel__signal=1,
                   urgent__all__all=1)
    out = suppression.published(counts, K)
    assert all(v == "<5" for v in out.values())


def test_a_hidden_week_cannot_be_recomputed_from_its_month() -> None:
    # Nov 2026: W45 (Nov 2-8) holds 2 Romanian-speaking conversations, W46 10;
    # the month shows 12, so W45 would be 12 - 10 unless more is hidden.
    counts: dict[CellId, int] = {}
    for period, bucket, n in (("week", "2026-W45", 2), ("week", "2026-W46", 10),
                              ("month", "2026-11", 12)):
        counts.update(cells(period, bucket, conversations__language__ro=n))
    out = suppression.published(counts, K)
    assert out[("week", "2026-W45", CONVERSATIONS, "language", "ro")] == "<5"
    hidden = [c for c, v in out.items() if isinstance(v, str) and c[4] == "ro"]
    assert len(hidden) >= 2


def test_wait_quantiles_only_for_buckets_with_k_answered_conversations() -> None:
    counts = {("week", "2026-W48", WAIT, "bin", "5"): 3,
              ("week", "2026-W48", WAIT, "bin", "60"): 1,
              ("week", "2026-W49", WAIT, "bin", "2"): 5,
              ("week", "2026-W49", WAIT, "bin", "30"): 5}
    out = suppression.published(counts, K)
    assert ("week", "2026-W48", WAIT_MINUTES, "quantile", "median") not in out
    assert out[("week", "2026-W49", WAIT_MINUTES, "quantile", "median")] == 5
    assert out[("week", "2026-W49", WAIT_MINUTES, "quantile", "p90")] == 60
    # The histogram itself is never published.
    assert not any(c[2] == WAIT for c in out)


def test_threshold_below_two_is_refused() -> None:
    try:
        suppression.published(cells("month", "2026-11", conversations__all__all=1), 1)
    except StatsError:
        return
    raise AssertionError("k=1 accepted")


# ------------------------------------------------------------------ the proof

# Jan 18 - Apr 11 2027: February starts on a Monday and ends on a Sunday (its
# weeks add up to the month exactly), March starts on a Monday, and week 13
# straddles March and April.
START = date(2027, 1, 18)
DAYS = 84
CHANNELS = ("whatsapp", "signal")
LANGUAGES = ("nl", "en", None)
KINDS = [(c, lang, u) for c in CHANNELS for lang in LANGUAGES for u in (False, True)]
P = (1 << 61) - 1


def week_of(day: date) -> str:
    iso = day.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def buckets_of(day: date) -> list[tuple[str, str]]:
    return [("week", week_of(day)), ("month", f"{day.year}-{day.month:02d}"),
            ("year", str(day.year))]


def kind_cells(kind: tuple[str, str | None, bool]) -> list[tuple[str, str, str]]:
    channel, language, urgent = kind
    out = [(CONVERSATIONS, ALL, ALL), (CONVERSATIONS, "channel", channel),
           (CONVERSATIONS, "language", language or "*none*")]
    out.append((URGENT, ALL, ALL) if urgent else (URGENT, ALL, "*not*"))
    return out


def reduce(row: dict[int, int], basis: dict[int, dict[int, int]]) -> dict[int, int]:
    row = dict(row)
    while row:
        pivot = min(row)
        base = basis.get(pivot)
        if base is None:
            return row
        factor = row[pivot]
        for col, val in base.items():
            new = (row.get(col, 0) - factor * val) % P
            if new:
                row[col] = new
            else:
                row.pop(col, None)
    return row


def add_to_basis(row: dict[int, int], basis: dict[int, dict[int, int]]) -> None:
    row = reduce(row, basis)
    if not row:
        return
    pivot = min(row)
    inverse = pow(row[pivot], P - 2, P)
    basis[pivot] = {c: v * inverse % P for c, v in row.items()}


def check_nothing_recomputable(conversations: list[tuple[int, int]], k: int) -> None:
    days = [START + timedelta(days=d) for d in range(DAYS)]
    fragment_of = {day: (week_of(day), day.month) for day in days}
    fragments = sorted(set(fragment_of.values()))
    column = {(f, i): n for n, (f, i) in
              enumerate((f, i) for f in fragments for i in range(len(KINDS)))}
    # Row of every figure (published or a sensitive remainder), as columns.
    rows: dict[CellId, dict[int, int]] = defaultdict(dict)
    truth: dict[CellId, int] = defaultdict(int)
    for day in days:
        for i, kind in enumerate(KINDS):
            col = column[(fragment_of[day], i)]
            for period, bucket in buckets_of(day):
                for metric, dimension, key in kind_cells(kind):
                    rows[(period, bucket, metric, dimension, key)][col] = 1
    counts: dict[CellId, int] = defaultdict(int)
    for offset, i in conversations:
        day = days[offset]
        for period, bucket in buckets_of(day):
            for metric, dimension, key in kind_cells(KINDS[i]):
                truth[(period, bucket, metric, dimension, key)] += 1
                if period != "year" and not key.startswith("*"):
                    counts[(period, bucket, metric, dimension, key)] += 1

    out = suppression.published(counts, k)
    basis: dict[int, dict[int, int]] = {}
    for cell, row in rows.items():
        if cell[4].startswith("*"):
            continue  # remainders are never published
        value = out.get(cell, 0)
        if isinstance(value, int):
            assert value == truth.get(cell, 0), cell
            add_to_basis(row, basis)
    for cell, row in rows.items():
        if 1 <= truth.get(cell, 0) < k:
            assert isinstance(out.get(cell, "remainder"), str), cell
            assert reduce(row, basis), f"{cell} = {truth[cell]} can be recomputed"


conversation = st.tuples(st.integers(0, DAYS - 1), st.integers(0, len(KINDS) - 1))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(conversation, max_size=40)
    | st.lists(st.tuples(st.sampled_from([0, 13, 14, 20, 41, 42, 71, 72]),
                         st.integers(0, len(KINDS) - 1)), max_size=40),
    st.sampled_from([3, 5]),
)
def test_no_hidden_small_count_can_be_recomputed(
    conversations: list[tuple[int, int]], k: int
) -> None:
    check_nothing_recomputable(conversations, k)


def test_many_conversations_in_a_few_weeks_keep_every_small_count_hidden() -> None:
    import random

    rng = random.Random(7)
    for _ in range(5):
        data = [(rng.choice([0, 1, 15, 16, 44, 70]), rng.randrange(len(KINDS)))
                for _ in range(rng.randrange(20, 120))]
        check_nothing_recomputable(data, 5)
