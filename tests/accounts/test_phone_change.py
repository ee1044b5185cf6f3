"""Changing the account's phone number (更换手机号): codes to both numbers, or a face check when the old
number is lost; then the other devices are signed out, both numbers are told, and the change is audited."""

from __future__ import annotations

from typing import Any

import re

import pytest

from app.accounts.models import Citizen, FaceSession
from app.accounts.phone_change import PhoneChange
from app.audit import AuditEntry
from app.errors import Unauthorized
from app.security.one_time_codes import use_together
from tests.factories import SignedInCitizen, new_phone, sign_in, valid_id_number

CODES = "/api/v1/me/phone/codes"
CHANGE = "/api/v1/me/phone"
FACE_SESSIONS = "/api/v1/me/identity/face/sessions"


def masked(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:]


def change_code(sms, phone: str) -> str:
    """The newest phone-change code sent to `phone`."""
    for message in sms.outbox(phone):
        found = re.search(r"更换绑定手机号，验证码为 (\d{6})", message.text)
        if found:
            return found.group(1)
    raise AssertionError(f"no phone-change code sent to {phone}")


def error(reply) -> str:
    return reply.json()["error"]["code"]


async def real_name_citizen(client, sms, tencent, sequence: str) -> SignedInCitizen:
    citizen = await sign_in(client, sms)
    number = valid_id_number(sequence=sequence)
    tencent.add_person("黄丽华", number)
    reply = await client.post("/api/v1/me/identity", headers=citizen.headers, json={"name": "黄丽华", "id_number": number})
    assert reply.status_code == 200, reply.text
    return citizen


async def passed_face_session(client, tencent, citizen: SignedInCitizen, outcome: str = "pass",
                              purpose: str = "phone_change") -> str:
    started = await client.post(FACE_SESSIONS, headers=citizen.headers, json={"purpose": purpose})
    assert started.status_code == 201, started.text
    if outcome:
        tencent.complete_face(started.json()["biz_token"], outcome=outcome)
    return started.json()["session_id"]


async def request_codes(client, citizen: SignedInCitizen, phone: str, via: str = "old_phone"):
    return await client.post(CODES, headers=citizen.headers, json={"new_phone": phone, "via": via})


async def change_with_codes(client, sms, citizen: SignedInCitizen, phone: str):
    sent = await request_codes(client, citizen, phone)
    assert sent.status_code == 202, sent.text
    return await client.post(CHANGE, headers=citizen.headers, json={
        "new_phone": phone, "new_code": change_code(sms, phone), "old_code": change_code(sms, citizen.phone)})


# -- the normal case: codes to both numbers --------------------------------------------------

async def test_codes_to_both_numbers_change_the_number_and_sign_out_the_other_devices(client, sms, clock, platform, tencent):
    citizen = await real_name_citizen(client, sms, tencent, "451")
    clock.advance(61)
    other_device = await sign_in(client, sms, citizen.phone, device="旧平板")
    clock.advance(61)
    phone = new_phone()

    sent = await request_codes(client, citizen, phone)
    assert sent.status_code == 202
    assert sent.json() == {"new_phone_masked": masked(phone), "old_phone_masked": masked(citizen.phone),
                           "expires_in": 300, "resend_after": 60}
    changed = await client.post(CHANGE, headers=citizen.headers, json={
        "new_phone": phone, "new_code": change_code(sms, phone), "old_code": change_code(sms, citizen.phone)})
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"phone_masked": masked(phone)}

    # This device goes on; its profile shows the new number, masked. The other device is signed out.
    me = await client.get("/api/v1/me", headers=citizen.headers)
    assert me.status_code == 200 and me.json()["phone_masked"] == masked(phone) and me.json()["level"] == 2
    assert (await client.post("/api/v1/auth/refresh", json={"refresh_token": citizen.refresh_token})).status_code == 200
    assert (await client.get("/api/v1/me", headers=other_device.headers)).status_code == 401
    refused = await client.post("/api/v1/auth/refresh", json={"refresh_token": other_device.refresh_token})
    assert refused.status_code == 401 and error(refused) == "REFRESH_TOKEN_INVALID"

    # Stored: the new number's ciphertext and keyed hash, never the number itself.
    row = await Citizen.get(id=citizen.id)
    assert row.phone_hash == platform.pii.lookup_hash(phone, "phone")
    assert phone not in row.phone_enc and platform.pii.decrypt(row.phone_enc, "phone") == phone

    # Both numbers are told.
    assert any("绑定手机号已更换" in m.text and masked(phone) in m.text for m in sms.outbox(phone))
    assert any("本号码不能再登录该账号" in m.text for m in sms.outbox(citizen.phone))
    assert not any(phone in m.text for m in sms.outbox(citizen.phone))  # the old number sees the new one masked

    (entry,) = await AuditEntry.filter(action="phone_changed", subject_id=citizen.id)
    assert entry.attributes["via"] == "old_phone" and entry.attributes["sessions_revoked"] == 1
    assert (entry.attributes["old_phone_masked"], entry.attributes["new_phone_masked"]) == (masked(citizen.phone), masked(phone))
    assert phone not in str(entry.attributes) and citizen.phone not in str(entry.attributes)
    assert await AuditEntry.filter(action="session_revoked", subject_id=citizen.id).count() == 1


