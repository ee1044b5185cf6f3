"""交管: vehicles, the driving licence and its points, violations in detail, and the licence status pulled from 交管.

Everything is read from 交管 through the data exchange (docs/exchange.md) by the citizen's verified ID number
(实名), through the one DepartmentAsker: the department's errors reach the citizen as its AppErrors (503
DEPARTMENT_UNAVAILABLE with Retry-After, ...). A reply of another shape than 交管 publishes is the department
not answering usefully: 503 as well, never half-read data.

The wallet's 驾驶证 (`driving_licence`) is kept in step with 交管 (证照状态同步): when the holder opens it
(purpose `citizen_request`; not again within RECENT_PULL seconds) and by the `licence-status-pulls` job for
licences not pulled within APP_LICENCE_STATUS_PULL_INTERVAL (a day by default; purpose `licence_status`). 交管's
status codes (LICENCE_STATUS_CODE: anything else is a reply of another shape) map to the wallet's statuses
(STATUS_OF_CODE) and a change goes through the wallet's own status path, as an issuer's push would: an audit entry
with 交管 as actor, and the holder notified. A department down leaves the licence as it was; the job asks again
at its next run. Each of the job's reads is in the holder's access log, named as the sync (JOB_READER, a system
reader); both message logs keep each pull. A pull never raises: a failure of our own is its outcome "error".
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from pydantic import BaseModel, ConfigDict, Field
from tortoise.expressions import Q

from app.db import column
from app.i18n import N_, translate
from app.clock import CHINA_TZ
from app.departments.exchange_services import (OWN, TPB, TPB_DRIVING_LICENCE, TPB_VEHICLES, TPB_VIOLATIONS,
                                               DepartmentAsker, Reader, unreadable)
from app.departments.models import LicenceStatusPull
from app.errors import AppError, NotFound, ValidationFailed
from app.jobs import add_exclusive_job
from app.security.pii import mask_id_number

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from app.cache import Cache
    from app.vouchers.service import LicenceService

log = logging.getLogger("app.departments.traffic")

DRIVING_LICENCE = "driving_licence"  # the wallet's licence type that 交管 holds the status of
DECISION_NUMBER = re.compile(r"TV[0-9]{11}")  # 处罚决定书编号 as 交管 numbers them on the exchange
FINE_PREFIX = "traffic_fine:"  # a payable's reference in the payments API: traffic_fine:<decision number>
POINTS_LIMIT = 12  # 一个记分周期满分
POINTS_NEAR = 9  # from here the citizen is told how few points are left
INSPECTION_DUE_DAYS = 90  # 检验有效期 this close: time to book the inspection
PULLS_PER_RUN = 200  # licences asked at most in one run of the job; the rest wait for the next run
JOB_EVERY = 600  # seconds between runs of the job (or the interval itself, when shorter)
SCAN_PAGE, SCAN_PAGES = 1000, 5  # licences never pulled are looked for this many at a time, so many times a run
PAID_NOT_YET_SETTLED = "已缴款（交管销账中）"  # paid through us; 交管 has not recorded it yet
LICENCE_STATUS_CODE = re.compile(r"[A-Z]{1,8}")  # 交管's status code(s) of a 驾驶证: A 正常, several letters at once
JOB_PURPOSE = "licence_status"  # the job's pulls (证照状态同步), authorised by 交管 on the driving licence only
# The job reads for no one: the holder's access log names it, as a system reader, beside their own opens.
JOB_READER = Reader(actor="证照状态同步（交管）", actor_type="system")
RECENT_PULL = 600  # seconds: opening a 驾驶证 pulled this recently shows it without asking 交管 again
SCAN_CURSOR = "licence-status-pulls:scan-after"  # the licence id the walk for never-pulled licences goes on from
# 驾驶证状态 (交管's codes) as the wallet's statuses. Flags that leave driving allowed (违法未处理, 转出, 延期...)
# are valid; what stops driving until cleared (暂扣, 扣留, 超分, 锁定, 逾期未审验...) is suspended; 吊销, 撤销 and
# 注销 end the licence. A code not here is not guessed at: the wallet keeps what it holds.
STATUS_OF_CODE = {
    "A": "valid", "C": "valid", "H": "valid", "I": "valid", "K": "valid", "N": "valid", "P": "valid", "T": "valid",
    "B": "suspended", "D": "suspended", "J": "suspended", "L": "suspended", "R": "suspended", "S": "suspended",
    "U": "suspended", "M": "expired", "E": "revoked", "F": "revoked", "G": "revoked",
}
SEVERITY = ("valid", "expired", "suspended", "revoked")  # of several codes at once, the gravest wins
POINTS_NOTICES = {
    "full": N_("本记分周期已记满 {limit} 分，须参加道路交通安全法律法规和相关知识学习、考试。"),
    "near": N_("本记分周期已记 {points} 分，距满分还剩 {left} 分。"),
}
NO_LICENCE = N_("交管部门没有您名下的机动车驾驶证记录。")


class ReplyShapeError(ValueError):
    """交管 answered, verified, with a body of another shape than it publishes."""


@dataclass(frozen=True)
class Vehicle:
    """机动车: one vehicle registered to the citizen."""

    plate: str
    plate_type: str
    plate_type_name: str
    vehicle_type: str
    brand: str
    model: str
    energy: str
    colour: str
    registered_on: date
    inspection_valid_until: date
    inspection_due: bool  # 检验有效期 within INSPECTION_DUE_DAYS (or past)
    inspection_overdue: bool
    status: str
    status_name: str
    authority: str


@dataclass(frozen=True)
class DrivingLicence:
    """驾驶证: class, validity, status and points of this 记分周期."""

    vehicle_class: str
    class_name: str
    first_issued_on: date
    valid_from: date
    validity: str  # 6年, 10年 or 长期
    valid_until: date | None
    status: str  # 交管's code(s), A 正常
    status_name: str
    wallet_status: str | None  # the wallet's status for that code; None for a code not known here
    points: int
    points_cycle_ends: date
    issuing_authority: str
    file_no_masked: str

    @property
    def points_full(self) -> bool:
        return self.points >= POINTS_LIMIT

    def points_notice(self, language: str) -> str | None:
        if self.points_full:
            return translate(POINTS_NOTICES["full"], language, limit=POINTS_LIMIT)
        if self.points >= POINTS_NEAR:
            return translate(POINTS_NOTICES["near"], language, points=self.points, left=POINTS_LIMIT - self.points)
        return None


@dataclass(frozen=True)
class LicenceAnswer:
    holds_licence: bool
    licence: DrivingLicence | None
    sample: bool

    @staticmethod
    def no_licence_text(language: str) -> str:
        return translate(NO_LICENCE, language)


class Violation(BaseModel):
    """交通违法: one decided violation (处罚决定书) and whether its fine is paid. Its fields and their words are
    also the citizen API's reply, which gives `occurred_at` as RFC 3339 text."""

    model_config = ConfigDict(frozen=True)

    decision_number: str = Field(description="处罚决定书编号")
    plate: str
    occurred_at: datetime
    place: str
    offence_code: str
    offence: str
    fine_fen: int
    points: int
    authority: str
    decided_on: date
    pay_by: date
    status: str = Field(description="paid or unpaid, as 交管 holds it")
    status_name: str
    overdue: bool = Field(description="unpaid past pay_by")
    payable_reference: str | None = Field(description="for an unpaid fine: the `reference` to pay it with "
                                                      "(POST /api/v1/payments), traffic_fine:<decision number>")

    def paid(self, status_name: str) -> Violation:
        """The same violation with its fine paid: nothing left to pay."""
        return self.model_copy(update={"status": "paid", "status_name": status_name, "overdue": False,
                                       "payable_reference": None})


