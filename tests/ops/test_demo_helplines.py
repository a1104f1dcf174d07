"""`helpline demo` sets up two helplines, Tilburg and Zeeland (issue 17), so
training shows the separation: the demo's own setup (the code `helpline demo`
runs before serving) in an empty directory, then the real app on that
database, signed in with the printed credentials. A simulated texter writing
to Zeeland's number lands in Zeeland's queue only, and one writing to
Tilburg's in Tilburg's only. SQLite and PostgreSQL."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient

from helpline.main import create_app
from helpline.ops import demo
from helpline.ops.demo_helplines import TILBURG, ZEELAND
from helpline.store.db import make_engine
from helpline.store.migrate import upgrade

LINE = re.compile(
    r"^role=(\S+) username=(\S+) password=(\S+) totp_secret=([A-Z2-7]+) helpline=(\S+)$")
HEADERS = {"X-Simulator": "1"}
BASE = "http://127.0.0.1:8000"
TILBURG_SESSION = "sim-tilburg-texter-0001"
ZEELAND_SESSION = "sim-zeeland-texter-0001"


def set_up(base: Path, database_url: str) -> tuple[Any, list[demo.DemoAccount], str]:
    """What `helpline demo` does before serving, on the test's database."""
    home = demo.prepare_home(base)
    master, index, created = demo.load_or_create_keys(home)
    assert created
    settings = demo.demo_settings(home, master, index, database_url=database_url)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    accounts = demo.ensure_accounts(settings, home)
    out = io.StringIO()
    demo.print_banner(accounts, home, 8000, out, io.StringIO())
    return settings, accounts, out.getvalue()


@pytest.fixture
def demo_setup(tmp_path: Path, database_url: str) -> tuple[Any, list[demo.DemoAccount], str]:
    return set_up(tmp_path, database_url)


class Console:
    def __init__(self, client: TestClient, account: demo.DemoAccount) -> None:
        self.client = client
        response = client.post("/api/auth/login", json={
            "username": account.username, "password": account.password,
            "totp": pyotp.TOTP(account.totp_secret).now()})
        assert response.status_code == 200, response.text
        self.body = response.json()
        self.csrf = self.body["csrf_token"]

    def get(self, path: str) -> Any:
        response = self.client.get(path)
        assert response.status_code == 200, response.text
        return response.json()


def simulator_writes(client: TestClient, helpline: str | None, session: str, text: str,
                     message_id: str = "m-1") -> None:
    path = "/simulator/api/messages" + (f"?helpline={helpline}" if helpline else "")
    response = client.post(path, json={"session": session, "id": message_id, "text": text},
                           headers=HEADERS)
    assert response.status_code == 202, response.text
    assert response.json()["stored"] == 1


def test_the_demo_prints_four_accounts_for_each_of_two_helplines(
    demo_setup: tuple[Any, list[demo.DemoAccount], str],
) -> None:
    _settings, accounts, banner = demo_setup
    printed = [LINE.match(line) for line in banner.splitlines()]
    lines = [m.groups() for m in printed if m]
    assert len(lines) == 8
    by_helpline: dict[str, dict[str, str]] = {}
    for role, username, _password, _secret, helpline in lines:
        by_helpline.setdefault(helpline, {})[role] = username
    four = {"volunteer", "partner", "coordinator", "admin"}
    assert set(by_helpline) == {"tilburg", "zeeland"}
    assert set(by_helpline["tilburg"]) == set(by_helpline["zeeland"]) == four
    # Tilburg keeps the usernames the README names; nobody's is shared.
    assert by_helpline["tilburg"]["volunteer"] == "volunteer"
    assert len({u for h in by_helpline.values() for u in h.values()}) == 8
    # Each group says whose numbers these are (fake ones).
    for helpline in (TILBURG, ZEELAND):
        assert (f"# {helpline.name} (helpline={helpline.slug}, fake WhatsApp phone number id "
                f"{helpline.whatsapp_phone_number_id}, Signal {helpline.signal_number})") in banner
    assert "/chat/zeeland" in banner


def test_each_account_works_in_its_own_helpline_with_its_own_policy(
    demo_setup: tuple[Any, list[demo.DemoAccount], str],
) -> None:
    settings, accounts, _ = demo_setup
    app = create_app(settings, run_worker=False, run_inbox=False)
    with TestClient(app, base_url=BASE, headers={"Origin": BASE}) as client:
        services = app.state.services
        helplines = {h.slug: h for h in services.helplines.all()}
        assert set(helplines) == {"tilburg", "zeeland"}
        tilburg, zeeland = helplines["tilburg"], helplines["zeeland"]
        assert (tilburg.whatsapp_phone_number_id, tilburg.signal_number) == (
            TILBURG.whatsapp_phone_number_id, TILBURG.signal_number)
        assert (zeeland.whatsapp_phone_number_id, zeeland.signal_number) == (
            ZEELAND.whatsapp_phone_number_id, ZEELAND.signal_number)
        # Zeeland's own policy: other hours, another threshold, its chat's look.
        assert tilburg.policy.stats_threshold == 5
        assert zeeland.policy.stats_threshold == 10
        assert zeeland.policy.weekly_hours != tilburg.policy.weekly_hours
        assert zeeland.policy.weekly_hours[5]  # open on Saturday; Tilburg is not
        assert not tilburg.policy.weekly_hours.get(5)
        assert zeeland.policy.webchat.title != tilburg.policy.webchat.title
        for account in accounts:
            signed_in = Console(client, account)
            assert signed_in.body["user"]["role"] == account.role
            me = signed_in.get("/api/auth/helplines")
            assert [(i["slug"], i["role"], i["active"]) for i in me["items"]] == [
                (account.helpline, account.role, True)]
            client.cookies.clear()


