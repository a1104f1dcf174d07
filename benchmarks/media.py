"""Media ingest: webhook answering while photos download, and memory per process.

Starts `helpline serve` (embedded worker off) and `helpline worker` on one SQLite
database, with a fake Graph API (a thread here) that serves `GET /{media-id}`
and the download URL like Meta does.

Default run: signed WhatsApp image webhooks (1 MB JPEGs with GPS EXIF, from 200
texters) at RATE per second for SECONDS, open loop. Reports the webhooks' p50/p99
(answered while the worker downloads, cleans and seals the photos), how long
after the last webhook every photo was stored, and the peak resident memory
(VmHWM) of the app and the worker.

`--memory`: fresh processes, then one 16 MB voice note (M4A) and one 12 MP photo;
reports each process's peak memory before and after each fetch.

    python benchmarks/media.py [--rate 20] [--seconds 30]
    python benchmarks/media.py --memory
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from loadgen import open_loop, signed, webhook_request  # noqa: E402, I001
import httpx  # noqa: E402

from tests.process.fakes import free_port, wait_http  # noqa: E402

SECRET = "bench-secret"


def status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


class FakeGraph:
    """GET /v23.0/{id} -> {"url", "mime_type", "sha256", "file_size", "id"};
    GET /download/{id} -> the bytes; POST .../messages -> a message id."""

    def __init__(self) -> None:
        self.media: dict[str, tuple[str, bytes, str]] = {}
        self.downloads = 0
        fake = self
        self.port = free_port()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                parts = self.path.strip("/").split("/")
                if parts[0] == "download":
                    mime, data, _ = fake.media[parts[1]]
                    fake.downloads += 1
                    self._send(200, data, mime)
                    return
                found = fake.media.get(parts[-1])
                if found is None:
                    self._send(404, b"{}", "application/json")
                    return
                body = {"messaging_product": "whatsapp", "id": parts[-1], "mime_type": found[0],
                        "sha256": found[2], "file_size": str(len(found[1])),
                        "url": f"http://127.0.0.1:{fake.port}/download/{parts[-1]}"}
                self._send(200, json.dumps(body).encode(), "application/json")

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("content-length", "0")))
                body = {"messaging_product": "whatsapp", "messages": [{"id": "wamid.OUT"}]}
                self._send(200, json.dumps(body).encode(), "application/json")

            def _send(self, status: int, data: bytes, mime: str) -> None:
                self.send_response(status)
                self.send_header("content-type", mime)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, media_id: str, mime: str, data: bytes) -> None:
        self.media[media_id] = (mime, data, hashlib.sha256(data).hexdigest())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v23.0"


def env_for(database_url: str, graph: FakeGraph, media_dir: str) -> dict[str, str]:
    key = lambda seed: base64.b64encode(hashlib.sha256(seed.encode()).digest()).decode()  # noqa: E731
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}
    env.update({
        "HELPLINE_DATABASE_URL": database_url, "HELPLINE_MASTER_KEY": key("media-m"),
        "HELPLINE_INDEX_KEY": key("media-i"), "HELPLINE_WHATSAPP_APP_SECRET": SECRET,
        "HELPLINE_WHATSAPP_VERIFY_TOKEN": "v", "HELPLINE_WHATSAPP_ACCESS_TOKEN": "t",
        "HELPLINE_WHATSAPP_PHONE_NUMBER_ID": "1000000001", "HELPLINE_WHATSAPP_API_URL": graph.url,
        "HELPLINE_LOG_LEVEL": "WARNING", "HELPLINE_EMBEDDED_WORKER": "false",
        "HELPLINE_MEDIA_DIR": media_dir, "HELPLINE_WORKER_POLL_SECONDS": "0.1",
    })
    return env


def media_webhook(n: int, media_id: str, kind: str, mime: str) -> bytes:
    wa_id = f"3161{n % 200:07d}"
    body = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "1000000001"},
            "contacts": [{"profile": {"name": "Bench Texter"}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": f"wamid.MEDIA{n}{time.time_ns()}",
                          "timestamp": str(int(time.time())), "type": kind,
                          kind: {"id": media_id, "mime_type": mime}}]}}]}]}
    return json.dumps(body).encode()


def photo(megabytes: float) -> bytes:
    from PIL import Image

    side = int((megabytes * 1024 * 1024 / 3) ** 0.5 * 1.6)
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    exif = Image.Exif()
    exif[0x010F] = "BenchCam"
    exif.get_ifd(0x8825)[2] = (51.0, 33.0, 20.5)
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes(), quality=95)
    return out.getvalue()


def m4a(megabytes: int) -> bytes:
    ftyp = b"\x00\x00\x00\x14ftypM4A \x00\x00\x00\x00M4A "
    udta = b"\x00\x00\x00\x10udta" + b"\x00\x00\x00\x08\xa9xyz"
    moov = (8 + 108 + len(udta)).to_bytes(4, "big") + b"moov" + \
        (108).to_bytes(4, "big") + b"mvhd" + bytes(100) + udta
    size = megabytes * 1024 * 1024 - len(ftyp) - len(moov)
    return ftyp + moov + size.to_bytes(4, "big") + b"mdat" + os.urandom(size - 8)


def states(database_url: str) -> dict[str, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT state, count(*) FROM media GROUP BY state")).all()
    engine.dispose()
    return {str(state): int(count) for state, count in rows}


class Processes:
    def __init__(self, tmp: str, graph: FakeGraph) -> None:
        self.url = f"sqlite:///{tmp}/media.db"
        self.env = env_for(self.url, graph, f"{tmp}/media")
        helpline = [sys.executable, "-m", "helpline.cli"]
        subprocess.run([*helpline, "migrate"], env=self.env, cwd=tmp, check=True,
                       capture_output=True)
        self.port = free_port()
        self.app = subprocess.Popen([*helpline, "serve", "--port", str(self.port)],
                                    env=self.env, cwd=tmp)
        self.worker = subprocess.Popen(["nice", "-n", "10", *helpline, "worker"],
                                       env=self.env, cwd=tmp)
        self.base = f"http://127.0.0.1:{self.port}"
        wait_http(f"{self.base}/healthz", timeout=60)

    def memory(self) -> str:
        return (f"app RSS {status_mb(self.app.pid, 'VmRSS'):.0f} MB (peak "
                f"{status_mb(self.app.pid, 'VmHWM'):.0f}), worker RSS "
                f"{status_mb(self.worker.pid, 'VmRSS'):.0f} MB (peak "
                f"{status_mb(self.worker.pid, 'VmHWM'):.0f})")

    def wait_stored(self, count: int, timeout: float) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            done = states(self.url)
            if sum(v for k, v in done.items() if k != "pending") >= count:
                break
            time.sleep(0.2)
        return time.monotonic() - started

    def close(self) -> None:
        for process in (self.app, self.worker):
            process.terminate()
        for process in (self.app, self.worker):
            process.wait(30)


def ingest(rate: float, seconds: float) -> None:
    graph = FakeGraph()
    data = photo(1.0)
    graph.add("PHOTO1MB", "image/jpeg", data)
    total = int(rate * seconds)
    with tempfile.TemporaryDirectory() as tmp:
        procs = Processes(tmp, graph)
        try:
            print(f"photo {len(data) / 1e6:.2f} MB; {total} webhooks at {rate}/s; "
                  f"{procs.memory()}", flush=True)
            url = f"{procs.base}/webhooks/whatsapp"
            results = asyncio.run(open_loop(
                url, lambda n: webhook_request(url, media_webhook(n, "PHOTO1MB", "image",
                                                                   "image/jpeg")),
                rate, total))
            print(f"webhooks: {results.count} answered, p50 {results.pct(0.5):.1f} ms, "
                  f"p99 {results.pct(0.99):.1f} ms, max {max(results.latencies) * 1000:.1f} ms, "
                  f"failures {results.failures}", flush=True)
            lag = procs.wait_stored(total, timeout=600)
            print(f"all fetched {lag:.1f} s after the last webhook: {states(procs.url)}; "
                  f"{graph.downloads} downloads; {procs.memory()}", flush=True)
        finally:
            procs.close()


def memory() -> None:
    graph = FakeGraph()
    graph.add("VOICE16MB", "audio/mp4", m4a(16))
    graph.add("PHOTO12MP", "image/jpeg", photo_12mp())
    with tempfile.TemporaryDirectory() as tmp:
        procs = Processes(tmp, graph)
        try:
            time.sleep(2)
            print(f"idle: {procs.memory()}", flush=True)
            for n, (media_id, kind, mime) in enumerate((
                    ("VOICE16MB", "audio", "audio/mp4"), ("PHOTO12MP", "image", "image/jpeg"))):
                body = media_webhook(n, media_id, kind, mime)
                response = httpx.post(f"{procs.base}/webhooks/whatsapp", content=body,
                                      headers=signed(body, SECRET))
                assert response.status_code == 200
                took = procs.wait_stored(n + 1, timeout=120)
                size = len(graph.media[media_id][1]) / 1e6
                print(f"{media_id} ({size:.1f} MB) stored in {took:.1f} s: {procs.memory()}",
                      flush=True)
            print(f"states: {states(procs.url)}", flush=True)
        finally:
            procs.close()


def photo_12mp() -> bytes:
    from PIL import Image

    image = Image.new("RGB", (4000, 3000), (120, 80, 60))
    noise = Image.frombytes("RGB", (400, 300), os.urandom(400 * 300 * 3))
    image.paste(noise.resize((4000, 3000)))
    exif = Image.Exif()
    exif[0x010F] = "BenchCam"
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes(), quality=90)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--memory", action="store_true")
    args = parser.parse_args()
    if args.memory:
        memory()
    else:
        ingest(args.rate, args.seconds)


if __name__ == "__main__":
    main()
