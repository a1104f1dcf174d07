"""The helplines of one installation, as every request and the processor see
them: an in-memory directory loaded from the `helplines` table, so picking
the helpline of a delivery costs no query (issue 17).

What separates two helplines, by construction:

* Blind-index domain. Every helpline other than the default one hashes
  identifiers under its own key, derived from the installation's index key
  with HKDF (the helpline id in `info`). The same phone number writing to
  Tilburg and Zeeland gives two unrelated blind indexes, so two unrelated
  texters, with their own random data keys: nothing in the database links
  them, and nobody holding only one helpline's rows can test a number
  against the other's. The default helpline keeps the installation's own
  index key, so the blind indexes stored before helplines existed still
  find their texters.
* Numbers. A delivery is filed under the helpline whose WhatsApp phone
  number id or Signal number it was addressed to, and nothing else; an
  unknown number is dropped, never guessed.
* Policy. Each helpline has its own policy file (partners, hours, languages,
  urgent words, retention, statistics threshold).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlmodel import select

from helpline.config import Settings
from helpline.crypto import BlindIndex
from helpline.errors import HelplineError
from helpline.store.db import Database
from helpline.store.models import DEFAULT_HELPLINE_ID, Helpline
from routing.model import Policy
from routing.policy_file import load_policy

# How often an unknown number may reload the directory: a helpline added by
# `helpline helpline add` in another process is found without a restart, and
# a flood of deliveries for a foreign number costs one query per interval.
RELOAD_INTERVAL = 5.0


class UnknownHelpline(HelplineError):
    status_code = 404
    public_message = "not found"


def derive_index_key(index_key: bytes, helpline_id: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=b"helpline blind index\x00" + helpline_id.encode(),
    ).derive(index_key)


def own_numbers(settings: Settings, row: Helpline) -> tuple[str | None, str | None]:
    """The helpline's WhatsApp phone number id and Signal number. A
    one-helpline installation's settings keep applying to the default one."""
    if row.id != DEFAULT_HELPLINE_ID:
        return row.whatsapp_phone_number_id, row.signal_number
    whatsapp = row.whatsapp_phone_number_id or settings.whatsapp_phone_number_id
    signal = row.signal_number or (
        settings.signal_number.get_secret_value() if settings.signal_number else None
    )
    return whatsapp, signal


@dataclass(frozen=True, repr=False)
class HelplineConfig:
    id: str
    slug: str
    name: str
    whatsapp_phone_number_id: str | None
    signal_number: str | None
    own_policy: Policy | None  # None: the installation's (HELPLINE_POLICY_FILE)
    index: BlindIndex
    installation_policy: Callable[[], Policy]

    @property
    def policy(self) -> Policy:
        return self.own_policy or self.installation_policy()

    def __repr__(self) -> str:
        return f"HelplineConfig(slug={self.slug!r})"

    def account(self, channel: str) -> str | None:
        """The helpline's own address on a channel (what it sends from)."""
        if channel == "whatsapp":
            return self.whatsapp_phone_number_id
        if channel == "signal":
            return self.signal_number
        if channel == "webchat":
            return self.id  # a chat page is addressed by its helpline
        return None


class HelplineDirectory:
    """Every helpline by id and by number, loaded lazily (a CLI command that
    migrates must not need the table first) and reloaded on demand."""

    def __init__(
        self,
        settings: Settings,
        db: Callable[[], Database],
        root_index: BlindIndex,
        default_policy: Callable[[], Policy],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._db = db
        self._root_index = root_index
        self._default_policy = default_policy
        self._clock = clock
        self._lock = threading.Lock()
        self._by_id: dict[str, HelplineConfig] | None = None
        self._loaded_at = 0.0

    def reload(self) -> None:
        with self._db().read_session() as session:
            rows = list(session.exec(select(Helpline)))
        by_id = {row.id: self._config(row) for row in rows}
        with self._lock:
            self._by_id = by_id
            self._loaded_at = self._clock()

    def _config(self, row: Helpline) -> HelplineConfig:
        whatsapp, signal = own_numbers(self._settings, row)
        if row.id == DEFAULT_HELPLINE_ID:
            index = self._root_index
        else:
            index = BlindIndex(derive_index_key(self._root_index.key, row.id))
        own = None if row.policy is None else load_policy(row.policy)
        return HelplineConfig(
            id=row.id, slug=row.slug, name=row.name, whatsapp_phone_number_id=whatsapp,
            signal_number=signal, own_policy=own, index=index,
            installation_policy=self._default_policy,
        )

    def _all(self) -> dict[str, HelplineConfig]:
        by_id = self._by_id
        if by_id is None:
            self.reload()
            by_id = self._by_id or {}
        return by_id

    def all(self) -> list[HelplineConfig]:
        return sorted(self._all().values(), key=lambda h: (h.id != DEFAULT_HELPLINE_ID, h.slug))

    def get(self, helpline_id: str) -> HelplineConfig:
        found = self._all().get(helpline_id)
        if found is None:
            self.reload()
            found = self._all().get(helpline_id)
        if found is None:
            raise UnknownHelpline()
        return found

    def by_slug(self, slug: str) -> HelplineConfig | None:
        return next((h for h in self._all().values() if h.slug == slug), None)

    def find_slug(self, slug: str) -> HelplineConfig | None:
        """by_slug for a stranger's request (a chat page's address)."""
        return self._fresh(lambda: self.by_slug(slug))

    def _fresh(self, find: Callable[[], HelplineConfig | None]) -> HelplineConfig | None:
        """`find`, again after a reload when it found nothing: a helpline
        added in another process is found within RELOAD_INTERVAL, and unknown
        numbers or slugs cannot make every request reload the table."""
        found = find()
        if found is None and self._clock() - self._loaded_at >= RELOAD_INTERVAL:
            self.reload()
            found = find()
        return found

    def for_account(self, channel: str, account: str | None) -> HelplineConfig | None:
        """The helpline a delivery addressed to `account` belongs to, or None
        (drop it). Without an address, or with one nobody has, only a
        one-helpline installation can tell where it goes."""
        return self._fresh(lambda: self._match(channel, account))

    def _match(self, channel: str, account: str | None) -> HelplineConfig | None:
        helplines = list(self._all().values())
        if account is not None:
            for helpline in helplines:
                if helpline.account(channel) == account:
                    return helpline
        if len(helplines) == 1:
            # One helpline: every authentic delivery is its own, as before
            # helplines existed (the doctor reports a number that does not
            # match). From the second helpline on, only the number decides.
            return helplines[0]
        return None

    def knows(self, channel: str, account: str) -> bool:
        """Is `account` exactly one of our helplines' numbers? (A Signal bridge
        holds other people's accounts too: those are never ours.)"""
        if account in self.accounts(channel):
            return True
        if self._clock() - self._loaded_at >= RELOAD_INTERVAL:
            self.reload()
        return account in self.accounts(channel)

    def accounts(self, channel: str) -> set[str]:
        return {a for h in self._all().values() if (a := h.account(channel)) is not None}


__all__ = [
    "HelplineConfig", "HelplineDirectory", "UnknownHelpline", "derive_index_key", "own_numbers",
]
