"""Real-name levels as the identity authority and the face provider decide them, through the stand-in
Tencent Cloud process: level 2 is a name + ID-number pair the authority confirmed, level 3 a face
session the phone completed at the provider, and a pair another account took can be taken back by
its owner with a passed face session."""

from __future__ import annotations

from datetime import timedelta

from app.accounts.models import Citizen, FaceSession, LoginSession
from app.audit import AuditEntry
from app.notifications.models import Notification
from app.vouchers.models import IdVoucher
from tests.factories import sign_in, valid_id_number
from tests.vouchers.voucher_factory import Phone, get_voucher

EN = {"Accept-Language": "en"}
IDENTITY = "/api/v1/me/identity"
SESSIONS = "/api/v1/me/identity/face/sessions"
FACE = "/api/v1/me/identity/face"


async def post_identity(client, citizen, name, id_number):
    return await client.post(IDENTITY, headers={**citizen.headers, **EN}, json={"name": name, "id_number": id_number})


async def level(client, citizen) -> int:
    return (await client.get("/api/v1/me", headers=citizen.headers)).json()["level"]


# -- level 2: the authority confirms the pair ------------------------------------------------

async def test_a_name_that_does_not_match_the_id_number_is_refused_and_nothing_is_stored(client, sms, tencent):
    number = valid_id_number(sequence="318")
    tencent.add_person("陈美玲", number)
    citizen = await sign_in(client, sms)
    reply = await post_identity(client, citizen, "陈美琳", number)
    assert reply.status_code == 422
    error = reply.json()["error"]
    assert error["code"] == "IDENTITY_MISMATCH"
    assert error["message"] == "The name and the ID number do not match. Check them and try again."
    assert error["fields"][0]["field"] == "name"
    stored = await Citizen.get(id=citizen.id)
    assert stored.level == 1 and stored.id_number_hash is None and stored.name_enc is None
    assert tencent.count("IdCardVerification") == 1
    (entry,) = await AuditEntry.filter(action="identity_mismatch", subject_id=citizen.id)
    assert entry.attributes == {"outcome": "mismatch"}
    # The right name passes.
    assert (await post_identity(client, citizen, "陈美玲", number)).json() == {"level": 2, "document_type": "resident_id", "confirmed": True}


async def test_an_id_number_the_authority_does_not_know_is_a_mismatch(client, sms, tencent):
    tencent.reset()  # no enrolling: the authority knows its registry only
    citizen = await sign_in(client, sms)
    reply = await post_identity(client, citizen, "王小明", valid_id_number(sequence="927"))
    assert reply.status_code == 422 and reply.json()["error"]["code"] == "IDENTITY_MISMATCH"
    assert await level(client, citizen) == 1


async def test_refused_pairs_count_against_a_daily_limit(client, sms, tencent, clock):
    clock.set(clock.now().replace(hour=0, minute=5))
    number = valid_id_number(sequence="415")
    tencent.add_person("黄志强", number)
    citizen = await sign_in(client, sms)
    for attempt in range(5):
        reply = await post_identity(client, citizen, f"黄志{'一二三四五'[attempt]}", number)
        assert reply.status_code == 422, reply.text
    sixth = await post_identity(client, citizen, "黄志强", number)
    assert sixth.status_code == 429
    assert sixth.json()["error"]["code"] == "IDENTITY_MISMATCH_LIMIT"
    assert int(sixth.headers["Retry-After"]) > 3600
    assert tencent.count("IdCardVerification") == 5  # the authority was not asked a sixth time
    clock.advance(24 * 3600)
    refreshed = await client.post("/api/v1/auth/refresh", json={"refresh_token": citizen.refresh_token})
    citizen.access_token = refreshed.json()["access_token"]
    assert (await post_identity(client, citizen, "黄志强", number)).json() == {"level": 2, "document_type": "resident_id", "confirmed": True}


async def test_an_authority_that_cannot_answer_is_a_503_with_retry_after_and_nothing_is_stored(client, sms, tencent, app):
    citizen = await sign_in(client, sms)
    number = valid_id_number(sequence="533")
    for mode in ("fail", "http500", "throttle"):
        tencent.behave("IdCardVerification", mode)
        reply = await post_identity(client, citizen, "林晓东", number)
        assert reply.status_code == 503, (mode, reply.text)
        assert reply.json()["error"]["code"] == "IDENTITY_CHECK_UNAVAILABLE"
        assert int(reply.headers["Retry-After"]) > 0
    app.ctx.services.accounts.settings = app.ctx.services.settings.with_(identity_timeout=0.2)
    tencent.behave("IdCardVerification", "slow", delay=2.0)
    slow = await post_identity(client, citizen, "林晓东", number)
    assert slow.status_code == 503 and slow.json()["error"]["code"] == "IDENTITY_CHECK_UNAVAILABLE"
    stored = await Citizen.get(id=citizen.id)
    assert stored.level == 1 and stored.id_number_hash is None
    assert await AuditEntry.filter(action="identity_verified").count() == 0
    assert (await post_identity(client, citizen, "林晓东", number)).json() == {"level": 2, "document_type": "resident_id", "confirmed": True}


