"""Health-code operations: evidence in, status out, signed dynamic codes, rendered images."""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import os
import re
from collections import OrderedDict
from contextlib import contextmanager
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Iterator, Mapping, Sequence

import ujson
from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from app import audit, metrics
from app.accounts.service import CitizenSnapshot, citizen_with_id_number, normalize_citizen_number
from app.cache import ParsedOnce, cache_lock
from app.clock import CHINA_TZ, china_day
from app.db import column, lag_tolerant, placeholders, remember_write
from app.errors import AppError, Conflict, Forbidden, Unavailable, ValidationFailed
from app.i18n import NC_, translate
from app.security.clients import AuthenticatedClient
from app.ids import new_id
from app.notifications.service import notify
from app.platform import Platform
from app.single_flight import SingleFlight
from health_code import codec, render
from health_code.models import Appeal, HealthEvidence, HealthStatus, IssuedHealthCode, RiskArea, StatusEvaluation, VenueCheckIn
from health_code.rules import COLOUR_RANK, EVIDENCE_KINDS, Evidence, RuleSet, UpheldAppeal, Verdict

# Our colours said on their own ("Your health code is Green"); a plain 绿码 is a card's label, "Green code".
COLOUR_NAMES = {
    "green": NC_("健康码颜色", "绿码"),
    "yellow": NC_("健康码颜色", "黄码"),
    "red": NC_("健康码颜色", "红码"),
}


@dataclass(frozen=True)
class IssuedCode:
    """A signed code as shown to the citizen; reused until it is close to expiry."""

    payload: str
    colour: str
    reasons: tuple[int, ...]
    issued_at: int
    expires_at: int


@dataclass(frozen=True)
class ShownCode:
    """The code on the citizen's screen as cached (hc:code:<citizen>), with when its status changes next."""

    code: IssuedCode
    next_change_at: int | None

    @staticmethod
    def parse(raw: str) -> "ShownCode | None":
        """None for the mark a status change leaves (`void`): no code is shown until a new one is signed."""
        cached = ujson.loads(raw)
        if "payload" not in cached:
            return None
        code = IssuedCode(cached["payload"], cached["colour"], tuple(cached["reasons"]), cached["issued_at"],
                          cached["expires_at"])
        return ShownCode(code, cached.get("next_change_at"))


