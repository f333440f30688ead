"""Request bodies parsed without echoing their input in errors (they may carry passwords)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import HTTPException, Request, status
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)
JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"
# A login or a user record is tiny; anything bigger is refused unread.
MAX_BODY_BYTES = 16 * 1024


def parsed_body(
    model: type[Model], allow_form: bool = False
) -> Callable[[Request], Awaitable[Model]]:
    """A dependency reading `model` from a JSON (or, if allowed, form) body; 422 lists no input."""

    async def parse(request: Request) -> Model:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in ((JSON_TYPE, FORM_TYPE) if allow_form else (JSON_TYPE,)):
            raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "unsupported content type")
        raw = await _read_bounded(request)
        try:
            if content_type == JSON_TYPE:
                return model.model_validate_json(raw)
            return model.model_validate(dict(parse_qsl(raw.decode(), keep_blank_values=True)))
        except UnicodeDecodeError:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "the body is not UTF-8") from None
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_context=False, include_input=False)
            detail = [{**error, "loc": ["body", *error["loc"]]} for error in errors]
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail) from None

    return parse


def body_openapi(model: type[BaseModel], allow_form: bool = False) -> dict[str, Any]:
    """The OpenAPI requestBody of a route whose body `parsed_body` reads."""
    schema = {"schema": model.model_json_schema()}
    content = {JSON_TYPE: schema} | ({FORM_TYPE: schema} if allow_form else {})
    return {"requestBody": {"required": True, "content": content}}


async def _read_bounded(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "the body is too large")
        chunks.append(chunk)
    return b"".join(chunks)
