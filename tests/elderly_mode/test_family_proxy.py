"""亲友代办: a son links to his mother with her consent, shows her health code and books for her; both see
it in their logs; a stranger, a revoked or an expired link get nothing; a guardian links a child."""

from __future__ import annotations

from datetime import timedelta

from app.audit import AuditEntry
from app.notifications import channels
from app.notifications.models import Notification
from elderly_mode.models import FamilyLink
from health_code.codec import verify_offline
from tests.elderly_mode.elderly_factory import (
    ACCESS_LOG, ELDER_ID, LINKS, SON_ID, STRANGER_ID, ask_link, consent_code, elder, family_member, linked,
)
from tests.factories import make_department, refresh_tokens, sign_in, valid_id_number
from tests.services.service_factory import make_item as make_service_item
from tests.services.appointments.test_appointments import beijing, make_item, publish
from tests.vouchers.licence_factory import assign, issue

FAMILY = "/api/v1/family"


def code_of(reply) -> str:
    return reply.json()["error"]["code"]


async def test_the_son_shows_his_mothers_health_code_and_books_for_her_and_both_see_it(client, sms, clock):
    clock.set(beijing(1, 10))
    mother = await elder(client, sms)
    son = await family_member(client, sms)

    asked = await ask_link(client, son, mother)
    assert asked["link"]["status"] == "pending" and asked["consent"]["channel"] == "sms"
    # Until she consents, he learns nothing of her: not her name, her phone or her id.
    assert (asked["link"]["other_name_masked"], asked["link"]["other_phone_masked"], asked["link"]["other_id"]) == (
        None, None, None)
    message = sms.outbox(mother.phone)[0].text
    assert "**国（手机尾号" in message and son.phone[-4:] in message and "如不认识此人" in message
    # A pending link gives nothing.
    early = await client.get(f"{FAMILY}/{mother.id}/health-code", headers=son.headers)
    assert early.status_code == 403 and code_of(early) == "FAMILY_LINK_REQUIRED"

    confirmed = await client.post(f"{LINKS}/{asked['link']['id']}/confirmation", headers=son.headers,
                                  json={"code": consent_code(sms, mother.phone)})
    assert confirmed.status_code == 200 and confirmed.json()["link"]["status"] == "active"
    assert confirmed.json()["link"]["other_name_masked"] == "**英"  # she consented: now he may see who she is

    shown = await client.get(f"{FAMILY}/{mother.id}/health-code", headers=son.headers)
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["color"] == "green" and body["tts_text"].startswith("您的健康码是绿码")
    claims = verify_offline(body["payload"], (await client.get("/.well-known/jwks.json")).json(), clock.now())
    assert claims.subject_masked == "*英"  # the mother's code, not the son's

    item = await make_item(clock)
    office = await make_department(clock, "越秀区政务服务中心（示例）", ["office"])
    slot = await publish(client, office, item.id, beijing(2, 9, 30))
    booked = await client.post(f"{FAMILY}/{mother.id}/appointments", headers=son.headers, json={"slot_id": slot["id"]})
    assert booked.status_code == 201, booked.text
    hers = (await client.get("/api/v1/appointments", headers=mother.headers)).json()["items"]
    assert [a["id"] for a in hers] == [booked.json()["id"]]

    log = (await client.get(ACCESS_LOG, headers=mother.headers)).json()["items"]
    by_son = [e for e in log if e["actor"] == "**国（子女）"]  # her son by masked name and relation
    assert [e["action"] for e in by_son] == ["family_appointment_booked", "family_health_code_shown"]
    assert all(e["actor_type"] == "proxy" and e["purpose"].startswith("亲友代办（子女）") for e in by_son)
    mine = (await client.get(f"{FAMILY}/actions", headers=son.headers)).json()["items"]
    assert [(a["principal_id"], a["action"]) for a in mine] == [
        (mother.id, "family_appointment_booked"), (mother.id, "family_health_code_shown")]
    inbox = (await client.get("/api/v1/notifications", headers=mother.headers)).json()["items"]
    assert any(m["kind"] == "family_link_confirmed" for m in inbox)

    links = (await client.get(LINKS, headers=mother.headers)).json()
    assert links["acting_for"] == [] and links["acted_for_by"][0]["role"] == "principal"
    assert links["acted_for_by"][0]["other_name_masked"] == "**国"


