"""The simulator sends a photo and a voice note, and they reach the console
cleaned and sealed like a texter's (training covers media)."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from mutagen.oggopus import OggOpus
from PIL import Image

from helpline.config import Settings
from helpline.main import create_app
from helpline.store.db import make_engine
from helpline.store.migrate import upgrade
from tests.conftest import FakeClock
from tests.console.conv_helpers import make_agent
from tests.media import samples
from tests.media.helpers import media_rows, run_fetcher

SESSION = "simMediaSession0123456"
HEADERS = {"X-Simulator": "1"}


@pytest.fixture
def sim_app(
    settings_factory: Callable[..., Settings], clock: FakeClock, tmp_path: Path
) -> FastAPI:
    settings = settings_factory(simulator=True, media_dir=tmp_path / "media")
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    return create_app(settings, clock=clock, run_worker=False)


@pytest.fixture
def sim(sim_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(sim_app, base_url="http://testserver") as c:
        yield c


def send_media(client: TestClient, kind: str, data: bytes, message_id: str) -> int:
    body = {"session": SESSION, "id": message_id, "media_kind": kind,
            "media": base64.b64encode(data).decode()}
    return client.post("/simulator/api/media", json=body, headers=HEADERS).status_code


def test_a_photo_and_a_voice_note_from_the_simulator_reach_the_console(
    sim: TestClient, sim_app: FastAPI
) -> None:
    assert send_media(sim, "image", samples.jpeg_with_gps(), "m-1") == 202
    assert send_media(sim, "audio", samples.ogg_opus_voice_note(), "m-2") == 202
    assert run_fetcher(sim_app) == 2
    assert sorted((m.kind, m.state, m.content_type) for m in media_rows(sim_app)) == [
        ("audio", "stored", "audio/ogg"), ("image", "stored", "image/jpeg")]

    volunteer = make_agent(sim)
    conversation = volunteer.get("/api/conversations?view=queue").json()["items"][0]["id"]
    messages = volunteer.get(f"/api/conversations/{conversation}").json()["messages"]
    urls = {m["media"][0]["kind"]: m["media"][0]["url"] for m in messages if m["media"]}
    photo = volunteer.get(urls["image"]).content
    assert dict(Image.open(io.BytesIO(photo)).getexif()) == {}
    assert OggOpus(io.BytesIO(volunteer.get(urls["audio"]).content)).tags == []


def test_the_simulator_page_may_use_the_microphone_and_no_other_page_may(
    sim: TestClient,
) -> None:
    assert "microphone=(self)" in sim.get("/simulator").headers["permissions-policy"]
    assert "microphone=()" in sim.get("/healthz").headers["permissions-policy"]


@pytest.mark.parametrize(
    "body",
    [
        {"session": SESSION, "media_kind": "image", "media": "not base64!"},
        {"session": SESSION, "media_kind": "video", "media": "AAAA"},
        {"session": SESSION, "text": "no media at all"},
    ],
)
def test_a_broken_media_post_is_a_clear_400(sim: TestClient, body: dict[str, str]) -> None:
    response = sim.post("/simulator/api/media", json=body, headers=HEADERS)
    assert response.status_code == 400
    assert "error" in response.json()


def test_an_image_that_is_not_one_is_refused_not_stored(
    sim: TestClient, sim_app: FastAPI
) -> None:
    assert send_media(sim, "image", b"GIF89a" + b"\x00" * 40, "m-3") == 202
    run_fetcher(sim_app)
    (row,) = media_rows(sim_app)
    assert (row.state, row.error_reason) == ("refused", "media:unreadable_file")
