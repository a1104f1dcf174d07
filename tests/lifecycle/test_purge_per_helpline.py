"""Retention per helpline: each helpline's own policy `retention_days` governs
its own texters; HELPLINE_RETENTION_DAYS, when set, governs all of them. Real
app, real database, real keys; the texters come in through the webhooks."""

from __future__ import annotations

from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from helpline.helplines import UnknownHelpline
from helpline.lifecycle import purge as retention
from helpline.services import Services
from helpline.store.models import DEFAULT_HELPLINE_ID, Texter
from tests.conftest import GRAPH, FakeClock
from tests.two_helplines import TILBURG_WA, ZEELAND_WA, add_zeeland, post_wa, wa_to

_ids = count(1)


@pytest.fixture
def build(settings_factory: Any, clock: FakeClock, tmp_path: Path) -> Any:
    """An app whose default helpline keeps texters `default_days` (its
    policy file) and, with `zeeland_days`, a Zeeland keeping them that long."""

    def make(default_days: int = 30, zeeland_days: int | None = 90,
             **overrides: Any) -> FastAPI:
        from helpline.main import create_app
        from helpline.store.db import make_engine
        from helpline.store.migrate import upgrade

        policy = tmp_path / "policy.toml"
        policy.write_text(f"retention_days = {default_days}\n", encoding="utf-8")
        settings = settings_factory(policy_file=str(policy), **overrides)
        engine = make_engine(settings.database_url)
        upgrade(engine)
        engine.dispose()
        app = create_app(settings, clock=clock, run_worker=False, run_inbox=False)
        if zeeland_days is not None:
            add_zeeland(app, policy=f"retention_days = {zeeland_days}\n")
        return app

    return make


def say(client: TestClient, number_id: str, text: str = "Hallo") -> None:
    assert post_wa(client, wa_to(number_id, text, message_id=f"wamid.RP{next(_ids)}")) == 200


def texters_by_helpline(services: Services) -> dict[str, int]:
    out: dict[str, int] = {}
    with services.db.session() as session:
        for helpline_id in session.exec(select(Texter.helpline_id)).all():
            out[helpline_id] = out.get(helpline_id, 0) + 1
    return out


def graph_ok() -> None:
    respx.post(url__startswith=GRAPH).mock(
        return_value=httpx.Response(200, json={"messages": [{"id": f"wamid.OUT{next(_ids)}"}]})
    )


@respx.mock
def test_a_texter_idle_60_days_is_erased_under_30_days_and_kept_under_90(
    build: Any, clock: FakeClock
) -> None:
    graph_ok()
    app = build(default_days=30, zeeland_days=90)
    services: Services = app.state.services
    zeeland = services.helplines.by_slug("zeeland")
    assert zeeland is not None
    with TestClient(app) as client:
        # The same number writes to both: two unrelated texters.
        say(client, TILBURG_WA)
        say(client, ZEELAND_WA)
        assert texters_by_helpline(services) == {DEFAULT_HELPLINE_ID: 1, zeeland.id: 1}
        assert retention.retention_days(services, DEFAULT_HELPLINE_ID) == 30
        assert retention.retention_days(services, zeeland.id) == 90

        clock.advance(days=60)
        result = retention.purge(services, pause=False)
        assert texters_by_helpline(services) == {zeeland.id: 1}
        assert result.texters == 1
        assert (result.of("default").texters, result.of("zeeland").texters) == (1, 0)
        assert result.of("default").messages >= 2  # the texter's and the welcome
        assert result.of("zeeland").retention_days == 90

        clock.advance(days=30, seconds=1)
        result = retention.purge(services, pause=False)
        assert texters_by_helpline(services) == {}
        assert (result.of("default").texters, result.of("zeeland").texters) == (0, 1)


