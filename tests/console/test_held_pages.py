"""The coordinator's held-conversations page (`/console/held`): who holds
what since when, never a pseudonym or a word of content, and a hand-over form
for each row."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.console.conv_helpers import Agent
from tests.console.test_colleague_privacy import held_and_referred


def test_the_page_lists_holders_without_content_and_offers_each_volunteer(
    client: TestClient,
) -> None:
    world = held_and_referred(client)
    agents: dict[str, Agent] = world["agents"]  # type: ignore[assignment]
    held = str(world["held"])
    detail = agents["holder"].get(f"/api/conversations/{held}").json()
    page = agents["coordinator"].get("/console/held")
    assert page.status_code == 200
    html = page.text
    assert f'data-id="{held}"' in html
    assert "Roos" in html
    assert '<option value="Iris">Iris</option>' in html
    assert '<option value="Roos">' not in html  # not to the one who holds it already
    assert str(world["referred"]) not in html  # a partner's conversation is not the peers'
    for secret in (detail["pseudonym"], "ik wil met iemand praten", "Hoi, ik ben Roos",
                   "GGD-Anna", "PMW-Bo"):
        assert secret not in html, secret
    assert page.headers["cache-control"] == "no-store"


def test_with_nothing_held_the_page_says_so(client: TestClient) -> None:
    from tests.console.conv_helpers import make_agent

    coco = make_agent(client, "coordinator", alias="Coco")
    page = coco.get("/console/held")
    assert page.status_code == 200
    assert "Geen enkel gesprek wordt nu vastgehouden." in page.text
