"""A coordinator covers for a colleague in Chromium: the held-conversations
page lists Roos's conversation, the hand-over to Iris goes through the page
script, and Iris then holds it."""

from __future__ import annotations

from typing import Any

import pyotp
from sqlmodel import select

from helpline.store.models import Conversation, User
from tests.browser.conftest import PASSWORD, Live
from tests.browser.test_console_e2e import wait_until


def test_a_coordinator_hands_a_held_conversation_to_a_colleague(
    live: Live, browser: Any
) -> None:
    live.account("volunteer", "Roos")
    live.account("volunteer", "Iris")
    coco_user, coco_secret = live.account("coordinator", "Coco")
    live.texter_writes("Hoi, ik heb een vraag")
    services = live.services
    with services.db.session() as session:
        conversation = session.exec(select(Conversation)).one()
        roos = session.exec(select(User).where(User.alias == "Roos")).one()
        conversation.claimed_by_id = roos.id
        conversation.claimed_at = services.now()
        conversation_id = conversation.id

    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{live.base_url}/console/login")
    page.get_by_label("Gebruikersnaam").fill(coco_user)
    page.get_by_label("Wachtwoord").fill(PASSWORD)
    page.get_by_label("Code uit je authenticator-app").fill(pyotp.TOTP(coco_secret).now())
    page.get_by_role("button", name="Inloggen").click()
    page.wait_for_url(f"{live.base_url}/console/stats")
    page.get_by_role("link", name="Bij collega's").click()
    page.wait_for_url(f"{live.base_url}/console/held")
    row = page.locator(f'tr[data-id="{conversation_id}"]')
    assert "Roos" in (row.text_content() or "")
    assert "Hoi, ik heb een vraag" not in page.content()
    row.get_by_label("Aan").select_option("Iris")
    row.get_by_role("button", name="Overdragen").click()

    def held_by_iris() -> bool:
        with services.db.session() as session:
            c = session.get(Conversation, conversation_id)
            iris = session.exec(select(User).where(User.alias == "Iris")).one()
            return c is not None and c.claimed_by_id == iris.id

    wait_until(held_by_iris)
    page.wait_for_load_state()
    page.locator(f'tr[data-id="{conversation_id}"]', has_text="Iris").wait_for()
    assert errors == []
    context.close()
