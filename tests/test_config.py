from __future__ import annotations

import base64
import os

import pytest

from helpline.config import ConfigError, Settings


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def good() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def test_missing_key_is_refused_with_instructions() -> None:
    with pytest.raises(ConfigError, match="helpline keys generate"):
        settings(index_key=good()).check_production()


def test_short_key_is_refused() -> None:
    short = base64.b64encode(os.urandom(16)).decode()
    with pytest.raises(ConfigError, match="32 random bytes"):
        settings(master_key=short, index_key=good()).check_production()


def test_example_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="example"):
        settings(
            master_key="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", index_key=good()
        ).check_production()


def test_same_key_twice_is_refused() -> None:
    k = good()
    with pytest.raises(ConfigError, match="must differ"):
        settings(master_key=k, index_key=k).check_production()


def test_fresh_keys_are_accepted_and_never_printed() -> None:
    master = good()
    s = settings(
        master_key=master, index_key=good(), whatsapp_app_secret="sekrit-app",
        whatsapp_verify_token="verify-me",
    )
    s.check_production()
    assert master not in repr(s)
    assert "sekrit-app" not in repr(s)
    assert "sekrit-app" not in str(s.model_dump())


def test_signal_webhook_without_token_is_refused() -> None:
    with pytest.raises(ConfigError, match="SIGNAL_WEBHOOK_TOKEN"):
        settings(
            master_key=good(), index_key=good(), signal_api_url="http://x",
            signal_number="+31600000000",
        ).check_production()
