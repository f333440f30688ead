"""Wires authentication into a hub application: middleware, auth and users routes, login page."""

from __future__ import annotations

from fastapi import FastAPI

from hub.config import HubSettings
from hub.db.engine import Database
from hub.users.pages import install_login_page
from hub.users.routes import build_auth_router, build_users_router
from hub.users.security import Authenticator, AuthMiddleware
from hub.users.throttle import LoginThrottle


def install_auth(app: FastAPI, database: Database, settings: HubSettings) -> None:
    """Require authentication on every route of `app` but the public ones, and add the auth API."""
    authenticator = Authenticator(database, settings.auth_trust_forwarded_headers)
    throttle = LoginThrottle(settings.auth_login_max_failures, settings.auth_login_window_s)
    app.add_middleware(AuthMiddleware, authenticator=authenticator)
    app.include_router(build_auth_router(database, throttle, settings))
    app.include_router(build_users_router(database))
    install_login_page(app)
