"""Family proxy (亲友代办 / 亲情账号): linking, consent, acting for a family member, revoking.

A proxy is a verified citizen acting with their own token for a principal (an elder without a
smartphone, a child). A link becomes active only with the principal's consent:

- ``sms``: a 6-digit code sent by SMS to the principal's own phone, which the principal reads out
  to the proxy (a link request alone never gives access);
- ``hall``: a code issued by a service-hall clerk (admin audience) after checking the principal in
  person;
- ``guardian``: for a child under 18, a valid household register (居民户口簿) page of the child in
  the guardian's own wallet, whose name and birth date match the child's verified identity.

Until the principal consents, the proxy learns nothing of them: asking to link a phone number
answers the same (a request id, "a code was sent") whether or not the number belongs to a verified
account, and a request to a number without one is kept in the cache and answered like a pending
link whose consent never comes (the same errors, the same ids when asked again, forgotten after the
same day). A request the principal turns down is, to its proxy, one more such request: still pending,
and nothing more is sent until it is forgotten. The consent SMS goes through the notification outbox
(sent once the reply is out, retried by the delivery job), so the reply never waits on the SMS
provider nor tells what it answered. A guardian's household register page is checked before the
child's ID number is looked up, and every mismatch is the same GUARDIAN_EVIDENCE_INVALID, account or
none. Only after consent does the proxy see the principal's masked name, masked phone and id.

Codes are stored as a keyed hash, used once, with a limited number of tries. Links expire
(APP_FAMILY_LINK_DAYS) and are renewed by the same consent; the principal, the proxy or a hall
clerk revokes one at once. Every action a proxy takes goes through `app.audit` as an access entry
in the principal's access log, naming the proxy by masked name and relation (李*（子女）), never by
an id; beside it an event entry keeps who it was (the proxy's id), and the proxy's own list of
actions is read from those. There is no proxy operation that changes identity data or the phone.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from tortoise.expressions import Q

from app.clock import CHINA_TZ, china_day
from app import audit
from app.accounts.service import (LEVEL_REAL_NAME, RESIDENT_ID, AccountService, CitizenSnapshot, citizen_by_id_number,
                                  deletion_pending,
                                  citizen_by_phone, citizen_record, citizen_with_id_number, document_birth_date,
                                  normalize_id_number, normalize_phone, require_level)
from app.audit import AuditEntry
from app.background import BackgroundTasks
from app.departments.service import Reader
from app.cache import get_json, set_json
from app.errors import AppError, Conflict, Forbidden, NotFound
from app.i18n import EN, ZH_HANS, ZH_HANT, N_, translate
from app.ids import new_id
from app.notifications.service import StoredMessage, notify, send_stored, store_message
from app.platform import Platform
from app.security import ratelimit
from app.security.clients import AuthenticatedClient
from app.security.one_time_codes import CodeErrors, OneTimeCodes, new_code
from app.security.pii import mask_name, mask_phone
from app.services.applications.service import ApplicationService, ApplicationView, MaterialGiven
from app.services.applications.service import age_on, birth_date_of
from app.services.appointments.service import AppointmentService, AppointmentView
from app.vouchers.service import licence_of, validity_of
from elderly_mode.models import FamilyLink, UndoWindow
from health_code.service import HealthCodeService, IssuedCode

RELATIONS: dict[str, str] = {  # zh-Hans msgids
    "child": N_("子女"),
    "spouse": N_("配偶"),
    "parent": N_("父母"),
    "grandchild": N_("孙子女"),
    "sibling": N_("兄弟姐妹"),
    "relative": N_("其他亲属"),
    "guardian": N_("监护人"),
}
BASES = ("sms", "hall", "guardian")
# 与户主关系 words on a household register page that name a child or grandchild of the head.
CHILD_RELATIONSHIPS = frozenset({"子", "女", "长子", "次子", "长女", "次女", "养子", "养女", "孙子", "孙女", "外孙子", "外孙女"})
MAX_TRIES = 5
LINK_REQUESTS_PER_DAY = 5  # bounds the SMS a proxy can cause and probing of phone numbers
CONSENTS_PER_HOUR = 3
# A request never consented to is forgotten after a day (the proxy asks again): a request to a number
# without an account lives in the cache, and a real one must not outlive it, or its age would tell them apart.
UNANSWERED_REQUEST_SECONDS = 86400


@dataclass
class UnansweredRequest:
    """A request to link a number that has no verified account, or one its principal turned down: nobody
    is asked (again), and the proxy cannot tell.

    It has what a pending link shows its proxy; there is no principal, so it can never be consented to."""

    id: str
    proxy_id: str
    relation: str
    basis: str
    created_at: datetime
    status: str = "pending"
    revoked_at: datetime | None = None
    principal_id: None = None
    confirmed_at: None = None
    expires_at: None = None
    declined: bool = False  # a link the principal (or a hall, for them) revoked before consenting; same id

    def stored(self) -> dict[str, Any]:
        return {"id": self.id, "proxy_id": self.proxy_id, "relation": self.relation, "basis": self.basis,
                "created_at": self.created_at.timestamp(), "status": self.status,
                "revoked_at": self.revoked_at.timestamp() if self.revoked_at else None, "declined": self.declined}

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> "UnansweredRequest":
        return cls(data["id"], data["proxy_id"], data["relation"], data["basis"], _at(data["created_at"]),
                   data["status"], _at(data["revoked_at"]) if data["revoked_at"] else None,
                   declined=data.get("declined", False))

    def audit_attributes(self) -> dict[str, Any]:
        """What the audit log says of it: the truth, which the proxy never reads."""
        return {"link_id": self.id, **({"declined": True} if self.declined else {"account": False})}


AnyLink = FamilyLink | UnansweredRequest


@dataclass(frozen=True)
class LinkView:
    """A link as one side of it sees it. The proxy sees nothing of the principal until they have consented."""

    id: str
    role: str  # proxy (I act for them) or principal (they act for me)
    other_id: str | None
    other_name_masked: str | None
    other_phone_masked: str | None
    relation: str
    basis: str
    status: str  # pending, active, expired or revoked
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class ConsentSent:
    link: LinkView  # as its proxy sees it
    channel: str
    expires_in: int
    code: str | None = None  # only for an in-person (hall) code, shown to the clerk to hand over
    outgoing: StoredMessage | None = None  # the consent SMS, stored in the outbox, to send once the reply is out


@dataclass(frozen=True)
class Attestation:
    """The limited ID attestation a proxy may show (有限身份证明): no full name, no full number."""

    name_masked: str
    id_last4: str
    verified: bool
    age_over_60: bool | None  # None: the document carries no birth date (a permit, a passport without its zone)
    age_over_18: bool | None
    resident_id: bool  # the number is a resident ID's (身份证), not another document's


def relation_text(relation: str, language: str) -> str:
    return translate(RELATIONS.get(relation, RELATIONS["relative"]), language)


class FamilyService:
    def __init__(self, platform: Platform, accounts: AccountService, health: HealthCodeService,
                 appointments: AppointmentService, applications: ApplicationService) -> None:
        self.platform = platform
        self.settings = platform.settings
        self.accounts = accounts
        self.health = health
        self.appointments = appointments
        self.applications = applications
        self.consent_codes = OneTimeCodes(
            platform.cache, platform.pii, platform.clock, prefix="family:consent-", purpose="family-consent",
            max_tries=MAX_TRIES,
            errors=CodeErrors(lapsed=lambda: AppError("FAMILY_CONSENT_EXPIRED", status=410), wrong="FAMILY_CONSENT_INVALID"))
        # Consent SMS sent once the reply is out; one that fails or is cut off is sent by the delivery job.
        self.consent_sending = BackgroundTasks("consent SMS (left to the delivery job)")

    async def close(self) -> None:
        """At server stop: consent SMS still being sent are cut off (their deliveries are retried)."""
        await self.consent_sending.close()

    # -- linking -------------------------------------------------------------------------------
    async def request_link(self, proxy: CitizenSnapshot, relation: str, basis: str, principal_phone: str | None,
                           principal_id_number: str | None, licence_id: str | None) -> ConsentSent:
        """A proxy asks to act for a family member: SMS consent, or guardianship shown by a household register."""
        require_level(proxy, LEVEL_REAL_NAME)
        if relation not in RELATIONS or basis not in ("sms", "guardian"):
            raise AppError("VALIDATION_FAILED", status=422, params={"fields": "relation、basis"})
        await ratelimit.hit(self.platform.cache, self.platform.clock, f"family-link:{proxy.id}", LINK_REQUESTS_PER_DAY, 86400)
        if basis == "sms":
            phone = normalize_phone(principal_phone or "")
            if phone is None:
                raise AppError("INVALID_PHONE", status=422)
            principal = await self._verified_by_phone(phone)
            # Answered as if a code went out, and sent to nobody: for a number without an account (the reply must
            # not tell who has one), and for a principal who turned this proxy down (nothing more is sent).
            if principal is None or await self._turned_down(proxy.id, phone):
                return await self._send_consent(await self._unanswered(proxy.id, phone, relation), None, proxy)
            return await self._send_consent(await self._new_link(principal, proxy.id, relation, basis), principal, proxy)
        return await self._link_as_guardian(proxy, principal_id_number or "", licence_id or "")

    def send_consent(self, sent: ConsentSent) -> asyncio.Task[None]:
        """Hand the consent SMS stored by `request_link` or `renew` to its channel, in a task of its own (a
        client that goes away cancels its request, not the send); called once the reply is out. A failure is
        recorded on its delivery and retried by the delivery job, never told to the proxy."""
        return self.consent_sending.start(self._send_stored(sent))

    async def _send_stored(self, sent: ConsentSent) -> None:
        if sent.outgoing is not None:
            await send_stored(self.platform, sent.outgoing)

    async def hall_code(self, clerk: AuthenticatedClient, principal_id_number: str, proxy_phone: str,
                        relation: str) -> ConsentSent:
        """A service-hall clerk, having checked the principal in person, issues the code that the proxy enters."""
        if relation not in RELATIONS:
            raise AppError("VALIDATION_FAILED", status=422, params={"fields": "relation"})
        principal = await self._principal_by_id_number(principal_id_number)
        phone = normalize_phone(proxy_phone)
        if phone is None:
            raise AppError("INVALID_PHONE", status=422)
        proxy = await self._verified_by_phone(phone)
        if proxy is None:  # told to a clerk, who has the principal in front of them
            raise NotFound("FAMILY_PROXY_NOT_FOUND")
        link = await self._new_link(principal, proxy.id, relation, "hall", issued_by=clerk.id)
        code = await self._store_code(link.id)
        await audit.record_event(self.platform.clock, actor=clerk.id, actor_type="admin", action="family_hall_code_issued",
                                 subject_id=principal.id, attributes={"link_id": link.id, "proxy": proxy.id})
        return await self._sent(link, "hall", self.settings.elderly.family_consent_ttl, code=code)

    async def renew(self, proxy: CitizenSnapshot, link_id: str) -> ConsentSent:
        """Ask for the principal's consent again (a link expires; it is renewed the way it was made)."""
        link = await self._link_of_proxy(proxy.id, link_id)
        if link.status == "revoked":
            raise Conflict("FAMILY_LINK_NOT_PENDING")
        if isinstance(link, UnansweredRequest):
            return await self._send_consent(link, None, proxy)
        principal = await citizen_record(link.principal_id)
        if link.basis == "guardian":
            await self._check_guardianship(proxy, principal, link.evidence_licence_id or "")
            return await self._sent(await self._activate(link, evidence_licence_id=link.evidence_licence_id),
                                    "household_register", 0)
        return await self._send_consent(link, principal, proxy)

    async def confirm(self, proxy_id: str, link_id: str, code: str) -> LinkView:
        """The proxy enters the code the principal received (or the hall issued): the link is active."""
        link = await self._link_of_proxy(proxy_id, link_id)
        if link.status == "revoked":
            raise Conflict("FAMILY_LINK_NOT_PENDING")
        await self._consume_code(link.id, code)
        if isinstance(link, UnansweredRequest):  # its code went to nobody: a guess that matched is still no consent
            raise self.consent_codes.errors.lapsed()
        return await self.view(await self._activate(link), proxy_id)

    async def revoke(self, citizen_id: str, link_id: str) -> LinkView:
        """The principal (or the proxy, stepping down or withdrawing a request) ends a link at once."""
        link = await FamilyLink.get_or_none(Q(principal_id=citizen_id) | Q(proxy_id=citizen_id), id=link_id)
        if link is not None and (link.principal_id == citizen_id or self._shown_to_proxy(link)):
            return await self.view(await self._revoke(link, citizen_id, "citizen"), citizen_id)
        request = await self._unanswered_of(citizen_id, link_id)
        if request is None:
            raise NotFound("FAMILY_LINK_NOT_FOUND")
        if request.status != "revoked":
            request.status, request.revoked_at = "revoked", self.platform.clock.now()
            await self._keep_unanswered(request)
            await audit.record_event(self.platform.clock, actor=citizen_id, actor_type="citizen", action="family_link_revoked",
                                     attributes=request.audit_attributes())
        return await self.view(request, citizen_id)

    async def revoke_by_hall(self, clerk: AuthenticatedClient, link_id: str) -> FamilyLink:
        link = await FamilyLink.get_or_none(id=link_id)
        if link is None:
            raise NotFound("FAMILY_LINK_NOT_FOUND")
        return await self._revoke(link, clerk.id, "admin")

    async def links_of(self, citizen_id: str) -> tuple[list[LinkView], list[LinkView]]:
        """(links where I act for someone, links where someone acts for me), newest first, revoked included.

        A proxy's requests the principal never consented to are not listed: a request to a number
        without an account is not either."""
        acting = await FamilyLink.filter(proxy_id=citizen_id, confirmed_at__isnull=False).order_by("-created_at")
        acted_for = await FamilyLink.filter(principal_id=citizen_id).order_by("-created_at")
        return ([await self.view(link, citizen_id) for link in acting],
                [await self.view(link, citizen_id) for link in acted_for])

    async def view(self, link: AnyLink, me: str) -> LinkView:
        """`link` as `me` sees it: the principal sees who asks; the proxy sees the principal once they consented."""
        mine = link.proxy_id == me
        other_id, name, phone = None, None, None
        other_side = link.principal_id if mine else link.proxy_id  # none: the proxy of an unanswered request
        if other_side is not None and (not mine or link.confirmed_at is not None):
            other = await citizen_record(other_side)
            (name, phone), other_id = self.masked(other), other.id
        return LinkView(link.id, "proxy" if mine else "principal", other_id, name, phone, link.relation, link.basis,
                        self.state(link), link.created_at, link.expires_at, link.revoked_at)

    async def people(self, link: FamilyLink) -> tuple[CitizenSnapshot, CitizenSnapshot]:
        return await citizen_record(link.principal_id), await citizen_record(link.proxy_id)

    def masked(self, citizen: CitizenSnapshot) -> tuple[str, str]:
        """(masked name, masked phone) of a linked person, as both sides see each other."""
        name = self.platform.pii.decrypt(citizen.name_enc, "name") if citizen.name_enc else ""
        return mask_name(name), mask_phone(self.platform.pii.decrypt(citizen.phone_enc, "phone"))

    def state(self, link: AnyLink) -> str:
        """pending, active, expired or revoked, as of now (a request never consented to expires after a day)."""
        if link.status == "active" and link.expires_at is not None and link.expires_at <= self.platform.clock.now():
            return "expired"
        if link.status == "pending" and self._forgotten(link):
            return "expired"
        return link.status

    def _forgotten(self, link: AnyLink) -> bool:
        """A request the principal never consented to, older than a day: its proxy must ask again."""
        return link.confirmed_at is None and \
            link.created_at <= self.platform.clock.now() - timedelta(seconds=UNANSWERED_REQUEST_SECONDS)

    @staticmethod
    def _declined(link: FamilyLink) -> bool:
        """A request revoked before consent by someone other than its proxy: the principal, or a hall for them."""
        return link.status == "revoked" and link.confirmed_at is None and link.revoked_by != link.proxy_id

    def _shown_to_proxy(self, link: FamilyLink) -> bool:
        """Whether the proxy is answered from the link itself; else from the request kept for them in the cache
        (a declined one, pending to them) or not at all (a forgotten one)."""
        return not self._forgotten(link) and not self._declined(link)

    # -- acting for the principal --------------------------------------------------------------
    async def act(self, proxy_id: str, principal_id: str, action: str, attributes: list[str],
                  what: str) -> CitizenSnapshot:
        """Check the live link and write the access entry the principal sees; returns the principal.

        The same refusal for a stranger, a revoked or an expired link: nothing says whether the id exists.
        """
        link = await self.live_link(proxy_id, principal_id)
        await self._record(link, action, attributes, what)
        return await self.accounts.citizen(principal_id)

    async def live_link(self, proxy_id: str, principal_id: str) -> FamilyLink:
        link = await FamilyLink.filter(proxy_id=proxy_id, principal_id=principal_id, status="active",
                                       expires_at__gt=self.platform.clock.now()).first()
        if link is None:
            raise Forbidden("FAMILY_LINK_REQUIRED")
        if await deletion_pending(principal_id):  # nothing more is done for someone leaving (注销)
            raise Conflict("PRINCIPAL_DELETION_PENDING")
        return link

    async def _record(self, link: FamilyLink, action: str, attributes: list[str], what: str) -> None:
        await audit.record_all(self.platform.clock, await self._on_behalf(link, action, attributes, what))

    async def _proxy_named(self, link: FamilyLink) -> str:
        """The proxy as the principal's access log names them: 李*（子女）, never by an id."""
        proxy_name = self.masked(await self.accounts.citizen(link.proxy_id))[0] or "-"
        return f"{proxy_name}（{relation_text(link.relation, 'zh-Hans')}）"

    async def _on_behalf(self, link: FamilyLink, action: str, attributes: list[str],
                         what: str) -> list[audit.AuditRecord]:
        """The principal's access entry, naming the proxy as 李*（子女）, never by an id; and an event
        entry with the proxy's id, so that who it was is kept and the proxy's own list can be read."""
        relation = relation_text(link.relation, "zh-Hans")
        purpose = f"亲友代办（{relation}）：{what}"
        return [audit.access(citizen_id=link.principal_id, actor=await self._proxy_named(link), actor_type="proxy",
                             action=action, attributes=attributes, purpose=purpose),
                audit.event(actor=link.proxy_id, actor_type="proxy", action=action, subject_id=link.principal_id,
                            attributes=attributes, purpose=purpose)]

    async def show_health_code(self, proxy_id: str, principal_id: str) -> IssuedCode:
        """The principal's current health code, shown by the proxy (出示家人健康码)."""
        principal = await self.act(proxy_id, principal_id, "family_health_code_shown",
                                   ["health_code", "color", "name_masked"], "出示健康码")
        require_level(principal, LEVEL_REAL_NAME)
        return await self.health.current_code(principal)

    async def attest(self, proxy_id: str, principal_id: str) -> Attestation:
        principal = await self.act(proxy_id, principal_id, "family_id_attested",
                                   ["name_masked", "id_last4", "age_over_60"], "出示有限身份证明")
        return self.attestation(principal)

    async def book(self, proxy_id: str, principal_id: str, slot_id: str) -> AppointmentView:
        link = await self.live_link(proxy_id, principal_id)
        view = await self.appointments.book(principal_id, slot_id)  # recorded once it is done
        await self._record(link, "family_appointment_booked", ["appointments"], f"代为预约 {view.slot.item_name}")
        return view

    async def appointments_of(self, proxy_id: str, principal_id: str) -> list[AppointmentView]:
        await self.act(proxy_id, principal_id, "family_appointments_read", ["appointments"], "查看预约")
        return await self.appointments.mine(principal_id)

    async def apply(self, proxy_id: str, principal_id: str, key: str, item_id: str, form: dict[str, Any],
                    given: list[MaterialGiven]) -> tuple[ApplicationView, bool]:
        link = await self.live_link(proxy_id, principal_id)
        item = await self.applications.item(item_id)
        on_behalf = await self._on_behalf(link, "family_application_submitted", ["applications", "licences"],
                                          f"代为申请 {item.name}")
        # Written with the application, in its transaction: a proxy's submission is never left unaudited.
        return await self.applications.submit(principal_id, key, item_id, form, given, also_audit=on_behalf,
                                              reader=Reader.family_proxy(await self._proxy_named(link)),
                                              uploader_id=proxy_id)  # the files the proxy uploaded for her

    async def applications_of(self, proxy_id: str, principal_id: str) -> list[ApplicationView]:
        await self.act(proxy_id, principal_id, "family_applications_read", ["applications"], "查看办件进度")
        return await self.applications.mine(principal_id)

    async def principal_for_print(self, proxy_id: str, principal_id: str) -> CitizenSnapshot:
        principal = await self.act(proxy_id, principal_id, "family_health_code_printed",
                                   ["health_code", "color", "name_masked"], "打印健康码卡片")
        require_level(principal, LEVEL_REAL_NAME)
        return principal

    def attestation(self, principal: CitizenSnapshot) -> Attestation:
        name = self.platform.pii.decrypt(principal.name_enc, "name") if principal.name_enc else ""
        id_number = self.platform.pii.decrypt(principal.id_number_enc, "id_number") if principal.id_number_enc else ""
        born = document_birth_date(self.platform, principal)  # a permit or a passport without its zone carries none
        age = age_on(born, self.platform.clock.today()) if born else None
        return Attestation(mask_name(name), id_number[-4:], principal.level >= LEVEL_REAL_NAME,
                           None if age is None else age >= 60, None if age is None else age >= 18,
                           principal.document_type == RESIDENT_ID)

    async def actions_by(self, proxy_id: str, limit: int = 50) -> list[AuditEntry]:
        """What I did for family members (my own log of proxy actions), newest first: the event entries
        written beside each access entry (and access entries of earlier versions, which named the proxy by id)."""
        return await AuditEntry.filter(actor_type="proxy", actor=proxy_id, action__startswith="family_") \
            .order_by("-seq").limit(limit)

    # -- steps ---------------------------------------------------------------------------------
    async def _verified_by_phone(self, phone: str) -> CitizenSnapshot | None:
        """The verified (实名) account of a normalized phone number, if there is one."""
        citizen = await citizen_by_phone(self.platform, phone)
        return citizen if citizen is not None and citizen.level >= LEVEL_REAL_NAME else None

    @staticmethod
    def _unanswered_key(proxy_id: str, phone_hash: str) -> str:
        """Where the id of the proxy's unanswered request to a phone number is kept."""
        return f"family:unanswered-to:{proxy_id}:{phone_hash}"

    async def _turned_down(self, proxy_id: str, phone: str) -> bool:
        """Whether the proxy has a request to this number kept in the cache within the day, which the principal
        turned down (or which was asked before the number had an account): asking again is answered from the
        cache and reaches nobody until it is forgotten."""
        request_id = await self.platform.cache.get(self._unanswered_key(proxy_id, self.platform.pii.lookup_hash(phone, "phone")))
        if not request_id:
            return False
        return await self._unanswered_of(proxy_id, request_id) is not None

    async def _unanswered(self, proxy_id: str, phone: str, relation: str) -> UnansweredRequest:
        """The proxy's request to a number without an account: the same one while it lives, as a pending link is."""
        to = self._unanswered_key(proxy_id, self.platform.pii.lookup_hash(phone, "phone"))
        request_id = await self.platform.cache.get(to)
        request = await self._unanswered_of(proxy_id, request_id) if request_id else None
        if request is None or request.status == "revoked":  # withdrawn: asking again is a new request
            request = UnansweredRequest(new_id("fl"), proxy_id, relation, "sms", self.platform.clock.now())
            await self._keep_unanswered(request)
            await self.platform.cache.set(to, request.id, ttl=UNANSWERED_REQUEST_SECONDS)
        return request

    async def _unanswered_of(self, proxy_id: str, request_id: str) -> UnansweredRequest | None:
        stored = await get_json(self.platform.cache, f"family:unanswered:{request_id}")
        if stored is None or stored["proxy_id"] != proxy_id:
            return None
        request = UnansweredRequest.from_stored(stored)
        return None if self._forgotten(request) else request

    async def _keep_unanswered(self, request: UnansweredRequest) -> None:
        await set_json(self.platform.cache, f"family:unanswered:{request.id}", request.stored(), ttl=self._left(request))

    def _left(self, link: AnyLink) -> float:
        """Seconds until a request never consented to is forgotten (at least one, for a cache ttl)."""
        return max(link.created_at.timestamp() + UNANSWERED_REQUEST_SECONDS - self.platform.clock.timestamp(), 1)

    async def _keep_declined(self, link: FamilyLink) -> None:
        """A request its principal turned down stays, to its proxy, a pending one never answered: kept as an
        unanswered request under the same id, and found again when they ask for the same number."""
        if self._forgotten(link):
            return
        request = UnansweredRequest(link.id, link.proxy_id, link.relation, link.basis, link.created_at, declined=True)
        await self._keep_unanswered(request)
        if link.basis == "sms":
            principal = await citizen_record(link.principal_id)
            await self.platform.cache.set(self._unanswered_key(link.proxy_id, principal.phone_hash), link.id,
                                   ttl=self._left(link))

    async def _principal_by_id_number(self, id_number: str) -> CitizenSnapshot:
        try:
            citizen = await citizen_with_id_number(self.platform, id_number)
        except NotFound:
            raise NotFound("FAMILY_PRINCIPAL_NOT_FOUND") from None
        return citizen

    async def _new_link(self, principal: CitizenSnapshot, proxy_id: str, relation: str, basis: str,
                        issued_by: str | None = None) -> FamilyLink:
        if principal.id == proxy_id:
            raise AppError("FAMILY_SELF", status=422)
        now = self.platform.clock.now()
        live = await FamilyLink.filter(proxy_id=proxy_id, principal_id=principal.id, status__in=("pending", "active"))
        for existing in live:
            if existing.status == "active" and existing.expires_at and existing.expires_at > now:
                raise Conflict("FAMILY_LINK_EXISTS", extra={"link_id": existing.id})
            if existing.status == "pending" and basis == existing.basis and not self._forgotten(existing):
                return existing  # asking again re-sends the consent for the same pending link
        return await FamilyLink.create(id=new_id("fl"), principal_id=principal.id, proxy_id=proxy_id,
                                       relation=relation, basis=basis, status="pending", created_at=now,
                                       issued_by=issued_by)

    async def _send_consent(self, link: AnyLink, principal: CitizenSnapshot | None, proxy: CitizenSnapshot) -> ConsentSent:
        """A fresh code, stored in the outbox as an SMS (and inbox message) to the principal, sent once the reply
        is out (`send_consent`); with no principal (a number without an account, a request turned down) kept and
        sent to nobody, so that entering codes for it answers as for a link whose consent never comes. Both
        answer alike at once: the reply never waits on the SMS provider nor tells what it answered."""
        await ratelimit.hit(self.platform.cache, self.platform.clock, f"family-consent:{link.id}", CONSENTS_PER_HOUR, 3600)
        code = await self._store_code(link.id)
        if principal is None:
            assert isinstance(link, UnansweredRequest)
            await audit.record_event(self.platform.clock, actor=proxy.id, actor_type="citizen",
                                     action="family_consent_requested",
                                     attributes={**link.audit_attributes(), "basis": link.basis})
            return await self._sent(link, "sms", self.settings.elderly.family_consent_ttl)
        outgoing = await store_message(None, self.platform, principal.id, "family_consent_requested",
                                       self._consent_message(link, proxy, code))
        await audit.record_event(self.platform.clock, actor=proxy.id, actor_type="citizen", action="family_consent_requested",
                                 subject_id=principal.id, attributes={"link_id": link.id, "basis": link.basis})
        return await self._sent(link, "sms", self.settings.elderly.family_consent_ttl, outgoing=outgoing)

    def _consent_message(self, link: AnyLink, proxy: CitizenSnapshot, code: str) -> dict[str, str]:
        """The parameters of the consent message: who asks (masked name, phone tail), as what, the code and the
        time it lasts until (a retried SMS may come minutes late: the time says whether it still works)."""
        proxy_name = mask_name(self.platform.pii.decrypt(proxy.name_enc, "name")) if proxy.name_enc else ""
        until = self.platform.clock.now() + timedelta(seconds=self.settings.elderly.family_consent_ttl)
        return {"proxy": proxy_name, "phone_tail": self.platform.pii.decrypt(proxy.phone_enc, "phone")[-4:],
                **{f"relation_{key}": relation_text(link.relation, language)
                   for key, language in (("hans", ZH_HANS), ("hant", ZH_HANT), ("en", EN))},
                "code": code, "minutes": str(self.settings.elderly.family_consent_ttl // 60),
                "until": until.astimezone(CHINA_TZ).strftime("%H:%M")}

    async def _sent(self, link: AnyLink, channel: str, expires_in: int, code: str | None = None,
                    outgoing: StoredMessage | None = None) -> ConsentSent:
        return ConsentSent(await self.view(link, link.proxy_id), channel, expires_in, code, outgoing)

    async def _store_code(self, link_id: str) -> str:
        code = new_code()
        await self.consent_codes.keep(f"family:consent:{link_id}", code,
                                      expires_at=self.platform.clock.timestamp() + self.settings.elderly.family_consent_ttl,
                                      keep_for=self.settings.elderly.family_consent_ttl + 60)
        return code

    async def _consume_code(self, link_id: str, code: str) -> None:
        await self.consent_codes.use(f"family:consent:{link_id}", code, ttl=self.settings.elderly.family_consent_ttl + 60)

    async def _link_as_guardian(self, guardian: CitizenSnapshot, id_number: str, licence_id: str) -> ConsentSent:
        """A guardian links a child under 18 by the household register page in their own wallet.

        What the ID number alone tells (a number that cannot exist, an adult's) is answered first; then the
        page is checked against it, and only then is the number looked up. Every other failure, the number
        having no account among them, is the same GUARDIAN_EVIDENCE_INVALID, and nothing is stored before
        every check passed: a stranger's request neither tells who has an account nor shows in their list."""
        today = self.platform.clock.today()
        normalized = normalize_id_number(id_number, today)
        if normalized is None:
            raise AppError("INVALID_ID_NUMBER", status=422)
        birth = birth_date_of(normalized)
        if age_on(birth, today) >= 18:
            raise AppError("GUARDIAN_NOT_MINOR", status=422)
        page = await self._register_page(guardian, licence_id)
        if not _same_day(page.get("birth_date"), birth):
            raise _evidence_invalid()
        child = await citizen_by_id_number(self.platform, normalized)
        if child is None or not self._names(page, child):
            raise _evidence_invalid()
        link = await self._new_link(child, guardian.id, "guardian", "guardian")
        return await self._sent(await self._activate(link, evidence_licence_id=licence_id), "household_register", 0)

    async def _check_guardianship(self, guardian: CitizenSnapshot, child: CitizenSnapshot, licence_id: str) -> None:
        """On renewal: the child still under 18, and the register page still valid and naming them."""
        today = self.platform.clock.today()
        child_id_number = self.platform.pii.decrypt(child.id_number_enc, "id_number") if child.id_number_enc else ""
        if not child_id_number or age_on(birth_date_of(child_id_number), today) >= 18:
            raise AppError("GUARDIAN_NOT_MINOR", status=422)
        page = await self._register_page(guardian, licence_id)
        if not _same_day(page.get("birth_date"), birth_date_of(child_id_number)) or not self._names(page, child):
            raise _evidence_invalid()

    async def _register_page(self, guardian: CitizenSnapshot, licence_id: str) -> dict[str, Any]:
        """The fields of a child's page of the household register, valid, in the adult guardian's own wallet."""
        today = self.platform.clock.today()
        guardian_id_number = self.platform.pii.decrypt(guardian.id_number_enc, "id_number") if guardian.id_number_enc else ""
        if not guardian_id_number or age_on(birth_date_of(guardian_id_number), today) < 18:
            raise _evidence_invalid()
        licence = await licence_of(guardian.id, licence_id, type_id="household_register")
        if licence is None or validity_of(licence, self.platform.clock.now()) != "valid":
            raise _evidence_invalid()
        page: dict[str, Any] = json.loads(self.platform.pii.decrypt(licence.fields_enc, f"licence:{licence.id}"))["fields"]
        if page.get("relationship") not in CHILD_RELATIONSHIPS:
            raise _evidence_invalid()
        return page

    def _names(self, page: dict[str, Any], child: CitizenSnapshot) -> bool:
        """Whether the page names the child by their verified name."""
        return bool(child.name_enc and page.get("name") == self.platform.pii.decrypt(child.name_enc, "name"))

    async def _activate(self, link: FamilyLink, evidence_licence_id: str | None = None) -> FamilyLink:
        now = self.platform.clock.now()
        renewal = link.status == "active"
        changes: dict[str, Any] = {"status": "active", "confirmed_at": now,
                                   "expires_at": now + timedelta(days=self.settings.elderly.family_link_days)}
        if evidence_licence_id:
            changes["evidence_licence_id"] = evidence_licence_id
        if not await FamilyLink.filter(id=link.id, status__in=("pending", "active")).update(**changes):
            raise Conflict("FAMILY_LINK_NOT_PENDING")
        link = await FamilyLink.get(id=link.id)
        await audit.record_event(self.platform.clock, actor=link.proxy_id, actor_type="citizen",
                                 action="family_link_renewed" if renewal else "family_link_confirmed",
                                 subject_id=link.principal_id, attributes={"link_id": link.id, "basis": link.basis})
        principal, proxy = await self.people(link)
        await notify(self.platform, link.principal_id, "family_link_confirmed",
                     {"proxy": self.masked(proxy)[0] or "-", "until": _day(link.expires_at)})
        return link

    async def _revoke(self, link: FamilyLink, by: str, by_type: str) -> FamilyLink:
        if link.status == "revoked":
            return link
        now = self.platform.clock.now()
        await FamilyLink.filter(id=link.id).exclude(status="revoked").update(status="revoked", revoked_at=now,
                                                                                revoked_by=by)
        link = await FamilyLink.get(id=link.id)
        await audit.record_event(self.platform.clock, actor=by, actor_type=by_type, action="family_link_revoked",
                                 subject_id=link.principal_id, attributes={"link_id": link.id, "proxy": link.proxy_id})
        if self._declined(link):
            await self._keep_declined(link)
        principal, proxy = await self.people(link)
        await notify(self.platform, link.principal_id, "family_link_revoked", {"proxy": self.masked(proxy)[0] or "-"})
        if link.confirmed_at is not None:  # a proxy whose request was never consented to learns no name
            await notify(self.platform, link.proxy_id, "family_link_ended", {"principal": self.masked(principal)[0] or "-"})
        return link

    # -- account deletion (注销) ----------------------------------------------------------------------
    async def erase_citizen(self, citizen_id: str) -> None:
        """The account is erased: every family link it is on ends (the other side is told; the citizen was told
        when they asked for the deletion) and goes, and so do its undo windows."""
        links = await FamilyLink.filter(Q(principal_id=citizen_id) | Q(proxy_id=citizen_id)).exclude(status="revoked")
        for link in links:
            await self._end_for_erasure(link, citizen_id)
        await FamilyLink.filter(Q(principal_id=citizen_id) | Q(proxy_id=citizen_id)).delete()
        await UndoWindow.filter(citizen_id=citizen_id).delete()

    async def _end_for_erasure(self, link: FamilyLink, citizen_id: str) -> None:
        await FamilyLink.filter(id=link.id).update(status="revoked", revoked_at=self.platform.clock.now(),
                                                   revoked_by="account_erased")
        await audit.record_event(self.platform.clock, actor="system", actor_type="system", action="family_link_revoked",
                                 subject_id=link.principal_id, attributes={"link_id": link.id, "proxy": link.proxy_id,
                                                                           "reason": "account_erased"})
        principal, proxy = await self.people(link)
        if link.principal_id != citizen_id:  # the proxy's account is erased: the principal is told
            await notify(self.platform, link.principal_id, "family_link_revoked", {"proxy": self.masked(proxy)[0] or "-"})
        elif link.confirmed_at is not None:  # the principal's: a proxy who was consented to is told
            await notify(self.platform, link.proxy_id, "family_link_ended", {"principal": self.masked(principal)[0] or "-"})

    async def _link_of_proxy(self, proxy_id: str, link_id: str) -> AnyLink:
        """The proxy's link or unanswered request `link_id`; the same 404 for both once forgotten."""
        link = await FamilyLink.get_or_none(id=link_id, proxy_id=proxy_id)
        if link is not None and self._shown_to_proxy(link):
            return link
        request = await self._unanswered_of(proxy_id, link_id)
        if request is None:
            raise NotFound("FAMILY_LINK_NOT_FOUND")
        return request


def _evidence_invalid() -> AppError:
    return AppError("GUARDIAN_EVIDENCE_INVALID", status=422)


def _same_day(value: Any, day: date) -> bool:
    return isinstance(value, str) and value[:10] == day.isoformat()


def _at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc)


def _day(at: datetime | None) -> str:
    return china_day(at).isoformat() if at else "-"


# -- export of the citizen's own data (个人信息副本) ------------------------------------------------
# This section's imports are kept here, with the section, so that it stands apart from the rest of the module.
from app.personal_data import Areas, record_of  # noqa: E402
from app.security.pii import PiiCipher  # noqa: E402


async def export_of(pii: PiiCipher, citizen_id: str) -> Areas:
    """Elderly mode's part of the citizen's copy of their data: family links (亲友代办) where they are the
    one helped or the helper (`role`), and the undo windows of their submissions."""
    links = await FamilyLink.filter(Q(principal_id=citizen_id) | Q(proxy_id=citizen_id)).order_by("created_at")
    return {
        "family_links": [record_of(row, pii, role="principal" if row.principal_id == citizen_id else "proxy")
                         for row in links],
        "undo_windows": [record_of(row, pii) for row in
                         await UndoWindow.filter(citizen_id=citizen_id).order_by("submitted_at")],
    }
