"""Console routes, registered by `helpline.main._install_parts`.

Keep `install()` a plain list: each console part adds its router line here.
"""

from __future__ import annotations

from fastapi import FastAPI

from helpline.console.csrf import CsrfMiddleware


def install(app: FastAPI) -> None:
    app.add_middleware(CsrfMiddleware, services=app.state.services)
    from helpline.console import (
        admin_pages,
        admin_routes,
        auth_routes,
        held_pages,
        helpline_routes,
    )

    app.include_router(auth_routes.router)
    app.include_router(helpline_routes.router)
    app.include_router(admin_routes.router)
    app.include_router(admin_pages.router)
    app.include_router(held_pages.router)
    from helpline.console import alert_routes

    app.include_router(alert_routes.router)
    app.include_router(alert_routes.page_router)
    from helpline.console import conversation_routes

    conversation_routes.install(app)
    from helpline.console import api_docs

    api_docs.install(app)
