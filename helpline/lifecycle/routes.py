"""Admin erasure from the console: POST /api/admin/conversations/{id}/erase.

An admin sees no message text, but must be able to carry out an erasure
request that reached the peer group another way (in person, by phone). The
texter's data key is destroyed first, then their rows, in one transaction;
the answer carries no pseudonym. CSRF and Origin checks are app-wide.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from starlette.concurrency import run_in_threadpool

from helpline.console.deps import CurrentAdmin
from helpline.http import ServicesDep
from helpline.lifecycle.retention import erase_conversation_texter

router = APIRouter(tags=["lifecycle"])


@router.post("/api/admin/conversations/{conversation_id}/erase")
async def erase_conversation(
    conversation_id: str, admin: CurrentAdmin, services: ServicesDep
) -> dict[str, str]:
    await run_in_threadpool(erase_conversation_texter, services, conversation_id[:64],
                            admin.user_id, admin.helpline_id)
    services.wakeup.set()
    return {"status": "erased"}


def install(app: FastAPI) -> None:
    app.include_router(router)
