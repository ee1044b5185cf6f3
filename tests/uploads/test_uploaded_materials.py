"""王秀英 applies for her 老年人优待证 with the photo she uploaded: it becomes the application's and stops expiring.
Somebody else's upload, or a made-up id, cannot be named (404, nothing stored). The clerk looks at the photo
through the admin API, and she sees in her access log that the clerk looked."""

from __future__ import annotations

import pytest

from app.audit import AuditEntry
from app.services.applications.models import Application
from app.uploads.models import Upload
from tests.factories import make_department
from tests.services.service_factory import (ACCESS_LOG, ADMIN_APPLICATIONS, APPLICATIONS, apply, decide, error_code,
                                            make_item)
from tests.uploads.upload_factory import UPLOADS, exif_of, small_pdf, uploaded

PHOTO = "近期免冠照片"


async def reviewed_item(clock):
    return await make_item(clock, name="广州市居住证签注（示例）", rules=None)


async def test_an_upload_named_as_a_material_lives_with_the_application(client, grandma, grandma_card, clock):
    item = await reviewed_item(clock)
    photo = await uploaded(client, grandma)

    reply = await apply(client, grandma, item.id, materials=[{"name": PHOTO, "upload_ref": photo}])

    assert reply.status_code == 201, reply.text
    [named] = [m for m in reply.json()["materials"] if m["name"] == PHOTO]
    assert named == {"name": PHOTO, "upload_ref": photo, "source": "upload", "content_type": "image/jpeg",
                     "size": named["size"]}
    upload = (await client.get(f"{UPLOADS}/{photo}", headers=grandma.headers)).json()
    assert (upload["status"], upload["expires_at"]) == ("attached", None)
    row = await Upload.get(id=photo)
    assert (row.owner_kind, row.owner_id) == ("application", reply.json()["id"])


async def test_someone_elses_or_an_unknown_upload_is_404_and_nothing_is_stored(client, grandma, young, clock):
    item = await make_item(clock, name="广州市居住证申领（示例）", rules=None,
                           materials=[{"name": PHOTO, "required": True, "licence_type": None}])
    hers = await uploaded(client, grandma)

    for ref in (hers, "not-a-real-file", "upl_" + "A" * 22):
        reply = await apply(client, young, item.id, materials=[{"name": PHOTO, "upload_ref": ref}])
        assert reply.status_code == 404, reply.text
        assert error_code(reply) == "UPLOAD_NOT_FOUND" and reply.json()["error"]["upload_id"] == ref
    assert await Application.all().count() == 0
    assert (await Upload.get(id=hers)).owner_id is None  # still hers, unused


@pytest.mark.upload_settings(upload_retention=60)
async def test_an_expired_upload_cannot_be_named(client, grandma, grandma_card, clock):
    item = await reviewed_item(clock)
    photo = await uploaded(client, grandma)
    clock.advance(61)

    reply = await apply(client, grandma, item.id, materials=[{"name": PHOTO, "upload_ref": photo}])

    assert reply.status_code == 404 and error_code(reply) == "UPLOAD_NOT_FOUND"
    assert await Application.all().count() == 0


async def test_an_upload_used_by_one_application_is_not_taken_by_another(client, grandma, grandma_card, clock):
    first, second = await reviewed_item(clock), await reviewed_item(clock)
    photo = await uploaded(client, grandma)
    assert (await apply(client, grandma, first.id, materials=[{"name": PHOTO, "upload_ref": photo}])).status_code == 201

    again = await apply(client, grandma, second.id, materials=[{"name": PHOTO, "upload_ref": photo}])

    assert again.status_code == 409 and error_code(again) == "UPLOAD_IN_USE"
    assert await Application.filter(item_id=second.id).count() == 0