async def test_a_proxy_cannot_reach_a_citizen_who_is_not_linked(client, sms):
    mother = await elder(client, sms)
    son = await family_member(client, sms)
    await linked(client, sms, son, mother)
    neighbour = await elder(client, sms, name="黄大仙", id_number=STRANGER_ID)
    for path in ("health-code", "id-attestation", "appointments", "applications", "print-card"):
        reply = await client.get(f"{FAMILY}/{neighbour.id}/{path}", headers=son.headers)
        assert reply.status_code == 403 and code_of(reply) == "FAMILY_LINK_REQUIRED", path
    unknown = await client.get(f"{FAMILY}/c_doesnotexist/health-code", headers=son.headers)
    assert unknown.status_code == 403 and code_of(unknown) == "FAMILY_LINK_REQUIRED"  # existence is not told
    # The neighbour's own log shows no one read anything, and nothing was attempted in her name.
    assert (await client.get(ACCESS_LOG, headers=neighbour.headers)).json()["items"] == []
    # The link goes one way: the mother cannot act for her son.
    back = await client.get(f"{FAMILY}/{son.id}/health-code", headers=mother.headers)
    assert back.status_code == 403


async def test_after_the_mother_revokes_the_son_can_do_nothing(client, sms, clock):
    mother = await elder(client, sms)
    son = await family_member(client, sms)
    link_id = await linked(client, sms, son, mother)
    assert (await client.get(f"{FAMILY}/{mother.id}/health-code", headers=son.headers)).status_code == 200
    revoked = await client.delete(f"{LINKS}/{link_id}", headers=mother.headers)
    assert revoked.status_code == 200 and revoked.json()["link"]["status"] == "revoked"
    for path in ("health-code", "id-attestation", "appointments"):
        late = await client.get(f"{FAMILY}/{mother.id}/{path}", headers=son.headers)
        assert late.status_code == 403 and code_of(late) == "FAMILY_LINK_REQUIRED"
    slot_try = await client.post(f"{FAMILY}/{mother.id}/appointments", headers=son.headers, json={"slot_id": "x"})
    assert slot_try.status_code == 403
    log = (await client.get(ACCESS_LOG, headers=mother.headers)).json()["items"]
    assert [e["action"] for e in log] == ["family_health_code_shown"]  # only the one before revocation
    assert await AuditEntry.filter(action="family_link_revoked", actor=mother.id).count() == 1
    son_inbox = (await client.get("/api/v1/notifications", headers=son.headers)).json()["items"]
    assert any(m["kind"] == "family_link_ended" for m in son_inbox)
    # A revoked link cannot be confirmed again with a fresh code.
    again = await client.post(f"{LINKS}/{link_id}/confirmation", headers=son.headers, json={"code": "000000"})
    assert again.status_code == 409 and code_of(again) == "FAMILY_LINK_NOT_PENDING"


async def test_a_link_expires_and_is_renewed_with_fresh_consent(client, sms, clock, settings):
    mother = await elder(client, sms)
    son = await family_member(client, sms)
    link_id = await linked(client, sms, son, mother)
    link = await FamilyLink.get(id=link_id)
    assert link.expires_at == link.confirmed_at + timedelta(days=settings.elderly.family_link_days)
    # A year on would outlive every test token: the link is made to end tomorrow, and a day passes.
    await FamilyLink.filter(id=link_id).update(expires_at=clock.now() + timedelta(days=1))
    clock.advance(timedelta(days=1, seconds=1).total_seconds())
    await refresh_tokens(client, son)
    await refresh_tokens(client, mother)
    expired = await client.get(f"{FAMILY}/{mother.id}/health-code", headers=son.headers)
    assert expired.status_code == 403 and code_of(expired) == "FAMILY_LINK_REQUIRED"
    listed = (await client.get(LINKS, headers=son.headers)).json()["acting_for"][0]
    assert listed["status"] == "expired"
    renewal = await client.post(f"{LINKS}/{link_id}/renewal", headers=son.headers)
    assert renewal.status_code == 200 and renewal.json()["consent"]["channel"] == "sms"
    confirmed = await client.post(f"{LINKS}/{link_id}/confirmation", headers=son.headers,
                                  json={"code": consent_code(sms, mother.phone)})
    assert confirmed.status_code == 200 and confirmed.json()["link"]["status"] == "active"
    assert (await client.get(f"{FAMILY}/{mother.id}/health-code", headers=son.headers)).status_code == 200
    assert await AuditEntry.filter(action="family_link_renewed", subject_id=mother.id).count() == 1


