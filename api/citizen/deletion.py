"""Deleting my account (注销): ask (a fresh SMS code first), see where it stands, cancel during the cooling-off."""

from __future__ import annotations

from pydantic import BaseModel, Field
from sanic import Request
from sanic.response import HTTPResponse

from api.http import audience_blueprint, documented, reply
from api.services import services
from app.accounts.service import DeletionState
from app.clock import rfc3339

bp = audience_blueprint("citizen_deletion", url_prefix="/api/v1/me/deletion", audience="citizen")


class DeletionReply(BaseModel):
    status: str = Field(description="none, cooling_off (cancellable until erase_after), waiting (the period is over, the "
                        "erasure waits for money in flight: blockers), erasing (being carried out, no longer "
                        "cancellable), erased, cancelled")
    requested_at: str | None = None
    erase_after: str | None = Field(default=None, description="When the account is erased, unless cancelled before")
    cancelled_at: str | None = None
    blockers: list[dict[str, str]] = Field(default_factory=list, description="What the erasure waits for (waiting)")


def _shaped(state: DeletionState) -> DeletionReply:
    return DeletionReply(status=state.status, requested_at=rfc3339(state.requested_at),
                         erase_after=rfc3339(state.erase_after), cancelled_at=rfc3339(state.cancelled_at),
                         blockers=list(state.blockers))


@bp.post("")
@documented("Ask for my account to be deleted (注销). Needs a fresh SMS code on this session (else 403 "
            "FRESH_OTP_REQUIRED); refused with 409 DELETION_BLOCKED (each blocker named) while a payment, refund, "
            "application or 12345 ticket is in progress. The account is erased after the cooling-off period unless cancelled",
            reply_model=DeletionReply, status=202, tag="me")
async def request_deletion(request: Request) -> HTTPResponse:
    state = await services(request).deletions.request(request.ctx.citizen_id, request.ctx.claims.session_id)
    return reply(_shaped(state), status=202)


@bp.get("")
@documented("Where my deletion request stands", reply_model=DeletionReply, tag="me")
async def deletion_status(request: Request) -> HTTPResponse:
    return reply(_shaped(await services(request).deletions.status(request.ctx.citizen_id)))


@bp.delete("")
@documented("Cancel my deletion request during its cooling-off period (404 DELETION_NOT_REQUESTED when none is "
            "pending)", reply_model=DeletionReply, tag="me")
async def cancel_deletion(request: Request) -> HTTPResponse:
    return reply(_shaped(await services(request).deletions.cancel(request.ctx.citizen_id)))
