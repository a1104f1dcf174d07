"""Statistics for coordinators (and admins): `/api/stats`, `/api/stats.csv`,
`/api/stats/transparency` (the pages are helpline/stats/pages.py).

Only fixed buckets can be asked for (a period, a year), never a date range,
so one answer cannot be subtracted from another. Everything shown comes from
`helpline.stats.publishing`, already suppressed; no route here reads a conversation.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from helpline.console.deps import CurrentStatsReader
from helpline.errors import HelplineError
from helpline.http import ServicesDep
from helpline.stats import cells, publishing, suppression, transparency

router = APIRouter(tags=["stats"])

STATS_ROLES = ("coordinator", "admin")


class BadPeriod(HelplineError):
    status_code = 422
    public_message = "period must be week or month"


class BadYear(HelplineError):
    status_code = 422
    public_message = "year must be a four-digit year"


def _period(period: str) -> str:
    if period not in cells.PERIODS:
        raise BadPeriod()
    return period


def _year(year: int | None, services: Any) -> int:
    if year is None:
        return int(services.now().year)
    if not 2000 <= year <= 9999:
        raise BadYear()
    return year


@router.get("/api/stats")
async def stats_json(
    user: CurrentStatsReader,
    services: ServicesDep,
    period: str = Query(default="week", max_length=8),
) -> JSONResponse:
    snap = await run_in_threadpool(publishing.snapshot, services, user.helpline_id)
    rows = suppression.rows_for(snap.values, _period(period))
    return JSONResponse({
        "period": period,
        "threshold": services.policy_for(user.helpline_id).stats_threshold,
        # Figures are recomputed in the background after new events; until
        # then the last published ones are served, computed from the counts
        # as they were at as_of.
        "as_of": snap.as_of.isoformat(),
        "stale": snap.stale,
        "rows": [asdict(row) for row in rows],
    })


@router.get("/api/stats.csv")
async def stats_csv(
    user: CurrentStatsReader,
    services: ServicesDep,
    period: str = Query(default="week", max_length=8),
) -> Response:
    rows = await run_in_threadpool(publishing.report, services, _period(period),
                                   user.helpline_id)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["bucket", "metric", "dimension", "key", "value"])
    for row in rows:
        writer.writerow([row.bucket, row.metric, row.dimension, row.key, row.value])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="helpline-stats-{period}.csv"'},
    )


@router.get("/api/stats/transparency")
async def transparency_json(
    user: CurrentStatsReader,
    services: ServicesDep,
    year: int | None = Query(default=None),
) -> JSONResponse:
    summary = await run_in_threadpool(transparency.transparency, services, _year(year, services),
                                      user.helpline_id)
    return JSONResponse({
        "year": summary.year,
        "threshold": summary.threshold,
        "figures": [asdict(row) for row in summary.figures],
        "accounts": summary.accounts,
        "audit": summary.audit,
        "as_of": summary.as_of.isoformat() if summary.as_of else None,
        "stale": summary.stale,
    })


def install(app: FastAPI) -> None:
    app.include_router(router)