async def test_wrong_replayed_and_late_codes_are_refused(client, sms, clock):
    mother = await elder(client, sms)
    son = await family_member(client, sms)
    asked = await ask_link(client, son, mother)
    link_id = asked["link"]["id"]
    code = consent_code(sms, mother.phone)
    wrong = "000000" if code != "000000" else "111111"
    bad = await client.post(f"{LINKS}/{link_id}/confirmation", headers=son.headers, json={"code": wrong})
    assert bad.status_code == 401 and code_of(bad) == "FAMILY_CONSENT_INVALID"
    assert bad.json()["error"]["tries_left"] == 4
    ok = await client.post(f"{LINKS}/{link_id}/confirmation", headers=son.headers, json={"code": code})
    assert ok.status_code == 200
    replay = await client.post(f"{LINKS}/{link_id}/confirmation", headers=son.headers, json={"code": code})
    assert replay.status_code == 410 and code_of(replay) == "FAMILY_CONSENT_EXPIRED"

    neighbour = await elder(client, sms, name="黄大仙", id_number=STRANGER_ID)
    late_link = (await ask_link(client, son, neighbour))["link"]["id"]
    late_code = consent_code(sms, neighbour.phone)
    clock.advance(601)
    late = await client.post(f"{LINKS}/{late_link}/confirmation", headers=son.headers, json={"code": late_code})
    assert late.status_code == 410 and code_of(late) == "FAMILY_CONSENT_EXPIRED"
    # Someone else cannot confirm the son's pending link, even with the right code.
    other_link = (await client.post(f"{LINKS}/{late_link}/renewal", headers=son.headers)).json()["link"]["id"]
    stranger = await family_member(client, sms, name="赵六", id_number=valid_id_number(birth="19921010", sequence="911"))
    hijack = await client.post(f"{LINKS}/{other_link}/confirmation", headers=stranger.headers,
                               json={"code": consent_code(sms, neighbour.phone)})
    assert hijack.status_code == 404 and code_of(hijack) == "FAMILY_LINK_NOT_FOUND"


async def test_five_wrong_codes_lock_the_consent(client, sms):
    mother = await elder(client, sms)
    son = await family_member(client, sms)
    link_id = (await ask_link(client, son, mother))["link"]["id"]
    code = consent_code(sms, mother.phone)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(4):
        await client.post(f"{LINKS}/{link_id}/confirmation", headers=son.headers, json={"code": wrong})
    locked = await client.post(f"{LINKS}/{link_id}/confirmation", headers=son.headers, json={"code": wrong})
    assert locked.status_code == 429 and code_of(locked) == "OTP_LOCKED"
    right_too_late = await client.post(f"{LINKS}/{link_id}/confirmation", headers=son.headers, json={"code": code})
    assert right_too_late.status_code == 429


async def test_links_that_cannot_be_made(client, sms):
    mother = await elder(client, sms)
    son = await family_member(client, sms)
    myself = await client.post(LINKS, headers=son.headers, json={"basis": "sms", "principal_phone": son.phone})
    assert myself.status_code == 422 and code_of(myself) == "FAMILY_SELF"
    await linked(client, sms, son, mother)
    twice = await client.post(LINKS, headers=son.headers, json={"basis": "sms", "principal_phone": mother.phone})
    assert twice.status_code == 409 and code_of(twice) == "FAMILY_LINK_EXISTS"
    bad_phone = await client.post(LINKS, headers=son.headers, json={"basis": "sms", "principal_phone": "12"})
    assert bad_phone.status_code == 422
    unverified = await elder(client, sms, elderly=False, name="测试", id_number=None)
    newcomer = await sign_in(client, sms)
    refused = await client.post(LINKS, headers=newcomer.headers, json={"basis": "sms", "principal_phone": unverified.phone})
    assert refused.status_code == 403 and code_of(refused) == "IDENTITY_LEVEL_REQUIRED"


NO_ACCOUNT = "13700000001"


