"""The coordinator's pages: `/console/stats` (the figures of helpline/stats/
dashboard.py, drawn as bar lists in HTML and inline SVG from the server: no
chart script, no style attribute, both forbidden by the CSP) and
`/console/stats/transparency` (the yearly summary, laid out for print).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool

from helpline.console import pages as console_pages
from helpline.console.deps import OptionalUser
from helpline.console.sessions import SessionUser
from helpline.errors import HelplineError
from helpline.http import ServicesDep
from helpline.services import Services
from helpline.stats import cells, dashboard, suppression, transparency
from helpline.stats.page_strings import STRINGS
from helpline.stats.routes import STATS_ROLES, _period, _year
from helpline.store.models import ChannelPause
from routing.commands import LANGUAGE_NAMES
from routing.model import Policy

templates = console_pages.templates
router = APIRouter(prefix="/console", include_in_schema=False)
ALL_FIGURES_BUCKETS = 12


class BadBucket(HelplineError):
    status_code = 422
    public_message = "bucket must be a week (2026-W48) or a month (2026-11) of the period"


def strings(lang: str) -> dict[str, str]:
    return {**console_pages.strings(lang), **STRINGS[lang]}


def bucket_label(t: dict[str, str], period: str, bucket: str) -> str:
    """"week 48, 2026" / "november 2026" rather than "2026-W48"."""
    try:
        if period == "week":
            year, week = bucket.split("-W")
            return t["week_label"].replace("{week}", str(int(week))).replace("{year}", year)
        year, month = bucket.split("-")
        return f"{t['months'].split()[int(month) - 1]} {year}"
    except (ValueError, IndexError):
        return bucket


def key_label(t: dict[str, str], policy: Policy, lang: str, dimension: str, key: str) -> str:
    if dimension == "topic":
        return t.get(f"label_{key}", key)
    if dimension == "language":
        return LANGUAGE_NAMES.get(key, t.get(f"k_{key}", key))
    if dimension in ("queue", "partner"):
        for partner in policy.partners:
            if partner.id == key:
                return partner.name.get(lang) or partner.name.get(
                    policy.default_language) or key
    return t.get(f"k_{key}", key)


def row_label(t: dict[str, str], policy: Policy, lang: str, row: suppression.Row) -> str:
    metric = t.get(f"m_{row.metric}", row.metric)
    if row.dimension == cells.ALL:
        return metric
    if row.dimension == "quantile":
        return f"{metric}: {t.get(f'k_{row.key}', row.key)}"
    dimension = t.get(f"d_{row.dimension}", row.dimension)
    return f"{metric}: {dimension} {key_label(t, policy, lang, row.dimension, row.key)}"


def all_figures(
    values: dashboard.Values, period: str, t: dict[str, str], policy: Policy, lang: str
) -> dict[str, Any]:
    """Every published figure of the last buckets: rows are what, columns when."""
    rows = suppression.rows_for(values, period)
    buckets = sorted({r.bucket for r in rows})[-ALL_FIGURES_BUCKETS:]
    lines: dict[tuple[str, str, str], dict[str, str]] = {}
    labels: dict[tuple[str, str, str], str] = {}
    for row in rows:
        if row.bucket not in buckets:
            continue
        ident = (row.metric, row.dimension, row.key)
        lines.setdefault(ident, {})[row.bucket] = str(row.value)
        labels[ident] = row_label(t, policy, lang, row)
    return {
        "buckets": buckets,
        "lines": [{"label": labels[i], "cells": [lines[i].get(b, "0") for b in buckets]}
                  for i in lines],
    }


def sending_paused(services: Services, helpline_id: str) -> list[ChannelPause]:
    """The helpline's own numbers that may not send now (a captcha, a rate
    limit): what a coordinator has to act on. Another helpline's pauses are
    not theirs to see, nor to worry about."""
    now = services.now()
    with services.db.read_session() as session:
        return list(session.exec(
            select(ChannelPause).where(ChannelPause.helpline_id == helpline_id,
                                       col(ChannelPause.until) > now)
            .order_by(col(ChannelPause.channel))
        ).all())


def _language(user: SessionUser) -> str:
    return user.ui_language if user.ui_language in STRINGS else "nl"


@router.get("/stats", response_class=HTMLResponse)
async def stats_page(
    request: Request,
    user: OptionalUser,
    services: ServicesDep,
    period: str = Query(default="week", max_length=8),
    bucket: str | None = Query(default=None, max_length=8),
    year: int | None = Query(default=None),
) -> Response:
    if user is None:
        return console_pages.to_sign_in(request)
    if user.role not in STATS_ROLES:
        return console_pages.not_for_role(request, user)
    period = _period(period)
    if bucket is not None and not dashboard.valid_bucket(period, bucket):
        raise BadBucket()
    chosen_year = _year(year, services)
    # The active helpline's figures only: its own threshold, its partners.
    scope = dashboard.Scope(helpline=user.helpline_id)
    policy = services.policy_for(user.helpline_id)
    values = await run_in_threadpool(dashboard.figures, services, scope)
    k = policy.stats_threshold
    board = dashboard.build(values, period, bucket, k)
    summary = await run_in_threadpool(transparency.transparency, services, chosen_year,
                                      user.helpline_id)
    # The inbox backlog: counts and an age, nothing about anyone (so not
    # subject to the small-count threshold; it says how the system runs).
    backlog = await run_in_threadpool(request.app.state.inbox.backlog)
    paused = await run_in_threadpool(sending_paused, services, user.helpline_id)
    lang = _language(user)
    t = strings(lang)
    return templates.TemplateResponse(request, "stats.html", {
        "t": t, "lang": lang, "user": user, "period": period, "k": k,
        "helpline_name": services.helpline(user.helpline_id).name,
        "paused": paused,
        "board": board,
        "bl": lambda b: bucket_label(t, period, b),
        "kl": lambda d, key: key_label(t, policy, lang, d, key),
        "kl_for": lambda d: lambda key: key_label(t, policy, lang, d, key),
        "table": all_figures(values, period, t, policy, lang),
        "summary": summary,
        "summary_lines": [(row_label(t, policy, lang, r), str(r.value))
                          for r in summary.figures],
        "inbox": backlog,
        "inbox_stalled": backlog.stalled(services.settings.inbox_max_age_seconds),
    })


@router.get("/stats/transparency", response_class=HTMLResponse)
async def transparency_page(
    request: Request,
    user: OptionalUser,
    services: ServicesDep,
    year: int | None = Query(default=None),
) -> Response:
    """The yearly summary on its own page, laid out to be printed or saved as
    PDF (the print stylesheet drops the header and the buttons)."""
    if user is None:
        return console_pages.to_sign_in(request)
    if user.role not in STATS_ROLES:
        return console_pages.not_for_role(request, user)
    summary = await run_in_threadpool(transparency.transparency, services, _year(year, services),
                                      user.helpline_id)
    lang = _language(user)
    t = strings(lang)
    policy = services.policy_for(user.helpline_id)
    return templates.TemplateResponse(request, "transparency.html", {
        "t": t, "lang": lang, "user": user, "k": policy.stats_threshold,
        "helpline_name": services.helpline(user.helpline_id).name,
        "summary": summary,
        "today": services.now().date().isoformat(),
        "summary_lines": [(row_label(t, policy, lang, r), str(r.value))
                          for r in summary.figures],
    })


def install(app: FastAPI) -> None:
    app.include_router(router)
