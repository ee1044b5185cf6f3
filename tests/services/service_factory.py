"""Small factories for the 办件 stories: catalogue items written straight into the database (sample
data, independent of the seeded catalogue), a social-security card in the wallet issued through the real
licence API, clerks and a catalogue administrator as admin clients, and the requests citizens send."""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from app.services.catalogue.models import Department, ServiceItem
from tests.factories import Department as Client, SignedInCitizen, make_department, valid_id_number
from tests.uploads.upload_factory import uploaded
from tests.vouchers.licence_factory import assign, holder, issue

APPLICATIONS = "/api/v1/applications"
ADMIN_APPLICATIONS = "/api/admin/v1/applications"
STATS = "/api/admin/v1/ratings/stats"
CASES = "/api/admin/v1/follow-up-cases"
INBOX = "/api/v1/notifications"
ACCESS_LOG = "/api/v1/me/access-log"

# Sample data (示例): made-up people, born 1950 and 1990.
GRANDMA_ID = valid_id_number(region="440104", birth="19500612", sequence="284")
YOUNG_ID = valid_id_number(region="440106", birth="19900307", sequence="271")
SOCIAL_SECURITY = "广东省人力资源和社会保障厅（示例）"
# The department of the items made below unless told otherwise, and of the `clerk` fixture.
CIVIL_AFFAIRS = "gz-civil-affairs-sample"

# The 秒批 rules of the elderly card: verified, 60 or over, a social-security card, first application.
ELDERLY_RULES = {"all": [
    {"fact": "identity_level", "op": ">=", "value": 2},
    {"fact": "age", "op": ">=", "value": 60},
    {"fact": "holds_licence", "value": "social_security_card"},
    {"fact": "prior_applications", "op": "==", "value": 0},
]}
ELDERLY_MATERIALS = [
    {"name": "社会保障卡", "required": True, "licence_type": "social_security_card"},
    {"name": "近期免冠照片", "required": True, "licence_type": None},
    {"name": "居住证明", "required": False, "licence_type": None},
]


async def make_item(clock, item_id: str | None = None, *, name: str = "广州市老年人优待证申领（示例）",
                    rules: dict[str, Any] | None = None, materials: list[dict[str, Any]] | None = None,
                    department_id: str = CIVIL_AFFAIRS, status: str = "published",
                    channels: list[str] | None = None) -> ServiceItem:
    """A catalogue item written directly (sample data); rules given means version 1."""
    department = await Department.get_or_none(id=department_id)
    if department is None:
        await Department.create(id=department_id, name="广州市民政局（示例）", region_level="city", region_code="440100")
    now = clock.now()
    return await ServiceItem.create(
        id=item_id or f"item-{secrets.token_hex(4)}", name=name, department_id=department_id, region_level="city",
        region_code="440100", category="社会保障", materials=ELDERLY_MATERIALS if materials is None else materials,
        channels=["online", "offline"] if channels is None else channels, status=status, approval_rules=rules,
        rules_version=1 if rules else 0, created_at=now, updated_at=now)


def social_security_fields(name: str, id_number: str) -> dict[str, Any]:
    """Sample data (示例): a made-up social-security card."""
    return {"name": name, "social_security_number": id_number, "issuing_region": "广州市", "issue_date": "2015-04-01",
            "card_version": "第三代"}


async def social_security_card(client: httpx.AsyncClient, issuer: Client, name: str, id_number: str,
                               valid_until: datetime | None | str = "default") -> dict[str, Any]:
    return await issue(client, issuer, licence_type="social_security_card", holder_id_number=id_number,
                       number=f"G{secrets.randbelow(10**8):08d}", fields=social_security_fields(name, id_number),
                       valid_until=valid_until)


def key() -> str:
    return f"key-{secrets.token_hex(8)}"


async def apply(client: httpx.AsyncClient, citizen: SignedInCitizen, item_id: str, *, idempotency_key: str | None = None,
                form: dict[str, Any] | None = None, materials: list[dict[str, Any]] | None = None,
                **headers: str) -> httpx.Response:
    """An application; without `materials`, with a photo the citizen uploads for it (the same one for every
    request under the same Idempotency-Key, so a retry is the same request)."""
    idempotency_key = idempotency_key or key()
    if materials is None:
        materials = [{"name": "近期免冠照片", "upload_ref": await photo_for(client, citizen, idempotency_key)}]
    body = {"item_id": item_id, "form": {"联系电话": "13900000000", "申请原因": "办理优待证"} if form is None else form,
            "materials": materials}
    return await client.post(APPLICATIONS, headers={**citizen.headers, "Idempotency-Key": idempotency_key,
                                                    **headers}, json=body)


