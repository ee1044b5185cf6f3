"""Appeals (申诉): a citizen disputes a colour, a health administrator decides, every step audited."""

from __future__ import annotations

from datetime import timedelta

from app import audit
from app.accounts.service import CitizenSnapshot
from app.errors import Conflict, NotFound
from app.ids import new_id
from app.notifications.service import notify
from app.security.clients import AuthenticatedClient
from health_code.models import Appeal
from health_code.service import HealthCodeService

MAX_OVERRIDE = timedelta(days=14)


class AppealService:
    def __init__(self, health: HealthCodeService) -> None:
        self.health = health
        self.platform = health.platform

    async def submit(self, citizen: CitizenSnapshot, reason: str) -> Appeal:
        status = await self.health.status(citizen.id)
        if status.colour == "green":
            raise Conflict("NOTHING_TO_APPEAL")
        if await Appeal.filter(citizen_id=citizen.id, status="pending").exists():
            raise Conflict("APPEAL_PENDING")
        judged = await self.health.disputed_evidence(citizen.id)
        appeal = await Appeal.create(id=new_id("apl"), citizen_id=citizen.id, colour=status.colour, reason=reason,
                                     created_at=self.platform.clock.now(), judged=judged)
        await audit.record_event(self.platform.clock, actor=citizen.id, actor_type="citizen", action="appeal_submitted",
                                 subject_id=citizen.id, attributes={"appeal_id": appeal.id, "colour": status.colour})
        await notify(self.platform, citizen.id, "appeal_received")
        return appeal

    async def mine(self, citizen_id: str) -> list[Appeal]:
        return await Appeal.filter(citizen_id=citizen_id).order_by("-created_at")

    async def listed_for(self, admin: AuthenticatedClient, state: str, limit: int = 100) -> list[Appeal]:
        """A health administrator's work list: appeals waiting for review (oldest first), or upheld appeals
        whose override later evidence ended (newest first), to review again. Each citizen shown sees the
        read in their access log."""
        if state == "pending":
            rows = await Appeal.filter(status="pending").order_by("created_at", "id").limit(limit)
        else:
            rows = await Appeal.filter(status="approved", override_ended_at__isnull=False) \
                .order_by("-override_ended_at", "id").limit(limit)
        await audit.record_all(self.platform.clock, [
            audit.access(citizen_id=row.citizen_id, actor=admin.name, actor_type="department", action="appeal_listed",
                         attributes=["health_status", "appeal"], purpose=f"申诉审核 {row.id}") for row in rows])
        return rows

    async def decide(self, admin: AuthenticatedClient, appeal_id: str, approve: bool, note: str,
                     override_hours: int) -> Appeal:
        """Approve (the colour is overridden to green until a time) or reject (with the reason), once."""
        appeal = await Appeal.get_or_none(id=appeal_id)
        if appeal is None:
            raise NotFound()
        now = self.platform.clock.now()
        override_until = now + min(timedelta(hours=override_hours), MAX_OVERRIDE) if approve else None
        decided = await Appeal.filter(id=appeal.id, status="pending").update(
            status="approved" if approve else "rejected", reviewed_by=admin.id, reviewed_at=now, review_note=note,
            override_until=override_until,
        )
        if not decided:
            raise Conflict("APPEAL_ALREADY_DECIDED")
        action = "appeal_approved" if approve else "appeal_rejected"
        await audit.record_access(self.platform.clock, citizen_id=appeal.citizen_id, actor=admin.name, actor_type="department",
                                  action=action, attributes=["health_status", "appeal"], purpose="申诉审核")
        await notify(self.platform, appeal.citizen_id, action, {"note": note})
        await self.health.evaluate(appeal.citizen_id, trigger=action)
        return await Appeal.get(id=appeal.id)
