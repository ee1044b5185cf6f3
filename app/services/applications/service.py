"""Online applications (办件): submission with wallet licences as materials (免提交), 秒批, the clerk queue.

States and the only moves between them:

    submitted → accepted                        (at once, when the submission is valid)
    accepted  → auto_approved | under_review    (the item's 秒批 rules decide)
    auto_approved → completed                   (at once: a 秒批 result is electronic, nothing is left to do)
    under_review → approved | rejected | returned   (a clerk decides)
    returned  → under_review                    (the citizen sends corrections)
    approved  → completed                       (the clerk completes it, e.g. once the licence is out)
    under_review | returned | completed → withdrawn   (the citizen takes it back: elderly mode's undo window,
                                                 see elderly_mode/undo.py; from completed only after 秒批)

Anything else is refused with 409 APPLICATION_STATE_CONFLICT. Each move is one conditional UPDATE
(`WHERE status = <from>`), so two clerks racing cannot both move the same application. Each move
writes an `ApplicationEvent` and an audit entry; the citizen gets one inbox message per request
(a 秒批 submission makes three moves but is one message: "approved and completed"). The move, its
events, its inbox message and its audit entries (pending, chained right after) are one transaction:
a worker killed at any point leaves all of them or none.

Clerks work their own department's applications only (the department of the item applied for, as
bound to their API client): another department's application answers 404 APPLICATION_NOT_FOUND,
as an unknown one does, so a clerk cannot even learn that it exists. A catalogue administrator
keeps the province's whole catalogue and reads any item's 秒批 rules.

The form (申请表) is checked against the item's form schema when the item declares one (forms.py): a form that
does not fit is 422 FORM_INVALID listing every field and its problem, before any department is asked or
anything stored; a correction's new form is checked the same way. 秒批 rules may read its fields as what the
citizen declared (approval.py).

Departments at submission (through `DepartmentServices`, the data exchange, docs/exchange.md):

- 秒批 rules may read a department's answers (app/services/approval.py, facts of kind `check`): a 公积金
  withdrawal item's rules read the fund centre's eligibility for the item's reason and the form's `amount_fen`,
  asked with purpose `eligibility_check`. A form without a whole positive `amount_fen` is 422 before any
  department is asked.
- A material may come from a department (免提交): its spec names the service, `{"name": "公积金缴存证明",
  "required": true, "from_department": "<service id>"}`. Unless the citizen names it themselves, it is fetched
  with purpose `material_prefill`, and the application keeps a reference: material name, department, service,
  the department's record number (`record_no`) if any, `reply_sha256` (SHA-256 of the reply as canonical JSON:
  keys sorted, no spaces, UTF-8) and `fetched_at`. The reply itself is kept only encrypted (`platform.pii`), for
  the clerk's read, which shows it with account and ID numbers masked; the citizen's own view shows the
  reference only. A department that did not authorise `material_prefill` (or any other refusal: no records,
  not connected) fails the submission with its error, and nothing is stored.

A department that is down (DEPARTMENT_UNAVAILABLE: unreachable, too slow, a reply that does not verify, its
breaker open) does not lose the application, and the citizen is not sent away to try again: what they submitted
is complete, and a clerk can decide it without the department's answer. The application is stored and goes
to the clerk queue without 秒批; the decision says why (`reason` `department_unavailable`, or
`department_not_verified` for another department error met by a 秒批 check) and lists each department call
that failed in `department_gaps` (service, purpose, error; a material's name). A material that could not be
fetched is kept as `{"name", "source": "department", "service", "fetched": false, "error"}`; a clerk may
return the application (退回补正), and the correction fetches it again.

Submissions carry an idempotency key: the (citizen, key) pair is unique in the database, so a
retried request (even two at the same instant) creates one application; a retry gets that
application back, a different request under the same key is refused (IDEMPOTENCY_KEY_REUSED).
"""

from __future__ import annotations

import hashlib
import json
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Sequence

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from app.db import column, lag_tolerant
from app.clock import rfc3339
from app import audit
from app.cache import cache_lock
from app.departments.service import HPF_WITHDRAWAL_ELIGIBILITY, OWN, Reader
from app.accounts.service import (RESIDENT_ID, CitizenSnapshot, citizen_record, document_birth_date,
                                  masked_document_number)
from app.errors import AppError, Conflict, NotFound, ValidationFailed, echoed
from app.i18n import N_, translate
from app.ids import new_id
from app.notifications.service import StoredMessage, send_stored, store_message
from app.platform import Platform
from app.security.clients import AuthenticatedClient
from app.security.pii import mask_id_number, mask_name
from app.services.applications import approval
from app.services.applications.forms import validate_form
from app.services.applications.approval import age_on as age_on, birth_date_of as birth_date_of  # for 亲友代办
from app.services.applications.approval import decision_in as decision_in  # a decision in the reader's language
from app.services.applications.models import Application as Application, ApplicationEvent, JointPart
from app.services.catalogue.service import ServiceItem, declared_fields
from app.uploads.service import APPLICATION, JOINT, UploadedFile, UploadService
from app.vouchers.service import Licence, licence_of, licences_of, validity_of

if TYPE_CHECKING:
    from app.departments.service import DepartmentServices

MAX_FORM_BYTES = 16 * 1024
CLERK, CATALOGUE_ADMIN = "clerk", "catalogue_admin"
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "submitted": ("accepted",),
    "accepted": ("auto_approved", "under_review"),
    "auto_approved": ("completed",),
    "under_review": ("approved", "rejected", "returned", "withdrawn"),
    "returned": ("under_review", "withdrawn"),
    "approved": ("completed",),
    "completed": ("withdrawn",),
}
FINISHED = ("completed", "rejected", "withdrawn")  # nothing is left to do on these
STATUSES = ("submitted", "accepted", "auto_approved", "under_review", "returned", "approved", "rejected", "completed",
            "withdrawn")
STATUS_TEXTS: dict[str, str] = {  # zh-Hans msgids
    "submitted": N_("已提交"),
    "accepted": N_("已受理"),
    "auto_approved": N_("秒批通过"),
    "under_review": N_("审核中"),
    "returned": N_("退回补正"),
    "approved": N_("审批通过"),
    "rejected": N_("不予受理"),
    "completed": N_("已办结"),
    "withdrawn": N_("已撤回"),
}
DECISIONS = {"approve": "approved", "reject": "rejected", "return": "returned"}
# The inbox message for the state an operation ends in.
MESSAGE_FOR = {"under_review": "application_submitted", "completed": "application_completed",
               "approved": "application_approved", "rejected": "application_rejected",
               "returned": "application_returned", "withdrawn": "application_withdrawn"}
