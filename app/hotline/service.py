"""12345 政务服务便民热线 tickets (工单): file, route, accept, answer, confirm or reopen, rate, escalate.

A citizen files a ticket in one of four categories (投诉 complaint, 建议 suggestion, 咨询 enquiry, 求助 help)
with a description, a location and optionally uploads. It goes to a department: the one of the catalogue item
the citizen names, else the department named, else the department the routing table gives the category
(`routing.py`). The department must accept (签收) it within `APP_HOTLINE_ACCEPT_DAYS` working days and
answer (答复) within `APP_HOTLINE_ANSWER_DAYS`, both counted from filing and shown to the citizen; a limit
missed is escalated (督办) by the scheduled job, once per limit.

The citizen confirms an answer (closing the ticket) or reopens it (the department answers again within the
answer limit), and rates a closed ticket (好差评, through the ratings domain): a bad rating reopens it too.

States: submitted -> accepted -> answered -> closed, answered -> reopened -> answered, closed -> reopened
(a bad rating). A citizen sees only their own tickets and a clerk only those routed to its department:
anyone else's answers 404, as an unknown one. Description, location and answer are encrypted at rest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from app import audit
from app.errors import AppError, Conflict, NotFound
from app.hotline.models import Ticket, TicketEvent
from app.hotline.routing import RoutingTable
from app.i18n import N_, translate
from app.ids import new_id
from app.notifications.service import store_message, send_stored
from app.platform import Platform
from app.security.clients import AuthenticatedClient
from app.services.ratings.service import RatedTicket, RatingService, TicketRating, is_bad
from app.uploads.service import TICKET, UploadService, UploadedFile
from app.working_days import parse_dates, working_days_after

CATEGORIES: dict[str, str] = {  # zh-Hans msgids
    "complaint": N_("投诉"),
    "suggestion": N_("建议"),
    "enquiry": N_("咨询"),
    "help": N_("求助"),
}
STATUS_TEXTS: dict[str, str] = {
    "submitted": N_("待受理"),
    "accepted": N_("办理中"),
    "answered": N_("已答复，待确认"),
    "reopened": N_("重新办理中"),
    "closed": N_("已办结"),
}
# The notes the service itself writes in a timeline (zh-Hans msgids); any other note is a person's own words.
REOPENED_BY_RATING, ANSWERED_LATE = N_("差评，工单重新办理"), N_("逾期答复")
ACCEPT_MISSED, ANSWER_MISSED = N_("超过受理时限，已督办"), N_("超过答复时限，已督办")
SERVICE_NOTES = frozenset({REOPENED_BY_RATING, ANSWERED_LATE, ACCEPT_MISSED, ANSWER_MISSED})
CLERK = "clerk"
OPEN_FOR_ANSWER = ("accepted", "reopened")
Step = Callable[[BaseDBAsyncClient], Awaitable[None]]  # more to write in a step's transaction
DESCRIPTION, LOCATION, ANSWER, WORDS = (  # cipher contexts
    "hotline_description", "hotline_location", "hotline_answer", "hotline_event_words")


class TicketStateConflict(Conflict):
    """409 TICKET_STATE_CONFLICT: the step is not allowed from the ticket's state (both in the envelope)."""

    code = "TICKET_STATE_CONFLICT"

    def __init__(self, status: str, refused: str) -> None:
        super().__init__(extra={"status": status, "refused": refused})


@dataclass(frozen=True)
class Location:
    """Where it happened: the address as written, and coordinates (WGS-84) if the phone gave them."""

    address: str
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True)
class TicketDraft:
    category: str
    description: str
    location: Location
    item_id: str | None = None
    department_id: str | None = None
    uploads: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TicketStep:
    """One step of a ticket's timeline as read back: the service's note (a msgid) and a person's words, decrypted
    (the department's answer of that round, the citizen's reason for reopening)."""

    action: str
    from_status: str | None
    to_status: str
    actor_type: str
    note: str
    words: str
    at: datetime


