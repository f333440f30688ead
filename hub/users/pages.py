"""The login page and its static files, the only pages served without authentication."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).with_name("static")
# The page writes server messages as text only; the policy keeps any slip inert all the same.
PAGE_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


def install_login_page(app: FastAPI) -> None:
    """Serve the login page at /login and its files under /login/static/."""

    @app.get("/login", include_in_schema=False)
    def login_page() -> FileResponse:
        """The login page."""
        return FileResponse(
            STATIC_DIR / "login.html",
            headers={
                "Content-Security-Policy": PAGE_SECURITY_POLICY,
                "Cache-Control": "no-cache",
                "Referrer-Policy": "same-origin",
            },
        )

    app.mount("/login/static", StaticFiles(directory=STATIC_DIR), name="login-static")