async def test_a_taken_pair_is_told_only_to_whom_the_authority_confirmed(client, sms, tencent):
    number = valid_id_number(sequence="641")
    tencent.add_person("周建国", number)
    squatter, owner, guesser = [await sign_in(client, sms) for _ in range(3)]
    assert (await post_identity(client, squatter, "周建国", number)).json() == {"level": 2, "document_type": "resident_id", "confirmed": True}
    # Someone who only knows the number learns nothing about who holds it.
    guess = await post_identity(client, guesser, "周建华", number)
    assert guess.status_code == 422 and guess.json()["error"]["code"] == "IDENTITY_MISMATCH"
    taken = await post_identity(client, owner, "周建国", number)
    assert taken.status_code == 409
    error = taken.json()["error"]
    assert error["code"] == "ID_NUMBER_TAKEN"
    assert error["reclaim"] == {"path": SESSIONS, "purpose": "reclaim"}
    assert "take it back with a face check" in error["message"]


# -- level 3: a face session at the provider -------------------------------------------------

async def real_name_citizen(client, sms, tencent, name="李小龙", sequence="123"):
    citizen = await sign_in(client, sms)
    number = valid_id_number(sequence=sequence)
    tencent.add_person(name, number)
    assert (await post_identity(client, citizen, name, number)).status_code == 200
    return citizen


async def start(client, citizen, **body):
    return await client.post(SESSIONS, headers={**citizen.headers, **EN}, json=body or None)


async def finish(client, citizen, session_id):
    return await client.post(FACE, headers={**citizen.headers, **EN}, json={"session_id": session_id})


async def test_a_face_session_completed_at_the_provider_grants_level_3_once(client, sms, tencent):
    citizen = await real_name_citizen(client, sms, tencent)
    started = await start(client, citizen)
    assert started.status_code == 201, started.text
    body = started.json()
    assert set(body) == {"session_id", "provider", "biz_token", "url", "expires_in"}
    assert body["provider"] == "tencent-faceid" and body["expires_in"] == 600
    assert body["url"].startswith(tencent.url) and body["biz_token"] in body["url"]

    early = await finish(client, citizen, body["session_id"])
    assert early.status_code == 409 and early.json()["error"]["code"] == "FACE_CHECK_NOT_FINISHED"
    assert await level(client, citizen) == 2

    tencent.complete_face(body["biz_token"], outcome="pass")
    done = await finish(client, citizen, body["session_id"])
    assert done.status_code == 200 and done.json() == {"level": 3}
    assert await level(client, citizen) == 3
    (entry,) = await AuditEntry.filter(action="face_check_passed", subject_id=citizen.id)
    assert entry.attributes["session_id"] == body["session_id"] and entry.attributes["live"] is True

    replay = await finish(client, citizen, body["session_id"])
    assert replay.status_code == 409 and replay.json()["error"]["code"] == "FACE_SESSION_USED"
    assert await AuditEntry.filter(action="face_check_passed", subject_id=citizen.id).count() == 1


async def test_a_failed_or_not_live_check_keeps_level_2(client, sms, tencent):
    citizen = await real_name_citizen(client, sms, tencent)
    for outcome, live in (("fail", True), ("not_live", False)):
        body = (await start(client, citizen)).json()
        tencent.complete_face(body["biz_token"], outcome=outcome)
        reply = await finish(client, citizen, body["session_id"])
        assert reply.status_code == 422, outcome
        assert reply.json()["error"]["code"] == "FACE_CHECK_FAILED" and reply.json()["error"]["live"] is live
    assert await level(client, citizen) == 2
    assert await AuditEntry.filter(action="face_check_failed", subject_id=citizen.id).count() == 2


async def test_another_citizens_session_is_not_found_and_stays_usable(client, sms, tencent):
    owner = await real_name_citizen(client, sms, tencent, "赵丽华", "701")
    other = await real_name_citizen(client, sms, tencent, "孙国平", "702")
    body = (await start(client, owner)).json()
    tencent.complete_face(body["biz_token"], outcome="pass")
    stolen = await finish(client, other, body["session_id"])
    assert stolen.status_code == 404
    assert await level(client, other) == 2
    assert (await finish(client, owner, body["session_id"])).json() == {"level": 3}