@dataclass(frozen=True)
class TicketView:
    """A ticket decrypted for its citizen or its department."""

    id: str
    citizen_id: str
    category: str
    description: str
    location: Location
    item_id: str | None
    department_id: str
    routed_by: str
    uploads: list[str]
    status: str
    answer_round: int
    accept_due: datetime
    answer_due: datetime
    escalated: bool
    answer: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    events: list[TicketStep] = field(default_factory=list)
    ratings: list[TicketRating] = field(default_factory=list)


def category_text(category: str, language: str) -> str:
    return translate(CATEGORIES[category], language) if category in CATEGORIES else category


def note_text(note: str, language: str) -> str:
    """A timeline note in `language` when the service wrote it; a citizen's reason stays as written."""
    return translate(note, language) if note in SERVICE_NOTES else note


def status_text(status: str, language: str) -> str:
    return translate(STATUS_TEXTS[status], language) if status in STATUS_TEXTS else status


AWAITING_DEPARTMENT = ("submitted", "accepted", "reopened")  # a department is still to answer these


class HotlineService:
    def __init__(self, platform: Platform, routing: RoutingTable, ratings: RatingService,
                 uploads: UploadService) -> None:
        self.platform, self.routing, self.ratings, self.uploads = platform, routing, ratings, uploads
        settings = platform.settings.hotline
        self.accept_days, self.answer_days = settings.accept_days, settings.answer_days
        self.holidays, self.workdays = parse_dates(settings.holidays), parse_dates(settings.workdays)

    # -- the citizen ---------------------------------------------------------------------------
    async def submit(self, citizen_id: str, key: str, draft: TicketDraft) -> tuple[TicketView, bool]:
        """File a ticket: routed, its deadlines set, its uploads attached, in the timeline and the audit; (view,
        replayed). Filing is idempotent: `key` (the Idempotency-Key) with the same draft again returns the ticket
        it filed (replayed True), with another draft is 409 IDEMPOTENCY_KEY_REUSED, and two sent at once file one
        (the (citizen, key) pair is unique in the table). An upload that is not the citizen's own and unused is
        404 UPLOAD_NOT_FOUND (409 UPLOAD_IN_USE if used elsewhere), and then nothing is stored."""
        fingerprint = draft_hash(draft)
        earlier = await Ticket.get_or_none(citizen_id=citizen_id, idempotency_key=key)
        if earlier is not None:
            return await self._replay(earlier, fingerprint), True
        route = await self.routing.route(draft.category, draft.item_id, draft.department_id)
        now = self.platform.clock.now()
        ticket = Ticket(
            id=new_id("tk"), citizen_id=citizen_id, idempotency_key=key, request_hash=fingerprint,
            category=draft.category, description_enc=self._seal(draft.description, DESCRIPTION),
            location_enc=self._seal_location(draft.location), item_id=draft.item_id,
            department_id=route.department_id, routed_by=route.by, uploads=list(draft.uploads),
            accept_due=self._due(now, self.accept_days), answer_due=self._due(now, self.answer_days),
            created_at=now, updated_at=now)
        records = [self._audit(citizen_id, "citizen", "hotline_ticket_submitted", ticket,
                               category=draft.category, routed_by=route.by)]
        try:
            async with in_transaction() as conn:
                await ticket.save(using_db=conn)
                if draft.uploads:
                    await self._attach(conn, citizen_id, ticket.id, draft.uploads)
                await self._event(conn, ticket, "submitted", None, citizen_id, "citizen", "")
                pending = await audit.add_pending(conn, self.platform.clock, records)
        except IntegrityError:
            # The same key arrived twice at once: the unique (citizen, key) pair let one through.
            earlier = await Ticket.get_or_none(citizen_id=citizen_id, idempotency_key=key)
            if earlier is None:  # another constraint refused it: not a retry
                raise
            return await self._replay(earlier, fingerprint), True
        await audit.record_pending(self.platform.clock, pending, records)
        return await self._view(ticket, with_history=True), False

    async def _replay(self, earlier: Ticket, fingerprint: str) -> TicketView:
        if earlier.request_hash != fingerprint:
            raise Conflict("IDEMPOTENCY_KEY_REUSED", message_key="TICKET_IDEMPOTENCY_KEY_REUSED",
                           extra={"ticket_id": earlier.id})
        return await self._view(earlier, with_history=True)

    # -- account deletion (注销) ----------------------------------------------------------------------
    async def deletion_blockers(self, citizen_id: str) -> list[dict[str, str]]:
        """Tickets a department is still to answer: the account cannot be erased under them (their answer
        would reach nobody). Answered and closed ones stay, as the department's records."""
        waiting = await Ticket.filter(citizen_id=citizen_id, status__in=AWAITING_DEPARTMENT).values_list("id", flat=True)
        return [{"kind": "ticket", "id": str(i)} for i in waiting]

    async def mine(self, citizen_id: str, limit: int = 50) -> list[TicketView]:
        rows = await Ticket.filter(citizen_id=citizen_id).order_by("-created_at", "-id").limit(limit)
        return [await self._view(row) for row in rows]

    async def one_of_mine(self, citizen_id: str, ticket_id: str) -> TicketView:
        return await self._view(await self._of_citizen(citizen_id, ticket_id), with_history=True)

    async def confirm(self, citizen_id: str, ticket_id: str) -> TicketView:
        """The citizen accepts the answer: the ticket is closed (办结) and may be rated."""
        ticket = await self._of_citizen(citizen_id, ticket_id)
        await self._move(ticket, ("answered",), "closed", "confirmed", citizen_id, "citizen", closed=True)
        return await self._view(ticket, with_history=True)

    async def reopen(self, citizen_id: str, ticket_id: str, reason: str) -> TicketView:
        """The citizen is not satisfied with the answer: the department answers again within the answer limit."""
        ticket = await self._of_citizen(citizen_id, ticket_id)
        await self._reopen(ticket, ("answered",), citizen_id, "citizen", "", message=None, words=reason)
        return await self._view(ticket, with_history=True)

    async def rate(self, citizen_id: str, ticket_id: str, score: int, tags: list[str], text: str) -> TicketRating:
        """好差评 of a closed ticket's answer, once per answer; a bad one (2 or less) reopens the ticket."""
        ticket = await self._of_citizen(citizen_id, ticket_id)
        if ticket.status != "closed":
            raise TicketStateConflict(ticket.status, "rated")
        rated = RatedTicket(ticket.id, ticket.citizen_id, ticket.department_id, ticket.answer_round)
        stored: list[TicketRating] = []

        async def store(conn: BaseDBAsyncClient) -> None:
            stored.append(await self.ratings.rate_ticket(conn, rated, score, tags, text))
            await self._event(conn, ticket, "rated", ticket.status, citizen_id, "citizen", "")

        records = [self._audit(citizen_id, "citizen", "hotline_ticket_rated", ticket, score=score)]
        if is_bad(score):  # 差评: back to the department, in the transaction that keeps the rating
            await self._reopen(ticket, ("closed",), "system", "system", REOPENED_BY_RATING,
                               message="hotline_ticket_reopened_by_rating", first=store, earlier=records)
        else:
            async with in_transaction() as conn:
                await store(conn)
                pending = await audit.add_pending(conn, self.platform.clock, records)
            await audit.record_pending(self.platform.clock, pending, records)
        return stored[0]

    # -- the department ------------------------------------------------------------------------
    async def queue(self, clerk: AuthenticatedClient, status: str | None, limit: int = 50) -> list[TicketView]:
        """The tickets routed to the clerk's department, earliest answer deadline first."""
        query = Ticket.filter(department_id=clerk.own_department())
        if status:
            query = query.filter(status=status)
        rows = await query.order_by("answer_due", "id").limit(limit)
        return [await self._view(row) for row in rows]

    async def open_for_clerk(self, clerk: AuthenticatedClient, ticket_id: str) -> TicketView:
        """A clerk reads the whole ticket: the citizen sees that read in their access log."""
        return await self._shown_to_clerk(clerk, await self._of_department(clerk, ticket_id))

    async def _shown_to_clerk(self, clerk: AuthenticatedClient, ticket: Ticket) -> TicketView:
        """The whole ticket as a clerk sees it (description, location, timeline): the citizen sees that read."""
        await audit.record_access(self.platform.clock, citizen_id=ticket.citizen_id, actor=clerk.name,
                                  actor_type="admin", action="hotline_ticket_read",
                                  attributes=["description", "location", "uploads"], purpose=f"12345 工单办理 {ticket.id}")
        return await self._view(ticket, with_history=True)

    async def upload_for_clerk(self, clerk: AuthenticatedClient, ticket_id: str, upload_id: str) -> UploadedFile:
        """An upload attached to a ticket of the clerk's department, decrypted; the citizen sees the view."""
        ticket = await self._of_department(clerk, ticket_id)
        return await self.uploads.read_for_clerk(upload_id, clerk, owner_kind=TICKET, owner_id=ticket.id,
                                                 purpose=f"12345 工单办理 {ticket.id}")

    async def accept(self, clerk: AuthenticatedClient, ticket_id: str) -> TicketView:
        """签收: the department takes the ticket on."""
        ticket = await self._of_department(clerk, ticket_id)
        await self._move(ticket, ("submitted",), "accepted", "accepted", clerk.id, "admin",
                         message="hotline_ticket_accepted")
        return await self._shown_to_clerk(clerk, ticket)

    async def answer(self, clerk: AuthenticatedClient, ticket_id: str, answer: str) -> TicketView:
        """答复: the department answers (a late answer is accepted, and stays visible as late)."""
        ticket = await self._of_department(clerk, ticket_id)
        late = self.platform.clock.now() > ticket.answer_due
        await self._move(ticket, OPEN_FOR_ANSWER, "answered", "answered", clerk.id, "admin",
                         note=ANSWERED_LATE if late else "", words=answer, message="hotline_ticket_answered",
                         answer_enc=self._seal(answer, ANSWER))
        return await self._shown_to_clerk(clerk, ticket)

    # -- the escalation job --------------------------------------------------------------------
    async def escalate_overdue(self, limit: int = 500) -> int:
        """督办: mark each ticket past a limit escalated, once per limit missed; how many were. The citizen is told
        in the inbox; the department sees it where it works its tickets, its queue (`escalated`) and the ticket's
        timeline: the platform has no channel of its own to a department (notifications reach citizens only)."""
        now = self.platform.clock.now()
        late_accepting = Ticket.filter(status="submitted", accept_due__lte=now, escalated_for__isnull=True)
        # Not yet escalated for the answer limit now running: escalated before it ran out (for the acceptance, or
        # an earlier round's limit, which a reopening moved on), or never.
        late_answering = Ticket.filter(Q(escalated_at__isnull=True) | Q(escalated_at__lt=F("answer_due")),
                                       status__in=["submitted", *OPEN_FOR_ANSWER], answer_due__lte=now)
        done = 0
        for ticket in [*await late_answering.order_by("answer_due").limit(limit),
                       *await late_accepting.order_by("accept_due").limit(limit)]:
            missed = "accept" if now < ticket.answer_due else f"answer-{ticket.answer_round}"
            done += await self._escalate(ticket, missed)
        return done

    async def _escalate(self, ticket: Ticket, missed: str) -> int:
        if ticket.escalated_for == missed:
            return 0
        now = self.platform.clock.now()
        records = [self._audit("system", "system", "hotline_ticket_escalated", ticket, missed=missed)]
        async with in_transaction() as conn:
            changed = await Ticket.filter(id=ticket.id, status=ticket.status, escalated_for=ticket.escalated_for) \
                .using_db(conn).update(escalated_for=missed, escalated_at=now)
            if not changed:
                return 0  # the department acted meanwhile, or another run took it
            note = ACCEPT_MISSED if missed == "accept" else ANSWER_MISSED
            await self._event(conn, ticket, "escalated", ticket.status, "system", "system", note)
            pending = await audit.add_pending(conn, self.platform.clock, records)
            stored = await store_message(conn, self.platform, ticket.citizen_id, "hotline_ticket_escalated",
                                         {"number": ticket.id})
        await audit.record_pending(self.platform.clock, pending, records)
        await send_stored(self.platform, stored)
        return 1

    # -- internals -----------------------------------------------------------------------------
    async def _of_citizen(self, citizen_id: str, ticket_id: str) -> Ticket:
        ticket = await Ticket.get_or_none(id=ticket_id, citizen_id=citizen_id)
        if ticket is None:
            raise NotFound("TICKET_NOT_FOUND")
        return ticket

    async def _of_department(self, clerk: AuthenticatedClient, ticket_id: str) -> Ticket:
        ticket = await Ticket.get_or_none(id=ticket_id, department_id=clerk.own_department())
        if ticket is None:
            raise NotFound("TICKET_NOT_FOUND")
        return ticket

    async def _attach(self, conn: BaseDBAsyncClient, citizen_id: str, ticket_id: str, upload_ids: list[str]) -> None:
        """The uploads now live with the ticket. A refusal names the field (`uploads.N`), not the id sent: the
        reply to a guess at another citizen's upload repeats nothing of it."""
        try:
            await self.uploads.attach(citizen_id, upload_ids, TICKET, ticket_id, using_db=conn)
        except AppError as refused:
            sent = refused.extra.pop("upload_id", None)
            if sent in upload_ids:
                refused.extra["field"] = f"uploads.{upload_ids.index(sent)}"
            raise

    async def _reopen(self, ticket: Ticket, allowed: tuple[str, ...], actor: str, actor_type: str, note: str,
                      message: str | None, **step: Any) -> None:
        """Back to the department for another answer, due `answer_days` working days from now."""
        now = self.platform.clock.now()
        await self._move(ticket, allowed, "reopened", "reopened", actor, actor_type, note=note, message=message,
                         **step, answer_round=ticket.answer_round + 1, closed_at=None, answer_enc="",
                         answer_due=self._due(now, self.answer_days))

    async def _move(self, ticket: Ticket, allowed: tuple[str, ...], to: str, action: str, actor: str,
                    actor_type: str, *, note: str = "", words: str = "", message: str | None = None,
                    closed: bool = False, first: Step | None = None, earlier: Sequence[audit.AuditRecord] = (),
                    **changes: Any) -> None:
        """One step from one of the `allowed` states to `to`, in the timeline, the audit and (with `message`) the
        citizen's inbox, all in one transaction, after what `first` writes in it (with its `earlier` audit
        records); 409 when the ticket is in another state (also when a concurrent step moved it first)."""
        if ticket.status not in allowed:
            raise TicketStateConflict(ticket.status, to)
        now = self.platform.clock.now()
        changes.update(status=to, updated_at=now, **({"closed_at": now} if closed else {}))
        records = [*earlier, self._audit(actor, actor_type, f"hotline_ticket_{action}", ticket, to=to)]
        async with in_transaction() as conn:
            if not await Ticket.filter(id=ticket.id, status=ticket.status).using_db(conn).update(**changes):
                raise TicketStateConflict((await Ticket.get(id=ticket.id, using_db=conn)).status, to)
            if first is not None:
                await first(conn)
            from_status = ticket.status
            ticket.update_from_dict(changes)
            await self._event(conn, ticket, action, from_status, actor, actor_type, note, words)
            pending = await audit.add_pending(conn, self.platform.clock, records)
            stored = await store_message(conn, self.platform, ticket.citizen_id, message,
                                         {"number": ticket.id}) if message else None
        await audit.record_pending(self.platform.clock, pending, records)
        if stored is not None:
            await send_stored(self.platform, stored)

    async def _event(self, conn: BaseDBAsyncClient, ticket: Ticket, action: str, from_status: str | None, actor: str,
                     actor_type: str, note: str, words: str = "") -> None:
        await TicketEvent.create(ticket_id=ticket.id, action=action, from_status=from_status, to_status=ticket.status,
                                 actor=actor, actor_type=actor_type, note=note,
                                 words_enc=self._seal(words, WORDS) if words else "", at=self.platform.clock.now(),
                                 using_db=conn)

    @staticmethod
    def _audit(actor: str, actor_type: str, action: str, ticket: Ticket, **attributes: Any) -> audit.AuditRecord:
        return audit.event(actor=actor, actor_type=actor_type, action=action, subject_id=ticket.citizen_id,
                           attributes={"ticket_id": ticket.id, "department_id": ticket.department_id, **attributes})

    def _due(self, start: datetime, days: int) -> datetime:
        """The end of the `days`-th working day after the day of `start` (weekends and holidays skipped, make-up
        working days counted)."""
        return working_days_after(start, days, self.holidays, self.workdays)

    def _seal(self, text: str, context: str) -> str:
        return self.platform.pii.encrypt(text, context)

    def _seal_location(self, location: Location) -> str:
        return self._seal(json.dumps({"address": location.address, "latitude": location.latitude,
                                      "longitude": location.longitude}, ensure_ascii=False), LOCATION)

    async def _view(self, ticket: Ticket, *, with_history: bool = False) -> TicketView:
        place = json.loads(self.platform.pii.decrypt(ticket.location_enc, LOCATION))
        events = await TicketEvent.filter(ticket_id=ticket.id).order_by("at", "id") if with_history else []
        ratings = await self.ratings.ticket_ratings(ticket.id) if with_history else []
        return TicketView(
            id=ticket.id, citizen_id=ticket.citizen_id, category=ticket.category,
            description=self.platform.pii.decrypt(ticket.description_enc, DESCRIPTION),
            location=Location(place["address"], place["latitude"], place["longitude"]), item_id=ticket.item_id,
            department_id=ticket.department_id, routed_by=ticket.routed_by, uploads=list(ticket.uploads),
            status=ticket.status, answer_round=ticket.answer_round, accept_due=ticket.accept_due,
            answer_due=ticket.answer_due, escalated=escalated_now(ticket),
            answer=self.platform.pii.decrypt(ticket.answer_enc, ANSWER) if ticket.answer_enc else "",
            created_at=ticket.created_at, updated_at=ticket.updated_at, closed_at=ticket.closed_at,
            events=[self._step(e) for e in events], ratings=list(ratings))

    def _step(self, event: TicketEvent) -> TicketStep:
        words = self.platform.pii.decrypt(event.words_enc, WORDS) if event.words_enc else ""
        return TicketStep(event.action, event.from_status, event.to_status, event.actor_type, event.note, words,
                          event.at)


