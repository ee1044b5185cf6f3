"""The e-licence wallet's story: the traffic police issue Zhang San's driving licence; he lists and
opens it with its validity, personal data masked; nobody else sees it; status changes pushed by the
issuer and the passing of valid_until show at once."""

from __future__ import annotations

from datetime import timedelta

from app.audit import AuditEntry
from app.vouchers.models import Licence
from tests.factories import refresh_tokens, sign_in
from tests.vouchers import licence_factory as lf
from tests.vouchers.licence_factory import LICENCES, ZHANG_SAN_ID, error_code, issue, set_status



async def test_the_holder_lists_and_opens_the_licence_with_its_validity(client, police, zhang_san, licence):
    assert licence["licence_type"] == "driving_licence" and licence["status"] == "valid"
    assert licence["validity"] == "valid" and licence["issuer_kid"] == "1"
    assert licence["number_masked"] == ZHANG_SAN_ID[:4] + "*" * 10 + ZHANG_SAN_ID[-4:]
    assert licence["holder_name_masked"] == "*三"

    listed = (await client.get(LICENCES, headers=zhang_san.headers)).json()["items"]
    assert [(i["id"], i["licence_type_name"], i["validity"], i["validity_text"], i["issuer"]) for i in listed] == \
        [(licence["id"], "机动车驾驶证", "valid", "有效", lf.POLICE)]
    assert listed[0]["valid_until"] == licence["valid_until"] and listed[0]["number_label"] == "证号"

    opened = await client.get(f"{LICENCES}/{licence['id']}", headers=zhang_san.headers)
    assert opened.status_code == 200, opened.text
    fields = {f["name"]: (f["label"], f["value"]) for f in opened.json()["fields"]}
    assert fields["name"] == ("姓名", "*三")
    assert fields["birth_date"] == ("出生日期", "1990-**-**")
    assert fields["address"] == ("住址", "广东省广州市****")
    assert fields["vehicle_class"] == ("准驾车型", "C1")  # not personal data: shown as issued
    assert [f["name"] for f in opened.json()["fields"]][:3] == ["name", "sex", "nationality"]  # the schema's order

    english = (await client.get(f"{LICENCES}/{licence['id']}", headers={**zhang_san.headers, "Accept-Language": "en"})).json()
    assert english["licence_type_name"] == "Driving licence" and english["validity_text"] == "Valid"
    assert {f["name"]: f["label"] for f in english["fields"]}["vehicle_class"] == "Vehicle classes"


async def test_licence_data_is_encrypted_at_rest_and_the_issue_is_audited(police, zhang_san, licence):
    row = await Licence.get(id=licence["id"])
    assert row.citizen_id == zhang_san.id and row.issuer_client_id == police.id
    for stored in (row.fields_enc, row.document, row.number_hash):
        assert "张三" not in stored and ZHANG_SAN_ID not in stored
    entry = await AuditEntry.get(action="licence_issued")
    assert (entry.actor, entry.actor_type, entry.subject_id) == (police.id, "department", zhang_san.id)
    assert entry.attributes == {"licence_id": licence["id"], "licence_type": "driving_licence"}


async def test_another_citizen_neither_sees_nor_opens_nor_shares_it(client, zhang_san, li_si, licence):
    assert (await client.get(LICENCES, headers=li_si.headers)).json() == {"items": []}
    theirs = await client.get(f"{LICENCES}/{licence['id']}", headers=li_si.headers)
    unknown = await client.get(f"{LICENCES}/lic_nothing", headers=li_si.headers)
    # Someone else's licence and one that does not exist look the same: existence is not revealed.
    assert theirs.status_code == unknown.status_code == 404
    assert error_code(theirs) == error_code(unknown) == "LICENCE_NOT_FOUND"
    shared = await client.post(f"{LICENCES}/{licence['id']}/shares", headers=li_si.headers,
                               json={"purpose": "办理租房登记", "valid_minutes": 30})
    assert shared.status_code == 404 and error_code(shared) == "LICENCE_NOT_FOUND"
    assert len((await client.get(LICENCES, headers=zhang_san.headers)).json()["items"]) == 1