async def test_an_expired_session_is_refused(client, sms, tencent, clock):
    citizen = await real_name_citizen(client, sms, tencent)
    body = (await start(client, citizen)).json()
    tencent.complete_face(body["biz_token"], outcome="pass")
    clock.advance(601)
    refreshed = await client.post("/api/v1/auth/refresh", json={"refresh_token": citizen.refresh_token})
    citizen.access_token = refreshed.json()["access_token"]
    reply = await finish(client, citizen, body["session_id"])
    assert reply.status_code == 410 and reply.json()["error"]["code"] == "FACE_SESSION_EXPIRED"
    assert await level(client, citizen) == 2


async def test_a_face_provider_that_cannot_answer_is_a_503_and_nothing_is_stored(client, sms, tencent, app):
    citizen = await real_name_citizen(client, sms, tencent)
    for mode in ("fail", "http500", "throttle"):
        tencent.behave("DetectAuth", mode)
        reply = await start(client, citizen)
        assert reply.status_code == 503, (mode, reply.text)
        assert reply.json()["error"]["code"] == "FACE_CHECK_UNAVAILABLE" and int(reply.headers["Retry-After"]) > 0
    assert await FaceSession.filter(citizen_id=citizen.id).count() == 0
    body = (await start(client, citizen)).json()
    tencent.complete_face(body["biz_token"], outcome="pass")
    app.ctx.services.accounts.settings = app.ctx.services.settings.with_(face_timeout=0.2)
    tencent.behave("GetDetectInfoEnhanced", "slow", delay=2.0)
    slow = await finish(client, citizen, body["session_id"])
    assert slow.status_code == 503 and slow.json()["error"]["code"] == "FACE_CHECK_UNAVAILABLE"
    assert (await FaceSession.get(id=body["session_id"])).used_at is None  # still usable once it answers
    assert await level(client, citizen) == 2
    tencent.clear_behaviour()
    assert (await finish(client, citizen, body["session_id"])).json() == {"level": 3}


async def test_a_liveness_sample_is_refused_once_the_face_provider_is_real(client, sms, tencent, app):
    citizen = await real_name_citizen(client, sms, tencent)
    app.ctx.services.accounts.settings = app.ctx.services.settings.with_(face_url="https://faceid.tencentcloudapi.com")
    reply = await client.post(FACE, headers={**citizen.headers, **EN}, json={"liveness_sample": "QUJD" * 2000})
    assert reply.status_code == 422
    assert reply.json()["error"]["code"] == "FACE_SAMPLE_NOT_ACCEPTED"
    assert reply.json()["error"]["fields"][0]["field"] == "liveness_sample"
    both = await client.post(FACE, headers={**citizen.headers, **EN}, json={"liveness_sample": "QUJD", "session_id": "x"})
    assert both.status_code == 422


# -- disputes: the owner takes a pair back ---------------------------------------------------

async def test_the_owner_takes_back_an_identity_another_account_took(client, sms, tencent, app):
    number = valid_id_number(sequence="808")
    tencent.add_person("郑秀英", number)
    squatter = await sign_in(client, sms, device="别人的手机")
    assert (await post_identity(client, squatter, "郑秀英", number)).json() == {"level": 2, "document_type": "resident_id", "confirmed": True}
    # Taken long ago, when face checks were not what they are now: level 3 and an ID voucher.
    await Citizen.filter(id=squatter.id).update(level=3)
    await app.ctx.services.accounts.forget_citizen(squatter.id)
    await get_voucher(client, squatter, Phone())

    owner = await sign_in(client, sms, device="本人手机")
    taken = await post_identity(client, owner, "郑秀英", number)
    assert taken.status_code == 409 and taken.json()["error"]["reclaim"]["purpose"] == "reclaim"

    # A reclaim needs a pair the authority confirms.
    wrong = await start(client, owner, purpose="reclaim", name="郑秀芳", id_number=number)
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "IDENTITY_MISMATCH"
    body = (await start(client, owner, purpose="reclaim", name="郑秀英", id_number=number)).json()
    tencent.complete_face(body["biz_token"], outcome="pass")
    done = await finish(client, owner, body["session_id"])
    assert done.status_code == 200 and done.json() == {"level": 3}

    me = (await client.get("/api/v1/me", headers=owner.headers)).json()
    assert me["level"] == 3 and me["id_number_masked"].endswith(number[-4:])
    released = await Citizen.get(id=squatter.id)
    assert released.level == 1 and released.id_number_hash is None and released.name_enc is None
    # Its sessions are revoked, its voucher too, and it is told by SMS.
    assert (await client.get("/api/v1/me", headers=squatter.headers)).status_code == 401
    assert await LoginSession.filter(citizen_id=squatter.id, revoked_at=None).count() == 0
    assert (await LoginSession.filter(citizen_id=squatter.id).first()).revoked_reason == "identity_reclaimed"
    assert (await IdVoucher.get(citizen_id=squatter.id)).status == "revoked"
    assert await Notification.filter(citizen_id=squatter.id, kind="identity_reclaimed").count() == 1
    assert any("实名身份" in m.text for m in sms.outbox(squatter.phone))
    actions = {e.action for e in await AuditEntry.all()}
    assert {"face_session_started", "face_check_passed", "identity_released", "identity_reclaimed",
            "session_revoked", "voucher_revoked"} <= actions
    (released_entry,) = await AuditEntry.filter(action="identity_released")
    assert released_entry.subject_id == squatter.id and released_entry.actor == owner.id