@dataclass(frozen=True)
class Violations:
    items: list[Violation]
    sample: bool

    @property
    def unpaid(self) -> list[Violation]:
        return [v for v in self.items if v.status == "unpaid"]


def wallet_status(code: str) -> str | None:
    """The wallet's status for 交管's status code(s) (several letters: the gravest); None for an unknown code."""
    if not code or any(letter not in STATUS_OF_CODE for letter in code):
        return None
    return max((STATUS_OF_CODE[letter] for letter in code), key=SEVERITY.index)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ReplyShapeError("a text field is not text")
    return value


def _count(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ReplyShapeError("an amount or count is not a whole number >= 0")
    return value


def _day(value: Any) -> date:
    try:
        return date.fromisoformat(_text(value))
    except ValueError:
        raise ReplyShapeError("a date is not YYYY-MM-DD") from None


def _items(reply: dict[str, Any]) -> list[dict[str, Any]]:
    items = reply.get("items")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ReplyShapeError("items is not a list of objects")
    return items


def _vehicle(item: dict[str, Any], today: date) -> Vehicle:
    until = _day(item["inspection_valid_until"])
    return Vehicle(
        plate=_text(item["plate_no"]), plate_type=_text(item["plate_type"]), plate_type_name=_text(item["plate_type_name"]),
        vehicle_type=_text(item["vehicle_type"]), brand=_text(item["brand"]), model=_text(item["model"]),
        energy=_text(item["energy"]), colour=_text(item.get("colour", "")), registered_on=_day(item["registered_on"]),
        inspection_valid_until=until, inspection_due=until <= today + timedelta(days=INSPECTION_DUE_DAYS),
        inspection_overdue=until < today, status=_text(item["status"]), status_name=_text(item["status_name"]),
        authority=_text(item.get("owner_authority", "")))


def _licence(item: dict[str, Any]) -> DrivingLicence:
    status = _text(item["status"])
    if not LICENCE_STATUS_CODE.fullmatch(status):
        raise ReplyShapeError("a licence status code of another form")
    until = item.get("valid_until")
    return DrivingLicence(
        vehicle_class=_text(item["class"]), class_name=_text(item["class_name"]),
        first_issued_on=_day(item["first_issued_on"]), valid_from=_day(item["valid_from"]),
        validity=_text(item["validity"]), valid_until=None if until is None else _day(until), status=status,
        status_name=_text(item["status_name"]), wallet_status=wallet_status(status), points=_count(item["points"]),
        points_cycle_ends=_day(item["points_cycle_ends"]), issuing_authority=_text(item["issuing_authority"]),
        file_no_masked=mask_id_number(_text(item["file_no"])))


def _licence_answer(reply: dict[str, Any]) -> LicenceAnswer:
    """交管's driving-licence reply; KeyError or ReplyShapeError for a reply of another shape."""
    sample = reply.get("sample") is True
    if reply["holds_licence"] is not True:
        return LicenceAnswer(False, None, sample)
    licence = reply["licence"]
    if not isinstance(licence, dict):
        raise ReplyShapeError("licence is not an object")
    return LicenceAnswer(True, _licence(licence), sample)


def _violation(item: dict[str, Any], today: date) -> Violation:
    number, status = _text(item["reference"]), _text(item["status"])
    if not DECISION_NUMBER.fullmatch(number) or status not in ("paid", "unpaid"):
        raise ReplyShapeError("a decision number or fine status of another form")
    try:
        occurred = datetime.fromisoformat(_text(item["occurred_at"]))
    except ValueError:
        raise ReplyShapeError("occurred_at is not a time") from None
    pay_by = _day(item["pay_by"])
    return Violation(
        decision_number=number, plate=_text(item["plate_no"]),
        occurred_at=occurred if occurred.tzinfo else occurred.replace(tzinfo=CHINA_TZ), place=_text(item["place"]),
        offence_code=_text(item["offence_code"]), offence=_text(item["offence"]), fine_fen=_count(item["fine_fen"]),
        points=_count(item["points"]), authority=_text(item["authority"]), decided_on=_day(item["decided_on"]),
        pay_by=pay_by, status=status, status_name=_text(item["status_name"]),
        overdue=status == "unpaid" and pay_by < today,
        payable_reference=f"{FINE_PREFIX}{number}" if status == "unpaid" else None)


class TrafficPolice:
    """交管 (公安厅交通管理局) for the citizen, through the data exchange."""

    def __init__(self, asker: DepartmentAsker, licences: LicenceService | None = None,
                 settled: Callable[[str], Awaitable[set[str]]] | None = None) -> None:
        self.asker = asker
        self.licences = licences
        self.settled = settled  # the citizen's fine numbers paid through us (交管 may not have been told yet)
        if licences is not None:  # the holder opening their 驾驶证 sees 交管's status of it
            licences.pull_status_on_open(DRIVING_LICENCE, self.pull_licence_status)

    def _today(self) -> date:
        return self.asker.platform.clock.today()

    async def _read(self, service: str, citizen_id: str, purpose: str = "citizen_request") -> dict[str, Any]:
        reader = JOB_READER if purpose == JOB_PURPOSE else OWN
        return await self.asker.ask(service, citizen_id, purpose=purpose, reader=reader)

    # -- vehicles, licence, violations -----------------------------------------------------------
    async def vehicles(self, citizen_id: str) -> tuple[list[Vehicle], bool]:
        """机动车 registered to the citizen, and whether the data is sample data."""
        reply, today = await self._read(TPB_VEHICLES, citizen_id), self._today()
        try:
            return [_vehicle(i, today) for i in _items(reply)], reply.get("sample") is True
        except (KeyError, ReplyShapeError):
            raise unreadable(TPB_VEHICLES) from None

    async def driving_licence(self, citizen_id: str) -> LicenceAnswer:
        """The citizen's 驾驶证, or holds_licence False: someone without a licence is an answer, not an error."""
        reply = await self._read(TPB_DRIVING_LICENCE, citizen_id)
        try:
            return _licence_answer(reply)
        except (KeyError, ReplyShapeError):
            raise unreadable(TPB_DRIVING_LICENCE) from None

    async def violations(self, citizen_id: str) -> Violations:
        """交通违法 with a decision, paid and unpaid, as 交管 holds them now (a fine paid through us shows paid once
        交管 was told, settlements/v1)."""
        reply, today = await self._read(TPB_VIOLATIONS, citizen_id), self._today()
        try:
            found = Violations([_violation(i, today) for i in _items(reply)], reply.get("sample") is True)
        except (KeyError, ReplyShapeError):
            raise unreadable(TPB_VIOLATIONS) from None
        return await self._with_ours_paid(citizen_id, found)

    async def _with_ours_paid(self, citizen_id: str, found: Violations) -> Violations:
        """A fine paid through us shows paid at once, even while 交管 is still to be told (its settle job tells it):
        the citizen must never be asked to pay it again."""
        if self.settled is None or not found.unpaid:
            return found
        ours = await self.settled(citizen_id)
        return Violations([v.paid(PAID_NOT_YET_SETTLED)
                           if v.status == "unpaid" and v.decision_number in ours else v for v in found.items],
                          found.sample)

    async def violation(self, citizen_id: str, decision_number: str) -> tuple[Violation, bool]:
        """One of the citizen's violations by its decision number; another's is not found (never told apart)."""
        if not DECISION_NUMBER.fullmatch(decision_number):
            raise ValidationFailed([{"field": "decision_number", "problem": "TV and eleven digits"}])
        found = await self.violations(citizen_id)
        for item in found.items:
            if item.decision_number == decision_number:
                return item, found.sample
        raise NotFound("TRAFFIC_VIOLATION_NOT_FOUND")

    # -- the wallet's 驾驶证 kept in step (证照状态同步) -------------------------------------------
    def pulls_connected(self) -> bool:
        return self.licences is not None and self.asker.connected(TPB_DRIVING_LICENCE)

    async def pull_licence_status(self, licence_id: str, citizen_id: str, purpose: str = "citizen_request") -> str:
        """Ask 交管 for the status of the holder's 驾驶证 and apply it to their wallet licence `licence_id`; the
        outcome (changed, unchanged, no_licence, unknown_status, unreadable, refused, unavailable, error), recorded
        in LicenceStatusPull, or one recording nothing: not_connected, recent (the holder opens a licence pulled
        within RECENT_PULL seconds: 交管 is not asked again), rate_limited (nothing was sent). Never raises: the
        licence stays as it was, and a failure of our own is outcome "error", logged."""
        if not self.pulls_connected():
            return "not_connected"
        try:
            if purpose != JOB_PURPOSE and await self._pulled_lately(licence_id):
                return "recent"
            outcome = await self._pull(licence_id, citizen_id, purpose)
        except Exception:
            log.exception("licence status pull %s (%s) failed", licence_id, purpose)
            outcome = "error"
            await self._record_quietly(licence_id, citizen_id, outcome)
        log.info("licence status pull %s (%s): %s", licence_id, purpose, outcome)
        return outcome

    async def _pulled_lately(self, licence_id: str) -> bool:
        since = self.asker.platform.clock.now() - timedelta(seconds=RECENT_PULL)
        return await LicenceStatusPull.filter(licence_id=licence_id, pulled_at__gte=since).exists()

    async def _pull(self, licence_id: str, citizen_id: str, purpose: str) -> str:
        assert self.licences is not None
        code: str | None = None
        try:
            reply = await self._read(TPB_DRIVING_LICENCE, citizen_id, purpose)
        except AppError as error:
            if error.code == "RATE_LIMITED":
                return "rate_limited"  # refused before anything was sent: nothing to record
            outcome = "unavailable" if error.code == "DEPARTMENT_UNAVAILABLE" else \
                "no_licence" if error.code == "DEPARTMENT_SUBJECT_UNKNOWN" else "refused"
        else:
            try:
                answer = _licence_answer(reply)
            except (KeyError, ReplyShapeError):
                outcome = "unreadable"  # 交管 answered, of another shape: asked again after the interval
            else:
                code = answer.licence.status if answer.licence else None
                outcome = await self._apply(licence_id, answer)
        await self._record(licence_id, citizen_id, outcome, code)
        return outcome

    async def _record_quietly(self, licence_id: str, citizen_id: str, outcome: str) -> None:
        """The bookkeeping of a failed pull, so the job moves past the licence; a failure here is only logged."""
        try:
            await self._record(licence_id, citizen_id, outcome, None)
        except Exception:
            log.exception("licence status pull %s: recording %s failed", licence_id, outcome)

    async def _apply(self, licence_id: str, answer: LicenceAnswer) -> str:
        assert self.licences is not None
        if answer.licence is None:
            return "no_licence"  # 交管 holds none: not a reason to mark the wallet's licence anything
        status = answer.licence.wallet_status
        if status is None:
            return "unknown_status"
        from app.vouchers.service import PulledStatus  # the wallet's own status path (证照状态同步)

        reason = None if status == "valid" else f"交管：{answer.licence.status_name}"
        changed = await self.licences.apply_pulled_status(licence_id, PulledStatus(status, reason, TPB))
        return "changed" if changed else "unchanged"

    async def _record(self, licence_id: str, citizen_id: str, outcome: str, code: str | None) -> None:
        """The pull's bookkeeping: `pulled_at` moves only when 交管 answered, so a department down is asked again."""
        now = self.asker.platform.clock.now()
        values: dict[str, Any] = {"citizen_id": citizen_id, "tried_at": now, "outcome": outcome}
        if outcome != "unavailable":
            values.update(pulled_at=now, department_status=code)
        row, created = await LicenceStatusPull.get_or_create(licence_id=licence_id, defaults=values)
        if not created:
            await LicenceStatusPull.filter(licence_id=licence_id).update(**values)

    async def pull_due_licence_statuses(self, limit: int = PULLS_PER_RUN) -> dict[str, int]:
        """The job: every wallet 驾驶证 not pulled within APP_LICENCE_STATUS_PULL_INTERVAL is asked of 交管 (purpose
        licence_status), at most `limit` a run. A department down ends the run: the rest wait for the next one.
        Nothing when the exchange does not register 交管's driving-licence service. Returns the outcomes' counts."""
        if not self.pulls_connected():
            return {}
        assert self.licences is not None
        counts: dict[str, int] = {}
        for licence_id, citizen_id in await self._due(limit):
            outcome = await self.pull_licence_status(licence_id, citizen_id, purpose=JOB_PURPOSE)
            counts[outcome] = counts.get(outcome, 0) + 1
            if outcome == "unavailable":
                break
        return counts

    async def _due(self, limit: int) -> list[tuple[str, str]]:
        """Wallet 驾驶证 (not revoked) whose last answered pull is older than the interval, oldest first, then
        those never pulled yet, found by walking the wallet's licences from where the last run stopped."""
        assert self.licences is not None
        platform = self.asker.platform
        cutoff = platform.clock.now() - timedelta(seconds=platform.settings.vouchers.licence_status_pull_interval)
        stale: list[str] = await column(LicenceStatusPull.filter(Q(pulled_at=None) | Q(pulled_at__lt=cutoff))
                                        .order_by("pulled_at").limit(limit), "licence_id")
        kept = await self.licences.licences_kept_in_step(DRIVING_LICENCE, ids=stale)
        gone = set(stale) - {i for i, _ in kept}
        if gone:  # revoked or no longer in a wallet: never asked again
            await LicenceStatusPull.filter(licence_id__in=gone).delete()
        return kept + await self._never_pulled(limit - len(kept))

    async def _never_pulled(self, limit: int) -> list[tuple[str, str]]:
        """Up to `limit` wallet 驾驶证 without a pull yet, walking at most SCAN_PAGES pages a run from the cursor
        the last run left in the shared cache (back to the start past the end)."""
        assert self.licences is not None
        cache, found = self.asker.platform.cache, list[tuple[str, str]]()
        after = await cache.get(SCAN_CURSOR) or ""
        for _ in range(SCAN_PAGES):
            if len(found) >= limit:
                break
            page = await self.licences.licences_kept_in_step(DRIVING_LICENCE, after=after, limit=SCAN_PAGE)
            known: set[str] = set(await column(LicenceStatusPull.filter(licence_id__in=[i for i, _ in page]),
                                               "licence_id"))
            fresh = [(i, c) for i, c in page if i not in known]
            taken = fresh[:limit - len(found)]
            found += taken
            if len(taken) < len(fresh):  # the rest of this page is next run's
                after = taken[-1][0]
                break
            after = page[-1][0] if len(page) == SCAN_PAGE else ""
            if not after:
                break
        await cache.set(SCAN_CURSOR, after, ttl=7 * 24 * 3600)
        return found


def add_licence_status_jobs(scheduler: AsyncIOScheduler, cache: Cache, traffic: TrafficPolice) -> None:
    """The `licence-status-pulls` job on the running scheduler (one worker at a time, first run now), when the
    exchange registers 交管's driving-licence service; it runs at least every JOB_EVERY seconds."""
    if not traffic.pulls_connected():
        return
    every = min(JOB_EVERY, traffic.asker.platform.settings.vouchers.licence_status_pull_interval)
    add_exclusive_job(scheduler, cache, "licence-status-pulls", every, traffic.pull_due_licence_statuses)


__all__ = ["DRIVING_LICENCE", "DrivingLicence", "LicenceAnswer", "STATUS_OF_CODE", "TrafficPolice", "Vehicle",
           "Violation", "Violations", "add_licence_status_jobs", "wallet_status"]
