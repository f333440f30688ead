"""Queries and writes of the users domain; each function takes its Session explicitly."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import Enum

import sqlalchemy as sa
from pwdlib import PasswordHash
from sqlalchemy.orm import Session

from hub.users.models import USERNAME_MAX_LENGTH, ApiToken, User, UserSession
from hub.users.roles import Role

# argon2id with pwdlib's recommended parameters; the hasher holds no state between calls.
PASSWORDS = PasswordHash.recommended()
PASSWORD_MIN_LENGTH = 8
# Bounds the hashing work one login attempt can cost the hub.
PASSWORD_MAX_LENGTH = 1024
USERNAME_PATTERN = re.compile(rf"[a-z0-9][a-z0-9._-]{{0,{USERNAME_MAX_LENGTH - 1}}}")
TOKEN_PREFIX = "vgt_"
SECRET_BYTES = 32


class UserExists(ValueError):
    """The username is taken."""


class UserNotFound(LookupError):
    """No user has that id or name."""


class LastAdmin(ValueError):
    """The change would leave the hub without an enabled admin."""


class AuthMethod(str, Enum):
    """How a request proved who it is."""

    SESSION = "session"
    TOKEN = "token"


@dataclass(frozen=True)
class Principal:
    """The authenticated user behind a request."""

    user_id: int
    username: str
    role: Role
    method: AuthMethod


def normalize_username(username: str) -> str:
    """The canonical (lower-case) form of a username; ValueError when it is not a valid one."""
    canonical = username.strip().lower()
    if not USERNAME_PATTERN.fullmatch(canonical):
        raise ValueError(
            f"a username is 1 to {USERNAME_MAX_LENGTH} letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return canonical


def check_password(password: str) -> str:
    """The password itself when acceptable; ValueError (never quoting it) when not."""
    if not PASSWORD_MIN_LENGTH <= len(password) <= PASSWORD_MAX_LENGTH:
        raise ValueError(
            f"a password has {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters"
        )
    return password


def secret_hash(secret: str) -> str:
    """The stored form of a session secret or API token (they are random, so SHA-256 suffices)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_user(session: Session, username: str, password: str, role: Role, now: datetime) -> User:
    """Add an enabled user; UserExists when the name is taken. The caller commits."""
    canonical = normalize_username(username)
    if session.scalar(sa.select(User.id).where(User.username == canonical)) is not None:
        raise UserExists(f"user {canonical!r} already exists")
    user = User(
        username=canonical,
        password_hash=PASSWORDS.hash(check_password(password)),
        role=role.value,
        disabled=False,
        created_at=now,
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The enabled user with these credentials, else None; costs one hash either way."""
    try:
        canonical = normalize_username(username)
    except ValueError:
        canonical = None
    user = session.scalar(sa.select(User).where(User.username == canonical)) if canonical else None
    if user is None or len(password) > PASSWORD_MAX_LENGTH:
        # Hash anyway, so a wrong name takes as long as a wrong password and names stay secret.
        PASSWORDS.hash(password[:PASSWORD_MAX_LENGTH])
        return None
    if not PASSWORDS.verify(password, user.password_hash) or user.disabled:
        return None
    return user


def start_session(session: Session, user: User, lifetime: timedelta, now: datetime) -> str:
    """Open a browser session for `user` and return its secret (stored only hashed)."""
    secret = secrets.token_urlsafe(SECRET_BYTES)
    session.add(
        UserSession(
            user_id=user.id,
            secret_hash=secret_hash(secret),
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return secret


def end_session(session: Session, secret: str) -> None:
    """Revoke the session with this secret, if any."""
    session.execute(sa.delete(UserSession).where(UserSession.secret_hash == secret_hash(secret)))


def principal_for_session(session: Session, secret: str, now: datetime) -> Principal | None:
    """The enabled user of the unexpired session with this secret, else None."""
    row = session.execute(
        sa.select(User)
        .join(UserSession, UserSession.user_id == User.id)
        .where(
            UserSession.secret_hash == secret_hash(secret),
            UserSession.expires_at > now,
            User.disabled.is_(False),
        )
    ).scalar_one_or_none()
    return _principal(row, AuthMethod.SESSION)


def create_api_token(
    session: Session, user: User, name: str, now: datetime
) -> tuple[ApiToken, str]:
    """A new API token for `user`: the row and the token itself (shown once, stored hashed)."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(SECRET_BYTES)
    token = ApiToken(user_id=user.id, name=name, token_hash=secret_hash(secret), created_at=now)
    session.add(token)
    session.flush()
    return token, secret


def principal_for_token(session: Session, secret: str) -> Principal | None:
    """The enabled user owning this API token, else None."""
    row = session.execute(
        sa.select(User)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == secret_hash(secret), User.disabled.is_(False))
    ).scalar_one_or_none()
    return _principal(row, AuthMethod.TOKEN)


def list_api_tokens(session: Session, user_id: int) -> list[ApiToken]:
    """The user's API tokens, oldest first."""
    return list(
        session.scalars(
            sa.select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)
        )
    )


def revoke_api_token(session: Session, user_id: int, token_id: int) -> bool:
    """Delete one of the user's tokens; False when the user has no such token."""
    result = session.execute(
        sa.delete(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user_id)
    )
    return result.rowcount == 1


def get_user(session: Session, user_id: int) -> User:
    """The user with this id; UserNotFound otherwise."""
    user = session.get(User, user_id)
    if user is None:
        raise UserNotFound(f"no user with id {user_id}")
    return user


def find_user(session: Session, username: str) -> User:
    """The user with this name; UserNotFound otherwise."""
    try:
        canonical = normalize_username(username)
    except ValueError:
        raise UserNotFound(f"no user named {username!r}") from None
    user = session.scalar(sa.select(User).where(User.username == canonical))
    if user is None:
        raise UserNotFound(f"no user named {canonical!r}")
    return user


def list_users(session: Session) -> list[User]:
    """Every user, by name."""
    return list(session.scalars(sa.select(User).order_by(User.username)))


def update_user(
    session: Session, user_id: int, role: Role | None = None, disabled: bool | None = None
) -> User:
    """Change a user's role and/or disabled flag; disabling ends its sessions and tokens."""
    user = get_user(session, user_id)
    stays_admin = (role or Role(user.role)) is Role.ADMIN and not (
        user.disabled if disabled is None else disabled
    )
    if user.role == Role.ADMIN.value and not user.disabled and not stays_admin:
        _refuse_if_last_admin(session, user)
    if role is not None:
        user.role = role.value
    if disabled is not None:
        user.disabled = disabled
    if user.disabled:
        session.execute(sa.delete(UserSession).where(UserSession.user_id == user.id))
        session.execute(sa.delete(ApiToken).where(ApiToken.user_id == user.id))
    session.flush()
    return user


def _refuse_if_last_admin(session: Session, user: User) -> None:
    other_admins = session.scalar(
        sa.select(sa.func.count())
        .select_from(User)
        .where(User.role == Role.ADMIN.value, User.disabled.is_(False), User.id != user.id)
    )
    if not other_admins:
        raise LastAdmin(f"{user.username!r} is the last enabled admin")


def _principal(user: User | None, method: AuthMethod) -> Principal | None:
    if user is None:
        return None
    return Principal(user_id=user.id, username=user.username, role=Role(user.role), method=method)


def utc_now() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(timezone.utc)
