"""The e-licence wallet (电子证照): licence types, issuance by department issuers, the citizen's
wallet, status pushed by issuers, and shares for a stated purpose that relying parties verify online.

Issuing. Each licence type has one issuer (an admin-audience API client with the role
`licence_issuer`, assigned by a `licence_admin`). The issuer posts the licence together with the
licence document it signed itself: a compact JWS, ES256, with one of its registered API-client
keys (header `kid` = that key's kid, `typ` = "licence+jwt"), whose payload is

    {"iss": issuer client id, "iat": ..., "licence_type": code, "number": licence number,
     "holder": hex SHA-256 of the holder's 18-character ID number, "fields": {...},
     "valid_from": RFC 3339, "valid_until": RFC 3339 or null}

and must say exactly what the request says. The fields are checked against the type's schema,
stored encrypted (bound to the licence id) and shown masked; the number is kept as a keyed hash
(unique per type) and, for display, inside the encrypted fields.

Validity is computed at every read: revoked, suspended or expired (pushed by the issuer, or
`valid_until` passed) and not yet valid win over `valid`, so a change shows at once.

Pulled statuses (证照状态同步). A department may also be asked for a licence's status through the data
exchange: `pull_status_on_open` names who asks for a type (e.g. 交管 for `driving_licence`) when the holder opens
one, and `apply_pulled_status` applies the answer through the same path as an issuer's push (audit entry with
the department as actor, the holder notified). A department that cannot be reached changes nothing.

Sharing. A share names a purpose and lives at most `share_max_minutes` (never past the
licence's own `valid_until`). Its QR carries `GDLS1:` + base45(zlib(COSE_Sign1)) signed with our
key (as health codes are), with claims {1 iss, 4 exp, 6 iat, "ls": {1: share id}}; a changed
character breaks the signature. Verification is online: the share must exist, not be withdrawn
or expired, and the licence must be valid now. Each verification is in the holder's access log.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping

import jwt
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app.clock import CHINA_TZ
from app import audit
from app.db import column
from app.notifications.service import notify
from app.accounts.service import citizen_with_id_number, normalize_citizen_number
from app.errors import AppError, Conflict, Forbidden, NotFound, ValidationFailed
from app.i18n import N_, translate, translations
from app.ids import new_id
from app.platform import Platform
from app.security import cose
from app.security.clients import ApiClient, AuthenticatedClient, registered_client
from app.security.pii import mask_name
from app.vouchers import licence_fields
from app.vouchers.licence_fields import FieldView
from app.vouchers.licence_image import LicenceCard, render_card_png
from app.vouchers.models import Licence, LicenceShare, LicenceType

TYPES_FILE = Path(__file__).with_name("licence_types.json")
ISSUER_ROLE = "licence_issuer"
PLATFORM_ISSUER = "platform"  # licences the platform issues itself (e-receipts), signed with our own key
PLATFORM_ISSUER_NAME = "粤省事平台（示例）"
PLATFORM_TYPES = frozenset({"payment_receipt"})  # types only the platform issues; no department can be assigned
DOCUMENT_TYP = "licence+jwt"
DOCUMENT_CLAIMS = ("iss", "licence_type", "number", "holder", "fields", "valid_from")
STATUSES = ("valid", "suspended", "revoked", "expired")  # what an issuer may push
PLATFORM_STATUSES = ("valid", "refunded")  # what the platform sets on its own licences (an e-receipt refunded in full)
NOT_VALID_STATUSES = ("revoked", "suspended", "expired", "refunded")  # a status that wins over the dates
SHARE_PREFIX = "GDLS1:"
SHARE_CLAIMS_KEY = "ls"
VERIFIED_ATTRIBUTES = ("licence_type", "issuer", "holder_name_masked", "status")

VALIDITY_TEXTS = {  # zh-Hans msgids
    "valid": N_("有效"),
    "expired": N_("已过期"),
    "suspended": N_("已暂停使用"),
    "revoked": N_("已吊销"),
    "refunded": N_("已退款"),
    "not_yet_valid": N_("尚未生效"),
}


def validity_text(validity: str, language: str) -> str:
    return translate(VALIDITY_TEXTS[validity], language)


def validity_of(licence: Licence, now: datetime) -> str:
    """valid, expired, suspended, revoked, refunded or not_yet_valid, as of `now`."""
    if licence.status in NOT_VALID_STATUSES:
        return licence.status
    if licence.valid_until is not None and now >= licence.valid_until:
        return "expired"
    if now < licence.valid_from:
        return "not_yet_valid"
    return "valid"


def holder_digest(id_number: str) -> str:
    """What the issuer puts in the document's `holder` claim: hex SHA-256 of the normalized ID number."""
    return hashlib.sha256(id_number.encode("ascii")).hexdigest()


