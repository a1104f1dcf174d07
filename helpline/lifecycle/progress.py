"""Counts on a terminal for long operations (purge, rotation, backup)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Counts on a terminal for long operations (never content, never ids)."""

    def __init__(self, label: str, total: int | None = None,
                 stream: TextIO | None = None, every: float = 0.25) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty()
        self.every = every
        self._last = 0.0

    def update(self, done: int) -> None:
        self.done = done
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < self.every:
            return
        self._last = now
        self._write()

    def _write(self) -> None:
        of = f"/{self.total}" if self.total is not None else ""
        self.stream.write(f"\r{self.label}: {self.done}{of}")
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self._write()
            self.stream.write("\n")
            self.stream.flush()
