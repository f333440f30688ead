"""HTTP credentials of a camera: basic or digest, as its config says."""

from __future__ import annotations

import httpx
from pydantic import SecretStr


def http_auth(username: str | None, password: SecretStr | None, scheme: str) -> httpx.Auth | None:
    """The httpx auth for a camera's credentials (None without a user name)."""
    if username is None:
        return None
    secret = password.get_secret_value() if password else ""
    if scheme == "digest":
        return httpx.DigestAuth(username, secret)
    return httpx.BasicAuth(username, secret)