async def test_a_reclaim_with_a_failed_face_check_changes_nothing(client, sms, tencent):
    number = valid_id_number(sequence="909")
    tencent.add_person("吴桂兰", number)
    squatter = await sign_in(client, sms)
    assert (await post_identity(client, squatter, "吴桂兰", number)).status_code == 200
    owner = await sign_in(client, sms)
    body = (await start(client, owner, purpose="reclaim", name="吴桂兰", id_number=number)).json()
    tencent.complete_face(body["biz_token"], outcome="fail")
    assert (await finish(client, owner, body["session_id"])).status_code == 422
    assert (await Citizen.get(id=squatter.id)).level == 2
    assert await level(client, owner) == 1
    assert (await client.get("/api/v1/me", headers=squatter.headers)).status_code == 200


async def test_nothing_to_reclaim_when_nobody_holds_the_pair(client, sms, tencent):
    number = valid_id_number(sequence="919")
    tencent.add_person("冯德明", number)
    citizen = await sign_in(client, sms)
    reply = await start(client, citizen, purpose="reclaim", name="冯德明", id_number=number)
    assert reply.status_code == 409 and reply.json()["error"]["code"] == "NOTHING_TO_RECLAIM"
    unknown = await start(client, citizen, purpose="steal")
    assert unknown.status_code == 422 and unknown.json()["error"]["fields"][0]["field"] == "purpose"


async def test_a_face_session_row_keeps_the_pair_encrypted(client, sms, tencent):
    citizen = await real_name_citizen(client, sms, tencent, "何秀珍", "313")
    body = (await start(client, citizen)).json()
    row = await FaceSession.get(id=body["session_id"])
    assert "何秀珍" not in row.name_enc and valid_id_number(sequence="313") not in row.id_number_enc
    assert row.expires_at - row.created_at == timedelta(seconds=600)


async def test_a_verdict_of_another_persons_check_never_counts(client, sms, tencent, app, monkeypatch):
    """The phone cannot bring a passed check of someone else: the verdict must name the pair the session
    was started for (a provider mix-up or a swapped token fails closed)."""
    from app.integrations.face import FaceVerdict

    citizen = await real_name_citizen(client, sms, tencent, "罗志远", "321")
    body = (await start(client, citizen)).json()

    async def someone_elses(biz_token: str) -> FaceVerdict:
        return FaceVerdict(finished=True, live=True, similarity=99.0, id_number=valid_id_number(sequence="999"),
                           name="罗志远", code="0")

    monkeypatch.setattr(app.ctx.services.accounts.face, "verdict", someone_elses)
    reply = await finish(client, citizen, body["session_id"])
    assert reply.status_code == 422 and reply.json()["error"]["code"] == "FACE_CHECK_FAILED"
    assert await level(client, citizen) == 2
    (entry,) = await AuditEntry.filter(action="face_check_failed", subject_id=citizen.id)
    assert entry.attributes["session_id"] == body["session_id"]


async def test_failures_of_the_provider_use_up_no_face_attempts(client, sms, tencent):
    citizen = await real_name_citizen(client, sms, tencent)
    tencent.behave("DetectAuth", "fail", count=6)
    for _ in range(6):  # more than the five attempts of a day
        assert (await start(client, citizen)).status_code == 503
    assert (await start(client, citizen)).status_code == 201


async def test_a_person_the_face_provider_cannot_check_is_told_where_to_go(client, sms, tencent):
    citizen = await real_name_citizen(client, sms, tencent)
    tencent.reset()  # the provider's authority has no photo for this number any more
    reply = await start(client, citizen)
    assert reply.status_code == 422
    assert reply.json()["error"]["code"] == "FACE_CHECK_NOT_POSSIBLE"
    assert "service hall" in reply.json()["error"]["message"]
    assert await FaceSession.filter(citizen_id=citizen.id).count() == 0


async def test_a_session_the_provider_forgot_is_gone_not_retried(client, sms, tencent):
    citizen = await real_name_citizen(client, sms, tencent)
    body = (await start(client, citizen)).json()
    tencent.reset()  # the provider no longer knows the BizToken (expired at its end)
    reply = await finish(client, citizen, body["session_id"])
    assert reply.status_code == 410 and reply.json()["error"]["code"] == "FACE_SESSION_EXPIRED"
