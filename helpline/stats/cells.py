"""What is counted: metric names, dimensions, fixed buckets (ISO week, calendar month) and cell ids.

A cell is (period, bucket, metric, dimension, key) and nothing else: no texter,
conversation, pseudonym, blind index or timestamp (helpline/stats/counting.py says why).
"""


from __future__ import annotations

import re
from datetime import date, datetime
from typing import TYPE_CHECKING, Literal

from routing import hours
from routing.model import Policy

if TYPE_CHECKING:
    pass


# ------------------------------------------------------------------ names

CONVERSATIONS = "conversations"
URGENT = "urgent"
OUTSIDE_HOURS = "outside_hours"
NEVER_ANSWERED = "never_answered"
REFERRALS_PROPOSED = "referrals_proposed"
REFERRALS_ACCEPTED = "referrals_accepted"
REFERRALS_WITHDRAWN = "referrals_withdrawn"
ERASURE_REQUESTS = "erasure_requests"
ALERTS_SENT = "safety_alerts_sent"
ALERT_SUBSCRIPTIONS = "alert_subscriptions"  # new subscriptions in the bucket
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


