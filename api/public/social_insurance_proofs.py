"""Public verification of a 社保 proof (个人权益记录) by its QR: anyone holding the paper checks it, no sign-in."""

from __future__ import annotations

from pydantic import Field
from sanic import Request
from sanic.response import HTTPResponse

from api.http import audience_blueprint, client_ip, documented, parse_body, reply
from api.schemas import Strict
from api.services import services
from app.departments.social_insurance import SocialInsuranceProofCheck
from app.security.ratelimit import hit

bp = audience_blueprint("public_social_insurance_proofs", url_prefix="/api/v1/social-insurance-proofs", audience="public")
CHECKS_PER_MINUTE = 30  # per address: enough for a desk checking papers, too few to try tokens at scale


class ProofVerificationRequest(Strict):
    qr: str = Field(min_length=1, max_length=512, description="The scanned text of the QR on the paper, GDSIP1:…")


@bp.post("/verifications")
@documented("Check a printed 社保 rights record by its QR: 422 PROOF_INVALID when it is not ours or altered, 404 "
            "PROOF_NOT_FOUND, else valid (with the masked holder and figures to compare with the paper) or not "
            "valid with the reason (expired, revoked)", body=ProofVerificationRequest, reply_model=SocialInsuranceProofCheck,
            tag="social insurance")
async def verify_proof(request: Request) -> HTTPResponse:
    platform = services(request).platform
    await hit(platform.cache, platform.clock, f"si-proof-check:{client_ip(request)}", CHECKS_PER_MINUTE, 60)
    body = parse_body(request, ProofVerificationRequest)
    check = await services(request).departments.social_insurance.verify_proof(body.qr, request.ctx.language)
    return reply(check)
