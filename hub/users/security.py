"""Who is calling and what they may do: the authentication middleware and the role dependencies.

The middleware refuses every request outside PUBLIC_PATHS that carries no valid session cookie or
bearer token, so a new route is never public by accident; routes then ask for a role with
`Depends(require_dispatcher)` or `Depends(require_admin)` (any authenticated user is a viewer).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, HTTPException, status
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.db.engine import Database
from hub.users import service
from hub.users.roles import Role
from hub.users.service import AuthMethod, Principal

logger = logging.getLogger(__name__)

SESSION_COOKIE = "vigie_session"
CSRF_COOKIE = "vigie_csrf"
CSRF_HEADER = "X-CSRF-Token"
LOGIN_PAGE = "/login"
PUBLIC_PATHS = frozenset({"/healthz", LOGIN_PAGE, "/api/auth/login"})
PUBLIC_PREFIXES = ("/login/static/",)
# Anonymous requests to these are API calls: they get 401, never a redirect to the login page.
API_PREFIXES = ("/api/", "/ws/")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PRINCIPAL_STATE_KEY = "principal"
# RFC 6455 close codes.
CLOSE_POLICY_VIOLATION = 1008
CLOSE_SERVER_ERROR = 1011


def is_public(path: str) -> bool:
    """True for the few paths that answer without authentication."""
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def csrf_token_for(session_secret: str) -> str:
    """The CSRF token of a session, derived from its secret so it cannot be forged without it."""
    return hashlib.sha256(b"vigie-csrf\0" + session_secret.encode()).hexdigest()


def request_is_https(connection: HTTPConnection, trust_forwarded_headers: bool) -> bool:
    """True when the client reached the hub over TLS (directly, or via a trusted proxy)."""
    forwarded = connection.headers.get("x-forwarded-proto")
    if trust_forwarded_headers and forwarded:
        return forwarded.split(",")[0].strip().lower() == "https"
    return connection.url.scheme in ("https", "wss")


def client_address(connection: HTTPConnection, trust_forwarded_headers: bool) -> str:
    """The client's address: the peer's, or the one a trusted proxy appended to X-Forwarded-For."""
    forwarded = connection.headers.get("x-forwarded-for")
    if trust_forwarded_headers and forwarded:
        return forwarded.split(",")[-1].strip()
    return connection.client.host if connection.client else "unknown"


class Authenticator:
    """Resolves a request's session cookie or bearer token to a Principal."""

    def __init__(self, database: Database, trust_forwarded_headers: bool) -> None:
        self._database = database
        self.trust_forwarded_headers = trust_forwarded_headers

    def identify(self, connection: HTTPConnection) -> Principal | None:
        """The caller, or None; a bearer header, when present, is the only credential looked at."""
        authorization = connection.headers.get("authorization")
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return None
            with self._database.sessions() as session:
                return service.principal_for_token(session, token.strip())
        secret = connection.cookies.get(SESSION_COOKIE)
        if not secret:
            return None
        with self._database.sessions() as session:
            return service.principal_for_session(session, secret, service.utc_now())

    def same_origin(self, connection: HTTPConnection) -> bool:
        """False when a browser's Origin names another site (cross-site WebSocket hijacking)."""
        origin = connection.headers.get("origin")
        if origin is None:
            return True
        host = connection.headers.get("host", "")
        if self.trust_forwarded_headers:
            host = connection.headers.get("x-forwarded-host", host)
        return urlsplit(origin).netloc.lower() == host.lower()


def csrf_satisfied(connection: HTTPConnection, method: str, principal: Principal) -> bool:
    """True unless a cookie-authenticated state change lacks the session's X-CSRF-Token."""
    if principal.method is not AuthMethod.SESSION or method in SAFE_METHODS:
        return True
    sent = connection.headers.get(CSRF_HEADER, "").encode("latin-1")
    expected = csrf_token_for(connection.cookies.get(SESSION_COOKIE, "")).encode()
    return hmac.compare_digest(sent, expected)


