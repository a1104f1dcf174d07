"""Issue 22.4: the simulator follows the chosen language (the console's nl
and en) with 24-hour times: `?lang=` for the browser session, else the
signed-in account's language, else Dutch."""

from __future__ import annotations

import json
import re

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from helpline.ops.simulator_strings import COOKIE, STRINGS
from tests.console.helpers import sign_in_as
from tests.ops.test_simulator import sim, sim_app  # noqa: F401  (fixtures)


def strings_of(html: str) -> dict[str, str]:
    found = re.search(r"data-strings='([^']*)'", html)
    assert found is not None
    result: dict[str, str] = json.loads(found.group(1))
    return result


def test_the_simulator_is_dutch_by_default(sim: TestClient) -> None:  # noqa: F811
    page = sim.get("/simulator")
    assert '<html lang="nl">' in page.text
    assert "<h1>Hulplijn-simulator</h1>" in page.text
    assert strings_of(page.text)["by_bot"] == "Hulplijn (automatisch)"
    assert 'href="/simulator?lang=en"' in page.text


def test_a_chosen_language_lasts_for_the_browser_session(sim: TestClient) -> None:  # noqa: F811
    english = sim.get("/simulator", params={"lang": "en"})
    assert '<html lang="en">' in english.text
    assert strings_of(english.text) == STRINGS["en"]
    cookie = english.headers["set-cookie"]
    assert f"{COOKIE}=en" in cookie
    assert "HttpOnly" in cookie
    assert "Max-Age" not in cookie  # a session cookie
    again = sim.get("/simulator")
    assert '<html lang="en">' in again.text
    back = sim.get("/simulator", params={"lang": "nl"})
    assert '<html lang="nl">' in back.text
    assert '<html lang="nl">' in sim.get("/simulator").text


def test_an_unknown_language_falls_back_without_an_error(sim: TestClient) -> None:  # noqa: F811
    page = sim.get("/simulator", params={"lang": "xx"})
    assert page.status_code == 200
    assert '<html lang="nl">' in page.text
    assert COOKIE not in page.headers.get("set-cookie", "")
    assert sim.get("/simulator", params={"lang": "x" * 50}).status_code == 422


def test_the_simulator_follows_the_signed_in_accounts_language(
    sim: TestClient, sim_app: FastAPI  # noqa: F811
) -> None:
    sign_in_as(sim, sim_app, "volunteer")
    with sim_app.state.services.db.session() as session:
        session.execute(text("UPDATE users SET ui_language = 'en'"))
    assert '<html lang="en">' in sim.get("/simulator").text


def test_both_languages_have_the_same_texts_and_a_24_hour_clock(sim: TestClient) -> None:  # noqa: F811
    assert set(STRINGS["nl"]) == set(STRINGS["en"])
    js = sim.get("/static/simulator.js").text
    assert 'hourCycle: "h23"' in js
    assert "Helpline (automatic)" not in js  # every text comes from the page
