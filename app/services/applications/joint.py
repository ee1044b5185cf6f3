"""Joint applications (一件事联办): one submission for a bundle's items, one status, one timeline.

A bundle (一件事) that offers joint application lists the items one joint application covers
(`LifeEvent.joint_item_ids`, in order). The citizen fills one form (joint_form.py: shared fields asked once,
materials given once) and sends it once. Then:

- Every item must accept online applications now: a closed one (retired, a draft, offline only) refuses the
  whole submission with 409 JOINT_ITEM_CLOSED naming it, and nothing is stored.
- Each part is prepared as a single application would be (its form checked against its item's schema, its
  materials, the departments' answers); any part's failure refuses the whole submission, naming the part.
- All parts are then stored in one transaction: a `JointApplication` and, per item, an `Application` linked by a
  `JointPart`. Each part goes its own way from there: 秒批 where its item's rules pass, else a clerk of its
  department, who decides it alone.
- The bundle's status is derived from its parts (JOINT_STATUSES), and its timeline is the events of all parts in
  time order, each naming its part.
- A part a clerk returned (退回补正) is corrected in place; a part a clerk rejected (不予受理) is submitted again as
  a new attempt of that part (a new application, the rejected one kept in the timeline). Either way only that
  part changes: the other parts' rows are not touched.

Uploaded materials (材料上传) are given once and shared by the parts that ask for them, so they belong to the
joint application (owner kind JOINT), not to a part: each part's preparation checks them as the citizen's own and
unused (or already this joint application's), the parts' writes leave them be, and the joint application attaches
every one of them once, in the transaction that stores it and its parts. A correction of a part (in place or a new
attempt) may name them again, or new uploads, which are attached to the joint application too. A part's clerk reads
an upload that part names through the joint application's ownership (ApplicationService.material_for_clerk), and
the citizen's access log shows each read. Someone else's upload is 404 UPLOAD_NOT_FOUND, and nothing is stored.

Submissions carry an idempotency key, as single applications do: a retry returns the same joint application.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app import audit
from app.db import lag_tolerant
from app.errors import AppError, Conflict, NotFound
from app.i18n import EN, N_, ZH_HANS, translate
from app.ids import new_id
from app.services.applications import joint_form
from app.services.applications.forms import FormInvalid, validate_form
from app.services.applications.models import Application, ApplicationEvent, JointApplication, JointPart
from app.services.applications.service import (
    ApplicationService, MaterialGiven, Planned, Prepared, UploadOwner, Written, applied_for_online, canonical_json,
    status_text,
)
from app.services.catalogue.service import LifeEvent, ServiceItem
from app.uploads.service import JOINT

# The bundle's status, from its parts' (zh-Hans msgids).
JOINT_STATUS_TEXTS: dict[str, str] = {
    "in_review": N_("办理中"),
    "returned": N_("部分事项待补正"),
    "partly_rejected": N_("部分事项未通过"),
    "rejected": N_("不予受理"),
    "approved": N_("审批通过"),
    "completed": N_("已全部办结"),
    "withdrawn": N_("已撤回"),
}
DONE = ("approved", "completed")
PENDING = ("submitted", "accepted", "under_review")


def joint_status(statuses: Sequence[str]) -> str:
    """The bundle's one status from its parts' current ones: a rejected part first (the citizen must act), then a
    returned one, then any still with a clerk; all done is completed (or approved while one is not issued yet)."""
    live = [s for s in statuses if s != "withdrawn"]
    if not live:
        return "withdrawn"
    if "rejected" in live:
        return "rejected" if all(s == "rejected" for s in live) else "partly_rejected"
    if "returned" in live:
        return "returned"
    if any(s in PENDING for s in live):
        return "in_review"
    return "completed" if all(s == "completed" for s in live) else "approved"


def joint_status_text(status: str, language: str) -> str:
    return translate(JOINT_STATUS_TEXTS[status], language) if status in JOINT_STATUS_TEXTS else status


class ItemClosed(Conflict):
    """409 JOINT_ITEM_CLOSED: an item of the bundle does not accept applications now (named, with its id)."""

    code = "JOINT_ITEM_CLOSED"

    def __init__(self, bundle: LifeEvent, closed: list[tuple[str, str]]) -> None:
        super().__init__(params={"bundle": bundle.name, "items": "、".join(name for _, name in closed)},
                         extra={"closed": [{"item_id": i, "item_name": name} for i, name in closed]})


class PartNotCorrectable(Conflict):
    """409 JOINT_PART_NOT_CORRECTABLE: the part is neither returned nor rejected (its status named in words)."""

    code = "JOINT_PART_NOT_CORRECTABLE"

    def __init__(self, item_name: str, status: str) -> None:
        super().__init__(params={"item": item_name}, extra={"status": status})
        self.status_now = status

    def message(self, language: str) -> str:
        self.params["status"] = status_text(self.status_now, language)
        return super().message(language)


class PartsFormInvalid(AppError):
    """422 FORM_INVALID for a joint application: each failing field of each part, naming the part (`part`,
    `item_name`) and where the citizen gave it (`field`: form.<name> for a shared field, else
    parts.<item_id>.<name>), said in the reply's language."""

    status, code = 422, "FORM_INVALID"

    def __init__(self, failures: list[tuple[PartSubmission, FormInvalid]], shared: set[str] | None) -> None:
        super().__init__()
        self.failures, self.shared = failures, shared
        self._say(ZH_HANS)

    def _say(self, language: str) -> None:
        fields = [self._field(part, problem) for part, error in self.failures
                  for problem in _said(error, language)]
        joiner = ", " if language == EN else "、"
        self.params = {"count": len(fields), "fields": joiner.join(dict.fromkeys(f["title"] or f["field"]
                                                                                for f in fields))}
        self.extra = {"fields": fields}

    def _field(self, part: PartSubmission, problem: dict[str, str]) -> dict[str, str]:
        top = problem["field"].split(".")[0]
        where = "form" if self.shared is None or top in self.shared else f"parts.{part.item.id}"
        return {**problem, "field": f"{where}.{problem['field']}" if problem["field"] else where,
                "part": part.item.id, "item_name": part.item.name}

    def message(self, language: str) -> str:
        self._say(language)
        return super().message(language)


