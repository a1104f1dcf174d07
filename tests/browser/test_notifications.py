"""A volunteer sets content-free notifications in Chromium: the Signal number
and quiet hours are saved through the page, shown back only masked, and can be
turned off again."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import Live, sign_in

NUMBER = "+31687654321"


def test_a_volunteer_sets_and_clears_notifications_on_their_page(
    live: Live, browser: Any
) -> None:
    username, secret = live.account("volunteer", "Roos")
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sign_in(page, live.base_url, username, secret)
    page.get_by_role("link", name="Seintjes").click()
    page.wait_for_url(f"{live.base_url}/console/notifications")
    assert "Geen seintjes ingesteld." in (page.locator("#notify-current").text_content() or "")

    page.get_by_label("Je Signal-nummer").fill(NUMBER)
    page.get_by_label("Van").fill("22:00")
    page.get_by_label("Tot").fill("08:00")
    page.get_by_role("button", name="Opslaan").click()
    page.locator("#notify-current code").wait_for()
    shown = page.locator("#notify-current").text_content() or ""
    assert "22:00" in shown
    assert "08:00" in shown
    assert NUMBER not in page.content()  # masked only
    assert NUMBER[1:] not in page.content()

    page.get_by_role("button", name="Seintjes uitzetten").click()
    page.locator("#notify-current", has_text="Geen seintjes ingesteld.").wait_for()
    assert errors == []
    context.close()
