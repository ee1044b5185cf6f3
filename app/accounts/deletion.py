"""Account deletion (注销): a request, a cooling-off period the citizen may cancel, then the erasure.

During the cooling-off period the account works as before: the citizen can still sign in, finish what is in
progress, pay, download receipts and export their data. A request is refused (409 DELETION_BLOCKED, each
blocker named) while something is in progress: a payment in flight, a refund pending, an application a
department is still working on, a 12345 ticket it is still to answer. Once asked, nobody acts for the citizen
(亲友代办 stops). At the end of the period the erasure waits only for money in flight (a payment open at the
provider, a refund not settled: both end by themselves or by the provider's answer); an application or ticket
still open then stays with its department as its record, and nothing else can hold the erasure up.

The erasure asks every domain to erase the citizen through its own `erase_citizen` (wired by the composition
root, `erasers`): each erases or anonymises what it holds and keeps what the law requires, detached from the
person. Then the sessions, face checks and the account's own personal data go; the citizen row stays as an
empty tombstone (no phone, name or ID number, nor their lookup hashes) because kept records (payments,
receipts, applications a department holds, the audit chain) refer to its opaque id. The same phone number
signs in to a new account afterwards. Erasing twice changes nothing."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Awaitable, Callable, Protocol

from tortoise.expressions import Q

from app import audit
from app.accounts.models import AccountDeletion, Citizen, FaceSession, LoginSession, RefreshToken
from app.accounts.documents import RESIDENT_ID
from app.accounts.keys import session_key, unlinked_phone_hash
from app.clock import CHINA_TZ
from app.db import column
from app.errors import Conflict, NotFound
from app.notifications.service import notify
from app.platform import Platform

log = logging.getLogger("app.accounts.deletion")

COOLING_OFF, CANCELLED, ERASING, ERASED = "cooling_off", "cancelled", "erasing", "erased"
CLAIM_STALE_AFTER = timedelta(minutes=30)  # a claim older than this belongs to a run that stopped: taken up again
WAITING = "waiting"  # shown, not stored: cooling_off past its period, the erasure waiting for money in flight
PENDING = (COOLING_OFF, ERASING)  # a request not yet carried out: asking again answers it as it stands
Blocker = dict[str, str]  # {"kind": "payment" | "refund" | "application" | "ticket", "id": ...}
BlockerCheck = Callable[[str], Awaitable[list[Blocker]]]
Eraser = Callable[[str], Awaitable[object]]


@dataclass(frozen=True)
class DeletionState:
    """Where a citizen's deletion request stands; status "none" when there is none."""

    status: str
    requested_at: datetime | None = None
    erase_after: datetime | None = None
    cancelled_at: datetime | None = None
    blockers: tuple[Blocker, ...] = ()  # what the erasure waits for (status "waiting")


class DeletionBlocked(Conflict):
    code = "DELETION_BLOCKED"

    def __init__(self, blockers: list[Blocker]) -> None:
        super().__init__(params={"count": len(blockers)}, extra={"blockers": blockers})


class AccountsForDeletion(Protocol):
    """What deletion needs of the account service: a fresh SMS code on this session (step-up) before a request,
    and the cached citizen forgotten at the erasure."""

    async def require_fresh_step_up(self, citizen_id: str, session_id: str) -> None: ...

    async def forget_citizen(self, citizen_id: str) -> None: ...