class HealthCodeService:
    def __init__(self, platform: Platform, ruleset: RuleSet) -> None:
        self.platform = platform
        self.settings = platform.settings
        self.rules = ruleset
        self._images: OrderedDict[tuple[str, str, str], bytes] = OrderedDict()
        self._renderer: Executor | None = None
        self._shown = ParsedOnce(ShownCode.parse)
        self._issuing: SingleFlight[IssuedCode] = SingleFlight()

    # -- evidence and status -----------------------------------------------------------------
    async def record_evidence(self, citizen_id: str, kind: str, observed_at: datetime, data: Mapping[str, Any],
                              source: str) -> HealthStatus:
        """Store one piece of evidence with its source and re-evaluate the citizen at once."""
        await self._store_evidence(citizen_id, kind, observed_at, data, source)
        return await self.evaluate(citizen_id, trigger=f"evidence:{kind}")

    async def _store_evidence(self, citizen_id: str, kind: str, observed_at: datetime, data: Mapping[str, Any],
                              source: str) -> None:
        if kind not in EVIDENCE_KINDS:
            raise ValueError(f"unknown evidence kind {kind!r}")
        await HealthEvidence.create(id=new_id("ev"), citizen_id=citizen_id, kind=kind, source=source,
                                    observed_at=observed_at, recorded_at=self.platform.clock.now(), data=dict(data))

    async def declare(self, citizen: CitizenSnapshot, symptoms: bool, confirmed_case: bool, travel_regions: list[str],
                      truthful: bool, trips: Sequence[tuple[str, date]] = ()) -> HealthStatus:
        """Self-declaration (健康申报), signed by the citizen as true.

        `travel_regions` count as visited now; `trips` carry the day of the visit, so a trip declared
        late is judged by the risk list of the day it was made, not of the day it was declared.
        """
        if not truthful:
            raise ValidationFailed([{"field": "truthful", "problem": "the declaration must be confirmed as true"}])
        if not all(REGION_CODE.match(region) for region in travel_regions):
            raise ValidationFailed([{"field": "travel_regions", "problem": "6-digit region codes (GB/T 2260)"}])
        now = self.platform.clock.now()
        visits = self._dated_visits(trips, now)
        for region in dict.fromkeys(travel_regions):  # stored first, evaluated once with the declaration
            await self._store_evidence(citizen.id, "travel", now, {"region_code": region}, source="self")
        for region, day, start in visits:
            await self._store_evidence(citizen.id, "travel", min(start + DAY, now),
                                       {"region_code": region, "visited_on": day.isoformat()}, source="self")
        data = {"symptoms": symptoms, "confirmed_case": confirmed_case, "travel_regions": travel_regions,
                "trips": [{"region_code": region, "visited_on": day.isoformat()} for region, day, _ in visits]}
        status = await self.record_evidence(citizen.id, "declaration", now, data, source="self")
        await audit.record_event(self.platform.clock, actor=citizen.id, actor_type="citizen", action="health_declaration",
                                 subject_id=citizen.id, attributes=["symptoms", "confirmed_case", "travel_regions"])
        return status

    async def evaluate(self, citizen_id: str, trigger: str) -> HealthStatus:
        """Re-evaluate the status from the evidence. One evaluation per citizen at a time, on every
        worker: two at once (a first fetch and a lab result) could each read the evidence before
        the other's and the last to store would win, a green over a red."""
        async with cache_lock(self.platform.cache, f"hc:evaluate:{citizen_id}", ttl=EVALUATION_LOCK, wait=EVALUATION_LOCK):
            return await self._evaluate(citizen_id, trigger)

    async def _evaluate(self, citizen_id: str, trigger: str) -> HealthStatus:
        now = self.platform.clock.now()
        evidence = await self._evidence(citizen_id, now)
        verdict = await self._apply_upheld_appeal(citizen_id, evidence, now)
        previous = await HealthStatus.get_or_none(citizen_id=citizen_id)
        changed = previous is None or previous.colour != verdict.colour or previous.reasons != list(verdict.reason_codes)
        recoloured = previous is not None and previous.colour != verdict.colour
        if recoloured:  # before the status is stored: a failure after storing it leaves no code behind it
            await self._refuse_codes_behind(citizen_id, verdict.colour)
        values = {"colour": verdict.colour, "reasons": list(verdict.reason_codes), "rule_version": verdict.rule_version,
                  "evaluated_at": now, "next_change_at": verdict.next_change_at}
        await self._store_status(citizen_id, values)
        await StatusEvaluation.create(citizen_id=citizen_id, colour=verdict.colour, reasons=list(verdict.reason_codes),
                                      rule_version=verdict.rule_version, evaluated_at=now, trigger=trigger, changed=changed)
        # Written also from a GET (the status due for re-evaluation): the citizen's next history read is the
        # primary's, which holds this evaluation, not a replica's that may not have it yet.
        await remember_write(citizen_id)
        if changed and previous is not None:  # the first evaluation (evaluations take turns) has no code on screen yet
            await self._void_shown_code(citizen_id)  # the code shown must follow the status
        if recoloured:  # and again for codes stored meanwhile, from the status read before
            await self._refuse_codes_behind(citizen_id, verdict.colour)
        if (previous.colour if previous else "green") != verdict.colour:  # everyone starts green
            await notify(self.platform, citizen_id, f"health_code_{verdict.colour}")
        return HealthStatus(citizen_id=citizen_id, **values)

    async def _evidence(self, citizen_id: str, now: datetime) -> list[Evidence]:
        """The citizen's evidence recent enough to count, travel with its risk level."""
        rows = await HealthEvidence.filter(citizen_id=citizen_id, observed_at__gte=now - self.rules.longest_window)
        areas = await RiskArea.all() if any(r.kind == "travel" for r in rows) else []
        return [self._as_evidence(r, areas) for r in rows]

    async def disputed_evidence(self, citizen_id: str) -> list[list[str]]:
        """What an appeal made now disputes: [evidence id, rule id] of every match behind a colour that is not green."""
        now = self.platform.clock.now()
        return sorted([list(pair) for pair in self.rules.disputed(await self._evidence(citizen_id, now), now)])

    @staticmethod
    def _dated_visits(trips: Sequence[tuple[str, date]], now: datetime) -> list[tuple[str, date, datetime]]:
        """Each trip as (region, day, start of that day in Beijing time); refused unless within 14 days."""
        today = china_day(now)
        visits = []
        for index, (region, day) in enumerate(dict.fromkeys(trips)):
            if not REGION_CODE.match(region):
                raise ValidationFailed([{"field": f"trips.{index}.region_code", "problem": "6-digit region code (GB/T 2260)"}])
            if not today - timedelta(days=TRIP_DAYS - 1) <= day <= today:
                raise ValidationFailed([{"field": f"trips.{index}.visited_on",
                                         "problem": f"a day from {today - timedelta(days=TRIP_DAYS - 1)} to {today}"}])
            visits.append((region, day, datetime.combine(day, time(0), CHINA_TZ)))
        return visits

    @staticmethod
    def _as_evidence(row: HealthEvidence, areas: list[RiskArea]) -> Evidence:
        """Travel counts by the risk level its region had at the visit, per the current list. A dated trip
        counts by the highest level of that whole day: the hour of the visit is not known, and a public
        health list errs on the side of caution."""
        if row.kind != "travel":
            return Evidence(row.kind, row.observed_at, row.data, row.id)
        region = row.data.get("region_code", "")
        if "visited_on" in row.data:
            start = datetime.combine(date.fromisoformat(row.data["visited_on"]), time(0), CHINA_TZ)
            level = risk_level_during(areas, region, start, start + DAY)
        else:
            level = risk_level(areas, region, row.observed_at)
        return Evidence(row.kind, row.observed_at, {**row.data, "risk_level": level}, row.id)

    async def citizens_who_visited(self, region_code: str) -> list[str]:
        """Citizens with travel evidence inside `region_code` recent enough to matter."""
        since = self.platform.clock.now() - self.rules.longest_window
        rows = await HealthEvidence.filter(kind="travel", observed_at__gte=since).values_list("citizen_id", "data")
        prefix = region_prefix(region_code)
        return sorted({cid for cid, data in rows if str(data.get("region_code", "")).startswith(prefix)})

    async def _apply_upheld_appeal(self, citizen_id: str, evidence: list[Evidence], now: datetime) -> Verdict:
        """The verdict, with an upheld appeal's override (a decision, audited, not evidence) applied to the
        evidence it judged. Other evidence that is not green wins and ends the override: the citizen is
        told, and the appeal joins the health administrators' list of ended overrides."""
        appeal = await Appeal.filter(citizen_id=citizen_id, status="approved", override_until__gt=now,
                                     override_ended_at__isnull=True).order_by("-override_until").first()
        if appeal is None:
            return self.rules.evaluate(evidence, now)
        judged = await self._judged(appeal, evidence, now)
        assert appeal.override_until is not None  # chosen by override_until__gt
        judgement = self.rules.judge(evidence, now, UpheldAppeal(judged, appeal.override_until))
        if judgement.ends_override is not None:
            await self._end_override(appeal, judgement.ends_override.rule_id, now)
        return judgement.verdict

    async def _judged(self, appeal: Appeal, evidence: list[Evidence], now: datetime) -> frozenset[tuple[str, str]]:
        """The (evidence id, rule id) pairs the appeal disputed. One made before appeals named them judged
        the evidence recorded by the time it was made, up to the colour it disputed."""
        if appeal.judged is not None:
            return frozenset((evidence_id, rule_id) for evidence_id, rule_id in appeal.judged)
        known: set[str] = set(await column(
            HealthEvidence.filter(citizen_id=appeal.citizen_id, recorded_at__lte=appeal.created_at), "id"))
        disputed = self.rules.disputed((e for e in evidence if e.id in known), now)
        colours = {rule.id: rule.colour for rule in self.rules.rules}
        return frozenset(pair for pair in disputed if not worse(colours[pair[1]], appeal.colour))

    async def _end_override(self, appeal: Appeal, rule_id: str, now: datetime) -> None:
        ended = await Appeal.filter(id=appeal.id, override_ended_at__isnull=True).update(override_ended_at=now,
                                                                                         ended_by=rule_id)
        if not ended:
            return
        await audit.record_event(self.platform.clock, actor="health_code_rules", actor_type="system",
                                 action="appeal_override_ended", subject_id=appeal.citizen_id,
                                 attributes={"appeal_id": appeal.id, "ended_by": rule_id})
        await notify(self.platform, appeal.citizen_id, "appeal_override_ended")

    @staticmethod
    async def _store_status(citizen_id: str, values: dict[str, Any]) -> None:
        """Upsert without a read-then-insert race: first evaluations of one citizen may run at once."""
        if await HealthStatus.filter(citizen_id=citizen_id).update(**values):
            return
        try:
            await HealthStatus.create(citizen_id=citizen_id, **values)
        except IntegrityError:
            await HealthStatus.filter(citizen_id=citizen_id).update(**values)

    async def status(self, citizen_id: str) -> HealthStatus:
        """The current status, re-evaluated first if its next change is due."""
        status = await HealthStatus.get_or_none(citizen_id=citizen_id)
        if status is None or (status.next_change_at is not None and status.next_change_at <= self.platform.clock.now()):
            status = await self.evaluate(citizen_id, trigger="time" if status else "first_use")
        return status

    @lag_tolerant
    async def history(self, citizen_id: str, limit: int = 50) -> list[StatusEvaluation]:
        return await StatusEvaluation.filter(citizen_id=citizen_id, changed=True).order_by("-evaluated_at", "-id").limit(limit)

    # -- codes -----------------------------------------------------------------------------
    async def current_code(self, citizen: CitizenSnapshot) -> IssuedCode:
        """The citizen's signed code; the same one is returned until `reuse_margin` seconds before expiry."""
        key = f"hc:code:{citizen.id}"
        raw = await self.platform.cache.get(key)
        if (shown := self._still_shown(raw)) is not None:
            return shown
        if raw is not None:
            # This worker's copy may be one another worker has renewed since: renewals are not
            # announced (see _issue_shown_code). Ask Redis before signing one more.
            raw = await self.platform.cache.get_fresh(key)
            if (shown := self._still_shown(raw)) is not None:
                return shown
        # A phone opening the app asks several times at once: the requests that found the same cached
        # value share one new code. One that found a later value (a status change's void mark) waits
        # for none of them, so it never gets a code signed before the change.
        return await self._issuing.run((citizen.id, raw), lambda: self._issue_shown_code(citizen, raw))

    def _still_shown(self, raw: str | None) -> IssuedCode | None:
        """The cached code, if it may still be shown: not near expiry, its status not due to change."""
        shown = self._shown(raw) if raw is not None else None
        if shown is None:
            return None
        now, due = int(self.platform.clock.timestamp()), shown.next_change_at
        if shown.code.expires_at - now > self.settings.health_code.reuse_margin and (due is None or due > now):
            return shown.code
        return None

    async def _issue_shown_code(self, citizen: CitizenSnapshot, found: str | None) -> IssuedCode:
        """Sign a code for the current status and cache it only if the cache still holds what was found
        before the status was read. A status change stores the status, then replaces the cached value
        with its void mark, so a code signed before the change can never be cached after it.

        The new code is not announced to other workers' near caches: what they mirror is either a code
        they will show only while it has more than `reuse_margin` left (each use checks the clock) or
        a void mark that sends them to Redis. At the peak this keeps every citizen's routine renewal off
        every worker's invalidation channel (docs/capacity.md); status changes, sign-outs and extensions
        are still announced."""
        key = f"hc:code:{citizen.id}"
        for _ in range(3):
            status = await self.status(citizen.id)
            now = int(self.platform.clock.timestamp())
            next_change = int(status.next_change_at.timestamp()) if status.next_change_at else None
            expires_at = max(lasting(status, now + self.settings.health_code.ttl), now + 1)
            code = await self._issue(citizen, status.colour, tuple(status.reasons), expires_at)
            if await self.platform.cache.replace(key, found, _shown_json(code, next_change_at=next_change),
                                          ttl=self.settings.health_code.ttl, announce=False):
                return code
            found = await self.platform.cache.get(key)
            if (newer := self._still_shown(found)) is not None:
                return newer  # another request cached a code after we began: that one is shown
        raise Unavailable()  # the status changed under three signings in a row: let the phone ask again

    async def _void_shown_code(self, citizen_id: str) -> None:
        """Replace the cached code with a mark of its own (not a plain delete): an issuance that began
        before the change finds its expected value gone, and a request that reads after the change
        never joins one that began before it."""
        await self.platform.cache.set(f"hc:code:{citizen_id}", ujson.dumps({"void": os.urandom(6).hex()}),
                               ttl=self.settings.health_code.ttl)

    async def extend(self, citizen: CitizenSnapshot) -> IssuedCode:
        """Elderly mode (适老化): once per code, before it lapses, a code that lives `elderly_extend_factor`
        times as long as a normal one (never past the status's next change). The shown code is replaced."""
        if not citizen.elderly_mode:
            raise Forbidden("ELDERLY_MODE_REQUIRED")
        now = int(self.platform.clock.timestamp())
        raw = await self.platform.cache.get_fresh(f"hc:code:{citizen.id}")  # this worker may mirror a renewed code
        cached = ujson.loads(raw) if raw is not None else None
        if not cached or "payload" not in cached or cached["expires_at"] <= now:
            raise AppError("CODE_LAPSED", status=410)
        if cached.get("extended"):
            raise Conflict("ALREADY_EXTENDED")
        expires_at = cached["issued_at"] + self.settings.health_code.ttl * self.settings.elderly.extend_factor
        due = cached.get("next_change_at")
        if due is not None:
            expires_at = min(expires_at, due)
        if expires_at <= cached["expires_at"]:
            raise Conflict("STATUS_CHANGE_DUE")  # the status changes before then: a fresh code follows it
        code = await self._issue(citizen, cached["colour"], tuple(cached["reasons"]), expires_at)
        if not await self.platform.cache.replace(f"hc:code:{citizen.id}", raw,
                                          _shown_json(code, next_change_at=due, extended=True), ttl=expires_at - now):
            raise AppError("CODE_LAPSED", status=410)  # the code changed meanwhile (its status did): fetch it afresh
        await audit.record_event(self.platform.clock, actor=citizen.id, actor_type="citizen", action="health_code_extended",
                                 subject_id=citizen.id, attributes={"expires_at": expires_at})
        return code

    async def print_code(self, citizen: CitizenSnapshot, proxy_id: str | None = None) -> IssuedCode:
        """A code for a printed card (大字打印卡), for someone without a phone: it lives APP_PRINT_CARD_TTL,
        never past the status's next scheduled change. It is a separate code, audited as printed by
        the citizen or by `proxy_id`, the family member who printed it; the one on screen is not replaced."""
        status = await self.status(citizen.id)
        now = int(self.platform.clock.timestamp())
        expires_at = max(lasting(status, now + self.settings.health_code.print_card_ttl), now + 60)
        code = await self._issue(citizen, status.colour, tuple(status.reasons), expires_at, issued_at=now)
        await audit.record_event(self.platform.clock, actor=proxy_id or citizen.id, actor_type="proxy" if proxy_id else "citizen",
                                 action="health_code_printed", subject_id=citizen.id,
                                 attributes={"expires_at": code.expires_at})
        return code

    async def image(self, code: IssuedCode, fmt: str, caption: str) -> bytes:
        """PNG or SVG of a code, rendered once per issued code off the event loop."""
        key = (hashlib.sha256(code.payload.encode()).hexdigest(), fmt, caption)
        cached = self._images.get(key)
        if cached is not None:
            return cached
        renderer = render.render_png if fmt == "png" else render.render_svg
        with children_allowed():  # the pool may start its helper process on this submit
            drawn = asyncio.get_running_loop().run_in_executor(self._render_pool(), renderer, code.payload,
                                                               code.colour, caption)
        image = await drawn
        self._images[key] = image
        while len(self._images) > self.settings.health_code.image_cache:
            self._images.popitem(last=False)
        return image

    def _render_pool(self) -> Executor | None:
        """Drawing runs in its own process: in a thread it would still hold the interpreter lock that
        the event loop needs, and every JSON request would wait behind it."""
        if self._renderer is None and self.settings.health_code.render_processes > 0:
            self._renderer = ProcessPoolExecutor(self.settings.health_code.render_processes,
                                                 mp_context=multiprocessing.get_context("spawn"))
        return self._renderer

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.shutdown(wait=False, cancel_futures=True)
            self._renderer = None

    # -- departments -------------------------------------------------------------------------
    async def record_department_evidence(self, department: AuthenticatedClient, id_number: str, kind: str,
                                         observed_at: datetime, data: dict[str, Any], action: str) -> HealthStatus:
        """A department posts evidence (a lab's test result, a vaccination record) for the holder of `id_number`."""
        if normalize_citizen_number(id_number, self.platform.clock.today()) is None:
            raise AppError("INVALID_ID_NUMBER", status=422)  # before the date check, as before
        if observed_at > self.platform.clock.now() + timedelta(minutes=5):
            raise ValidationFailed([{"field": "observed_at", "problem": "in the future"}])
        citizen = await citizen_with_id_number(self.platform, id_number)
        status = await self.record_evidence(citizen.id, kind, observed_at, {**data, "department": department.id},
                                            source=f"{DEPARTMENT_SOURCE}{department.id}")
        await audit.record_event(self.platform.clock, actor=department.id, actor_type="department", action=action,
                                 subject_id=citizen.id, attributes=sorted(data))
        return status

    # -- an identity taken back by its owner -----------------------------------------------------
    async def move_to_owner(self, from_citizen_id: str, to_citizen_id: str) -> int:
        """The owner of an identity took it back from `from_citizen_id`: the evidence departments and labs
        recorded for that identity moves to the owner. What describes the other account's own person
        stays with it (its self-declarations, travel it declared, exposures from its venue check-ins).
        Both statuses are evaluated again, and the codes issued to the other account (signed with the
        owner's masked name) stop verifying online. Returns how many evidence rows moved."""
        moved = await HealthEvidence.filter(citizen_id=from_citizen_id, source__startswith=DEPARTMENT_SOURCE) \
            .update(citizen_id=to_citizen_id)
        trigger = "identity_moved"
        await self.evaluate(to_citizen_id, trigger=trigger)
        left = await self.evaluate(from_citizen_id, trigger=trigger)
        refused = await self._refuse_all_codes(from_citizen_id, left.colour)
        await self._void_shown_code(from_citizen_id)  # whatever colour it shows, it names the owner
        await audit.record_event(self.platform.clock, actor="system", actor_type="system", action="health_evidence_moved",
                                 subject_id=to_citizen_id, attributes={"from": from_citizen_id, "evidence": moved,
                                                                       "codes_refused": refused})
        return moved

    # -- account deletion (注销) ----------------------------------------------------------------------
    async def erase_citizen(self, citizen_id: str) -> None:
        """The account is erased: its evidence, statuses and their history, appeals and venue check-ins go.
        Each code still live answers REVOKED at every online check, a partner's included (the same marks a
        status change leaves, in the cache and on the row); those rows stay, under the account's opaque id,
        until the code has expired, and the expired ones go now. Under the citizen's evaluation lock, so no
        evaluation in flight stores a status or refuses a code behind it."""
        async with cache_lock(self.platform.cache, f"hc:evaluate:{citizen_id}", ttl=EVALUATION_LOCK, wait=EVALUATION_LOCK):
            await self._erase_citizen(citizen_id)

    async def _erase_citizen(self, citizen_id: str) -> None:
        live = await IssuedHealthCode.filter(citizen_id=citizen_id, expires_at__gt=self.platform.clock.now())
        await self._refuse(live, REVOKED)
        await IssuedHealthCode.filter(citizen_id=citizen_id).exclude(code_id__in=[row.code_id for row in live]).delete()
        await self._void_shown_code(citizen_id)
        removed = 0
        for model in (HealthEvidence, HealthStatus, StatusEvaluation, Appeal, VenueCheckIn):
            removed += await model.filter(citizen_id=citizen_id).delete()
        revoked = [row for row in live if row.status_changed_to != REVOKED]
        if revoked or removed:
            await audit.record_event(self.platform.clock, actor="system", actor_type="system", action="health_data_erased",
                                     subject_id=citizen_id, attributes={"codes_revoked": len(revoked), "rows": removed})

    async def _refuse_all_codes(self, citizen_id: str, colour: str) -> int:
        """Every live code of the citizen answers STATUS_CHANGED (with `colour`, the colour now) at online
        checks, whatever its colour; returns how many were not refused already."""
        live = await IssuedHealthCode.filter(citizen_id=citizen_id, expires_at__gt=self.platform.clock.now())
        await self._refuse(live, colour)
        return sum(1 for row in live if row.status_changed_to is None)

    async def _issue(self, citizen: CitizenSnapshot, colour: str, reasons: tuple[int, ...], expires_at: int,
                     provenance: codec.Provenance | None = None, issued_at: int | None = None) -> IssuedCode:
        """Sign a code; `issued_at` is the moment its lifetime was counted from (default: now)."""
        now = int(self.platform.clock.timestamp()) if issued_at is None else issued_at
        name = self.platform.pii.decrypt(citizen.name_enc, "name") if citizen.name_enc else ""
        id_number = self.platform.pii.decrypt(citizen.id_number_enc, "id_number") if citizen.id_number_enc else ""
        claims = claims_for_holder(os.urandom(6), colour, reasons, name, id_number, self.settings.health_code.issuer, now,
                                   expires_at, converted_from=provenance[0] if provenance else None)
        key = self.platform.keys.current
        payload = codec.encode_payload(claims, key.private_key, key.kid_bytes)
        digest = payload_digest(payload)
        extra = {"partner_id": provenance[0], "source_code_hash": provenance[1].hex(), "source_state": provenance[2]} \
            if provenance else {}
        row = await self._remember_issued(claims, citizen.id, payload_digest=digest, **extra)
        # Not over a mark a status change may have left here already (see _refuse_codes_behind).
        await self.platform.cache.set_if_absent(PAYLOAD_KEY + digest, ujson.dumps(
            [citizen.id, claims.code_id.hex(), colour, sorted(reasons), claims.subject_masked, claims.issuer, now,
             expires_at, None, claims.holder.hex() if claims.holder else None, claims.converted_from]
        ), ttl=expires_at - now + 60)
        await self._refuse_if_behind(row)
        return IssuedCode(payload, colour, reasons, now, expires_at)

    async def issue_converted_code(self, citizen: CitizenSnapshot, partner_colour: str, expires_at: int,
                                   provenance: codec.Provenance) -> tuple[IssuedCode, HealthStatus]:
        """A local code for a partner region's code (转码): never greener than our own status for the
        citizen, and never outliving the source."""
        status = await self.status(citizen.id)
        if not worse(partner_colour, status.colour):
            colour, reasons = status.colour, tuple(status.reasons)
        else:
            colour, reasons = partner_colour, ()
        expires_at = min(expires_at, int(self.platform.clock.timestamp()) + self.settings.health_code.ttl)
        return await self._issue(citizen, colour, reasons, expires_at, provenance), status

    async def _remember_issued(self, claims: codec.CodeClaims, citizen_id: str,
                               **details: str | None) -> IssuedHealthCode:
        """Which citizen a code belongs to, so that each verification shows in their access log, also
        after a cache restart, and so that a later change of status reaches the code. A scan finds the
        holder in the code's entry in the cache (PAYLOAD_KEY); this row is read for a code the cache does
        not know (`holders_of`)."""
        return await IssuedHealthCode.create(using_db=None, code_id=claims.code_id.hex(), citizen_id=citizen_id,
                                             issued_at=utc(claims.issued_at), expires_at=utc(claims.expires_at),
                                             colour=claims.colour, **details)

    async def remember_border_pass(self, pass_id: bytes, citizen_id: str, colour: str, issued_at: int,
                                   expires_at: int) -> None:
        """A border pass (通关凭证) is a code too: online checks of it follow its holder's status."""
        row = await IssuedHealthCode.create(code_id=pass_id.hex(), citizen_id=citizen_id, issued_at=utc(issued_at),
                                            expires_at=utc(expires_at), colour=colour)
        await self._refuse_if_behind(row)

    async def holders_of(self, code_ids: list[bytes], issued: tuple[int, int] | None = None) -> dict[bytes, Holder]:
        """The citizens our codes were issued to, by code id, from the database. `issued`: the first and last
        issue time (epoch seconds, as signed in the codes) among them, which limits the read to the months
        holding them (on PostgreSQL the table has a partition a month: without it each id is looked up in
        every month's index)."""
        if not code_ids:
            return {}
        by_hex = {code_id.hex(): code_id for code_id in code_ids}
        # SQL of our own: building the ORM's query for a partner's batch took more CPU than this
        # (docs/capacity.md).
        conn = connections.get("default")
        values: list[Any] = list(by_hex)
        query = (f"SELECT code_id, citizen_id, status_changed_to FROM {IssuedHealthCode._meta.db_table} "
                 f"WHERE code_id IN ({placeholders(conn, len(by_hex))})")
        if issued is not None:
            field = IssuedHealthCode._meta.fields_map["issued_at"]
            values += [field.to_db_value(utc(moment), IssuedHealthCode) for moment in issued]
            query += f" AND issued_at BETWEEN {placeholders(conn, 1, first=len(by_hex) + 1)} " \
                     f"AND {placeholders(conn, 1, first=len(by_hex) + 2)}"
        _, rows = await conn.execute_query(query, values)
        return {by_hex[row["code_id"]]: Holder(row["citizen_id"], row["status_changed_to"]) for row in rows}

    # -- online checks follow the status ----------------------------------------------------------
    async def _refuse_codes_behind(self, citizen_id: str, colour: str) -> None:
        """After the citizen's colour changed to `colour`: each live code of a better colour (and each one
        already refused) answers STATUS_CHANGED at every online check from now on, with `colour`."""
        now = self.platform.clock.now()
        live = await IssuedHealthCode.filter(citizen_id=citizen_id, expires_at__gt=now)
        await self._refuse([row for row in live if row.status_changed_to not in (None, colour, REVOKED)
                            or (row.status_changed_to is None and worse(colour, row.colour))], colour)

    async def _refuse_if_behind(self, row: IssuedHealthCode) -> None:
        """A code signed from a status read just before a change, and stored just after the change looked
        for codes to refuse, is refused here: the status is read again once the code is stored."""
        colour_now: list[str] = await column(HealthStatus.filter(citizen_id=row.citizen_id), "colour")
        if colour_now and worse(colour_now[0], row.colour):
            await self._refuse([row], colour_now[0])

    async def _refuse(self, rows: list[IssuedHealthCode], colour: str) -> None:
        """Mark `rows` in their cache entries (read by most checks) and then in the database (read by checks
        of codes the cache does not know); where a code's entry is not there yet, a mark stands in for it,
        so the entry its issuance writes next cannot take its place. The database is written last: a row
        not marked there is marked again by the next change."""
        rows = [row for row in rows if row.status_changed_to != REVOKED]  # revoked stays revoked
        if not rows:
            return
        cached = [row for row in rows if row.payload_digest]
        entries = await self.platform.cache.get_many([PAYLOAD_KEY + str(row.payload_digest) for row in cached])
        now = int(self.platform.clock.timestamp())
        for row, entry in zip(cached, entries):
            values = ujson.loads(entry) if entry is not None else None
            if _marked_revoked(values) and colour != REVOKED:
                continue
            marked = values[:8] + [colour] + values[9:] if isinstance(values, list) and len(values) in (9, ENTRY_LENGTH) \
                else {"status_changed": colour}
            await self.platform.cache.set(PAYLOAD_KEY + str(row.payload_digest), ujson.dumps(marked),
                                   ttl=int(row.expires_at.timestamp()) - now + 60)
        await IssuedHealthCode.filter(Q(status_changed_to__isnull=True) | Q(status_changed_to__not=REVOKED),
                                      code_id__in=[row.code_id for row in rows]).update(status_changed_to=colour)

    async def verify_many(self, payloads: list[str]) -> list[tuple[codec.CodeClaims | codec.CodeError, str | None]]:
        """Verify our own codes: each result with the citizen it was issued to, when known.

        We are the issuer, so a code we issued is recognised by the SHA-256 of its text, kept in the
        cache for the code's lifetime with its claims and holder; only a code not found there (a
        cache loss, a forgery, someone else's code) goes through the signature check. A forged text
        cannot have the digest of a code we issued, so both paths accept exactly the same codes.

        A batch (up to 100 codes of as many citizens) is read in one `get_many`. The entries carry no
        hash tag: on a Redis Cluster they spread over every shard by their digest, and the read is grouped
        by slot (one pipeline, a round trip per node; see `RedisCache._mget`). A common tag would have put
        every citizen's entry on one shard; a per-citizen tag cannot be known from a scanned code's text.
        """
        now = self.platform.clock.timestamp()
        known = await self.platform.cache.get_many([payload_key(p) for p in payloads])
        results: list[tuple[codec.CodeClaims | codec.CodeError, str | None]] = []
        unknown: list[int] = []
        for index, entry in enumerate(known):
            values: Sequence[Any] = ujson.loads(entry) if entry is not None else ()
            if len(values) != ENTRY_LENGTH:  # not cached, a status change's mark, an older worker's entry: checked below
                unknown.append(index)
                results.append(_CHECKED_BELOW)
                continue
            results.append(_cached_result(values, now))
        checked: dict[int, codec.CodeClaims] = {}
        for start in range(0, len(unknown), CHECKS_BETWEEN_TURNS):
            if start:
                # The worker's other requests get their turn between tenths of a batch: a batch of cold
                # codes is a long run of signature checks, and waiting them out idled the worker (its
                # replies from PostgreSQL and Redis waited too) and delayed every request behind them
                # (docs/capacity.md).
                await asyncio.sleep(0)
            chunk = unknown[start:start + CHECKS_BETWEEN_TURNS]
            outcomes = codec.verify_payloads([payloads[i] for i in chunk], self.platform.keys.public_key_for, now)
            for index, outcome in zip(chunk, outcomes):
                if isinstance(outcome, codec.CodeError):
                    results[index] = (outcome, None)
                else:
                    checked[index] = outcome
        issued = [claims.issued_at for claims in checked.values()]
        holders = await self.holders_of([claims.code_id for claims in checked.values()],
                                        (min(issued), max(issued)) if issued else None)
        for index, claims in checked.items():
            results[index] = _held_result(claims, holders.get(claims.code_id))
        return results

    async def verify_for(self, verifier: AuthenticatedClient, payload: str, purpose: str) -> codec.CodeClaims:
        """A registered verifier (场所/口岸查验) checks a code; the citizen sees it in their access log.
        A code issued before its holder's status turned worse raises StatusChanged with the colour now."""
        [(claims, citizen_id)] = await self.verify_many([payload])
        metrics.verification("verifier", claims.code if isinstance(claims, codec.CodeError) else "valid")
        changed = isinstance(claims, codec.StatusChanged)
        if citizen_id and (changed or not isinstance(claims, codec.CodeError)):  # what the verifier learned
            await audit.record_access(self.platform.clock, citizen_id=citizen_id, actor=verifier.name, actor_type="department",
                                      action="health_code_verified",
                                      attributes=["current_color"] if changed else ["color", "subject_masked"],
                                      purpose=purpose)
        if isinstance(claims, codec.CodeError):
            raise claims
        return claims