async def test_the_new_number_signs_in_to_the_same_account_and_the_old_one_to_a_new_empty_one(client, sms, clock, tencent):
    citizen = await real_name_citizen(client, sms, tencent, "452")
    clock.advance(61)
    phone = new_phone()
    assert (await change_with_codes(client, sms, citizen, phone)).status_code == 200
    clock.advance(61)

    same = await sign_in(client, sms, phone)
    assert same.id == citizen.id
    assert (await client.get("/api/v1/me", headers=same.headers)).json()["level"] == 2
    fresh = await sign_in(client, sms, citizen.phone)
    assert fresh.id != citizen.id
    me = (await client.get("/api/v1/me", headers=fresh.headers)).json()
    assert me["level"] == 1 and me["name_masked"] is None


async def test_a_step_up_after_the_change_goes_to_the_new_number(client, sms, clock):
    citizen = await sign_in(client, sms)
    clock.advance(61)
    phone = new_phone()
    assert (await change_with_codes(client, sms, citizen, phone)).status_code == 200
    clock.advance(61)
    sent = await client.post("/api/v1/me/step-up/code", headers=citizen.headers)
    assert sent.status_code == 202 and sent.json()["sent_to"] == masked(phone)


# -- the old number lost: a face check instead ------------------------------------------------

async def test_a_passed_face_check_replaces_the_old_numbers_code(client, sms, clock, tencent):
    citizen = await real_name_citizen(client, sms, tencent, "453")
    clock.advance(61)
    face_session = await passed_face_session(client, tencent, citizen)
    phone = new_phone()
    before = len(sms.outbox(citizen.phone))
    sent = await request_codes(client, citizen, phone, via="face")
    assert sent.status_code == 202
    assert sent.json()["old_phone_masked"] is None and sent.json()["new_phone_masked"] == masked(phone)
    assert len(sms.outbox(citizen.phone)) == before  # nothing to the lost number

    # Without the new number's code nothing happens, and the face session stays good.
    wrong = await client.post(CHANGE, headers=citizen.headers, json={
        "new_phone": phone, "new_code": "000000" if change_code(sms, phone) != "000000" else "111111",
        "face_session_id": face_session})
    assert wrong.status_code == 401 and error(wrong) == "NEW_PHONE_CODE_INVALID"
    changed = await client.post(CHANGE, headers=citizen.headers, json={
        "new_phone": phone, "new_code": change_code(sms, phone), "face_session_id": face_session})
    assert changed.status_code == 200, changed.text
    assert (await FaceSession.get(id=face_session)).outcome == "passed"
    (entry,) = await AuditEntry.filter(action="phone_changed", subject_id=citizen.id)
    assert entry.attributes["via"] == "face" and entry.attributes["face_session_id"] == face_session
    assert any("本号码不能再登录该账号" in m.text for m in sms.outbox(citizen.phone))  # told all the same

    # The session counts once.
    clock.advance(61)
    another = new_phone()
    assert (await request_codes(client, citizen, another, via="face")).status_code == 202
    again = await client.post(CHANGE, headers=citizen.headers, json={
        "new_phone": another, "new_code": change_code(sms, another), "face_session_id": face_session})
    assert again.status_code == 409 and error(again) == "FACE_SESSION_USED"