def _said(error: FormInvalid, language: str) -> list[dict[str, str]]:
    """A part's form problems in `language`."""
    error.message(language)
    return list(error.extra["fields"])


@dataclass(frozen=True)
class PartSubmission:
    """What the citizen sends for one part: its form (merged from the joint form) and its materials."""

    item: ServiceItem
    form: dict[str, Any]
    given: list[MaterialGiven]


@dataclass(frozen=True)
class PartView:
    """One part as the citizen follows it: its current attempt, and the earlier ones."""

    item_id: str
    item_name: str
    position: int
    attempt: int
    application: Application
    reason: str  # the clerk's words when the part was rejected or returned
    earlier: list[str]  # the applications of earlier attempts, oldest first


@dataclass(frozen=True)
class TimelineEntry:
    """One event of one part, in the bundle's one timeline."""

    at: datetime
    item_id: str
    item_name: str
    position: int
    attempt: int
    application_id: str
    event: ApplicationEvent


@dataclass(frozen=True)
class JointView:
    id: str
    bundle_code: str
    bundle_name: str
    status: str
    created_at: datetime
    parts: list[PartView]
    timeline: list[TimelineEntry]


def joint_hash(bundle_code: str, form: dict[str, Any], parts: dict[str, dict[str, Any]],
               materials: list[MaterialGiven]) -> str:
    """A fingerprint of what was asked, so a retry under the same key can be told from a new request."""
    asked = {"bundle": bundle_code, "form": form, "parts": parts, "materials": [m.__dict__ for m in materials]}
    return hashlib.sha256(canonical_json(asked).encode("utf-8")).hexdigest()


