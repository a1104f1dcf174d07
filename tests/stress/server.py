"""`helpline serve` for the crash tests, with a shorter outbox lease.

A row claimed by a worker that was killed comes back when its lease expires
(60 s in production). The kill loop kills every few seconds, so the lease is
shortened through HELPLINE_STRESS_LEASE_SECONDS; nothing else differs from
`python -m helpline.cli serve`.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta

from helpline.cli import main
from helpline.outbound import outbox

if __name__ == "__main__":
    lease = os.environ.get("HELPLINE_STRESS_LEASE_SECONDS")
    if lease:
        outbox.LEASE = timedelta(seconds=float(lease))
    sys.exit(main(sys.argv[1:]))
