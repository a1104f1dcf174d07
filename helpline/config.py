"""Settings: the only module that reads the environment (and `.env`).

Every secret is a `SecretStr`, so it prints as `**********` in logs, errors and
reprs. `Settings.check_production()` is what makes `serve` refuse to start on a
missing, short or example key: a helpline that silently ran with a published
development key would protect nobody.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from helpline.errors import HelplineError

# Keys printed in .env.example and the docs. Refused in production even though
# they decode to 32 bytes, because anyone can read them.
EXAMPLE_KEYS = frozenset(
    {
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "REPLACE-ME-with-helpline-keys-generate-output",
    }
)


class ConfigError(HelplineError):
    """The configuration cannot work; the message says what to do."""


def decode_key(value: SecretStr | None, name: str) -> bytes:
    if value is None or not value.get_secret_value().strip():
        raise ConfigError(
            f"{name} is not set. Run `helpline keys generate` and put its output in .env."
        )
    raw = value.get_secret_value().strip()
    if raw in EXAMPLE_KEYS:
        raise ConfigError(
            f"{name} is the example value from the documentation. "
            "Run `helpline keys generate` and use a fresh key."
        )
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{name} is not valid base64. Run `helpline keys generate`.") from None
    if len(key) != 32:
        raise ConfigError(
            f"{name} must be 32 random bytes in base64 (got {len(key)} bytes). "
            "Run `helpline keys generate`."
        )
    if len(set(key)) < 8:
        raise ConfigError(f"{name} is not random enough. Run `helpline keys generate`.")
    return key


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HELPLINE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = "sqlite:///./helpline.db"
    master_key: SecretStr | None = None
    master_key_previous: SecretStr | None = None
    index_key: SecretStr | None = None
    policy_file: Path | None = None
    retention_days: int = Field(default=30, ge=0)
    # Backup key store: kept apart from the database and its backups (see
    # docs/privacy.md, "Backups and erasure"). Default: ./helpline.keystore.
    key_store: Path | None = None
    # Encrypted media files above the inline threshold (helpline/media/store.py).
    # Default: ./helpline-media. Backups include it; keep it on the same disk
    # protections as the database.
    media_dir: Path | None = None
    public_url: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING"] = "INFO"
    simulator: bool = False

    whatsapp_app_secret: SecretStr | None = None
    whatsapp_verify_token: SecretStr | None = None
    whatsapp_access_token: SecretStr | None = None
    whatsapp_phone_number_id: str | None = None
    whatsapp_api_url: str = "https://graph.facebook.com/v23.0"
    whatsapp_template: str | None = None
    whatsapp_template_language: str = "nl"

    signal_api_url: str | None = None
    signal_number: SecretStr | None = None
    signal_webhook_token: SecretStr | None = None
    signal_receive: Literal["webhook", "poll"] = "webhook"

    embedded_worker: bool = True
    # /readyz answers 503 once the oldest unprocessed delivery in the inbox is
    # older than this: the processor is stuck or outrun, and a monitor or load
    # balancer must notice (docs/operating.md, Monitoring).
    inbox_max_age_seconds: float = Field(default=300.0, gt=0)
    # Serve /openapi.json and /docs (admins only). Off: the API's map is not
    # handed to strangers.
    api_docs: bool = False

    # Not in the public contract; tuning knobs with safe defaults.
    webhook_max_bytes: int = 4 * 1024 * 1024 - 1  # Meta sends up to 3 MB
    worker_poll_seconds: float = 1.0
    send_max_attempts: int = 8
    # Media larger than this is sealed into a file of media_dir, smaller in the row.
    media_inline_max_bytes: int = Field(default=256 * 1024, ge=0)
    # Downloads tried this often (with backoff) before "ask to resend".
    media_fetch_max_attempts: int = Field(default=6, ge=1)
    demo: bool = False
    # Cookie `Secure` flag; only the local demo over plain http turns it off.
    secure_cookies: bool = True
    # argon2 cost; tests lower it, production keeps the library's defaults.
    argon2_time_cost: int = 3
    argon2_memory_cost: int = 65536

    @field_validator("whatsapp_api_url", "signal_api_url")
    @classmethod
    def _strip_slash(cls, v: str | None) -> str | None:
        return v.rstrip("/") if v else v

    @property
    def whatsapp_enabled(self) -> bool:
        return self.whatsapp_app_secret is not None

    @property
    def signal_enabled(self) -> bool:
        return bool(self.signal_api_url)

    def master_key_bytes(self) -> bytes:
        return decode_key(self.master_key, "HELPLINE_MASTER_KEY")

    def previous_master_key_bytes(self) -> bytes | None:
        if self.master_key_previous is None:
            return None
        return decode_key(self.master_key_previous, "HELPLINE_MASTER_KEY_PREVIOUS")

    def index_key_bytes(self) -> bytes:
        return decode_key(self.index_key, "HELPLINE_INDEX_KEY")

    def check_production(self) -> None:
        """Raise ConfigError with instructions when this cannot safely serve."""
        master = self.master_key_bytes()
        index = self.index_key_bytes()
        if master == index:
            raise ConfigError(
                "HELPLINE_MASTER_KEY and HELPLINE_INDEX_KEY must differ. "
                "Run `helpline keys generate`."
            )
        self.previous_master_key_bytes()
        if self.whatsapp_enabled and not self.whatsapp_verify_token:
            raise ConfigError(
                "HELPLINE_WHATSAPP_APP_SECRET is set but HELPLINE_WHATSAPP_VERIFY_TOKEN is not."
            )
        if (
            self.signal_enabled
            and self.signal_receive == "webhook"
            and not self.signal_webhook_token
        ):
            raise ConfigError(
                "Signal receives by webhook but HELPLINE_SIGNAL_WEBHOOK_TOKEN is not set; "
                "set a long random token, or HELPLINE_SIGNAL_RECEIVE=poll."
            )
        if self.signal_enabled and not self.signal_number:
            raise ConfigError("HELPLINE_SIGNAL_API_URL is set but HELPLINE_SIGNAL_NUMBER is not.")