def part_key(joint_id: str, position: int, attempt: int) -> str:
    """The idempotency key of a part's application: derived from the joint application, so it is unique."""
    return f"joint-{hashlib.sha256(f'{joint_id}:{position}:{attempt}'.encode()).hexdigest()[:40]}"


class JointApplicationService:
    """一件事联办 for citizens: the joint form, the one submission, the one status and timeline, a part's correction."""

    def __init__(self, applications: ApplicationService) -> None:
        self.applications = applications
        self.platform = applications.platform

    # -- the joint form ------------------------------------------------------------------------
    async def form_of(self, code: str) -> tuple[LifeEvent, list[ServiceItem], joint_form.JointForm]:
        """A bundle's joint form (the items it covers, their merged fields and materials); 404 for an unknown
        bundle, 422 JOINT_NOT_OFFERED for one not applied for jointly."""
        bundle = await _bundle(code)
        items = await _items_of(bundle)
        return bundle, items, _merged(items)

    # -- submission ----------------------------------------------------------------------------
    async def apply(self, citizen_id: str, key: str, code: str, form: dict[str, Any],
                    parts: dict[str, dict[str, Any]], given: list[MaterialGiven]) -> tuple[JointView, bool]:
        """Submit a joint application; (view, replayed) — replayed when `key` was used for this request before."""
        fingerprint = joint_hash(code, form, parts, given)
        earlier = await JointApplication.get_or_none(citizen_id=citizen_id, idempotency_key=key)
        if earlier is not None:
            return await self._replay(earlier, fingerprint), True
        bundle, items, merged = await self.form_of(code)
        _refuse_closed(bundle, items)
        submissions = _submissions(merged, items, form, parts, given)
        _check_forms(submissions, {name for name in form if name in merged.shared})
        try:
            prepared = [await self._prepared(citizen_id, part, None) for part in submissions]
        except AppError:
            # The same key sent at the same moment may have used the uploads first: its answer is this one's.
            earlier = await JointApplication.get_or_none(citizen_id=citizen_id, idempotency_key=key)
            if earlier is None:
                raise
            return await self._replay(earlier, fingerprint), True
        async with self.applications.one_at_a_time(f"apply-joint:{citizen_id}:{bundle.code}"):
            return await self._create(citizen_id, bundle, key, fingerprint, prepared)

    async def _prepared(self, citizen_id: str, part: PartSubmission, joint_id: str | None) -> Prepared:
        """A part prepared as a single application, its uploads checked for the joint application (`joint_id`,
        None before it is stored: unused ones only); its errors name the part."""
        try:
            return await self.applications.prepare(citizen_id, part.item.id, part.form, part.given,
                                                   upload_owner=UploadOwner(JOINT, joint_id))
        except AppError as error:
            error.extra = {**error.extra, "part": {"item_id": part.item.id, "item_name": part.item.name}}
            raise

    async def _create(self, citizen_id: str, bundle: LifeEvent, key: str, fingerprint: str,
                      prepared: list[Prepared]) -> tuple[JointView, bool]:
        earlier = await JointApplication.get_or_none(citizen_id=citizen_id, idempotency_key=key)
        if earlier is not None:  # the same key arrived again while this one waited its turn
            return await self._replay(earlier, fingerprint), True
        planned = [await self.applications.plan(p) for p in prepared]
        joint_id, now = new_id("ja"), self.platform.clock.now()
        try:
            async with in_transaction() as conn:
                await JointApplication.create(id=joint_id, citizen_id=citizen_id, bundle_code=bundle.code,
                                              idempotency_key=key, request_hash=fingerprint, created_at=now,
                                              using_db=conn)
                written = [await self._write_part(conn, joint_id, position, 1, plan)
                           for position, plan in enumerate(planned, start=1)]
                await self._attach_uploads(conn, joint_id, prepared)
                records = [*[r for w in written for r in w.records],
                           _joint_record(citizen_id, joint_id, bundle, "joint_application_submitted")]
                pending = await audit.add_pending(conn, self.platform.clock, records)
        except IntegrityError:
            earlier = await JointApplication.get(citizen_id=citizen_id, idempotency_key=key)
            return await self._replay(earlier, fingerprint), True
        await self.applications.after_commit(pending, records, [one.stored for one in written])
        return await self.one_of_mine(citizen_id, joint_id), False

    async def _write_part(self, conn: Any, joint_id: str, position: int, attempt: int, plan: Planned) -> Written:
        written = await self.applications.write(conn, plan, part_key(joint_id, position, attempt),
                                                _part_hash(joint_id, position, attempt))
        await JointPart.create(joint_id=joint_id, item_id=plan.prepared.item.id, position=position, attempt=attempt,
                               application_id=written.application.id, created_at=plan.at, using_db=conn)
        return written

    async def _attach_uploads(self, conn: Any, joint_id: str, prepared: Sequence[Prepared]) -> None:
        """Every upload the parts name, attached once to the joint application, in its transaction."""
        materials = [m for p in prepared for m in p.materials]
        if prepared:
            await self.applications.attach_uploads(prepared[0].uploader_id, UploadOwner(JOINT, joint_id), materials,
                                                   conn)

    async def _replay(self, earlier: JointApplication, fingerprint: str) -> JointView:
        if earlier.request_hash != fingerprint:
            raise Conflict("IDEMPOTENCY_KEY_REUSED", extra={"joint_application_id": earlier.id})
        return await self.one_of_mine(earlier.citizen_id, earlier.id)

    # -- following -----------------------------------------------------------------------------
    @lag_tolerant
    async def mine(self, citizen_id: str, limit: int = 50) -> list[JointView]:
        rows = await JointApplication.filter(citizen_id=citizen_id).order_by("-created_at", "-id").limit(limit)
        return [await self._view(row) for row in rows]

    async def one_of_mine(self, citizen_id: str, joint_id: str) -> JointView:
        return await self._view(await _owned(citizen_id, joint_id))

    async def _view(self, joint: JointApplication) -> JointView:
        bundle = await LifeEvent.get_or_none(code=joint.bundle_code)
        rows = await JointPart.filter(joint_id=joint.id).order_by("position", "attempt")
        applications = {a.id: a for a in await Application.filter(id__in=[r.application_id for r in rows])}
        names = dict(await ServiceItem.filter(id__in=[r.item_id for r in rows]).values_list("id", "name"))
        events = await ApplicationEvent.filter(application_id__in=list(applications)).order_by("at", "id")
        current = _current(rows)
        parts = [_part_view(row, applications[row.application_id], names.get(row.item_id, row.item_id), rows, events)
                 for row in current]
        by_application = {r.application_id: r for r in rows}
        timeline = sorted((_entry(by_application[e.application_id], names, e) for e in events),
                          key=lambda t: (t.at, t.position, t.attempt, t.event.id))
        return JointView(id=joint.id, bundle_code=joint.bundle_code, bundle_name=bundle.name if bundle else "",
                         status=joint_status([p.application.status for p in parts]), created_at=joint.created_at,
                         parts=parts, timeline=timeline)

    # -- a part's correction -------------------------------------------------------------------
    async def correct_part(self, citizen_id: str, joint_id: str, item_id: str, form: dict[str, Any] | None,
                           given: list[MaterialGiven] | None, note: str = "") -> JointView:
        """Correct one part: a returned part is corrected in place (补正), a rejected one submitted again as a new
        attempt. Any other status is 409 JOINT_PART_NOT_CORRECTABLE; the other parts are not touched."""
        joint = await _owned(citizen_id, joint_id)
        rows = await JointPart.filter(joint_id=joint.id).order_by("position", "attempt")
        part = next((r for r in _current(rows) if r.item_id == item_id), None)
        if part is None:
            raise NotFound("JOINT_PART_NOT_FOUND")
        application = await Application.get(id=part.application_id)
        item = await ServiceItem.get(id=item_id)
        if application.status == "returned":
            if form is not None:
                _check_forms([PartSubmission(item, form, [])], None)
            await self.applications.correct(citizen_id, application.id, form, given, note,
                                            upload_owner=UploadOwner(JOINT, joint.id))
        elif application.status == "rejected":
            await self._resubmit(citizen_id, joint, part, application, item, form, given)
        else:
            raise PartNotCorrectable(item.name, application.status)
        return await self._view(joint)

    async def _resubmit(self, citizen_id: str, joint: JointApplication, part: JointPart, rejected: Application,
                        item: ServiceItem, form: dict[str, Any] | None, given: list[MaterialGiven] | None) -> None:
        """A rejected part sent again: a new application for its item, the next attempt of the same part."""
        if form is None:
            form = (await self.applications.view(rejected)).form
        submission = PartSubmission(item, form, given if given is not None else _given_again(rejected.materials))
        _check_forms([submission], None)
        prepared = await self._prepared(citizen_id, submission, joint.id)
        async with self.applications.one_at_a_time(f"apply-joint:{citizen_id}:{joint.bundle_code}"):
            plan = await self.applications.plan(prepared)
            attempt = part.attempt + 1
            try:
                async with in_transaction() as conn:
                    written = await self._write_part(conn, joint.id, part.position, attempt, plan)
                    await self._attach_uploads(conn, joint.id, [prepared])
                    records = [*written.records, _joint_record(citizen_id, joint.id, None, "joint_part_resubmitted",
                                                               {"item_id": item.id, "attempt": attempt})]
                    pending = await audit.add_pending(conn, self.platform.clock, records)
            except IntegrityError:
                raise PartNotCorrectable(item.name, "under_review") from None  # resubmitted at the same moment
        await self.applications.after_commit(pending, records, [written.stored])