# The mark on an issued code whose holder's account was erased (注销), in place of a colour; checks answer it
# with the error a revoked code gets.
REVOKED, REVOKED_ERROR = "revoked", "REVOKED"
DEPARTMENT_SOURCE = "department:"  # evidence a department or lab recorded for an ID number
EVALUATION_LOCK = 10.0  # seconds an evaluation may hold its citizen's lock, and a second one wait for it
CHECKS_BETWEEN_TURNS = 10  # signatures checked between two turns of the event loop: a short wait for others
REGION_CODE = re.compile(r"^[0-9]{6}$")
TRIP_DAYS = 14  # a declaration covers the last 14 days, today included
DAY = timedelta(days=1)
LEVEL_RANK = {"low": 0, "medium": 1, "high": 2}


@dataclass(frozen=True)
class Holder:
    """The citizen a code was issued to, and their colour after a later change to a worse one (else None)."""

    citizen_id: str
    status_changed_to: str | None


def claims_for_holder(code_id: bytes, colour: str, reasons: tuple[int, ...], name: str, id_number: str, issuer: str,
                      issued_at: int, expires_at: int, converted_from: str | None = None) -> codec.CodeClaims:
    """The claims of a code we issue to the holder of this legal name: the masked name only. No holder tag: a tag
    of name and birth date that anyone can compute is one anyone who scans the code can guess them from (a
    surname and a birth date in under a second), and every venue scans these codes."""
    return codec.CodeClaims(code_id=code_id, colour=colour, reasons=reasons, subject_masked=codec.masked_name(name),
                            issuer=issuer, issued_at=issued_at, expires_at=expires_at,
                            converted_from=converted_from)


