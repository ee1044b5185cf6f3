"""Every desk's check of an offline ID QR reaches the holder's access log ("who read my data"), even when
the cache forgot everything between the showing and the check: whose credential it is comes from the
database. A credential of ours we hold no record of is refused before anything is disclosed."""

from __future__ import annotations

from app.audit import AuditEntry
from app.vouchers import offline
from app.vouchers.models import Presentation

from tests.vouchers.test_offline_key_binding import check, nonce_for, offline_credential
from tests.vouchers.voucher_factory import (ACCESS_LOG, VOUCHERS, error_code, relying_party, turn_on_elderly_mode,
                                           voucher_holder)


async def test_after_a_cache_loss_the_desks_check_still_reaches_the_holders_access_log(
        app, client, second_party, sms, clock):
    holder = await voucher_holder(client, sms)
    credential = await offline_credential(client, holder, clock, ["age_over_18", "name_masked"])
    await app.ctx.services.platform.cache.clear()  # a Redis restart between the showing and the desk's check

    hotel = await relying_party(clock, "示例大酒店前台", ["age_over_18"])
    issued = await nonce_for(second_party, hotel)
    accepted = await check(second_party, hotel, holder.phone.offline_qr(credential, hotel.id, issued["nonce"], clock),
                           issued["nonce"])

    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["attributes"] == {"age_over_18": True}
    [entry] = await AuditEntry.filter(category="access", actor_type="relying_party")
    assert (entry.subject_id, entry.actor, entry.action) == (holder.citizen.id, "示例大酒店前台", "voucher_offline_checked")
    log = (await client.get(ACCESS_LOG, headers=holder.headers)).json()["items"]
    assert [(e["actor"], e["action"], e["attributes"], e["purpose"]) for e in log] == \
        [("示例大酒店前台", "voucher_offline_checked", ["age_over_18"], "入住登记")]


async def test_each_check_of_one_credential_reaches_the_log_of_its_holder_only(client, second_party, sms, clock):
    zhang = await voucher_holder(client, sms)
    li = await voucher_holder(client, sms, name="李四", sequence="456")
    credential = await offline_credential(client, zhang, clock, ["age_over_18"])
    await offline_credential(client, li, clock, ["age_over_18"])
    hotel = await relying_party(clock, "示例大酒店前台", ["age_over_18"])
    bank = await relying_party(clock, "示例银行网点", ["age_over_18"])

    for desk in (hotel, bank):
        issued = await nonce_for(second_party, desk)
        qr = zhang.phone.offline_qr(credential, desk.id, issued["nonce"], clock)
        assert (await check(second_party, desk, qr, issued["nonce"])).status_code == 200

    log = (await client.get(ACCESS_LOG, headers=zhang.headers)).json()["items"]
    assert sorted(e["actor"] for e in log) == ["示例大酒店前台", "示例银行网点"]
    assert (await client.get(ACCESS_LOG, headers=li.headers)).json()["items"] == []


async def test_a_credential_we_hold_no_record_of_discloses_nothing(client, second_party, sms, clock):
    holder = await voucher_holder(client, sms)
    credential = await offline_credential(client, holder, clock, ["age_over_18"])
    assert await Presentation.filter(id=offline.credential_id(credential.split("~")[0])).delete() == 1

    hotel = await relying_party(clock, "示例大酒店前台", ["age_over_18"])
    issued = await nonce_for(second_party, hotel)
    refused = await check(second_party, hotel, holder.phone.offline_qr(credential, hotel.id, issued["nonce"], clock),
                          issued["nonce"])

    assert refused.status_code == 422 and error_code(refused) == "OFFLINE_PRESENTATION_INVALID"
    assert refused.json()["error"]["reason"] == "HOLDER_UNKNOWN"
    assert await AuditEntry.filter(category="access").count() == 0
    assert (await client.get(ACCESS_LOG, headers=holder.headers)).json()["items"] == []


async def test_a_credential_shown_before_the_phone_was_lost_fails_after_the_lock_and_after_an_unlock(
        client, second_party, sms, clock):
    holder = await voucher_holder(client, sms)
    credential = await offline_credential(client, holder, clock, ["age_over_18"])
    hotel = await relying_party(clock, "示例大酒店前台", ["age_over_18"])

    locked = await client.put(f"{VOUCHERS}/current/lock", headers=holder.headers, json={"locked": True})
    assert locked.status_code == 200
    issued = await nonce_for(second_party, hotel)
    refused = await check(second_party, hotel, holder.phone.offline_qr(credential, hotel.id, issued["nonce"], clock),
                          issued["nonce"])
    assert refused.status_code == 409 and error_code(refused) == "OFFLINE_VOUCHER_WITHDRAWN"
    assert "锁定或注销" in refused.json()["error"]["message"]  # said to the desk, not to the holder

    unlocked = await client.put(f"{VOUCHERS}/current/lock", headers=holder.headers, json={"locked": False})
    assert unlocked.status_code == 200
    issued = await nonce_for(second_party, hotel)
    still = await check(second_party, hotel, holder.phone.offline_qr(credential, hotel.id, issued["nonce"], clock),
                        issued["nonce"])
    assert still.status_code == 409 and error_code(still) == "OFFLINE_VOUCHER_WITHDRAWN"
    assert await AuditEntry.filter(category="access", actor_type="relying_party").count() == 0


async def test_a_credential_whose_voucher_was_revoked_fails(client, second_party, sms, clock):
    holder = await voucher_holder(client, sms)
    credential = await offline_credential(client, holder, clock, ["age_over_18"])
    revoked = await client.delete(f"{VOUCHERS}/current", headers=holder.headers)
    assert revoked.status_code == 200, revoked.text
    hotel = await relying_party(clock, "示例大酒店前台", ["age_over_18"])
    issued = await nonce_for(second_party, hotel)

    refused = await check(second_party, hotel, holder.phone.offline_qr(credential, hotel.id, issued["nonce"], clock),
                          issued["nonce"], **{"Accept-Language": "en"})

    assert refused.status_code == 409 and error_code(refused) == "OFFLINE_VOUCHER_WITHDRAWN"
    assert refused.json()["error"]["message"].startswith("The holder locked or revoked")


async def test_an_offline_showing_cannot_be_extended_into_an_online_qr(app, client, sms, clock):
    holder = await voucher_holder(client, sms)
    await turn_on_elderly_mode(app, holder.citizen)
    credential = await offline_credential(client, holder, clock, ["age_over_18"])

    reply = await client.post(f"{VOUCHERS}/presentations/{offline.credential_id(credential.split('~')[0])}/extension",
                              headers=holder.headers)

    assert reply.status_code == 404 and error_code(reply) == "PRESENTATION_NOT_FOUND"