# Called in the transaction that stores a new application (not on a replay): (the transaction's
# connection, application id, the citizen as stored, when).
SubmittedHook = Callable[[BaseDBAsyncClient, str, CitizenSnapshot, datetime], Awaitable[None]]
# 秒批 facts a department answers: the fact -> the 住房公积金 withdrawal reason the fund centre is asked about.
HPF_WITHDRAWAL_FACTS = {"hpf_withdrawal_rent": "rent", "hpf_withdrawal_purchase": "purchase",
                        "hpf_withdrawal_retirement": "retirement"}
AMOUNT_FIELD = "amount_fen"  # the form's amount to withdraw, in fen
MAX_AMOUNT_FEN = 10 ** 11
UNAVAILABLE = "DEPARTMENT_UNAVAILABLE"


def department_scope(client: AuthenticatedClient) -> str | None:
    """The department whose items `client` sees: None (every department) for a catalogue administrator,
    who keeps the whole catalogue; else its own (a clerk), refused when it is bound to none."""
    return None if CATALOGUE_ADMIN in client.roles else client.own_department()


def status_text(status: str, language: str) -> str:
    return translate(STATUS_TEXTS[status], language) if status in STATUS_TEXTS else status


class StateConflict(Conflict):
    """409 APPLICATION_STATE_CONFLICT: the step is not allowed from the current state (named in words)."""

    code = "APPLICATION_STATE_CONFLICT"

    def __init__(self, status: str | None, to: str) -> None:
        super().__init__(extra={"status": status, "refused": to})
        self.status_now = status or ""

    def message(self, language: str) -> str:
        self.params["status"] = status_text(self.status_now, language)
        return super().message(language)


def applied_for_online(item: ServiceItem) -> bool:
    """The item takes applications through the app (no channels listed means every channel)."""
    return not item.channels or "online" in item.channels


async def open_item(item_id: str) -> ServiceItem:
    """A published item accepting online applications: else 404 APPLICATION_ITEM_NOT_FOUND (unknown, a draft or
    retired) or 422 APPLICATION_ITEM_NOT_ONLINE (offline only)."""
    item = await ServiceItem.get_or_none(id=item_id, status="published")
    if item is None:
        raise NotFound("APPLICATION_ITEM_NOT_FOUND")
    if not applied_for_online(item):
        raise AppError("APPLICATION_ITEM_NOT_ONLINE", status=422)
    return item


def request_hash(item_id: str, form: dict[str, Any], materials: list[dict[str, Any]]) -> str:
    """A fingerprint of what was asked, so a retry under the same key can be told from a new request."""
    return hashlib.sha256(canonical_json({"item_id": item_id, "form": form, "materials": materials})
                          .encode("utf-8")).hexdigest()


