"""The service container: everything a request or the worker needs, built once
from Settings by `create_app` (or the CLI) and passed explicitly."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from helpline.channels.base import Channel
from helpline.config import Settings
from helpline.crypto import BlindIndex, KeyRing
from helpline.helplines import HelplineConfig, HelplineDirectory
from helpline.live.bus import LiveBus
from helpline.outbound.messages import MessageCatalog
from helpline.store.db import Database, utcnow
from helpline.store.vault import Vault
from routing.model import Policy


class Wakeup:
    """Thread-safe nudge so the worker sends right after a commit, not at its next poll."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def wait(self, timeout: float) -> bool:
        hit = self._event.wait(timeout)
        self._event.clear()
        return hit


@dataclass
class Services:
    settings: Settings
    db: Database
    vault: Vault
    index: BlindIndex
    # The default helpline's policy (a one-helpline installation's only one);
    # anything about one texter or conversation asks `policy_for` instead.
    policy: Policy
    catalog: MessageCatalog
    helplines: HelplineDirectory = field(init=False)
    bus: LiveBus = field(default_factory=LiveBus)
    channels: dict[str, Channel] = field(default_factory=dict)
    clock: Callable[[], datetime] = utcnow
    wakeup: Wakeup = field(default_factory=Wakeup)

    def __post_init__(self) -> None:
        self.helplines = HelplineDirectory(
            self.settings, lambda: self.db, self.index, lambda: self.policy
        )

    def now(self) -> datetime:
        return self.clock()

    def helpline(self, helpline_id: str) -> HelplineConfig:
        return self.helplines.get(helpline_id)

    def policy_for(self, helpline_id: str) -> Policy:
        return self.helplines.get(helpline_id).policy


_CATALOGS: dict[str, MessageCatalog] = {}


def shared_catalog() -> MessageCatalog:
    """The message catalog is immutable and costly to compile (hundreds of
    templates): build it once per process."""
    catalog = _CATALOGS.get("default")
    if catalog is None:
        catalog = _CATALOGS["default"] = MessageCatalog()
    return catalog


def load_policy(settings: Settings) -> Policy:
    from routing.policy_file import default_policy
    from routing.policy_file import load_policy as parse

    if settings.policy_file is None:
        policy = default_policy()
    else:
        policy = parse(Path(settings.policy_file).read_text(encoding="utf-8"))
    return policy


def build_services(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utcnow,
    policy: Policy | None = None,
) -> Services:
    ring = KeyRing(settings.master_key_bytes(), settings.previous_master_key_bytes())
    if policy is None:
        policy = load_policy(settings)
    db = Database(settings.database_url)
    index = BlindIndex(settings.index_key_bytes())
    return Services(
        settings=settings,
        db=db,
        vault=Vault(ring),
        index=index,
        policy=policy,
        catalog=shared_catalog(),
        clock=clock,
    )
