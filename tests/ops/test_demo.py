"""`helpline demo` end to end, as a user would run it: a subprocess in an empty
directory, signed in with the printed credentials, a simulator message
answered through the console API, and the same keys and accounts on a rerun."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest

pytestmark = pytest.mark.slow

LINE = re.compile(
    r"^role=(\S+) username=(\S+) password=(\S+) totp_secret=([A-Z2-7]+) helpline=(\S+)$")
WAIT = 90.0  # generous upper bound for slow CI machines; never asserted as a timing


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Demo:
    process: subprocess.Popen[str]
    port: int
    accounts: dict[str, dict[str, str]]  # Tilburg's (the default helpline's), by role
    output: list[str]
    reader: threading.Thread

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.reader.join(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_demo(directory: Path, port: int) -> Demo:
    process = subprocess.Popen(
        [sys.executable, "-m", "helpline.cli", "demo", "--port", str(port)],
        cwd=directory,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    output: list[str] = []
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            break
        output.append(line)
        if line.startswith("Simulator:"):
            break
    demo = Demo(process, port, {}, output, reader)
    roles: dict[str, set[str]] = {}
    for line in output:
        match = LINE.match(line)
        if match:
            role, username, password, secret, helpline = match.groups()
            roles.setdefault(helpline, set()).add(role)
            if helpline == "tilburg":
                demo.accounts[role] = {"username": username, "password": password,
                                       "totp": secret}
    four = {"volunteer", "partner", "coordinator", "admin"}
    if roles != {"tilburg": four, "zeeland": four}:
        demo.stop()
        pytest.fail("demo did not print four accounts per helpline:\n" + "\n".join(output))
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{demo.url}/healthz", timeout=2).status_code == 200:
                return demo
        except httpx.HTTPError:
            time.sleep(0.2)
    demo.stop()
    pytest.fail("demo server did not come up")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    directory = tmp_path / "empty"
    directory.mkdir()
    return directory


@pytest.fixture
def demo(workdir: Path) -> Iterator[Demo]:
    running = start_demo(workdir, free_port())
    try:
        yield running
    finally:
        running.stop()


def sign_in(demo: Demo, role: str) -> tuple[httpx.Client, str]:
    account = demo.accounts[role]
    client = httpx.Client(base_url=demo.url, headers={"Origin": demo.url}, timeout=15)
    response = client.post(
        "/api/auth/login",
        json={"username": account["username"], "password": account["password"],
              "totp": pyotp.TOTP(account["totp"]).now()},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"]["role"] == role
    return client, body["csrf_token"]


def eventually(check: Any, what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    pytest.fail(f"timed out waiting for {what}")


def test_demo_prints_credentials_and_keeps_its_files_private(demo: Demo, workdir: Path) -> None:
    home = workdir / ".helpline"
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for name in ("keys.env", "accounts.json", "helpline.db"):
        assert stat.S_IMODE((home / name).stat().st_mode) == 0o600, name
    assert demo.accounts["partner"]["username"] == "ggd"
    assert any("█" in line for line in demo.output), "terminal QR code"
    assert httpx.get(f"{demo.url}/simulator").status_code == 200
    assert httpx.get(f"{demo.url}/chat").status_code == 200  # the web chat is on in the demo


def test_simulator_message_is_answered_through_the_console_api(demo: Demo) -> None:
    session_id = "demo-test-session-000001"
    sent = httpx.post(
        f"{demo.url}/simulator/api/messages",
        json={"session": session_id, "id": "m-1", "text": "Hoi, kan ik anoniem een soa-test doen?"},
        headers={"X-Simulator": "1"},
    )
    assert sent.status_code == 202

    client, csrf = sign_in(demo, "volunteer")
    unsafe = {"X-CSRF-Token": csrf}

    def simulated() -> Any:
        items = client.get("/api/conversations", params={"view": "queue"}).json()["items"]
        return next((i for i in items if i["channel"] == "simulator"), None)

    conversation = eventually(simulated, "the conversation in the queue")
    assert conversation["queue"] == "peer"
    detail = client.get(f"/api/conversations/{conversation['id']}").json()
    assert detail["messages"][0]["body"] == "Hoi, kan ik anoniem een soa-test doen?"

    claimed = client.post(f"/api/conversations/{conversation['id']}/claim", headers=unsafe)
    assert claimed.status_code == 200, claimed.text
    reply = client.post(f"/api/conversations/{conversation['id']}/messages",
                        json={"body": "Ja, bij de GGD kan dat anoniem en gratis."},
                        headers=unsafe)
    assert reply.status_code == 201, reply.text

    def on_the_phone() -> Any:
        messages = httpx.get(f"{demo.url}/simulator/api/messages",
                             headers={"X-Simulator-Session": session_id}).json()["messages"]
        return [m for m in messages if m["author"] == "volunteer"]

    answers = eventually(on_the_phone, "the volunteer's answer on the simulated phone")
    assert answers[0]["body"] == "Ja, bij de GGD kan dat anoniem en gratis."
    client.close()


def test_running_demo_again_reuses_keys_and_accounts(demo: Demo, workdir: Path) -> None:
    keys = (workdir / ".helpline" / "keys.env").read_text()
    first = demo.accounts
    demo.stop()
    again = start_demo(workdir, free_port())
    try:
        assert again.accounts == first
        assert (workdir / ".helpline" / "keys.env").read_text() == keys
        client, _ = sign_in(again, "coordinator")
        client.close()
    finally:
        again.stop()


def test_demo_code_option_prints_the_current_totp_code(demo: Demo, workdir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "helpline.cli", "demo", "--code", "volunteer"],
        cwd=workdir, env=clean_env(), capture_output=True, text=True, check=True,
    )
    code = result.stdout.strip()
    assert re.fullmatch(r"\d{6}", code)
    assert pyotp.TOTP(demo.accounts["volunteer"]["totp"]).verify(code, valid_window=1)
