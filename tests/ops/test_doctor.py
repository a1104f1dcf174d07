"""`helpline doctor`: says what is wrong in plain words, never prints secrets,
and exits non-zero when something must be fixed."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import respx

from helpline.config import Settings
from helpline.ops import doctor
from tests.conftest import GRAPH, SIGNAL_API, WHATSAPP_SECRET

TOKEN = "test-access-token"
NUMBER = "+31600000099"


def run(settings: Settings) -> tuple[int, str]:
    out = io.StringIO()
    code = doctor.main(settings, out)
    return code, out.getvalue()


def never_shows_secrets(text: str, settings: Settings) -> None:
    for secret in (settings.master_key, settings.index_key, settings.whatsapp_access_token,
                   settings.signal_number, settings.signal_webhook_token):
        if secret is not None:
            assert secret.get_secret_value() not in text
    assert WHATSAPP_SECRET not in text


def staffed(settings: Settings) -> Settings:
    """A volunteer and the built-in policy's menu partners (ggd, pmw) have
    accounts: without them the doctor fails the helpline (test_doctor_helplines)."""
    from tests.ops.test_doctor_helplines import staff

    staff(settings, "default", ("ggd", "pmw"))
    return settings


def healthy_platforms(mock: respx.MockRouter) -> None:
    mock.get(f"{GRAPH}/1000000001").respond(200, json={"id": "1000000001"})
    mock.get(f"{SIGNAL_API}/v1/about").respond(
        200, json={"versions": ["v1", "v2"], "mode": "json-rpc", "version": "0.95"}
    )
    mock.get(f"{SIGNAL_API}/v1/accounts").respond(200, json=[NUMBER])


def test_a_healthy_configuration_passes_with_exit_code_zero(
    migrated: Settings, settings_factory: Callable[..., Settings]
) -> None:
    settings = staffed(settings_factory(public_url="https://helpline.example"))
    with respx.mock(assert_all_called=True) as mock:
        healthy_platforms(mock)
        code, text = run(settings)
        bearer = mock.calls[0].request.headers["authorization"]
    assert code == 0, text
    assert bearer == f"Bearer {TOKEN}"
    assert "FAIL" not in text
    assert "migrations current" in text
    assert "registered" in text
    never_shows_secrets(text, settings)


def test_missing_migrations_are_reported_with_the_command_to_run(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(whatsapp_app_secret=None, signal_api_url=None)
    code, text = run(settings)
    assert code == 1
    assert "helpline migrate" in text


def test_unreachable_database_names_the_url_without_its_password() -> None:
    from tests.conftest import make_settings

    settings = make_settings(
        "postgresql+psycopg://helpline:hunter2-secret@127.0.0.1:1/helpline",
        whatsapp_app_secret=None, signal_api_url=None,
    )
    code, text = run(settings)
    assert code == 1
    assert "cannot reach postgresql+psycopg://helpline:***@127.0.0.1:1/helpline" in text
    assert "hunter2" not in text


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"master_key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}, "example value"),
        ({"index_key": None}, "HELPLINE_INDEX_KEY is not set"),
        ({"master_key": "c2hvcnQ="}, "32 random bytes"),
    ],
)
def test_bad_keys_fail_with_the_fix(
    migrated: Settings, settings_factory: Callable[..., Settings],
    overrides: dict[str, object], expected: str,
) -> None:
    settings = settings_factory(whatsapp_app_secret=None, signal_api_url=None, **overrides)
    code, text = run(settings)
    assert code == 1
    assert expected in text
    assert "helpline keys generate" in text
    never_shows_secrets(text, settings)


def test_same_master_and_index_key_fail(
    migrated: Settings, settings_factory: Callable[..., Settings]
) -> None:
    same = migrated.master_key
    settings = settings_factory(index_key=same, whatsapp_app_secret=None, signal_api_url=None)
    code, text = run(settings)
    assert code == 1
    assert "are the same" in text


def test_refused_whatsapp_token_is_a_problem(
    migrated: Settings, settings_factory: Callable[..., Settings]
) -> None:
    settings = settings_factory()
    with respx.mock as mock:
        healthy_platforms(mock)
        mock.get(f"{GRAPH}/1000000001").respond(
            401, json={"error": {"message": "Invalid OAuth access token", "code": 190}}
        )
        code, text = run(settings)
    assert code == 1
    assert "access token refused" in text
    never_shows_secrets(text, settings)


def test_unknown_phone_number_id_is_a_problem(
    migrated: Settings, settings_factory: Callable[..., Settings]
) -> None:
    settings = settings_factory()
    with respx.mock as mock:
        healthy_platforms(mock)
        mock.get(f"{GRAPH}/1000000001").respond(400, json={"error": {"code": 100}})
        code, text = run(settings)
    assert code == 1
    assert "HELPLINE_WHATSAPP_PHONE_NUMBER_ID" in text


def test_unreachable_signal_api_and_unregistered_number_are_problems(
    migrated: Settings, settings_factory: Callable[..., Settings]
) -> None:
    settings = settings_factory()
    with respx.mock as mock:
        mock.get(f"{GRAPH}/1000000001").respond(200, json={})
        mock.get(f"{SIGNAL_API}/v1/about").mock(side_effect=httpx.ConnectError("refused"))
        code, text = run(settings)
    assert code == 1
    assert "unreachable" in text

    with respx.mock as mock:
        healthy_platforms(mock)
        mock.get(f"{SIGNAL_API}/v1/accounts").respond(200, json=["+31600000011"])
        code, text = run(settings)
    assert code == 1
    assert "not registered" in text
    never_shows_secrets(text, settings)


def test_signal_in_normal_mode_cannot_push_to_the_webhook(
    migrated: Settings, settings_factory: Callable[..., Settings]
) -> None:
    settings = settings_factory()
    with respx.mock as mock:
        healthy_platforms(mock)
        mock.get(f"{SIGNAL_API}/v1/about").respond(200, json={"mode": "normal"})
        code, text = run(settings)
    assert code == 1
    assert "MODE=json-rpc" in text


def test_invalid_policy_file_is_reported(
    migrated: Settings, settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    bad = tmp_path / "policy.toml"
    bad.write_text("languages = 12\n[hours]\nmon = ['25:00-26:00']\n", encoding="utf-8")
    settings = settings_factory(policy_file=bad, whatsapp_app_secret=None, signal_api_url=None)
    code, text = run(settings)
    assert code == 1
    assert "policy" in text
    assert "not valid" in text

    missing = settings_factory(policy_file=tmp_path / "nope.toml", whatsapp_app_secret=None,
                               signal_api_url=None)
    code, text = run(missing)
    assert code == 1
    assert "does not exist" in text


def test_simulator_in_production_is_a_warning_not_a_failure(
    migrated: Settings, settings_factory: Callable[..., Settings]
) -> None:
    settings = staffed(settings_factory(simulator=True, whatsapp_app_secret=None,
                                        signal_api_url=None, public_url="https://helpline.example"))
    code, text = run(settings)
    assert code == 0
    assert "warn simulator" in text


def test_the_web_chat_is_reported_with_its_proof_of_work(
    migrated: Settings, settings_factory: Callable[..., Settings]
) -> None:
    settings = staffed(settings_factory(webchat=True, whatsapp_app_secret=None,
                                        signal_api_url=None, public_url="https://helpline.example"))
    code, text = run(settings)
    assert code == 0
    assert "ok   web chat: on at /chat" in text
    assert "no proof of work" in text
    _code, text = run(settings.model_copy(update={"webchat_pow_bits": 16}))
    assert "proof of work 16 bits" in text


def test_invalid_variable_is_named_without_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPLINE_RETENTION_DAYS", "forever-and-secret")
    out = io.StringIO()
    assert doctor.main(lambda: Settings(_env_file=None), out) == 1  # type: ignore[call-arg]
    assert "HELPLINE_RETENTION_DAYS" in out.getvalue()
    assert "forever-and-secret" not in out.getvalue()