def worse(colour: str, than: str | None) -> bool:
    """Whether `colour` is worse than `than` (a code stored without its colour counts as green)."""
    return COLOUR_RANK[colour] > COLOUR_RANK[than or "green"]


def lasting(status: HealthStatus, expires_at: int) -> int:
    """`expires_at`, or the status's next scheduled change if sooner: no code outlives its status (a change
    that time alone brings, such as an override's end, is due then)."""
    if status.next_change_at is None:
        return expires_at
    return min(expires_at, int(status.next_change_at.timestamp()))


# The place of a code in `verify_many`'s results until its signature is checked (every one is then replaced).
_CHECKED_BELOW: tuple[codec.CodeError, None] = (codec.CodeError("BAD_CLAIMS"), None)
CheckResult = tuple[codec.CodeClaims | codec.CodeError, str | None]


def _marked_revoked(values: Any) -> bool:
    """Whether a code's cache entry (or the mark standing in for it) says its holder's account was erased."""
    if isinstance(values, dict):
        return bool(values.get("status_changed") == REVOKED)
    return isinstance(values, list) and len(values) > 8 and values[8] == REVOKED


def _cached_result(values: Sequence[Any], now: float) -> CheckResult:
    """A code found in the cache, from its entry: its claims, or why it no longer verifies, with its holder."""
    holder, code_hex, colour, reasons, masked, issuer, iat, exp, changed_to, tag, converted = values
    if exp <= now or iat > now + 60:  # the same time checks as codec.read_claims
        return codec.CodeError("EXPIRED" if exp <= now else "NOT_YET_VALID"), holder
    if changed_to == REVOKED:  # its holder's account was erased
        return codec.CodeError(REVOKED_ERROR), None
    if changed_to is not None:  # issued before its holder's status turned worse
        return codec.StatusChanged(changed_to, bytes.fromhex(code_hex)), holder
    return codec.CodeClaims(bytes.fromhex(code_hex), colour, tuple(reasons), masked, issuer, iat, exp,
                            codec.converted_from(converted), bytes.fromhex(tag) if tag else None), holder


