"""The simulator page in headless Chromium sends a photo and a voice note
through its file inputs (the recording button uses MediaRecorder, which needs
a microphone a test machine does not have): both reach the console's
conversation as stored, cleaned media, and the phone shows them sent."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from helpline.config import Settings
from helpline.main import create_app
from helpline.services import Services
from helpline.store.models import MediaItem
from tests.browser.test_console_e2e import wait_until, watch
from tests.console.live_server import ThreadServer
from tests.media import samples


@pytest.fixture
def simulator(settings_factory: Callable[..., Settings], tmp_path: Path) -> Iterator[Any]:
    from helpline.store.db import make_engine
    from helpline.store.migrate import upgrade

    settings = settings_factory(simulator=True, media_dir=tmp_path / "media",
                                log_level="WARNING")
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    app = create_app(settings, run_worker=True)
    with ThreadServer(app) as server:
        yield server


def stored(services: Services) -> list[tuple[str, str | None]]:
    with services.db.session() as session:
        rows = session.exec(select(MediaItem).where(MediaItem.state == "stored")).all()
        return sorted((row.kind, row.content_type) for row in rows)


def test_the_simulator_sends_a_photo_and_a_voice_note(simulator: Any, browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    seen = watch(page, simulator.base_url)
    page.goto(f"{simulator.base_url}/simulator")
    page.set_input_files("#photo", files=[{
        "name": "IMG_0042.jpg", "mimeType": "image/jpeg", "buffer": samples.jpeg_with_gps()}])
    page.locator("#chat .bubble.mine").first.wait_for()
    page.set_input_files("#voice-file", files=[{
        "name": "voice.ogg", "mimeType": "audio/ogg", "buffer": samples.ogg_opus_voice_note()}])
    services: Services = simulator.app.state.services
    wait_until(lambda: len(stored(services)) == 2, timeout=20)
    assert stored(services) == [("audio", "audio/ogg"), ("image", "image/jpeg")]
    page.locator("#chat .bubble.mine", has_text="[voice message or audio]").wait_for()
    assert page.locator("#chat .bubble.mine", has_text="[photo]").count() == 1
    assert all(url.startswith(simulator.base_url + "/") or url.startswith("data:")
               for url in seen["requests"]), seen["requests"]
    assert seen["csp"] == []
    context.close()
