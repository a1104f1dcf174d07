"""The simulator's "Record voice note" button in headless Chromium with a fake
microphone (`--use-fake-device-for-media-stream` plays a tone,
`--use-fake-ui-for-media-stream` says yes to the permission prompt):
MediaRecorder records a WebM/Opus note, the simulator sends it, the worker
cleans and seals it, and the volunteer's console plays it from an audio URL
of our origin. The recording's MuxingApp/WritingApp ("Chrome") are gone from
what is stored, read by parsing the EBML."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import select

from helpline.media import store as media_store
from helpline.services import Services
from helpline.store.models import MediaItem, Texter
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, Live, sign_in
from tests.browser.test_console_e2e import wait_until, watch
from tests.media import ebml

FAKE_MICROPHONE = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


@pytest.fixture
def browser_with_microphone() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM),
                                     args=CHROMIUM_ARGS + FAKE_MICROPHONE)
        yield chromium
        chromium.close()


def stored_voice_note(services: Services) -> tuple[str | None, bytes] | None:
    with services.db.session() as session:
        found = session.exec(
            select(MediaItem, Texter).join(Texter, Texter.id == MediaItem.texter_id)
            .where(MediaItem.state == "stored", MediaItem.kind == "audio")
        ).first()
        if found is None:
            return None
        item, texter = found
        key = services.vault.key(session, texter.data_key_id)
        return item.content_type, bytes(media_store.read(services.settings, item, key))


def test_a_recorded_voice_note_reaches_the_console_cleaned_and_plays(
    live_with_simulator: Live, browser_with_microphone: Any
) -> None:
    live = live_with_simulator
    services = live.services
    sim_context = browser_with_microphone.new_context(permissions=["microphone"])
    sim = sim_context.new_page()
    sim_seen = watch(sim, live.base_url)
    sim.goto(f"{live.base_url}/simulator")
    record = sim.locator("#record")
    record.click()
    sim.locator("#record[aria-pressed='true']").wait_for()  # recording
    # Two seconds of the fake microphone's tone; waiting through Playwright
    # (not time.sleep) keeps its event loop turning.
    sim.wait_for_timeout(2000)
    # The upload is caught as Playwright sees it leave: a listener filling a
    # list is only run while the sync API is called, so polling the list
    # could wait forever on a slow machine.
    with sim.expect_request(lambda r: r.url.endswith("/simulator/api/media"),
                            timeout=20000) as upload:
        record.click()
    recorded = base64.b64decode(json.loads(upload.value.post_data or "{}")["media"])
    sim.locator("#chat .bubble.mine", has_text="[voice message or audio]").wait_for()

    # What MediaRecorder made names its maker; what is stored does not.
    assert recorded.startswith(b"\x1a\x45\xdf\xa3")  # EBML: WebM
    made_by = ebml.elements(recorded)
    assert ebml.text(made_by["MuxingApp"][0]) == "Chrome"
    assert ebml.text(made_by["WritingApp"][0]) == "Chrome"
    wait_until(lambda: stored_voice_note(services) is not None, timeout=20)
    found = stored_voice_note(services)
    assert found is not None
    content_type, kept = found
    assert content_type == "audio/webm"
    assert b"Chrome" not in kept
    after = ebml.elements(kept)
    assert [ebml.text(v) for v in after["MuxingApp"] + after["WritingApp"]] == ["", ""]
    assert after["CodecID"] == made_by["CodecID"]  # still Opus, still playable

    # The volunteer's console shows an audio player whose source is served as
    # audio and loads.
    username, secret = live.account("volunteer", "Roos")
    context = browser_with_microphone.new_context()
    page = context.new_page()
    seen = watch(page, live.base_url)
    sign_in(page, live.base_url, username, secret)
    page.locator("#items .item a").first.click()
    page.wait_for_url("**/console/conversations/*")
    audio = page.locator(".media-audio audio")
    audio.wait_for(state="attached", timeout=15000)
    source = audio.get_attribute("src")
    assert source is not None
    assert source.startswith("/api/conversations/")
    served = page.evaluate(
        "(async (url) => { const r = await fetch(url, {credentials: 'same-origin'});"
        " return [r.status, r.headers.get('content-type'), (await r.arrayBuffer()).byteLength];"
        " })", source)
    assert served[0] == 200
    assert served[1] == "audio/webm"
    assert served[2] == len(kept)
    page.evaluate("(() => { const a = document.querySelector('.media-audio audio');"
                  " a.preload = 'metadata'; a.load(); })()")
    wait_until(lambda: page.evaluate(
        "(() => { const a = document.querySelector('.media-audio audio');"
        " return a.readyState >= 1 && !a.error; })()"), timeout=15)
    # A live recording carries no duration in its header: Chromium says
    # Infinity until it has read to the end, which is > 0 as well.
    assert page.evaluate("document.querySelector('.media-audio audio').duration") > 0

    for watched in (seen, sim_seen):
        assert all(url.startswith(live.base_url + "/") or url.startswith("data:")
                   or url.startswith("blob:") for url in watched["requests"]), watched["requests"]
        assert watched["csp"] == []
    context.close()
    sim_context.close()