async def test_a_face_session_that_is_not_a_passed_phone_change_check_of_mine_is_refused(client, sms, clock, tencent):
    citizen = await real_name_citizen(client, sms, tencent, "454")
    stranger = await real_name_citizen(client, sms, tencent, "455")
    clock.advance(61)
    phone = new_phone()
    assert (await request_codes(client, citizen, phone, via="face")).status_code == 202
    code = change_code(sms, phone)

    async def attempt(face_session_id: str):
        return await client.post(CHANGE, headers=citizen.headers, json={
            "new_phone": phone, "new_code": code, "face_session_id": face_session_id})

    assert (await attempt("face_doesnotexist")).status_code == 404
    theirs = await passed_face_session(client, tencent, stranger)
    assert (await attempt(theirs)).status_code == 404
    failed = await attempt(await passed_face_session(client, tencent, citizen, outcome="fail"))
    assert failed.status_code == 422 and error(failed) == "FACE_CHECK_FAILED"
    unfinished = await attempt(await passed_face_session(client, tencent, citizen, outcome=""))
    assert unfinished.status_code == 409 and error(unfinished) == "FACE_CHECK_NOT_FINISHED"
    other_purpose = await attempt(await passed_face_session(client, tencent, citizen, purpose="level3"))
    assert other_purpose.status_code == 422 and error(other_purpose) == "FACE_SESSION_WRONG_PURPOSE"

    # None of these spent the new number's code or changed anything.
    assert (await Citizen.get(id=citizen.id)).phone_hash != (await Citizen.get(id=stranger.id)).phone_hash
    assert (await attempt(await passed_face_session(client, tencent, citizen))).status_code == 200
    # The stranger's passed session is still theirs to use.
    assert (await FaceSession.get(id=theirs)).used_at is None


async def test_the_face_route_needs_a_verified_identity(client, sms):
    citizen = await sign_in(client, sms)
    reply = await request_codes(client, citizen, new_phone(), via="face")
    assert reply.status_code == 403 and error(reply) == "IDENTITY_LEVEL_REQUIRED"


async def test_a_phone_change_face_session_does_not_lift_the_level(client, sms, tencent):
    citizen = await real_name_citizen(client, sms, tencent, "456")
    session_id = await passed_face_session(client, tencent, citizen)
    reply = await client.post("/api/v1/me/identity/face", headers=citizen.headers, json={"session_id": session_id})
    assert reply.status_code == 422 and error(reply) == "FACE_SESSION_WRONG_PURPOSE"
    assert (await FaceSession.get(id=session_id)).used_at is None


# -- wrong, lapsed and used codes --------------------------------------------------------------

async def test_a_wrong_code_names_the_number_and_leaves_the_other_code_good(client, sms, clock):
    citizen = await sign_in(client, sms)
    clock.advance(61)
    phone = new_phone()
    assert (await request_codes(client, citizen, phone)).status_code == 202
    new_code, old_code = change_code(sms, phone), change_code(sms, citizen.phone)

    def other_than(code: str) -> str:
        return "000000" if code != "000000" else "111111"

    wrong_old = await client.post(CHANGE, headers=citizen.headers, json={
        "new_phone": phone, "new_code": new_code, "old_code": other_than(old_code)})
    assert wrong_old.status_code == 401 and error(wrong_old) == "OLD_PHONE_CODE_INVALID"
    assert wrong_old.json()["error"]["tries_left"] == 4
    wrong_new = await client.post(CHANGE, headers=citizen.headers, json={
        "new_phone": phone, "new_code": other_than(new_code), "old_code": old_code})
    assert wrong_new.status_code == 401 and error(wrong_new) == "NEW_PHONE_CODE_INVALID"
    assert wrong_new.json()["error"]["tries_left"] == 4
    right = await client.post(CHANGE, headers=citizen.headers, json={
        "new_phone": phone, "new_code": new_code, "old_code": old_code})
    assert right.status_code == 200
    # Replayed: the number is already this account's.
    replay = await client.post(CHANGE, headers=citizen.headers, json={
        "new_phone": phone, "new_code": new_code, "old_code": old_code})
    assert replay.status_code == 422 and error(replay) == "PHONE_UNCHANGED"


async def test_a_code_for_one_new_number_does_not_prove_another(client, sms, clock):
    citizen = await sign_in(client, sms)
    clock.advance(61)
    phone, other = new_phone(), new_phone()
    assert (await request_codes(client, citizen, phone)).status_code == 202
    reply = await client.post(CHANGE, headers=citizen.headers, json={
        "new_phone": other, "new_code": change_code(sms, phone), "old_code": change_code(sms, citizen.phone)})
    assert reply.status_code == 401 and error(reply) == "OLD_PHONE_CODE_EXPIRED"  # neither code was for `other`


