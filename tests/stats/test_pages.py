"""Issue 22.3: the statistics page a coordinator reads in a meeting, and the
printable transparency summary, through the real app (the figures suppressed
by the real publishing code)."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from helpline.stats import dashboard
from tests.stats.seed import seed_statistics
from tests.stats.test_counting import busy_week, services_of, sign_in


def trend_rows(html: str) -> list[str]:
    trend = html.split('id="trend"', 1)[1].split("</ol>", 1)[0]
    return re.findall(r'<span class="bar-label">([^<]*)</span>', trend)


def test_a_fresh_line_says_there_is_no_data_yet(client: TestClient, app: FastAPI) -> None:
    sign_in(client, app, "coordinator")
    page = client.get("/console/stats")
    assert page.status_code == 200
    assert "Nog geen gegevens." in page.text
    assert 'id="trend"' not in page.text


def test_one_week_is_one_bar_and_its_small_channel_a_mark(
    client: TestClient, app: FastAPI
) -> None:
    busy_week(app)
    sign_in(client, app, "coordinator")
    html = client.get("/console/stats").text
    assert trend_rows(html) == ["week 48, 2026"]
    channel = html.split('id="by-channel"', 1)[1].split("</ol>", 1)[0]
    # Signal had 2: no bar, a whole "<5" mark; WhatsApp is hidden beside it.
    assert re.search(r'<span class="bar-label">Signal</span>\s*<span class="bar-track"></span>'
                     r'\s*<span class="bar-value"><span class="suppressed"[^>]*>&lt;5</span>',
                     channel)
    assert '<span class="suppressed"' in channel
    assert "≥5</span>" in channel
    assert " style=" not in html


def test_a_year_of_weeks_is_a_bar_each_and_older_weeks_drop_off(
    client: TestClient, app: FastAPI
) -> None:
    seed_statistics(services_of(app), weeks=60)
    sign_in(client, app, "coordinator")
    html = client.get("/console/stats").text
    rows = trend_rows(html)
    assert len(rows) == dashboard.TREND_BUCKETS["week"]
    assert rows[-1] == "week 48, 2026"
    assert "<svg" in html
    months = trend_rows(client.get("/console/stats", params={"period": "month"}).text)
    assert months[-1] == "november 2026"
    assert len(months) == 14  # 60 weeks back from late November 2026 reach October 2025


def test_a_chosen_week_is_shown_in_detail_with_links_either_side(
    client: TestClient, app: FastAPI
) -> None:
    seed_statistics(services_of(app), weeks=10)
    sign_in(client, app, "coordinator")
    html = client.get("/console/stats", params={"bucket": "2026-W45"}).text
    assert "In week 45, 2026" in html
    assert 'bucket=2026-W44" rel="prev"' in html
    assert 'bucket=2026-W46" rel="next"' in html
    newest = client.get("/console/stats").text
    assert "In week 48, 2026" in newest
    assert 'rel="next"' not in newest


@pytest.mark.parametrize("query", [
    {"bucket": "2026-11"},  # a month asked for by week
    {"period": "month", "bucket": "2026-W45"},
    {"bucket": "<script>"},
    {"bucket": "2026-W45..2026-W47"},
])
def test_a_bucket_that_is_not_one_of_the_period_is_a_clear_422(
    client: TestClient, app: FastAPI, query: dict[str, str]
) -> None:
    sign_in(client, app, "coordinator")
    page = client.get("/console/stats", params=query)
    assert page.status_code == 422
    assert "bucket" in page.text  # says which parameter is wrong


def test_a_share_is_only_drawn_from_two_published_numbers() -> None:
    values: dashboard.Values = {
        ("week", "2026-W47", "conversations", "all", "all"): 20,
        ("week", "2026-W47", "outside_hours", "all", "all"): 5,
        ("week", "2026-W48", "conversations", "all", "all"): 20,
        ("week", "2026-W48", "outside_hours", "all", "all"): "<5",
        ("week", "2026-W49", "conversations", "all", "all"): "<5",
    }
    board = dashboard.build(values, "week", None, 5)
    assert [(b.key, b.shown, b.suppressed) for b in board.outside] == [
        ("2026-W47", "25%", False), ("2026-W48", "<5", True), ("2026-W49", "<5", True),
    ]
    assert board.headline["outside"] == ("<5", "<5")
    assert board.bucket == "2026-W49"


def test_the_transparency_summary_has_a_page_of_its_own_for_print(
    client: TestClient, app: FastAPI
) -> None:
    seed_statistics(services_of(app), weeks=8)
    sign_in(client, app, "coordinator")
    page = client.get("/console/stats/transparency", params={"year": 2026})
    assert page.status_code == 200
    assert "Transparantieverslag 2026" in page.text
    assert 'id="print"' in page.text
    assert " style=" not in page.text
    css = client.get("/static/console.css").text
    assert "@media print" in css
    assert client.get("/console/stats/transparency", params={"year": 99}).status_code == 422


def test_volunteers_are_not_shown_the_transparency_page(
    client: TestClient, app: FastAPI
) -> None:
    sign_in(client, app, "volunteer")
    assert client.get("/console/stats/transparency").status_code == 403


def test_the_page_names_its_helpline_and_shows_only_its_own_paused_numbers(
    client: TestClient, app: FastAPI
) -> None:
    """A coordinator reads whose figures these are (issue 17) and which of
    their helpline's numbers may not send; another helpline's captcha is not
    on their page."""
    from datetime import timedelta

    from helpline.store.models import ChannelPause
    from tests.two_helplines import add_zeeland, agent_in

    zeeland = add_zeeland(app)
    services = services_of(app)
    with services.db.session() as s:
        s.add(ChannelPause(helpline_id=zeeland, channel="signal",
                           until=services.now() + timedelta(minutes=15),
                           reason="signal:captcha_required"))
        # Over already: not shown.
        s.add(ChannelPause(helpline_id=zeeland, channel="whatsapp",
                           until=services.now() - timedelta(minutes=1),
                           reason="whatsapp:130429"))
    tilburg = agent_in(client, "coordinator", "default", "Tilly")
    page = tilburg.get("/console/stats").text
    assert re.search(r'<h1>Statistieken <span [^>]*id="stats-helpline">Helpline</span></h1>', page)
    assert 'id="paused-none"' in page
    assert "signal:captcha_required" not in page
    zee = agent_in(client, "coordinator", zeeland, "Zee")
    page = zee.get("/console/stats").text
    assert re.search(r'id="stats-helpline">Zeeland</span></h1>', page)
    paused = page.split('id="paused"', 1)[1].split("</table>", 1)[0]
    assert re.findall(r'<th scope="row">([^<]*)</th>', paused) == ["Signal"]
    assert "signal:captcha_required" in paused
    printable = zee.get("/console/stats/transparency").text
    assert 'id="transparency-helpline">Zeeland</span>' in printable
