"""Family proxy (亲友代办 / 亲情账号): linking, consent, acting for a family member, revoking.

A proxy is a verified citizen acting with their own token for a principal (an elder without a
smartphone, a child). A link becomes active only with the principal's consent:

- ``sms``: a 6-digit code sent by SMS to the principal's own phone, which the principal reads out
  to the proxy (a link request alone never gives access);
- ``hall``: a code issued by a service-hall clerk (admin audience) after checking the principal in
  person;
- ``guardian``: for a child under 18, a valid household register (居民户口簿) page of the child in
  the guardian's own wallet, whose name and birth date match the child's verified identity.

Codes are stored as a keyed hash, used once, with a limited number of tries. Links expire
(APP_FAMILY_LINK_DAYS) and are renewed by the same consent; the principal, the proxy or a hall
clerk revokes one at once. Every action a proxy takes goes through `app.audit.record_access` with
the proxy as actor, so it is in the principal's access log, and the proxy's own list of actions is
read from the same entries. There is no proxy operation that changes identity data or the phone.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from tortoise.expressions import Q

from app.clock import CHINA_TIME
from app import audit
from app.accounts.adapters import SmsDeliveryError, SmsGateway
from app.accounts.models import Citizen
from app.accounts.rules import LEVEL_REAL_NAME, normalize_phone
from app.accounts.service import AccountService, CitizenSnapshot, citizen_with_id_number, require_level
from app.audit import AuditEntry
from app.errors import AppError, Conflict, Forbidden, NotFound, Unavailable
from app.ids import new_id
from app.notifications.service import notify
from app.platform import Platform
from app.security import ratelimit
from app.security.clients import AuthenticatedClient
from app.security.one_time_codes import CodeErrors, OneTimeCodes, new_code
from app.security.pii import mask_name, mask_phone
from app.services.applications import ApplicationService, ApplicationView, MaterialGiven
from app.services.approval import age_on, birth_date_of
from app.services.appointments import AppointmentService, AppointmentView
from app.vouchers.licences import validity_of
from app.vouchers.models import Licence
from elderly_mode.models import FamilyLink
from health_code.service import HealthCodeService, IssuedCode

RELATIONS: dict[str, dict[str, str]] = {
    "child": {"zh-Hans": "子女", "zh-Hant": "子女", "en": "son or daughter"},
    "spouse": {"zh-Hans": "配偶", "zh-Hant": "配偶", "en": "spouse"},
    "parent": {"zh-Hans": "父母", "zh-Hant": "父母", "en": "parent"},
    "grandchild": {"zh-Hans": "孙子女", "zh-Hant": "孫子女", "en": "grandchild"},
    "sibling": {"zh-Hans": "兄弟姐妹", "zh-Hant": "兄弟姊妹", "en": "brother or sister"},
    "relative": {"zh-Hans": "其他亲属", "zh-Hant": "其他親屬", "en": "relative"},
    "guardian": {"zh-Hans": "监护人", "zh-Hant": "監護人", "en": "guardian"},
}
BASES = ("sms", "hall", "guardian")
# 与户主关系 words on a household register page that name a child or grandchild of the head.
CHILD_RELATIONSHIPS = frozenset({"子", "女", "长子", "次子", "长女", "次女", "养子", "养女", "孙子", "孙女", "外孙子", "外孙女"})
MAX_TRIES = 5
LINK_REQUESTS_PER_DAY = 5  # bounds the SMS a proxy can cause and probing of phone numbers
CONSENTS_PER_HOUR = 3


@dataclass(frozen=True)
class ConsentSent:
    link: FamilyLink
    channel: str
    expires_in: int
    code: str | None = None  # only for an in-person (hall) code, shown to the clerk to hand over


@dataclass(frozen=True)
class Attestation:
    """The limited ID attestation a proxy may show (有限身份证明): no full name, no full number."""

    name_masked: str
    id_last4: str
    verified: bool
    age_over_60: bool
    age_over_18: bool


def relation_text(relation: str, language: str) -> str:
    texts = RELATIONS.get(relation, RELATIONS["relative"])
    return texts.get(language) or texts["zh-Hans"]


class FamilyService:
    def __init__(self, platform: Platform, sms: SmsGateway, accounts: AccountService, health: HealthCodeService,
                 appointments: AppointmentService, applications: ApplicationService) -> None:
        self.p = platform
        self.s = platform.settings
        self.sms = sms
        self.accounts = accounts
        self.health = health
        self.appointments = appointments
        self.applications = applications
        self.consent_codes = OneTimeCodes(
            platform.cache, platform.pii, platform.clock, prefix="family:consent-", purpose="family-consent",
            max_tries=MAX_TRIES,
            errors=CodeErrors(lapsed=lambda: AppError("FAMILY_CONSENT_EXPIRED", status=410), wrong="FAMILY_CONSENT_INVALID"))

    # -- linking -------------------------------------------------------------------------------
    async def request_link(self, proxy: CitizenSnapshot, relation: str, basis: str, principal_phone: str | None,
                           principal_id_number: str | None, licence_id: str | None) -> ConsentSent:
        """A proxy asks to act for a family member: SMS consent, or guardianship shown by a household register."""
        require_level(proxy, LEVEL_REAL_NAME)
        if relation not in RELATIONS or basis not in ("sms", "guardian"):
            raise AppError("VALIDATION_FAILED", status=422, params={"fields": "relation、basis"})
        await ratelimit.hit(self.p.cache, self.p.clock, f"family-link:{proxy.id}", LINK_REQUESTS_PER_DAY, 86400)
        if basis == "sms":
            principal = await self._principal_by_phone(principal_phone or "")
        else:
            principal = await self._principal_by_id_number(principal_id_number or "")
        link = await self._new_link(principal, proxy.id, "guardian" if basis == "guardian" else relation, basis)
        if basis == "guardian":
            await self._check_guardianship(proxy, principal, licence_id or "")
            link = await self._activate(link, evidence_licence_id=licence_id)
            return ConsentSent(link, "household_register", 0)
        return await self._send_consent(link, principal, proxy)

    async def hall_code(self, clerk: AuthenticatedClient, principal_id_number: str, proxy_phone: str,
                        relation: str) -> ConsentSent:
        """A service-hall clerk, having checked the principal in person, issues the code that the proxy enters."""
        if relation not in RELATIONS:
            raise AppError("VALIDATION_FAILED", status=422, params={"fields": "relation"})
        principal = await self._principal_by_id_number(principal_id_number)
        try:
            proxy = await self._principal_by_phone(proxy_phone)
        except NotFound:
            raise NotFound("FAMILY_PROXY_NOT_FOUND") from None
        link = await self._new_link(principal, proxy.id, relation, "hall", issued_by=clerk.id)
        code = await self._store_code(link.id)
        await audit.record_event(self.p.clock, actor=clerk.id, actor_type="admin", action="family_hall_code_issued",
                                 subject_id=principal.id, attributes={"link_id": link.id, "proxy": proxy.id})
        return ConsentSent(link, "hall", self.s.family_consent_ttl, code=code)

    async def renew(self, proxy: CitizenSnapshot, link_id: str) -> ConsentSent:
        """Ask for the principal's consent again (a link expires; it is renewed the way it was made)."""
        link = await self._link_of_proxy(proxy.id, link_id)
        if link.status == "revoked":
            raise Conflict("FAMILY_LINK_NOT_PENDING")
        principal = await Citizen.get(id=link.principal_id)
        if link.basis == "guardian":
            await self._check_guardianship(proxy, principal, link.evidence_licence_id or "")
            return ConsentSent(await self._activate(link, evidence_licence_id=link.evidence_licence_id),
                               "household_register", 0)
        return await self._send_consent(link, principal, proxy)

    async def confirm(self, proxy_id: str, link_id: str, code: str) -> FamilyLink:
        """The proxy enters the code the principal received (or the hall issued): the link is active."""
        link = await self._link_of_proxy(proxy_id, link_id)
        if link.status == "revoked":
            raise Conflict("FAMILY_LINK_NOT_PENDING")
        await self._consume_code(link.id, code)
        return await self._activate(link)

    async def revoke(self, citizen_id: str, link_id: str) -> FamilyLink:
        """The principal (or the proxy, stepping down) ends a link at once."""
        link = await FamilyLink.get_or_none(Q(principal_id=citizen_id) | Q(proxy_id=citizen_id), id=link_id)
        if link is None:
            raise NotFound("FAMILY_LINK_NOT_FOUND")
        return await self._revoke(link, citizen_id, "citizen")

    async def revoke_by_hall(self, clerk: AuthenticatedClient, link_id: str) -> FamilyLink:
        link = await FamilyLink.get_or_none(id=link_id)
        if link is None:
            raise NotFound("FAMILY_LINK_NOT_FOUND")
        return await self._revoke(link, clerk.id, "admin")

    async def links_of(self, citizen_id: str) -> tuple[list[FamilyLink], list[FamilyLink]]:
        """(links where I act for someone, links where someone acts for me), newest first, revoked included."""
        acting = await FamilyLink.filter(proxy_id=citizen_id).order_by("-created_at")
        acted_for = await FamilyLink.filter(principal_id=citizen_id).order_by("-created_at")
        return list(acting), list(acted_for)

    async def people(self, link: FamilyLink) -> tuple[Citizen, Citizen]:
        return await Citizen.get(id=link.principal_id), await Citizen.get(id=link.proxy_id)

    def masked(self, citizen: Citizen) -> tuple[str, str]:
        """(masked name, masked phone) of a linked person, as both sides see each other."""
        name = self.p.pii.decrypt(citizen.name_enc, "name") if citizen.name_enc else ""
        return mask_name(name), mask_phone(self.p.pii.decrypt(citizen.phone_enc, "phone"))

    def state(self, link: FamilyLink) -> str:
        """pending, active, expired or revoked, as of now."""
        if link.status == "active" and link.expires_at is not None and link.expires_at <= self.p.clock.now():
            return "expired"
        return link.status

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
                                       expires_at__gt=self.p.clock.now()).first()
        if link is None:
            raise Forbidden("FAMILY_LINK_REQUIRED")
        return link

    async def _record(self, link: FamilyLink, action: str, attributes: list[str], what: str) -> None:
        await audit.record_all(self.p.clock, [self._access(link, action, attributes, what)])

    @staticmethod
    def _access(link: FamilyLink, action: str, attributes: list[str], what: str) -> audit.AuditRecord:
        return audit.access(citizen_id=link.principal_id, actor=link.proxy_id, actor_type="proxy", action=action,
                            attributes=attributes, purpose=f"亲友代办（{relation_text(link.relation, 'zh-Hans')}）：{what}")

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
        on_behalf = self._access(link, "family_application_submitted", ["applications", "licences"], f"代为申请 {item.name}")
        # Written with the application, in its transaction: a proxy's submission is never left unaudited.
        return await self.applications.submit(principal_id, key, item_id, form, given, also_audit=[on_behalf])

    async def applications_of(self, proxy_id: str, principal_id: str) -> list[ApplicationView]:
        await self.act(proxy_id, principal_id, "family_applications_read", ["applications"], "查看办件进度")
        return await self.applications.mine(principal_id)

    async def principal_for_print(self, proxy_id: str, principal_id: str) -> CitizenSnapshot:
        principal = await self.act(proxy_id, principal_id, "family_health_code_printed",
                                   ["health_code", "color", "name_masked"], "打印健康码卡片")
        require_level(principal, LEVEL_REAL_NAME)
        return principal

    def attestation(self, principal: CitizenSnapshot) -> Attestation:
        name = self.p.pii.decrypt(principal.name_enc, "name") if principal.name_enc else ""
        id_number = self.p.pii.decrypt(principal.id_number_enc, "id_number") if principal.id_number_enc else ""
        age = age_on(birth_date_of(id_number), self.p.clock.now().astimezone(CHINA_TIME).date()) if id_number else 0
        return Attestation(mask_name(name), id_number[-4:], principal.level >= LEVEL_REAL_NAME, age >= 60, age >= 18)

    async def actions_by(self, proxy_id: str, limit: int = 50) -> list[AuditEntry]:
        """What I did for family members (my own log of proxy actions), newest first."""
        return await AuditEntry.filter(category="access", actor_type="proxy", actor=proxy_id) \
            .order_by("-seq").limit(limit)

    # -- steps ---------------------------------------------------------------------------------
    async def _principal_by_phone(self, raw_phone: str) -> Citizen:
        phone = normalize_phone(raw_phone)
        if phone is None:
            raise AppError("INVALID_PHONE", status=422)
        citizen = await Citizen.get_or_none(phone_hash=self.p.pii.lookup_hash(phone, "phone"))
        if citizen is None or citizen.level < LEVEL_REAL_NAME:
            raise NotFound("FAMILY_PRINCIPAL_NOT_FOUND")
        return citizen

    async def _principal_by_id_number(self, id_number: str) -> Citizen:
        try:
            citizen = await citizen_with_id_number(self.p, id_number)
        except NotFound:
            raise NotFound("FAMILY_PRINCIPAL_NOT_FOUND") from None
        return citizen

    async def _new_link(self, principal: Citizen, proxy_id: str, relation: str, basis: str,
                        issued_by: str | None = None) -> FamilyLink:
        if principal.id == proxy_id:
            raise AppError("FAMILY_SELF", status=422)
        now = self.p.clock.now()
        live = await FamilyLink.filter(proxy_id=proxy_id, principal_id=principal.id, status__in=("pending", "active"))
        for existing in live:
            if existing.status == "active" and existing.expires_at and existing.expires_at > now:
                raise Conflict("FAMILY_LINK_EXISTS", extra={"link_id": existing.id})
            if existing.status == "pending" and basis == existing.basis:
                return existing  # asking again re-sends the consent for the same pending link
        return await FamilyLink.create(id=new_id("fl"), principal_id=principal.id, proxy_id=proxy_id,
                                       relation=relation, basis=basis, status="pending", created_at=now,
                                       issued_by=issued_by)

    async def _send_consent(self, link: FamilyLink, principal: Citizen, proxy: CitizenSnapshot) -> ConsentSent:
        await ratelimit.hit(self.p.cache, self.p.clock, f"family-consent:{link.id}", CONSENTS_PER_HOUR, 3600)
        code = await self._store_code(link.id)
        proxy_name = mask_name(self.p.pii.decrypt(proxy.name_enc, "name")) if proxy.name_enc else ""
        proxy_phone = self.p.pii.decrypt(proxy.phone_enc, "phone")
        text = (f"【粤省事（示例）】{proxy_name}（手机尾号 {proxy_phone[-4:]}）申请作为您的亲友代办人"
                f"（{relation_text(link.relation, 'zh-Hans')}），可为您出示健康码、预约和申请办事。"
                f"如您同意，请把确认码 {code} 告诉对方，{self.s.family_consent_ttl // 60} 分钟内有效；"
                f"如不认识此人，请不要告诉任何人。")
        phone = self.p.pii.decrypt(principal.phone_enc, "phone")
        try:
            await asyncio.wait_for(self.sms.send(phone, text), timeout=self.s.sms_timeout)
        except (SmsDeliveryError, asyncio.TimeoutError):
            raise Unavailable("SMS_UNAVAILABLE", headers={"Retry-After": "30"}) from None
        await audit.record_event(self.p.clock, actor=proxy.id, actor_type="citizen", action="family_consent_requested",
                                 subject_id=principal.id, attributes={"link_id": link.id, "basis": link.basis})
        return ConsentSent(link, "sms", self.s.family_consent_ttl)

    async def _store_code(self, link_id: str) -> str:
        code = new_code()
        await self.consent_codes.keep(f"family:consent:{link_id}", code,
                                      expires_at=self.p.clock.timestamp() + self.s.family_consent_ttl,
                                      keep_for=self.s.family_consent_ttl + 60)
        return code

    async def _consume_code(self, link_id: str, code: str) -> None:
        await self.consent_codes.use(f"family:consent:{link_id}", code, ttl=self.s.family_consent_ttl + 60)

    async def _check_guardianship(self, guardian: CitizenSnapshot, child: Citizen, licence_id: str) -> None:
        """The child's page of the household register, valid, in the guardian's own wallet, naming this child."""
        today = self.p.clock.now().astimezone(CHINA_TIME).date()
        child_id_number = self.p.pii.decrypt(child.id_number_enc, "id_number") if child.id_number_enc else ""
        if not child_id_number or age_on(birth_date_of(child_id_number), today) >= 18:
            raise AppError("GUARDIAN_NOT_MINOR", status=422)
        guardian_id_number = self.p.pii.decrypt(guardian.id_number_enc or "", "id_number") if guardian.id_number_enc else ""
        if not guardian_id_number or age_on(birth_date_of(guardian_id_number), today) < 18:
            raise AppError("GUARDIAN_EVIDENCE_INVALID", status=422)
        licence = await Licence.get_or_none(id=licence_id, citizen_id=guardian.id, type_id="household_register")
        if licence is None or validity_of(licence, self.p.clock.now()) != "valid":
            raise AppError("GUARDIAN_EVIDENCE_INVALID", status=422)
        page: dict[str, Any] = json.loads(self.p.pii.decrypt(licence.fields_enc, f"licence:{licence.id}"))["fields"]
        child_name = self.p.pii.decrypt(child.name_enc, "name") if child.name_enc else ""
        same_child = page.get("name") == child_name and _same_day(page.get("birth_date"), birth_date_of(child_id_number))
        if not same_child or page.get("relationship") not in CHILD_RELATIONSHIPS:
            raise AppError("GUARDIAN_EVIDENCE_INVALID", status=422)

    async def _activate(self, link: FamilyLink, evidence_licence_id: str | None = None) -> FamilyLink:
        now = self.p.clock.now()
        renewal = link.status == "active"
        changes: dict[str, Any] = {"status": "active", "confirmed_at": now,
                                   "expires_at": now + timedelta(days=self.s.family_link_days)}
        if evidence_licence_id:
            changes["evidence_licence_id"] = evidence_licence_id
        if not await FamilyLink.filter(id=link.id, status__in=("pending", "active")).update(**changes):
            raise Conflict("FAMILY_LINK_NOT_PENDING")
        link = await FamilyLink.get(id=link.id)
        await audit.record_event(self.p.clock, actor=link.proxy_id, actor_type="citizen",
                                 action="family_link_renewed" if renewal else "family_link_confirmed",
                                 subject_id=link.principal_id, attributes={"link_id": link.id, "basis": link.basis})
        principal, proxy = await self.people(link)
        await notify(self.p.clock, link.principal_id, "family_link_confirmed",
                     {"proxy": self.masked(proxy)[0] or "-", "until": _day(link.expires_at)})
        return link

    async def _revoke(self, link: FamilyLink, by: str, by_type: str) -> FamilyLink:
        if link.status == "revoked":
            return link
        now = self.p.clock.now()
        await FamilyLink.filter(id=link.id).exclude(status="revoked").update(status="revoked", revoked_at=now,
                                                                                revoked_by=by)
        link = await FamilyLink.get(id=link.id)
        await audit.record_event(self.p.clock, actor=by, actor_type=by_type, action="family_link_revoked",
                                 subject_id=link.principal_id, attributes={"link_id": link.id, "proxy": link.proxy_id})
        principal, proxy = await self.people(link)
        await notify(self.p.clock, link.principal_id, "family_link_revoked", {"proxy": self.masked(proxy)[0] or "-"})
        await notify(self.p.clock, link.proxy_id, "family_link_ended", {"principal": self.masked(principal)[0] or "-"})
        return link

    async def _link_of_proxy(self, proxy_id: str, link_id: str) -> FamilyLink:
        link = await FamilyLink.get_or_none(id=link_id, proxy_id=proxy_id)
        if link is None:
            raise NotFound("FAMILY_LINK_NOT_FOUND")
        return link


def _same_day(value: Any, day: date) -> bool:
    return isinstance(value, str) and value[:10] == day.isoformat()


def _day(at: datetime | None) -> str:
    return at.astimezone(CHINA_TIME).date().isoformat() if at else "-"
