"""个人信息副本 (PIPL art. 45): the citizen asks for a copy of everything held about them, then downloads it.

Both steps need a fresh step-up of this session (`POST /api/v1/me/step-up`, a code sent to the citizen's
phone just now): 403 FRESH_OTP_REQUIRED otherwise.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from sanic import Request, response
from sanic.response import HTTPResponse

from api.http import audience_blueprint, documented, reply
from api.services import services

bp = audience_blueprint("citizen_exports", url_prefix="/api/v1/me/exports", audience="citizen")


class ExportReply(BaseModel):
    id: str
    status: str = Field(description="ready (download it), or expired (the file is removed)")
    download_url: str = Field(description="GET it with this session, after a fresh step-up")
    expires_at: str = Field(description="The link ends then (ISO 8601), APP_EXPORT_LINK_TTL after the request")
    size: int = Field(description="Bytes of the zip")
    downloads_left: int = Field(description="Downloads of this copy still allowed (APP_EXPORT_MAX_DOWNLOADS in all)")
    areas: list[str] = Field(description="The areas of data.json (profile, sessions, applications, …)")


@bp.post("")
@documented("Ask for a copy of all my data (个人信息副本): a zip of data.json, README.md and my uploaded files",
            reply_model=ExportReply, status=201, tag="me",
            description="Needs a fresh step-up of this session (POST /api/v1/me/step-up), else 403 FRESH_OTP_REQUIRED. "
                        "The copy is built at once and kept encrypted until expires_at; at most "
                        "APP_EXPORT_DAILY_LIMIT a day (429).")
async def create_export(request: Request) -> HTTPResponse:
    made = await services(request).exports.create(request.ctx.citizen_id, request.ctx.claims.session_id)
    return reply(made, status=201)


@bp.get("/<export_id:str>/download")
@documented("Download my copy (application/zip)", tag="me",
            description="My own copy only (another's: 404 EXPORT_NOT_FOUND), with a fresh step-up (403 "
                        "FRESH_OTP_REQUIRED), before expires_at (410 EXPORT_EXPIRED) and while downloads are left "
                        "(410 EXPORT_DOWNLOADS_USED). Every download is in my access log.")
async def download_export(request: Request, export_id: str) -> HTTPResponse:
    copy = await services(request).exports.download(request.ctx.citizen_id, request.ctx.claims.session_id, export_id)
    return response.raw(copy.content, content_type="application/zip", headers={
        "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'attachment; filename="{copy.filename}"'})
