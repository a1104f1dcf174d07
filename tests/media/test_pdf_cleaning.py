"""PDF documents lose their Info dictionary, XMP, PieceInfo, scripts and
embedded files, from a texter (WhatsApp document webhook, Graph API faked)
and in a volunteer's reply; one that cannot be rewritten is kept with a
warning, and never sent on."""

from __future__ import annotations

import io

import httpx
import pytest
import respx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pypdf import PdfReader

from helpline.media.cleaning import clean
from tests.console.conv_helpers import make_agent, texter_writes
from tests.media import samples
from tests.media.helpers import graph_media, media_rows, post_media, run_fetcher, wa_media_payload
from tests.media.test_attachments import SEND_URL, UPLOAD_URL, attach, claimed, run_outbox
from tests.media.test_fetch import media_of, only_conversation

NEEDLE = samples.PDF_NEEDLE.encode()


def assert_clean_pdf(data: bytes) -> None:
    """Parses as a PDF, keeps its page and text, and holds no needle anywhere."""
    assert NEEDLE not in data
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 1
    assert samples.PDF_TEXT in reader.pages[0].extract_text()
    assert reader.metadata is None
    assert reader.xmp_metadata is None
    assert "/PieceInfo" not in reader.pages[0]
    root = reader.root_object
    assert not {"/Metadata", "/PieceInfo", "/OpenAction", "/Names"} & set(root.keys())


def test_the_sample_carries_the_needle_where_a_pdf_keeps_its_maker() -> None:
    # Otherwise the tests below could not fail.
    data = samples.pdf_with_metadata()
    reader = PdfReader(io.BytesIO(data))
    assert reader.metadata is not None
    assert reader.metadata.author == samples.PDF_NEEDLE
    assert reader.xmp_metadata is not None
    assert "/PieceInfo" in reader.pages[0]
    assert data.count(NEEDLE) >= 8


def test_a_pdf_is_rewritten_without_info_xmp_pieceinfo_scripts_or_files() -> None:
    cleaned = clean("application/pdf", samples.pdf_with_metadata())
    assert cleaned.metadata_removed
    assert_clean_pdf(bytes(cleaned.data))


@pytest.mark.parametrize("data", [samples.encrypted_pdf(), samples.pdf_document(),
                                  b"%PDF-1.7\n" + bytes(range(256)) * 8])
def test_an_encrypted_or_broken_pdf_is_kept_as_it_came_but_not_called_clean(data: bytes) -> None:
    cleaned = clean("application/pdf", data)
    assert not cleaned.metadata_removed
    assert bytes(cleaned.data) == data


@respx.mock
def test_a_texters_pdf_is_stored_without_its_metadata(client: TestClient, app: FastAPI) -> None:
    graph_media(respx.mock, "7100000000000001", samples.pdf_with_metadata(),
                mime_type="application/pdf")
    post_media(client, wa_media_payload("document", "7100000000000001",
                                        mime_type="application/pdf"))
    assert run_fetcher(app) == 1
    (row,) = media_rows(app)
    assert (row.state, row.error_reason) == ("stored", None)
    volunteer = make_agent(client)
    entry = media_of(only_conversation(volunteer))
    assert entry["warning"] is None
    served = volunteer.get(str(entry["url"]))
    assert served.status_code == 200
    assert served.headers["content-disposition"] == 'attachment; filename="document.pdf"'
    assert_clean_pdf(served.content)


@respx.mock
def test_an_encrypted_pdf_is_kept_as_a_download_with_a_warning(
    client: TestClient, app: FastAPI
) -> None:
    original = samples.encrypted_pdf()
    graph_media(respx.mock, "7100000000000002", original, mime_type="application/pdf")
    post_media(client, wa_media_payload("document", "7100000000000002",
                                        mime_type="application/pdf"))
    run_fetcher(app)
    (row,) = media_rows(app)
    assert (row.state, row.error_reason) == ("stored", "media:not_cleaned")
    volunteer = make_agent(client)
    entry = media_of(only_conversation(volunteer))
    assert entry["warning_code"] == "media:not_cleaned"
    assert "could not be removed" in str(entry["warning"])
    served = volunteer.get(str(entry["url"]))
    assert served.headers["content-disposition"] == 'attachment; filename="document.pdf"'
    assert served.content == original
    # The server-rendered page says it too, above the download button.
    page = volunteer.get(f"/console/conversations/{only_conversation(volunteer)['id']}")
    assert 'class="media-warning"' in page.text


@respx.mock
def test_a_volunteers_pdf_goes_out_without_its_metadata(client: TestClient, app: FastAPI) -> None:
    texter_writes(client, "folder graag")
    volunteer, conversation = claimed(client)
    upload = respx.post(UPLOAD_URL).mock(return_value=httpx.Response(200, json={"id": "556"}))
    respx.post(SEND_URL).mock(return_value=httpx.Response(200, json={
        "messaging_product": "whatsapp", "messages": [{"id": "wamid.OUTPDF2"}]}))
    response = attach(volunteer, conversation, samples.pdf_with_metadata())
    assert response.status_code == 201, response.text
    # What is stored for the conversation is the cleaned file...
    stored = volunteer.get(response.json()["media"][0]["url"])
    assert_clean_pdf(stored.content)
    # ...and so is what reaches the texter.
    run_outbox(app)
    form = upload.calls[0].request.content
    assert NEEDLE not in form
    start = form.index(b"%PDF-")
    end = form.index(b"%%EOF", start) + len(b"%%EOF")
    assert_clean_pdf(form[start:end])


@pytest.mark.parametrize("data", [samples.encrypted_pdf(), samples.pdf_document()])
def test_a_pdf_that_cannot_be_cleaned_is_refused_as_a_reply_with_a_clear_422(
    client: TestClient, app: FastAPI, data: bytes
) -> None:
    texter_writes(client, "folder graag")
    volunteer, conversation = claimed(client)
    response = attach(volunteer, conversation, data)
    assert response.status_code == 422
    assert "cannot be removed" in response.text
    assert media_rows(app) == []