_photos: dict[tuple[str, str], asyncio.Future[str]] = {}


async def photo_for(client: httpx.AsyncClient, citizen: SignedInCitizen, idempotency_key: str) -> str:
    """The id of the photo uploaded for the citizen's request under this key (uploaded once, also for requests
    sent at the same moment)."""
    place = (citizen.access_token, idempotency_key)
    if place not in _photos:
        _photos[place] = asyncio.ensure_future(uploaded(client, citizen))
    return await asyncio.shield(_photos[place])


async def inbox_kinds(client: httpx.AsyncClient, citizen: SignedInCitizen) -> list[str]:
    """The kinds of the citizen's application and rating messages, oldest first."""
    reply = await client.get(INBOX, headers=citizen.headers, params={"limit": 100})
    assert reply.status_code == 200, reply.text
    return [m["kind"] for m in reversed(reply.json()["items"]) if m["kind"].startswith(("application_", "rating_"))]


async def decide(client: httpx.AsyncClient, clerk: Client, application_id: str, decision: str,
                 note: str = "") -> httpx.Response:
    return await client.post(f"{ADMIN_APPLICATIONS}/{application_id}/decision", headers=clerk.headers(),
                             json={"decision": decision, "note": note})


async def complete(client: httpx.AsyncClient, clerk: Client, application_id: str) -> httpx.Response:
    return await client.post(f"{ADMIN_APPLICATIONS}/{application_id}/completion", headers=clerk.headers(),
                             json={"note": "优待证已制发"})


async def rate(client: httpx.AsyncClient, citizen: SignedInCitizen, application_id: str, score: int,
               tags: list[str] | None = None, text: str = "") -> httpx.Response:
    return await client.post(f"{APPLICATIONS}/{application_id}/rating", headers=citizen.headers,
                             json={"score": score, "tags": tags or [], "text": text})


def error_code(reply: httpx.Response) -> str:
    return reply.json()["error"]["code"]


def in_days(clock, days: int) -> datetime:
    return clock.now() + timedelta(days=days)


# -- fixtures (imported by the test modules) ---------------------------------------------------------

@pytest.fixture
async def social_security_issuer(app, client, clock) -> Client:
    """The social-security bureau, assigned as issuer of social-security cards."""
    admin = await make_department(clock, "省政务服务数据管理局（示例）", ["licence_admin"])
    issuer = await make_department(clock, SOCIAL_SECURITY, ["licence_issuer"])
    reply = await assign(client, admin, "social_security_card", issuer.id)
    assert reply.status_code == 200, reply.text
    return issuer


@pytest.fixture
async def grandma(client, sms) -> SignedInCitizen:
    """王秀英 (sample), born 1950, 实名 verified."""
    return await holder(client, sms, "王秀英", GRANDMA_ID)


@pytest.fixture
async def grandma_card(client, social_security_issuer, grandma) -> dict[str, Any]:
    return await social_security_card(client, social_security_issuer, "王秀英", GRANDMA_ID)


@pytest.fixture
async def young(client, sms) -> SignedInCitizen:
    """陈志强 (sample), born 1990, 实名 verified."""
    return await holder(client, sms, "陈志强", YOUNG_ID)


@pytest.fixture
async def elderly_item(app, clock) -> ServiceItem:
    return await make_item(clock, "gz-elderly-card", rules=ELDERLY_RULES)


@pytest.fixture
async def clerk(app, clock) -> Client:
    """A clerk of the civil-affairs bureau: it works the items `make_item` makes unless told otherwise."""
    return await make_department(clock, "广州市民政局办件窗口（示例）", ["clerk"], department_id=CIVIL_AFFAIRS)


@pytest.fixture
async def catalogue_admin(app, clock) -> Client:
    return await make_department(clock, "省政务服务数据管理局事项管理（示例）", ["catalogue_admin"])