def without_id(reply) -> tuple[int, dict]:
    """What a proxy reads in a reply, but the request id and the times (different for every request)."""
    body = reply.json()
    if "link" in body:
        link = body["link"]
        body = {**body, "link": {**link, "id": "…", "created_at": "…", "revoked_at": link["revoked_at"] and "…"}}
    return reply.status_code, body


async def test_asking_to_link_a_number_does_not_tell_whether_it_has_an_account(client, sms):
    mother = await elder(client, sms)
    unverified = await sign_in(client, sms)  # has an account, not yet verified (实名)
    son = await family_member(client, sms)
    replies = {}
    for who, phone in (("mother", mother.phone), ("unverified", unverified.phone), ("nobody", NO_ACCOUNT)):
        replies[who] = await client.post(LINKS, headers=son.headers,
                                         json={"basis": "sms", "relation": "child", "principal_phone": phone})
    assert replies["mother"].status_code == 201, replies["mother"].text
    assert without_id(replies["unverified"]) == without_id(replies["nobody"]) == without_id(replies["mother"])
    link = replies["mother"].json()["link"]
    assert (link["status"], link["other_name_masked"], link["other_phone_masked"], link["other_id"]) == (
        "pending", None, None, None)
    assert replies["mother"].json()["consent"] == {"channel": "sms", "expires_in": 600, "seconds_left": 600}
    for reply in replies.values():
        assert mother.id not in reply.text and mother.phone[-4:] not in reply.text and "英" not in reply.text
    # Only the mother's phone got a code; nobody was sent an SMS in the name of a number without a verified account.
    assert len([m for m in sms.outbox(mother.phone) if "亲友代办" in m.text]) == 1
    assert sms.outbox(NO_ACCOUNT) == [] and not any("亲友代办" in m.text for m in sms.outbox(unverified.phone))


async def as_the_proxy_sees_it(client, proxy, ask: dict, first) -> list:
    """What a proxy reads from a request once made (`first`): asking again, a wrong code, a renewal, their
    list, withdrawing, a code after that; without the ids and times that differ for every request."""
    request_id = first.json()["link"]["id"]
    steps = [without_id(first)]
    again = await client.post(LINKS, headers=proxy.headers, json=ask)  # asking again: the same request
    steps.append((again.json()["link"]["id"] == request_id, without_id(again)))
    wrong = await client.post(f"{LINKS}/{request_id}/confirmation", headers=proxy.headers, json={"code": "000000"})
    steps.append(without_id(wrong)[0:1] + (wrong.json()["error"]["code"], wrong.json()["error"].get("tries_left")))
    steps.append(without_id(await client.post(f"{LINKS}/{request_id}/renewal", headers=proxy.headers)))
    steps.append((await client.get(LINKS, headers=proxy.headers)).json())  # nothing listed before consent
    withdrawn = await client.delete(f"{LINKS}/{request_id}", headers=proxy.headers)
    steps.append(without_id(withdrawn))
    late = await client.post(f"{LINKS}/{request_id}/confirmation", headers=proxy.headers, json={"code": "000000"})
    steps.append((late.status_code, late.json()["error"]["code"]))
    return steps


def consent_sms(sms, phone: str) -> list:
    return [m for m in sms.outbox(phone) if "确认码" in m.text]


async def test_a_request_to_a_number_without_an_account_answers_like_one_never_consented_to(client, sms, clock):
    mother = await elder(client, sms)
    son = await family_member(client, sms)
    seen: dict[str, list] = {}
    for who, phone in (("mother", mother.phone), ("nobody", NO_ACCOUNT)):
        ask = {"basis": "sms", "relation": "child", "principal_phone": phone}
        seen[who] = await as_the_proxy_sees_it(client, son, ask, await client.post(LINKS, headers=son.headers, json=ask))
        clock.advance(3601)  # past the hourly limit of consent codes, so both runs start alike
        await refresh_tokens(client, son)
    assert seen["nobody"] == seen["mother"]
    assert seen["mother"][2] == (401, "FAMILY_CONSENT_INVALID", 4)
    assert seen["mother"][5][1]["link"]["status"] == "revoked" and seen["mother"][6] == (409, "FAMILY_LINK_NOT_PENDING")
    # The son's inbox says nothing of the request his mother never answered.
    inbox = (await client.get("/api/v1/notifications", headers=son.headers)).json()["items"]
    assert not any("英" in m.get("body", "") for m in inbox)


