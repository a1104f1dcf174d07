"""Deploy files checked here, without Docker: the compose file parses and wires
the expected services, ports, networks and environment; .env.example lists
every setting; the container and systemd files run the right commands."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpline.config import ConfigError, Settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    return data


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def networks_of(service: dict[str, Any]) -> set[str]:
    nets = service.get("networks", [])
    return set(nets) if isinstance(nets, list) else set(nets.keys())


def test_compose_has_app_worker_postgres_signal_and_caddy(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"app", "worker", "db", "signal-api", "caddy"}
    assert services["app"]["command"][:2] == ["helpline", "serve"]
    assert services["worker"]["command"] == ["helpline", "worker"]
    assert services["db"]["image"].startswith("postgres:")
    assert services["signal-api"]["image"].startswith("bbernhard/signal-cli-rest-api")
    assert services["caddy"]["image"].startswith("caddy:")
    for name in ("app", "worker"):
        assert services[name]["build"]["dockerfile"] == "deploy/Containerfile"
        assert services[name]["depends_on"]["db"]["condition"] == "service_healthy"


def test_only_caddy_publishes_ports(compose: dict[str, Any]) -> None:
    published = {name for name, svc in compose["services"].items() if svc.get("ports")}
    assert published == {"caddy"}
    assert {"80:80", "443:443"} <= set(compose["services"]["caddy"]["ports"])


def test_database_and_signal_bridge_sit_on_an_internal_network(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert compose["networks"]["backend"]["internal"] is True
    assert networks_of(services["db"]) == {"backend"}
    assert "edge" not in networks_of(services["signal-api"])
    assert "backend" in networks_of(services["signal-api"])
    assert {"edge", "backend"} <= networks_of(services["app"])
    assert networks_of(services["caddy"]) == {"edge"}


def test_signal_bridge_runs_json_rpc_and_pushes_to_the_app_internally(
    compose: dict[str, Any],
) -> None:
    env = env_of(compose["services"]["signal-api"])
    assert env["MODE"] == "json-rpc"
    url = env["RECEIVE_WEBHOOK_URL"]
    assert url.startswith("http://app:8000/webhooks/signal?token=${HELPLINE_SIGNAL_WEBHOOK_TOKEN")
    caddyfile = (DEPLOY / "Caddyfile").read_text(encoding="utf-8")
    assert re.search(r"respond @signal 404", caddyfile), "the bridge's route is not public"


def test_app_and_worker_environment_uses_real_settings(compose: dict[str, Any]) -> None:
    fields = {f"HELPLINE_{name.upper()}" for name in Settings.model_fields}
    app = env_of(compose["services"]["app"])
    worker = env_of(compose["services"]["worker"])
    for env in (app, worker):
        assert set(env) <= fields, set(env) - fields
        assert env["HELPLINE_DATABASE_URL"].startswith("postgresql+psycopg://helpline:")
        assert "@db:5432/helpline" in env["HELPLINE_DATABASE_URL"]
        assert env["HELPLINE_SIGNAL_API_URL"] == "http://signal-api:8080"
    assert app["HELPLINE_EMBEDDED_WORKER"] == "false"
    assert "HELPLINE_SIMULATOR" not in app


def test_caddy_terminates_tls_for_the_app() -> None:
    caddyfile = (DEPLOY / "Caddyfile").read_text(encoding="utf-8")
    assert "{$HELPLINE_DOMAIN}" in caddyfile
    assert "reverse_proxy app:8000" in caddyfile
    assert "flush_interval -1" in caddyfile  # server-sent events


def test_containerfile_runs_unprivileged_helpline_serve() -> None:
    text = (DEPLOY / "Containerfile").read_text(encoding="utf-8")
    assert re.search(r"^USER helpline$", text, re.M)
    assert '"helpline", "serve"' in text
    assert "COPY templates" in text
    assert "HEALTHCHECK" in text
    assert "/healthz" in text


@pytest.mark.parametrize(
    ("unit", "command"),
    [("helpline.service", "helpline serve"), ("helpline-worker.service", "helpline worker")],
)
def test_systemd_units_run_the_command_with_an_environment_file(unit: str, command: str) -> None:
    text = (DEPLOY / "systemd" / unit).read_text(encoding="utf-8")
    assert re.search(rf"^ExecStart=\S+/{command}", text, re.M)
    assert "EnvironmentFile=/etc/helpline/helpline.env" in text
    assert "User=helpline" in text
    assert "NoNewPrivileges=yes" in text
    assert "[Install]" in text


def test_env_example_lists_every_setting_with_a_comment() -> None:
    lines = (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    for name in Settings.model_fields:
        variable = f"HELPLINE_{name.upper()}"
        index = next(
            (i for i, line in enumerate(lines) if re.match(rf"^#? ?{variable}=", line)), None
        )
        assert index is not None, f"{variable} missing from .env.example"
        assert index > 0
        assert lines[index - 1].startswith("#"), f"{variable} has no comment above it"


def test_env_example_keys_are_refused_in_production(tmp_path: Path) -> None:
    values = {}
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        master_key=values["HELPLINE_MASTER_KEY"],
        index_key=values["HELPLINE_INDEX_KEY"],
    )
    with pytest.raises(ConfigError, match="example value"):
        settings.check_production()


def test_operating_guide_covers_the_issue_list() -> None:
    text = (ROOT / "docs" / "operating.md").read_text(encoding="utf-8").lower()
    for topic in ("webhook", "template", "24 h", "signal", "captcha", "helpline keys generate",
                  "helpline user add", "backup", "helpline migrate", "/healthz", "/readyz",
                  "blocked", "helpline doctor"):
        assert topic in text, topic
