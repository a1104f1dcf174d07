"""Non-text messages (location, contact cards, orders, photos, kinds the helpline
does not know) reach the console with their kind and a readable placeholder, in the
JSON API and on the conversation page, instead of an empty bubble."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from helpline.console.placeholders import PLACEHOLDERS
from tests.conftest import post_whatsapp
from tests.console.conv_helpers import make_agent

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "whatsapp"
# fixture -> the kind it arrives as
SENT = {
    "location__chosen": "location",
    "contacts__three_cards": "contacts",
    "order__products": "unsupported",
    "unsupported__unknown_type": "unsupported",
    "image__no_caption": "image",
    "audio__voice": "audio",
}


def deliver_all(client: TestClient) -> None:
    # One texter (the fixtures share a sender); each delivery its own message id.
    for n, name in enumerate(["text__basic", *SENT]):
        raw = (FIXTURES / f"{name}.json").read_text().replace("wamid.xyzxyz", f"wamid.ph{n}")
        assert post_whatsapp(client, raw.encode()).status_code == 200


def test_every_non_text_message_has_its_kind_and_a_placeholder_in_the_api(
    client: TestClient,
) -> None:
    deliver_all(client)
    volunteer = make_agent(client, alias="Roos")
    [item] = volunteer.get("/api/conversations?view=queue").json()["items"]
    assert volunteer.post(f"/api/conversations/{item['id']}/claim").status_code == 200
    messages = volunteer.get(f"/api/conversations/{item['id']}").json()["messages"]
    inbound = [m for m in messages if m["direction"] == "in"]
    # The fake clock stands still, so the order among them is not asserted.
    assert sorted(m["kind"] for m in inbound) == sorted(["text", *SENT.values()])
    for message in inbound:
        if message["kind"] == "text":
            assert message["placeholder"] is None
            assert message["body"] == "Body Text"
        else:
            assert message["placeholder"] == PLACEHOLDERS[message["kind"]]
    # What the bot sent is text and needs none.
    assert all(m["placeholder"] is None for m in messages if m["direction"] == "out")


@pytest.mark.parametrize(("lang", "expected"), [("nl", "[locatie: niet getoond"),
                                                 ("en", "[location: not shown")])
def test_the_conversation_page_shows_the_placeholder_in_the_volunteers_language(
    client: TestClient, lang: str, expected: str
) -> None:
    deliver_all(client)
    volunteer = make_agent(client, alias="Iris")
    assert volunteer.put("/api/me/language", {"language": lang}).status_code == 200
    [item] = volunteer.get("/api/conversations?view=queue").json()["items"]
    volunteer.post(f"/api/conversations/{item['id']}/claim")
    page = volunteer.get(f"/console/conversations/{item['id']}")
    assert page.status_code == 200
    assert expected in page.text
    assert "[unsupported]" not in page.text