def canonical_json(value: Any) -> str:
    """Keys sorted, no spaces: the same value is always the same text (and the same digest)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class MaterialGiven:
    """A material as the citizen names it: a wallet licence (by id) or an upload (an opaque reference)."""

    name: str
    licence_id: str | None = None
    upload_ref: str | None = None


@dataclass(frozen=True)
class DepartmentAnswers:
    """What departments answered at submission for the 秒批 rules, and the calls that gave nothing."""

    checks: dict[str, dict[str, approval.Check]]
    gaps: list[dict[str, Any]]


@dataclass(frozen=True)
class Move:
    """One state change, before it is written."""

    from_status: str | None
    to_status: str
    note: str = ""
    by_system: bool = False  # the platform made it (acceptance, 秒批), not the person who sent the request


@dataclass(frozen=True)
class UploadOwner:
    """Whom the uploads an application names belong to when not the application itself: a joint application
    (一件事联办), whose parts share the materials given once. `id` is None before the owner is stored."""

    kind: str
    id: str | None


@dataclass(frozen=True)
class Prepared:
    """An application checked and its outside answers fetched, nothing stored yet."""

    citizen: CitizenSnapshot
    item: ServiceItem
    form: dict[str, Any]  # as validated against the item's schema
    form_json: str
    materials: list[dict[str, Any]]
    answers: DepartmentAnswers
    uploader_id: str  # whose uploads the materials name (a family proxy's own, else the citizen's)
    upload_owner: UploadOwner | None = None  # who the named uploads belong to (None: the application, at its write)


@dataclass(frozen=True)
class Planned:
    """A prepared application with its id, 秒批 decision and moves, ready to write."""

    prepared: Prepared
    id: str
    decision: dict[str, Any]
    moves: list[Move]
    at: datetime


@dataclass(frozen=True)
class Written:
    """An application written in a transaction: its row, its audit entries and its inbox message."""

    application: Application
    records: list[audit.AuditRecord]
    stored: StoredMessage | None


@dataclass(frozen=True)
class ApplicationView:
    id: str
    item_id: str
    item_name: str
    department_id: str
    status: str
    decision: dict[str, Any] | None
    materials: list[dict[str, Any]]
    form: dict[str, Any]
    assigned_to: str | None
    created_at: datetime
    updated_at: datetime
    events: list[ApplicationEvent]
    citizen_name_masked: str | None = None
    citizen_id_number_masked: str | None = None


class ApplicationService:
    """办件: what citizens submit and follow, and what clerks (admin clients with role `clerk`) work."""

    def __init__(self, platform: Platform, departments: DepartmentServices | None = None,
                 uploads: UploadService | None = None) -> None:
        self.platform = platform
        self.departments = departments  # 部门服务: 秒批 checks and materials from departments
        self.uploads = uploads  # 材料上传: uploaded materials, checked as the citizen's own and attached
        self.on_submitted: list[SubmittedHook] = []  # other domains hook in here (elderly mode's undo window)

    # -- citizens ------------------------------------------------------------------------------
    async def submit(self, citizen_id: str, key: str, item_id: str, form: dict[str, Any],
                     given: list[MaterialGiven], also_audit: Sequence[audit.AuditRecord] = (),
                     reader: Reader = OWN, uploader_id: str | None = None) -> tuple[ApplicationView, bool]:
        """Submit an application; (view, replayed) — replayed is True when `key` was used for this request before.
        `also_audit`: entries written with the application's own (a family proxy's access), not on a replay.
        `reader`: who the departments asked for materials and 秒批 checks are told asks (a family proxy's reads are
        shown as such in the citizen's access log).
        `uploader_id`: whose uploads the materials may name (a family proxy's own), the citizen's by default."""
        fingerprint = request_hash(item_id, form, [m.__dict__ for m in given])
        earlier = await Application.get_or_none(citizen_id=citizen_id, idempotency_key=key)
        if earlier is not None:
            return await self._replay(earlier, fingerprint), True
        try:
            prepared = await self.prepare(citizen_id, item_id, form, given, reader, uploader_id)
        except AppError:
            # The same key sent at the same moment may have used the uploads first: its answer is this one's.
            earlier = await Application.get_or_none(citizen_id=citizen_id, idempotency_key=key)
            if earlier is None:
                raise
            return await self._replay(earlier, fingerprint), True
        # One submission per citizen and item at a time: two sent at once (under different keys) must
        # not both pass "no prior application".
        async with self.one_at_a_time(f"apply:{citizen_id}:{prepared.item.id}"):
            return await self._create(prepared, key, fingerprint, also_audit)

    async def prepare(self, citizen_id: str, item_id: str, form: dict[str, Any], given: list[MaterialGiven],
                      reader: Reader = OWN, uploader_id: str | None = None,
                      upload_owner: UploadOwner | None = None) -> Prepared:
        """Everything checked and fetched for an application, nothing stored: the item open for online
        applications, the form, the materials (wallet, departments) and the departments' 秒批 answers.
        `upload_owner`: who the named uploads are to belong to when not this application (its joint application,
        which attaches them itself: they must be unused or already its own); the write then leaves them be."""
        item = await open_item(item_id)
        citizen = await citizen_record(citizen_id)
        _form_json(form)  # 422 APPLICATION_FORM_TOO_LARGE
        form = validate_form(item.form_schema, form)  # 422 FORM_INVALID naming each field, before anything is asked
        rules = _stored_rules(item)
        amount = _amount_for(rules, form)  # 422 before any department is asked
        uploader_id = uploader_id or citizen_id
        materials = await self._materials(citizen_id, item, given, reader, uploader_id=uploader_id,
                                          owner=upload_owner)
        answers = await self._department_answers(citizen_id, rules, amount, reader)
        return Prepared(citizen, item, form, _form_json(form), materials, answers, uploader_id, upload_owner)

    async def plan(self, prepared: Prepared) -> Planned:
        """The 秒批 decision and the moves of a prepared application, read before any transaction opens."""
        citizen, item = prepared.citizen, prepared.item
        decision = approval.decide(_stored_rules(item), item.rules_version,
                                   await self._facts(citizen, item, prepared.answers.checks, prepared.form))
        decision = _with_gaps(decision, [*prepared.answers.gaps, *_material_gaps(prepared.materials)])
        moves = [Move(None, "submitted"), Move("submitted", "accepted", by_system=True)]
        if decision["auto_approved"]:
            moves += [Move("accepted", "auto_approved", "秒批", True), Move("auto_approved", "completed", "秒批办结", True)]
        else:
            moves.append(Move("accepted", "under_review", by_system=True))
        return Planned(prepared, new_id("ap"), decision, moves, self.platform.clock.now())

    async def write(self, conn: BaseDBAsyncClient, planned: Planned, key: str, fingerprint: str) -> Written:
        """Store a planned application with its events and inbox message in the caller's transaction; the audit
        entries it returns are for the caller to keep pending there and chain after the commit."""
        prepared, application_id, now, moves = planned.prepared, planned.id, planned.at, planned.moves
        citizen, item = prepared.citizen, prepared.item
        application = await Application.create(
            id=application_id, citizen_id=citizen.id, item_id=item.id, idempotency_key=key,
            request_hash=fingerprint,
            form_enc=self.platform.pii.encrypt(prepared.form_json, f"application-form:{application_id}"),
            materials=prepared.materials, status=moves[-1].to_status, decision=planned.decision, created_at=now,
            updated_at=now, using_db=conn)
        if prepared.upload_owner is None:  # else its owner (the joint application) attaches them
            await self._attach_uploads(prepared.uploader_id, application_id, prepared.materials, conn)
        await ApplicationEvent.bulk_create(
            [ApplicationEvent(application_id=application_id, from_status=m.from_status, to_status=m.to_status,
                              actor="system" if m.by_system else citizen.id,
                              actor_type="system" if m.by_system else "citizen", note=m.note, at=now)
             for m in moves], using_db=conn)
        for hook in self.on_submitted:
            await hook(conn, application_id, citizen, now)
        stored = await self._store_message(conn, application, item, moves)
        records = _audit_records(citizen.id, application_id, item, moves, actor=citizen.id, actor_type="citizen")
        return Written(application, records, stored)

    async def after_commit(self, pending: int, records: list[audit.AuditRecord],
                           messages: Sequence[StoredMessage | None]) -> None:
        """After the transaction that wrote applications or moved one: chain the audit entries pending since, and
        try their inbox messages' external channels."""
        await audit.record_pending(self.platform.clock, pending, records)
        for stored in messages:
            if stored is not None:
                await send_stored(self.platform, stored)

    async def _create(self, prepared: Prepared, key: str, fingerprint: str,
                      also_audit: Sequence[audit.AuditRecord]) -> tuple[ApplicationView, bool]:
        citizen_id = prepared.citizen.id
        earlier = await Application.get_or_none(citizen_id=citizen_id, idempotency_key=key)
        if earlier is not None:  # the same key arrived again while this one waited its turn
            return await self._replay(earlier, fingerprint), True
        planned = await self.plan(prepared)
        try:
            async with in_transaction() as conn:
                written = await self.write(conn, planned, key, fingerprint)
                records = [*written.records, *also_audit]
                pending = await audit.add_pending(conn, self.platform.clock, records)
        except IntegrityError:
            # The same key arrived twice at once: the unique (citizen, key) pair let one through.
            earlier = await Application.get(citizen_id=citizen_id, idempotency_key=key)
            return await self._replay(earlier, fingerprint), True
        await self.after_commit(pending, records, [written.stored])
        return await self.view(written.application), False

    def one_at_a_time(self, name: str, wait: float = 10.0) -> AbstractAsyncContextManager[None]:
        """A lock in the shared cache (so across workers with Redis), waited for up to `wait` seconds."""
        return cache_lock(self.platform.cache, name, ttl=wait, wait=wait)

    async def _replay(self, earlier: Application, fingerprint: str) -> ApplicationView:
        if earlier.request_hash != fingerprint:
            raise Conflict("IDEMPOTENCY_KEY_REUSED", extra={"application_id": earlier.id})
        return await self.view(earlier)

    # -- account deletion (注销) ----------------------------------------------------------------------
    async def deletion_blockers(self, citizen_id: str) -> list[dict[str, str]]:
        """Applications a department is still working on: the account cannot be erased under them (the
        citizen withdraws them or waits for the decision). Finished ones stay, as the department's records."""
        working: list[str] = await column(Application.filter(citizen_id=citizen_id).exclude(status__in=FINISHED), "id")
        return [{"kind": "application", "id": i} for i in working]

    @lag_tolerant
    async def mine(self, citizen_id: str, limit: int = 50) -> list[ApplicationView]:
        rows = await Application.filter(citizen_id=citizen_id).order_by("-created_at").limit(limit)
        return [await self.view(row, with_events=False) for row in rows]

    async def one_of_mine(self, citizen_id: str, application_id: str) -> ApplicationView:
        return await self.view(await self._owned(citizen_id, application_id))

    async def correct(self, citizen_id: str, application_id: str, form: dict[str, Any] | None,
                      given: list[MaterialGiven] | None, note: str = "",
                      upload_owner: UploadOwner | None = None) -> ApplicationView:
        """补正: the citizen answers a return with a new form and/or materials; back to the clerk. Materials a
        department could not give at submission are asked for again, also when only the form changes.
        `upload_owner`: who the application's uploads belong to (found when not given: a part's joint application,
        else itself): the uploads named may be its own or new ones, and new ones are attached to it."""
        application = await self._owned(citizen_id, application_id)
        if "under_review" not in TRANSITIONS.get(application.status, ()):  # refused before any department is asked
            raise StateConflict(application.status, "under_review")
        item = await ServiceItem.get(id=application.item_id)
        changes: dict[str, Any] = {}
        if form is not None:
            _form_json(form)  # 422 APPLICATION_FORM_TOO_LARGE
            form = validate_form(item.form_schema, form)
            changes["form_enc"] = self.platform.pii.encrypt(_form_json(form), f"application-form:{application.id}")
        also: Callable[[BaseDBAsyncClient], Awaitable[None]] | None = None
        if given is not None:
            owner = upload_owner or await _upload_owner_of(application)
            materials = changes["materials"] = await self._materials(citizen_id, item, given, owner=owner)

            async def also(conn: BaseDBAsyncClient) -> None:  # the new uploads with the step, or neither
                await self.attach_uploads(citizen_id, owner, materials, conn)
        elif any(_is_department(m) and not m.get("fetched") for m in application.materials):
            changes["materials"] = await self._refetched(citizen_id, application.materials)
        move = Move(application.status, "under_review", note or "补正材料")
        application = await self._move(application, move, item, actor=citizen_id, actor_type="citizen",
                                       message="application_corrected", also=also, **changes)
        return await self.view(application)

    async def _refetched(self, citizen_id: str, materials: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The materials as kept, those a department could not give at the time asked of it again."""
        return [await self._from_department(citizen_id, m["name"], m["service"])
                if _is_department(m) and not m.get("fetched") else m for m in materials]

    async def withdraw(self, citizen_id: str, application_id: str, note: str) -> ApplicationView:
        """撤回: the citizen takes an application back (allowed by a caller that checked its window).
        A 秒批 result may be withdrawn; one a clerk completed may not (something was issued)."""
        application = await self._owned(citizen_id, application_id)
        if application.status == "completed" and not (application.decision or {}).get("auto_approved"):
            raise StateConflict(application.status, "withdrawn")
        move = Move(application.status, "withdrawn", note)
        item = await ServiceItem.get(id=application.item_id)
        application = await self._move(application, move, item, actor=citizen_id, actor_type="citizen")
        return await self.view(application)

    async def _owned(self, citizen_id: str, application_id: str) -> Application:
        row = await Application.get_or_none(id=application_id, citizen_id=citizen_id)
        if row is None:
            raise NotFound("APPLICATION_NOT_FOUND")
        return row

    # -- clerks --------------------------------------------------------------------------------
    async def queue(self, clerk: AuthenticatedClient, status: str, item_id: str | None,
                    limit: int) -> list[ApplicationView]:
        """The work queue of the clerk's department, oldest first; masked names only, and each listing is in
        the citizen's access log."""
        query = Application.filter(status=status, item__department_id=clerk.own_department())
        if item_id:
            query = query.filter(item_id=item_id)
        rows = await query.order_by("created_at", "id").limit(limit)
        views = [await self.view(row, with_events=False, for_clerk=True) for row in rows]
        await audit.record_all(self.platform.clock, [
            audit.access(citizen_id=row.citizen_id, actor=clerk.name, actor_type="admin", action="application_listed",
                         attributes=["name_masked"], purpose=f"办件审核 {row.id}") for row in rows])
        return views

    async def open_for_clerk(self, clerk: AuthenticatedClient, application_id: str) -> ApplicationView:
        """A clerk reads the whole application (form and materials): the citizen sees that read."""
        row = await self._of_department(clerk, application_id)
        view = await self.view(row, for_clerk=True)
        from_departments = ["department_materials"] if any(_is_department(m) for m in row.materials) else []
        await audit.record_access(self.platform.clock, citizen_id=row.citizen_id, actor=clerk.name, actor_type="admin",
                                  action="application_read",
                                  attributes=["name_masked", "id_number_masked", "form", "materials",
                                              *from_departments],
                                  purpose=f"办件审核 {row.id}")
        return view

    async def material_for_clerk(self, clerk: AuthenticatedClient, application_id: str,
                                 upload_id: str) -> UploadedFile:
        """An uploaded material of an application of the clerk's department, decrypted (also one a correction
        replaced: it stays with the application); the citizen sees the view in their access log. A part of a joint
        application (一件事联办) reads through the joint application, which owns the uploads its parts share: only
        those the part names now (another part's are not found)."""
        row = await self._of_department(clerk, application_id)
        if self.uploads is None:
            raise NotFound("UPLOAD_NOT_FOUND")
        owner = await _upload_owner_of(row)
        if owner.kind != APPLICATION and upload_id not in _upload_refs(row.materials):
            raise NotFound("UPLOAD_NOT_FOUND")  # a joint application's upload that another part names, not this one
        return await self.uploads.read_for_clerk(upload_id, clerk, owner_kind=owner.kind, owner_id=owner.id or row.id,
                                                 purpose=f"办件审核 {row.id}", citizen_id=row.citizen_id)

    async def claim(self, clerk: AuthenticatedClient, application_id: str) -> ApplicationView:
        """Take an application from the queue; nobody else can decide it then."""
        row = await self._of_department(clerk, application_id)
        if row.status not in ("under_review", "returned", "approved"):
            raise StateConflict(row.status, "claimed")
        records = [audit.event(actor=clerk.id, actor_type="admin", action="application_claimed",
                               subject_id=row.citizen_id, attributes={"application_id": row.id})]
        async with in_transaction() as conn:
            taken = await Application.filter(id=row.id, assigned_to=None).using_db(conn).update(
                assigned_to=clerk.id, updated_at=self.platform.clock.now())
            if not taken and row.assigned_to != clerk.id:
                raise Conflict("APPLICATION_ASSIGNED_ELSEWHERE")
            pending = await audit.add_pending(conn, self.platform.clock, records)
        await audit.record_pending(self.platform.clock, pending, records)
        return await self.view(await self._of_department(clerk, application_id), for_clerk=True)

    async def decide(self, clerk: AuthenticatedClient, application_id: str, decision: str, note: str) -> ApplicationView:
        """approve, reject or return (退回补正) an application under review."""
        return await self._clerk_move(clerk, application_id, DECISIONS[decision], note)

    async def complete(self, clerk: AuthenticatedClient, application_id: str, note: str) -> ApplicationView:
        """办结: the approved application is done (the result issued)."""
        return await self._clerk_move(clerk, application_id, "completed", note)

    async def _clerk_move(self, clerk: AuthenticatedClient, application_id: str, to: str, note: str) -> ApplicationView:
        row = await self._of_department(clerk, application_id)
        if row.assigned_to not in (None, clerk.id):
            raise Conflict("APPLICATION_ASSIGNED_ELSEWHERE")
        move = Move(row.status, to, note)
        item = await ServiceItem.get(id=row.item_id)
        row = await self._move(row, move, item, actor=clerk.id, actor_type="admin", assigned_to=clerk.id)
        return await self.view(row, for_clerk=True)

    async def _of_department(self, clerk: AuthenticatedClient, application_id: str) -> Application:
        """An application for an item of the clerk's department; any other is not found, as an unknown one."""
        row = await Application.get_or_none(id=application_id, item__department_id=clerk.own_department())
        if row is None:
            raise NotFound("APPLICATION_NOT_FOUND")
        return row

    # -- 秒批 rules ----------------------------------------------------------------------------
    @staticmethod
    def rules_fit_form(item: ServiceItem, schema: dict[str, Any] | None) -> None:
        """A new form for an item whose 秒批 rules read declared fields must still declare them, with a fitting
        type: else 422 APPROVAL_RULES_INVALID, and the form is not changed (the rules would stop deciding)."""
        if item.approval_rules:
            approval.check_rules(item.approval_rules, schema)

    async def set_rules(self, admin: AuthenticatedClient, item_id: str, rules: Any) -> ServiceItem:
        """Replace an item's 秒批 rules; the version goes up, so decisions made earlier keep naming the old one."""
        item = await ServiceItem.get_or_none(id=item_id)
        if item is None:
            raise NotFound("APPLICATION_ITEM_NOT_FOUND")
        checked = approval.check_rules(rules, item.form_schema)  # a declared field's rule needs the item's form
        updated = await ServiceItem.filter(id=item_id).update(
            approval_rules=checked, rules_version=F("rules_version") + 1, updated_at=self.platform.clock.now())
        if not updated:
            raise NotFound("APPLICATION_ITEM_NOT_FOUND")
        item = await ServiceItem.get(id=item_id)
        await audit.record_event(self.platform.clock, actor=admin.id, actor_type="admin", action="approval_rules_changed",
                                 attributes={"item_id": item_id, "rules_version": item.rules_version,
                                             "rules": len(checked["all"]) if checked else 0})
        return item

    async def item(self, item_id: str, department_id: str | None = None) -> ServiceItem:
        """An item, of `department_id` only when given (another department's is not found)."""
        found = ServiceItem.filter(id=item_id)
        item = await (found if department_id is None else found.filter(department_id=department_id)).get_or_none()
        if item is None:
            raise NotFound("APPLICATION_ITEM_NOT_FOUND")
        return item

    async def rules_of(self, client: AuthenticatedClient, item_id: str) -> ServiceItem:
        """An item with its 秒批 rules, for a catalogue administrator (any item) or a clerk (its department's)."""
        return await self.item(item_id, department_scope(client))

    # -- shared steps --------------------------------------------------------------------------
    async def _materials(self, citizen_id: str, item: ServiceItem, given: list[MaterialGiven],
                         reader: Reader = OWN, owner: UploadOwner | None = None,
                         uploader_id: str | None = None) -> list[dict[str, Any]]:
        """The materials to keep: named uploads, named wallet licences, and for the rest wallet licences attached
        by reference and materials fetched from departments (免提交). Missing required ones are refused, naming them.
        `owner`: who the named uploads are to belong to (an application being corrected, a joint application),
        whose own uploads may be named again (a new application's by default: unused ones only); `uploader_id`:
        whose uploads may be named (the citizen's by default)."""
        chosen = await self._named_materials(citizen_id, item, given)
        await self._attach_from_wallet(citizen_id, item, chosen)
        _refuse_missing(item, chosen, but_from_departments=True)  # before any upload is looked up or department asked
        await self._check_uploads(uploader_id or citizen_id, chosen, owner or UploadOwner(APPLICATION, None))
        await self._attach_from_departments(citizen_id, item, chosen, reader)
        _refuse_missing(item, chosen)
        return [chosen[m["name"]] for m in item.materials if m["name"] in chosen]

    async def _named_materials(self, citizen_id: str, item: ServiceItem,
                               given: list[MaterialGiven]) -> dict[str, dict[str, Any]]:
        """The materials the citizen named, by name: each an upload or one of their valid wallet licences."""
        specs = {m["name"]: m for m in item.materials}
        now = self.platform.clock.now()
        chosen: dict[str, dict[str, Any]] = {}
        for entry in given:
            spec = _spec_of(specs, entry, chosen)
            if entry.licence_id:
                chosen[entry.name] = await _named_licence(citizen_id, entry.name, entry.licence_id, spec, now)
            else:
                chosen[entry.name] = {"name": entry.name, "upload_ref": entry.upload_ref, "source": "upload"}
        return chosen

    async def _check_uploads(self, uploader_id: str, chosen: dict[str, dict[str, Any]], owner: UploadOwner) -> None:
        """Each named upload must be the uploader's own, unused or the owner's already (404 UPLOAD_NOT_FOUND, 409
        UPLOAD_IN_USE before anything is stored); its type and size are kept with the material."""
        named = [m for m in chosen.values() if m.get("source") == "upload"]
        if not named:
            return
        if self.uploads is None:  # nothing to check them against: no reference is taken on trust
            raise NotFound("UPLOAD_NOT_FOUND", extra={"upload_id": named[0]["upload_ref"]})
        infos = await self.uploads.usable(uploader_id, [m["upload_ref"] for m in named], owner.kind, owner.id)
        by_id = {info.id: info for info in infos}
        for material in named:
            info = by_id[material["upload_ref"]]
            material.update(content_type=info.content_type, size=info.size)

    async def _attach_uploads(self, uploader_id: str, application_id: str, materials: list[dict[str, Any]],
                              conn: BaseDBAsyncClient | None = None) -> None:
        """The named uploads now live with the application (they no longer expire)."""
        await self.attach_uploads(uploader_id, UploadOwner(APPLICATION, application_id), materials, conn)

    async def attach_uploads(self, uploader_id: str, owner: UploadOwner, materials: Sequence[dict[str, Any]],
                             conn: BaseDBAsyncClient | None = None) -> None:
        """The uploads the materials name now live with their owner (they no longer expire); in `conn`'s
        transaction when given, so the owner and its uploads are stored together or not at all."""
        ids = _upload_refs(materials)
        if ids and self.uploads is not None and owner.id is not None:
            await self.uploads.attach(uploader_id, ids, owner.kind, owner.id, using_db=conn)

    async def _attach_from_wallet(self, citizen_id: str, item: ServiceItem, chosen: dict[str, dict[str, Any]]) -> None:
        """For each material not named, a valid wallet licence of its type, attached by reference."""
        wallet = await self._valid_licences(citizen_id)
        for spec in item.materials:
            held = wallet.get(spec.get("licence_type") or "")
            if spec["name"] not in chosen and held is not None:
                chosen[spec["name"]] = _by_reference(spec["name"], held, "wallet")

    async def _attach_from_departments(self, citizen_id: str, item: ServiceItem, chosen: dict[str, dict[str, Any]],
                                       reader: Reader) -> None:
        """For each material still missing that a department holds, the material fetched from it."""
        for spec in item.materials:
            if spec["name"] not in chosen and spec.get("from_department"):
                chosen[spec["name"]] = await self._from_department(citizen_id, spec["name"], spec["from_department"],
                                                                   reader, required=spec.get("required", True))

    async def _valid_licences(self, citizen_id: str) -> dict[str, Licence]:
        """The citizen's licences valid now, one per type (the one valid longest)."""
        now, best = self.platform.clock.now(), dict[str, Licence]()
        for licence in await licences_of(citizen_id):
            if validity_of(licence, now) != "valid":
                continue
            current = best.get(licence.type_id)
            if current is None or (current.valid_until is not None and
                                   (licence.valid_until is None or licence.valid_until > current.valid_until)):
                best[licence.type_id] = licence
        return best

    async def _from_department(self, citizen_id: str, name: str, service: str, reader: Reader = OWN,
                               required: bool = True) -> dict[str, Any]:
        """A material fetched from a department (purpose material_prefill), kept by reference and digest with the
        reply encrypted; one the department could not give now is kept as not fetched. Its other errors (not
        authorised, no records) refuse the submission when the material is required; an optional one is kept as
        not fetched, naming the error."""
        if self.departments is None:
            raise AppError("DEPARTMENT_NOT_CONNECTED", status=503)
        where = self._department_of(service)
        try:
            reply = await self.departments.asker.ask(service, citizen_id, purpose="material_prefill", reader=reader)
        except AppError as error:
            if error.code != UNAVAILABLE and required:
                raise
            return {"name": name, "source": "department", **where, "fetched": False, "error": error.code}
        canonical = canonical_json(reply)
        digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        record = reply.get("record_no")
        return {"name": name, "source": "department", **where, "fetched": True,
                "record_number": record if isinstance(record, str) else None, "reply_sha256": digest,
                "fetched_at": rfc3339(self.platform.clock.now()), "sample": reply.get("sample") is True,
                "content_enc": self.platform.pii.encrypt(canonical, _material_context(citizen_id, digest))}

    def _department_of(self, service: str) -> dict[str, str]:
        """The department of a service id as registered on the exchange (its short code and name)."""
        exchange = self.departments.asker.exchange if self.departments is not None else None
        registration = exchange.registration(service) if exchange is not None else None
        code = registration.department if registration is not None and registration.department else \
            "/".join(service.split("/")[2:4])
        return {"department": code, "department_name": registration.name if registration is not None else "",
                "service": service}

    async def _department_answers(self, citizen_id: str, rules: dict[str, Any] | None,
                                  amount: int | None, reader: Reader = OWN) -> DepartmentAnswers:
        """Ask the departments the 秒批 rules read (purpose eligibility_check). A department error here never
        fails the submission: the rules it would have answered do not pass, and the gap is recorded."""
        checks: dict[str, dict[str, approval.Check]] = {}
        gaps: list[dict[str, Any]] = []
        for fact in _department_facts(rules):
            if self.departments is None:
                gaps.append({"fact": fact, "purpose": "eligibility_check", "error": "DEPARTMENT_NOT_CONNECTED"})
                continue
            try:
                answered = await self.departments.provident_fund.withdrawal_checks(
                    citizen_id, HPF_WITHDRAWAL_FACTS[fact], amount or 0, reader)
            except AppError as error:
                gaps.append({"fact": fact, "purpose": "eligibility_check", "error": error.code,
                             **self._department_of(HPF_WITHDRAWAL_ELIGIBILITY)})
                continue
            checks[fact] = {rule.code: approval.Check(rule.met, rule.text) for rule in answered}
        return DepartmentAnswers(checks, gaps)

    async def _facts(self, citizen: CitizenSnapshot, item: ServiceItem,
                     checks: dict[str, dict[str, approval.Check]] | None = None,
                     form: dict[str, Any] | None = None) -> approval.Facts:
        """Verified facts: the 实名 level, the birth date and region in the verified ID number, valid wallet
        licences, and our own records of earlier applications (rejected ones not counted); and the form as
        validated against the item's schema, what the citizen declared, with each field's title."""
        age = region = None
        born = document_birth_date(self.platform, citizen)
        if born is not None:
            age = approval.age_on(born, self.platform.clock.today())
        if citizen.id_number_enc and citizen.document_type == RESIDENT_ID:  # only a resident ID names a county
            region = self.platform.pii.decrypt(citizen.id_number_enc, "id_number")[:6]
        # Rejected and withdrawn ones do not count: withdrawing carries no penalty.
        prior = await Application.filter(citizen_id=citizen.id, item_id=item.id) \
            .exclude(status__in=("rejected", "withdrawn")).count()
        return approval.Facts(identity_level=citizen.level, age=age, region=region,
                              licences=frozenset(await self._valid_licences(citizen.id)), prior_applications=prior,
                              checks=checks or {}, form=form or {},
                              form_titles={name: str(spec.get("title") or name)
                                           for name, spec in declared_fields(item.form_schema).items()})

    async def _move(self, application: Application, move: Move, item: ServiceItem, *, actor: str, actor_type: str,
                    message: str | None = None, also: Callable[[BaseDBAsyncClient], Awaitable[None]] | None = None,
                    **changes: Any) -> Application:
        """One allowed state change, written only if nobody moved the application first; `also` writes what
        goes with it in the same transaction."""
        if move.to_status not in TRANSITIONS.get(move.from_status or "", ()):
            raise StateConflict(move.from_status, move.to_status)
        now = self.platform.clock.now()
        records = _audit_records(application.citizen_id, application.id, item, [move], actor=actor, actor_type=actor_type)
        async with in_transaction() as conn:
            moved = await Application.filter(id=application.id, status=move.from_status).using_db(conn).update(
                status=move.to_status, updated_at=now, **changes)
            if not moved:
                raise StateConflict(move.from_status, move.to_status)
            if also is not None:
                await also(conn)
            await ApplicationEvent.create(application_id=application.id, from_status=move.from_status,
                                          to_status=move.to_status, actor=actor, actor_type=actor_type,
                                          note=move.note, at=now, using_db=conn)
            stored = await self._store_message(conn, application, item, [move], message)
            pending = await audit.add_pending(conn, self.platform.clock, records)
        await self.after_commit(pending, records, [stored])
        return await Application.get(id=application.id)

    async def _store_message(self, conn: BaseDBAsyncClient, application: Application, item: ServiceItem,
                             moves: list[Move], kind: str | None = None) -> StoredMessage | None:
        """One inbox message, in the moves' transaction, for where the request left the application."""
        final = moves[-1]
        kind = kind or MESSAGE_FOR.get(final.to_status)
        if final.to_status == "completed" and any(m.to_status == "auto_approved" for m in moves):
            kind = "application_auto_approved"
        if not kind:
            return None
        return await store_message(conn, self.platform, application.citizen_id, kind,
                                   {"item": item.name, "number": application.id, "note": final.note or "-"})

    async def view(self, row: Application, *, with_events: bool = True, for_clerk: bool = False) -> ApplicationView:
        item = await ServiceItem.get(id=row.item_id)
        events = await ApplicationEvent.filter(application_id=row.id).order_by("id") if with_events else []
        name_masked = id_masked = None
        form: dict[str, Any] = {}
        if with_events:
            form = json.loads(self.platform.pii.decrypt(row.form_enc, f"application-form:{row.id}")) if row.form_enc else {}
        if for_clerk:
            citizen = await citizen_record(row.citizen_id)
            pii = self.platform.pii
            name_masked = mask_name(pii.decrypt(citizen.name_enc, "name")) if citizen.name_enc else None
            id_masked = masked_document_number(self.platform, citizen)
        materials = [self._material_out(row.citizen_id, m, for_clerk) for m in row.materials]
        return ApplicationView(
            id=row.id, item_id=row.item_id, item_name=item.name, department_id=item.department_id, status=row.status,
            decision=row.decision, materials=materials, form=form, assigned_to=row.assigned_to,
            created_at=row.created_at, updated_at=row.updated_at, events=list(events),
            citizen_name_masked=name_masked, citizen_id_number_masked=id_masked)


    def _material_out(self, citizen_id: str, material: dict[str, Any], for_clerk: bool) -> dict[str, Any]:
        """A material as shown: a department's reply only to the clerk, decrypted with numbers masked."""
        if "content_enc" not in material:
            return material
        shown = {k: v for k, v in material.items() if k != "content_enc"}
        if for_clerk:
            plain = self.platform.pii.decrypt(material["content_enc"], _material_context(citizen_id, material["reply_sha256"]))
            shown["content"] = _masked(json.loads(plain))
        return shown


# Numbers that identify the person or an account, wherever they are in a department's reply. (A "name" there
# names a scheme or a type, not the person: departments send no personal names.)
MASKED_KEYS = {"account_no": mask_id_number, "id_number": mask_id_number, "card_no": mask_id_number}


def _masked(value: Any) -> Any:
    """A department's reply as the clerk sees it: account, card and ID numbers masked at any depth."""
    if isinstance(value, dict):
        return {k: MASKED_KEYS[k](v) if k in MASKED_KEYS and isinstance(v, str) else _masked(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def _upload_refs(materials: Sequence[dict[str, Any]]) -> list[str]:
    """The uploads the materials name, each once, in order."""
    return list(dict.fromkeys(m["upload_ref"] for m in materials if m.get("source") == "upload"))


async def _upload_owner_of(row: Application) -> UploadOwner:
    """Who the application's uploads belong to: its joint application when it is a part of one, else itself."""
    joint_id = await JointPart.filter(application_id=row.id).values_list("joint_id", flat=True)
    return UploadOwner(JOINT, str(joint_id[0])) if joint_id else UploadOwner(APPLICATION, row.id)


def _material_context(citizen_id: str, digest: str) -> str:
    return f"department-material:{citizen_id}:{digest}"


def _is_department(material: dict[str, Any]) -> bool:
    return material.get("source") == "department"


def _material_gaps(materials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"material": m["name"], "purpose": "material_prefill", "error": m.get("error"), "service": m.get("service"),
             "department": m.get("department")} for m in materials if _is_department(m) and not m.get("fetched")]


def _department_facts(rules: dict[str, Any] | None) -> list[str]:
    """The department facts the rules read, each once, in the rules' order."""
    return list(dict.fromkeys(r["fact"] for r in (rules or {}).get("all", []) if r["fact"] in HPF_WITHDRAWAL_FACTS))


def _amount_for(rules: dict[str, Any] | None, form: dict[str, Any]) -> int | None:
    """The form's amount, when the rules ask a department about one: a whole number of fen above zero, else 422."""
    if not _department_facts(rules):
        return None
    amount = form.get(AMOUNT_FIELD)
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= MAX_AMOUNT_FEN:
        raise ValidationFailed([{"field": f"form.{AMOUNT_FIELD}", "problem": "the amount to withdraw, in fen (分), "
                                                                              "a whole number above zero"}])
    return amount


def _with_gaps(decision: dict[str, Any], gaps: list[dict[str, Any]]) -> dict[str, Any]:
    """No 秒批 when a department gave nothing: the decision says why, and which calls failed."""
    if not gaps:
        return decision
    down = all(g.get("error") == UNAVAILABLE for g in gaps)
    return {**decision, "auto_approved": False, "reason": "department_unavailable" if down else "department_not_verified",
            "department_gaps": gaps}


def _by_reference(name: str, licence: Licence, source: str) -> dict[str, Any]:
    return {"name": name, "licence_id": licence.id, "licence_type": licence.type_id, "source": source}


def _form_json(form: dict[str, Any]) -> str:
    text = json.dumps(form, ensure_ascii=False, sort_keys=True)
    if len(text.encode("utf-8")) > MAX_FORM_BYTES:
        raise AppError("APPLICATION_FORM_TOO_LARGE", status=422, params={"kb": MAX_FORM_BYTES // 1024})
    return text


def _stored_rules(item: ServiceItem) -> dict[str, Any] | None:
    """The item's rules; rules that no longer parse (edited by hand) approve nothing, so a clerk decides."""
    try:
        return approval.check_rules(item.approval_rules, item.form_schema)
    except AppError:
        return None


def _audit_records(citizen_id: str, application_id: str, item: ServiceItem, moves: list[Move], *, actor: str,
                   actor_type: str) -> list[audit.AuditRecord]:
    """One audit entry per move (the system's own moves, as 秒批, under the actor "system")."""
    return [audit.event(actor="system" if m.by_system else actor, actor_type="system" if m.by_system else actor_type,
                        action=f"application_{m.to_status}", subject_id=citizen_id,
                        attributes={"application_id": application_id, "item_id": item.id, "from": m.from_status,
                                    "to": m.to_status}) for m in moves]


def _spec_of(specs: dict[str, dict[str, Any]], entry: MaterialGiven,
             chosen: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The item's material a given one names; refused when the item has none of that name or it was given twice."""
    spec = specs.get(entry.name)
    if spec is None:
        raise AppError("MATERIAL_UNKNOWN", status=422, params={"name": echoed(entry.name)},
                       extra={"material": echoed(entry.name)})
    if entry.name in chosen:
        raise AppError("MATERIAL_DUPLICATE", status=422, params={"name": entry.name}, extra={"material": entry.name})
    return spec


async def _named_licence(citizen_id: str, name: str, licence_id: str, spec: dict[str, Any],
                         now: datetime) -> dict[str, Any]:
    """A wallet licence the citizen named for material `name`, by reference: theirs, of the type the material
    asks for, and valid now."""
    licence = await licence_of(citizen_id, licence_id)
    if licence is None:
        raise NotFound("LICENCE_NOT_FOUND")  # someone else's licence is not even confirmed to exist
    if spec.get("licence_type") and licence.type_id != spec["licence_type"]:
        raise AppError("MATERIAL_LICENCE_MISMATCH", status=422, params={"name": name},
                       extra={"material": name, "licence_type": spec["licence_type"]})
    if validity_of(licence, now) != "valid":
        raise AppError("LICENCE_NOT_VALID", status=422, extra={"material": name})
    return _by_reference(name, licence, "chosen")


def _refuse_missing(item: ServiceItem, chosen: dict[str, dict[str, Any]], but_from_departments: bool = False) -> None:
    """Refuse when a required material is neither given, in the wallet nor fetched, naming the missing ones
    (`but_from_departments`: those a department is still to be asked for are not missing yet)."""
    missing = [m["name"] for m in item.materials if m.get("required") and m["name"] not in chosen
               and not (but_from_departments and m.get("from_department"))]
    if missing:
        raise AppError("MATERIALS_MISSING", status=422, params={"names": "、".join(missing)}, extra={"missing": missing})


# -- export of the citizen's own data (个人信息副本) ------------------------------------------------
# This section's imports are kept here, with the section, so that it stands apart from the rest of the module.
from app.personal_data import Areas, Sealed, opened, record_of  # noqa: E402
from app.security.pii import PiiCipher  # noqa: E402
from app.services.applications.models import JointApplication  # noqa: E402


async def export_of(pii: PiiCipher, citizen_id: str) -> Areas:
    """Applications' part of the citizen's copy of their data: each application (办件) with its form and
    materials opened (a department's record fetched for it included), its history, and the joint
    applications (一件事联办) with their parts. Uploaded files themselves come from the uploads domain."""
    applications = await Application.filter(citizen_id=citizen_id).order_by("created_at")
    events = await ApplicationEvent.filter(application__citizen_id=citizen_id).order_by("at", "id")
    joints = await JointApplication.filter(citizen_id=citizen_id).order_by("created_at")
    parts = await JointPart.filter(joint__citizen_id=citizen_id).order_by("created_at", "id")
    return {
        "applications": [record_of(row, pii, sealed={"form_enc": Sealed("application-form:{id}", json=True)},
                                   materials=[_material_record(pii, citizen_id, m) for m in row.materials])
                         for row in applications],
        "application_events": [record_of(row, pii) for row in events],
        "joint_applications": [record_of(row, pii) for row in joints],
        "joint_application_parts": [record_of(row, pii) for row in parts],
    }


def _material_record(pii: PiiCipher, citizen_id: str, material: dict[str, Any]) -> dict[str, Any]:
    """A material as stored, a department record fetched for it opened (`content`)."""
    record = {name: value for name, value in material.items() if name != "content_enc"}
    if material.get("content_enc"):
        record["content"] = opened(pii, material["content_enc"],
                                   Sealed(_material_context(citizen_id, material.get("reply_sha256", "")), json=True))
    return record
