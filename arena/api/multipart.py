"""Reading an uploaded file in the route, after authentication.

A route that declares ``UploadFile`` has FastAPI parse the whole multipart body before its dependencies run, so
an anonymous client could make the server read (and spool) a large upload only to be refused. Routes read the
form themselves instead, once ``Me``/``Admin`` has accepted the caller; BodyLimit caps what they can read.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from arena.api.errors import ApiError

# The request body as OpenAPI shows it, since no parameter declares it any more.
FILE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


async def read_file(request: Request, max_bytes: int, field: str = "file") -> tuple[str, bytes]:
    """(file name, at most ``max_bytes + 1`` bytes) of the form's ``field``; 422 INVALID_REQUEST without one, or
    when the form cannot be parsed (too many fields or files, a broken part), as any other invalid request."""
    try:
        form = await request.form(max_files=1, max_fields=10)
    except HTTPException as exc:
        if exc.status_code != 400:  # BodyLimit's 413 stops the read this way too: it answers itself
            raise
        raise ApiError(422, "INVALID_REQUEST", f"{field}: {exc.detail}",
                       fields=[{"field": field, "message": str(exc.detail)}]) from None  # fmt: skip
    try:
        part = form.get(field)
        if not isinstance(part, UploadFile):
            raise ApiError(422, "INVALID_REQUEST", f"{field}: Field required",
                           fields=[{"field": field, "message": "Field required"}])  # fmt: skip
        return part.filename or "", await part.read(max_bytes + 1)
    finally:
        await form.close()
