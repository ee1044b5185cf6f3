"""Venue codes (场所码): signed static QR codes, check-ins, and exposure windows that turn visitors yellow."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta


from app import audit
from app.errors import AppError, NotFound, ValidationFailed
from app.ids import new_id
from app.ownership import get_owned
from app.security.clients import AuthenticatedClient
from health_code import codec, render
from health_code.models import Venue, VenueCheckIn, VenueExposure
from health_code.service import HealthCodeService

VENUE_PREFIX = "GDVC1:"
VENUE_CLAIMS_KEY = "vc"
CHECK_IN_DEDUP = timedelta(minutes=5)


@dataclass(frozen=True)
class CheckIn:
    id: str
    venue_id: str
    venue_name: str
    at: datetime
    repeated: bool


class VenueService:
    def __init__(self, health: HealthCodeService) -> None:
        self.health = health
        self.platform = health.platform

    async def register(self, organisation: AuthenticatedClient, name: str, address: str, region_code: str) -> tuple[Venue, str]:
        venue = await Venue.create(id=new_id("ven"), name=name, address=address, region_code=region_code,
                                   organisation_id=organisation.id, created_at=self.platform.clock.now())
        await audit.record_event(self.platform.clock, actor=organisation.id, actor_type="department", action="venue_registered",
                                 attributes={"venue_id": venue.id})
        return venue, self.venue_code(venue)

    def venue_code(self, venue: Venue) -> str:
        """The static signed text printed on the venue poster: it names the venue and cannot be forged."""
        key = self.platform.keys.current
        cwt = {codec.CWT_ISS: self.platform.settings.health_code.issuer, codec.CWT_IAT: int(venue.created_at.timestamp()),
               VENUE_CLAIMS_KEY: {1: venue.id, 2: venue.name}}
        return codec.sign_cwt(cwt, key.private_key, key.kid_bytes, VENUE_PREFIX)

    async def poster(self, organisation: AuthenticatedClient, venue_id: str) -> bytes:
        """The venue code as a PNG to print (场所码海报); only the organisation that registered it gets it."""
        venue = await get_owned(Venue, organisation.id, venue_id, owner_field="organisation_id")
        caption = f"场所码 · {venue.name}"
        return await asyncio.get_running_loop().run_in_executor(None, render.render_png, self.venue_code(venue), "venue", caption)

    async def check_in(self, citizen_id: str, venue_code: str) -> CheckIn:
        """Record a scan; a second scan of the same venue within 5 minutes is the same check-in."""
        try:
            claims = codec.verify_cwt(venue_code, self.platform.keys.public_key_for, VENUE_PREFIX)
            venue_id = str(claims[VENUE_CLAIMS_KEY][1])
        except codec.CodeError as exc:
            raise AppError("INVALID_VENUE_CODE", status=422, extra={"reason": exc.code}) from None
        except (KeyError, TypeError):
            raise AppError("INVALID_VENUE_CODE", status=422, extra={"reason": "BAD_CLAIMS"}) from None
        venue = await Venue.get_or_none(id=venue_id)
        if venue is None:
            raise NotFound()
        now = self.platform.clock.now()
        recent = await VenueCheckIn.filter(citizen_id=citizen_id, venue_id=venue.id, at__gt=now - CHECK_IN_DEDUP).first()
        if recent is not None:
            return CheckIn(recent.id, venue.id, venue.name, recent.at, repeated=True)
        row = await VenueCheckIn.create(id=new_id("chk"), citizen_id=citizen_id, venue_id=venue.id, at=now)
        return CheckIn(row.id, venue.id, venue.name, row.at, repeated=False)

    async def mark_exposure(self, admin: AuthenticatedClient, venue_id: str, starts_at: datetime, ends_at: datetime) -> int:
        """A confirmed case was at the venue in [starts_at, ends_at]: everyone checked in then gets exposure evidence."""
        if ends_at <= starts_at:
            raise ValidationFailed([{"field": "ends_at", "problem": "must be after starts_at"}])
        if ends_at - starts_at > timedelta(days=14):
            raise ValidationFailed([{"field": "ends_at", "problem": "a window is at most 14 days"}])
        venue = await Venue.get_or_none(id=venue_id)
        if venue is None:
            raise NotFound()
        exposure = await VenueExposure.create(id=new_id("exp"), venue_id=venue.id, starts_at=starts_at, ends_at=ends_at,
                                              marked_by=admin.id, created_at=self.platform.clock.now())
        visits = await VenueCheckIn.filter(venue_id=venue.id, at__gte=starts_at, at__lte=ends_at).order_by("at")
        first_visit: dict[str, datetime] = {}
        for visit in visits:
            first_visit.setdefault(visit.citizen_id, visit.at)
        for citizen_id, at in first_visit.items():
            await self.health.record_evidence(citizen_id, "exposure", at, {"venue": venue.id, "exposure": exposure.id},
                                              source=f"admin:{admin.id}")
        await VenueExposure.filter(id=exposure.id).update(affected=len(first_visit))
        await audit.record_event(self.platform.clock, actor=admin.id, actor_type="department", action="venue_exposure_marked",
                                 attributes={"venue_id": venue.id, "exposure_id": exposure.id, "affected": len(first_visit)})
        return len(first_visit)