async def test_a_request_the_mother_turned_down_answers_her_son_like_one_never_answered(client, sms, clock):
    mother = await elder(client, sms)
    son = await family_member(client, sms)
    seen: dict[str, list] = {}
    for who, phone in (("mother", mother.phone), ("nobody", NO_ACCOUNT)):
        ask = {"basis": "sms", "relation": "child", "principal_phone": phone}
        first = await client.post(LINKS, headers=son.headers, json=ask)
        if who == "mother":  # she does not want him to act for her, and says no in her own list
            declined = await client.delete(f"{LINKS}/{first.json()['link']['id']}", headers=mother.headers)
            assert declined.status_code == 200 and declined.json()["link"]["status"] == "revoked"
        seen[who] = await as_the_proxy_sees_it(client, son, ask, first)
        clock.advance(3601)
        await refresh_tokens(client, son)
    assert seen["nobody"] == seen["mother"]
    assert seen["mother"][3][0] == 200 and seen["mother"][3][1]["link"]["status"] == "pending"  # the renewal
    assert seen["mother"][6] == (409, "FAMILY_LINK_NOT_PENDING")  # only once he withdrew it himself
    # She got the one code he asked for, and nothing after she said no; her own list keeps the truth.
    assert len(consent_sms(sms, mother.phone)) == 1
    await refresh_tokens(client, mother)
    assert [link["status"] for link in (await client.get(LINKS, headers=mother.headers)).json()["acted_for_by"]] == [
        "revoked"]
    assert await AuditEntry.filter(action="family_link_revoked", actor=mother.id).count() == 1
    son_inbox = (await client.get("/api/v1/notifications", headers=son.headers)).json()["items"]
    assert not any(m["kind"] == "family_link_ended" for m in son_inbox)
    # A day on the request is forgotten, as every unanswered one: asking again reaches her again.
    clock.advance(86400)
    await refresh_tokens(client, son)
    anew = await client.post(LINKS, headers=son.headers, json={"basis": "sms", "principal_phone": mother.phone})
    assert anew.status_code == 201 and len(consent_sms(sms, mother.phone)) == 2


async def test_a_failing_sms_provider_answers_the_same_and_the_code_reaches_her_once_it_recovers(
        client, sms, clock, platform):
    clock.set(beijing(1, 10))
    mother = await elder(client, sms)
    son = await family_member(client, sms)
    sms.fail_next(100)
    replies = {who: await client.post(LINKS, headers=son.headers, json={
        "basis": "sms", "relation": "child", "principal_phone": phone})
        for who, phone in (("mother", mother.phone), ("nobody", NO_ACCOUNT))}
    assert replies["mother"].status_code == 201, replies["mother"].text
    assert without_id(replies["mother"]) == without_id(replies["nobody"])
    assert consent_sms(sms, mother.phone) == []
    [kept] = await Notification.filter(citizen_id=mother.id, kind="family_consent_requested")
    assert kept.params["code"] != channels.SECRET_MASK  # kept for the retry, and only until the SMS is done
    # The provider recovers; the retry job sends her the code (and tells the time it lasts until), and she consents.
    sms.fail_next(0)
    clock.advance(31)
    await channels.retry_due(platform)
    [message] = consent_sms(sms, mother.phone)
    assert (await Notification.get(id=kept.id)).params["code"] == channels.SECRET_MASK
    assert "**国（手机尾号" in message.text and "10:10 前" in message.text
    await refresh_tokens(client, son)
    confirmed = await client.post(f"{LINKS}/{replies['mother'].json()['link']['id']}/confirmation", headers=son.headers,
                                  json={"code": consent_code(sms, mother.phone)})
    assert confirmed.status_code == 200 and confirmed.json()["link"]["status"] == "active"