def _held_result(claims: codec.CodeClaims, holder: Holder | None) -> CheckResult:
    """A code whose signature checked, by what its row says of its holder now."""
    if holder is None:
        return claims, None
    if holder.status_changed_to == REVOKED:  # its holder's account was erased
        return codec.CodeError(REVOKED_ERROR), None
    if holder.status_changed_to is not None:
        return codec.StatusChanged(holder.status_changed_to, claims.code_id), holder.citizen_id
    return claims, holder.citizen_id


def _shown_json(code: IssuedCode, **extra: Any) -> str:
    """What `hc:code:<citizen>` holds (read back by `ShownCode.parse`)."""
    return ujson.dumps({**code.__dict__, "reasons": list(code.reasons), **extra})


def payload_digest(payload: str) -> str:
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


# A code we issued, by the digest of its text: [holder, code id, colour, reasons, masked name, issuer, iat,
# exp, the holder's colour after a change to a worse one or null, holder tag (hex) or null, the partner it was
# converted from or null (true or false from older workers)].
# Entries of the older 8-value form were kept under "hc:payload:"; workers of both kinds can share a cache
# while a release rolls out. An entry of 9 values (before the holder tag) is checked by its signature, and a
# status change marks it as before.
PAYLOAD_KEY = "hc:payload:v2:"
ENTRY_LENGTH = 11


