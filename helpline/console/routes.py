"""Console routes, registered by `helpline.main._include_optional_routers`.

Keep `install()` a plain list: each console part adds its router line here.
"""

from __future__ import annotations

from fastapi import FastAPI

from helpline.console.csrf import CsrfMiddleware


def install(app: FastAPI) -> None:
    app.add_middleware(CsrfMiddleware, services=app.state.services)
