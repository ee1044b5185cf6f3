"""A small world to attack: two citizens with real data of every kind, and a client of every audience.

张三 (A, the owner) has sessions, inbox messages, an application, an appointment, an e-licence and a
share of it, the ID voucher and a presentation. 李四 (B, the other citizen) is as well set up, so any
refusal B meets is about ownership, not about a missing identity level. Both applied for an item of
the civil-affairs bureau (CIVIL_AFFAIRS); the exit-entry bureau (EXIT_ENTRY) has an item too, so a
clerk of another department is at hand. Sample data (示例).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Awaitable, Callable

import httpx

from tests.uploads.upload_factory import uploaded
from tests.factories import Department, SignedInCitizen, make_department
from tests.security.routes import endpoints
from tests.services.service_factory import CIVIL_AFFAIRS, apply, make_item, rate
from tests.vouchers.licence_factory import assign, issue, share
from tests.vouchers.voucher_factory import Holder, shown_token, voucher_holder

AUDIENCE_URLS = {"admin": "https://gov-app.example.cn/admin", "partner": "https://gov-app.example.cn/partner",
                 "relying_party": "https://gov-app.example.cn/relying_party"}
# Ids the service hands out look like "ap_…", "ses_…", "n_…": opaque, prefixed, random.
OBJECT_ID = re.compile(r"^[a-z]{1,8}_[A-Za-z0-9_-]{6,}$")
EXIT_ENTRY = "gz-exit-entry"


@dataclass
class Credentials:
    """How each audience authenticates, fresh for every request: a client JWT signed by the client, or a
    citizen's access token of a new device session (a route may sign its caller out, as logout does)."""

    citizen: SignedInCitizen
    clients: dict[str, Department]
    platform: Any
    clock: Any

    async def headers(self, audience: str) -> dict[str, str]:
        if audience in ("citizen", "miniprogram"):
            return {"Authorization": f"Bearer {await self.citizen_token(audience)}"}
        if audience == "payment_provider":
            # Only WeChat Pay's platform key signs its notices (Wechatpay-Signature over the body): the world has
            # none, every call is refused. test_injection attacks the notices' content with a key of its own.
            return {}
        client = self.clients[audience]
        return client.headers(aud=AUDIENCE_URLS[audience])

    async def citizen_token(self, audience: str = "citizen") -> str:
        from app.accounts.models import LoginSession
        from app.ids import new_id

        now = self.clock.now()
        session = await LoginSession.create(id=new_id("ses"), citizen_id=self.citizen.id, device_name="攻击测试",
                                            created_at=now, last_used_at=now, expires_at=now + timedelta(days=1))
        settings = self.platform.settings
        return self.platform.tokens.issue(self.citizen.id, session.id, settings.accounts.citizen_audience
                                          if audience == "citizen" else settings.miniprogram.audience)


@dataclass
class World:
    owner: Holder
    other: Holder
    credentials: Credentials
    owner_ids: set[str] = field(default_factory=set)


