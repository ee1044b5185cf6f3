"""The department services on the data exchange that the platform calls, by their X-Road service ids, and the
one way a department service is asked for a citizen's own data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from app.accounts.service import LEVEL_REAL_NAME, IdentityLevelRequired, verified_id_number
from app.errors import AppError
from app.security import ratelimit
from app.integrations.exchange.client import FAULT_REPLY, DepartmentUnavailable, ExchangeError
from app.integrations.exchange.replies import department_error

if TYPE_CHECKING:
    from app.integrations.exchange.client import ExchangeClient
    from app.platform import Platform

HRSS = "CN-GD/GOV/11440000MB2D0001XA/hrss"  # 广东省人力资源和社会保障厅
HPF = "CN-GD/GOV/11440000MB2D0002XA/hpf"  # 住房公积金管理中心
TPB = "CN-GD/GOV/11440000MB2D0003XA/tpb"  # 公安厅交通管理局
NHSA = "CN-GD/GOV/11440000MB2D0004XA/nhsa"  # 医疗保障局

HRSS_INSURED_STATUS = f"{HRSS}/insured-status/v1"
HRSS_CONTRIBUTIONS = f"{HRSS}/contributions/v1"
HRSS_RIGHTS_RECORD = f"{HRSS}/rights-record/v1"
HRSS_SOCIAL_SECURITY_CARD = f"{HRSS}/social-security-card/v1"
HRSS_PENSION_CERTIFICATION = f"{HRSS}/pension-certification/v1"
NHSA_MEDICAL_ACCOUNT = f"{NHSA}/medical-account/v1"
HPF_ACCOUNT = f"{HPF}/account/v1"
HPF_DEPOSITS = f"{HPF}/deposits/v1"
HPF_WITHDRAWAL_ELIGIBILITY = f"{HPF}/withdrawal-eligibility/v1"
TPB_VEHICLES = f"{TPB}/vehicles/v1"
TPB_DRIVING_LICENCE = f"{TPB}/driving-licence/v1"
TPB_VIOLATIONS = f"{TPB}/violations/v1"
TPB_SETTLEMENTS = f"{TPB}/settlements/v1"


@dataclass(frozen=True)
class Reader:
    """Who asks a department about a citizen, as the exchange tells the department and the citizen's access log:
    the citizen themselves (`OWN`), or someone acting for them, e.g. a family proxy (亲友代办)."""

    actor: str | None = None
    actor_type: str = "citizen"
    represented_party: str = ""

    @classmethod
    def family_proxy(cls, named: str) -> Reader:
        """A family member acting for the citizen, `named` as the citizen's access log names them (李*（子女）,
        never by an id): the read is shown there as made on the citizen's behalf."""
        return cls(actor=named, actor_type="citizen", represented_party=FAMILY_PROXY)


def unreadable(service: str) -> AppError:
    """A verified reply of another shape than the service's: the department gave no usable data, as if it were
    down (503 DEPARTMENT_UNAVAILABLE with Retry-After). Every department service answers it the same way."""
    return department_error(DepartmentUnavailable(service, FAULT_REPLY))


class DepartmentWords(BaseModel):
    """A part of a department's reply as a service reads it: the fields it uses are checked, others ignored."""

    model_config = ConfigDict(extra="ignore")


Words = TypeVar("Words", bound=DepartmentWords)


def read_reply(model: type[Words], reply: dict[str, Any], service: str) -> Words:
    """The department's reply as `model`; a verified reply of another shape is unreadable (503, as if it were down),
    never read as data."""
    try:
        return model.model_validate(reply)
    except ValidationError:
        raise unreadable(service) from None


LIVE_READS_PER_MINUTE = 30  # a citizen's own live reads of one department service: well past any screen's need


FAMILY_PROXY = "family:proxy"  # the represented-party code of a family proxy's reads
OWN = Reader()


class DepartmentAsker:
    """Asks department services about one citizen, by the ID number the identity authority confirmed (实名).

    `ask` answers the reply body or raises the AppError the citizen is shown: 403 IDENTITY_LEVEL_REQUIRED without
    实名, 503 DEPARTMENT_NOT_CONNECTED when the service is not registered on the exchange here, 429 RATE_LIMITED
    past LIVE_READS_PER_MINUTE of the citizen's own reads of one service, and the department errors of
    app/integrations/exchange/replies.py for whatever the exchange met. Each is decided before anything is sent."""

    def __init__(self, platform: Platform, exchange: ExchangeClient | None) -> None:
        self.platform = platform
        self.exchange = exchange

    def connected(self, service: str) -> bool:
        return self.exchange is not None and self.exchange.registration(service) is not None

    async def id_number(self, citizen_id: str) -> str:
        id_number = await verified_id_number(self.platform, citizen_id)
        if id_number is None:
            raise IdentityLevelRequired(LEVEL_REAL_NAME, 0)
        return id_number

    async def ask(self, service: str, citizen_id: str, body: dict[str, Any] | None = None, *,
                  purpose: str = "citizen_request", reader: Reader = OWN) -> dict[str, Any]:
        """A read of the citizen's data; `reader` says who asks when it is not the citizen."""
        subject = {"subject": {"id_number": await self.id_number(citizen_id)}}
        if self.exchange is None or not self.connected(service):
            raise AppError("DEPARTMENT_NOT_CONNECTED", status=503)
        if purpose == "citizen_request" and reader == OWN:
            await self._count_own_read(service, citizen_id)
        try:
            return await self.exchange.call(service, citizen_id, purpose, {**subject, **(body or {})},
                                            represented_party=reader.represented_party, actor=reader.actor,
                                            actor_type=reader.actor_type)
        except ExchangeError as error:
            raise department_error(error) from error

    async def _count_own_read(self, service: str, citizen_id: str) -> None:
        """The citizen's own live reads are limited per service (429 with Retry-After): each one costs the
        department a query, so a script reloading a screen cannot flood it in the citizen's name."""
        await ratelimit.hit(self.platform.cache, self.platform.clock, f"department-read:{citizen_id}:{service}",
                            LIVE_READS_PER_MINUTE, 60)


__all__ = ["FAMILY_PROXY", "LIVE_READS_PER_MINUTE", "OWN", "DepartmentAsker", "Reader", "HPF_ACCOUNT", "HPF_DEPOSITS", "HPF_WITHDRAWAL_ELIGIBILITY", "HRSS_CONTRIBUTIONS",
           "HRSS_INSURED_STATUS", "HRSS_PENSION_CERTIFICATION", "HRSS_RIGHTS_RECORD", "HRSS_SOCIAL_SECURITY_CARD",
           "NHSA_MEDICAL_ACCOUNT", "TPB_DRIVING_LICENCE", "TPB_SETTLEMENTS", "TPB_VEHICLES", "TPB_VIOLATIONS", "unreadable"]
