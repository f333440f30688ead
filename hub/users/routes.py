"""HTTP routes of the users domain: /api/auth (login, logout, me, tokens) and /api/users."""

# No `from __future__ import annotations`: the session annotation is local to the builders,
# so FastAPI could not resolve it from a string.
import logging
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response, status
from sqlalchemy.orm import Session

from hub.config import HubSettings
from hub.db.engine import Database
from hub.db.session import session_dependency
from hub.users import service
from hub.users.body import body_openapi, parsed_body
from hub.users.schemas import (
    LoginRequest,
    LoginResult,
    Me,
    TokenCreate,
    TokenCreated,
    TokenOut,
    UserCreate,
    UserOut,
    UserUpdate,
)
from hub.users.security import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    Viewer,
    client_address,
    csrf_token_for,
    request_is_https,
    require_admin,
)
from hub.users.service import AuthMethod
from hub.users.throttle import LoginThrottle

logger = logging.getLogger(__name__)
# users.id and api_tokens.id are 32-bit: a larger id must be a 422, not a database error.
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def build_auth_router(
    database: Database, throttle: LoginThrottle, settings: HubSettings
) -> APIRouter:
    """The /api/auth routes: login (public), logout, me and the caller's API tokens."""
    router = APIRouter(prefix="/api/auth", tags=["auth"])
    session_of_request = Annotated[Session, Depends(session_dependency(database))]
    lifetime = timedelta(seconds=settings.auth_session_lifetime_s)
    trust_forwarded = settings.auth_trust_forwarded_headers

    @router.post(
        "/login",
        response_model=LoginResult,
        responses={401: {"description": "wrong credentials"}, 429: {"description": "throttled"}},
        openapi_extra=body_openapi(LoginRequest, allow_form=True),
    )
    def login(
        request: Request,
        response: Response,
        session: session_of_request,
        credentials: Annotated[LoginRequest, Depends(parsed_body(LoginRequest, allow_form=True))],
    ) -> LoginResult:
        """Check the credentials; open a browser session (HttpOnly cookie) and its CSRF cookie."""
        address = client_address(request, trust_forwarded)
        key = (credentials.username.strip().lower(), address)
        wait_s = throttle.retry_after(key)
        if wait_s > 0:
            logger.warning("login throttled for %r from %s", key[0], address)
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                "too many failed logins: try again later",
                headers={"Retry-After": str(max(1, round(wait_s)))},
            )
        user = service.authenticate(session, credentials.username, credentials.password)
        if user is None:
            throttle.record_failure(key)
            logger.warning("login refused for %r from %s", key[0], address)
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password")
        throttle.reset(key)
        secret = service.start_session(session, user, lifetime, service.utc_now())
        session.commit()
        logger.info("user %s logged in from %s", user.username, address)
        csrf = csrf_token_for(secret)
        secure = request_is_https(request, trust_forwarded)
        max_age = int(lifetime.total_seconds())
        response.set_cookie(
            SESSION_COOKIE, secret, max_age=max_age, httponly=True, samesite="lax", secure=secure
        )
        # Readable by the pages' scripts, which echo it in X-CSRF-Token.
        response.set_cookie(CSRF_COOKIE, csrf, max_age=max_age, samesite="lax", secure=secure)
        return LoginResult(user=UserOut.model_validate(user), csrf_token=csrf)

    @router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
    def logout(request: Request, principal: Viewer, session: session_of_request) -> Response:
        """End the caller's browser session (a bearer token stays valid: revoke it instead)."""
        secret = request.cookies.get(SESSION_COOKIE)
        if principal.method is AuthMethod.SESSION and secret:
            service.end_session(session, secret)
            session.commit()
            logger.info("user %s logged out", principal.username)
        response = Response(status_code=status.HTTP_204_NO_CONTENT)
        response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax")
        response.delete_cookie(CSRF_COOKIE, samesite="lax")
        return response

    @router.get("/me", response_model=Me)
    def me(principal: Viewer) -> Me:
        """Who the caller is, with which role, and how it authenticated."""
        return Me(
            id=principal.user_id,
            username=principal.username,
            role=principal.role,
            auth=principal.method,
        )

    @router.post(
        "/tokens",
        response_model=TokenCreated,
        status_code=status.HTTP_201_CREATED,
        openapi_extra=body_openapi(TokenCreate),
    )
    def create_token(
        principal: Viewer,
        session: session_of_request,
        body: Annotated[TokenCreate, Depends(parsed_body(TokenCreate))],
    ) -> TokenCreated:
        """A new API token acting as the caller; the token is in this answer only."""
        user = service.get_user(session, principal.user_id)
        token, secret = service.create_api_token(session, user, body.name, service.utc_now())
        session.commit()
        logger.info("user %s created API token %d (%s)", user.username, token.id, token.name)
        return TokenCreated(id=token.id, name=token.name, created_at=token.created_at, token=secret)

    @router.get("/tokens", response_model=list[TokenOut])
    def list_tokens(principal: Viewer, session: session_of_request) -> list[TokenOut]:
        """The caller's API tokens (without the tokens themselves)."""
        return [
            TokenOut.model_validate(token)
            for token in service.list_api_tokens(session, principal.user_id)
        ]

    @router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
    def revoke_token(principal: Viewer, session: session_of_request, token_id: RowId) -> Response:
        """Revoke one of the caller's API tokens."""
        if not service.revoke_api_token(session, principal.user_id, token_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such token")
        session.commit()
        logger.info("user %s revoked API token %d", principal.username, token_id)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router


def build_users_router(database: Database) -> APIRouter:
    """The /api/users routes, for admins only."""
    router = APIRouter(prefix="/api/users", tags=["users"], dependencies=[Depends(require_admin)])
    session_of_request = Annotated[Session, Depends(session_dependency(database))]

    @router.get("", response_model=list[UserOut])
    def list_users(session: session_of_request) -> list[UserOut]:
        """Every user, by name."""
        return [UserOut.model_validate(user) for user in service.list_users(session)]

    @router.post(
        "",
        response_model=UserOut,
        status_code=status.HTTP_201_CREATED,
        responses={409: {"description": "the username is taken"}},
        openapi_extra=body_openapi(UserCreate),
    )
    def create_user(
        principal: Viewer,
        session: session_of_request,
        body: Annotated[UserCreate, Depends(parsed_body(UserCreate))],
    ) -> UserOut:
        """Create an enabled user with a role."""
        try:
            user = service.create_user(
                session, body.username, body.password, body.role, service.utc_now()
            )
        except service.UserExists as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        session.commit()
        logger.info("admin %s created user %s (%s)", principal.username, user.username, user.role)
        return UserOut.model_validate(user)

    @router.patch(
        "/{user_id}",
        response_model=UserOut,
        responses={
            404: {"description": "no such user"},
            409: {"description": "the last enabled admin"},
        },
        openapi_extra=body_openapi(UserUpdate),
    )
    def update_user(
        principal: Viewer,
        session: session_of_request,
        user_id: RowId,
        body: Annotated[UserUpdate, Depends(parsed_body(UserUpdate))],
    ) -> UserOut:
        """Change a user's role or disable it (which ends its sessions and revokes its tokens)."""
        try:
            user = service.update_user(session, user_id, role=body.role, disabled=body.disabled)
        except service.UserNotFound as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
        except service.LastAdmin as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        session.commit()
        logger.info(
            "admin %s set user %s to role=%s disabled=%s",
            principal.username,
            user.username,
            user.role,
            user.disabled,
        )
        return UserOut.model_validate(user)

    return router
