"""Opening hours: edges, closed dates and the daylight-saving changes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time

import pytest

from routing import hours
from routing.model import Policy

from .helpers import AMS, POLICY


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=AMS)


@pytest.mark.parametrize(
    ("moment", "is_open"),
    [
        (local(2026, 3, 2, 9, 59), False),  # Monday, a minute before opening
        (local(2026, 3, 2, 10, 0), True),
        (local(2026, 3, 2, 15, 59), True),  # a minute before closing
        (local(2026, 3, 2, 16, 0), False),  # closing time is exclusive
        (local(2026, 3, 2, 16, 1), False),
        (local(2026, 3, 4, 18, 59), False),  # Wednesday between the two ranges
        (local(2026, 3, 4, 19, 0), True),
        (local(2026, 3, 4, 21, 59), True),
        (local(2026, 3, 4, 22, 0), False),
        (local(2026, 3, 7, 12, 0), False),  # Saturday
        (local(2026, 4, 6, 12, 0), False),  # Easter Monday: closed date
        (local(2026, 4, 7, 12, 0), True),
        (local(2026, 12, 25, 12, 0), False),  # Christmas, a Friday
        # Daylight saving starts Sunday 29 March 2026; Monday 10:00 is 08:00 UTC.
        (datetime(2026, 3, 30, 7, 59, tzinfo=UTC), False),
        (datetime(2026, 3, 30, 8, 0, tzinfo=UTC), True),
        (datetime(2026, 3, 30, 13, 59, tzinfo=UTC), True),
        (datetime(2026, 3, 30, 14, 0, tzinfo=UTC), False),
        # Daylight saving ends Sunday 25 October 2026; Monday 10:00 is 09:00 UTC.
        (datetime(2026, 10, 26, 8, 59, tzinfo=UTC), False),
        (datetime(2026, 10, 26, 9, 0, tzinfo=UTC), True),
        (datetime(2026, 10, 26, 14, 59, tzinfo=UTC), True),
        (datetime(2026, 10, 26, 15, 0, tzinfo=UTC), False),
    ],
)
def test_is_open_at_the_edges(moment: datetime, is_open: bool) -> None:
    assert hours.is_open(moment, POLICY) is is_open


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        # Friday after closing -> Monday 10:00.
        (local(2026, 3, 6, 16, 0), local(2026, 3, 9, 10, 0)),
        # Monday a minute before opening -> the same morning.
        (local(2026, 3, 2, 9, 59), local(2026, 3, 2, 10, 0)),
        # Wednesday afternoon -> the evening range.
        (local(2026, 3, 4, 16, 30), local(2026, 3, 4, 19, 0)),
        # Across the March change: Saturday 28 March -> Monday 30 March 10:00 CEST.
        (local(2026, 3, 28, 12, 0), local(2026, 3, 30, 10, 0)),
        # Across the October change.
        (local(2026, 10, 24, 12, 0), local(2026, 10, 26, 10, 0)),
        # Easter: Friday 3 April after closing -> Tuesday 7 April (Monday closed).
        (local(2026, 4, 3, 17, 0), local(2026, 4, 7, 10, 0)),
        # Christmas: Thursday 24 December evening -> Monday 28 December.
        (local(2026, 12, 24, 17, 0), local(2026, 12, 28, 10, 0)),
    ],
)
def test_next_opening(moment: datetime, expected: datetime) -> None:
    opening = hours.next_opening(moment, POLICY)
    assert opening == expected
    assert opening is not None
    assert opening.tzinfo is UTC


def test_next_opening_wall_clock_survives_dst() -> None:
    before = hours.next_opening(local(2026, 3, 27, 17, 0), POLICY)
    assert before == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)  # 10:00 CEST
    after = hours.next_opening(local(2026, 10, 23, 17, 0), POLICY)
    assert after == datetime(2026, 10, 26, 9, 0, tzinfo=UTC)  # 10:00 CET


def test_naive_now_is_utc() -> None:
    assert hours.is_open(datetime(2026, 3, 2, 11, 0), POLICY)  # 12:00 CET


def test_empty_schedule_is_always_open_and_has_no_next_opening() -> None:
    assert hours.is_open(local(2026, 3, 7, 3, 0), Policy())
    assert hours.next_opening(local(2026, 3, 7, 3, 0), Policy()) is None
    assert hours.schedule_code(Policy()) == ""


def test_no_opening_within_the_search_window() -> None:
    policy = replace(
        POLICY,
        closed_dates=frozenset(
            date.fromordinal(date(2026, 3, 1).toordinal() + i) for i in range(500)
        ),
    )
    assert hours.next_opening(local(2026, 3, 2, 12, 0), policy) is None


def test_opening_params_relative_day() -> None:
    now = local(2026, 3, 6, 17, 0)  # Friday
    opening = hours.next_opening(now, POLICY)
    assert opening is not None
    assert dict(hours.opening_params(opening, now, POLICY)) == {
        "next_open_day": "0",
        "next_open_date": "09-03",
        "next_open_time": "10:00",
    }
    early = local(2026, 3, 3, 8, 0)
    opening = hours.next_opening(early, POLICY)
    assert opening is not None
    assert dict(hours.opening_params(opening, early, POLICY))["next_open_day"] == "today"
    late = local(2026, 3, 3, 20, 0)
    opening = hours.next_opening(late, POLICY)
    assert opening is not None
    assert dict(hours.opening_params(opening, late, POLICY))["next_open_day"] == "tomorrow"


def test_schedule_code_groups_days() -> None:
    assert hours.schedule_code(POLICY) == (
        "0-1 10:00-16:00;2 10:00-16:00,19:00-22:00;3-4 10:00-16:00"
    )
    policy = replace(POLICY, weekly_hours={5: ((time(20, 0), time.max),)})
    assert hours.schedule_code(policy) == "5 20:00-24:00"
