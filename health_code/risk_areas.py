"""The risk-area list (风险地区名单): administrators add and end areas; affected travellers are re-evaluated."""

from __future__ import annotations

from datetime import datetime

from app import audit
from app.errors import Conflict, NotFound, ValidationFailed
from app.ids import new_id
from app.security.clients import AuthenticatedClient
from health_code.models import RiskArea
from health_code.service import LEVEL_RANK, REGION_CODE, HealthCodeService


class RiskAreaService:
    def __init__(self, health: HealthCodeService) -> None:
        self.health = health
        self.platform = health.platform

    async def add(self, admin: AuthenticatedClient, region_code: str, level: str, effective_from: datetime,
                  effective_to: datetime | None) -> tuple[RiskArea, int]:
        if not REGION_CODE.match(region_code):
            raise ValidationFailed([{"field": "region_code", "problem": "6 digits"}])
        if level not in LEVEL_RANK or level == "low":
            raise ValidationFailed([{"field": "level", "problem": "high or medium"}])
        if effective_to is not None and effective_to <= effective_from:
            raise ValidationFailed([{"field": "effective_to", "problem": "must be after effective_from"}])
        area = await RiskArea.create(id=new_id("ra"), region_code=region_code, level=level, effective_from=effective_from,
                                     effective_to=effective_to, created_by=admin.id, created_at=self.platform.clock.now())
        await audit.record_event(self.platform.clock, actor=admin.id, actor_type="department", action="risk_area_added",
                                 attributes={"risk_area_id": area.id, "region_code": region_code, "level": level})
        return area, await self._reevaluate_travellers(region_code, trigger="risk_area_added")

    async def end(self, admin: AuthenticatedClient, area_id: str) -> tuple[RiskArea, int]:
        area = await RiskArea.get_or_none(id=area_id)
        if area is None:
            raise NotFound()
        now = self.platform.clock.now()
        if area.effective_to is not None and area.effective_to <= now:
            raise Conflict("RISK_AREA_ALREADY_ENDED")
        await RiskArea.filter(id=area.id).update(effective_to=now)
        await audit.record_event(self.platform.clock, actor=admin.id, actor_type="department", action="risk_area_ended",
                                 attributes={"risk_area_id": area.id})
        area.effective_to = now
        return area, await self._reevaluate_travellers(area.region_code, trigger="risk_area_ended")

    async def _reevaluate_travellers(self, region_code: str, trigger: str) -> int:
        citizens = await self.health.citizens_who_visited(region_code)
        for citizen_id in citizens:
            await self.health.evaluate(citizen_id, trigger=trigger)
        return len(citizens)