@lru_cache(maxsize=1)
def sample_types(path: Path = TYPES_FILE) -> dict[str, dict[str, Any]]:
    """The sample types of `licence_types.json`, each with its schema as stored (x-number, x-order added)."""
    data = json.loads(path.read_text("utf-8"))
    types: dict[str, dict[str, Any]] = {}
    for code, spec in data["types"].items():
        schema = {**spec["schema"], "x-number": spec["number"], "x-order": list(spec["schema"]["properties"])}
        licence_fields.check_schema(code, schema)
        types[code] = {"name": spec["name"], "schema": schema}
    return types


@dataclass(frozen=True)
class PulledStatus:
    """A licence's status as its issuing department holds it now, asked through the data exchange (证照状态同步)."""

    status: str  # one of STATUSES
    reason: str | None  # the department's wording (e.g. 交管：暂扣); None when valid
    department: str  # the department's exchange member id: the actor of the audit entry


StatusPull = Callable[[str, str], Awaitable[object]]  # (licence id, holder's citizen id): ask the department, apply


@dataclass(frozen=True)
class LicenceIssue:
    """What an issuer posts."""

    licence_type: str
    holder_id_number: str
    number: str
    fields: dict[str, Any]
    valid_from: datetime
    valid_until: datetime | None
    document: str


@dataclass(frozen=True)
class LicenceView:
    """A licence as its holder (or its issuer) sees it: PII masked, validity as of now."""

    id: str
    licence_type: str
    type_name: Mapping[str, str]
    issuer_id: str
    issuer_name: str
    issuer_kid: str
    number_label: Mapping[str, str]
    number_masked: str
    holder_name_masked: str | None
    validity: str
    status: str
    status_reason: str | None
    valid_from: datetime
    valid_until: datetime | None
    issued_at: datetime
    status_changed_at: datetime
    fields: tuple[FieldView, ...]


@dataclass(frozen=True)
class ShareView:
    id: str
    licence_id: str
    licence_type: str
    type_name: Mapping[str, str]
    purpose: str
    watermark: str
    created_at: datetime
    expires_at: datetime
    withdrawn_at: datetime | None
    state: str  # active, withdrawn, expired
    token: str | None  # only while active


@dataclass(frozen=True)
class ShareCheck:
    """What a verifier learns from a valid share."""

    licence_type: str
    type_name: Mapping[str, str]
    issuer_name: str
    holder_name_masked: str | None
    purpose: str
    expires_at: datetime
    status: str


class ShareRefused(Exception):
    """Why a share token does not verify; `code` is the stable error code verifiers see."""

    def __init__(self, code: str, licence_type: str | None = None, status: str | None = None) -> None:
        super().__init__(code)
        self.code, self.licence_type, self.status = code, licence_type, status


def _bad_document(reason: str) -> AppError:
    return AppError("DOCUMENT_SIGNATURE_INVALID", status=422, extra={"reason": reason})


def _mismatch(claim: str) -> AppError:
    return AppError("DOCUMENT_MISMATCH", status=422, params={"claim": claim}, extra={"claim": claim})


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