# -- steps -------------------------------------------------------------------------------------------

async def _bundle(code: str) -> LifeEvent:
    bundle = await LifeEvent.get_or_none(code=code)
    if bundle is None:
        raise NotFound("LIFE_EVENT_NOT_FOUND")
    if not bundle.joint_item_ids:
        raise AppError("JOINT_NOT_OFFERED", status=422, params={"bundle": bundle.name})
    return bundle


async def _items_of(bundle: LifeEvent) -> list[ServiceItem]:
    """The items a joint application of the bundle covers, in order, whatever their status (a closed one is
    refused by name at submission; one deleted from the catalogue is shown as closed too)."""
    rows = {r.id: r for r in await ServiceItem.filter(id__in=list(bundle.joint_item_ids))}
    return [rows[i] if i in rows else _missing_item(i) for i in bundle.joint_item_ids]


def _missing_item(item_id: str) -> ServiceItem:
    return ServiceItem(id=item_id, name=item_id, status="retired", materials=[], channels=[])


def open_for_applications(item: ServiceItem) -> bool:
    """Published and applied for online: what a part's item must be when the joint application is sent."""
    return item.status == "published" and applied_for_online(item)


def _refuse_closed(bundle: LifeEvent, items: list[ServiceItem]) -> None:
    closed = [(i.id, i.name) for i in items if not open_for_applications(i)]
    if closed:
        raise ItemClosed(bundle, closed)


