"""The citizen's 交管 records: vehicles, driving licence and points, violations in detail.

Read from 交管 through the data exchange by the citizen's verified ID number (实名 needed: 403
IDENTITY_LEVEL_REQUIRED). A department down, or a reply of another shape, answers 503 DEPARTMENT_UNAVAILABLE
with Retry-After; past 30 reads of one service a minute, 429 RATE_LIMITED with Retry-After. A fine is paid
through the payments API (POST /api/v1/payments) with the violation's `payable_reference`."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field
from sanic import Request
from sanic.response import HTTPResponse

from api.http import audience_blueprint, documented, reply, requires_level
from api.services import services
from app.accounts.rules import LEVEL_REAL_NAME
from app.clock import rfc3339
from app.departments.traffic import POINTS_LIMIT, DrivingLicence, LicenceAnswer, Vehicle, Violation

bp = audience_blueprint("citizen_traffic", url_prefix="/api/v1/traffic", audience="citizen")


class VehicleReply(BaseModel):
    plate: str = Field(description="号牌号码, e.g. 粤A12345")
    plate_type: str = Field(description="号牌种类 code: 02 小型汽车, 52 小型新能源汽车")
    plate_type_name: str
    vehicle_type: str
    brand: str
    model: str
    energy: str = Field(description="燃料种类: 汽油, 纯电动, 插电式混合动力 ...")
    colour: str
    registered_on: date
    inspection_valid_until: date = Field(description="检验有效期至")
    inspection_due: bool = Field(description="the inspection falls due within 90 days (or is past)")
    inspection_overdue: bool
    status: str = Field(description="机动车状态 code, A 正常")
    status_name: str
    authority: str


class VehicleList(BaseModel):
    count: int
    items: list[VehicleReply]
    sample: bool


class LicenceReply(BaseModel):
    vehicle_class: str = Field(description="准驾车型, e.g. C1")
    class_name: str
    first_issued_on: date
    valid_from: date
    validity: str = Field(description="有效期限: 6年, 10年 or 长期")
    valid_until: date | None = Field(description="null for 长期")
    status: str = Field(description="驾驶证状态 code(s) as 交管 holds them: A 正常, D 暂扣, E 吊销 ...")
    status_name: str
    wallet_status: str | None = Field(description="the e-licence wallet's status for it: valid, suspended, revoked, "
                                                   "expired; null for a code not known here")
    points: int = Field(description="累积记分 in this 记分周期")
    points_limit: int
    points_full: bool = Field(description="12 points reached (满分): study and an exam before driving again")
    points_notice: str | None = Field(description="the warning to show from 9 points on, in the reader's language")
    points_cycle_ends: date
    issuing_authority: str
    file_no_masked: str = Field(description="档案编号, masked")


class LicenceStatusReply(BaseModel):
    holds_licence: bool
    licence: LicenceReply | None
    message: str | None = Field(description="said when 交管 holds no licence of the citizen")
    sample: bool


class ViolationReply(Violation):
    occurred_at: str  # type: ignore[assignment]  # RFC 3339 text in the reply, in the field's place


class ViolationList(BaseModel):
    count: int = Field(description="unpaid violations")
    fines_fen: int = Field(description="their fines, in fen")
    points: int = Field(description="their points")
    items: list[ViolationReply]
    sample: bool


class ViolationDetail(ViolationReply):
    sample: bool


def vehicle_reply(vehicle: Vehicle) -> VehicleReply:
    return VehicleReply(**vehicle.__dict__)


def licence_reply(answer: LicenceAnswer, language: str) -> LicenceStatusReply:
    licence: DrivingLicence | None = answer.licence
    shown = None if licence is None else LicenceReply(
        **licence.__dict__, points_limit=POINTS_LIMIT, points_full=licence.points_full,
        points_notice=licence.points_notice(language))
    return LicenceStatusReply(holds_licence=answer.holds_licence, licence=shown, sample=answer.sample,
                              message=None if answer.holds_licence else answer.no_licence_text(language))


def violation_reply(violation: Violation) -> dict:
    return ViolationReply(**{**violation.__dict__, "occurred_at": rfc3339(violation.occurred_at)}).model_dump(mode="json")


@bp.get("/vehicles")
@documented("My motor vehicles (机动车) at 交管: plate, type, inspection due", reply_model=VehicleList,
            level=LEVEL_REAL_NAME, tag="traffic")
@requires_level(LEVEL_REAL_NAME)
async def my_vehicles(request: Request) -> HTTPResponse:
    vehicles, sample = await services(request).departments.traffic.vehicles(request.ctx.citizen.id)
    return reply(VehicleList(count=len(vehicles), items=[vehicle_reply(v) for v in vehicles],
                             sample=sample).model_dump(mode="json"))


@bp.get("/driving-licence")
@documented("My driving licence (驾驶证): class, validity, status and points of this cycle (holds_licence false "
            "without one)", reply_model=LicenceStatusReply, level=LEVEL_REAL_NAME, tag="traffic")
@requires_level(LEVEL_REAL_NAME)
async def my_driving_licence(request: Request) -> HTTPResponse:
    answer = await services(request).departments.traffic.driving_licence(request.ctx.citizen.id)
    return reply(licence_reply(answer, request.ctx.language).model_dump(mode="json"))


@bp.get("/violations")
@documented("My traffic violations (交通违法) with a decision, paid and unpaid; an unpaid one names the reference "
            "to pay it with", reply_model=ViolationList, level=LEVEL_REAL_NAME, tag="traffic")
@requires_level(LEVEL_REAL_NAME)
async def my_violations(request: Request) -> HTTPResponse:
    found = await services(request).departments.traffic.violations(request.ctx.citizen.id)
    unpaid = found.unpaid
    return reply({"count": len(unpaid), "fines_fen": sum(v.fine_fen for v in unpaid),
                  "points": sum(v.points for v in unpaid), "items": [violation_reply(v) for v in found.items],
                  "sample": found.sample})


@bp.get("/violations/<decision_number:str>")
@documented("One of my traffic violations by its decision number (422 malformed; 404 TRAFFIC_VIOLATION_NOT_FOUND "
            "when it is not mine)", reply_model=ViolationDetail, level=LEVEL_REAL_NAME, tag="traffic")
@requires_level(LEVEL_REAL_NAME)
async def my_violation(request: Request, decision_number: str) -> HTTPResponse:
    violation, sample = await services(request).departments.traffic.violation(request.ctx.citizen.id, decision_number)
    return reply({**violation_reply(violation), "sample": sample})