class AuthMiddleware:
    """Authenticates every non-public request once, and refuses the anonymous ones."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator) -> None:
        self.app = app
        self._authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Store the Principal in the request state, or answer the refusal itself."""
        if scope["type"] not in ("http", "websocket") or is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        try:
            principal = await asyncio.to_thread(self._authenticator.identify, connection)
        except SQLAlchemyError as exc:
            logger.warning("cannot authenticate %s: database error: %s", scope["path"], exc)
            await self._unavailable(scope, receive, send)
            return
        refusal = self._refusal(scope, connection, principal)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        scope.setdefault("state", {})[PRINCIPAL_STATE_KEY] = principal
        await self.app(scope, receive, send)

    def _refusal(
        self, scope: Scope, connection: HTTPConnection, principal: Principal | None
    ) -> ASGIApp | None:
        if scope["type"] == "websocket":
            if principal is None:
                return _websocket_closer(CLOSE_POLICY_VIOLATION, "authentication required")
            if principal.method is AuthMethod.SESSION and not self._authenticator.same_origin(
                connection
            ):
                return _websocket_closer(CLOSE_POLICY_VIOLATION, "cross-origin request refused")
            return None
        if principal is None:
            return _anonymous_http_refusal(scope, connection)
        if not csrf_satisfied(connection, scope["method"], principal):
            return JSONResponse(
                {"detail": f"CSRF check failed: send the {CSRF_COOKIE} cookie in {CSRF_HEADER}"},
                status_code=status.HTTP_403_FORBIDDEN,
            )
        return None

    @staticmethod
    async def _unavailable(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            closer = _websocket_closer(CLOSE_SERVER_ERROR, "database unavailable, retry later")
            await closer(scope, receive, send)
            return
        response = JSONResponse(
            {"detail": "authentication unavailable: the database does not answer"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
        await response(scope, receive, send)


def _anonymous_http_refusal(scope: Scope, connection: HTTPConnection) -> ASGIApp:
    path = scope["path"]
    wants_page = (
        scope["method"] in ("GET", "HEAD")
        and not path.startswith(API_PREFIXES)
        and "text/html" in connection.headers.get("accept", "")
    )
    if wants_page:
        target = path + (f"?{connection.url.query}" if connection.url.query else "")
        root = scope.get("root_path", "")
        return RedirectResponse(
            f"{root}{LOGIN_PAGE}?next={quote(target, safe='/')}",
            status_code=status.HTTP_303_SEE_OTHER,
        )
    return JSONResponse(
        {"detail": "authentication required"},
        status_code=status.HTTP_401_UNAUTHORIZED,
        headers={"WWW-Authenticate": "Bearer"},
    )


def _websocket_closer(code: int, reason: str) -> ASGIApp:
    # Accept, then close: a browser sees the close code (a refused handshake is only "1006").
    async def close(_scope: Scope, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": code, "reason": reason})

    return close


def connection_principal(connection: HTTPConnection) -> Principal | None:
    """The Principal the middleware stored for this request, if any."""
    return getattr(connection.state, PRINCIPAL_STATE_KEY, None)


def current_principal(connection: HTTPConnection) -> Principal:
    """Dependency: the authenticated caller (401 when the middleware found none)."""
    principal = connection_principal(connection)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "authentication required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


def _role_dependency(required: Role):
    def require(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.role.includes(required):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"needs the {required.value} role")
        return principal

    require.__name__ = f"require_{required.value}"
    require.__doc__ = f"Dependency: the caller, who must have the {required.value} role or above."
    return require


require_viewer = _role_dependency(Role.VIEWER)
require_dispatcher = _role_dependency(Role.DISPATCHER)
require_admin = _role_dependency(Role.ADMIN)

Viewer = Annotated[Principal, Depends(require_viewer)]
Dispatcher = Annotated[Principal, Depends(require_dispatcher)]
Admin = Annotated[Principal, Depends(require_admin)]