def ids_in(value: Any) -> set[str]:
    """Every object id anywhere in a JSON reply."""
    if isinstance(value, dict):
        return set().union(*(ids_in(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(ids_in(v) for v in value)) if value else set()
    return {value} if isinstance(value, str) and OBJECT_ID.match(value) else set()


async def citizen_with_everything(client: httpx.AsyncClient, sms, clock, name: str, birth: str, sequence: str,
                                  police: Department, office: Department, slot_item: str) -> Holder:
    holder = await voucher_holder(client, sms, name=name, birth=birth, sequence=sequence)
    citizen = holder.citizen
    licence = await issue(client, police, holder_id_number=holder.id_number, number=f"4401{secrets.randbelow(10**8):08d}")
    await share(client, citizen, licence["id"])
    await shown_token(client, holder, clock)
    item = await make_item(clock, materials=[{"name": "近期免冠照片", "required": True, "licence_type": None}])
    photo = await uploaded(client, citizen)  # 材料上传: its id is in the application, so it is attacked too
    assert (await apply(client, citizen, item.id,
                        materials=[{"name": "近期免冠照片", "upload_ref": photo}])).status_code == 201
    starts = clock.now() + timedelta(days=2)
    slot = await client.post("/api/admin/v1/appointment-slots", headers=office.headers(), json={
        "item_id": slot_item, "office": "天河区政务服务中心 3 号窗口（示例）",
        "starts_at": starts.isoformat().replace("+00:00", "Z"),
        "ends_at": (starts + timedelta(minutes=30)).isoformat().replace("+00:00", "Z"), "capacity": 5})
    assert slot.status_code == 201, slot.text
    booked = await client.post("/api/v1/appointments", headers=citizen.headers, json={"slot_id": slot.json()["id"]})
    assert booked.status_code == 201, booked.text
    return holder


async def build_world(client: httpx.AsyncClient, sms, clock, platform) -> World:
    from app.services.catalogue.models import Department as ServiceDepartment, ServiceItem

    admin = await make_department(clock, "省政务服务数据管理局（示例）", ["licence_admin"])
    police = await make_department(clock, "广州市公安局交通警察支队（示例）", ["licence_issuer"])
    assert (await assign(client, admin, "driving_licence", police.id)).status_code == 200
    office = await make_department(clock, "天河区政务服务中心（示例）", ["office"])
    department, _ = await ServiceDepartment.get_or_create(id=EXIT_ENTRY, defaults={
        "name": "广州市公安局出入境管理支队（示例）", "region_level": "city", "region_code": "440100"})
    await ServiceItem.create(id="gz-exit-permit-renew", name="往来港澳通行证再次签注（示例）", department=department,
                             region_level="city", region_code="440100", category="出入境", status="published",
                             created_at=clock.now(), updated_at=clock.now())
    owner = await citizen_with_everything(client, sms, clock, "张三", "19900307", "271", police, office,
                                          "gz-exit-permit-renew")
    other = await citizen_with_everything(client, sms, clock, "李四", "19851120", "382", police, office,
                                          "gz-exit-permit-renew")
    clients = {
        "admin": await make_department(clock, "全能管理端（示例）", ALL_ADMIN_ROLES, department_id=CIVIL_AFFAIRS),
        "partner": await make_department(clock, "澳门特别行政区卫生局（示例）", ["partner"], audience="partner"),
        "relying_party": await make_department(clock, "白天鹅宾馆（示例）", ["name", "id_number_masked"],
                                               audience="relying_party"),
    }
    return World(owner, other, Credentials(other.citizen, clients, platform, clock))


ALL_ADMIN_ROLES = ["lab", "verifier", "health_admin", "vaccinator", "venue_owner", "partner_admin", "id_authority",
                   "licence_admin", "licence_issuer", "clerk", "catalogue_admin", "office", "hall_clerk", "payments_admin", "oidc_admin"]

Check = Callable[[httpx.Response], str | None]


def steady(value: object) -> object:
    """A reply without what the passing of time alone changes: a code's countdown, a live card's read time."""
    if isinstance(value, dict):
        return {k: steady(v) for k, v in value.items()
                if k != "seconds_left" and not (k == "updated_at" and "stale" in value)}
    if isinstance(value, list):
        return [steady(v) for v in value]
    return value


async def snapshot(client, app, owner_headers: dict[str, str], ids: set[str]) -> dict[str, object]:
    """A's data as A sees it: every citizen GET route, with A's ids in the path parameters."""
    seen: dict[str, object] = {}
    for endpoint in endpoints(app, ("citizen",)):
        if endpoint.method != "GET":
            continue
        for value in sorted(ids) if endpoint.params else ["-"]:
            reply = await client.get(endpoint.url(value), headers=owner_headers)
            if reply.status_code == 200:
                kind = reply.headers.get("content-type", "")
                # An image is drawn anew for each request (a printed card's code carries its own time):
                # what A sees there is that it is A's image at all, not the same bytes.
                seen[endpoint.url(value)] = steady(reply.json()) if "json" in kind else kind
    return seen


async def audit_mark() -> int:
    """The sequence number of the newest audit entry: what is recorded after it happened since."""
    from app.audit import AuditEntry

    newest = await AuditEntry.all().order_by("-seq").first()
    return newest.seq if newest else 0


async def audited_since(mark: int) -> list[Any]:
    from app.audit import AuditEntry

    return list(await AuditEntry.filter(seq__gt=mark).order_by("seq"))


def claims_success(entry: Any) -> bool:
    """An audit entry that says someone got at data or did something: an access-log entry (a read of a
    citizen's data), or an event that is not a refusal."""
    if entry.category == "access":
        return True
    attributes = entry.attributes if isinstance(entry.attributes, dict) else {}
    return not ("refused" in entry.action or attributes.get("error") or attributes.get("result") not in (None, "valid"))


# -- client against client ------------------------------------------------------------------------

@dataclass
class Party:
    """One client of a client audience: an organisation with its own objects."""

    id: str
    name: str
    headers: Callable[[], dict[str, str]]  # fresh, signed, for every request


@dataclass
class Rivals:
    """Two clients of one audience with the same roles: X (the owner, with objects of its own) and Y.

    `values` are what names X's objects (ids, tokens, code payloads, revocation hashes), put by the
    matrix into every path parameter and into the body fields that name objects; `secret` those of
    them a reply to Y must never contain; `state()` reads X's objects back, as they stand."""

    audience: str
    owner: Party
    intruder: Party
    values: list[str]
    secret: set[str]
    state: Callable[[], Awaitable[dict[str, Any]]]
    bodies: dict[tuple[str, str], Callable[[str], Any]]  # (method, path) -> the body carrying a value
    after: Callable[[], Awaitable[None]] | None = None  # X still uses its objects afterwards


RP_SCOPES = ["age_over_18", "name_masked", "is_holder"]
REDEMPTION = {"attributes": ["age_over_18"], "purpose": "入住登记（示例）"}


async def rows(model: Any, **conditions: Any) -> list[dict[str, Any]]:
    return sorted(await model.filter(**conditions).values(), key=lambda r: str(r))


async def relying_party_rivals(client: httpx.AsyncClient, clock, world: World) -> Rivals:
    """白天鹅宾馆 (X) has a standing request, a presentation made for it (not yet redeemed) and one it
    redeemed; 花园酒店 (Y) has the same scopes."""
    from app.vouchers.models import Presentation, StandingRequest

    def party(department: Department, name: str) -> Party:
        return Party(department.id, name, lambda: department.headers(aud=AUDIENCE_URLS["relying_party"]))

    x = party(await make_department(clock, "白天鹅宾馆（示例）", RP_SCOPES, audience="relying_party"), "白天鹅宾馆（示例）")
    y = party(await make_department(clock, "花园酒店（示例）", RP_SCOPES, audience="relying_party"), "花园酒店（示例）")
    standing = await client.post("/api/rp/v1/standing-requests", headers=x.headers(), json={
        "attributes": ["age_over_18", "name_masked"], "purpose": {"zh-Hans": "入住登记核验年龄与姓名（示例）"}})
    assert standing.status_code == 201, standing.text
    pending = await shown_token(client, world.owner, clock, standing_request=standing.json()["id"])
    redeemed = await shown_token(client, world.owner, clock)
    done = await client.post("/api/rp/v1/redemptions", headers=x.headers(), json={"token": redeemed["token"], **REDEMPTION})
    assert done.status_code == 200, done.text

    async def state() -> dict[str, Any]:
        return {"standing": await rows(StandingRequest, client_id=x.id),
                "presentations": await rows(Presentation, id__in=[pending["id"], redeemed["id"]])}

    async def after() -> None:  # the presentation made for X's request is still X's to redeem
        reply = await client.post("/api/rp/v1/redemptions", headers=x.headers(), json={"token": pending["token"],
                                                                                      **REDEMPTION})
        assert reply.status_code == 200 and reply.json()["attributes"] == {"age_over_18": True}, reply.text

    values = [standing.json()["id"], pending["token"], redeemed["token"]]
    return Rivals("relying_party", x, y, values, set(values), state,
                  {("POST", "api/rp/v1/redemptions"): lambda value: {"token": value, **REDEMPTION}}, after)


async def partner_rivals(client: httpx.AsyncClient, clock, world: World, interop: Any) -> Rivals:
    """Macau (X) issues its own codes and has revoked one; Hong Kong (Y) is as well registered."""
    from health_code.codec import CodeError
    from health_code.interop.models import RevokedPartnerCode
    from tests.health_code.interop.partners_factory import make_partner

    admin = world.credentials.clients["admin"]
    macau = await make_partner(client, admin, "MO", name="澳门特别行政区卫生局（示例）")
    hong_kong = await make_partner(client, admin, "HK", name="香港特别行政区卫生署（示例）")
    x = Party("MO", "澳门特别行政区卫生局（示例）", macau.headers)
    y = Party("HK", "香港特别行政区卫生署（示例）", hong_kong.headers)
    live, revoked = macau.issue_code(ttl=3600), macau.issue_code(ttl=3600)
    reply = await client.post("/api/partner/v1/revocations", headers=x.headers(), json={"hashes": [revoked.revocation_hash]})
    assert reply.status_code == 200 and reply.json() == {"accepted": 1}, reply.text

    async def read(code) -> str:
        try:
            return (await interop.read_partner_code(code.payload))[2]
        except CodeError as error:
            return error.code

    async def state() -> dict[str, Any]:
        revocations = await RevokedPartnerCode.filter(partner_id="MO").values_list("code_hash", "revoked_at")
        return {"revocations": sorted(revocations), "live": await read(live), "revoked": await read(revoked)}

    border_pass = await client.post("/api/v1/border-passes", headers=world.owner.citizen.headers,
                                    json={"partner": "MO", "document_type": "resident_id"})  # meant for Macau only
    assert border_pass.status_code == 201, border_pass.text
    values = [live.payload, revoked.payload, live.revocation_hash, revoked.revocation_hash, border_pass.json()["payload"]]
    return Rivals("partner", x, y, values, set(values), state, {
        ("POST", "api/partner/v1/verifications"): lambda value: {"codes": [value]},
        ("POST", "api/partner/v1/border-pass-verifications"): lambda value: {"passes": [value]},
        ("POST", "api/partner/v1/revocations"): lambda value: {"hashes": [value]},
    })


async def admin_rivals(client: httpx.AsyncClient, clock, world: World) -> Rivals:
    """X (every admin role, of the civil-affairs bureau) registered a venue and claimed 张三's application; the
    traffic police issue driving licences and issued both citizens'; Y holds every admin role too, for
    another department (a clerk of X's department reads X's applications: the queue is the department's)."""
    from app.services.applications.models import Application
    from app.vouchers.models import Licence, LicenceType
    from health_code.models import Venue
    from tests.vouchers.licence_factory import licence_body

    owner = world.credentials.clients["admin"]
    x = Party(owner.id, "全能管理端（示例）", owner.headers)
    intruder = await make_department(clock, "另一全能管理端（示例）", ALL_ADMIN_ROLES, department_id=EXIT_ENTRY)
    y = Party(intruder.id, "另一全能管理端（示例）", intruder.headers)
    venue = await client.post("/api/admin/v1/venues", headers=x.headers(), json={
        "name": "天河城购物中心（示例）", "address": "广州市天河区天河路 208 号（示例）", "region_code": "440106"})
    assert venue.status_code == 201, venue.text
    venue_id = venue.json()["id"]
    application = await Application.filter(citizen_id=world.owner.citizen.id).first()
    claimed = await client.post(f"/api/admin/v1/applications/{application.id}/claim", headers=x.headers())
    assert claimed.status_code == 200, claimed.text
    licences = sorted(await Licence.filter(type_id="driving_licence").values_list("id", flat=True))

    async def state() -> dict[str, Any]:
        poster = await client.get(f"/api/admin/v1/venues/{venue_id}/poster.png", headers=x.headers())
        return {"venue": await rows(Venue, id=venue_id), "poster": (poster.status_code, poster.headers["content-type"]),
                "application": await rows(Application, id=application.id), "licences": await rows(Licence, id__in=licences),
                "type": await rows(LicenceType, code="driving_licence")}

    ids = [venue_id, application.id, *licences]
    return Rivals("admin", x, y, [*ids, "driving_licence"], set(ids), state, {
        # The bodies that would do the most harm if ownership were not checked.
        ("POST", "api/admin/v1/licences/<licence_id:str>/status"): lambda _: {"status": "revoked", "reason": "示例"},
        ("POST", "api/admin/v1/applications/<application_id:str>/decision"): lambda _: {"decision": "approve"},
        ("POST", "api/admin/v1/licences"): lambda value: licence_body(
            intruder, licence_type=value, holder_id_number=world.owner.id_number,
            number=f"4401{secrets.randbelow(10**8):08d}"),
    })


INSTANT = {"all": [{"fact": "identity_level", "op": ">=", "value": 2}]}  # 秒批 for any verified citizen


async def department_rivals(client: httpx.AsyncClient, clock, world: World) -> Rivals:
    """Two clerks of two departments. The civil-affairs bureau's (X) has 张三's application under review,
    and a follow-up case of 张三's bad rating of another (秒批) application; the exit-entry bureau's clerk
    (Y) is as well registered. The items are in the public catalogue: values to try, not secrets."""
    from app.services.applications.models import Application
    from app.services.ratings.models import FollowUpCase
    from app.services.catalogue.models import ServiceItem

    def party(department: Department, name: str) -> Party:
        return Party(department.id, name, department.headers)

    x = party(await make_department(clock, "广州市民政局办件窗口（示例）", ["clerk"], department_id=CIVIL_AFFAIRS),
              "广州市民政局办件窗口（示例）")
    y = party(await make_department(clock, "广州市出入境办件窗口（示例）", ["clerk"], department_id=EXIT_ENTRY),
              "广州市出入境办件窗口（示例）")
    reviewed = await Application.get(citizen_id=world.owner.citizen.id, status="under_review")
    instant = await make_item(clock, name="广州市老年人乘车卡申领（示例）", rules=INSTANT, materials=[])
    done = await apply(client, world.owner.citizen, instant.id, materials=[])
    assert done.status_code == 201 and done.json()["status"] == "completed", done.text
    assert (await rate(client, world.owner.citizen, done.json()["id"], 1, text="办理太慢（示例）")).status_code == 201
    case = await FollowUpCase.get(rating__application_id=done.json()["id"])
    items = [reviewed.item_id, instant.id]

    async def state() -> dict[str, Any]:
        return {"applications": await rows(Application, id__in=[reviewed.id, done.json()["id"]]),
                "case": await rows(FollowUpCase, id=case.id), "items": await rows(ServiceItem, id__in=items)}

    async def after() -> None:  # X reads, lists, claims and answers them: they were X's department's all along
        base = "/api/admin/v1"
        assert (await client.get(f"{base}/applications/{reviewed.id}", headers=x.headers())).status_code == 200
        queue = (await client.get(f"{base}/applications", headers=x.headers())).json()["items"]
        assert reviewed.id in [a["id"] for a in queue]
        cases = (await client.get(f"{base}/follow-up-cases", headers=x.headers())).json()["items"]
        assert [c["id"] for c in cases] == [case.id]
        assert (await client.get(f"{base}/ratings/stats", headers=x.headers())).json()["count"] == 1
        assert (await client.get(f"{base}/services/{instant.id}/approval-rules", headers=x.headers())).status_code == 200
        claimed = await client.post(f"{base}/applications/{reviewed.id}/claim", headers=x.headers())
        assert claimed.status_code == 200 and claimed.json()["assigned_to"] == x.id, claimed.text
        answered = await client.post(f"{base}/follow-up-cases/{case.id}/answer", headers=x.headers(),
                                     json={"answer": "已加派窗口人员（示例）"})
        assert answered.status_code == 200, answered.text

    secret = {reviewed.id, done.json()["id"], case.id}
    return Rivals("admin", x, y, [*secret, *items], secret, state, {
        ("POST", "api/admin/v1/applications/<application_id:str>/decision"): lambda _: {"decision": "approve"},
    }, after)