async def test_the_consent_code_goes_by_sms_only_and_is_not_kept_once_sent(client, sms):
    mother = await elder(client, sms)
    son = await family_member(client, sms)
    asked = await client.post(LINKS, headers=son.headers, json={
        "basis": "sms", "relation": "child", "principal_phone": mother.phone})
    assert asked.status_code == 201
    code = consent_code(sms, mother.phone)
    [stored] = await Notification.filter(citizen_id=mother.id, kind="family_consent_requested")
    assert code not in str(stored.params) and stored.params["code"] == channels.SECRET_MASK
    inbox = (await client.get("/api/v1/notifications", headers=mother.headers)).json()["items"]
    [shown] = [m for m in inbox if m["kind"] == "family_consent_requested"]
    assert code not in shown["body"] and channels.SECRET_MASK in shown["body"]
    confirmed = await client.post(f"{LINKS}/{asked.json()['link']['id']}/confirmation", headers=son.headers,
                                  json={"code": code})
    assert confirmed.status_code == 200 and confirmed.json()["link"]["status"] == "active"


async def test_a_request_never_consented_to_is_forgotten_after_a_day_whoever_has_the_number(client, sms, clock):
    mother = await elder(client, sms)
    son = await family_member(client, sms)
    ids = {}
    for who, phone in (("mother", mother.phone), ("nobody", NO_ACCOUNT)):
        ids[who] = (await client.post(LINKS, headers=son.headers, json={
            "basis": "sms", "relation": "child", "principal_phone": phone})).json()["link"]["id"]
    clock.advance(86400 + 1)
    await refresh_tokens(client, son)
    for who, link_id in ids.items():
        gone = await client.post(f"{LINKS}/{link_id}/confirmation", headers=son.headers, json={"code": "000000"})
        assert (gone.status_code, code_of(gone)) == (404, "FAMILY_LINK_NOT_FOUND"), who
        anew = await client.post(LINKS, headers=son.headers, json={
            "basis": "sms", "relation": "child", "principal_phone": mother.phone if who == "mother" else NO_ACCOUNT})
        assert anew.status_code == 201 and anew.json()["link"]["id"] != link_id, who


async def test_the_mothers_access_log_names_her_son_by_masked_name_and_relation_never_by_id(client, sms):
    mother = await elder(client, sms)
    son = await family_member(client, sms)
    await linked(client, sms, son, mother)
    assert (await client.get(f"{FAMILY}/{mother.id}/health-code", headers=son.headers)).status_code == 200
    assert (await client.get(f"{FAMILY}/{mother.id}/id-attestation", headers=son.headers)).status_code == 200
    shown = await client.get(ACCESS_LOG, headers=mother.headers)
    exported = await client.get(f"{ACCESS_LOG}/export", headers=mother.headers)
    for reply in (shown, exported):
        assert [(e["actor"], e["actor_type"]) for e in reply.json()["items"]] == [("**国（子女）", "proxy")] * 2
        assert son.id not in reply.text
    stored = await AuditEntry.filter(category="access", subject_id=mother.id)
    assert [e.actor for e in stored] == ["**国（子女）"] * 2
    # Who it was is still kept (for the son's own list, and for an auditor), outside her access log.
    mine = (await client.get(f"{FAMILY}/actions", headers=son.headers)).json()["items"]
    assert [(a["principal_id"], a["action"]) for a in mine] == [
        (mother.id, "family_id_attested"), (mother.id, "family_health_code_shown")]


async def test_a_proxy_cannot_change_the_principals_identity_or_phone(client, sms):
    mother = await elder(client, sms)
    son = await family_member(client, sms)
    await linked(client, sms, son, mother)
    for method, path in (("POST", "identity"), ("PUT", "preferences"), ("PUT", "phone"), ("POST", "identity/face")):
        reply = await client.request(method, f"{FAMILY}/{mother.id}/{path}", headers=son.headers, json={})
        assert reply.status_code in (404, 405), (method, path, reply.status_code)
    me = (await client.get("/api/v1/me", headers=mother.headers)).json()
    assert me["name_masked"] == "**英" and me["phone_masked"].startswith(mother.phone[:3])


async def test_the_limited_attestation_shows_only_what_a_desk_needs(client, sms):
    mother = await elder(client, sms)
    son = await family_member(client, sms)
    await linked(client, sms, son, mother)
    shown = await client.get(f"{FAMILY}/{mother.id}/id-attestation", headers=son.headers)
    assert shown.status_code == 200
    body = shown.json()
    assert body["name_masked"] == "**英" and len(body["id_last4"]) == 4 and body["verified"] is True
    assert body["age_over_60"] is True and body["age_over_18"] is True
    assert "陈桂英" not in shown.text and "19480315" not in shown.text
    assert body["id_last4"] not in body["tts_text"]  # the digits are spoken