class AccountDeletions:
    """注销: request, status, cancel; the erasure of accounts whose cooling-off period has passed."""

    def __init__(self, platform: Platform, accounts: AccountsForDeletion) -> None:
        self.platform = platform
        self.accounts = accounts
        # What refuses a request (each domain's own check), and who erases what: both wired by the composition root.
        self.blocker_checks: list[BlockerCheck] = []
        self.erasure_blocker_checks: list[BlockerCheck] = []  # what the erasure itself still waits for
        self.erasers: list[tuple[str, Eraser]] = []

    @property
    def cooling_off(self) -> timedelta:
        return timedelta(days=self.platform.settings.account_deletion.cooling_off_days)

    async def request(self, citizen_id: str, session_id: str) -> DeletionState:
        """Ask for the account to be deleted: needs a fresh SMS code on this session (403 FRESH_OTP_REQUIRED),
        nothing in progress (409 DELETION_BLOCKED). Asked again during the cooling-off: the same request."""
        await self.accounts.require_fresh_step_up(citizen_id, session_id)
        current = await AccountDeletion.get_or_none(citizen_id=citizen_id)
        if current is not None and current.status in PENDING:
            return _state(current)
        blockers = await self.blockers(citizen_id)
        if blockers:
            raise DeletionBlocked(blockers)
        now = self.platform.clock.now()
        values = {"status": COOLING_OFF, "requested_at": now, "erase_after": now + self.cooling_off,
                  "cancelled_at": None, "erased_at": None}
        row, created = await AccountDeletion.get_or_create(defaults=values, citizen_id=citizen_id)
        if not created:  # asked again after a cancellation; never over a request being carried out
            await AccountDeletion.filter(citizen_id=citizen_id, status=CANCELLED).update(**values)
            row = await AccountDeletion.get(citizen_id=citizen_id)
        await audit.record_event(self.platform.clock, actor=citizen_id, actor_type="citizen",
                                 action="account_deletion_requested", subject_id=citizen_id,
                                 attributes={"erase_after": row.erase_after.isoformat()})
        await notify(self.platform, citizen_id, "account_deletion_requested",
                     {"date": row.erase_after.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")})
        return _state(row)

    async def blockers(self, citizen_id: str) -> list[Blocker]:
        found: list[Blocker] = []
        for check in self.blocker_checks:
            found += await check(citizen_id)
        return found

    async def erasure_blockers(self, citizen_id: str) -> list[Blocker]:
        found: list[Blocker] = []
        for check in self.erasure_blocker_checks:
            found += await check(citizen_id)
        return found

    async def status(self, citizen_id: str) -> DeletionState:
        """Where the request stands; "waiting" once its period has passed while money is still in flight, with
        what it waits for."""
        row = await AccountDeletion.get_or_none(citizen_id=citizen_id)
        if row is None:
            return DeletionState("none")
        if row.status == COOLING_OFF and row.erase_after <= self.platform.clock.now():
            waiting_for = await self.erasure_blockers(citizen_id)
            if waiting_for:
                return DeletionState(WAITING, row.requested_at, row.erase_after, row.cancelled_at, tuple(waiting_for))
        return _state(row)

    async def cancel(self, citizen_id: str) -> DeletionState:
        """Withdraw a request during its cooling-off period (404 DELETION_NOT_REQUESTED when none is pending)."""
        cancelled = await AccountDeletion.filter(citizen_id=citizen_id, status=COOLING_OFF).update(
            status=CANCELLED, cancelled_at=self.platform.clock.now())
        if cancelled != 1:
            raise NotFound("DELETION_NOT_REQUESTED")
        await audit.record_event(self.platform.clock, actor=citizen_id, actor_type="citizen",
                                 action="account_deletion_cancelled", subject_id=citizen_id)
        await notify(self.platform, citizen_id, "account_deletion_cancelled")
        return await self.status(citizen_id)

    # -- the erasure ----------------------------------------------------------------------------------
    async def erase_due(self) -> dict[str, int]:
        """The job: erase accounts whose cooling-off period has passed by the service clock, at most
        `erase_per_run` a run, unless money is still in flight (then the request waits for a later run). Each
        request is claimed first, so two runs never erase the same account; one whose erasure fails is logged and
        left claimed, and the next run takes it up again once the claim is stale, after the others."""
        now = self.platform.clock.now()
        stale = now - CLAIM_STALE_AFTER
        due = await AccountDeletion.filter(Q(status=COOLING_OFF, erase_after__lte=now)
                                           | Q(status=ERASING, claimed_at__lte=stale)).order_by("erase_after").limit(
            self.platform.settings.account_deletion.erase_per_run)
        counts = {"erased": 0, "waiting": 0, "failed": 0}
        for row in due:
            outcome = await self._erase_due_one(row, now)
            if outcome is not None:
                counts[outcome] += 1
        return counts

    async def _erase_due_one(self, row: AccountDeletion, now: datetime) -> str | None:
        if row.status == COOLING_OFF and await self.erasure_blockers(row.citizen_id):
            return "waiting"
        if not await self._claim(row, now):
            return None  # cancelled meanwhile, or another run took it
        try:
            await self.erase(row.citizen_id)
        except Exception:  # one account's failure does not hold up the others; its claim makes it retried
            log.exception("account erasure failed; retried by a later run")
            return "failed"
        return "erased"

    async def _claim(self, row: AccountDeletion, now: datetime) -> bool:
        """The request passes to erasing in one conditional update (from cooling_off, or from a claim gone
        stale), so a cancellation and the erasure, or two runs, cannot both win; a request left erasing can no
        longer be cancelled and is finished by a later run."""
        claimable = Q(status=COOLING_OFF, erase_after__lte=now) | Q(status=ERASING, claimed_at__lte=now - CLAIM_STALE_AFTER)
        return await AccountDeletion.filter(claimable, citizen_id=row.citizen_id).update(
            status=ERASING, claimed_at=now) == 1

    async def erase(self, citizen_id: str) -> None:
        """Erase the account: every domain's part, then the account's own. Only a claimed request (erasing) is
        carried out; safe to run again (a run that stopped half-way is finished by the next; an erased account
        stays as it is)."""
        if not await AccountDeletion.filter(citizen_id=citizen_id, status=ERASING).exists():
            return
        await self._unlink_phone(citizen_id)  # first: nobody signs in to this account from now on
        await self._end_sessions(citizen_id)
        done = []
        for name, erase in self.erasers:
            await erase(citizen_id)
            done.append(name)
        await self._end_sessions(citizen_id)  # again: a session a sign-in begun before the unlinking finished
        await self._empty_citizen(citizen_id)
        now = self.platform.clock.now()
        if await AccountDeletion.filter(citizen_id=citizen_id, status=ERASING).update(status=ERASED, erased_at=now):
            await audit.record_event(self.platform.clock, actor="system", actor_type="system", action="account_erased",
                                     subject_id=citizen_id, attributes={"domains": done})
            log.info("account erased")

    async def _end_sessions(self, citizen_id: str) -> None:
        """Every session ends at once on every worker; then the sessions, refresh tokens and push tokens go."""
        ttl = self.platform.settings.accounts.access_token_ttl + 60
        for session_id in await column(LoginSession.filter(citizen_id=citizen_id), "id"):
            await self.platform.cache.set(session_key(citizen_id, session_id), "0", ttl=ttl)
        await RefreshToken.filter(session__citizen_id=citizen_id).delete()
        await LoginSession.filter(citizen_id=citizen_id).delete()
        await FaceSession.filter(citizen_id=citizen_id).delete()

    async def _unlink_phone(self, citizen_id: str) -> None:
        """The phone's hash is replaced by a marker no number hashes to, and the cached citizen forgotten: a
        sign-in with the number from now on starts a new account, never a session on the one being emptied."""
        await Citizen.filter(id=citizen_id).update(phone_hash=unlinked_phone_hash(citizen_id))
        await self.accounts.forget_citizen(citizen_id)

    async def _empty_citizen(self, citizen_id: str) -> None:
        """The citizen row becomes a tombstone: no phone, name, ID number nor their hashes."""
        await Citizen.filter(id=citizen_id).update(
            phone_enc="", phone_hash=unlinked_phone_hash(citizen_id), name_enc=None, id_number_enc=None, id_number_hash=None,
            document_type=RESIDENT_ID, nationality=None, birth_date_enc=None,
            level=0, elderly_mode=False, identity_verified_at=None, face_verified_at=None)
        await self.accounts.forget_citizen(citizen_id)


async def deletion_pending(citizen_id: str) -> bool:
    """Whether the citizen asked for their account to be deleted and it is not cancelled: nobody acts for them
    any more (亲友代办 stops)."""
    return await AccountDeletion.filter(citizen_id=citizen_id, status__in=PENDING).exists()


def _state(row: AccountDeletion) -> DeletionState:
    return DeletionState(row.status, row.requested_at, row.erase_after, row.cancelled_at)
