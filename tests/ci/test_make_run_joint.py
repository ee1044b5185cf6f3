"""A joint application (一件事) through `make run`, as a newcomer would try it: the launcher's own processes on the
embedded default, a citizen signed in with the code from /dev/sms-outbox, 实名 as the identity stand-in knows the
person, then 新生儿出生一件事 applied for at once from its joint form, each material a file uploaded first: one
status, one timeline of all four parts, the two parts whose rules allow it approved in seconds (秒批)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.ci.test_make_run import Served, served, signed_in  # noqa: F401  (`served`: the module's launch)
from tests.uploads.upload_factory import UPLOADS, photo_with_location, scanned_png

# `make run`'s own processes, always on the embedded default.
pytestmark = pytest.mark.same_on_every_backend


def _uploaded(http: httpx.Client, name: str) -> str:
    """A material's file uploaded as the app does (a photo for a 证件照, else a scanned page): its upload id."""
    data, filename, kind = (photo_with_location(), "photo.jpg", "image/jpeg") if "照" in name else \
        (scanned_png(), "scan.png", "image/png")
    reply = http.post(UPLOADS, files={"file": (filename, data, kind)})
    assert reply.status_code == 201, reply.text
    upload_id: str = reply.json()["id"]
    return upload_id


def _filled(http: httpx.Client,
            form: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]], list[dict[str, str]]]:
    """What a newcomer types into the joint form (sample data): each shared field once, each item's own fields
    under it, each required material once (a file uploaded for it)."""
    answers = {"baby_name": "陈安然", "baby_birth_date": "2026-11-28", "baby_sex": "女", "contact_phone": "13800138000",
               "mailing_address": "广州市天河区天河路 385 号 1201 房（示例）", "birth_hospital": "广州市妇女儿童医疗中心（示例）",
               "household_address": "广州市天河区天河路 385 号 1201 房（示例）", "relation_to_head": "女",
               "insured_city": "广州市", "applicant_name": "陈安然"}
    shared = {f["name"]: answers[f["name"]] for f in form["shared_fields"]}
    parts = {item["item_id"]: {f["name"]: answers.get(f["name"]) or f["schema"]["enum"][-1] for f in item["fields"]
                               if f["required"] or f["name"] in answers} for item in form["items"]}
    materials = [{"name": m["name"], "upload_ref": _uploaded(http, m["name"])} for m in form["materials"]
                 if m["required"]]
    return shared, parts, materials


def test_a_citizen_applies_for_the_newborn_bundle_at_once_and_follows_one_timeline(served: Served) -> None:  # noqa: F811
    with httpx.Client(base_url=served.url, timeout=20) as http:
        form = http.get("/api/v1/life-events/newborn/joint-form")
        assert form.status_code == 200, form.text
        assert [i["item_name"] for i in form.json()["items"]] == [
            "出生医学证明首次签发", "出生登记", "新生儿参加城乡居民医疗保险", "社会保障卡申领"]
        signed_in(http)
        shared, parts, materials = _filled(http, form.json())
        applied = http.post("/api/v1/joint-applications", headers={"Idempotency-Key": f"make-run-{uuid.uuid4().hex}"},
                            json={"bundle": "newborn", "form": shared, "parts": parts, "materials": materials})
        assert applied.status_code == 201, applied.text
        joint = applied.json()
        assert joint["status"] == "in_review" and joint["status_text"] == "办理中"
        assert {p["item_name"]: p["status"] for p in joint["parts"]} == {
            "出生医学证明首次签发": "under_review", "出生登记": "under_review",
            "新生儿参加城乡居民医疗保险": "completed", "社会保障卡申领": "completed"}

        again = http.get(f"/api/v1/joint-applications/{joint['id']}")
        assert again.status_code == 200, again.text
        timeline = again.json()["timeline"]
        assert len(timeline) == 14 and [t["at"] for t in timeline] == sorted(t["at"] for t in timeline)
        assert {t["item_name"] for t in timeline} == set(p["item_name"] for p in joint["parts"])
        assert [t["status_text"] for t in timeline if t["item_id"] == "gd-hsa-002"] == [
            "已提交", "已受理", "秒批通过", "已办结"]
        mine = http.get("/api/v1/joint-applications").json()["items"]
        assert [j["id"] for j in mine] == [joint["id"]]
