"""The queue and a conversation at phone (390x844) and desktop (1366x900)
width: nothing overflows sideways, and with HELPLINE_WRITE_SCREENSHOTS=1 the
pictures in docs/screenshots/ are refreshed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import Live, sign_in
from tests.browser.test_console_e2e import wait_until

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1366, "height": 900}}


def populate(live: Live, page: Any) -> None:
    live.texter_writes("Hoi, ik heb een vraag over een test bij de GGD.", wa_id="31600000001")
    live.texter_writes("Mijn huisbaas wil me eruit zetten, wat kan ik doen?", wa_id="31600000002")
    live.texter_writes("Ik word bedreigd door een klant", wa_id="31600000003")
    live.texter_writes("Hello, do you speak English?", wa_id="31600000004")
    page.locator("#items .item").nth(3).wait_for()


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_console_layout_fits_phone_and_desktop(
    live: Live, browser: Any, tmp_path: Path, size: str
) -> None:
    out = DOCS if os.environ.get("HELPLINE_WRITE_SCREENSHOTS") == "1" else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    user, secret = live.account("volunteer", "Roos")
    context = browser.new_context(viewport=SIZES[size], device_scale_factor=1)
    page = context.new_page()
    sign_in(page, live.base_url, user, secret)
    populate(live, page)
    page.screenshot(path=str(out / f"queue-{size}.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= SIZES[size]["width"]

    page.locator("#items .item:not(.urgent) a").first.click()
    page.get_by_role("button", name="Oppakken").click()
    page.get_by_label("Antwoord").fill("Hoi! Ik ben Roos. De GGD heeft elke dinsdag een "
                                       "inloopspreekuur; een test is gratis en anoniem.")
    page.get_by_role("button", name="Versturen").click()
    wait_until(lambda: any("inloopspreekuur" in t for _, t in live.graph.texts()))
    provider_id = next(i for i, t in live.graph.texts() if "inloopspreekuur" in t)
    live.status(provider_id, "delivered")
    page.locator(".msg-out .status", has_text="afgeleverd").wait_for()
    page.get_by_label("Antwoord").fill("Zal ik je doorverwijzen?")
    page.get_by_role("button", name="Versturen").click()
    wait_until(lambda: any("doorverwijzen" in t for _, t in live.graph.texts()))
    failed_id = next(i for i, t in live.graph.texts() if "doorverwijzen" in t)
    live.status(failed_id, "failed", errors=[{"code": 131026, "title": "Message undeliverable"}])
    page.locator(".msg-out .error-reason").wait_for()
    page.locator("#note-body").fill("Wil liever niet gebeld worden.")
    page.get_by_role("button", name="Notitie opslaan").click()
    page.locator("#notes li").first.wait_for()
    page.get_by_label("Gezondheid").check()
    page.get_by_role("button", name="Onderwerpen opslaan").click()
    page.wait_for_load_state("networkidle")
    # What a volunteer sees: the latest messages and the reply box (on a
    # phone the panels follow below; the second picture shows them).
    page.evaluate("window.scrollTo(0, 0)")
    if size == "phone":
        page.evaluate("document.querySelector('#messages .msg:last-child')"
                      ".scrollIntoView({block: 'end'})")
    page.screenshot(path=str(out / f"conversation-{size}.png"))
    if size == "phone":
        page.locator("#labels-form").scroll_into_view_if_needed()
        page.screenshot(path=str(out / "conversation-phone-panels.png"))
    assert page.evaluate("document.documentElement.scrollWidth") <= SIZES[size]["width"]
    context.close()


# ---------------------------------------------------------------- coordinator and admin

STATS_SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}


def sign_in_as(page: Any, base_url: str, username: str, secret: str, home: str) -> None:
    import pyotp

    from tests.browser.conftest import PASSWORD

    page.goto(f"{base_url}/console/login")
    page.get_by_label("Gebruikersnaam").fill(username)
    page.get_by_label("Wachtwoord").fill(PASSWORD)
    page.get_by_label("Code uit je authenticator-app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Inloggen").click()
    page.wait_for_url(f"{base_url}{home}")


def fits(page: Any, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_the_coordinators_home_is_the_statistics_page(
    live: Live, browser: Any, tmp_path: Path, size: str
) -> None:
    from tests.stats.seed import seed_statistics

    out = DOCS if os.environ.get("HELPLINE_WRITE_SCREENSHOTS") == "1" else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    seed_statistics(live.services, weeks=20)
    user, secret = live.account("coordinator", "Coco")
    context = browser.new_context(viewport=STATS_SIZES[size], device_scale_factor=1)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sign_in_as(page, live.base_url, user, secret, "/console/stats")
    page.get_by_role("heading", name="Statistieken").wait_for()
    width = STATS_SIZES[size]["width"]
    fits(page, width)
    # Twenty weeks, each a bar or a suppressed mark; the quiet weeks read "<5".
    rows = page.locator("#trend .bar-row")
    assert rows.count() == 20
    marks = page.locator("#trend .is-suppressed .suppressed")
    assert marks.count() >= 1
    assert set(marks.all_text_contents()) == {"<5"}
    # A mark is whole: as wide as its text, inside its row, never clipped.
    for box in (marks.first, page.locator("#trend .bar-row").first.locator(".bar-value")):
        inner = box.evaluate("e => [e.scrollWidth, e.clientWidth]")
        assert inner[0] <= inner[1] + 1
    row_box = page.locator("#trend .bar-row").first.bounding_box()
    assert row_box["x"] >= 8
    assert row_box["x"] + row_box["width"] <= width - 8
    # No label overlaps its bar.
    label = page.locator("#trend .bar-label").first.bounding_box()
    track = page.locator("#trend .bar-track").first.bounding_box()
    assert label["x"] + label["width"] <= track["x"]
    assert page.locator("#figure-conversations .figure-value").text_content()
    assert page.locator("#waits .bar-row").count() == 20
    assert page.locator("#referrals tbody tr").count() >= 1
    assert page.locator("#by-channel .bar-row").count() >= 1
    page.screenshot(path=str(out / f"stats-{size}.png"), full_page=True)
    # By month, and one week on its own: the same page, one bar.
    page.get_by_role("link", name="Per maand").click()
    page.wait_for_url("**/console/stats?period=month")
    assert 4 <= page.locator("#trend .bar-row").count() <= 6
    fits(page, width)
    # The transparency summary, as it prints.
    page.goto(f"{live.base_url}/console/stats/transparency?year=2026")
    page.emulate_media(media="print")
    assert page.locator("header.top").is_hidden()
    assert page.locator("#transparency").is_visible()
    page.screenshot(path=str(out / f"transparency-print-{size}.png"), full_page=True)
    assert errors == []
    context.close()


def test_the_admins_home_is_the_accounts_page(live: Live, browser: Any, tmp_path: Path) -> None:
    out = DOCS if os.environ.get("HELPLINE_WRITE_SCREENSHOTS") == "1" else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    live.account("volunteer", "Roos")
    live.account("coordinator", "Coco")
    for size in ("desktop", "phone"):
        # One admin per picture: a TOTP code signs in once.
        user, secret = live.account("admin", f"Ada{size.capitalize()}")
        context = browser.new_context(viewport=STATS_SIZES[size], device_scale_factor=1)
        page = context.new_page()
        sign_in_as(page, live.base_url, user, secret, "/console/accounts")
        page.get_by_text("Roos").first.wait_for()
        fits(page, STATS_SIZES[size]["width"])
        page.screenshot(path=str(out / f"accounts-{size}.png"), full_page=True)
        context.close()