@respx.mock
def test_the_installation_setting_overrides_every_helplines_policy(
    build: Any, clock: FakeClock
) -> None:
    graph_ok()
    app = build(default_days=30, zeeland_days=90, retention_days=10)
    services: Services = app.state.services
    zeeland = services.helplines.by_slug("zeeland")
    assert zeeland is not None
    assert retention.retention_days(services, zeeland.id) == 10
    with TestClient(app) as client:
        say(client, TILBURG_WA)
        say(client, ZEELAND_WA)
        clock.advance(days=10, seconds=1)
        result = retention.purge(services, pause=False)
    assert texters_by_helpline(services) == {}
    assert [(h.slug, h.retention_days, h.texters) for h in result.helplines] == [
        ("default", 10, 1), ("zeeland", 10, 1)]


@respx.mock
def test_purge_of_one_helpline_leaves_the_others_texters(
    build: Any, clock: FakeClock
) -> None:
    graph_ok()
    app = build(default_days=30, zeeland_days=30)
    services: Services = app.state.services
    with TestClient(app) as client:
        say(client, TILBURG_WA)
        say(client, ZEELAND_WA)
        clock.advance(days=31)
        result = retention.purge(services, helpline="zeeland", pause=False)
        assert [h.slug for h in result.helplines] == ["zeeland"]
        assert result.texters == 1
        assert texters_by_helpline(services) == {DEFAULT_HELPLINE_ID: 1}
        with pytest.raises(UnknownHelpline):
            retention.purge(services, helpline="atlantis", pause=False)
        assert texters_by_helpline(services) == {DEFAULT_HELPLINE_ID: 1}


@respx.mock
def test_the_worker_schedule_purges_every_helpline(build: Any, clock: FakeClock) -> None:
    graph_ok()
    app = build(default_days=30, zeeland_days=90)
    services: Services = app.state.services
    with TestClient(app) as client:
        say(client, ZEELAND_WA)
        say(client, TILBURG_WA)
        clock.advance(days=91)
        result = retention.periodic(services)
    assert result is not None
    assert [(h.slug, h.texters) for h in result.helplines] == [("default", 1), ("zeeland", 1)]
    assert texters_by_helpline(services) == {}


@respx.mock
def test_a_helpline_added_after_the_worker_started_is_purged_too(
    build: Any, clock: FakeClock
) -> None:
    """The worker's directory was loaded before the helpline existed."""
    from helpline.services import build_services

    graph_ok()
    app = build(default_days=30, zeeland_days=None)
    worker = build_services(app.state.services.settings, clock=clock)
    try:
        assert [h.slug for h in worker.helplines.all()] == ["default"]
        add_zeeland(app, policy="retention_days = 5\n")
        with TestClient(app) as client:
            say(client, ZEELAND_WA)
        clock.advance(days=6)
        result = retention.purge(worker, pause=False)
    finally:
        worker.db.dispose()
    assert result.of("zeeland").texters == 1


def test_purge_command_reports_each_helpline_and_refuses_an_unknown_slug(
    build: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    from helpline import cli
    from tests.conftest import key

    app = build(default_days=30, zeeland_days=90)
    settings = app.state.services.settings
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HELPLINE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("HELPLINE_MASTER_KEY", key("master"))
    monkeypatch.setenv("HELPLINE_INDEX_KEY", key("index"))
    monkeypatch.setenv("HELPLINE_POLICY_FILE", str(settings.policy_file))
    assert cli.main(["purge"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "texters erased: 0"
    assert "helpline default retention days: 30" in lines
    assert "helpline zeeland retention days: 90" in lines
    assert "helpline zeeland texters erased: 0" in lines
    assert all(line.rsplit(": ", 1)[1].isdigit() for line in lines)

    assert cli.main(["purge", "--helpline", "zeeland"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "helpline zeeland texters erased: 0" in lines
    assert not any(line.startswith("helpline default") for line in lines)

    assert cli.main(["purge", "--helpline", "atlantis"]) == 2
    assert "no helpline with the slug 'atlantis'" in capsys.readouterr().err
