"""Materials from departments (免提交): an item's material spec names a department service; at submission the
platform fetches it through the exchange (purpose material_prefill) and keeps a reference (department, service,
record number, SHA-256 of the reply, when) with the reply encrypted; the clerk's read shows it and is in the
citizen's access log; a department that did not authorise material_prefill refuses, and nothing is stored."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from app.departments.exchange_services import HPF_DEPOSITS, HRSS_RIGHTS_RECORD
from app.integrations.exchange.models import ExchangeMessage
from app.services.applications.models import Application, ApplicationEvent
from standins.departments import hpf, hrss
from standins.departments.server import beijing_today
from tests.uploads.upload_factory import scanned_png, small_pdf, uploaded
from tests.elderly_mode.elderly_factory import ACCESS_LOG, elder, family_member, linked
from tests.factories import make_department, sign_in, valid_id_number, verify_real_name
from tests.services.service_factory import decide, make_item

pytestmark = pytest.mark.departments

APPLICATIONS = "/api/v1/applications"
TALENT_ITEM = "gz-rsj-010"  # 人才引进入户 (sample catalogue): 社会保险个人权益记录 from 人社
LOAN_ITEM = "gz-gjj-007"  # 住房公积金个人贷款申请 (sample catalogue): 住房公积金缴存明细 from the fund centre
RECORD = "社会保险个人权益记录"
UPLOADED = {TALENT_ITEM: ["居民身份证", "学历证书"], LOAN_ITEM: ["居民身份证", "购房合同"]}  # the materials uploaded


async def uploads(client, citizen, item_id: str = TALENT_ITEM) -> list[dict[str, str]]:
    """The item's materials the citizen uploads (sample scans) and names."""
    return [{"name": name, "upload_ref": await uploaded(client, citizen, scanned_png())} for name in UPLOADED[item_id]]


