"""The console in headless Chromium against the real app: sign-in with TOTP,
live arrival, claim seen by a colleague, a reply through the (fake) Graph API
turning delivered, hostile bodies staying text, and no request to another
origin."""

from __future__ import annotations

import time
from typing import Any

from tests.browser.conftest import Live, sign_in

HOSTILE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.05)


def watch(page: Any, base_url: str) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {"requests": [], "dialogs": [], "csp": []}
    page.on("request", lambda r: seen["requests"].append(r.url))
    page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
    page.on("console", lambda m: seen["csp"].append(m.text)
            if "Content Security Policy" in m.text else None)
    return seen


def test_volunteers_answer_live_in_the_browser(live: Live, browser: Any) -> None:
    roos_user, roos_secret = live.account("volunteer", "Roos")
    iris_user, iris_secret = live.account("volunteer", "Iris")
    roos_ctx, iris_ctx = browser.new_context(), browser.new_context()
    roos, iris = roos_ctx.new_page(), iris_ctx.new_page()
    seen_roos, seen_iris = watch(roos, live.base_url), watch(iris, live.base_url)

    # Sign in with username, password and TOTP.
    sign_in(roos, live.base_url, roos_user, roos_secret)
    sign_in(iris, live.base_url, iris_user, iris_secret)
    roos.wait_for_selector("#live:not(:empty)")
    iris.wait_for_selector("#live:not(:empty)")

    # A WhatsApp message arrives live in both queues.
    live.texter_writes("Hoi, ik heb een vraag")
    item = roos.locator("#items .item").first
    item.wait_for()
    iris.locator("#items .item").first.wait_for()
    pseudonym = item.locator(".pseudonym").text_content()

    # Roos claims; Iris sees the claim without reloading.
    item.locator("a").click()
    roos.wait_for_url("**/console/conversations/*")
    roos.get_by_role("button", name="Oppakken").click()
    roos.locator("#reply-body").wait_for()
    iris.locator("#items .item .claim", has_text="opgepakt door Roos").wait_for()

    # Roos answers; the reply leaves through the fake Graph API and turns delivered.
    roos.get_by_label("Antwoord").fill("Hoi! Ik ben Roos van de peergroep.")
    roos.get_by_role("button", name="Versturen").click()
    wait_until(lambda: any(t == "Hoi! Ik ben Roos van de peergroep."
                           for _, t in live.graph.texts()))
    provider_id = next(i for i, t in live.graph.texts()
                       if t == "Hoi! Ik ben Roos van de peergroep.")
    roos.locator(".msg-out .status", has_text="verstuurd").last.wait_for()
    live.status(provider_id, "delivered")
    last_out = roos.locator(".msg-out").last
    last_out.locator(".status", has_text="afgeleverd").wait_for()
    assert last_out.locator(".body").text_content() == "Hoi! Ik ben Roos van de peergroep."

    # Hostile markup arrives live and stays inert text.
    live.texter_writes(HOSTILE)
    roos.locator(".msg-in .body", has_text="__pwned").wait_for()
    assert roos.locator(".msg-in .body").last.text_content() == HOSTILE
    assert roos.locator("#messages img").count() == 0
    assert roos.locator("#messages script").count() == 0
    assert roos.evaluate("window.__pwned === undefined")
    # ...also in the server-rendered page.
    roos.reload()
    roos.locator(".msg-in .body", has_text="__pwned").wait_for()
    assert roos.locator("#messages img").count() == 0
    assert roos.evaluate("window.__pwned === undefined")
    assert pseudonym
    assert pseudonym in roos.locator("h1").text_content()

    # Nothing went to another origin, no dialog opened, no CSP violation.
    for seen in (seen_roos, seen_iris):
        assert seen["requests"]
        assert all(url.startswith(live.base_url + "/") or url.startswith("data:")
                   for url in seen["requests"]), seen["requests"]
        assert seen["dialogs"] == []
        assert seen["csp"] == []
    roos_ctx.close()
    iris_ctx.close()


def test_a_wrong_code_is_refused_in_the_sign_in_form(live: Live, browser: Any) -> None:
    username, _ = live.account("volunteer", "Roos")
    page = browser.new_page()
    page.goto(f"{live.base_url}/console/login")
    page.get_by_label("Gebruikersnaam").fill(username)
    page.get_by_label("Wachtwoord").fill("correct horse battery staple")
    page.get_by_label("Code uit je authenticator-app").fill("000000")
    page.get_by_role("button", name="Inloggen").click()
    page.get_by_role("alert").filter(has_text="Inloggen is niet gelukt").wait_for()
    assert page.url.endswith("/console/login")
    page.close()
