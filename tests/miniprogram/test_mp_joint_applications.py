"""A joint application (一件事) in the mini-program: the one status and the one timeline, compact, for its owner only."""

from __future__ import annotations

from tests.factories import sign_in, verify_real_name
from tests.miniprogram.mp_factory import in_mini_program
from tests.services.applications.joint_factory import HOUSEHOLD, MOTHER_ID, apply_jointly, department_clerk, part
from tests.services.service_factory import decide


async def test_the_mini_program_shows_one_status_and_one_timeline(client, sms, clock, platform_api):
    mother = await sign_in(client, sms)
    await verify_real_name(client, mother, name="李晓敏", id_number=MOTHER_ID)
    body = (await apply_jointly(client, mother)).json()
    police = await department_clerk(clock, "gd-gat")
    await decide(client, police, part(body, HOUSEHOLD)["application_id"], "reject", "入户地址不在本辖区")

    mp = await in_mini_program(client, platform_api, mother.phone)
    listed = await mp.get("/joint-applications")
    assert [j["id"] for j in listed["items"]] == [body["id"]]
    one = await mp.get(f"/joint-applications/{body['id']}")
    assert (one["bundle"], one["status"], one["status_text"], one["done"], one["total"]) == (
        "新生儿出生一件事", "partly_rejected", "部分事项未通过", 2, 4)
    assert one["failed"] == [{"item_id": HOUSEHOLD, "part": "出生登记", "reason": "入户地址不在本辖区"}]
    assert len(one["timeline"]) == 15 and one["timeline"][-1] == {
        "at": one["timeline"][-1]["at"], "part": "出生登记", "text": "不予受理（入户地址不在本辖区）"}
    assert set(one["timeline"][0]) == {"at", "part", "text"}


async def test_someone_elses_joint_application_is_not_found(client, sms, platform_api):
    mother = await sign_in(client, sms)
    await verify_real_name(client, mother, name="李晓敏", id_number=MOTHER_ID)
    body = (await apply_jointly(client, mother)).json()
    stranger = await sign_in(client, sms)
    mp = await in_mini_program(client, platform_api, stranger.phone)
    assert (await mp.get("/joint-applications"))["items"] == []
    hidden = await mp.api.get(f"/api/mp/v1/joint-applications/{body['id']}", headers=mp.headers)
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "JOINT_APPLICATION_NOT_FOUND"
