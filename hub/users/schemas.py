"""Pydantic shapes of the users domain as the API reads and shows them (never a password hash)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hub.users.roles import Role
from hub.users.service import AuthMethod, check_password, normalize_username


class LoginRequest(BaseModel):
    """Credentials posted to /api/auth/login (JSON or an HTML form)."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=256)
    password: str = Field(min_length=1, max_length=4096)


class UserOut(BaseModel):
    """A user as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    role: Role
    disabled: bool
    created_at: datetime


class LoginResult(BaseModel):
    """The logged-in user and the CSRF token to echo in X-CSRF-Token (also in cookie vigie_csrf)."""

    user: UserOut
    csrf_token: str


class Me(BaseModel):
    """The caller and how it authenticated."""

    id: int
    username: str
    role: Role
    auth: AuthMethod


class UserCreate(BaseModel):
    """A new user, created by an admin."""

    model_config = ConfigDict(extra="forbid")

    username: str
    password: str
    role: Role

    _username = field_validator("username")(normalize_username)
    _password = field_validator("password")(check_password)


class UserUpdate(BaseModel):
    """A change of role and/or of the disabled flag; absent fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    disabled: bool | None = None


class TokenCreate(BaseModel):
    """A name for a new API token, to recognise it later."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)


class TokenOut(BaseModel):
    """An API token as listed (the token itself is shown only once, at creation)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    created_at: datetime


class TokenCreated(TokenOut):
    """A new API token, with the bearer token to keep: it cannot be shown again."""

    token: str