async def test_the_old_numbers_code_agrees_to_one_new_number_only(client, sms, clock, tencent):
    citizen = await real_name_citizen(client, sms, tencent, "459")
    clock.advance(61)
    agreed, other = new_phone(), new_phone()
    assert (await request_codes(client, citizen, agreed)).status_code == 202
    old_code = change_code(sms, citizen.phone)
    clock.advance(61)
    assert (await request_codes(client, citizen, other, via="face")).status_code == 202  # no new old-number code
    reply = await client.post(CHANGE, headers=citizen.headers, json={
        "new_phone": other, "new_code": change_code(sms, other), "old_code": old_code})
    assert reply.status_code == 401 and error(reply) == "OLD_PHONE_CODE_EXPIRED"


async def test_lapsed_codes_are_refused(client, sms, clock, platform):
    citizen = await sign_in(client, sms)
    clock.advance(61)
    phone = new_phone()
    assert (await request_codes(client, citizen, phone)).status_code == 202
    clock.advance(301)
    reply = await client.post(CHANGE, headers=citizen.headers, json={
        "new_phone": phone, "new_code": change_code(sms, phone), "old_code": change_code(sms, citizen.phone)})
    assert reply.status_code == 401 and error(reply) == "OLD_PHONE_CODE_EXPIRED"
    assert (await Citizen.get(id=citizen.id)).phone_hash == platform.pii.lookup_hash(citizen.phone, "phone")


async def test_codes_are_used_once(app, client, sms, clock):
    citizen = await sign_in(client, sms)
    clock.advance(61)
    phone = new_phone()
    assert (await request_codes(client, citizen, phone)).status_code == 202
    change = app.ctx.services.accounts.phone_change
    key = change._new_key(citizen.id, app.ctx.services.platform.pii.lookup_hash(phone, "phone"))
    await use_together([(change.new_codes, key, change_code(sms, phone))], ttl=360)
    with pytest.raises(Unauthorized) as used:
        await use_together([(change.new_codes, key, change_code(sms, phone))], ttl=360)
    assert used.value.code == "NEW_PHONE_CODE_EXPIRED"


# -- the number itself -------------------------------------------------------------------------

async def test_another_accounts_number_is_refused_and_only_a_proven_code_learns_it(client, sms, clock):
    citizen = await sign_in(client, sms)
    holder = await sign_in(client, sms)
    clock.advance(61)
    taken = await request_codes(client, citizen, holder.phone)
    assert taken.status_code == 409 and error(taken) == "PHONE_TAKEN"
    assert "账号" in taken.json()["error"]["message"]
    assert not any("更换绑定手机号" in m.text for m in sms.outbox(holder.phone))
    # Made-up codes learn nothing of whether the number has an account.
    direct = await client.post(CHANGE, headers=citizen.headers, json={
        "new_phone": holder.phone, "new_code": "123456", "old_code": "123456"})
    assert direct.status_code == 401 and error(direct).endswith("_PHONE_CODE_EXPIRED")


async def test_a_number_taken_after_the_codes_were_sent_is_refused_after_the_codes(client, sms, clock, platform):
    citizen = await sign_in(client, sms)
    clock.advance(61)
    phone = new_phone()
    assert (await request_codes(client, citizen, phone)).status_code == 202
    body = {"new_phone": phone, "new_code": change_code(sms, phone), "old_code": change_code(sms, citizen.phone)}
    clock.advance(61)
    newcomer = await sign_in(client, sms, phone)  # the number's first sign-in, meanwhile
    taken = await client.post(CHANGE, headers=citizen.headers, json=body)
    assert taken.status_code == 409 and error(taken) == "PHONE_TAKEN"
    assert (await Citizen.get(id=citizen.id)).phone_hash == platform.pii.lookup_hash(citizen.phone, "phone")
    assert (await Citizen.get(id=newcomer.id)).phone_hash == platform.pii.lookup_hash(phone, "phone")