def _merged(items: list[ServiceItem]) -> joint_form.JointForm:
    return joint_form.merge([(i.id, i.name, form_schema_of(i), list(i.materials)) for i in items])


def form_schema_of(item: ServiceItem) -> dict[str, Any] | None:
    """The item's form schema, when it declares one."""
    return item.form_schema if isinstance(item.form_schema, dict) else None


def _check_forms(parts: list[PartSubmission], shared: set[str] | None) -> None:
    """Every part's form against its item's schema, all parts before any is stored: one 422 FORM_INVALID naming
    each failing field of each part. `shared`: the fields given once for all parts (None: a part's correction,
    whose whole form is given as `form`)."""
    failures = []
    for part in parts:
        try:
            validate_form(part.item.form_schema, part.form)
        except FormInvalid as error:
            failures.append((part, error))
    if failures:
        raise PartsFormInvalid(failures, shared)


def _submissions(merged: joint_form.JointForm, items: list[ServiceItem], form: dict[str, Any],
                 parts: dict[str, dict[str, Any]], given: list[MaterialGiven]) -> list[PartSubmission]:
    """Each part's form and materials from the one submission; problems of the whole refused first (422)."""
    forms, problems = joint_form.part_forms(merged, form, parts)
    asked = {m["name"]: set(m["items"]) for m in merged.materials}
    problems += [{"field": f"materials.{m.name}", "problem": "no item of this bundle asks for this material"}
                 for m in given if m.name not in asked]
    if problems:
        raise AppError("JOINT_FORM_INVALID", status=422, extra={"fields": problems})
    return [PartSubmission(item, forms[item.id], [m for m in given if item.id in asked.get(m.name, set())])
            for item in items]


