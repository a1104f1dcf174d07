"""Media in the console, in headless Chromium against the real app and a fake
Graph API: a voice note plays in the inline player, a photo is shown only
after the "show photo" click, and nothing is loaded from another origin."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import Live, sign_in
from tests.browser.test_console_e2e import wait_until, watch
from tests.conftest import FAKE_NUMBER
from tests.media import samples
from tests.media.helpers import wa_media_payload


def test_a_voice_note_plays_and_a_photo_shows_after_the_click(
    live: Live, browser: Any
) -> None:
    live.graph.media["2100"] = ("audio/ogg", samples.ogg_opus_voice_note(seconds=2))
    live.graph.media["2200"] = ("image/jpeg", samples.jpeg_with_gps())
    username, secret = live.account("volunteer", "Roos")
    context = browser.new_context()
    page = context.new_page()
    seen = watch(page, live.base_url)
    sign_in(page, live.base_url, username, secret)

    live.webhook(wa_media_payload("voice", "2100", mime_type="audio/ogg; codecs=opus"))
    live.webhook(wa_media_payload("image", "2200", mime_type="image/jpeg"))
    page.locator("#items .item a").first.click()
    page.wait_for_url("**/console/conversations/*")

    # Fetched by the worker a moment after the webhooks: the page updates live.
    audio = page.locator(".media-audio audio")
    audio.wait_for(state="attached", timeout=15000)
    page.evaluate("document.querySelector('.media-audio audio').muted = true")
    page.evaluate("document.querySelector('.media-audio audio').play()")
    wait_until(lambda: page.evaluate(
        "(() => { const a = document.querySelector('.media-audio audio');"
        " return a.currentTime > 0 && !a.error; })()"), timeout=15)
    assert page.evaluate("document.querySelector('.media-audio audio').duration") > 1

    photo = page.locator(".media-image")
    photo.locator("button.media-show").wait_for()
    assert photo.locator("img").count() == 0  # nothing shown before the click
    photo.get_by_role("button", name="Foto tonen").click()
    image = photo.locator("img.media-content")
    image.wait_for()
    wait_until(lambda: page.evaluate(
        "document.querySelector('.media-image img').naturalWidth") == 48)

    # A new message refreshes the list live: the shown photo stays shown and
    # the voice note's player is the same element, not a fresh stopped one.
    page.evaluate("window.__player = document.querySelector('.media-audio audio')")
    live.texter_writes("Hoor je mij?", wa_id=FAKE_NUMBER)  # the same texter
    page.locator(".msg .body", has_text="Hoor je mij?").wait_for()
    assert page.evaluate(
        "document.querySelector('.media-audio audio') === window.__player")
    assert photo.locator("img.media-content").count() == 1

    assert all(url.startswith(live.base_url + "/") or url.startswith("data:")
               for url in seen["requests"]), seen["requests"]
    assert seen["csp"] == []
    assert seen["dialogs"] == []
    context.close()