class LicenceService:
    def __init__(self, platform: Platform, share_max_minutes: int | None = None) -> None:
        self.platform = platform
        self.share_max_minutes = share_max_minutes or platform.settings.vouchers.licence_share_max_minutes
        self.status_pulls: dict[str, StatusPull] = {}  # licence type -> how its department is asked for a status

    # -- licence types -------------------------------------------------------------------------
    async def seed_licence_types(self) -> int:
        """Upsert the sample types (names and schemas); an issuer already assigned is kept."""
        for code, spec in sample_types().items():
            row = await LicenceType.get_or_none(code=code)
            if row is None:
                try:
                    await LicenceType.create(code=code, name=spec["name"], schema=spec["schema"], sample=True)
                    continue
                except IntegrityError:
                    pass  # another worker seeded it first
            if row is None or row.name != spec["name"] or row.schema != spec["schema"]:
                await LicenceType.filter(code=code).update(name=spec["name"], schema=spec["schema"])
        return len(sample_types())

    async def licence_types(self) -> list[LicenceType]:
        return await LicenceType.all().order_by("code")

    async def _type(self, code: str) -> LicenceType:
        row = await LicenceType.get_or_none(code=code)
        if row is None:
            raise NotFound("LICENCE_TYPE_NOT_FOUND")
        return row

    async def assign_issuer(self, admin: AuthenticatedClient, type_code: str, client_id: str | None) -> LicenceType:
        """Make `client_id` the one issuer of a type (None: nobody may issue it until assigned)."""
        row = await self._type(type_code)
        if type_code in PLATFORM_TYPES:  # nobody but the platform puts e-receipts into wallets
            raise Conflict("LICENCE_TYPE_PLATFORM_ISSUED")
        if client_id is not None:
            client = await ApiClient.get_or_none(id=client_id)
            if client is None or client.audience != "admin" or ISSUER_ROLE not in client.roles:
                raise AppError("ISSUER_CLIENT_INVALID", status=422, params={"role": ISSUER_ROLE})
        previous = row.issuer_client_id
        row.issuer_client_id = client_id
        await row.save(update_fields=["issuer_client_id"])
        await audit.record_event(self.platform.clock, actor=admin.id, actor_type="admin", action="licence_issuer_assigned",
                                 attributes={"licence_type": type_code, "issuer": client_id, "previous": previous})
        return row

    # -- issuers -------------------------------------------------------------------------------
    async def issue_licence(self, issuer: AuthenticatedClient, request: LicenceIssue) -> LicenceView:
        """Put a licence into the wallet of the citizen with `holder_id_number`."""
        type_row = await self._type(request.licence_type)
        if type_row.issuer_client_id != issuer.id:
            raise Forbidden("ISSUER_NOT_ALLOWED", params={"licence_type": type_row.code})
        self._check_content(type_row, request)
        id_number = normalize_citizen_number(request.holder_id_number, self.platform.clock.today())
        if id_number is None:
            raise AppError("INVALID_ID_NUMBER", status=422,
                           extra={"fields": [{"field": "holder_id_number", "problem": "checksum, birth date or region"}]})
        kid = await self._check_document(issuer, request, id_number)
        citizen = await citizen_with_id_number(self.platform, id_number)
        licence = await self._store(issuer.id, type_row, request, citizen.id, kid)
        await audit.record_event(self.platform.clock, actor=issuer.id, actor_type="department", action="licence_issued",
                                 subject_id=citizen.id, attributes={"licence_id": licence.id, "licence_type": type_row.code})
        await notify(self.platform, citizen.id, "licence_issued",
                     {"issuer": issuer.name, "licence": type_row.name.get("zh-Hans", type_row.code)})
        return self._view(licence, type_row, issuer.name)

    def _check_content(self, type_row: LicenceType, request: LicenceIssue) -> None:
        schema = type_row.schema
        problems = licence_fields.validate(schema, request.fields)
        pattern = (schema.get("x-number") or {}).get("pattern")
        if not request.number or (pattern and not re.search(pattern, request.number)):
            problems.append({"field": "number", "problem": "format"})
        if request.valid_until is not None and request.valid_until <= request.valid_from:
            problems.append({"field": "valid_until", "problem": "must be after valid_from"})
        if problems:
            raise AppError("LICENCE_FIELDS_INVALID", status=422, params={"fields": "、".join(p["field"] for p in problems)},
                           extra={"fields": problems})

    async def _check_document(self, issuer: AuthenticatedClient, request: LicenceIssue, id_number: str) -> str:
        """Verify the issuer-signed document with the issuer's registered key; it must match the request."""
        try:
            header = jwt.get_unverified_header(request.document)
        except jwt.PyJWTError:
            raise _bad_document("not a compact JWS") from None
        kid = header.get("kid")
        if header.get("alg") != "ES256" or header.get("typ") != DOCUMENT_TYP or not isinstance(kid, str):
            raise _bad_document(f"header must have alg ES256, typ {DOCUMENT_TYP} and the kid of your key")
        now = self.platform.clock.now()
        registered = await registered_client(self.platform.cache, issuer.id)
        public_key = registered.live_key(kid, now) if registered else None
        if public_key is None:
            raise _bad_document("kid is not a live key of this issuer")
        try:
            claims = jwt.decode(request.document, public_key,
                                algorithms=["ES256"], options={"require": list(DOCUMENT_CLAIMS), "verify_exp": False,
                                                               "verify_iat": False, "verify_nbf": False, "verify_aud": False})
        except jwt.MissingRequiredClaimError as error:
            raise _mismatch(error.claim) from None
        except jwt.PyJWTError:
            raise _bad_document("the signature does not verify with this kid") from None
        expected = {"iss": issuer.id, "licence_type": request.licence_type, "number": request.number,
                    "holder": holder_digest(id_number), "fields": request.fields}
        for claim, value in expected.items():
            if claims[claim] != value:
                raise _mismatch(claim)
        if _instant(claims["valid_from"]) != request.valid_from:
            raise _mismatch("valid_from")
        until = claims.get("valid_until")
        if (request.valid_until is None) != (until is None) or (until is not None and _instant(until) != request.valid_until):
            raise _mismatch("valid_until")
        return kid

    async def issue_own(self, type_code: str, citizen_id: str, number: str, fields: dict[str, Any],
                        valid_from: datetime) -> str:
        """A licence the platform issues itself (e.g. the e-receipt of a payment, 电子票据), signed with our key;
        returns the licence id. The same checks as a department issue apply (schema, number unique per type)."""
        if type_code not in PLATFORM_TYPES:
            raise ValueError(f"{type_code} is issued by a department, not by the platform")
        type_row = await self._type(type_code)
        request, kid = self._signed_own(type_code, citizen_id, number, fields, valid_from)
        self._check_content(type_row, request)
        licence = await self._store(PLATFORM_ISSUER, type_row, request, citizen_id, kid)
        await audit.record_event(self.platform.clock, actor=PLATFORM_ISSUER, actor_type="system", action="licence_issued",
                                 subject_id=citizen_id, attributes={"licence_id": licence.id, "licence_type": type_code})
        return licence.id

    async def restate_own(self, licence_id: str, fields: dict[str, Any], status: str, reason: str | None) -> None:
        """The platform restates a licence it issued itself (an e-receipt after a refund): its fields, in a
        document signed again with our key, and its status, `refunded` making it not valid. The holder's wallet
        and every verifier see the change at once."""
        if status not in PLATFORM_STATUSES:
            raise ValueError(f"the platform does not set the status {status!r}")
        licence = await Licence.get(id=licence_id, issuer_client_id=PLATFORM_ISSUER)
        type_row, number = await self._type(licence.type_id), self._content(licence)["number"]
        request, kid = self._signed_own(type_row.code, licence.citizen_id, number, fields, licence.valid_from)
        self._check_content(type_row, request)
        changed = (licence.status, licence.status_reason) != (status, reason)
        await Licence.filter(id=licence.id).update(
            fields_enc=self._sealed_content(licence.id, number, fields), issuer_kid=kid,
            document=self.platform.pii.encrypt(request.document, f"licence-document:{licence.id}"), status=status,
            status_reason=reason, status_changed_at=self.platform.clock.now() if changed else licence.status_changed_at)
        await audit.record_event(self.platform.clock, actor=PLATFORM_ISSUER, actor_type="system", action="licence_restated",
                                 subject_id=licence.citizen_id,
                                 attributes={"licence_id": licence.id, "licence_type": type_row.code,
                                             "from": licence.status, "to": status})

    def _signed_own(self, type_code: str, citizen_id: str, number: str, fields: dict[str, Any],
                    valid_from: datetime) -> tuple[LicenceIssue, str]:
        """What the platform issues as its own licence: the content and its document signed with our current key."""
        key = self.platform.keys.current
        claims = {"iss": PLATFORM_ISSUER, "iat": int(self.platform.clock.timestamp()), "licence_type": type_code,
                  "number": number, "holder": citizen_id, "fields": fields, "valid_from": valid_from.isoformat(),
                  "valid_until": None}
        document = jwt.encode(claims, key.private_key, algorithm="ES256", headers={"kid": key.kid, "typ": DOCUMENT_TYP})
        return LicenceIssue(type_code, "", number, fields, valid_from, None, document), key.kid

    async def _store(self, issuer_id: str, type_row: LicenceType, request: LicenceIssue, citizen_id: str,
                     kid: str) -> Licence:
        number_hash = self.platform.pii.lookup_hash(request.number, "licence_number")
        if await Licence.filter(type_id=type_row.code, number_hash=number_hash).exists():
            raise Conflict("LICENCE_EXISTS")
        licence_id, now = new_id("lic"), self.platform.clock.now()
        try:
            return await Licence.create(
                id=licence_id, citizen_id=citizen_id, type_id=type_row.code, issuer_client_id=issuer_id,
                number_hash=number_hash, fields_enc=self._sealed_content(licence_id, request.number, request.fields),
                document=self.platform.pii.encrypt(request.document, f"licence-document:{licence_id}"), issuer_kid=kid,
                valid_from=request.valid_from, valid_until=request.valid_until, status="valid",
                issued_at=now, status_changed_at=now,
            )
        except IntegrityError:
            raise Conflict("LICENCE_EXISTS") from None

    async def update_status(self, issuer: AuthenticatedClient, licence_id: str, status: str,
                            reason: str | None) -> LicenceView:
        """The issuer suspends, revokes, expires or reinstates one of its licences; it shows at once.
        Revocation is final."""
        if status not in STATUSES:
            raise ValidationFailed([{"field": "status", "problem": "/".join(STATUSES)}])
        licence = await Licence.get_or_none(id=licence_id, issuer_client_id=issuer.id)
        if licence is None:
            raise NotFound("LICENCE_NOT_FOUND")
        if licence.status == "revoked" and status != "revoked":
            raise Conflict("LICENCE_REVOKED")
        await self._change_status(licence, status, reason, actor=issuer.id)
        return self._view(licence, await self._type(licence.type_id), issuer.name)

    async def _change_status(self, licence: Licence, status: str, reason: str | None, *, actor: str,
                             via: str | None = None) -> bool:
        """The one way a department's status reaches a licence, pushed by its issuer or pulled from the
        department (`via` the exchange): saved, audited with the department as actor, the holder notified.
        False when nothing changed."""
        previous = licence.status
        if (previous, licence.status_reason) == (status, reason):
            return False
        licence.status, licence.status_reason, licence.status_changed_at = status, reason, self.platform.clock.now()
        await licence.save(update_fields=["status", "status_reason", "status_changed_at"])
        attributes = {"licence_id": licence.id, "from": previous, "to": status, **({"via": via} if via else {})}
        await audit.record_event(self.platform.clock, actor=actor, actor_type="department", action="licence_status_changed",
                                 subject_id=licence.citizen_id, attributes=attributes)
        type_row = await self._type(licence.type_id)
        await notify(self.platform, licence.citizen_id, "licence_status_changed",
                     {"licence": type_row.name.get("zh-Hans", type_row.code),
                      "status": validity_text(status if status != "valid" else "valid", "zh-Hans")})
        return True

    # -- statuses pulled from the departments (证照状态同步) --------------------------------------
    def pull_status_on_open(self, type_code: str, pull: StatusPull) -> None:
        """When the holder opens a licence of this type, `pull` first asks its department for the status
        (and applies it through `apply_pulled_status`); a department down leaves the licence as it was."""
        self.status_pulls[type_code] = pull

    async def apply_pulled_status(self, licence_id: str, pulled: PulledStatus) -> bool:
        """The status the issuing department holds, pulled through the exchange, applied as the issuer's own push
        would be (audit entry with the department as actor, the holder notified); True when it changed.
        Revocation stays final, and e-receipts are the platform's own."""
        if pulled.status not in STATUSES:
            raise ValueError(f"a department status is one of {STATUSES}, not {pulled.status!r}")
        licence = await Licence.get_or_none(id=licence_id)
        if licence is None or licence.issuer_client_id == PLATFORM_ISSUER:
            return False
        if licence.status == "revoked" and pulled.status != "revoked":
            return False
        return await self._change_status(licence, pulled.status, pulled.reason, actor=pulled.department,
                                         via="exchange")

    async def licences_kept_in_step(self, type_code: str, *, ids: list[str] | None = None, after: str = "",
                                    limit: int = 1000) -> list[tuple[str, str]]:
        """(licence id, holder's citizen id) of the type's licences whose status their department may still
        change (not revoked), by id: those of `ids`, or up to `limit` after the id `after`."""
        rows = Licence.filter(type_id=type_code).exclude(status="revoked")
        if ids is not None:
            return list(await rows.filter(id__in=ids).order_by("id").values_list("id", "citizen_id")) if ids else []
        return list(await rows.filter(id__gt=after).order_by("id").limit(limit).values_list("id", "citizen_id"))

    # -- the citizen's wallet ------------------------------------------------------------------
    async def licences_of(self, citizen_id: str) -> list[LicenceView]:
        rows = await Licence.filter(citizen_id=citizen_id).order_by("-issued_at")
        types = {t.code: t for t in await LicenceType.filter(code__in={r.type_id for r in rows})}
        names = await self._issuer_names({r.issuer_client_id for r in rows})
        return [self._view(r, types[r.type_id], names.get(r.issuer_client_id, "")) for r in rows]

    async def open(self, citizen_id: str, licence_id: str) -> LicenceView:
        licence = await self._owned(citizen_id, licence_id)
        pull = self.status_pulls.get(licence.type_id)
        if pull is not None and licence.issuer_client_id != PLATFORM_ISSUER:
            await pull(licence.id, citizen_id)  # its department's status now; never raises for a department down
            licence = await self._owned(citizen_id, licence_id)
        names = await self._issuer_names({licence.issuer_client_id})
        return self._view(licence, await self._type(licence.type_id), names.get(licence.issuer_client_id, ""))

    async def _owned(self, citizen_id: str, licence_id: str) -> Licence:
        """Only the holder's own licences are found: another citizen's is "not found", never "forbidden"."""
        licence = await Licence.get_or_none(id=licence_id, citizen_id=citizen_id)
        if licence is None:
            raise NotFound("LICENCE_NOT_FOUND")
        return licence

    @staticmethod
    async def _issuer_names(client_ids: set[str]) -> dict[str, str]:
        names = dict(await ApiClient.filter(id__in=client_ids).values_list("id", "name")) if client_ids else {}
        return {PLATFORM_ISSUER: PLATFORM_ISSUER_NAME, **names}

    def _content(self, licence: Licence) -> dict[str, Any]:
        return json.loads(self.platform.pii.decrypt(licence.fields_enc, f"licence:{licence.id}"))

    def _sealed_content(self, licence_id: str, number: str, fields: dict[str, Any]) -> str:
        """The number and fields as stored: encrypted, bound to the licence id (`_content` reads them back)."""
        content = json.dumps({"number": number, "fields": fields}, ensure_ascii=False, sort_keys=True)
        return self.platform.pii.encrypt(content, f"licence:{licence_id}")

    def _view(self, licence: Licence, type_row: LicenceType, issuer_name: str) -> LicenceView:
        content, schema = self._content(licence), type_row.schema
        holder = licence_fields.holder_name(schema, content["fields"])
        number_spec = schema.get("x-number") or {}
        return LicenceView(
            id=licence.id, licence_type=type_row.code, type_name=type_row.name, issuer_id=licence.issuer_client_id,
            issuer_name=issuer_name, issuer_kid=licence.issuer_kid,
            number_label=number_spec.get("label") or translations(N_("证号")),
            number_masked=licence_fields.mask_number(content["number"]),
            holder_name_masked=mask_name(holder) if holder else None,
            validity=validity_of(licence, self.platform.clock.now()), status=licence.status,
            status_reason=licence.status_reason, valid_from=licence.valid_from, valid_until=licence.valid_until,
            issued_at=licence.issued_at, status_changed_at=licence.status_changed_at,
            fields=licence_fields.shown_fields(schema, content["fields"]),
        )

    # -- an identity taken back by its owner -----------------------------------------------------
    # -- account deletion (注销) ----------------------------------------------------------------------
    async def erase_citizen(self, citizen_id: str) -> int:
        """The account is erased: the wallet's copies of its licences go, with their shares (the issuing
        departments keep the originals). Returns how many were removed."""
        ids = await column(Licence.filter(citizen_id=citizen_id), "id")
        await LicenceShare.filter(licence_id__in=ids).delete()
        removed = await Licence.filter(id__in=ids).delete()
        if removed:
            await audit.record_event(self.platform.clock, actor="system", actor_type="system",
                                     action="wallet_erased", subject_id=citizen_id, attributes={"licences": removed})
        return removed

    async def move_to_owner(self, from_citizen_id: str, to_citizen_id: str) -> int:
        """The owner of an identity took it back from `from_citizen_id`: the licences departments issued to
        that identity move to the owner's wallet, and every live share of them ends (the other account made
        those shares, they must not open the owner's licence). E-receipts the platform issued stay: they
        record that account's own payments, and its payment records stay with it. Returns how many moved."""
        ids = await self._issued_by_departments(from_citizen_id)
        if not ids:
            return 0
        now = self.platform.clock.now()
        async with in_transaction():
            ended = await LicenceShare.filter(licence_id__in=ids, withdrawn_at=None, expires_at__gt=now) \
                .update(withdrawn_at=now)
            # citizen_id is in no unique constraint (licences are unique per type and number), and the
            # sealed fields and document are bound to the licence id: a plain update moves them.
            moved = await Licence.filter(id__in=ids, citizen_id=from_citizen_id).update(citizen_id=to_citizen_id)
        await audit.record_event(self.platform.clock, actor="system", actor_type="system", action="licences_moved",
                                 subject_id=to_citizen_id, attributes={"from": from_citizen_id, "licences": moved,
                                                                       "shares_ended": ended})
        return moved

    @staticmethod
    async def _issued_by_departments(citizen_id: str) -> list[str]:
        """Ids of the citizen's licences that a department issued to their ID number."""
        return await column(Licence.filter(citizen_id=citizen_id).exclude(issuer_client_id=PLATFORM_ISSUER), "id")

    # -- shares --------------------------------------------------------------------------------
    async def share(self, citizen_id: str, licence_id: str, purpose: str, valid_minutes: int) -> ShareView:
        """Share a licence for `purpose` for `valid_minutes` (never past the licence's own expiry)."""
        if not 1 <= valid_minutes <= self.share_max_minutes:
            raise ValidationFailed([{"field": "valid_minutes", "problem": f"1..{self.share_max_minutes}"}])
        licence = await self._owned(citizen_id, licence_id)
        now = self.platform.clock.now()
        state = validity_of(licence, now)
        if state != "valid":
            raise Conflict("LICENCE_NOT_VALID", extra={"validity": state})
        expires_at = now + timedelta(minutes=valid_minutes)
        if licence.valid_until is not None:
            expires_at = min(expires_at, licence.valid_until)
        share = await LicenceShare.create(id=new_id("lsh"), licence_id=licence.id, citizen_id=citizen_id, purpose=purpose,
                                          created_at=now, expires_at=expires_at)
        await audit.record_event(self.platform.clock, actor=citizen_id, actor_type="citizen", action="licence_shared",
                                 subject_id=citizen_id, attributes={"share_id": share.id, "licence_id": licence.id},
                                 purpose=purpose)
        return self._share_view(share, await self._type(licence.type_id), now)

    async def withdraw(self, citizen_id: str, share_id: str) -> None:
        """Withdraw a share: from now on it no longer verifies. Withdrawing twice changes nothing."""
        share = await self._owned_share(citizen_id, share_id)
        if share.withdrawn_at is None:
            if await LicenceShare.filter(id=share.id, withdrawn_at=None).update(withdrawn_at=self.platform.clock.now()):
                await audit.record_event(self.platform.clock, actor=citizen_id, actor_type="citizen",
                                         action="licence_share_withdrawn", subject_id=citizen_id,
                                         attributes={"share_id": share.id, "licence_id": share.licence_id})

    async def shares_of(self, citizen_id: str) -> list[ShareView]:
        shares = await LicenceShare.filter(citizen_id=citizen_id).order_by("-created_at").prefetch_related("licence")
        types = {t.code: t for t in await LicenceType.filter(code__in={s.licence.type_id for s in shares})}
        now = self.platform.clock.now()
        return [self._share_view(s, types[s.licence.type_id], now) for s in shares]

    async def _owned_share(self, citizen_id: str, share_id: str) -> LicenceShare:
        share = await LicenceShare.get_or_none(id=share_id, citizen_id=citizen_id)
        if share is None:
            raise NotFound("SHARE_NOT_FOUND")
        return share

    def _share_view(self, share: LicenceShare, type_row: LicenceType, now: datetime) -> ShareView:
        state = "withdrawn" if share.withdrawn_at else "expired" if share.expires_at <= now else "active"
        return ShareView(
            id=share.id, licence_id=share.licence_id, licence_type=type_row.code, type_name=type_row.name,
            purpose=share.purpose, watermark=watermark(share), created_at=share.created_at, expires_at=share.expires_at,
            withdrawn_at=share.withdrawn_at, state=state, token=self.share_token(share) if state == "active" else None,
        )

    def share_token(self, share: LicenceShare) -> str:
        """The QR text of a share, signed with our current key (deterministic: the same text on every call)."""
        key = self.platform.keys.current
        cwt = {cose.CWT_ISS: self.platform.settings.health_code.issuer, cose.CWT_IAT: int(share.created_at.timestamp()),
               cose.CWT_EXP: int(share.expires_at.timestamp()), SHARE_CLAIMS_KEY: {1: share.id}}
        return cose.sign_cwt(cwt, key.private_key, key.kid_bytes, SHARE_PREFIX)

    async def share_image(self, citizen_id: str, share_id: str) -> bytes:
        """The watermarked licence card with the verification QR, drawn off the event loop."""
        share = await self._owned_share(citizen_id, share_id)
        now = self.platform.clock.now()
        if share.withdrawn_at is not None:
            raise AppError("SHARE_WITHDRAWN", status=410)
        if share.expires_at <= now:
            raise AppError("SHARE_EXPIRED", status=410)
        view = await self.open(citizen_id, share.licence_id)
        card = card_for(view, self.share_token(share), watermark(share), share.expires_at)
        return await asyncio.get_running_loop().run_in_executor(None, render_card_png, card)

    # -- verifiers -----------------------------------------------------------------------------
    async def verify_share(self, verifier: AuthenticatedClient, token: str) -> ShareCheck:
        """A relying party checks a share online: signature, share, purpose, expiry, licence status.
        A successful check (and a refused one that showed the licence status) is in the holder's access log."""
        try:
            return await self._verify_share(verifier, token)
        except ShareRefused as refused:
            await audit.record_event(self.platform.clock, actor=verifier.id, actor_type="relying_party",
                                     action="licence_verification_refused", attributes={"error": refused.code})
            raise

    async def _verify_share(self, verifier: AuthenticatedClient, token: str) -> ShareCheck:
        try:
            claims = cose.verify_cwt(token, self.platform.keys.public_key_for, SHARE_PREFIX)
            share_id, expires = str(claims[SHARE_CLAIMS_KEY][1]), int(claims[cose.CWT_EXP])
        except cose.CodeError as error:
            raise ShareRefused(error.code) from None
        except (KeyError, TypeError, ValueError):
            raise ShareRefused("BAD_CLAIMS") from None
        share = await LicenceShare.get_or_none(id=share_id)
        if share is None:
            raise ShareRefused("SHARE_NOT_FOUND")
        now = self.platform.clock.now()
        if share.withdrawn_at is not None:
            raise ShareRefused("SHARE_WITHDRAWN")
        if share.expires_at <= now or expires <= now.timestamp():
            raise ShareRefused("SHARE_EXPIRED")
        licence = await Licence.get(id=share.licence_id)
        state = validity_of(licence, now)
        if state != "valid":
            await self._record_access(verifier, licence, share, ["licence_type", "status"])
            raise ShareRefused("LICENCE_NOT_VALID", licence_type=licence.type_id, status=state)
        names = await self._issuer_names({licence.issuer_client_id})
        view = self._view(licence, await self._type(licence.type_id), names.get(licence.issuer_client_id, ""))
        await self._record_access(verifier, licence, share, list(VERIFIED_ATTRIBUTES))
        return ShareCheck(licence_type=view.licence_type, type_name=view.type_name, issuer_name=view.issuer_name,
                          holder_name_masked=view.holder_name_masked, purpose=share.purpose,
                          expires_at=share.expires_at, status=view.validity)

    async def _record_access(self, verifier: AuthenticatedClient, licence: Licence, share: LicenceShare,
                             attributes: list[str]) -> None:
        await audit.record_access(self.platform.clock, citizen_id=licence.citizen_id, actor=verifier.name,
                                  actor_type="relying_party", action="licence_verified", attributes=attributes,
                                  purpose=share.purpose)


def watermark(share: LicenceShare) -> str:
    """仅供 <purpose> 使用 <date>, the date of sharing in China time."""
    return f"仅供 {share.purpose} 使用 {share.created_at.astimezone(CHINA_TZ):%Y-%m-%d}"


def card_for(view: LicenceView, token: str, mark: str | None, share_expires_at: datetime) -> LicenceCard:
    """The card drawn for a share: zh-Hans labels, masked values (the card is an official document image)."""
    rows = ((view.number_label.get("zh-Hans", "证号"), view.number_masked),
            *((f.label.get("zh-Hans") or f.name, f.value) for f in view.fields))
    until = f" · 有效期至 {view.valid_until.astimezone(CHINA_TZ):%Y-%m-%d}" if view.valid_until else " · 长期有效"
    return LicenceCard(
        title=view.type_name.get("zh-Hans", view.licence_type), subtitle=f"电子证照 · 签发：{view.issuer_name}",
        rows=rows, validity=f"状态：{validity_text(view.validity, 'zh-Hans')}{until}", qr_text=token,
        qr_caption=f"扫码核验 · {share_expires_at.astimezone(CHINA_TZ):%m-%d %H:%M} 前有效", watermark=mark,
    )
