"""Issue 21.8: script payloads in every text field a console page shows stay
inert in a real browser: texter messages, notes, saved replies and a
volunteer's alias. No dialog opens, no injected script runs, the strict CSP
has nothing to block (nothing was parsed as markup), and no request leaves
the origin."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from helpline.console import accounts
from helpline.store.models import Conversation, Note, SavedReply, Texter
from tests.browser.conftest import PASSWORD, Live, sign_in

PAYLOADS = [
    '<img src=x onerror="alert(1);window.__pwned=1">',
    '</script><script>alert(2);window.__pwned=2</script>',
    '<a href="javascript:alert(3)">klik</a>',
    "\u202egnp.exe\u202c <svg onload=alert(4)>",
    '"><iframe src="https://evil.example/"></iframe>',
    "{{ 7*7 }} ${7*7} <style>body{display:none}</style>",
]


def test_script_payloads_stay_text_everywhere(live: Live, browser: Any) -> None:
    alias = '<img src=x onerror="alert(5)">Roos'
    user, secret = accounts.create_user(live.services, "roos", "volunteer", PASSWORD,
                                        alias=alias)
    username = user.username
    for payload in PAYLOADS:
        live.texter_writes(payload)
    services = live.services
    now = services.now()
    with services.db.session() as session:
        conversation = session.exec(select(Conversation)).one()
        texter = session.get(Texter, conversation.texter_id)
        assert texter is not None
        key = services.vault.key(session, texter.data_key_id)
        for payload in PAYLOADS:
            note = Note(conversation_id=conversation.id, texter_id=texter.id,
                        audience="peer", created_at=now, body=b"")
            note.body = services.vault.seal(key, payload, "notes", "body", note.id)
            session.add(note)
            session.add(SavedReply(language="nl", title=payload[:120], body=payload,
                                   created_at=now, updated_at=now))
        conversation_id = conversation.id

    context = browser.new_context()
    page = context.new_page()
    seen: dict[str, list[str]] = {"dialogs": [], "foreign": [], "errors": []}
    page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
    page.on("request", lambda r: seen["foreign"].append(r.url)
            if not r.url.startswith(live.base_url) and not r.url.startswith("data:") else None)
    page.on("console", lambda m: seen["errors"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))

    sign_in(page, live.base_url, username, secret)
    page.locator("#items .item").first.wait_for()
    page.goto(f"{live.base_url}/console/conversations/{conversation_id}")
    page.get_by_role("button", name="Oppakken").click()
    page.locator("#reply-body").wait_for()
    page.wait_for_timeout(500)
    text = page.locator("body").inner_text()
    for payload in PAYLOADS:
        # Shown as the very characters (the page may trim or wrap whitespace).
        assert payload.split()[0] in text, payload
    assert page.evaluate("window.__pwned === undefined")
    assert page.locator("#messages img, #messages script, #messages iframe, "
                        "#messages svg, #messages a[href^=javascript]").count() == 0
    page.reload()
    page.locator("#reply-body").wait_for()
    page.wait_for_timeout(300)
    assert page.evaluate("window.__pwned === undefined")
    assert seen["dialogs"] == []
    assert seen["foreign"] == []
    assert [e for e in seen["errors"] if "Content Security Policy" in e or "alert" in e] == []
    context.close()
