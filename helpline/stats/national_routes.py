"""`/api/stats/national` and `/console/national`: the national coordinator's
figures (helpline.stats.national), and nothing else of any helpline."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from helpline.console import pages as console_pages
from helpline.console.deps import NATIONAL, CurrentNational, OptionalUser
from helpline.http import ServicesDep
from helpline.stats import national, suppression
from helpline.stats.routes import _period

router = APIRouter(tags=["stats"])


def _rows(services: Any, period: str) -> list[dict[str, Any]]:
    cells = national.national(services)
    rows = suppression.rows_for({c: v.value for c, v in cells.items()}, period)
    return [{"bucket": r.bucket, "metric": r.metric, "dimension": r.dimension, "key": r.key,
             "value": r.value,
             "regions_left_out": cells[(period, r.bucket, r.metric, r.dimension, r.key)].left_out}
            for r in rows]


@router.get("/api/stats/national")
async def national_json(
    user: CurrentNational,
    services: ServicesDep,
    period: str = Query(default="week", max_length=8),
) -> JSONResponse:
    rows = await run_in_threadpool(_rows, services, _period(period))
    return JSONResponse({
        "period": period,
        "threshold": services.policy.stats_threshold,
        "helplines": len(services.helplines.all()),
        "rows": rows,
    })


@router.get("/console/national", response_class=HTMLResponse, include_in_schema=False)
async def national_page(
    request: Request,
    user: OptionalUser,
    services: ServicesDep,
    period: str = Query(default="week", max_length=8),
) -> Response:
    if user is None:
        return console_pages.to_sign_in(request)
    if user.role != NATIONAL:
        return console_pages.not_for_role(request, user)
    period = _period(period)
    rows = await run_in_threadpool(_rows, services, period)
    buckets = sorted({r["bucket"] for r in rows})[-12:]
    return console_pages.render(request, "national.html", user, period=period,
                                rows=[r for r in rows if r["bucket"] in buckets],
                                k=services.policy.stats_threshold)


def install(app: FastAPI) -> None:
    app.include_router(router)
