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
