"""The 办件 story: 王秀英, 76, applies online for the elderly card. Her social-security card is in her
wallet, so she does not upload it (免提交); the 秒批 rules all pass, so the card is approved and the
application completed at once; she is told so in her inbox, and rates the service."""

from __future__ import annotations

from app.audit import AuditEntry
from app.services.applications.models import Application, ApplicationEvent
from app.services.ratings.models import Rating

from tests.services.service_factory import APPLICATIONS, apply, error_code, inbox_kinds, make_item, rate
from tests.uploads.upload_factory import scanned_png, uploaded


async def test_an_elderly_card_is_approved_in_seconds_with_the_wallet_card_attached_and_then_rated(
        client, grandma, grandma_card, elderly_item):
    reply = await apply(client, grandma, elderly_item.id)
    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert body["status"] == "completed" and body["status_text"] == "已办结"
    assert body["decision"]["auto_approved"] is True and body["decision"]["rules_version"] == 1
    assert [(r["fact"], r["passed"]) for r in body["decision"]["rules"]] == [
        ("identity_level", True), ("age", True), ("holds_licence", True), ("prior_applications", True)]
    # The card is attached by reference to the wallet licence, the photo as the upload she named.
    photo = body["materials"][1]
    assert body["materials"] == [
        {"name": "社会保障卡", "licence_id": grandma_card["id"], "licence_type": "social_security_card", "source": "wallet"},
        {"name": "近期免冠照片", "upload_ref": photo["upload_ref"], "source": "upload", "content_type": "image/jpeg",
         "size": photo["size"]},
    ]
    assert [(e["from_status"], e["to_status"]) for e in body["events"]] == [
        (None, "submitted"), ("submitted", "accepted"), ("accepted", "auto_approved"), ("auto_approved", "completed")]

    # One message says it all, in her language.
    assert await inbox_kinds(client, grandma) == ["application_auto_approved"]
    message = (await client.get("/api/v1/notifications", headers=grandma.headers)).json()["items"][0]
    assert "秒批通过并办结" in message["body"] and body["id"] in message["body"]

    # The form is kept encrypted; every move is recorded and audited.
    row = await Application.get(id=body["id"])
    assert "联系电话" not in row.form_enc and row.form_enc.startswith("v1:")
    assert await ApplicationEvent.filter(application_id=row.id).count() == 4
    actions = await AuditEntry.filter(subject_id=grandma.id, action__startswith="application_").values_list(
        "action", "actor_type")
    assert actions == [("application_submitted", "citizen"), ("application_accepted", "system"),
                       ("application_auto_approved", "system"), ("application_completed", "system")]

    rated = await rate(client, grandma, body["id"], 5, ["办事快捷", "无需跑腿"], "手机上一下就办好了")
    assert rated.status_code == 201, rated.text
    assert rated.json()["score"] == 5 and rated.json()["follow_up"] is False
    assert await Rating.filter(application_id=body["id"]).count() == 1

    summary = await client.get(f"/api/v1/services/{elderly_item.id}/ratings")  # public, no sign-in
    assert summary.status_code == 200
    assert summary.json() == {"item_id": elderly_item.id, "count": 1, "average": 5.0, "good_rate": 1.0,
                              "distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 1}}


async def test_she_may_name_the_wallet_licence_herself(client, grandma, grandma_card, elderly_item):
    reply = await apply(client, grandma, elderly_item.id, materials=[
        {"name": "社会保障卡", "licence_id": grandma_card["id"]},
        {"name": "近期免冠照片", "upload_ref": await uploaded(client, grandma)}])
    assert reply.status_code == 201, reply.text
    assert reply.json()["materials"][0] == {"name": "社会保障卡", "licence_id": grandma_card["id"],
                                            "licence_type": "social_security_card", "source": "chosen"}


async def test_a_failing_rule_sends_the_application_to_a_clerk_naming_the_rule(client, young, clock,
                                                                               social_security_issuer):
    from tests.services.service_factory import ELDERLY_RULES, YOUNG_ID, social_security_card

    await social_security_card(client, social_security_issuer, "陈志强", YOUNG_ID)
    item = await make_item(clock, rules=ELDERLY_RULES)
    reply = await apply(client, young, item.id)
    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert body["status"] == "under_review" and body["decision"]["auto_approved"] is False
    failed = [r for r in body["decision"]["rules"] if not r["passed"]]
    assert failed == [{"fact": "age", "op": ">=", "value": 60, "passed": False, "text": "年龄不低于60周岁"}]
    assert body["decision"]["reason"] == "rule_failed"
    assert await inbox_kinds(client, young) == ["application_submitted"]


async def test_an_item_without_rules_always_goes_to_review(client, grandma, grandma_card, clock):
    item = await make_item(clock, rules=None)
    reply = await apply(client, grandma, item.id)
    assert reply.status_code == 201, reply.text
    assert reply.json()["status"] == "under_review"
    assert reply.json()["decision"] == {"auto_approved": False, "rules_version": 0, "reason": "no_rules", "rules": []}


async def test_a_second_application_for_the_same_item_is_not_approved_instantly(client, grandma, grandma_card,
                                                                                elderly_item):
    first = await apply(client, grandma, elderly_item.id)
    assert first.json()["status"] == "completed"
    second = await apply(client, grandma, elderly_item.id)
    assert second.status_code == 201 and second.json()["status"] == "under_review"
    assert [r["fact"] for r in second.json()["decision"]["rules"] if not r["passed"]] == ["prior_applications"]


async def test_without_the_wallet_card_a_required_material_is_missing(client, grandma, elderly_item):
    reply = await apply(client, grandma, elderly_item.id)
    assert reply.status_code == 422 and error_code(reply) == "MATERIALS_MISSING"
    assert reply.json()["error"]["missing"] == ["社会保障卡"] and "社会保障卡" in reply.json()["error"]["message"]
    both = await apply(client, grandma, elderly_item.id, materials=[])
    assert both.json()["error"]["missing"] == ["社会保障卡", "近期免冠照片"]
    assert await Application.all().count() == 0


async def test_an_uploaded_card_satisfies_the_material_but_not_the_licence_rule(client, grandma, elderly_item):
    reply = await apply(client, grandma, elderly_item.id, materials=[
        {"name": "社会保障卡", "upload_ref": await uploaded(client, grandma, scanned_png())},
        {"name": "近期免冠照片", "upload_ref": await uploaded(client, grandma)}])
    assert reply.status_code == 201 and reply.json()["status"] == "under_review"
    assert [r["fact"] for r in reply.json()["decision"]["rules"] if not r["passed"]] == ["holds_licence"]


async def test_an_expired_card_is_neither_attached_nor_accepted(client, grandma, social_security_issuer, elderly_item,
                                                                clock):
    from tests.services.service_factory import GRANDMA_ID, social_security_card

    card = await social_security_card(client, social_security_issuer, "王秀英", GRANDMA_ID,
                                      valid_until=clock.now().replace(microsecond=0))
    clock.advance(60)
    auto = await apply(client, grandma, elderly_item.id)
    assert auto.status_code == 422 and error_code(auto) == "MATERIALS_MISSING"
    named = await apply(client, grandma, elderly_item.id, materials=[
        {"name": "社会保障卡", "licence_id": card["id"]}, {"name": "近期免冠照片", "upload_ref": "upl_1"}])
    assert named.status_code == 422 and error_code(named) == "LICENCE_NOT_VALID"


async def test_someone_elses_licence_cannot_be_attached(client, grandma, grandma_card, young, elderly_item):
    reply = await apply(client, young, elderly_item.id, materials=[
        {"name": "社会保障卡", "licence_id": grandma_card["id"]}, {"name": "近期免冠照片", "upload_ref": "upl_1"}])
    assert reply.status_code == 404 and error_code(reply) == "LICENCE_NOT_FOUND"


async def test_materials_the_item_does_not_ask_for_or_given_twice_are_refused(client, grandma, grandma_card,
                                                                              elderly_item):
    unknown = await apply(client, grandma, elderly_item.id, materials=[{"name": "结婚证", "upload_ref": "u1"}])
    assert unknown.status_code == 422 and error_code(unknown) == "MATERIAL_UNKNOWN"
    assert unknown.json()["error"]["material"] == "结婚证"
    phone = await apply(client, grandma, elderly_item.id, materials=[{"name": "联系电话13800138000", "upload_ref": "u1"}])
    assert error_code(phone) == "MATERIAL_UNKNOWN" and "13800138000" not in phone.text  # not repeated whole
    assert phone.json()["error"]["material"] == "联系电话***********"
    twice = await apply(client, grandma, elderly_item.id, materials=[
        {"name": "近期免冠照片", "upload_ref": "u1"}, {"name": "近期免冠照片", "upload_ref": "u2"}])
    assert twice.status_code == 422 and error_code(twice) == "MATERIAL_DUPLICATE"
    neither = await apply(client, grandma, elderly_item.id, materials=[{"name": "近期免冠照片"}])
    assert neither.status_code == 422 and error_code(neither) == "VALIDATION_FAILED"


async def test_a_licence_of_the_wrong_type_is_refused(client, grandma, grandma_card, clock):
    item = await make_item(clock, materials=[{"name": "驾驶证", "required": True, "licence_type": "driving_licence"}])
    reply = await apply(client, grandma, item.id, materials=[{"name": "驾驶证", "licence_id": grandma_card["id"]}])
    assert reply.status_code == 422 and error_code(reply) == "MATERIAL_LICENCE_MISMATCH"


async def test_unknown_unpublished_and_offline_only_items_cannot_be_applied_for(client, grandma, clock):
    assert error_code(await apply(client, grandma, "no-such-item")) == "APPLICATION_ITEM_NOT_FOUND"
    draft = await make_item(clock, status="draft", materials=[])
    assert (await apply(client, grandma, draft.id)).status_code == 404
    offline = await make_item(clock, channels=["offline"], materials=[])
    reply = await apply(client, grandma, offline.id)
    assert reply.status_code == 422 and error_code(reply) == "APPLICATION_ITEM_NOT_ONLINE"


async def test_applying_needs_real_name_verification(client, sms, clock):
    from tests.factories import sign_in

    item = await make_item(clock, materials=[])
    stranger = await sign_in(client, sms)
    reply = await apply(client, stranger, item.id)
    assert reply.status_code == 403 and error_code(reply) == "IDENTITY_LEVEL_REQUIRED"


async def test_another_citizens_application_is_not_found(client, grandma, grandma_card, young, elderly_item):
    mine = (await apply(client, grandma, elderly_item.id)).json()
    assert (await client.get(f"{APPLICATIONS}/{mine['id']}", headers=young.headers)).status_code == 404
    assert (await client.get(APPLICATIONS, headers=young.headers)).json() == {"items": []}
    listed = (await client.get(APPLICATIONS, headers=grandma.headers)).json()["items"]
    assert [a["id"] for a in listed] == [mine["id"]] and "form" not in listed[0]
    opened = await client.get(f"{APPLICATIONS}/{mine['id']}", headers=grandma.headers)
    assert opened.status_code == 200 and opened.json()["form"] == {"联系电话": "13900000000", "申请原因": "办理优待证"}
    assert (await rate(client, young, mine["id"], 1)).status_code == 404


async def test_messages_and_status_texts_follow_the_language(client, grandma, grandma_card, elderly_item):
    reply = await apply(client, grandma, elderly_item.id, **{"Accept-Language": "en"})
    assert reply.json()["status_text"] == "Completed"
    message = (await client.get("/api/v1/notifications", headers={**grandma.headers, "Accept-Language": "zh-TW"}))
    assert message.json()["items"][0]["title"] == "申請已秒批通過"


async def test_an_application_names_its_item_in_the_readers_language(client, grandma, clock):
    """A catalogue item's name reads in zh-Hant and English too, spoken text included; an item written
    after the catalogs were made stays as written."""
    photo_only = [{"name": "近期免冠照片", "required": True, "licence_type": None}]
    item = await make_item(clock, name="社会保障卡申领", materials=photo_only)
    reply = await apply(client, grandma, item.id, **{"Accept-Language": "en-GB"})
    assert reply.status_code == 201, reply.text
    assert reply.json()["item_name"] == "Apply for a social security card"
    assert "Apply for a social security card" in reply.json()["tts_text"]
    listed = await client.get(APPLICATIONS, headers={**grandma.headers, "Accept-Language": "zh-HK"})
    assert [a["item_name"] for a in listed.json()["items"]] == ["社會保障卡申領"]
    unknown = await make_item(clock, name="广州市老年人优待证申领（示例）", materials=photo_only)
    reply = await apply(client, grandma, unknown.id, **{"Accept-Language": "en"})
    assert reply.json()["item_name"] == "广州市老年人优待证申领（示例）"
