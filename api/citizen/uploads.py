"""材料上传: the citizen uploads a file (an ID photo, a scanned certificate) to name as a material.

`POST /api/v1/uploads` takes either multipart/form-data with one file part or the file itself as the
body. The route streams: the body is read here in chunks and refused with 413 as soon as it is
larger than APP_UPLOAD_MAX_BYTES allows, so a large upload is never held whole. The reply's `id` is
what an application's material names as `upload_ref`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sanic import Request
from sanic.response import HTTPResponse
from sanic_ext import openapi

from api.http import audience_blueprint, documented, reply
from api.services import services
from app.clock import rfc3339
from app.errors import AppError
from app.uploads.service import UploadInfo

bp = audience_blueprint("citizen_uploads", url_prefix="/api/v1", audience="citizen")

MULTIPART_ALLOWANCE = 16 * 1024  # bytes a multipart body may carry beyond its file (boundaries, part headers)


class UploadOut(BaseModel):
    id: str = Field(description="Name it as a material's upload_ref")
    type: str = Field(description="Sniffed from the bytes: jpeg, png or pdf")
    content_type: str
    size: int = Field(description="Bytes as kept (images re-encoded without metadata)")
    status: str = Field(description="unused (expires at expires_at) or attached (lives with what uses it)")
    created_at: str
    expires_at: str | None


def upload_out(info: UploadInfo) -> dict[str, Any]:
    return {"id": info.id, "type": info.kind, "content_type": info.content_type, "size": info.size,
            "status": "attached" if info.owner_id else "unused", "created_at": rfc3339(info.created_at),
            "expires_at": rfc3339(info.expires_at)}


@bp.post("/uploads", stream=True)
@documented(
    "Upload a file to name as a material (multipart/form-data with one file part, or the file as the body)",
    reply_model=UploadOut, status=201, tag="uploads",
    description="201 with the upload's id. Its type is sniffed from the bytes (JPEG, PNG, PDF; else 415 "
                "UPLOAD_TYPE_NOT_ALLOWED), whatever the name or Content-Type say; a file over the limit is 413 "
                "UPLOAD_TOO_LARGE. Images are re-encoded: EXIF (GPS location included) and other metadata are "
                "not kept. It is stored encrypted, usable as a material of your own applications, and deleted "
                "at expires_at unless an application uses it by then.")
@openapi.body({"multipart/form-data": {"type": "object", "required": ["file"],
                                       "properties": {"file": {"type": "string", "format": "binary"}}},
               "application/octet-stream": {"type": "string", "format": "binary"}},
              description="One file: a form part (any field name), or the file itself as the body")
async def upload(request: Request) -> HTTPResponse:
    uploads = services(request).uploads

    async def read() -> bytes:
        return file_of(request, await body_within(request, uploads.settings.max_bytes + MULTIPART_ALLOWANCE))

    info = await uploads.receive(request.ctx.citizen_id, read)
    return reply(upload_out(info), status=201)


@bp.get("/uploads/<upload_id:str>")
@documented("One of my uploads: its type, size and whether an application uses it", reply_model=UploadOut,
            tag="uploads")
async def one(request: Request, upload_id: str) -> HTTPResponse:
    return reply(upload_out(await services(request).uploads.mine(request.ctx.citizen_id, upload_id)))


async def body_within(request: Request, most: int) -> bytes:
    """The request body, read in chunks; 413 UPLOAD_TOO_LARGE once it is longer than `most` (or says it is)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > most:
        services(request).uploads.refuse_oversize(int(declared))
    chunks: list[bytes] = []
    size = 0
    stream: Any = request.stream  # HTTP/1.1's Http or the ASGI transport: both read the body a chunk at a time
    while (chunk := await stream.read()) is not None:
        size += len(chunk)
        if size > most:
            services(request).uploads.refuse_oversize(size)
        chunks.append(chunk)
    return b"".join(chunks)


def file_of(request: Request, body: bytes) -> bytes:
    """The file: the one file part of a multipart body, else the whole body (its Content-Type is not trusted)."""
    if not request.content_type.startswith("multipart/form-data"):
        return body
    request.body = body
    parts = [part for files in (request.files or {}).values() for part in files]
    if not parts:
        raise AppError("UPLOAD_EMPTY", status=400)
    if len(parts) > 1:
        raise AppError("UPLOAD_ONE_FILE_ONLY", status=400, extra={"file_parts": len(parts)})
    file_body: bytes = parts[0].body
    return file_body
