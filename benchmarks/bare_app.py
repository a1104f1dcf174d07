"""The baseline: a FastAPI endpoint that only checks the webhook signature."""

from __future__ import annotations

import hashlib
import hmac
import os

from fastapi import FastAPI, Request, Response

SECRET = os.environ.get("BARE_SECRET", "bench-secret").encode()
app = FastAPI()


@app.post("/webhooks/whatsapp")
async def webhook(request: Request) -> Response:
    body = await request.body()
    expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, request.headers.get("x-hub-signature-256", "")):
        return Response(status_code=401)
    return Response(status_code=200)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
