"""Factories for the 一件事联办 stories: the seeded 出生一件事 (newborn) and 退休一件事 (retirement) bundles, a parent
who applies for the newborn's items at once, the clerks of the departments deciding the parts.

Sample data (示例): made-up people, and the materials as files they upload (made here: a scanned page, a photo)."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest

from tests.factories import Department as Client, SignedInCitizen, make_department, valid_id_number
from tests.uploads.upload_factory import photo_with_location, scanned_png, uploaded
from tests.vouchers.licence_factory import holder

JOINT = "/api/v1/joint-applications"
NEWBORN, RETIREMENT = "newborn", "retirement"
# The newborn bundle's parts, in order: 出生医学证明, 出生登记 (户口), 新生儿医保参保, 社保卡申领.
BIRTH_CERTIFICATE, HOUSEHOLD, MEDICAL_INSURANCE, SOCIAL_SECURITY_CARD = (
    "gd-wjw-001", "gd-gat-004", "gd-hsa-002", "gd-hrss-001")
NEWBORN_ITEMS = [BIRTH_CERTIFICATE, HOUSEHOLD, MEDICAL_INSURANCE, SOCIAL_SECURITY_CARD]
# 李晓敏 (sample), born 1994 in 广州市天河区: the mother applying.
MOTHER_ID = valid_id_number(region="440106", birth="19940815", sequence="326")
# 黄伟明 (sample), born 1964: retiring this year.
RETIREE_ID = valid_id_number(region="440104", birth="19640203", sequence="517")
# Each material once: the joint form asks for each name once and attaches it to every part that asks for it.
NEWBORN_MATERIAL_NAMES = ["父母居民身份证", "住院分娩记录", "出生医学证明", "居民户口簿", "居民身份证",
                          "近期免冠彩色证件照（电子版）"]
RETIREMENT_MATERIAL_NAMES = ["居民身份证", "社会保障卡", "居民户口簿", "近期免冠照片（电子版）"]
# Shared fields once (the baby's name, birth date and sex, the phone); fields of one item under that item, as
# 领取方式 (pickup), which the birth certificate and the social-security card offer with different choices.
NEWBORN_FORM = {"baby_name": "李安然", "baby_birth_date": "2026-11-28", "baby_sex": "女", "contact_phone": "13800138000",
                "mailing_address": "广州市天河区天河路 385 号 1201 房（示例）"}
NEWBORN_PARTS = {
    "gd-wjw-001": {"birth_hospital": "广州市妇女儿童医疗中心（示例）", "pickup": "邮寄到家"},
    "gd-gat-004": {"household_address": "广州市天河区天河路 385 号 1201 房（示例）", "relation_to_head": "女"},
    "gd-hsa-002": {"insured_city": "广州市"},
    "gd-hrss-001": {"applicant_name": "李安然", "pickup": "合作银行网点领取"},
}


async def materials_uploaded(client: httpx.AsyncClient, citizen: SignedInCitizen,
                             names: list[str] | None = None) -> list[dict[str, Any]]:
    """Each material named by a file the citizen uploaded just now: a photo for a 证件照, else a scanned page."""
    return [{"name": name, "upload_ref": await uploaded(client, citizen,
                                                        photo_with_location() if "照" in name else scanned_png())}
            for name in (NEWBORN_MATERIAL_NAMES if names is None else names)]


def ref(materials: list[dict[str, Any]], name: str) -> str:
    """The upload named for material `name`."""
    return str(next(m["upload_ref"] for m in materials if m["name"] == name))


def key() -> str:
    return f"joint-{secrets.token_hex(8)}"


async def apply_jointly(client: httpx.AsyncClient, citizen: SignedInCitizen, bundle: str = NEWBORN, *,
                        form: dict[str, Any] | None = None, parts: dict[str, Any] | None = None,
                        materials: list[dict[str, Any]] | None = None, idempotency_key: str | None = None,
                        **headers: str) -> httpx.Response:
    """Apply for a bundle; without `materials`, the newborn bundle's each uploaded by the citizen just now."""
    if materials is None:
        materials = await materials_uploaded(client, citizen)
    body = {"bundle": bundle, "form": NEWBORN_FORM if form is None else form,
            "parts": NEWBORN_PARTS if parts is None else parts, "materials": materials}
    return await client.post(JOINT, json=body, headers={**citizen.headers, "Idempotency-Key": idempotency_key or key(),
                                                        **headers})


async def joint(client: httpx.AsyncClient, citizen: SignedInCitizen, joint_id: str, **headers: str) -> httpx.Response:
    return await client.get(f"{JOINT}/{joint_id}", headers={**citizen.headers, **headers})


async def correct_part(client: httpx.AsyncClient, citizen: SignedInCitizen, joint_id: str, item_id: str,
                       body: dict[str, Any]) -> httpx.Response:
    return await client.post(f"{JOINT}/{joint_id}/parts/{item_id}/corrections", json=body, headers=citizen.headers)


def part(body: dict[str, Any], item_id: str) -> dict[str, Any]:
    return next(p for p in body["parts"] if p["item_id"] == item_id)


async def department_clerk(clock, department_id: str) -> Client:
    return await make_department(clock, f"{department_id} 办件窗口（示例）", ["clerk"], department_id=department_id)


@pytest.fixture
async def mother(client, sms) -> SignedInCitizen:
    """李晓敏 (sample), 实名 verified, household in 广州."""
    return await holder(client, sms, "李晓敏", MOTHER_ID)


@pytest.fixture
async def retiree(client, sms) -> SignedInCitizen:
    """黄伟明 (sample), 62, 实名 verified."""
    return await holder(client, sms, "黄伟明", RETIREE_ID)