def payload_key(payload: str) -> str:
    return PAYLOAD_KEY + payload_digest(payload)


def region_prefix(region_code: str) -> str:
    """440106 covers itself; 440100 covers the city 4401xx; 440000 the province 44xxxx."""
    code = region_code
    while code.endswith("00") and len(code) > 2:
        code = code[:-2]
    return code


@contextmanager
def children_allowed() -> Iterator[None]:
    """Let this process start the drawing helpers even when it is daemonic.

    Sanic starts each of several workers as a daemonic process, and `multiprocessing` refuses
    children to those (so that none is left behind): every PNG request of `--workers 2` failed.
    Our helpers are stopped with the worker (`close`), and a helper whose parent is gone ends on
    the closed pipe of its work queue, which is the guarantee the rule is there for.
    """
    config = multiprocessing.current_process()._config  # type: ignore[attr-defined]  # private: the daemon flag the check reads
    daemonic = config.get("daemon", False)
    config["daemon"] = False
    try:
        yield
    finally:
        if daemonic:
            config["daemon"] = True


def risk_level(areas: list[RiskArea], region_code: str, at: datetime) -> str:
    levels = [a.level for a in areas if region_code.startswith(region_prefix(a.region_code))
              and a.effective_from <= at and (a.effective_to is None or at < a.effective_to)]
    return max(levels, key=LEVEL_RANK.__getitem__, default="low")