async def test_a_correction_names_the_applications_own_upload_again_and_adds_a_new_one(client, grandma, grandma_card,
                                                                                       clerk, clock):
    item = await reviewed_item(clock)
    photo = await uploaded(client, grandma)
    submitted = (await apply(client, grandma, item.id, materials=[{"name": PHOTO, "upload_ref": photo}])).json()
    assert (await decide(client, clerk, submitted["id"], "return", "请补充居住证明")).status_code == 200

    proof = await uploaded(client, grandma, small_pdf())
    corrected = await client.post(f"{APPLICATIONS}/{submitted['id']}/corrections", headers=grandma.headers, json={
        "materials": [{"name": PHOTO, "upload_ref": photo}, {"name": "居住证明", "upload_ref": proof}]})

    assert corrected.status_code == 200, corrected.text
    assert {m["name"]: m.get("content_type") for m in corrected.json()["materials"]} == {
        "社会保障卡": None, PHOTO: "image/jpeg", "居住证明": "application/pdf"}
    assert await Upload.filter(owner_id=submitted["id"]).count() == 2


async def test_the_clerk_sees_the_material_and_the_citizen_sees_that_the_clerk_looked(client, grandma, grandma_card,
                                                                                     clerk, clock, platform):
    item = await reviewed_item(clock)
    photo = await uploaded(client, grandma)
    submitted = (await apply(client, grandma, item.id, materials=[{"name": PHOTO, "upload_ref": photo}])).json()

    seen = await client.get(f"{ADMIN_APPLICATIONS}/{submitted['id']}/materials/{photo}", headers=clerk.headers())

    assert seen.status_code == 200, seen.text
    assert seen.headers["content-type"] == "image/jpeg"
    assert seen.headers["cache-control"] == "private, no-store"
    assert seen.content[:3] == b"\xff\xd8\xff" and exif_of(seen.content) == {}
    assert len(seen.content) == (await Upload.get(id=photo)).size
    log = (await client.get(ACCESS_LOG, headers=grandma.headers)).json()["items"]
    assert (log[0]["actor"], log[0]["actor_type"], log[0]["action"]) == (
        "广州市民政局办件窗口（示例）", "admin", "material_viewed")
    assert log[0]["attributes"] == ["material_jpeg"] and submitted["id"] in log[0]["purpose"]
    assert await AuditEntry.filter(subject_id=grandma.id, action="material_viewed").count() == 1


async def test_a_material_is_not_shown_outside_its_application_and_department(client, grandma, young, grandma_card,
                                                                             clerk, clock):
    item = await reviewed_item(clock)
    photo = await uploaded(client, grandma)
    submitted = (await apply(client, grandma, item.id, materials=[{"name": PHOTO, "upload_ref": photo}])).json()
    unused = await uploaded(client, grandma)
    elsewhere = await make_department(clock, "广州市公安局户政窗口（示例）", ["clerk"], department_id="gz-police-sample")
    no_role = await make_department(clock, "广州市民政局（查询）（示例）", ["licence_issuer"],
                                    department_id="gz-civil-affairs-sample")
    path = f"{ADMIN_APPLICATIONS}/{submitted['id']}/materials"

    other_department = await client.get(f"{path}/{photo}", headers=elsewhere.headers())
    not_this_applications = await client.get(f"{path}/{unused}", headers=clerk.headers())
    unknown = await client.get(f"{path}/upl_unknown", headers=clerk.headers())
    not_a_clerk = await client.get(f"{path}/{photo}", headers=no_role.headers())
    as_the_citizen = await client.get(f"{path}/{photo}", headers=grandma.headers)

    assert other_department.status_code == 404 and error_code(other_department) == "APPLICATION_NOT_FOUND"
    assert not_this_applications.status_code == 404 and error_code(not_this_applications) == "UPLOAD_NOT_FOUND"
    assert unknown.status_code == 404 and error_code(unknown) == "UPLOAD_NOT_FOUND"
    assert not_a_clerk.status_code == 403
    assert as_the_citizen.status_code == 401
    assert await AuditEntry.filter(subject_id=grandma.id, action="material_viewed").count() == 0
