"""A plausible half year of counts, written the way intake writes them (the
same cells in the week and the month of each conversation), for the pages'
tests and screenshots."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta

from helpline.services import Services
from helpline.stats import counting
from helpline.stats.cells import CellId
from helpline.stats.counting import wait_bin

LAST_MONDAY = date(2026, 11, 23)  # the week of the FakeClock's start (2026-W48)
TOPICS = ("health", "safety", "money", "housing", "legal", "work")
LANGUAGES = ("nl", "en", "ro", "bg", "es", "pl")


def seed_statistics(services: Services, weeks: int, *, seed: int = 22, per_week: int = 30) -> None:
    """`weeks` ISO weeks up to 2026-W48, about `per_week` conversations each
    (a few quiet weeks have fewer than the threshold)."""
    rng = random.Random(seed)
    counts: Counter[CellId] = Counter()
    for n in range(weeks):
        monday = LAST_MONDAY - timedelta(weeks=weeks - 1 - n)
        conversations = rng.choice([2, 3]) if n % 7 == 3 else rng.randint(per_week - 12,
                                                                           per_week + 12)
        for i in range(conversations):
            day = monday + timedelta(days=rng.randint(0, 6))
            iso = day.isocalendar()
            buckets = (("week", f"{iso.year}-W{iso.week:02d}"),
                       ("month", f"{day.year}-{day.month:02d}"))
            # Conversations are counted in the week they start; keep each
            # synthetic one in its own week even when its day spills over.
            buckets = (("week", f"{monday.isocalendar().year}-W{monday.isocalendar().week:02d}"),
                       buckets[1])
            channel = "signal" if rng.random() < 0.25 else "whatsapp"
            queue = "ggd" if rng.random() < 0.1 else "peer"
            cells: list[tuple[str, str, str]] = [
                ("conversations", "all", "all"), ("conversations", "channel", channel),
                ("conversations", "queue", queue),
            ]
            if rng.random() < 0.8:
                language = "nl" if rng.random() < 0.6 else rng.choice(LANGUAGES[1:])
                cells.append(("conversations", "language", language))
            if rng.random() < 0.7:
                cells.append(("conversations", "topic", rng.choice(TOPICS)))
            if rng.random() < 0.3:
                cells.append(("outside_hours", "all", "all"))
            if rng.random() < 0.1:
                cells.append(("urgent", "all", "all"))
            if rng.random() < 0.08:
                cells.append(("never_answered", "all", "all"))
            else:
                minutes = rng.choice([0, 1, 3, 4, 7, 12, 20, 45, 90, 200])
                cells.append(("wait_first_answer", "bin", wait_bin(minutes)))
            if i % 6 == 0:
                partner = "ggd" if i % 12 == 0 else "pmw"
                cells.append(("referrals_proposed", "partner", partner))
                if rng.random() < 0.7:
                    cells.append(("referrals_accepted", "partner", partner))
            for period, bucket in buckets:
                for metric, dimension, key in cells:
                    counts[(period, bucket, metric, dimension, key)] += 1
    with services.db.session() as session:
        counting.add_counts(session, dict(counts))