async def on_two_devices_with_codes(client, sms, clock) -> tuple[Any, Any, str, dict[str, str]]:
    """A citizen signed in on this phone and an old tablet, with codes sent for a new number: the citizen, the
    tablet's session, the new number and the change's body."""
    citizen = await sign_in(client, sms)
    clock.advance(61)
    other_device = await sign_in(client, sms, citizen.phone, device="旧平板")
    clock.advance(61)
    phone = new_phone()
    assert (await request_codes(client, citizen, phone)).status_code == 202
    return citizen, other_device, phone, {"new_phone": phone, "new_code": change_code(sms, phone),
                                          "old_code": change_code(sms, citizen.phone)}


async def test_a_number_taken_between_the_check_and_the_write_is_409_and_changes_nothing(
        client, sms, clock, platform, monkeypatch):
    citizen, other_device, phone, body = await on_two_devices_with_codes(client, sms, clock)
    clock.advance(61)
    await sign_in(client, sms, phone)

    async def not_yet_taken(phone_hash: str) -> None:  # the check ran just before the other account's sign-in
        return None

    monkeypatch.setattr(PhoneChange, "_refuse_taken", staticmethod(not_yet_taken))
    raced = await client.post(CHANGE, headers=citizen.headers, json=body)
    assert raced.status_code == 409 and error(raced) == "PHONE_TAKEN"  # the unique keyed hash refused the write
    assert (await Citizen.get(id=citizen.id)).phone_hash == platform.pii.lookup_hash(citizen.phone, "phone")
    assert (await client.post("/api/v1/auth/refresh", json={"refresh_token": other_device.refresh_token})).status_code == 200
    assert not await AuditEntry.filter(action="phone_changed", subject_id=citizen.id).exists()


async def test_a_number_changed_meanwhile_by_another_request_is_409(client, sms, clock, platform, monkeypatch):
    citizen = await sign_in(client, sms)
    clock.advance(61)
    phone, elsewhere = new_phone(), new_phone()
    assert (await request_codes(client, citizen, phone)).status_code == 202
    body = {"new_phone": phone, "new_code": change_code(sms, phone), "old_code": change_code(sms, citizen.phone)}

    async def another_change_commits(phone_hash: str) -> None:  # after this request read the citizen
        await Citizen.filter(id=citizen.id).update(phone_hash=platform.pii.lookup_hash(elsewhere, "phone"),
                                                   phone_enc=platform.pii.encrypt(elsewhere, "phone"))

    monkeypatch.setattr(PhoneChange, "_refuse_taken", staticmethod(another_change_commits))
    late = await client.post(CHANGE, headers=citizen.headers, json=body)
    assert late.status_code == 409 and error(late) == "PHONE_CHANGED_MEANWHILE"
    assert late.json()["error"]["message"]
    assert (await Citizen.get(id=citizen.id)).phone_hash == platform.pii.lookup_hash(elsewhere, "phone")
    assert not await AuditEntry.filter(action="phone_changed", subject_id=citizen.id).exists()


async def test_asking_about_taken_numbers_counts_against_the_citizens_daily_limit(app, client, sms, clock):
    app.ctx.services.accounts.settings = app.ctx.services.settings.with_(phone_change_daily_limit=2)
    citizen = await sign_in(client, sms)
    holders = [await sign_in(client, sms) for _ in range(3)]
    clock.advance(61)
    for holder in holders[:2]:
        taken = await request_codes(client, citizen, holder.phone)
        assert taken.status_code == 409 and error(taken) == "PHONE_TAKEN"
    over = await request_codes(client, citizen, holders[2].phone)
    assert over.status_code == 429 and error(over) == "PHONE_CHANGE_LIMIT"
    assert (await request_codes(client, citizen, new_phone())).status_code == 429


async def test_a_code_the_provider_did_not_take_counts_against_no_phone_change_limit(app, client, sms, clock):
    app.ctx.services.accounts.settings = app.ctx.services.settings.with_(phone_change_daily_limit=1)
    citizen = await sign_in(client, sms)
    clock.advance(61)
    phone = new_phone()
    sms.fail_next(1, action="SendSms")
    try:
        failed = await request_codes(client, citizen, phone)
    finally:
        sms.clear_behaviour()
    assert failed.status_code == 503
    assert (await request_codes(client, citizen, phone)).status_code == 202


