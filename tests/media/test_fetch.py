"""Media from texters end to end: signed webhook -> pending row -> fetcher
(faked Graph API / signal-cli-rest-api) -> cleaned, sealed -> console route."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import respx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from mutagen.oggopus import OggOpus
from PIL import Image

from tests.conftest import FAKE_NUMBER, GRAPH, FakeClock
from tests.console.conv_helpers import Agent, make_agent, texter_writes
from tests.media import samples
from tests.media.helpers import (
    graph_media,
    media_rows,
    post_media,
    post_signal,
    run_fetcher,
    signal_attachment,
    signal_attachment_envelope,
    streamed,
    wa_media_payload,
)


def only_conversation(agent: Agent) -> dict[str, object]:
    listing = agent.get("/api/conversations?view=queue").json()["items"]
    assert len(listing) == 1
    detail: dict[str, object] = agent.get(f"/api/conversations/{listing[0]['id']}").json()
    return detail


def media_of(detail: dict[str, object]) -> dict[str, object]:
    messages = detail["messages"]
    assert isinstance(messages, list)
    found = [m["media"][0] for m in messages if m["media"]]
    assert len(found) == 1
    entry: dict[str, object] = found[0]
    return entry


@respx.mock
def test_photo_with_gps_is_stored_and_served_without_exif(client: TestClient, app: FastAPI) -> None:
    original = samples.jpeg_with_gps()
    graph_media(respx.mock, "1479537139650973", original, mime_type="image/jpeg")
    post_media(client, wa_media_payload("image", "1479537139650973", mime_type="image/jpeg"))
    assert [m.state for m in media_rows(app)] == ["pending"]

    assert run_fetcher(app) == 1
    volunteer = make_agent(client)
    entry = media_of(only_conversation(volunteer))
    assert (entry["state"], entry["content_type"]) == ("stored", "image/jpeg")

    served = volunteer.get(str(entry["url"]))
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    assert served.headers["cache-control"] == "no-store"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in served.headers["content-security-policy"]
    image = Image.open(io.BytesIO(served.content))
    assert dict(image.getexif()) == {}
    assert image.getexif().get_ifd(0x8825) == {}
    assert "icc_profile" not in image.info
    assert "xmp" not in image.info
    assert samples.DISTINCTIVE not in served.content
    # Orientation 6 was applied before the EXIF went: 64x48 is now upright 48x64.
    assert image.size == (48, 64)


@respx.mock
def test_voice_note_is_served_as_ogg_without_its_tags(client: TestClient, app: FastAPI) -> None:
    note = samples.ogg_opus_voice_note()
    graph_media(respx.mock, "2000000000000001", note, mime_type="audio/ogg; codecs=opus")
    post_media(client, wa_media_payload("voice", "2000000000000001",
                                        mime_type="audio/ogg; codecs=opus"))
    run_fetcher(app)
    volunteer = make_agent(client)
    entry = media_of(only_conversation(volunteer))
    served = volunteer.get(str(entry["url"]))
    assert served.status_code == 200
    assert served.headers["content-type"] == "audio/ogg"
    assert served.headers["content-disposition"] == "inline"
    assert OggOpus(io.BytesIO(served.content)).tags == []
    assert samples.OGG_NEEDLE.encode() not in served.content


@respx.mock
def test_a_100_mb_video_is_refused_by_the_cap_while_streaming(
    client: TestClient, app: FastAPI
) -> None:
    sent: list[int] = []

    def chunks() -> Iterator[bytes]:
        block = b"\x00\x00\x00\x18ftypmp42" + bytes(1024 * 1024 - 12)
        for _ in range(100):
            sent.append(len(block))
            yield block

    url = "https://lookaside.test/video/1"
    respx.get(f"{GRAPH}/3000000000000001").mock(return_value=httpx.Response(200, json={
        "messaging_product": "whatsapp", "url": url, "mime_type": "video/mp4",
        "sha256": "", "file_size": "1000", "id": "3000000000000001"}))
    respx.get(url).mock(return_value=streamed(chunks(), "video/mp4"))
    post_media(client, wa_media_payload("video", "3000000000000001", mime_type="video/mp4"))
    run_fetcher(app)

    (row,) = media_rows(app)
    assert (row.state, row.error_reason, row.content, row.blob_ref) == (
        "refused", "media:too_large", None, None)
    assert sum(sent) < 40 * 1024 * 1024  # stopped at the 32 MB cap, not after 100 MB
    volunteer = make_agent(client)
    detail = only_conversation(volunteer)
    entry = media_of(detail)
    assert entry["url"] is None
    assert "not kept" in str(entry["notice"])
    messages = detail["messages"]
    assert isinstance(messages, list)
    assert messages[0]["placeholder"] == "[video]"


@respx.mock
def test_a_graph_api_that_fails_twice_then_succeeds_gives_one_stored_file(
    client: TestClient, app: FastAPI, clock: FakeClock
) -> None:
    photo = samples.big_jpeg(0.05)
    download = graph_media(respx.mock, "4000000000000001", photo, mime_type="image/jpeg",
                           lookup_failures=(
        httpx.Response(500, json={"error": {"code": 2, "message": "Service temporarily"}}),
        httpx.ConnectError("reset"),
    ))
    post_media(client, wa_media_payload("image", "4000000000000001", mime_type="image/jpeg"))
    assert run_fetcher(app) == 1
    assert run_fetcher(app) == 0  # backing off: not due yet
    clock.advance(minutes=16)
    run_fetcher(app)
    assert media_rows(app)[0].state == "pending"
    clock.advance(minutes=16)
    run_fetcher(app)

    (row,) = media_rows(app)
    assert (row.state, row.attempts) == ("stored", 3)
    assert download.call_count == 1
    files = list((app.state.services.settings.media_dir).glob("*.sealed"))
    assert len(files) == 1
    assert files[0].stem == row.blob_ref


@respx.mock
def test_an_expired_media_url_becomes_a_visible_ask_to_resend_item(
    client: TestClient, app: FastAPI
) -> None:
    download = graph_media(respx.mock, "5000000000000001", b"", mime_type="image/jpeg")
    download.mock(return_value=httpx.Response(404, text="URL signature expired"))
    post_media(client, wa_media_payload("image", "5000000000000001", mime_type="image/jpeg"))
    run_fetcher(app)

    (row,) = media_rows(app)
    assert (row.state, row.error_reason, row.source) == (
        "failed", "whatsapp:download_404", None)
    entry = media_of(only_conversation(make_agent(client)))
    assert entry["state"] == "failed"
    assert entry["notice"] == "could not be fetched: ask the texter to send it again"


@respx.mock
def test_a_download_that_keeps_failing_ends_as_ask_to_resend(
    client: TestClient, app: FastAPI, clock: FakeClock
) -> None:
    respx.get(f"{GRAPH}/5100000000000001").mock(return_value=httpx.Response(503))
    post_media(client, wa_media_payload("image", "5100000000000001", mime_type="image/jpeg"))
    for _ in range(app.state.services.settings.media_fetch_max_attempts):
        run_fetcher(app)
        clock.advance(minutes=20)
    (row,) = media_rows(app)
    assert (row.state, row.error_reason) == ("failed", "whatsapp:lookup_503")


@respx.mock
def test_declared_type_is_not_trusted(client: TestClient, app: FastAPI) -> None:
    page = b"<html><script>alert(1)</script></html>"
    graph_media(respx.mock, "6000000000000001", page, mime_type="image/jpeg")
    post_media(client, wa_media_payload("image", "6000000000000001", mime_type="image/jpeg"))
    run_fetcher(app)
    (row,) = media_rows(app)
    assert (row.state, row.error_reason, row.content) == ("refused", "media:type_refused", None)


@respx.mock
def test_a_pdf_is_offered_as_a_download_and_its_file_name_is_not_kept(
    client: TestClient, app: FastAPI
) -> None:
    graph_media(respx.mock, "7000000000000001", samples.pdf_document(),
                mime_type="application/pdf")
    post_media(client, wa_media_payload("document", "7000000000000001",
                                        mime_type="application/pdf"))
    run_fetcher(app)
    volunteer = make_agent(client)
    entry = media_of(only_conversation(volunteer))
    served = volunteer.get(str(entry["url"]))
    assert served.headers["content-type"] == "application/pdf"
    assert served.headers["content-disposition"] == 'attachment; filename="document.pdf"'
    assert served.content == samples.pdf_document()


@respx.mock
def test_a_partner_without_consent_gets_no_media(client: TestClient, app: FastAPI) -> None:
    graph_media(respx.mock, "8000000000000001", samples.jpeg_with_gps(), mime_type="image/jpeg")
    post_media(client, wa_media_payload("image", "8000000000000001", mime_type="image/jpeg"))
    run_fetcher(app)
    volunteer = make_agent(client)
    url = str(media_of(only_conversation(volunteer))["url"])
    partner = make_agent(client, "partner", partner=app.state.services.policy.partners[0].id)
    assert partner.get(url).status_code in (403, 404)
    coordinator = make_agent(client, "coordinator")
    assert coordinator.get(url).status_code == 403
    anonymous = client.get(url, headers={"Cookie": ""})
    assert anonymous.status_code == 401
    # A made-up media id in a readable conversation is a plain 404.
    assert volunteer.get(url.rsplit("/", 1)[0] + "/nope").status_code == 404


@respx.mock
def test_a_signal_voice_note_is_fetched_cleaned_and_deleted_at_the_bridge(
    client: TestClient, app: FastAPI
) -> None:
    deleted = signal_attachment(respx.mock, "Ab12Cd34Ef.m4a", samples.m4a_with_location())
    post_signal(client, signal_attachment_envelope("Ab12Cd34Ef.m4a", "audio/aac"))
    run_fetcher(app)
    (row,) = media_rows(app)
    assert (row.kind, row.state, row.content_type) == ("audio", "stored", "audio/mp4")
    assert deleted.call_count == 1
    volunteer = make_agent(client)
    served = volunteer.get(str(media_of(only_conversation(volunteer))["url"]))
    assert served.headers["content-type"] == "audio/mp4"
    assert samples.MP4_NEEDLE not in served.content
    assert b"udta" not in served.content
    assert len(served.content) == len(
        samples.m4a_with_location())


@respx.mock
def test_a_partner_sees_media_from_the_texters_yes_on_and_nothing_before(
    client: TestClient, app: FastAPI, clock: FakeClock
) -> None:
    graph_media(respx.mock, "9300000000000001", samples.jpeg_with_gps(), mime_type="image/jpeg")
    graph_media(respx.mock, "9300000000000002", samples.pdf_document(),
                mime_type="application/pdf")
    post_media(client, wa_media_payload("image", "9300000000000001", mime_type="image/jpeg"))
    run_fetcher(app)
    volunteer = make_agent(client)
    conversation = volunteer.get("/api/conversations?view=queue").json()["items"][0]["id"]
    before = str(media_of(volunteer.get(f"/api/conversations/{conversation}").json())["url"])
    assert volunteer.post(f"/api/conversations/{conversation}/claim").status_code == 200
    assert volunteer.post(f"/api/conversations/{conversation}/referrals",
                          {"partner": "ggd"}).status_code == 201
    clock.advance(seconds=5)
    texter_writes(client, "JA", wa_id=FAKE_NUMBER)
    clock.advance(seconds=5)
    post_media(client, wa_media_payload("document", "9300000000000002",
                                        mime_type="application/pdf"))
    run_fetcher(app)

    partner = make_agent(client, "partner", partner="ggd")
    detail = partner.get(f"/api/conversations/{conversation}").json()
    urls = [m["media"][0]["url"] for m in detail["messages"] if m["media"]]
    assert len(urls) == 1  # the photo from before the yes is not even listed
    assert partner.get(urls[0]).status_code == 200
    assert partner.get(before).status_code == 404


@respx.mock
def test_rows_of_a_channel_this_process_lacks_do_not_starve_the_others(
    client: TestClient, app: FastAPI
) -> None:
    for n in range(6):
        post_signal(client, signal_attachment_envelope(f"Sig{n}.jpg", "image/jpeg",
                                                       timestamp=1764072000000 + n))
    graph_media(respx.mock, "9400000000000001", samples.jpeg_with_gps(), mime_type="image/jpeg")
    post_media(client, wa_media_payload("image", "9400000000000001", mime_type="image/jpeg"))
    channels = app.state.services.channels
    signal = channels.pop("signal")
    try:
        assert run_fetcher(app) == 1
    finally:
        channels["signal"] = signal
    states = sorted(row.state for row in media_rows(app))
    assert states == ["pending"] * 6 + ["stored"]


@respx.mock
def test_every_attachment_of_a_signal_message_is_fetched_and_deleted_at_the_bridge(
    client: TestClient, app: FastAPI
) -> None:
    photo_deleted = signal_attachment(respx.mock, "Ph0to1.jpg", samples.jpeg_with_gps())
    pdf_deleted = signal_attachment(respx.mock, "Leaf2.pdf", samples.pdf_document())
    envelope = signal_attachment_envelope("Ph0to1.jpg", "image/jpeg")
    attachments = envelope["envelope"]["dataMessage"]["attachments"]
    attachments.append(dict(attachments[0], id="Leaf2.pdf", contentType="application/pdf"))
    post_signal(client, envelope)
    assert run_fetcher(app) == 2
    assert sorted((m.kind, m.state) for m in media_rows(app)) == [
        ("document", "stored"), ("image", "stored")]
    assert photo_deleted.call_count == 1
    assert pdf_deleted.call_count == 1
    volunteer = make_agent(client)
    messages = only_conversation(volunteer)["messages"]
    assert isinstance(messages, list)
    assert [len(m["media"]) for m in messages if m["direction"] == "in"] == [2]


@respx.mock(assert_all_called=False)
def test_a_signal_sticker_shows_as_a_sticker_and_nothing_is_fetched(
    client: TestClient, app: FastAPI
) -> None:
    """signal-cli passes a sticker's pack id and number, not its image
    (docs/privacy.md): the volunteer sees that a sticker came, and nothing is
    asked of the bridge or of Signal's sticker servers (respx would refuse
    any request)."""
    envelope = signal_attachment_envelope("unused", "image/webp")
    data = envelope["envelope"]["dataMessage"]
    del data["attachments"]
    data["sticker"] = {"packId": "9acc9e8aba563d26a4994e69263e3b25", "stickerId": 2}
    post_signal(client, envelope)
    assert run_fetcher(app) == 0
    assert media_rows(app) == []
    volunteer = make_agent(client)
    messages = only_conversation(volunteer)["messages"]
    assert isinstance(messages, list)
    assert [(m["kind"], m["media"]) for m in messages if m["direction"] == "in"] == [
        ("sticker", [])]
    assert not respx.mock.calls