async def test_the_wallet_needs_real_name_verification(client, sms):
    newcomer = await sign_in(client, sms)
    reply = await client.get(LICENCES, headers=newcomer.headers)
    assert reply.status_code == 403 and error_code(reply) == "IDENTITY_LEVEL_REQUIRED"


async def test_status_pushed_by_the_issuer_shows_at_once(client, police, civil_affairs, zhang_san, licence):
    url = f"{LICENCES}/{licence['id']}"
    suspended = await set_status(client, police, licence["id"], "suspended", "记分满 12 分（示例）")
    assert suspended.status_code == 200 and suspended.json()["validity"] == "suspended"
    seen = (await client.get(url, headers=zhang_san.headers)).json()
    assert (seen["validity"], seen["validity_text"], seen["status_reason"]) == ("suspended", "已暂停使用", "记分满 12 分（示例）")

    assert (await set_status(client, police, licence["id"], "valid")).json()["validity"] == "valid"
    assert (await client.get(url, headers=zhang_san.headers)).json()["validity"] == "valid"

    other = await set_status(client, civil_affairs, licence["id"], "revoked")
    assert other.status_code == 404 and error_code(other) == "LICENCE_NOT_FOUND"  # only its own issuer

    assert (await set_status(client, police, licence["id"], "revoked", "注销（示例）")).status_code == 200
    listed = (await client.get(LICENCES, headers=zhang_san.headers)).json()["items"]
    assert (listed[0]["validity"], listed[0]["validity_text"]) == ("revoked", "已吊销")
    final = await set_status(client, police, licence["id"], "valid")
    assert final.status_code == 409 and error_code(final) == "LICENCE_REVOKED"
    changes = await AuditEntry.filter(action="licence_status_changed").order_by("seq")
    assert [(e.attributes["from"], e.attributes["to"]) for e in changes] == \
        [("valid", "suspended"), ("suspended", "valid"), ("valid", "revoked")]


async def test_a_licence_expires_when_its_valid_until_passes(client, clock, police, zhang_san):
    issued = await issue(client, police, valid_until=clock.now().replace(microsecond=0) + timedelta(days=1))
    assert issued["validity"] == "valid"
    clock.advance(days=1, seconds=1)
    await refresh_tokens(client, zhang_san)
    seen = (await client.get(f"{LICENCES}/{issued['id']}", headers=zhang_san.headers)).json()
    assert (seen["validity"], seen["validity_text"]) == ("expired", "已过期")
    refused = await client.post(f"{LICENCES}/{issued['id']}/shares", headers=zhang_san.headers,
                                json={"purpose": "办理租房登记", "valid_minutes": 30})
    assert refused.status_code == 409 and error_code(refused) == "LICENCE_NOT_VALID"
    assert refused.json()["error"]["validity"] == "expired"


async def test_the_issuer_can_push_expired_and_a_future_licence_is_not_yet_valid(client, clock, police, zhang_san,
                                                                                  licence):
    assert (await set_status(client, police, licence["id"], "expired")).json()["validity"] == "expired"
    assert (await client.get(f"{LICENCES}/{licence['id']}", headers=zhang_san.headers)).json()["validity"] == "expired"

    later = await issue(client, police, number="GD2026000000123", valid_from=clock.now() + timedelta(days=3))
    assert later["validity"] == "not_yet_valid"
    seen = (await client.get(f"{LICENCES}/{later['id']}", headers=zhang_san.headers)).json()
    assert (seen["validity"], seen["validity_text"]) == ("not_yet_valid", "尚未生效")


async def test_the_citizen_is_told_in_the_inbox_when_a_licence_arrives_and_when_its_status_changes(
        client, police, zhang_san, licence):
    from app.notifications.models import Notification

    await set_status(client, police, licence["id"], "suspended", reason="违法记分满12分（示例）")
    kinds = [n.kind for n in await Notification.filter(citizen_id=zhang_san.id).order_by("created_at", "id")]
    assert kinds[-2:] == ["licence_issued", "licence_status_changed"]