def test_the_simulator_writes_to_the_chosen_helplines_number_only(
    demo_setup: tuple[Any, list[demo.DemoAccount], str],
) -> None:
    settings, accounts, _ = demo_setup
    volunteers = {a.helpline: a for a in accounts if a.role == "volunteer"}
    app = create_app(settings, run_worker=False, run_inbox=False)
    with TestClient(app, base_url=BASE, headers={"Origin": BASE}) as client:
        page = client.get("/simulator").text
        assert re.findall(r'name="helpline" value="([^"]+)"', page) == ["tilburg", "zeeland"]
        simulator_writes(client, "zeeland", ZEELAND_SESSION, "Hoi Zeeland, vraag over huur")
        simulator_writes(client, None, TILBURG_SESSION, "Hoi Tilburg, vraag over werk")
        simulator_writes(client, "tilburg", TILBURG_SESSION + "b", "Nog een in Tilburg")
        # The same browser session writing to both is two unrelated texters
        # (the page numbers its messages across helplines: m-2 here).
        simulator_writes(client, "tilburg", ZEELAND_SESSION, "Ook aan Tilburg", "m-2")
        unknown = client.post("/simulator/api/messages?helpline=nowhere",
                              json={"session": ZEELAND_SESSION, "text": "hoi"}, headers=HEADERS)
        assert unknown.status_code == 404

        def queue_texts(helpline: str) -> list[str]:
            console = Console(client, volunteers[helpline])
            items = console.get("/api/conversations")["items"]
            texts = []
            for item in items:
                detail = console.get(f"/api/conversations/{item['id']}")
                texts += [m["body"] for m in detail["messages"] if m["direction"] == "in"]
            client.cookies.clear()
            return sorted(texts)

        assert queue_texts("zeeland") == ["Hoi Zeeland, vraag over huur"]
        assert queue_texts("tilburg") == ["Hoi Tilburg, vraag over werk", "Nog een in Tilburg",
                                          "Ook aan Tilburg"]
        # The phone reads back the conversation with the helpline it wrote to.
        def phone(helpline: str, session: str) -> list[str]:
            response = client.get(f"/simulator/api/messages?helpline={helpline}",
                                  headers={"X-Simulator-Session": session})
            assert response.status_code == 200
            return [m["body"] for m in response.json()["messages"] if m["direction"] == "in"]

        assert phone("zeeland", ZEELAND_SESSION) == ["Hoi Zeeland, vraag over huur"]
        assert phone("tilburg", ZEELAND_SESSION) == ["Ook aan Tilburg"]
        assert phone("zeeland", TILBURG_SESSION) == []


def test_each_helplines_welcome_names_its_own_region(
    demo_setup: tuple[Any, list[demo.DemoAccount], str],
) -> None:
    """The welcome says where the peer group is from the helpline's policy
    ([place]): a texter writing to Zeeland is not told it reached Tilburg."""
    import asyncio

    from helpline.outbound import outbox

    settings, _accounts, _ = demo_setup
    app = create_app(settings, run_worker=False, run_inbox=False)
    with TestClient(app, base_url=BASE, headers={"Origin": BASE}) as client:
        simulator_writes(client, "zeeland", ZEELAND_SESSION, "Hoi")
        simulator_writes(client, "tilburg", TILBURG_SESSION, "Hoi")
        asyncio.run(outbox.run_once(app.state.services))

        def welcome(helpline: str, session: str) -> str:
            """The welcome's first line (after hours a closed notice comes
            with it, in no promised order)."""
            response = client.get(f"/simulator/api/messages?helpline={helpline}",
                                  headers={"X-Simulator-Session": session})
            out = [str(m["body"]) for m in response.json()["messages"]
                   if m["direction"] == "out"]
            firsts = [body.splitlines()[0] for body in out if body.startswith("Hoi!")]
            assert len(firsts) == 1, out
            return firsts[0]

        assert "sekswerkers in Zeeland." in welcome("zeeland", ZEELAND_SESSION)
        assert "Tilburg" not in welcome("zeeland", ZEELAND_SESSION)
        assert "sekswerkers in Tilburg." in welcome("tilburg", TILBURG_SESSION)
