"""The citizen's 社保: insured status, contributions by year, the personal rights record and its printable proof."""

from __future__ import annotations

from sanic import Request, response
from sanic.response import HTTPResponse

from api.http import audience_blueprint, documented, no_content, reply, requires_level
from api.services import services
from app.accounts.rules import LEVEL_REAL_NAME
from app.departments.social_insurance import (DocumentKind, InsuranceContributions, InsuredStatus, RightsRecord,
                                             SocialInsuranceProofList, SocialInsuranceProofView)
from app.errors import ValidationFailed

bp = audience_blueprint("citizen_social_insurance", url_prefix="/api/v1/social-insurance", audience="citizen")
CONTENT_TYPES = {"png": "image/png", "pdf": "application/pdf"}


def year_arg(request: Request) -> int | None:
    """`?year=` as a whole number (None when absent); its range is the domain's to check."""
    raw = request.args.get("year")
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()):
        raise ValidationFailed([{"field": "year", "problem": "a year such as 2024"}])
    return int(raw)


@bp.get("")
@documented("My 参保状态 at 人社: where and as what I am insured, my employer, each scheme's state and first month",
            reply_model=InsuredStatus, level=LEVEL_REAL_NAME, tag="social insurance")
@requires_level(LEVEL_REAL_NAME)
async def insured_status(request: Request) -> HTTPResponse:
    status = await services(request).departments.social_insurance.status(request.ctx.citizen.id, request.ctx.language)
    return reply(status)


@bp.get("/contributions")
@documented("My monthly contributions (缴费明细) of one year, `?year=YYYY` from 1990 to this year (default this "
            "year); amounts in fen", reply_model=InsuranceContributions, level=LEVEL_REAL_NAME, tag="social insurance")
@requires_level(LEVEL_REAL_NAME)
async def contributions(request: Request) -> HTTPResponse:
    found = await services(request).departments.social_insurance.contributions(
        request.ctx.citizen.id, year_arg(request), request.ctx.language)
    return reply(found)


@bp.get("/rights-record")
@documented("My personal rights record (个人权益记录) as 人社 gives it today", reply_model=RightsRecord,
            level=LEVEL_REAL_NAME, tag="social insurance")
@requires_level(LEVEL_REAL_NAME)
async def rights_record(request: Request) -> HTTPResponse:
    record = await services(request).departments.social_insurance.rights_record(request.ctx.citizen.id,
                                                                                request.ctx.language)
    return reply(record)


@bp.post("/proofs")
@documented("Print my rights record: a proof valid for 90 days, as PNG and PDF with a QR anyone can verify "
            "(at most 5 in ten minutes, 20 a day)", reply_model=SocialInsuranceProofView, status=201, level=LEVEL_REAL_NAME,
            tag="social insurance")
@requires_level(LEVEL_REAL_NAME)
async def issue_proof(request: Request) -> HTTPResponse:
    holder = services(request).accounts.profile(request.ctx.citizen)
    issued = await services(request).departments.social_insurance.issue_proof(
        request.ctx.citizen.id, holder.name_masked or "", holder.id_number_masked or "", request.ctx.language)
    return reply(issued, status=201)


@bp.get("/proofs")
@documented("My printed proofs, newest first, each valid, expired or withdrawn", reply_model=SocialInsuranceProofList,
            tag="social insurance")
async def my_proofs(request: Request) -> HTTPResponse:
    proofs = await services(request).departments.social_insurance.proofs_of(request.ctx.citizen_id, request.ctx.language)
    return reply(proofs)


@bp.get("/proofs/<proof_id:ext=png|pdf>")
@documented("One of my printed proofs as a page: `.png` or `.pdf` (another citizen's: 404 PROOF_NOT_FOUND)",
            level=LEVEL_REAL_NAME, tag="social insurance")
@requires_level(LEVEL_REAL_NAME)
async def proof_document(request: Request, proof_id: str, ext: str) -> HTTPResponse:
    kind: DocumentKind = "pdf" if ext == "pdf" else "png"  # the route takes no other
    document = await services(request).departments.social_insurance.proof_document(request.ctx.citizen.id, proof_id,
                                                                                   kind)
    return response.raw(document, content_type=CONTENT_TYPES[ext], headers={"Cache-Control": "private, no-store"})


# After the document route: a path ending in .png or .pdf is the document, any other one the proof.
@bp.get("/proofs/<proof_id:str>")
@documented("One of my printed proofs (another citizen's: 404 PROOF_NOT_FOUND)", reply_model=SocialInsuranceProofView,
            tag="social insurance")
async def my_proof(request: Request, proof_id: str) -> HTTPResponse:
    proof = await services(request).departments.social_insurance.proof(request.ctx.citizen_id, proof_id,
                                                                       request.ctx.language)
    return reply(proof)


@bp.delete("/proofs/<proof_id:str>")
@documented("Withdraw one of my printed proofs: from now on its QR verifies as withdrawn", status=204,
            tag="social insurance")
async def revoke_proof(request: Request, proof_id: str) -> HTTPResponse:
    await services(request).departments.social_insurance.revoke_proof(request.ctx.citizen_id, proof_id)
    return no_content()
