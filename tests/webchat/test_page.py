"""The chat page as served: neutral, configurable look; no inline script or
style, nothing from other origins; the six texter languages on the page."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from fastapi import FastAPI
from fastapi.testclient import TestClient

from helpline.config import Settings
from helpline.main import create_app
from helpline.webchat.routes import page_strings
from routing.model import WebChatLook
from routing.policy_file import default_policy
from tests.conftest import FakeClock


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text = ""
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text += data.strip()


def parsed(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    return tags


def test_the_page_has_no_inline_script_style_or_handler(client: TestClient) -> None:
    response = client.get("/chat")
    assert response.status_code == 200
    tags = parsed(response.text)
    scripts = [attrs for tag, attrs in tags.tags if tag == "script"]
    assert scripts == [{"src": "/static/webchat/chat.js", "defer": None}]
    assert tags.script_text == ""
    assert not any(tag == "style" for tag, _ in tags.tags)
    for _tag, attrs in tags.tags:
        assert "style" not in attrs
        assert not any(name.startswith("on") for name in attrs)


def test_the_page_names_only_its_own_origin(client: TestClient) -> None:
    html = client.get("/chat").text
    for tag, attrs in parsed(html).tags:
        for name in ("src", "href", "action"):
            value = attrs.get(name)
            if value is not None and tag != "body":
                assert value.startswith("/"), (tag, name, value)


def test_the_csp_forbids_inline_code_and_other_origins(client: TestClient) -> None:
    csp = client.get("/chat").headers["content-security-policy"]
    assert "unsafe-inline" not in csp
    assert "default-src 'none'" in csp
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert client.get("/chat").headers["referrer-policy"] == "no-referrer"


def test_title_favicon_and_exit_url_come_from_the_policy(
    migrated: Settings, clock: FakeClock
) -> None:
    from dataclasses import replace

    policy = replace(default_policy(), webchat=WebChatLook(
        title="Boodschappen", exit_url="https://www.example.org/weer", favicon="leaf"))
    app = create_app(migrated.model_copy(update={"webchat": True}), clock=clock,
                     policy=policy, run_worker=False, run_inbox=False)
    with TestClient(app, base_url="https://testserver") as client:
        html = client.get("/chat").text
        assert "<title>Boodschappen</title>" in html
        assert 'href="/static/webchat/leaf.svg"' in html
        assert 'data-exit-url="https://www.example.org/weer"' in html
        assert client.get("/static/webchat/leaf.svg").status_code == 200


def test_the_default_look_is_neutral(client: TestClient) -> None:
    html = client.get("/chat").text
    title = re.search(r"<title>(.*)</title>", html)
    assert title is not None
    assert title.group(1) == "Notes"
    for word in ("sex", "helpline", "hulplijn", "prostitu"):
        assert word not in title.group(1).lower()


def test_every_policy_language_is_offered_and_chosen_by_the_page(client: TestClient) -> None:
    html = client.get("/chat").text
    codes = re.findall(r'data-lang="(\w+)"', html)
    assert codes == ["nl", "en", "es", "ro", "bg", "pl"]
    assert '<html lang="nl">' in html
    english = client.get("/chat?lang=en").text
    assert '<html lang="en">' in english
    assert "Quick exit" in english
    assert "Delete this chat" in english
    assert '<html lang="nl">' in client.get("/chat?lang=xx").text


def test_every_language_has_every_page_text() -> None:
    strings = page_strings()
    assert sorted(strings) == sorted(default_policy().languages)
    keys = set(strings["en"])
    for code, table in strings.items():
        assert set(table) == keys, code
        assert all(value.strip() for value in table.values()), code


def test_the_message_field_and_buttons_are_labelled_for_screen_readers(
    client: TestClient,
) -> None:
    html = client.get("/chat?lang=en").text
    assert '<label for="text"' in html
    assert 'role="log"' in html
    assert 'aria-live="polite"' in html
    assert 'role="status"' in html
    assert 'aria-label="Language"' in html


def test_the_script_keeps_nothing_in_the_browser_and_exits_with_replace(
    app: FastAPI, client: TestClient
) -> None:
    script = client.get("/static/webchat/chat.js").text
    for storage in ("localStorage", "sessionStorage", "indexedDB", "document.cookie"):
        assert storage not in script
    assert "location.replace(exitUrl)" in script
    assert "innerHTML" not in script
