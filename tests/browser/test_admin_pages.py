"""The admin's pages and the helpline choice in Chromium: their scripts use
console.js's request and error helpers (window.HelplineConsole), so a
created account shows its TOTP secret once, a refusal from the server is
said on the page, and a person with roles in two helplines picks one and
works there (issue 17 part 4)."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from helpline.console.memberships import grant
from helpline.ops.helplines import HelplineSpec, add_helpline
from helpline.store.models import User
from tests.browser.conftest import PASSWORD, Live
from tests.browser.test_screenshots import sign_in_as


def errors_of(page: Any) -> list[str]:
    """Script errors on the page. Chromium also logs each refused request
    ("Failed to load resource: ... 409"); those are the refusals under test."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def test_an_admin_creates_an_account_and_a_refusal_is_said_on_the_page(
    live: Live, browser: Any
) -> None:
    user, secret = live.account("admin", "Ada")
    context = browser.new_context()
    page = context.new_page()
    errors = errors_of(page)
    sign_in_as(page, live.base_url, user, secret, "/console/accounts")

    form = page.locator("#new-account")
    form.locator("[name=username]").fill("noor")
    form.locator("[name=alias]").fill("Noor")
    form.locator("[name=password]").fill(PASSWORD)
    form.get_by_role("button", name="Account aanmaken").click()
    panel = page.locator("#totp-panel")
    panel.wait_for(state="visible")
    assert page.locator("#totp-qr").get_attribute("src", timeout=2000).startswith("data:image/")
    assert len(page.locator("#totp-key").text_content().replace(" ", "")) >= 16
    page.get_by_role("button", name="Klaar").click()
    page.locator("#people li[data-username=noor]").wait_for()
    with live.services.db.session() as session:
        assert session.exec(select(User).where(User.username == "noor")).one().role == "volunteer"

    # The same name again: the server's 409 is said in the page's flash box.
    form.locator("[name=username]").fill("noor")
    form.locator("[name=password]").fill(PASSWORD)
    form.get_by_role("button", name="Account aanmaken").click()
    flash = page.locator("#flash")
    flash.wait_for(state="visible")
    assert flash.text_content() == "Dat lukte niet: username taken"
    assert panel.is_hidden()
    assert errors == []
    context.close()


def test_an_installation_admin_adds_a_helpline_and_a_taken_number_is_refused(
    live: Live, browser: Any
) -> None:
    user, secret = live.account("admin", "Ada")
    add_helpline(live.services, HelplineSpec(slug="zeeland", name="Zeeland",
                                             whatsapp_phone_number_id="2000000002"))
    context = browser.new_context()
    page = context.new_page()
    errors = errors_of(page)
    sign_in_as(page, live.base_url, user, secret, "/console/accounts")
    page.goto(f"{live.base_url}/console/helplines")
    form = page.locator("#new-helpline")

    form.locator("[name=name]").fill("Brabant-Oost")
    form.locator("[name=slug]").fill("brabant-oost")
    form.locator("[name=whatsapp_phone_number_id]").fill("2000000002")  # Zeeland's
    form.get_by_role("button", name="Hulplijn toevoegen").click()
    flash = page.locator("#flash")
    flash.wait_for(state="visible")
    assert flash.text_content() == "Dat lukte niet: another helpline already has this number"
    assert {h.slug for h in live.services.helplines.all()} == {"default", "zeeland"}

    form.locator("[name=whatsapp_phone_number_id]").fill("2000000003")
    with page.expect_navigation():
        form.get_by_role("button", name="Hulplijn toevoegen").click()
    page.get_by_text("brabant-oost").first.wait_for()
    assert "brabant-oost" in {h.slug for h in live.services.helplines.all()}
    assert errors == []
    context.close()


def test_a_person_in_two_helplines_picks_one_and_the_header_names_it(
    live: Live, browser: Any
) -> None:
    username, secret = live.account("volunteer", "Mira")
    zeeland = add_helpline(live.services, HelplineSpec(
        slug="zeeland", name="Zeeland", whatsapp_phone_number_id="2000000002"))
    with live.services.db.session() as session:
        mira = session.exec(select(User).where(User.username == username)).one()
        grant(session, mira, zeeland.id, "coordinator", None, live.services.now())
        session.commit()

    context = browser.new_context()
    page = context.new_page()
    errors = errors_of(page)
    sign_in_as(page, live.base_url, username, secret, "/console/helpline")
    page.get_by_role("button", name="Zeeland").click()
    page.wait_for_url(f"{live.base_url}/console/stats")  # a coordinator's home
    page.goto(f"{live.base_url}/console/held")
    assert page.locator(".active-helpline").text_content() == "Zeeland"
    # As Zeeland's coordinator she reads no conversations, only its figures.
    assert page.evaluate(
        "fetch('/api/conversations', {credentials: 'same-origin'}).then(r => r.status)") == 403
    assert errors == []
    context.close()