async def test_the_same_number_or_no_number_is_refused(client, sms):
    citizen = await sign_in(client, sms)
    same = await request_codes(client, citizen, f"+86 {citizen.phone}")
    assert same.status_code == 422 and error(same) == "PHONE_UNCHANGED"
    bad = await request_codes(client, citizen, "12345")
    assert bad.status_code == 422 and error(bad) == "INVALID_PHONE"
    assert bad.json()["error"]["fields"][0]["field"] == "new_phone"


async def test_the_proof_is_old_code_or_face_session_not_both_nor_neither(client, sms):
    citizen = await sign_in(client, sms)
    phone = new_phone()
    both = await client.post(CHANGE, headers=citizen.headers, json={
        "new_phone": phone, "new_code": "123456", "old_code": "123456", "face_session_id": "face_x"})
    neither = await client.post(CHANGE, headers=citizen.headers, json={"new_phone": phone, "new_code": "123456"})
    assert both.status_code == 422 and neither.status_code == 422
    bad_via = await client.post(CODES, headers=citizen.headers, json={"new_phone": phone, "via": "email"})
    assert bad_via.status_code == 422


# -- limits ------------------------------------------------------------------------------------

async def test_codes_are_rate_limited_per_citizen_and_per_new_number(app, client, sms, clock):
    app.ctx.services.accounts.settings = app.ctx.services.settings.with_(phone_change_daily_limit=2)
    citizen = await sign_in(client, sms)
    clock.advance(61)
    phone = new_phone()
    assert (await request_codes(client, citizen, phone)).status_code == 202
    again = await request_codes(client, citizen, phone)
    assert again.status_code == 429 and int(again.headers["Retry-After"]) <= 60
    clock.advance(61)
    assert (await request_codes(client, citizen, new_phone())).status_code == 202
    clock.advance(61)
    over = await request_codes(client, citizen, new_phone())
    assert over.status_code == 429 and error(over) == "PHONE_CHANGE_LIMIT"

    # One new number is not sent codes for any number of accounts.
    target = new_phone()
    for _ in range(2):
        asking = await sign_in(client, sms)
        assert (await request_codes(client, asking, target)).status_code == 202
        clock.advance(61)
    third = await request_codes(client, await sign_in(client, sms), target)
    assert third.status_code == 429 and error(third) == "PHONE_CHANGE_LIMIT"


async def test_the_phone_routes_need_a_signed_in_citizen(client):
    assert (await client.post(CODES, json={"new_phone": new_phone()})).status_code == 401
    assert (await client.post(CHANGE, json={"new_phone": new_phone(), "new_code": "1", "old_code": "1"})).status_code == 401


async def test_an_sms_provider_failure_after_the_change_does_not_undo_it(client, sms, clock, platform):
    citizen = await sign_in(client, sms)
    clock.advance(61)
    phone = new_phone()
    assert (await request_codes(client, citizen, phone)).status_code == 202
    body = {"new_phone": phone, "new_code": change_code(sms, phone), "old_code": change_code(sms, citizen.phone)}
    sms.fail_next(2, action="SendSms")  # the notice to the new number (retried later) and to the old one
    try:
        changed = await client.post(CHANGE, headers=citizen.headers, json=body)
    finally:
        sms.clear_behaviour()
    assert changed.status_code == 200
    assert (await Citizen.get(id=citizen.id)).phone_hash == platform.pii.lookup_hash(phone, "phone")
    assert not any("本号码不能再登录该账号" in m.text for m in sms.outbox(citizen.phone))


async def test_a_failure_during_the_change_changes_nothing(app, client, sms, clock, platform):
    citizen, other_device, phone, body = await on_two_devices_with_codes(client, sms, clock)

    async def failing(citizen_id: str) -> None:  # a step after the number and the sessions, failing
        raise RuntimeError("down")

    hooks = app.ctx.services.accounts.on_phone_changed
    hooks.append(failing)
    try:
        failed = await client.post(CHANGE, headers=citizen.headers, json=body)
    finally:
        hooks.remove(failing)
    assert failed.status_code == 500
    assert (await Citizen.get(id=citizen.id)).phone_hash == platform.pii.lookup_hash(citizen.phone, "phone")
    assert (await client.post("/api/v1/auth/refresh", json={"refresh_token": other_device.refresh_token})).status_code == 200
    assert not await AuditEntry.filter(action__in=("phone_changed", "session_revoked"), subject_id=citizen.id).exists()
    assert (await client.get("/api/v1/me", headers=citizen.headers)).json()["phone_masked"] == masked(citizen.phone)
