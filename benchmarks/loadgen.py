"""A cheap HTTP/1.1 load generator for the benchmarks: signed webhooks over raw sockets.

httpx costs about 3 ms of CPU per request; at 300 requests/s that is most of one of
the machine's two cores, taken from the server it is measuring (and a saturated
generator reports its own queueing as server latency). This one writes prebuilt
request bytes on keep-alive connections and reads only the status line and
Content-Length: tens of microseconds a request.

Latency is measured from the moment a request was due (open loop) or sent (closed
loop) to the end of its response, so a generator that falls behind shows up as
latency rather than hiding it (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

SECRET = "bench-secret"


def payload(n: int, run: str, phone_number_id: str = "1000000001") -> bytes:
    """A WhatsApp Cloud API text message webhook from one of 500 texters;
    message ids unique per (run, n)."""
    wa_id = f"3160{n % 500:07d}"
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
            "contacts": [{"profile": {"name": "Bench Texter"}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": f"wamid.BENCH{run}{n}",
                          "timestamp": str(int(time.time())), "type": "text",
                          "text": {"body": f"benchmark bericht {n}"}}]}}]}],
    }
    return json.dumps(body).encode()


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    sig = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={sig}", "Content-Type": "application/json"}


def webhook_request(url: str, body: bytes) -> bytes:
    """The whole POST, signed, as bytes on the wire."""
    parts = urlsplit(url)
    head = [f"POST {parts.path or '/'} HTTP/1.1", f"Host: {parts.netloc}",
            f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in signed(body).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    started: float = 0.0
    finished: float = 0.0

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def failures(self) -> int:
        return self.errors + sum(n for s, n in self.statuses.items() if s != 200)

    def pct(self, p: float) -> float:
        """Percentile in milliseconds."""
        ordered = sorted(self.latencies)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000

    def summary(self, rate: float | None = None) -> dict[str, float]:
        elapsed = self.finished - self.started
        return {"rate": rate if rate is not None else self.count / elapsed if elapsed else 0.0,
                "p50": self.pct(0.5), "p99": self.pct(0.99), "errors": self.failures}


class _Pool:
    """Keep-alive connections to one host; a new one whenever all are busy."""

    def __init__(self, url: str, limit: int) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.limit = limit
        self.open = 0
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue())

    async def acquire(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.idle.empty() and self.open < self.limit:
            self.open += 1
            try:
                return await asyncio.open_connection(self.host, self.port)
            except OSError:
                self.open -= 1
                raise
        return await self.idle.get()

    def release(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                reusable: bool) -> None:
        if reusable:
            self.idle.put_nowait(conn)
        else:
            self.open -= 1
            conn[1].close()

    async def close(self) -> None:
        while not self.idle.empty():
            _, writer = self.idle.get_nowait()
            writer.close()


async def _exchange(pool: _Pool, request: bytes) -> int:
    conn = await pool.acquire()
    reader, writer = conn
    try:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(":") for line in lines[1:] if line)}
        await reader.readexactly(int(headers.get("content-length", "0")))
    except BaseException:
        pool.release(conn, reusable=False)
        raise
    pool.release(conn, reusable=headers.get("connection", "").lower() != "close")
    return status


async def _one(pool: _Pool, request: bytes, due: float, results: Results) -> None:
    try:
        status = await _exchange(pool, request)
        results.statuses[status] = results.statuses.get(status, 0) + 1
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
        results.errors += 1
    results.latencies.append(time.perf_counter() - due)


async def closed_loop(url: str, requests: Iterator[bytes], concurrency: int) -> Results:
    """`concurrency` senders, each sending its next request when the last one is answered."""
    pool = _Pool(url, concurrency)
    results = Results(started=time.perf_counter())

    async def sender() -> None:
        for request in requests:
            await _one(pool, request, time.perf_counter(), results)

    await asyncio.gather(*(sender() for _ in range(concurrency)))
    results.finished = time.perf_counter()
    await pool.close()
    return results


async def open_loop(url: str, request: Callable[[int], bytes], rate: float, total: int,
                    *, connections: int = 256,
                    tick: Callable[[Results], None] | None = None) -> Results:
    """Request n is due at start + n / rate, whatever happened to the earlier ones.

    `request(n)` builds request n (called just before it is due, so bodies for a long
    soak are not all held in memory); `tick(results)` is called after each send.
    """
    pool = _Pool(url, connections)
    results = Results(started=time.perf_counter())
    tasks: set[asyncio.Task[None]] = set()
    for n in range(total):
        due = results.started + n / rate
        raw = request(n)
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(_one(pool, raw, due, results))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        if tick is not None:
            tick(results)
    await asyncio.gather(*tasks)
    results.finished = time.perf_counter()
    await pool.close()
    return results