def risk_level_during(areas: list[RiskArea], region_code: str, start: datetime, end: datetime) -> str:
    """The highest level the region had at any moment in [start, end)."""
    levels = [a.level for a in areas if region_code.startswith(region_prefix(a.region_code))
              and a.effective_from < end and (a.effective_to is None or start < a.effective_to)]
    return max(levels, key=LEVEL_RANK.__getitem__, default="low")


def colour_text(colour: str, language: str) -> str:
    return translate(COLOUR_NAMES[colour], language)


def seconds_left(code: IssuedCode, now: datetime) -> int:
    return max(0, code.expires_at - int(now.timestamp()))


def utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


# -- export of the citizen's own data (个人信息副本) ------------------------------------------------
# This section's imports are kept here, with the section, so that it stands apart from the rest of the module.
from app.personal_data import Areas, record_of  # noqa: E402
from app.security.pii import PiiCipher  # noqa: E402


async def export_of(pii: PiiCipher, citizen_id: str) -> Areas:
    """The health code's part of the citizen's copy of their data: the evidence behind their colour, the
    current status and every evaluation before it, venue check-ins (with the venue's name and address),
    appeals, and the codes issued to them (when, for how long, which colour; never the code itself nor its id
    and digest, which name a code that may still be shown)."""
    check_ins = await VenueCheckIn.filter(citizen_id=citizen_id).order_by("at").prefetch_related("venue")
    return {
        "health_evidence": [record_of(row, pii) for row in
                            await HealthEvidence.filter(citizen_id=citizen_id).order_by("observed_at")],
        "health_status": [record_of(row, pii) for row in await HealthStatus.filter(citizen_id=citizen_id)],
        "health_status_history": [record_of(row, pii) for row in
                                  await StatusEvaluation.filter(citizen_id=citizen_id).order_by("evaluated_at", "id")],
        "venue_check_ins": [record_of(row, pii, venue_name=row.venue.name, venue_address=row.venue.address)
                            for row in check_ins],
        "health_code_appeals": [record_of(row, pii) for row in
                                await Appeal.filter(citizen_id=citizen_id).order_by("created_at")],
        "issued_health_codes": [record_of(row, pii, skip=("code_id", "payload_digest")) for row in
                                await IssuedHealthCode.filter(citizen_id=citizen_id).order_by("issued_at")],
    }
