"""A real uvicorn server for tests that need real HTTP: server-sent events,
a browser, several processes. In a thread (this process) or as a subprocess
(`helpline serve`, a separate process with its own LiveBus)."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from helpline.console import sessions
from helpline.services import Services
from helpline.store.models import User

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until_up(base_url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server at {base_url} did not start")


class ThreadServer:
    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None,
                                access_log=False, lifespan="on", timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        wait_until_up(self.base_url)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def settle(self) -> None:
        """Wait until every acknowledged webhook is processed (the server's
        inbox processor runs right behind each 200; this waits for it)."""
        inbox = getattr(self.app.state, "inbox", None)
        if inbox is not None:
            inbox.drain()


class ProcessWorker:
    """`helpline worker` in a subprocess, configured through the environment."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = {**os.environ, **env}
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ProcessWorker:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "helpline.cli", "worker"],
            env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        stop_process(self.proc)


class ProcessServer:
    """`helpline serve` in a subprocess, configured through the environment."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env}
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ProcessServer:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "helpline.cli", "serve", "--host", "127.0.0.1",
             "--port", str(self.port)],
            env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_up(self.base_url)
        except RuntimeError:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        stop_process(self.proc)


def stop_process(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Account:
    user_id: str
    alias: str
    token: str
    csrf: str
    cookie: str

    def client(self, base_url: str) -> httpx.Client:
        return httpx.Client(base_url=base_url, cookies={self.cookie: self.token},
                            headers={"X-CSRF-Token": self.csrf, "Origin": base_url},
                            timeout=10.0)


def signed_in(services: Services, role: str, alias: str, partner: str | None = None) -> Account:
    """A real account with a real server-side session (no TOTP round trip)."""
    now = services.now()
    with services.db.session() as session:
        data_key, key = services.vault.create_key(session, now)
        user = User(username=f"u-{alias}", alias=alias, role=role, partner_id=partner,
                    password_hash="-", data_key_id=data_key.id, totp_secret=b"",
                    created_at=now, password_changed_at=now)
        user.totp_secret = services.vault.seal(key, "JBSWY3DPEHPK3PXP", "users", "totp_secret",
                                               user.id)
        session.add(user)
        session.flush()
        token = sessions.start_session(services, session, user, now)
        user_id = user.id
    return Account(user_id, alias, token, sessions.csrf_token_for(services, token),
                   sessions.cookie_name(services.settings))


@dataclass
class EventReader:
    """Reads `GET /api/events` in a thread; collects (event, data) pairs and
    comment lines."""

    client: httpx.Client
    events: queue.Queue[tuple[str, dict[str, Any]]] = field(default_factory=queue.Queue)
    comments: queue.Queue[str] = field(default_factory=queue.Queue)
    ended: threading.Event = field(default_factory=threading.Event)
    status: int | None = None

    def start(self) -> EventReader:
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def _run(self) -> None:
        kind = "message"
        try:
            with self.client.stream("GET", "/api/events", timeout=None) as response:
                self.status = response.status_code
                for line in response.iter_lines():
                    if line.startswith(":"):
                        self.comments.put(line)
                    elif line.startswith("event:"):
                        kind = line.split(":", 1)[1].strip()
                    elif line.startswith("data:"):
                        self.events.put((kind, json.loads(line.split(":", 1)[1])))
        except httpx.HTTPError:
            pass
        finally:
            self.ended.set()

    def wait_for(
        self, match: Callable[[str, dict[str, Any]], bool], timeout: float = 10.0
    ) -> tuple[str, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("event did not arrive")
            try:
                kind, data = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if match(kind, data):
                return kind, data

    def drain(self) -> list[tuple[str, dict[str, Any]]]:
        out = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                return out
