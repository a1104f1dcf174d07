"""Opening hours: a weekly schedule in local time plus closed dates.

All arithmetic is done on local wall-clock times in the policy's time zone and
converted with zoneinfo, so "10:00" stays 10:00 in Tilburg across the March and
October daylight-saving changes. `now` is always passed in; a naive `now` is
taken to be UTC (the service stores UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from routing.model import Policy

# Far enough to cross a long holiday closure, small enough to stay cheap.
_SEARCH_DAYS = 400


def _zone(policy: Policy) -> ZoneInfo:
    # load_policy validates the zone; a hand-built Policy with a bad one falls
    # back to Amsterdam instead of raising inside decide.
    try:
        return ZoneInfo(policy.timezone)
    except (ValueError, KeyError, OSError):
        return ZoneInfo("Europe/Amsterdam")


def _aware(now: datetime) -> datetime:
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)


def local(now: datetime, policy: Policy) -> datetime:
    return _aware(now).astimezone(_zone(policy))


def has_schedule(policy: Policy) -> bool:
    """An empty weekly schedule means the line keeps no hours: always open."""
    return any(policy.weekly_hours.values())


def is_open(now: datetime, policy: Policy) -> bool:
    if not has_schedule(policy):
        return True
    here = local(now, policy)
    if here.date() in policy.closed_dates:
        return False
    clock = here.time().replace(tzinfo=None)
    # Closing time is exclusive: at 16:00 sharp a 10:00-16:00 line is closed.
    return any(start <= clock < end for start, end in policy.weekly_hours.get(here.weekday(), ()))


def next_opening(now: datetime, policy: Policy) -> datetime | None:
    """The next moment (aware, UTC) the line opens after `now`, or None."""
    if not has_schedule(policy):
        return None
    zone = _zone(policy)
    moment = _aware(now)
    today = moment.astimezone(zone).date()
    for offset in range(_SEARCH_DAYS):
        day = today + timedelta(days=offset)
        if day in policy.closed_dates:
            continue
        for start, _end in sorted(policy.weekly_hours.get(day.weekday(), ())):
            candidate = datetime.combine(day, start, tzinfo=zone)
            if candidate > moment:
                return candidate.astimezone(UTC)
    return None


def opening_params(opening: datetime, now: datetime, policy: Policy) -> tuple[tuple[str, str], ...]:
    """Reply params for an opening time, in local time.

    `next_open_day` is "today", "tomorrow" or a weekday number (0 = Monday); the
    templates turn it into a word with the `day` filter, so no language lives here.
    """
    here = local(opening, policy)
    days = (here.date() - local(now, policy).date()).days
    day = "today" if days == 0 else "tomorrow" if days == 1 else str(here.weekday())
    return (
        ("next_open_day", day),
        ("next_open_date", here.strftime("%d-%m")),
        ("next_open_time", here.strftime("%H:%M")),
    )


def _clock(t: time) -> str:
    return "24:00" if t == time.max else t.strftime("%H:%M")


def schedule_code(policy: Policy) -> str:
    """The weekly schedule in a compact language-free form for the `schedule`
    template filter: consecutive days with the same hours grouped,
    "0-4 10:00-16:00;5 12:00-14:00" (0 = Monday). Empty when always open."""
    groups: list[tuple[int, int, str]] = []
    for weekday in range(7):
        intervals = sorted(policy.weekly_hours.get(weekday, ()))
        if not intervals:
            continue
        spans = ",".join(f"{_clock(a)}-{_clock(b)}" for a, b in intervals)
        if groups and groups[-1][1] == weekday - 1 and groups[-1][2] == spans:
            groups[-1] = (groups[-1][0], weekday, spans)
        else:
            groups.append((weekday, weekday, spans))
    return ";".join(
        f"{first}-{last} {spans}" if first != last else f"{first} {spans}"
        for first, last, spans in groups
    )
