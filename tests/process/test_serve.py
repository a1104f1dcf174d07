"""`helpline serve` as a real process against a fake Graph API on localhost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import FAKE_NUMBER, WHATSAPP_SECRET, key, sign, wa_text_payload
from tests.process.fakes import FakeGraphAPI, free_port, wait_http

pytestmark = pytest.mark.slow


def serve_env(tmp_path: Path, graph_url: str, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}
    env.update({
        "HELPLINE_DATABASE_URL": database_url,
        "HELPLINE_MASTER_KEY": key("serve-master"),
        "HELPLINE_INDEX_KEY": key("serve-index"),
        "HELPLINE_WHATSAPP_APP_SECRET": WHATSAPP_SECRET,
        "HELPLINE_WHATSAPP_VERIFY_TOKEN": "verify",
        "HELPLINE_WHATSAPP_ACCESS_TOKEN": "token-abc",
        "HELPLINE_WHATSAPP_PHONE_NUMBER_ID": "1000000001",
        "HELPLINE_WHATSAPP_API_URL": graph_url,
        "HELPLINE_LOG_LEVEL": "DEBUG",
    })
    return env


@pytest.fixture
def graph() -> Iterator[FakeGraphAPI]:
    with FakeGraphAPI() as fake:
        yield fake


def start(env: dict[str, str], cwd: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "helpline.cli", "serve", "--port", str(port)],
        env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def test_serve_refuses_to_start_without_keys(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}
    env["HELPLINE_DATABASE_URL"] = f"sqlite:///{tmp_path / 'x.db'}"
    done = subprocess.run([sys.executable, "-m", "helpline.cli", "serve"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "helpline keys generate" in done.stderr


def test_signed_message_gets_the_welcome_within_a_second(
    tmp_path: Path, graph: FakeGraphAPI, database_url: str
) -> None:
    port = free_port()
    proc = start(serve_env(tmp_path, graph.url, database_url), tmp_path, port)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        wait_http(f"http://127.0.0.1:{port}/readyz")
        body = json.dumps(wa_text_payload("Hallo, is daar iemand?")).encode()
        sent_at = time.monotonic()
        r = httpx.post(f"http://127.0.0.1:{port}/webhooks/whatsapp", content=body,
                       headers={"X-Hub-Signature-256": sign(body)})
        assert r.status_code == 200
        assert graph.wait_for(1, timeout=5.0)
        first = graph.requests[0]
        assert first["path"] == "/v23.0/1000000001/messages"
        assert first["json"]["to"] == FAKE_NUMBER
        assert first["auth"] == "Bearer token-abc"
        assert first["at"] - sent_at < 1.0, "welcome took longer than a second"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    # uvicorn shuts down gracefully, then re-raises SIGTERM as its exit status.
    assert proc.returncode in (0, -15), out.decode()[-2000:]
    assert b"worker.stopped" in out
    assert b"Hallo, is daar iemand" not in out
    assert FAKE_NUMBER.encode() not in out
