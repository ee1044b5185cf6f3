"""Holder keys (互认持有人密钥): the port office makes the secret Macao keys its codes' holder tags with,
hands it over once, replaces it when Macao changes key, and withdraws it when it leaks. 张三 converts
his Macao code only while the key that tagged it is accepted."""

from __future__ import annotations

import asyncio
import os

import pytest
from cryptography.exceptions import InvalidTag

from app.audit import AuditEntry
from app.security.keys import b64url_decode
from health_code.interop.models import PartnerHolderKey
from tests.factories import make_department, refresh_tokens
from tests.health_code.interop.partners_factory import CONVERSIONS, PARTNERS, make_partner

async def convert(client, citizen, payload: str):
    return await client.post(CONVERSIONS, headers=citizen.headers, json={"code": payload, "consent": True})


def holder_keys(mo_id: str = "MO") -> str:
    return f"{PARTNERS}/{mo_id}/holder-keys"


async def test_the_secret_is_shown_once_and_kept_encrypted(client, admin, mo):
    listed = await client.get(holder_keys(), headers=admin.headers())

    assert listed.status_code == 200
    [item] = listed.json()["items"]
    assert set(item) == {"key_id", "created_at", "accepted_until"} and item["accepted_until"] is None
    stored = await PartnerHolderKey.get(key_id=item["key_id"])
    assert stored.key_enc.startswith("v1:") and mo.holder_key.hex() not in stored.key_enc
    made = await AuditEntry.get(action="partner_holder_key_made")
    assert made.attributes == {"partner": "MO", "key_id": item["key_id"], "replaced": []}
    assert mo.holder_key.hex() not in str(made.attributes)


async def test_a_new_key_replaces_the_old_one_which_still_converts_for_seven_days(client, admin, mo, zhang_san, clock):
    old_key = mo.holder_key
    reply = await client.post(holder_keys(), headers=admin.headers())
    assert reply.status_code == 201 and reply.headers["cache-control"] == "no-store"
    new = reply.json()
    assert len(new["key"]) == 43 and new["accepted_until"] is None  # 32 bytes, base64url

    items = (await client.get(holder_keys(), headers=admin.headers())).json()["items"]
    assert [i["accepted_until"] is None for i in items] == [False, True]
    made = await AuditEntry.filter(action="partner_holder_key_made").order_by("-seq").first()
    assert made.attributes["replaced"] == [items[0]["key_id"]]

    assert (await convert(client, zhang_san, mo.issue_code(holder_key=old_key).payload)).status_code == 201
    clock.advance(days=7, seconds=1)
    await refresh_tokens(client, zhang_san)
    late = await convert(client, zhang_san, mo.issue_code(holder_key=old_key, ttl=600).payload)
    assert late.status_code == 422 and late.json()["error"]["code"] == "HOLDER_KEY_STOPPED"  # not "someone else's"
    someone_else = await convert(client, zhang_san, mo.issue_code(holder_key=old_key, holder=("王三", "1990-03-07")).payload)
    assert someone_else.json()["error"]["code"] == "SUBJECT_MISMATCH"


async def test_the_new_key_converts_at_once(client, admin, mo, zhang_san):
    reply = await client.post(holder_keys(), headers=admin.headers())
    new_key = b64url_decode(reply.json()["key"])

    assert (await convert(client, zhang_san, mo.issue_code(holder_key=new_key).payload)).status_code == 201


async def test_a_withdrawn_key_converts_nothing_from_then_on(client, admin, mo, zhang_san):
    key_id = (await client.get(holder_keys(), headers=admin.headers())).json()["items"][0]["key_id"]

    reply = await client.post(f"{holder_keys()}/{key_id}/withdrawal", headers=admin.headers())

    assert reply.status_code == 200 and reply.json()["accepted_until"] is not None
    refused = await convert(client, zhang_san, mo.issue_code().payload)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "HOLDER_KEY_STOPPED"
    assert await AuditEntry.exists(action="partner_holder_key_withdrawn")


async def test_a_code_tagged_under_a_key_we_never_made_is_not_its_holders(client, mo, zhang_san):
    forged = await convert(client, zhang_san, mo.issue_code(holder_key=os.urandom(32)).payload)

    assert forged.status_code == 422 and forged.json()["error"]["code"] == "SUBJECT_MISMATCH"


async def test_a_partner_without_a_holder_key_cannot_have_tagged_codes_converted(client, admin, mo, zhang_san):
    await PartnerHolderKey.filter(partner_id="MO").delete()

    reply = await convert(client, zhang_san, mo.issue_code().payload)

    assert reply.status_code == 422
    assert reply.json()["error"]["code"] == "HOLDER_KEY_NOT_AGREED"
    assert "签发此码的地区尚未" in reply.json()["error"]["message"]
    english = await client.post(CONVERSIONS, headers={**zhang_san.headers, "Accept-Language": "en"},
                                json={"code": mo.issue_code().payload, "consent": True})
    assert english.json()["error"]["message"].startswith("The region that issued this code has not yet agreed")


async def test_only_a_partner_admin_handles_holder_keys(client, clock, admin, mo):
    clerk = await make_department(clock, "某区卫健局（示例）", ["health_admin"])
    key_id = (await client.get(holder_keys(), headers=admin.headers())).json()["items"][0]["key_id"]

    for reply in (await client.post(holder_keys(), headers=clerk.headers()),
                  await client.get(holder_keys(), headers=clerk.headers()),
                  await client.post(f"{holder_keys()}/{key_id}/withdrawal", headers=clerk.headers())):
        assert reply.status_code == 403
    assert (await PartnerHolderKey.get(key_id=key_id)).accepted_until is None


async def test_two_admins_making_a_key_at_once_leave_one_current_key(client, admin, mo):
    made = await asyncio.gather(*(client.post(holder_keys(), headers=admin.headers()) for _ in range(3)))

    assert [reply.status_code for reply in made] == [201, 201, 201]
    assert await PartnerHolderKey.filter(partner_id="MO", accepted_until=None).count() == 1


async def test_a_key_of_one_partner_cannot_be_withdrawn_through_another(client, admin, mo):
    hk = await make_partner(client, admin, "HK", name="香港特别行政区卫生署（示例）")
    key_id = (await client.get(holder_keys(), headers=admin.headers())).json()["items"][0]["key_id"]

    reply = await client.post(f"{holder_keys('HK')}/{key_id}/withdrawal", headers=admin.headers())

    assert reply.status_code == 404 and hk.holder_key
    assert (await PartnerHolderKey.get(key_id=key_id)).accepted_until is None


async def test_a_stored_key_moved_to_another_row_does_not_decrypt(app, mo):
    """The ciphertext is bound to its partner and key id: copied into another row it is refused, not used."""
    [row] = await PartnerHolderKey.filter(partner_id="MO")
    await PartnerHolderKey.create(partner_id="MO", key_id="copied", key_enc=row.key_enc, created_at=row.created_at)

    with pytest.raises(InvalidTag):
        await app.ctx.services.partners.holder_keys_for_checking("MO")


async def test_unknown_partners_and_keys_are_told_so(client, admin, mo):
    assert (await client.post(holder_keys("HK"), headers=admin.headers())).status_code == 404
    assert (await client.get(holder_keys("HK"), headers=admin.headers())).status_code == 404
    missing = await client.post(f"{holder_keys()}/no-such-key/withdrawal", headers=admin.headers())
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "PARTNER_KEY_NOT_FOUND"
