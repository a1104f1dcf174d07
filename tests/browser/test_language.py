"""Issue 22.4 in Chromium: a language chosen at sign-in or in the header
lasts for the session and is kept for the account; the simulator follows it
and shows times on a 24-hour clock."""

from __future__ import annotations

import re
import time
from typing import Any

import pyotp

from tests.browser.conftest import PASSWORD, Live


def sign_in(page: Any, base_url: str, username: str, secret: str, *, lang: str,
            labels: tuple[str, str, str, str], at: float | None = None) -> None:
    user_label, password_label, code_label, button = labels
    page.goto(f"{base_url}/console/login?lang={lang}")
    page.get_by_label(user_label).fill(username)
    page.get_by_label(password_label).fill(PASSWORD)
    page.get_by_label(code_label).fill(pyotp.TOTP(secret).at(at or time.time()))
    page.get_by_role("button", name=button).click()
    page.wait_for_url(f"{base_url}/console")


ENGLISH = ("Username", "Password", "Code from your authenticator app", "Sign in")
DUTCH = ("Gebruikersnaam", "Wachtwoord", "Code uit je authenticator-app", "Inloggen")


def test_a_language_choice_lasts_for_the_session_and_the_account(
    live_with_simulator: Live, browser: Any
) -> None:
    live = live_with_simulator
    user, secret = live.account("volunteer", "Roos")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()

    # Signed in from the English sign-in page: the console is English...
    sign_in(page, live.base_url, user, secret, lang="en", labels=ENGLISH)
    assert page.locator("html").get_attribute("lang") == "en"
    page.get_by_role("link", name="Queue").first.wait_for()
    page.goto(f"{live.base_url}/console?view=mine")
    page.get_by_role("link", name="My conversations").wait_for()

    # ...and so is the simulator in the same browser, with a 24-hour clock.
    sim = context.new_page()
    sim.goto(f"{live.base_url}/simulator")
    assert sim.locator("h1").text_content() == "Helpline simulator"
    sim.get_by_placeholder("Message").fill("Hello, I have a question")
    sim.get_by_role("button", name="Send").click()
    sim.locator(".bubble.theirs .bubble-author", has_text="Helpline (automatic)").first.wait_for()
    times = sim.locator(".bubble-time").all_text_contents()
    assert times
    assert all(re.fullmatch(r"\d{2}:\d{2}", t) for t in times), times
    # The simulator's own switch, for the browser session.
    sim.get_by_role("link", name="Nederlands").click()
    sim.get_by_role("heading", name="Hulplijn-simulator").wait_for()
    sim.goto(f"{live.base_url}/simulator")
    sim.get_by_role("heading", name="Hulplijn-simulator").wait_for()
    assert all(re.fullmatch(r"\d{2}:\d{2}", t) for t in sim.locator(".bubble-time")
               .all_text_contents())
    sim.close()  # its event stream would hold one of the browser's six connections

    # Switched to Dutch in the header: every page after that is Dutch.
    page.get_by_role("button", name="Nederlands").click()
    page.get_by_role("link", name="Wachtrij").first.wait_for()
    page.goto(f"{live.base_url}/console?view=closed")
    assert page.locator("html").get_attribute("lang") == "nl"

    # Signed out, the end-of-shift page stays Dutch; signed in again (the
    # next TOTP step: a code signs in once) without choosing: still Dutch.
    page.get_by_role("button", name="Uitloggen").click()
    page.wait_for_url("**/console/shift-end?lang=nl")
    context.clear_cookies()
    page.goto(f"{live.base_url}/console/login")
    page.get_by_label(DUTCH[0]).fill(user)
    page.get_by_label(DUTCH[1]).fill(PASSWORD)
    page.get_by_label(DUTCH[2]).fill(pyotp.TOTP(secret).at(time.time() + 30))
    page.get_by_role("button", name=DUTCH[3]).click()
    page.wait_for_url(f"{live.base_url}/console")
    page.get_by_role("link", name="Wachtrij").first.wait_for()
    assert page.locator("html").get_attribute("lang") == "nl"
    context.close()