async def test_the_son_submits_an_application_for_his_mother(client, sms, clock):
    mother = await elder(client, sms)
    son = await family_member(client, sms)
    await linked(client, sms, son, mother)
    item = await make_service_item(clock, materials=[])
    reply = await client.post(f"{FAMILY}/{mother.id}/applications", headers={**son.headers, "Idempotency-Key": "k-123456789"},
                              json={"item_id": item.id, "form": {"联系电话": "13900000000"}})
    assert reply.status_code == 201, reply.text
    assert reply.json()["status"] == "under_review"
    hers = (await client.get("/api/v1/applications", headers=mother.headers)).json()["items"]
    assert [a["id"] for a in hers] == [reply.json()["id"]]
    log = (await client.get(ACCESS_LOG, headers=mother.headers)).json()["items"]
    assert log[0]["action"] == "family_application_submitted" and log[0]["actor"] == "**国（子女）"
    listed = await client.get(f"{FAMILY}/{mother.id}/applications", headers=son.headers)
    assert listed.status_code == 200 and listed.json()["items"][0]["status_text"] == "审核中"


async def test_a_service_hall_issues_an_in_person_code_and_revokes_at_once(client, sms, clock):
    mother = await elder(client, sms)
    son = await family_member(client, sms)
    hall = await make_department(clock, "越秀区政务服务中心（示例）", ["hall_clerk"])
    issued = await client.post("/api/admin/v1/family/consent-codes", headers=hall.headers(),
                               json={"principal_id_number": ELDER_ID, "proxy_phone": son.phone, "relation": "child"})
    assert issued.status_code == 201, issued.text
    body = issued.json()
    assert len(body["code"]) == 6 and body["expires_in"] == 600
    confirmed = await client.post(f"{LINKS}/{body['link_id']}/confirmation", headers=son.headers,
                                  json={"code": body["code"]})
    assert confirmed.status_code == 200 and confirmed.json()["link"]["basis"] == "hall"
    assert (await client.get(f"{FAMILY}/{mother.id}/health-code", headers=son.headers)).status_code == 200

    revoked = await client.delete(f"/api/admin/v1/family/links/{body['link_id']}", headers=hall.headers())
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    after = await client.get(f"{FAMILY}/{mother.id}/health-code", headers=son.headers)
    assert after.status_code == 403
    assert await AuditEntry.filter(action="family_link_revoked", actor=hall.id, actor_type="admin").count() == 1

    clerkless = await make_department(clock, "某部门（示例）", ["office"])
    refused = await client.post("/api/admin/v1/family/consent-codes", headers=clerkless.headers(),
                                json={"principal_id_number": ELDER_ID, "proxy_phone": son.phone})
    assert refused.status_code == 403 and code_of(refused) == "CLIENT_ROLE_REQUIRED"
    nobody = await client.post("/api/admin/v1/family/consent-codes", headers=hall.headers(),
                               json={"principal_id_number": STRANGER_ID, "proxy_phone": son.phone})
    assert nobody.status_code == 404 and code_of(nobody) == "FAMILY_PRINCIPAL_NOT_FOUND"
    no_proxy = await client.post("/api/admin/v1/family/consent-codes", headers=hall.headers(),
                                 json={"principal_id_number": ELDER_ID, "proxy_phone": "13700000002"})
    assert no_proxy.status_code == 404 and code_of(no_proxy) == "FAMILY_PROXY_NOT_FOUND"


CHILD_ID = valid_id_number(region="440106", birth="20150601", sequence="125")
OTHER_CHILD_ID = valid_id_number(region="440106", birth="20150601", sequence="135")


async def household_register(client, clock, holder_id_number: str, **fields) -> dict:
    admin = await make_department(clock, "省政务服务数据管理局（示例）", ["licence_admin"])
    police = await make_department(clock, "广州市公安局天河区分局（示例）", ["licence_issuer"])
    assert (await assign(client, admin, "household_register", police.id)).status_code == 200
    page = {"householder_name": "李建国", "household_type": "家庭户", "name": "李小雨", "relationship": "女",
            "sex": "女", "birth_date": "2015-06-01", "address": "广东省广州市天河区示例路 8 号",
            "issuing_authority": "广州市公安局天河区分局（示例）", **fields}
    return await issue(client, police, licence_type="household_register", holder_id_number=holder_id_number,
                       number="440106001", fields=page)


