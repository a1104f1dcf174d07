"""`/openapi.json` and `/docs`, for admins only and only when HELPLINE_API_DOCS
is on.

Why off by default: the API description is a map of every route and field,
handed to anyone who asks; a helpline has no public API users, so strangers
gain from it and nobody else needs it. When an admin turns it on (to script
against the console or to check a deployment), it still needs an admin
session. `/docs` is a plain page of our own rather than Swagger UI, which
loads its script and styles from a CDN: the console loads nothing from other
origins (docs/privacy.md) and its Content-Security-Policy forbids scripts.
"""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from helpline.console.deps import CurrentAdmin

router = APIRouter(include_in_schema=False)

_METHODS = ("get", "post", "put", "patch", "delete")


@router.get("/openapi.json")
def openapi_json(user: CurrentAdmin, request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/docs", response_class=HTMLResponse)
def docs_page(user: CurrentAdmin, request: Request) -> HTMLResponse:
    schema: dict[str, Any] = request.app.openapi()
    rows = []
    for path, operations in sorted(schema.get("paths", {}).items()):
        for method in _METHODS:
            operation = operations.get(method)
            if operation is None:
                continue
            summary = operation.get("summary") or operation.get("operationId", "")
            rows.append(f"<tr><td>{method.upper()}</td><td><code>{escape(path)}</code></td>"
                        f"<td>{escape(str(summary))}</td></tr>")
    title = escape(f"{schema['info']['title']} {schema['info']['version']}")
    page = (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{title} API</title></head><body><main><h1>{title} API</h1>"
        "<p>The full description: <a href=\"/openapi.json\">/openapi.json</a>. "
        "The contract: docs/contract.md.</p>"
        "<table><thead><tr><th>method</th><th>path</th><th>what</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></main></body></html>"
    )
    return HTMLResponse(page)


def install(app: FastAPI) -> None:
    if app.state.services.settings.api_docs:
        app.include_router(router)