def _given_again(materials: list[dict[str, Any]]) -> list[MaterialGiven]:
    """The materials the citizen named for a rejected attempt, named again (wallet and department ones are
    attached again by themselves)."""
    again = []
    for m in materials:
        if m.get("source") == "upload":
            again.append(MaterialGiven(m["name"], upload_ref=m.get("upload_ref")))
        elif m.get("source") == "chosen":
            again.append(MaterialGiven(m["name"], licence_id=m.get("licence_id")))
    return again


def _part_hash(joint_id: str, position: int, attempt: int) -> str:
    return hashlib.sha256(json.dumps([joint_id, position, attempt]).encode("utf-8")).hexdigest()


def _joint_record(citizen_id: str, joint_id: str, bundle: LifeEvent | None, action: str,
                  attributes: dict[str, Any] | None = None) -> audit.AuditRecord:
    about = {"joint_application_id": joint_id, **({"bundle": bundle.code} if bundle else {}), **(attributes or {})}
    return audit.event(actor=citizen_id, actor_type="citizen", action=action, subject_id=citizen_id, attributes=about)


async def _owned(citizen_id: str, joint_id: str) -> JointApplication:
    row = await JointApplication.get_or_none(id=joint_id, citizen_id=citizen_id)
    if row is None:
        raise NotFound("JOINT_APPLICATION_NOT_FOUND")
    return row


def _current(rows: list[JointPart]) -> list[JointPart]:
    """Each position's latest attempt, in the bundle's order."""
    latest: dict[int, JointPart] = {}
    for row in rows:
        if row.position not in latest or row.attempt > latest[row.position].attempt:
            latest[row.position] = row
    return [latest[p] for p in sorted(latest)]


def _part_view(row: JointPart, application: Application, name: str, rows: list[JointPart],
               events: list[ApplicationEvent]) -> PartView:
    mine = [e for e in events if e.application_id == application.id]
    reason = mine[-1].note if mine and application.status in ("rejected", "returned") else ""
    earlier = [r.application_id for r in rows if r.position == row.position and r.attempt < row.attempt]
    return PartView(item_id=row.item_id, item_name=name, position=row.position, attempt=row.attempt,
                    application=application, reason=reason, earlier=earlier)


def _entry(row: JointPart, names: dict[str, str], event: ApplicationEvent) -> TimelineEntry:
    return TimelineEntry(at=event.at, item_id=row.item_id, item_name=names.get(row.item_id, row.item_id),
                         position=row.position, attempt=row.attempt, application_id=row.application_id, event=event)
