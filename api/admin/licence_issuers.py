"""Department APIs for e-licences: issuers issue licences and push status changes; an administrator
assigns each licence type its one issuer.

Issuers are admin clients with the role `licence_issuer`; the type registry is managed by clients
with the role `licence_admin`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field
from sanic import Request
from sanic.response import HTTPResponse

from api.http import audience_blueprint, documented, parse_body, reply
from api.schemas import Strict
from api.services import services
from app.clock import rfc3339
from app.vouchers.licences import DOCUMENT_TYP, LicenceIssue, LicenceView

bp = audience_blueprint("admin_licences", url_prefix="/api/admin/v1", audience="admin")
ISSUER, ADMIN = "licence_issuer", "licence_admin"


class IssueRequest(Strict):
    licence_type: str = Field(max_length=40, description="A licence type code, e.g. driving_licence")
    holder_id_number: str = Field(max_length=32, description="The holder's 18-character resident ID number")
    number: str = Field(min_length=1, max_length=64, description="The licence number (format per type)")
    fields: dict[str, Any] = Field(description="The licence fields, as the type's JSON Schema says")
    valid_from: AwareDatetime
    valid_until: AwareDatetime | None = None
    document: str = Field(max_length=32768, description=(
        f"The licence document you signed: a compact JWS, ES256, header kid = one of your registered keys and "
        f"typ = {DOCUMENT_TYP}; payload {{iss: your client id, iat, licence_type, number, holder: hex SHA-256 of "
        f"the holder ID number, fields, valid_from, valid_until}}, equal to this request"))


class IssuedLicence(BaseModel):
    id: str
    licence_type: str
    number_masked: str
    holder_name_masked: str | None
    issuer_kid: str
    status: str
    validity: str
    status_reason: str | None
    valid_from: str
    valid_until: str | None
    issued_at: str
    status_changed_at: str


def issued(view: LicenceView) -> IssuedLicence:
    return IssuedLicence(
        id=view.id, licence_type=view.licence_type, number_masked=view.number_masked,
        holder_name_masked=view.holder_name_masked, issuer_kid=view.issuer_kid, status=view.status,
        validity=view.validity, status_reason=view.status_reason, valid_from=rfc3339(view.valid_from),
        valid_until=rfc3339(view.valid_until), issued_at=rfc3339(view.issued_at),
        status_changed_at=rfc3339(view.status_changed_at),
    )


class StatusRequest(Strict):
    status: Literal["valid", "suspended", "revoked", "expired"] = Field(
        description="suspended and expired can be lifted (valid) again; revoked is final")
    reason: str | None = Field(default=None, max_length=64, description="Shown to the holder")


class IssuerRequest(Strict):
    client_id: str | None = Field(max_length=40, description="An admin client with the role licence_issuer; null: none")


class LicenceTypeReply(BaseModel):
    code: str
    name: dict[str, str]
    issuer_client_id: str | None
    schema_: dict[str, Any] = Field(alias="schema", serialization_alias="schema")
    sample: bool


class LicenceTypeList(BaseModel):
    items: list[LicenceTypeReply]


def type_reply(row) -> dict:
    return {"code": row.code, "name": row.name, "issuer_client_id": row.issuer_client_id, "schema": row.schema,
            "sample": row.sample}


@bp.post("/licences")
@documented("Issuer: issue a licence into the holder's wallet with your signed licence document (role licence_issuer)",
            body=IssueRequest, reply_model=IssuedLicence, status=201, tag="admin")
async def issue_licence(request: Request) -> HTTPResponse:
    request.ctx.client.require_role(ISSUER)
    body = parse_body(request, IssueRequest)
    view = await services(request).licences.issue_licence(request.ctx.client, LicenceIssue(**body.model_dump()))
    return reply(issued(view), status=201)


@bp.post("/licences/<licence_id:str>/status")
@documented("Issuer: suspend, revoke, expire or reinstate one of your licences; it takes effect at once "
            "(role licence_issuer)", body=StatusRequest, reply_model=IssuedLicence, tag="admin")
async def push_status(request: Request, licence_id: str) -> HTTPResponse:
    request.ctx.client.require_role(ISSUER)
    body = parse_body(request, StatusRequest)
    view = await services(request).licences.update_status(request.ctx.client, licence_id, body.status, body.reason)
    return reply(issued(view))


@bp.get("/licence-types")
@documented("Licence types with their field schemas and assigned issuers (role licence_issuer or licence_admin)",
            reply_model=LicenceTypeList, tag="admin")
async def licence_types(request: Request) -> HTTPResponse:
    client = request.ctx.client
    if ADMIN not in client.roles:
        client.require_role(ISSUER)
    rows = await services(request).licences.licence_types()
    return reply({"items": [type_reply(r) for r in rows]})


@bp.put("/licence-types/<code:str>/issuer")
@documented("Administrator: assign the one issuer of a licence type (role licence_admin)", body=IssuerRequest,
            reply_model=LicenceTypeReply, tag="admin")
async def assign_issuer(request: Request, code: str) -> HTTPResponse:
    request.ctx.client.require_role(ADMIN)
    body = parse_body(request, IssuerRequest)
    row = await services(request).licences.assign_issuer(request.ctx.client, code, body.client_id)
    return reply(type_reply(row))
