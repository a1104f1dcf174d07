"""Issue 22.5: a queue row shows what a volunteer needs to choose (waiting
time, language, urgency, topics, the first line of the texter's newest
message), and nothing of it for a conversation a colleague holds."""

from __future__ import annotations

from fastapi.testclient import TestClient

from helpline.console.conversation_previews import first_line
from tests.console.conv_helpers import make_agent, texter_writes
from tests.console.test_colleague_privacy import held_and_referred


def row(items: list[dict[str, object]], cid: str) -> dict[str, object]:
    return next(i for i in items if i["id"] == cid)


def test_a_queue_row_shows_the_texters_newest_line_not_the_welcome(client: TestClient) -> None:
    roos = make_agent(client, alias="Roos")
    texter_writes(client, "Hoi, ik heb een vraag over een test.\nTweede regel")
    texter_writes(client, "Kan ik anoniem komen?\nen nog iets")
    item = roos.get("/api/conversations?view=queue").json()["items"][0]
    assert item["preview"] == "Kan ik anoniem komen?"
    assert item["labels"] == []
    assert item["waiting_seconds"] is not None
    page = roos.get("/console").text
    assert '<span class="item-preview">Kan ik anoniem komen?</span>' in page


def test_a_queue_row_lists_the_topics_set_on_it(client: TestClient) -> None:
    roos = make_agent(client, alias="Roos")
    texter_writes(client, "Mijn huisbaas wil me eruit zetten")
    cid = roos.get("/api/conversations?view=queue").json()["items"][0]["id"]
    assert roos.post(f"/api/conversations/{cid}/claim").status_code == 200
    assert roos.put(f"/api/conversations/{cid}/labels",
                    {"labels": ["legal", "housing"]}).status_code == 200
    item = row(roos.get("/api/conversations?view=mine").json()["items"], cid)
    assert item["labels"] == ["housing", "legal"]
    page = roos.get("/console?view=mine").text
    assert '<span class="topic">Wonen</span><span class="topic">Juridisch</span>' in page


def test_a_colleagues_held_row_shows_no_line_and_no_topics(client: TestClient) -> None:
    world = held_and_referred(client)
    agents = world["agents"]
    held = str(world["held"])
    holder = agents["holder"]  # type: ignore[index]
    assert holder.put(f"/api/conversations/{held}/labels",
                      {"labels": ["safety"]}).status_code == 200
    own = row(holder.get("/api/conversations?view=queue").json()["items"], held)
    assert own["preview"] == "ik wil met iemand praten"
    assert own["labels"] == ["safety"]
    colleague = agents["colleague"]  # type: ignore[index]
    theirs = row(colleague.get("/api/conversations?view=queue").json()["items"], held)
    assert theirs["held_by_colleague"] is True
    assert theirs["preview"] is None
    assert theirs["labels"] == []
    page = colleague.get("/console").text
    assert "ik wil met iemand praten" not in page
    assert "class=\"topic\"" not in page


def test_a_partner_sees_no_line_from_before_the_texters_yes(client: TestClient) -> None:
    world = held_and_referred(client)
    ggd = world["agents"]["ggd"]  # type: ignore[index]
    referred = str(world["referred"])
    item = row(ggd.get("/api/conversations?view=queue").json()["items"], referred)
    # The texter's newest message is the "JA" that gave consent; "voor de GGD"
    # came before it and stays the peers'.
    assert item["preview"] == "JA"
    texter_writes(client, "Wanneer is het spreekuur?", wa_id="31600000002")
    item = row(ggd.get("/api/conversations?view=queue").json()["items"], referred)
    assert item["preview"] == "Wanneer is het spreekuur?"


def test_a_long_first_line_is_cut_at_a_word() -> None:
    line = first_line("  \n" + "woord " * 40 + "\nnext")
    assert line.endswith("…")
    assert len(line) <= 121
    assert "next" not in line
    assert first_line("kort") == "kort"


def test_a_row_under_a_content_warning_shows_no_line(client: TestClient) -> None:
    roos = make_agent(client, alias="Roos")
    iris = make_agent(client, alias="Iris")
    texter_writes(client, "Iets heftigs dat niet iedereen meteen wil lezen")
    cid = roos.get("/api/conversations?view=queue").json()["items"][0]["id"]
    assert roos.post(f"/api/conversations/{cid}/claim").status_code == 200
    assert roos.put(f"/api/conversations/{cid}/content-warning",
                    {"on": True}).status_code == 200
    assert roos.post(f"/api/conversations/{cid}/release").status_code == 200
    item = row(iris.get("/api/conversations?view=queue").json()["items"], cid)
    assert item["content_warning"] is True
    assert item["preview"] is None
    assert "Iets heftigs" not in iris.get("/console").text
