"""Reading an upload form while it streams: the byte limit holds before the body has arrived, nothing touches disk.

:func:`read_upload_form` refuses a body whose declared ``Content-Length`` is over the limit before reading
any of it, and stops reading (HTTP 413) as soon as the bytes received pass the limit when the length is not
declared or is wrong. The multipart body is parsed as it arrives by Starlette's parser with its file parts
kept in memory (never spooled to a temporary file), so memory is bounded by the limit.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

from fastapi import HTTPException, Request
from starlette.formparsers import MultiPartException, MultiPartParser

__all__ = ["FORM_OVERHEAD", "MAX_OTHER_BODY", "BodyLimit", "UploadForm", "read_upload_form", "too_large"]

FORM_OVERHEAD = 64 * 1024
"""Bytes allowed for the form's other fields and multipart framing on top of the file's limit."""


MAX_OTHER_BODY = 1024 * 1024
"""Largest body of any request that is not an upload (forms and JSON are small)."""


class BodyLimit:
    """ASGI middleware: every request body is bounded while it streams (uploads by their limit, others 1 MB).

    At most ``max_uploads`` uploads are received or validated at once (each holds up to its limit in
    memory); another one is answered 503 with ``Retry-After`` before its body is read. A declared ``Content-Length`` over the bound is answered 413 before the body is read; an undeclared
    one is cut off with 413 as soon as the bytes received pass it. No request body can make the service
    spool a form to a temporary file (Starlette spools file parts over 1 MB).
    """

    def __init__(self, app, upload_paths: tuple[str, ...], upload_limit, max_uploads: int = 4,
                 retry_after: int = 5) -> None:
        self.app, self.upload_paths, self.upload_limit = app, upload_paths, upload_limit
        self.max_uploads, self.retry_after = int(max_uploads), int(retry_after)
        self.uploads = 0  # uploads being received or validated now (the event loop is one thread)

    @staticmethod
    async def _answer(send, status: int, body: bytes, extra: list | None = None) -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"connection", b"close"),
                                (b"content-length", str(len(body)).encode()), *(extra or [])]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = scope["path"] in self.upload_paths and scope.get("method") == "POST"
        limit = (self.upload_limit() + FORM_OVERHEAD) if upload else MAX_OTHER_BODY
        shown = self.upload_limit() if upload else MAX_OTHER_BODY
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await self._answer(send, 413, b'{"error":"TooLarge","message":"request body larger than the %d-byte '
                                              b'limit; nothing was stored"}' % shown)
                return
        if upload and self.uploads >= self.max_uploads:  # each upload holds its bytes: bound how many at once
            await self._answer(send, 503, b'{"error":"Busy","message":"the service is receiving other uploads; try '
                                          b'again in a few seconds"}', [(b"retry-after", str(self.retry_after).encode())])
            return
        self.uploads += upload
        try:
            await self._call_bounded(scope, receive, send, limit, shown)
        finally:
            self.uploads -= upload

    async def _call_bounded(self, scope, receive, send, limit: int, shown: int) -> None:
        received = 0

        async def bounded_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise too_large(shown)
            return message

        await self.app(scope, bounded_receive, send)


@dataclass
class UploadForm:
    """A parsed upload: its text fields, the (first) file's name (a label only) and bytes, and every file
    part as ``(name, bytes)`` (several for a project upload)."""

    fields: dict[str, str]
    filename: str
    data: bytes
    files: list[tuple[str, bytes]] = field(default_factory=list)


def too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"upload larger than the {limit:,}-byte limit; nothing was stored")


class _InMemoryParser(MultiPartParser):
    def __init__(self, *args, limit: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.spool_max_size = limit + FORM_OVERHEAD + 1  # a SpooledTemporaryFile below this stays in memory


async def _bounded(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit - FORM_OVERHEAD)
        yield chunk


async def read_upload_form(request: Request, limit: int, file_field: str = "file",
                           max_files: int = 1) -> UploadForm:
    """Parse the ``multipart/form-data`` body of ``request`` with its file parts (at most ``max_files``) at most
    ``limit`` bytes together, in memory.

    Raises
    ------
    HTTPException
        413 when the body is over the limit (declared or counted), 422 when it is not a multipart form
        with a ``file_field`` file or has more than ``max_files`` files.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + FORM_OVERHEAD:
        raise too_large(limit)
    ctype = request.headers.get("content-type", "")
    if not ctype.lower().startswith("multipart/form-data"):
        raise HTTPException(422, "send the upload as multipart/form-data with a 'file' part")
    parser = _InMemoryParser(request.headers, _bounded(request, limit + FORM_OVERHEAD), limit=limit,
                             max_files=max_files, max_fields=20 + max_files, max_part_size=FORM_OVERHEAD)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise HTTPException(422, f"not a valid upload form: {exc.message}") from None
    fields: dict[str, str] = {}
    parts: list[tuple[str, bytes]] = []
    for key, value in form.multi_items():
        if isinstance(value, str):
            fields[key] = value
        else:
            if key == file_field:
                parts.append((str(value.filename or "upload"), value.file.read()))
            value.file.close()
    if not parts:
        raise HTTPException(422, f"the form has no '{file_field}' file")
    if sum(len(d) for _, d in parts) > limit:
        raise too_large(limit)
    return UploadForm(fields, parts[0][0], parts[0][1], parts)
