"""The HTML console: server-rendered pages, escaping, language, static files."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.console.conv_helpers import make_agent, texter_writes
from tests.console.test_conversations import only_conversation

HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(2)">'


def test_an_anonymous_visit_is_sent_to_the_sign_in_page(client: TestClient) -> None:
    for path in ("/console", "/console/conversations/abc", "/console/stats",
                 "/console/accounts"):
        page = client.get(path, follow_redirects=False)
        assert page.status_code == 303, path
        assert page.headers["location"] == "/console/login", path
    page = client.get("/console")
    assert page.status_code == 200
    assert 'id="login-form"' in page.text
    assert 'autocomplete="one-time-code"' in page.text
    assert client.get("/api/conversations").status_code == 401  # the API still says 401


def test_the_queue_page_lists_conversations_by_pseudonym(client: TestClient) -> None:
    roos = make_agent(client, alias="Roos")
    texter_writes(client, "hallo")
    item = only_conversation(roos)
    page = roos.get("/console")
    assert page.status_code == 200
    assert item["pseudonym"] in page.text
    assert f'/console/conversations/{item["id"]}' in page.text
    assert "Wachtrij" in page.text  # Dutch by default
    assert page.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_a_hostile_body_is_escaped_in_the_conversation_page(client: TestClient) -> None:
    roos = make_agent(client)
    texter_writes(client, HOSTILE)
    cid = only_conversation(roos)["id"]
    page = roos.get(f"/console/conversations/{cid}")
    assert page.status_code == 200
    assert "<script>alert" not in page.text
    assert "<img src=x" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_the_interface_language_is_a_per_user_choice(client: TestClient) -> None:
    roos, iris = make_agent(client, alias="Roos"), make_agent(client, alias="Iris")
    assert roos.put("/api/me/language", {"language": "en"}).status_code == 200
    assert roos.put("/api/me/language", {"language": "xx"}).status_code == 400
    assert "Queue" in roos.get("/console").text
    assert "Wachtrij" in iris.get("/console").text


def test_pages_load_nothing_from_other_origins(client: TestClient) -> None:
    roos = make_agent(client)
    texter_writes(client, "hallo")
    cid = only_conversation(roos)["id"]
    for path in ("/console/login", "/console", f"/console/conversations/{cid}"):
        html = roos.get(path).text
        for url in re.findall(r'(?:src|href)="([^"]+)"', html):
            assert url.startswith(("/", "#", "data:")), url
        assert "<style" not in html
        assert not re.search(r"<script(?![^>]*(src=\"/static/|type=\"application/json\"))", html)
        assert " style=" not in html
        assert " onclick=" not in html


def test_static_files_are_served_and_bodies_go_in_as_text(client: TestClient) -> None:
    js = client.get("/static/console.js")
    assert js.status_code == 200
    assert "javascript" in js.headers["content-type"]
    assert client.get("/static/console.css").status_code == 200
    code = "\n".join(line for line in js.text.splitlines()
                     if not line.lstrip().startswith("//"))
    assert "innerHTML" not in code
    assert "insertAdjacentHTML" not in code
    assert "outerHTML" not in code
    assert "http://" not in js.text
    assert "https://" not in js.text


def test_coordinators_get_no_conversation_pages(client: TestClient) -> None:
    boss = make_agent(client, "coordinator")
    texter_writes(client, "hallo")
    landing = boss.get("/console", follow_redirects=False)
    assert landing.status_code == 303
    assert landing.headers["location"] == "/console/stats"
    page = boss.get("/console/conversations/abc")
    assert page.status_code == 403
    assert 'href="/console/stats"' in page.text  # a way back to their own page


def test_browser_notifications_carry_a_fixed_sentence_only(client: TestClient) -> None:
    js = client.get("/static/console.js").text
    calls = re.findall(r"new Notification\(([^)]*)\)", js)
    assert calls == ['T.notify_text, { tag: "helpline-queue", silent: false }']


def test_saved_replies_in_the_texters_language_are_offered(client: TestClient) -> None:
    from helpline.store.models import SavedReply
    from tests.console.test_conversations import services_of

    with services_of(client).db.session() as session:
        session.add(SavedReply(language="nl", title="Groet", body="Hoi, fijn dat je schrijft."))
        session.add(SavedReply(language="en", title="Hello", body="Hi, good that you wrote."))
    roos = make_agent(client)
    texter_writes(client, "hallo")
    cid = only_conversation(roos)["id"]
    page = roos.get(f"/console/conversations/{cid}").text
    assert 'data-body="Hoi, fijn dat je schrijft."' in page
    assert "Hi, good that you wrote." not in page
    listed = roos.get("/api/saved-replies?language=en").json()["items"]
    assert [r["title"] for r in listed] == ["Hello"]