def digest(reply: dict[str, Any]) -> str:
    """SHA-256 of a reply as canonical JSON (keys sorted, no spaces, UTF-8), as the application keeps it."""
    return hashlib.sha256(json.dumps(reply, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
                          .encode("utf-8")).hexdigest()


async def verified(client, sms, sequence: int = 123) -> tuple[Any, str]:
    citizen = await sign_in(client, sms)
    id_number = valid_id_number(sequence=f"{sequence:03d}")  # sample (示例)
    await verify_real_name(client, citizen, id_number=id_number)
    return citizen, id_number


async def apply(client, citizen, item_id: str = TALENT_ITEM, materials: list[dict[str, str]] | None = None) -> Any:
    return await client.post(APPLICATIONS, headers={**citizen.headers, "Idempotency-Key": "materials-0001"},
                             json={"item_id": item_id, "form": {"联系电话": "13900000000"},
                                   "materials": await uploads(client, citizen, item_id) if materials is None
                                   else materials})


def the(materials: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(m for m in materials if m["name"] == name)


async def test_a_submission_keeps_a_reference_to_the_departments_record_not_the_record(client, sms, departments_live,
                                                                                       departments, clock):
    citizen, id_number = await verified(client, sms)
    theirs = hrss.rights_record(id_number, beijing_today(), {})

    reply = await apply(client, citizen)

    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert body["status"] == "under_review"
    material = the(body["materials"], RECORD)
    assert {k: material[k] for k in ("source", "department", "service", "fetched", "record_number", "reply_sha256",
                                     "fetched_at", "sample")} == {
        "source": "department", "department": "hrss", "service": HRSS_RIGHTS_RECORD, "fetched": True,
        "record_number": theirs["record_no"], "reply_sha256": digest(theirs), "fetched_at": material["fetched_at"],
        "sample": True}
    assert material["department_name"].startswith("广东省人力资源和社会保障厅")
    assert material["fetched_at"].startswith(clock.now().strftime("%Y-"))
    assert "content" not in material and "content_enc" not in material  # the citizen's own view: the reference
    # Stored: the reference and the reply encrypted, never the reply in the clear.
    row = await Application.get(id=body["id"])
    stored = json.dumps(row.materials, ensure_ascii=False)
    assert the(row.materials, RECORD)["content_enc"]
    assert theirs["title"] not in stored and "personal_account_fen" not in stored
    # Asked for the material (material_prefill); both logs agree; the citizen's own submission is no access.
    [message] = await ExchangeMessage.all()
    [logged] = departments.messages(message.message_id)
    assert (message.service, message.purpose, logged["purpose"]) == (HRSS_RIGHTS_RECORD, "material_prefill",
                                                                      "material_prefill")
    assert (logged["request_hash"], logged["response_sha256"]) == (message.request_hash, message.response_hash)
    access = await client.get("/api/v1/me/access-log", headers=citizen.headers)
    assert access.json()["items"] == []


async def test_the_clerk_sees_the_departments_material_and_the_citizen_sees_that_read(client, sms, departments_live,
                                                                                     clock):
    citizen, id_number = await verified(client, sms)
    theirs = hrss.rights_record(id_number, beijing_today(), {})
    application = (await apply(client, citizen)).json()
    clerk = await make_department(clock, "广州市人社局办件窗口（示例）", ["clerk"], department_id="gz-rsj")

    opened = await client.get(f"/api/admin/v1/applications/{application['id']}", headers=clerk.headers())

    assert opened.status_code == 200, opened.text
    material = the(opened.json()["materials"], RECORD)
    assert (material["record_number"], material["reply_sha256"]) == (theirs["record_no"], digest(theirs))
    assert material["content"]["pension"] == theirs["pension"]
    assert material["content"]["record_no"] == theirs["record_no"]
    assert "content_enc" not in material
    access = (await client.get("/api/v1/me/access-log", headers=citizen.headers)).json()["items"]
    [read] = [e for e in access if e["action"] == "application_read"]
    assert read["actor"] == "广州市人社局办件窗口（示例）" and read["actor_type"] == "admin"
    assert "department_materials" in read["attributes"] and application["id"] in read["purpose"]


async def test_the_fund_centres_deposits_are_a_material_too(client, sms, departments_live, clock):
    citizen, id_number = await verified(client, sms)
    theirs = hpf.deposits(id_number, beijing_today(), {"year": beijing_today().year})

    reply = await apply(client, citizen, LOAN_ITEM)

    assert reply.status_code == 201, reply.text
    material = the(reply.json()["materials"], "住房公积金缴存明细")
    assert (material["department"], material["service"], material["record_number"], material["reply_sha256"]) == \
        ("hpf", HPF_DEPOSITS, None, digest(theirs))
    clerk = await make_department(clock, "广州住房公积金管理中心办件窗口（示例）", ["clerk"], department_id="gz-gjj")
    opened = await client.get(f"/api/admin/v1/applications/{reply.json()['id']}", headers=clerk.headers())
    assert the(opened.json()["materials"], "住房公积金缴存明细")["content"]["items"] == theirs["items"]


async def test_a_material_the_citizen_gives_is_not_fetched(client, sms, departments_live):
    citizen, _ = await verified(client, sms)

    record = await uploaded(client, citizen, small_pdf())
    reply = await apply(client, citizen, materials=[*await uploads(client, citizen),
                                                    {"name": RECORD, "upload_ref": record}])

    assert reply.status_code == 201, reply.text
    assert the(reply.json()["materials"], RECORD) == {"name": RECORD, "upload_ref": record, "source": "upload",
                                                      "content_type": "application/pdf", "size": len(small_pdf())}
    assert not await ExchangeMessage.exists()


async def test_a_department_that_did_not_authorise_material_prefill_refuses_and_nothing_is_stored(
        client, sms, departments_live, departments):
    citizen, _ = await verified(client, sms)
    departments.authorise(HRSS_RIGHTS_RECORD, ["citizen_request", "home_card", "eligibility_check", "proxy_request"])

    reply = await apply(client, citizen)

    assert reply.status_code == 403, reply.text
    error = reply.json()["error"]
    assert error["code"] == "DEPARTMENT_PURPOSE_NOT_AUTHORISED"
    assert "未授权本平台" in error["message"]
    assert not await Application.exists() and not await ApplicationEvent.exists()
    [message] = await ExchangeMessage.all()
    assert (message.purpose, message.status) == ("material_prefill", 403)


async def test_a_department_down_keeps_the_application_with_the_material_not_fetched(client, sms, departments_live,
                                                                                   departments):
    citizen, _ = await verified(client, sms)
    departments.behave("fail", department="hrss", count=0)

    reply = await apply(client, citizen)

    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert body["status"] == "under_review" and body["decision"]["reason"] == "department_unavailable"
    material = the(body["materials"], RECORD)
    assert (material["fetched"], material["error"], material["service"]) == \
        (False, "DEPARTMENT_UNAVAILABLE", HRSS_RIGHTS_RECORD)
    assert body["decision"]["department_gaps"] == [{"material": RECORD, "purpose": "material_prefill",
                                                    "error": "DEPARTMENT_UNAVAILABLE", "service": HRSS_RIGHTS_RECORD,
                                                    "department": "hrss"}]


async def test_a_family_proxys_submission_asks_the_department_on_her_behalf_and_her_log_says_so(
        client, sms, departments_live, departments):
    mother = await elder(client, sms)
    son = await family_member(client, sms)
    await linked(client, sms, son, mother)

    reply = await client.post(f"/api/v1/family/{mother.id}/applications",
                              headers={**son.headers, "Idempotency-Key": "proxy-materials-01"},
                              json={"item_id": TALENT_ITEM, "form": {"联系电话": "13900000000"},
                                    "materials": await uploads(client, son)})  # the son uploads them for her

    assert reply.status_code == 201, reply.text
    assert the(reply.json()["materials"], RECORD)["fetched"] is True
    [row] = await ExchangeMessage.filter(service=HRSS_RIGHTS_RECORD)
    assert (row.purpose, row.represented_party) == ("material_prefill", "family:proxy")
    [theirs] = departments.messages(row.message_id)
    assert theirs["represented"] == "family:proxy"  # 人社 is told someone acts for her
    log = (await client.get(ACCESS_LOG, headers=mother.headers)).json()["items"]
    read = next(entry for entry in log if entry["action"] == "department_data_read")
    assert read["purpose"] == "办件材料免提交（material_prefill），代您办理（family:proxy）"
    assert read["actor"] == "**国（子女）"


async def test_a_correction_asks_again_for_the_material_the_department_could_not_give(client, sms, departments_live,
                                                                                     departments, clock):
    citizen, id_number = await verified(client, sms)
    departments.behave("fail", department="hrss", count=2)  # 人社 down at submission only (a read is sent twice)
    application = (await apply(client, citizen)).json()
    assert the(application["materials"], RECORD)["fetched"] is False
    clerk = await make_department(clock, "广州市人社局办件窗口（示例）", ["clerk"], department_id="gz-rsj")
    await client.post(f"/api/admin/v1/applications/{application['id']}/claim", headers=clerk.headers())
    returned = await decide(client, clerk, application["id"], "return", "请补充联系电话")
    assert returned.status_code == 200, returned.text

    corrected = await client.post(f"{APPLICATIONS}/{application['id']}/corrections", headers=citizen.headers,
                                  json={"form": {"联系电话": "13900000001"}})  # the form only

    assert corrected.status_code == 200, corrected.text
    material = the(corrected.json()["materials"], RECORD)
    theirs = hrss.rights_record(id_number, beijing_today(), {})
    assert (material["fetched"], material["reply_sha256"]) == (True, digest(theirs))


async def test_a_correction_the_application_cannot_take_asks_no_department(client, sms, departments_live, departments):
    citizen, _ = await verified(client, sms)
    application = (await apply(client, citizen)).json()  # under review: nothing to correct
    asked = await ExchangeMessage.all().count()

    corrected = await client.post(f"{APPLICATIONS}/{application['id']}/corrections", headers=citizen.headers,
                                  json={"materials": await uploads(client, citizen)})

    assert corrected.status_code == 409, corrected.text
    assert await ExchangeMessage.all().count() == asked


async def test_an_optional_material_a_department_will_not_give_is_kept_as_not_fetched(client, sms, departments_live,
                                                                                    departments, clock):
    citizen, _ = await verified(client, sms)
    item = await make_item(clock, materials=[{"name": RECORD, "required": False, "from_department": HRSS_RIGHTS_RECORD}])
    departments.authorise(HRSS_RIGHTS_RECORD, ["citizen_request"])  # not for material_prefill

    reply = await client.post(APPLICATIONS, headers={**citizen.headers, "Idempotency-Key": "optional-0001"},
                              json={"item_id": item.id, "form": {"联系电话": "13900000000"}, "materials": []})

    assert reply.status_code == 201, reply.text
    material = the(reply.json()["materials"], RECORD)
    assert (material["fetched"], material["error"]) == (False, "DEPARTMENT_PURPOSE_NOT_AUTHORISED")
