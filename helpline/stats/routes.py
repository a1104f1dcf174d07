"""Statistics for coordinators (and admins): `/api/stats`, `/api/stats.csv`,
`/api/stats/transparency` and the page `/console/stats`.

Only fixed buckets can be asked for (a period, a year), never a date range,
so one answer cannot be subtracted from another. Everything shown comes from
`helpline.stats.publishing`, already suppressed; no route here reads a conversation.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from helpline.console import pages as console_pages
from helpline.console.deps import CurrentStatsReader, OptionalUser
from helpline.errors import HelplineError
from helpline.http import ServicesDep
from helpline.stats import cells, publishing, suppression, transparency

templates = console_pages.templates

router = APIRouter(tags=["stats"])
pages = APIRouter(prefix="/console", include_in_schema=False)

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
    snap = await run_in_threadpool(publishing.snapshot, services)
    rows = suppression.rows_for(snap.values, _period(period))
    return JSONResponse({
        "period": period,
        "threshold": services.policy.stats_threshold,
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
    rows = await run_in_threadpool(publishing.report, services, _period(period))
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
    summary = await run_in_threadpool(transparency.transparency, services, _year(year, services))
    return JSONResponse({
        "year": summary.year,
        "threshold": summary.threshold,
        "figures": [asdict(row) for row in summary.figures],
        "accounts": summary.accounts,
        "audit": summary.audit,
        "as_of": summary.as_of.isoformat() if summary.as_of else None,
        "stale": summary.stale,
    })


# ------------------------------------------------------------------ page

STRINGS: dict[str, dict[str, str]] = {
    "nl": {
        "stats_title": "Statistieken",
        "stats_intro": (
            "Aantallen gesprekken, geteld zonder dat iemand te herkennen is. Een aantal "
            "van 1 tot {k} staat er als \u201c<{k}\u201d; \u201c>={k}\u201d is verborgen zodat "
            "een klein aantal niet terug te rekenen is."
        ),
        "per_week": "Per week",
        "per_month": "Per maand",
        "download_csv": "Download als CSV",
        "chart_title": "Gesprekken per {period}",
        "week": "week",
        "month": "maand",
        "what": "Wat",
        "no_data": "Nog geen gegevens.",
        "hidden": "verborgen",
        "transparency": "Transparantieverslag {year}",
        "transparency_intro": "Dit overzicht mag zo gepubliceerd worden.",
        "accounts": "Accounts met toegang",
        "audit": "Vastgelegd in het auditlog",
        "count": "Aantal",
        "m_conversations": "Gesprekken",
        "m_urgent": "Urgent",
        "m_outside_hours": "Buiten openingstijden",
        "m_never_answered": "Nooit beantwoord",
        "m_wait_first_answer_minutes": "Wachttijd tot eerste antwoord (minuten, hoogstens)",
        "m_referrals_proposed": "Doorverwijzing voorgesteld",
        "m_referrals_accepted": "Doorverwijzing aangenomen",
        "m_referrals_withdrawn": "Doorverwijzing ingetrokken",
        "m_erasure_requests": "Verzoeken om wissen",
        "m_safety_alerts_sent": "Veiligheidsmeldingen verstuurd",
        "m_alert_subscriptions": "Nieuwe abonnees op meldingen",
        "d_all": "totaal",
        "d_channel": "kanaal",
        "d_language": "taal",
        "d_queue": "wachtrij",
        "d_topic": "onderwerp",
        "d_partner": "partner",
        "d_quantile": "",
        "k_median": "mediaan",
        "k_p90": "90e percentiel",
        "role_volunteer": "vrijwilligers",
        "role_partner": "partnermedewerkers",
        "role_coordinator": "coördinatoren",
        "role_admin": "beheerders",
        "inbox_title": "Binnengekomen, nog niet verwerkt",
        "inbox_backlog": "Wachtende berichten",
        "inbox_oldest": "Oudste wacht (seconden)",
        "inbox_stalled": "Het verwerken loopt achter: kijk of de helpline-dienst draait.",
    },
    "en": {
        "stats_title": "Statistics",
        "stats_intro": (
            "Conversation counts, counted so that nobody can be recognised. A count from "
            "1 to {k} shows as \u201c<{k}\u201d; \u201c>={k}\u201d is hidden so that a small "
            "count cannot be worked out again."
        ),
        "per_week": "Per week",
        "per_month": "Per month",
        "download_csv": "Download as CSV",
        "chart_title": "Conversations per {period}",
        "week": "week",
        "month": "month",
        "what": "What",
        "no_data": "No data yet.",
        "hidden": "hidden",
        "transparency": "Transparency report {year}",
        "transparency_intro": "This summary may be published as it is.",
        "accounts": "Accounts with access",
        "audit": "Recorded in the audit log",
        "count": "Count",
        "m_conversations": "Conversations",
        "m_urgent": "Urgent",
        "m_outside_hours": "Outside opening hours",
        "m_never_answered": "Never answered",
        "m_wait_first_answer_minutes": "Wait for the first answer (minutes, at most)",
        "m_referrals_proposed": "Referral proposed",
        "m_referrals_accepted": "Referral accepted",
        "m_referrals_withdrawn": "Referral withdrawn",
        "m_erasure_requests": "Erasure requests",
        "m_safety_alerts_sent": "Safety alerts sent",
        "m_alert_subscriptions": "New alert subscribers",
        "d_all": "total",
        "d_channel": "channel",
        "d_language": "language",
        "d_queue": "queue",
        "d_topic": "topic",
        "d_partner": "partner",
        "d_quantile": "",
        "k_median": "median",
        "k_p90": "90th percentile",
        "role_volunteer": "volunteers",
        "role_partner": "partner workers",
        "role_coordinator": "coordinators",
        "role_admin": "admins",
        "inbox_title": "Received, not yet processed",
        "inbox_backlog": "Messages waiting",
        "inbox_oldest": "Oldest waiting (seconds)",
        "inbox_stalled": "Processing is behind: check that the helpline service runs.",
    },
}

CHART_BUCKETS = 12


def _strings(lang: str) -> dict[str, str]:
    return {**console_pages.strings(lang), **STRINGS[lang]}


def _label(t: dict[str, str], row: suppression.Row) -> str:
    metric = t.get(f"m_{row.metric}", row.metric)
    if row.dimension == cells.ALL:
        return metric
    if row.dimension == "topic":
        key = t.get(f"label_{row.key}", row.key)
    else:
        key = t.get(f"k_{row.key}", row.key)
    dimension = t.get(f"d_{row.dimension}", row.dimension)
    return f"{metric}: {dimension} {key}".replace(":  ", ": ")


def chart(rows: list[suppression.Row], t: dict[str, str], threshold: int) -> dict[str, Any]:
    """Bars for the conversation totals of the last buckets, as numbers for an
    SVG drawn by the template (no script, no style attribute)."""
    totals = [r for r in rows if r.metric == cells.CONVERSATIONS and r.dimension == cells.ALL]
    totals = totals[-CHART_BUCKETS:]
    numeric = [r.value for r in totals if isinstance(r.value, int)]
    top = max([*numeric, threshold, 1])
    width, height, gap = 640, 200, 6
    slot = width / max(len(totals), 1)
    bars = []
    for index, row in enumerate(totals):
        hidden = not isinstance(row.value, int)
        value = threshold if hidden else int(row.value)
        bar_height = round(value / top * (height - 30), 1)
        bars.append({
            "x": round(index * slot + gap / 2, 1),
            "y": round(height - 20 - bar_height, 1),
            "w": round(slot - gap, 1),
            "h": bar_height,
            "label": row.bucket,
            "value": str(row.value),
            "hidden": hidden,
            "tx": round(index * slot + slot / 2, 1),
        })
    return {"width": width, "height": height, "bars": bars}


def pivot(rows: list[suppression.Row], t: dict[str, str]) -> dict[str, Any]:
    buckets = sorted({r.bucket for r in rows})[-CHART_BUCKETS:]
    lines: dict[tuple[str, str, str], dict[str, str]] = {}
    labels: dict[tuple[str, str, str], str] = {}
    for row in rows:
        if row.bucket not in buckets:
            continue
        ident = (row.metric, row.dimension, row.key)
        lines.setdefault(ident, {})[row.bucket] = str(row.value)
        labels[ident] = _label(t, row)
    return {
        "buckets": buckets,
        "lines": [{"label": labels[i], "cells": [lines[i].get(b, "0") for b in buckets]}
                  for i in lines],
    }


@pages.get("/stats", response_class=HTMLResponse)
async def stats_page(
    request: Request,
    user: OptionalUser,
    services: ServicesDep,
    period: str = Query(default="week", max_length=8),
    year: int | None = Query(default=None),
) -> Response:
    if user is None:
        return console_pages.to_sign_in(request)
    if user.role not in STATS_ROLES:
        return console_pages.not_for_role(request, user)
    period = _period(period)
    chosen_year = _year(year, services)
    rows = await run_in_threadpool(publishing.report, services, period)
    summary = await run_in_threadpool(transparency.transparency, services, chosen_year)
    # The inbox backlog: counts and an age, nothing about anyone (so not
    # subject to the small-count threshold; it says how the system runs).
    backlog = await run_in_threadpool(request.app.state.inbox.backlog)
    lang = user.ui_language if user.ui_language in STRINGS else "nl"
    t = _strings(lang)
    k = services.policy.stats_threshold
    return templates.TemplateResponse(
        request,
        "stats.html",
        {
            "t": t, "lang": lang, "user": user, "period": period, "k": k,
            "chart": chart(rows, t, k), "table": pivot(rows, t),
            "summary": summary,
            "inbox": backlog,
            "inbox_stalled": backlog.stalled(services.settings.inbox_max_age_seconds),
            "summary_lines": [(_label(t, r), str(r.value)) for r in summary.figures],
        },
    )


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.include_router(pages)
