"""Volunteer wellbeing in Chromium (issue 18, part 4): Roos marks a heavy
conversation; Iris sees the mark in her queue and, on opening, the warning
before the messages, which stay hidden until she chooses to read them; a
claim past the cap says so in Dutch; signing out ends on the support page."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from helpline.store.models import Conversation, User
from tests.browser.conftest import Live, sign_in
from tests.browser.test_console_e2e import wait_until


def test_a_content_warning_prepares_the_next_reader(live: Live, browser: Any) -> None:
    roos_user, roos_secret = live.account("volunteer", "Roos")
    iris_user, iris_secret = live.account("volunteer", "Iris")
    live.texter_writes("Hij sloeg me gisteren", wa_id="31600000001")
    services = live.services
    with services.db.session() as session:
        conversation_id = session.exec(select(Conversation.id)).one()

    errors: list[str] = []
    roos_ctx, iris_ctx = browser.new_context(), browser.new_context()
    roos, iris = roos_ctx.new_page(), iris_ctx.new_page()
    for page in (roos, iris):
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    sign_in(roos, live.base_url, roos_user, roos_secret)
    roos.goto(f"{live.base_url}/console/conversations/{conversation_id}")
    roos.get_by_role("button", name="Oppakken").click()
    roos.locator("#reply-body").wait_for()
    roos.get_by_role("button", name="Markeren als zware inhoud").click()
    roos.locator("#cw-badge:not([hidden])").wait_for()
    roos.get_by_role("button", name="Markering zware inhoud weghalen").wait_for()
    # The one who marked it keeps reading: nothing is hidden from her.
    assert roos.locator("#messages").is_visible()
    roos.get_by_role("button", name="Teruggeven").click()
    roos.get_by_role("button", name="Oppakken").wait_for()

    sign_in(iris, live.base_url, iris_user, iris_secret)
    row = iris.locator(f'#items .item[data-id="{conversation_id}"]')
    row.locator(".badge-cw", has_text="Zware inhoud").wait_for()
    row.locator("a").click()
    iris.wait_for_url(f"**/console/conversations/{conversation_id}")
    notice = iris.locator("#cw-notice")
    assert "zware inhoud" in (notice.text_content() or "")
    assert not iris.locator("#messages").is_visible()
    assert not iris.get_by_text("Hij sloeg me gisteren").is_visible()
    iris.get_by_role("button", name="Berichten tonen").click()
    iris.get_by_text("Hij sloeg me gisteren").wait_for()
    assert not notice.is_visible()

    # Iris already holds the policy's maximum (5): the claim is refused, in Dutch.
    for n in range(5):
        live.texter_writes(f"vraag {n}", wa_id=f"3160000010{n}")
    with services.db.session() as session:
        iris_id = session.exec(select(User.id).where(User.alias == "Iris")).one()
        for other in session.exec(
            select(Conversation).where(Conversation.id != conversation_id)
        ).all():
            other.claimed_by_id = iris_id
            other.claimed_at = services.now()
    iris.get_by_role("button", name="Oppakken").click()
    flash = iris.locator("#flash")
    flash.wait_for()
    assert "Je hebt al 5 gesprekken, het maximum voor één persoon tegelijk" in (
        flash.text_content() or "")

    def still_free() -> bool:
        with services.db.session() as session:
            c = session.get(Conversation, conversation_id)
            return c is not None and c.claimed_by_id is None

    wait_until(still_free)

    # Signing out ends on the thank-you page with where to get support.
    iris.get_by_role("button", name="Uitloggen").click()
    iris.wait_for_url(f"{live.base_url}/console/shift-end?lang=nl")
    iris.get_by_role("heading", name="Bedankt voor je dienst").wait_for()
    assert "De Luisterlijn" in iris.content()
    assert errors == [] or all("409" in e for e in errors)
    roos_ctx.close()
    iris_ctx.close()