def draft_hash(draft: TicketDraft) -> str:
    """A fingerprint of what was filed, so a retry under the same key can be told from a new ticket."""
    text = json.dumps(asdict(draft), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def escalated_now(ticket: Ticket) -> bool:
    """The limit now running was missed and escalated (督办): the acceptance limit while the ticket waits to be
    accepted, else the answer limit of the current round (which stays shown once answered late, until a reopening
    starts a round with a limit of its own). An acceptance escalated and then done no longer counts."""
    if ticket.escalated_for == f"answer-{ticket.answer_round}":
        return True
    return ticket.escalated_for == "accept" and ticket.status == "submitted"


# -- export of the citizen's own data (个人信息副本) ------------------------------------------------
# This section's imports are kept here, with the section, so that it stands apart from the rest of the module.
from app.personal_data import Areas, Sealed, record_of  # noqa: E402
from app.security.pii import PiiCipher  # noqa: E402


async def export_of(pii: PiiCipher, citizen_id: str) -> Areas:
    """The hotline's part of the citizen's copy of their data: their 12345 tickets (工单) with what they wrote,
    where, and the department's answer, and each step of every ticket."""
    sealed = {"description_enc": Sealed(DESCRIPTION), "location_enc": Sealed(LOCATION, json=True),
              "answer_enc": Sealed(ANSWER)}
    tickets = await Ticket.filter(citizen_id=citizen_id).order_by("created_at")
    events = await TicketEvent.filter(ticket__citizen_id=citizen_id).order_by("at", "id")
    return {
        "hotline_tickets": [record_of(row, pii, sealed=sealed) for row in tickets],
        "hotline_ticket_events": [record_of(row, pii, sealed={"words_enc": Sealed(WORDS)}) for row in events],
    }
