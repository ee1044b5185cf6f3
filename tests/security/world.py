"""A small world to attack: two citizens with real data of every kind, and a client of every audience.

张三 (A, the owner) has sessions, inbox messages, an application, an appointment, an e-licence and a
share of it, the ID voucher and a presentation. 李四 (B, the other citizen) is as well set up, so any
refusal B meets is about ownership, not about a missing identity level. Sample data (示例).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable

import httpx

from tests.factories import Department, SignedInCitizen, make_department
from tests.security.routes import endpoints
from tests.services.service_factory import apply, make_item
from tests.vouchers.licence_factory import assign, issue, share
from tests.vouchers.voucher_factory import Holder, shown_token, voucher_holder

AUDIENCE_URLS = {"admin": "https://gov-app.example.cn/admin", "partner": "https://gov-app.example.cn/partner",
                 "relying_party": "https://gov-app.example.cn/relying_party"}
# Ids the service hands out look like "ap_…", "ses_…", "n_…": opaque, prefixed, random.
OBJECT_ID = re.compile(r"^[a-z]{1,8}_[A-Za-z0-9_-]{6,}$")


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
            return {}  # only the provider's own key signs its notices: the world has none, every call is refused
        client = self.clients[audience]
        return client.headers(aud=AUDIENCE_URLS[audience])

    async def citizen_token(self, audience: str = "citizen") -> str:
        from app.accounts.models import LoginSession
        from app.ids import new_id

        now = self.clock.now()
        session = await LoginSession.create(id=new_id("ses"), citizen_id=self.citizen.id, device_name="攻击测试",
                                            created_at=now, last_used_at=now, expires_at=now + timedelta(days=1))
        settings = self.platform.settings
        return self.platform.tokens.issue(self.citizen.id, session.id, settings.citizen_audience
                                          if audience == "citizen" else settings.miniprogram_audience)


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
    item = await make_item(clock, materials=[])
    assert (await apply(client, citizen, item.id, materials=[])).status_code == 201
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
    from app.services.models import Department as ServiceDepartment, ServiceItem

    admin = await make_department(clock, "省政务服务数据管理局（示例）", ["licence_admin"])
    police = await make_department(clock, "广州市公安局交通警察支队（示例）", ["licence_issuer"])
    assert (await assign(client, admin, "driving_licence", police.id)).status_code == 200
    office = await make_department(clock, "天河区政务服务中心（示例）", ["office"])
    department, _ = await ServiceDepartment.get_or_create(id="gz-exit-entry", defaults={
        "name": "广州市公安局出入境管理支队（示例）", "region_level": "city", "region_code": "440100"})
    await ServiceItem.create(id="gz-exit-permit-renew", name="往来港澳通行证再次签注（示例）", department=department,
                             region_level="city", region_code="440100", category="出入境", status="published",
                             created_at=clock.now(), updated_at=clock.now())
    owner = await citizen_with_everything(client, sms, clock, "张三", "19900307", "271", police, office,
                                          "gz-exit-permit-renew")
    other = await citizen_with_everything(client, sms, clock, "李四", "19851120", "382", police, office,
                                          "gz-exit-permit-renew")
    clients = {
        "admin": await make_department(clock, "全能管理端（示例）", ALL_ADMIN_ROLES),
        "partner": await make_department(clock, "澳门特别行政区卫生局（示例）", ["partner"], audience="partner"),
        "relying_party": await make_department(clock, "白天鹅宾馆（示例）", ["name", "id_number_masked"],
                                               audience="relying_party"),
    }
    return World(owner, other, Credentials(other.citizen, clients, platform, clock))


ALL_ADMIN_ROLES = ["lab", "verifier", "health_admin", "vaccinator", "venue_owner", "partner_admin", "id_authority",
                   "licence_admin", "licence_issuer", "clerk", "catalogue_admin", "office"]

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
