"""好差评: the citizen rates a completed application once; bad ratings become follow-up cases.

A score of 2 or less opens a `FollowUpCase` for the item's department, due
`APP_RATING_FOLLOW_UP_DAYS` days later (7 by default). A case still open after its deadline is
shown as overdue (computed when read, so no job has to flip it). Statistics per item and per
department are for admins; the public summary per item shows numbers only, never texts.

A 12345 ticket (工单) is rated through `rate_ticket`, once per answer: the hotline domain says the ticket is
closed and whose it is, and sends a ticket rated badly back to its department (reopened, with a new answer
deadline), as a bad rating of an application opens a follow-up case.

A clerk sees and answers its own department's cases and statistics only (another department's
case is not found, as an unknown one); a catalogue administrator sees every department's numbers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.functions import Count
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from app import audit
from app.errors import Conflict, NotFound
from app.ids import new_id
from app.notifications.service import notify
from app.platform import Platform
from app.security.clients import AuthenticatedClient
from app.services.applications.service import Application, department_scope
from app.services.catalogue.service import ServiceItem
from app.services.ratings.models import FollowUpCase as FollowUpCase, Rating as Rating
from app.services.ratings.models import TicketRating as TicketRating

BAD_SCORE = 2  # this or lower opens a follow-up case
GOOD_SCORE = 4  # this or higher counts as 好评


@dataclass(frozen=True)
class RatingStats:
    count: int
    average: float | None
    good_rate: float | None  # share of ratings 4 or 5
    distribution: dict[str, int]
    top_tags: list[dict[str, Any]] = field(default_factory=list)
    bad_count: int = 0
    cases: dict[str, int] = field(default_factory=dict)  # open, overdue, answered


@dataclass(frozen=True)
class RatedTicket:
    """What rating a 12345 ticket needs of it."""

    id: str
    citizen_id: str
    department_id: str
    answer_round: int


def is_bad(score: int) -> bool:
    """差评: a score that sends the work back (a follow-up case, a reopened ticket)."""
    return score <= BAD_SCORE


def case_state(case: FollowUpCase, now: datetime) -> str:
    """open, overdue (open past its deadline), answered, or closed (its citizen's account was erased)."""
    if case.status == "open" and now >= case.deadline:
        return "overdue"
    return case.status


class RatingService:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.follow_up_days = platform.settings.ratings.follow_up_days

    async def rate(self, citizen_id: str, application_id: str, score: int, tags: list[str], text: str) -> Rating:
        """Rate one's own completed application, once (a second time is 409 RATING_EXISTS)."""
        application = await Application.get_or_none(id=application_id, citizen_id=citizen_id)
        if application is None:
            raise NotFound("APPLICATION_NOT_FOUND")
        if application.status != "completed":
            raise Conflict("RATING_NOT_YET_ALLOWED", extra={"status": application.status})
        if await Rating.filter(application_id=application.id).exists():
            raise Conflict("RATING_EXISTS")
        item = await ServiceItem.get(id=application.item_id)
        now = self.platform.clock.now()
        case = None
        try:
            async with in_transaction() as conn:
                rating = await Rating.create(
                    id=new_id("rt"), application_id=application.id, citizen_id=citizen_id, item_id=item.id,
                    department_id=item.department_id, score=score, tags=tags, text=text, created_at=now, using_db=conn)
                records = [audit.event(actor=citizen_id, actor_type="citizen", action="application_rated",
                                       subject_id=citizen_id,
                                       attributes={"application_id": application.id, "item_id": item.id, "score": score})]
                if score <= BAD_SCORE:
                    case = await FollowUpCase.create(
                        id=new_id("fu"), rating_id=rating.id, department_id=item.department_id,
                        deadline=now + timedelta(days=self.follow_up_days), created_at=now, using_db=conn)
                    records.append(audit.event(actor="system", actor_type="system", action="follow_up_case_opened",
                                               subject_id=citizen_id, attributes={"case_id": case.id,
                                                                                  "department_id": case.department_id}))
                pending = await audit.add_pending(conn, self.platform.clock, records)
        except IntegrityError:
            raise Conflict("RATING_EXISTS") from None  # the same rating sent twice at once
        await audit.record_pending(self.platform.clock, pending, records)
        if case is not None:
            await notify(self.platform, citizen_id, "rating_follow_up",
                         {"item": item.name, "days": self.follow_up_days})
        return rating

    async def rate_ticket(self, conn: BaseDBAsyncClient, ticket: RatedTicket, score: int, tags: list[str],
                          text: str) -> TicketRating:
        """Rate the current answer of a closed 12345 ticket, in the caller's transaction `conn` (a second rating
        of the same answer is 409 RATING_EXISTS). Whether it was bad is `is_bad(score)`: the caller reopens."""
        if await TicketRating.filter(ticket_id=ticket.id, answer_round=ticket.answer_round).using_db(conn).exists():
            raise Conflict("RATING_EXISTS")
        try:
            return await TicketRating.create(
                id=new_id("rt"), ticket_id=ticket.id, answer_round=ticket.answer_round, citizen_id=ticket.citizen_id,
                department_id=ticket.department_id, score=score, tags=tags, text=text,
                created_at=self.platform.clock.now(), using_db=conn)
        except IntegrityError:
            raise Conflict("RATING_EXISTS") from None  # the same rating sent twice at once

    async def ticket_ratings(self, ticket_id: str) -> list[TicketRating]:
        """The ratings of a ticket, one per answer rated, oldest first."""
        return await TicketRating.filter(ticket_id=ticket_id).order_by("answer_round")

    async def rating_of(self, citizen_id: str, application_id: str) -> Rating | None:
        return await Rating.get_or_none(application_id=application_id, citizen_id=citizen_id)

    async def stats(self, admin: AuthenticatedClient, *, item_id: str | None = None,
                    department_id: str | None = None) -> RatingStats:
        """Numbers for admins: count, average, 好评率, distribution, frequent tags, follow-up cases; of one item,
        one department or all, within what `admin` may see (a clerk: its department; another department's
        item or name counts nothing, as an unknown one)."""
        where = {"item_id": item_id} if item_id else {"department_id": department_id} if department_id else {}
        ratings = Rating.filter(**where)
        cases = FollowUpCase.filter(rating__item_id=item_id) if item_id else FollowUpCase.filter(**where)
        within = department_scope(admin)
        if within is not None:
            ratings, cases = ratings.filter(department_id=within), cases.filter(department_id=within)
        summary = await self.summary(ratings)
        tags: Counter[str] = Counter()
        for row_tags in await ratings.values_list("tags", flat=True):
            tags.update(row_tags or [])
        now = self.platform.clock.now()
        states = Counter(case_state(c, now) for c in await cases)
        return RatingStats(
            count=summary.count, average=summary.average, good_rate=summary.good_rate,
            distribution=summary.distribution, top_tags=[{"tag": t, "count": n} for t, n in tags.most_common(10)],
            bad_count=sum(n for s, n in summary.distribution.items() if int(s) <= BAD_SCORE),
            cases={s: states.get(s, 0) for s in ("open", "overdue", "answered")})

    async def summary(self, ratings: QuerySet[Rating]) -> RatingStats:
        """Count, average, 好评率 and distribution of the ratings `ratings` selects."""
        rows = await ratings.group_by("score").annotate(n=Count("id")).values("score", "n")
        distribution = {str(s): 0 for s in range(1, 6)}
        for row in rows:
            distribution[str(row["score"])] = row["n"]
        count = sum(distribution.values())
        if not count:
            return RatingStats(0, None, None, distribution)
        total = sum(int(s) * n for s, n in distribution.items())
        good = sum(n for s, n in distribution.items() if int(s) >= GOOD_SCORE)
        return RatingStats(count, round(total / count, 2), round(good / count, 4), distribution)

    async def public_summary(self, item_id: str) -> RatingStats:
        """What anyone may see of a published item's ratings: numbers, no texts."""
        if not await ServiceItem.filter(id=item_id, status="published").exists():
            raise NotFound("APPLICATION_ITEM_NOT_FOUND")
        return await self.summary(Rating.filter(item_id=item_id))

    # -- account deletion (注销) ----------------------------------------------------------------------
    async def erase_citizen(self, citizen_id: str) -> int:
        """The account is erased: its ratings stay (the department's records, under the opaque id), but a
        follow-up case still open is closed (status closed, no answer): an answer would reach nobody. Returns
        how many were closed."""
        return await FollowUpCase.filter(rating__citizen_id=citizen_id, status="open").update(
            status="closed", closed_at=self.platform.clock.now())

    # -- follow-up cases -----------------------------------------------------------------------
    async def cases(self, clerk: AuthenticatedClient, department_id: str | None, state: str | None,
                    limit: int = 50) -> list[FollowUpCase]:
        """The follow-up cases of the clerk's department, earliest deadline first (naming another department
        finds none)."""
        query = FollowUpCase.filter(department_id=clerk.own_department())
        if department_id:
            query = query.filter(department_id=department_id)
        now = self.platform.clock.now()
        if state == "answered":
            query = query.filter(status="answered")
        elif state == "open":
            query = query.filter(status="open", deadline__gt=now)
        elif state == "overdue":
            query = query.filter(status="open", deadline__lte=now)
        return await query.order_by("deadline", "id").limit(limit).prefetch_related("rating")

    async def answer_case(self, clerk: AuthenticatedClient, case_id: str, answer: str) -> FollowUpCase:
        """The department answers the citizen's bad rating (late answers are accepted, and stay visible as late).
        Another department's case is not found, as an unknown one."""
        case = await FollowUpCase.get_or_none(id=case_id, department_id=clerk.own_department())
        if case is None:
            raise NotFound("FOLLOW_UP_NOT_FOUND")
        now = self.platform.clock.now()
        closed = await FollowUpCase.filter(id=case.id, status="open").update(status="answered", answer=answer,
                                                                            closed_at=now)
        if not closed:
            raise Conflict("FOLLOW_UP_CLOSED")
        rating = await Rating.get(id=case.rating_id)
        item = await ServiceItem.get(id=rating.item_id)
        await audit.record_event(self.platform.clock, actor=clerk.id, actor_type="admin", action="follow_up_case_answered",
                                 subject_id=rating.citizen_id,
                                 attributes={"case_id": case.id, "late": now > case.deadline})
        await notify(self.platform, rating.citizen_id, "rating_follow_up_answered", {"item": item.name, "answer": answer})
        return await FollowUpCase.get(id=case.id)


# -- export of the citizen's own data (个人信息副本) ------------------------------------------------
# This section's imports are kept here, with the section, so that it stands apart from the rest of the module.
from app.personal_data import Areas, record_of  # noqa: E402
from app.security.pii import PiiCipher  # noqa: E402


async def export_of(pii: PiiCipher, citizen_id: str) -> Areas:
    """Ratings' part of the citizen's copy of their data: their 好差评 of applications, with the department's
    follow-up of a bad one, and of 12345 answers."""
    ratings = await Rating.filter(citizen_id=citizen_id).order_by("created_at")
    cases = await FollowUpCase.filter(rating__citizen_id=citizen_id).order_by("created_at")
    return {
        "ratings": [record_of(row, pii) for row in ratings],
        "rating_follow_ups": [record_of(row, pii) for row in cases],
        "ticket_ratings": [record_of(row, pii) for row in
                           await TicketRating.filter(citizen_id=citizen_id).order_by("created_at")],
    }
