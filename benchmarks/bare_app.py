"""The baselines: a FastAPI endpoint that only checks the webhook signature and,
with BARE_STORE=<path>, one that also stores the raw body durably in SQLite (one
INSERT and a commit per request, WAL, on the event loop like the helpline's
SQLite path): the least any endpoint that keeps what it acknowledges must do."""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3

from fastapi import FastAPI, Request, Response

SECRET = os.environ.get("BARE_SECRET", "bench-secret").encode()
STORE = os.environ.get("BARE_STORE")
app = FastAPI()
db: sqlite3.Connection | None = None
if STORE:
    db = sqlite3.connect(STORE, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS deliveries (id INTEGER PRIMARY KEY, body BLOB)")


@app.post("/webhooks/whatsapp")
async def webhook(request: Request) -> Response:
    body = await request.body()
    expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, request.headers.get("x-hub-signature-256", "")):
        return Response(status_code=401)
    if db is not None:
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO deliveries (body) VALUES (?)", (body,))
        db.execute("COMMIT")
    return Response(status_code=200)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