async def test_a_guardian_links_a_child_with_the_household_register(client, sms, clock):
    father = await family_member(client, sms)
    child = await family_member(client, sms, name="李小雨", id_number=CHILD_ID)
    register = await household_register(client, clock, holder_id_number=valid_id_number(region="440106", birth="19750821", sequence="113"))
    reply = await client.post(LINKS, headers=father.headers, json={
        "basis": "guardian", "relation": "guardian", "principal_id_number": CHILD_ID, "licence_id": register["id"]})
    assert reply.status_code == 201, reply.text
    assert reply.json()["link"]["status"] == "active" and reply.json()["consent"] is None
    assert (await client.get(f"{FAMILY}/{child.id}/health-code", headers=father.headers)).status_code == 200
    link = await FamilyLink.get(id=reply.json()["link"]["id"])
    assert link.basis == "guardian" and link.evidence_licence_id == register["id"]


async def test_guardianship_needs_a_matching_register_and_a_minor(client, sms, clock):
    father = await family_member(client, sms)
    child = await family_member(client, sms, name="李小雨", id_number=CHILD_ID)
    register = await household_register(client, clock, holder_id_number=valid_id_number(region="440106", birth="19750821", sequence="113"),
                                         name="李小雪")
    wrong_child = await client.post(LINKS, headers=father.headers, json={
        "basis": "guardian", "relation": "guardian", "principal_id_number": CHILD_ID, "licence_id": register["id"]})
    assert wrong_child.status_code == 422 and code_of(wrong_child) == "GUARDIAN_EVIDENCE_INVALID"
    someone_elses = await client.post(LINKS, headers=father.headers, json={
        "basis": "guardian", "relation": "guardian", "principal_id_number": CHILD_ID, "licence_id": "lic_unknown"})
    assert code_of(someone_elses) == "GUARDIAN_EVIDENCE_INVALID"
    await elder(client, sms)  # an adult, verified with ELDER_ID
    adult = await client.post(LINKS, headers=father.headers, json={
        "basis": "guardian", "relation": "guardian", "principal_id_number": ELDER_ID, "licence_id": register["id"]})
    assert adult.status_code == 422 and code_of(adult) == "GUARDIAN_NOT_MINOR"
    assert (await client.get(f"{FAMILY}/{child.id}/health-code", headers=father.headers)).status_code == 403


async def test_guardianship_answers_the_same_whether_or_not_the_id_number_has_an_account(client, sms, clock):
    father = await family_member(client, sms)
    register = await household_register(client, clock, holder_id_number=SON_ID)  # his daughter 李小雨, 2015-06-01
    # Another child born the same day, with an account, and a number of that day that has none.
    other = await family_member(client, sms, name="王小明", id_number=OTHER_CHILD_ID)
    nobody = valid_id_number(region="440106", birth="20150601", sequence="157")
    for licence_id in (register["id"], "lic_unknown"):
        answers = []
        for id_number in (OTHER_CHILD_ID, nobody):
            reply = await client.post(LINKS, headers=father.headers, json={
                "basis": "guardian", "relation": "guardian", "principal_id_number": id_number, "licence_id": licence_id})
            error = reply.json()["error"]
            answers.append((reply.status_code, error["code"], error["message"]))
        assert answers[0] == answers[1] and answers[0][:2] == (422, "GUARDIAN_EVIDENCE_INVALID"), licence_id
    # An adult's number is told by the number alone (as for ELDER_ID with an account, further up).
    adult = await client.post(LINKS, headers=father.headers, json={
        "basis": "guardian", "relation": "guardian", "principal_id_number": STRANGER_ID, "licence_id": register["id"]})
    assert (adult.status_code, code_of(adult)) == (422, "GUARDIAN_NOT_MINOR")
    # Nothing was made: the other child sees no request, and the father has none.
    assert (await client.get(LINKS, headers=other.headers)).json()["acted_for_by"] == []
    assert await FamilyLink.filter(proxy_id=father.id).count() == 0
