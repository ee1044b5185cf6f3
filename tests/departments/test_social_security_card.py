"""电子社保卡 against the stand-in 人社 on the data exchange: the holder reads their card and shows a dynamic signed
QR; a pharmacy checks it once, 人社 is asked live for the relying party (purpose relying_party_check), and the
holder sees the check in their access log. Both message logs agree; every refusal has its own answer."""

from __future__ import annotations

import asyncio
import io
import os
from datetime import timedelta
from typing import Any, Iterator

import pytest
import zxingcpp
from cryptography.hazmat.primitives.asymmetric import ec
from PIL import Image

from app.cache import CacheUnavailable
from app.departments.exchange_services import HRSS_SOCIAL_SECURITY_CARD
from app.departments.social_security_card import HOLDER_KEY, PREFIX, QRS_PER_MINUTE, TYPE_CLAIM, Card
from app.integrations.exchange.models import ExchangeMessage
from health_code import codec
from standins.departments import hrss
from standins.departments.server import beijing_today
from tests.factories import Department, make_department, sign_in, valid_id_number, verify_real_name

pytestmark = pytest.mark.departments

CARD = "/api/v1/social-security-card"
QR = "/api/v1/social-security-card/qr"
CHECKS = "/api/rp/v1/social-security-card/checks"
ACCESS_LOG = "/api/v1/me/access-log"
RP_AUD = "https://gov-app.example.cn/relying_party"
PHARMACY = "广州示例大药房（示例）"


def _numbers(status: str, electronic: bool = True, birth: str = "19900307") -> Iterator[str]:
    """ID numbers whose card at the stand-in 人社 has `status` and, in use, the electronic card issued or not
    (a child's is not)."""
    today = beijing_today()
    for sequence in range(100, 1000):
        number = valid_id_number(birth=birth, sequence=f"{sequence:03d}")
        card = hrss.social_security_card(number, today, {})
        if card["status"] == status and (status == "lost" or card["electronic_card"]["issued"] is electronic):
            yield number


ACTIVE, LOST = _numbers("active"), _numbers("lost")
CHILDREN = _numbers("active", electronic=False, birth="20180506")


async def holder(client, sms, numbers: Iterator[str] = ACTIVE, name: str = "陈小梅") -> tuple[Any, str]:
    citizen = await sign_in(client, sms)
    id_number = next(numbers)
    await verify_real_name(client, citizen, name=name, id_number=id_number)
    return citizen, id_number


async def shown_qr(client, citizen) -> str:
    reply = await client.post(QR, headers=citizen.headers)
    assert reply.status_code == 201, reply.text
    return reply.json()["payload"]


async def pharmacy(clock, scopes: tuple[str, ...] = ("social_security_card",)) -> Department:
    return await make_department(clock, PHARMACY, list(scopes), audience="relying_party")


async def check(client, rp: Department, qr: str, purpose: str = "购药结算", **headers: str):
    return await client.post(CHECKS, headers={**rp.headers(aud=RP_AUD), **headers}, json={"qr": qr, "purpose": purpose})


def masked(card_no: str) -> str:
    return card_no[0] + "*****" + card_no[-3:]


def error_of(reply) -> tuple[int, str]:
    return reply.status_code, reply.json()["error"]["code"]


async def test_the_holder_reads_the_card_as_the_department_holds_it_masked(client, sms, app, departments_live,
                                                                            departments):
    citizen, id_number = await holder(client, sms)
    theirs = hrss.social_security_card(id_number, beijing_today(), {})

    reply = await client.get(CARD, headers=citizen.headers)

    assert reply.status_code == 200, reply.text
    assert reply.json() == {
        "card_no_masked": masked(theirs["card_no"]), "generation": theirs["generation"], "status": "active",
        "status_name": "正常", "status_text": "正常", "bank": theirs["bank"], "issued_on": theirs["issued_on"],
        "valid_until": theirs["valid_until"], "electronic_card_issued": True, "issuer": theirs["issuer"],
        "sample": True}
    assert theirs["card_no"] not in reply.text
    [row] = await ExchangeMessage.all()
    assert (row.service, row.purpose, row.status) == (HRSS_SOCIAL_SECURITY_CARD, "citizen_request", 200)
    assert departments.messages(row.message_id)[0]["purpose"] == "citizen_request"
    assert (await client.get(ACCESS_LOG, headers=citizen.headers)).json()["items"] == []  # their own read


async def test_a_citizen_without_real_name_is_asked_to_verify_and_nothing_is_sent(client, sms, app, departments_live):
    citizen = await sign_in(client, sms)

    for reply in (await client.get(CARD, headers=citizen.headers), await client.post(QR, headers=citizen.headers)):
        assert error_of(reply) == (403, "IDENTITY_LEVEL_REQUIRED")
    assert await ExchangeMessage.all().count() == 0


async def test_the_qr_is_signed_short_lived_and_carries_neither_id_number_nor_name(client, sms, app, departments_live,
                                                                                    clock):
    citizen, id_number = await holder(client, sms)

    reply = await client.post(QR, headers=citizen.headers)

    assert reply.status_code == 201, reply.text
    body = reply.json()
    ttl = app.ctx.services.platform.settings.health_code.ttl
    assert body["payload"].startswith("GDSSC1:") and body["seconds_left"] == ttl
    jwks = (await client.get("/.well-known/jwks.json")).json()
    claims = codec.verify_cwt(body["payload"], codec.keys_from_jwks(jwks), PREFIX)  # anyone can check the signature
    assert sorted(claims) == [TYPE_CLAIM, codec.CWT_ISS, codec.CWT_EXP, codec.CWT_IAT, 7]
    assert claims[TYPE_CLAIM] == "GDSSC1"  # signed: what the token is, whatever prefix it is shown with
    assert claims[codec.CWT_EXP] - claims[codec.CWT_IAT] == ttl and len(claims[7]) == 16
    _, _, _, raw, _ = codec.unpack(body["payload"], PREFIX)
    assert id_number.encode() not in raw and "陈小梅".encode() not in raw and "梅".encode() not in raw
    assert await shown_qr(client, citizen) != body["payload"]  # each one new: each is checked once


async def test_qrs_asked_for_too_often_are_refused_for_the_minute(client, sms, app, departments_live, clock):
    citizen, _ = await holder(client, sms)
    clock.set(clock.now().replace(second=1, microsecond=0) + timedelta(minutes=1))  # all within one minute
    for _ in range(QRS_PER_MINUTE):
        await shown_qr(client, citizen)

    reply = await client.post(QR, headers=citizen.headers)

    assert error_of(reply) == (429, "RATE_LIMITED") and int(reply.headers["Retry-After"]) > 0
    assert await ExchangeMessage.all().count() == QRS_PER_MINUTE  # the refused one asked 人社 nothing
    clock.advance(60)
    assert (await client.post(QR, headers=citizen.headers)).status_code == 201


async def test_the_qr_comes_as_an_image_that_scans_to_a_checkable_code(client, sms, app, departments_live, clock):
    citizen, _ = await holder(client, sms)
    rp = await pharmacy(clock)

    reply = await client.post(QR, headers={**citizen.headers, "Accept-Language": "en"}, params={"format": "png"})

    assert reply.status_code == 201 and reply.headers["content-type"] == "image/png"
    assert reply.headers["cache-control"] == "private, no-store" and reply.headers["x-qr-expires-at"].endswith("Z")
    [scanned] = zxingcpp.read_barcodes(Image.open(io.BytesIO(reply.content)))
    assert scanned.text.startswith("GDSSC1:")
    assert (await check(client, rp, scanned.text)).json()["valid"] is True
    wrong = await client.post(QR, headers=citizen.headers, params={"format": "gif"})
    assert error_of(wrong) == (422, "VALIDATION_FAILED")


async def test_a_pharmacy_checks_a_qr_and_the_holder_sees_who_and_why(client, sms, app, departments_live, departments,
                                                                     clock):
    citizen, id_number = await holder(client, sms)
    theirs = hrss.social_security_card(id_number, beijing_today(), {})
    rp = await pharmacy(clock)
    qr = await shown_qr(client, citizen)

    reply = await check(client, rp, qr)

    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body == {"valid": True, "reason": None, "message": None, "status": "active", "status_name": "正常",
                    "holder_name_masked": "**梅", "card_no_masked": masked(theirs["card_no"]),
                    "checked_at": body["checked_at"], "sample": True}
    assert id_number not in reply.text and theirs["card_no"] not in reply.text
    log = (await client.get(ACCESS_LOG, headers=citizen.headers)).json()["items"]
    assert [{k: e[k] for k in ("actor", "actor_type", "action", "attributes", "purpose")} for e in log] == [
        {"actor": PHARMACY, "actor_type": "relying_party", "action": "social_security_card_checked",
         "attributes": ["valid", "card_status", "holder_name_masked", "card_no_masked"], "purpose": "购药结算"},
        {"actor": PHARMACY, "actor_type": "relying_party", "action": "department_data_read",
         "attributes": [HRSS_SOCIAL_SECURITY_CARD], "purpose": log[1]["purpose"]},
    ]
    assert "relying_party_check" in log[1]["purpose"] and rp.id not in reply.text  # named, never by its client id
    [row] = await ExchangeMessage.filter(purpose="relying_party_check")
    [theirs_row] = departments.messages(row.message_id)
    assert (row.service, row.status, row.fault) == (HRSS_SOCIAL_SECURITY_CARD, 200, None)
    assert (theirs_row["service"], theirs_row["purpose"], theirs_row["user"]) == \
        (row.service, "relying_party_check", row.user)
    assert (theirs_row["request_hash"], theirs_row["response_sha256"], theirs_row["status"]) == \
        (row.request_hash, row.response_hash, 200)


async def test_a_qr_is_checked_once(client, sms, app, departments_live, clock):
    citizen, _ = await holder(client, sms)
    rp, other = await pharmacy(clock), await pharmacy(clock)
    qr = await shown_qr(client, citizen)
    assert (await check(client, rp, qr)).status_code == 200

    again = await check(client, rp, qr)
    elsewhere = await check(client, other, qr)

    assert error_of(again) == error_of(elsewhere) == (409, "TOKEN_ALREADY_USED")
    assert await ExchangeMessage.filter(purpose="relying_party_check").count() == 1
    log = (await client.get(ACCESS_LOG, headers=citizen.headers)).json()["items"]
    assert [e["action"] for e in log] == ["social_security_card_checked", "department_data_read"]


async def test_two_checks_at_once_one_is_answered(client, sms, app, departments_live, clock):
    citizen, _ = await holder(client, sms)
    rp, other = await pharmacy(clock), await pharmacy(clock)
    qr = await shown_qr(client, citizen)

    replies = await asyncio.gather(check(client, rp, qr), check(client, other, qr))

    assert sorted(r.status_code for r in replies) == [200, 409]
    assert await ExchangeMessage.filter(purpose="relying_party_check").count() == 1


async def test_without_the_cache_nothing_is_checked(client, sms, app, departments_live, clock, monkeypatch):
    citizen, _ = await holder(client, sms)
    rp = await pharmacy(clock)
    qr = await shown_qr(client, citizen)
    cache = app.ctx.services.platform.cache
    claim_once = cache.claim_once

    async def unreachable_for_checks(key: str, value: str, ttl: float) -> bool:
        if key.startswith("ssc:"):
            raise CacheUnavailable("connection refused")
        return await claim_once(key, value, ttl)

    monkeypatch.setattr(cache, "claim_once", unreachable_for_checks)

    reply = await check(client, rp, qr)

    assert error_of(reply) == (503, "SERVICE_UNAVAILABLE") and int(reply.headers["Retry-After"]) > 0
    assert await ExchangeMessage.filter(purpose="relying_party_check").count() == 0
    assert (await client.get(ACCESS_LOG, headers=citizen.headers)).json()["items"] == []


async def test_a_qr_whose_holder_the_cache_forgot_is_refused_as_expired(client, sms, app, departments_live, clock):
    citizen, _ = await holder(client, sms)
    rp = await pharmacy(clock)
    qr = await shown_qr(client, citizen)
    _, claims, _, _, _ = codec.unpack(qr, PREFIX)
    await app.ctx.services.platform.cache.delete(HOLDER_KEY + claims[7].hex())  # e.g. an in-memory cache restarted

    reply = await check(client, rp, qr)

    assert error_of(reply) == (410, "TOKEN_EXPIRED")
    assert await ExchangeMessage.filter(purpose="relying_party_check").count() == 0


async def test_an_expired_qr_is_refused_and_the_department_is_not_asked(client, sms, app, departments_live, clock):
    citizen, _ = await holder(client, sms)
    rp = await pharmacy(clock)
    qr = await shown_qr(client, citizen)
    clock.advance(app.ctx.services.platform.settings.health_code.ttl)

    reply = await check(client, rp, qr)

    assert error_of(reply) == (410, "TOKEN_EXPIRED")
    assert reply.json()["error"]["message"] == "该二维码已过期，请让对方刷新后重新出示。"
    assert await ExchangeMessage.filter(purpose="relying_party_check").count() == 0
    assert (await client.get(ACCESS_LOG, headers=citizen.headers)).json()["items"] == []


async def test_a_tampered_or_forged_qr_is_refused(client, sms, app, departments_live, clock, platform):
    citizen, _ = await holder(client, sms)
    rp = await pharmacy(clock)
    qr = await shown_qr(client, citizen)
    _, claims, _, _, _ = codec.unpack(qr, PREFIX)
    longer = {**claims, codec.CWT_EXP: claims[codec.CWT_EXP] + 3600}
    forged = codec.sign_cwt(longer, ec.generate_private_key(ec.SECP256R1()), platform.keys.current.kid_bytes, PREFIX)
    altered = qr[:-3] + ("AAA" if not qr.endswith("AAA") else "BBB")
    health_code = (await client.get("/api/v1/health-code", headers=citizen.headers)).json()["payload"]

    key = platform.keys.current
    now = int(clock.timestamp())
    # A voucher's token (GDID1) is signed with the same key and has the same claims but the type: re-prefixed
    # it must not pass as a card's QR, nor a health code.
    voucher_like = {codec.CWT_ISS: claims[codec.CWT_ISS], codec.CWT_IAT: now, codec.CWT_EXP: now + 60,
                    7: os.urandom(16)}
    voucher = codec.sign_cwt(voucher_like, key.private_key, key.kid_bytes, "GDID1:")
    mistyped = codec.sign_cwt({**voucher_like, TYPE_CLAIM: "GDID1"}, key.private_key, key.kid_bytes, PREFIX)

    for token in (forged, altered, health_code, PREFIX + voucher.removeprefix("GDID1:"), mistyped,
                  PREFIX + health_code.split(":", 1)[1], "GDSSC1:not base45 at all"):
        reply = await check(client, rp, token)
        assert error_of(reply) == (422, "TOKEN_INVALID_SIGNATURE"), token
    assert await ExchangeMessage.filter(purpose="relying_party_check").count() == 0
    assert (await check(client, rp, qr)).status_code == 200  # the real one is still unused


async def test_a_caller_that_is_no_relying_party_of_ours_or_lacks_the_scope_is_refused(client, sms, app,
                                                                                        departments_live, clock):
    citizen, _ = await holder(client, sms)
    qr = await shown_qr(client, citizen)
    hotel = await pharmacy(clock, scopes=("age_over_18",))

    anonymous = await client.post(CHECKS, json={"qr": qr, "purpose": "购药结算"})
    citizen_token = await client.post(CHECKS, headers=citizen.headers, json={"qr": qr, "purpose": "购药结算"})
    unscoped = await check(client, hotel, qr)

    assert error_of(anonymous)[0] == error_of(citizen_token)[0] == 401
    assert error_of(unscoped) == (403, "SCOPE_NOT_ALLOWED")
    assert await ExchangeMessage.filter(purpose="relying_party_check").count() == 0
    assert (await check(client, await pharmacy(clock), qr)).status_code == 200


async def test_a_lost_card_gets_no_qr_worded_in_each_language(client, sms, app, departments_live):
    citizen, id_number = await holder(client, sms, numbers=LOST)
    assert hrss.social_security_card(id_number, beijing_today(), {})["status"] == "lost"

    card = await client.get(CARD, headers={**citizen.headers, "Accept-Language": "en"})
    replies = {language: await client.post(QR, headers={**citizen.headers, "Accept-Language": language})
               for language in ("zh-Hans", "zh-Hant", "en")}

    assert (card.json()["status"], card.json()["status_name"], card.json()["status_text"]) == \
        ("lost", "挂失", "Reported lost")
    assert card.json()["electronic_card_issued"] is False
    assert {error_of(r) for r in replies.values()} == {(409, "SOCIAL_SECURITY_CARD_LOST")}
    messages = {language: r.json()["error"]["message"] for language, r in replies.items()}
    assert messages["zh-Hans"].startswith("该社会保障卡已挂失")
    assert messages["zh-Hant"].startswith("該社會保障卡已掛失")
    assert messages["en"].startswith("This social security card is reported lost")


async def test_without_an_electronic_card_there_is_no_qr(client, sms, app, departments_live):
    citizen, _ = await holder(client, sms, numbers=CHILDREN)

    card = await client.get(CARD, headers=citizen.headers)
    reply = await client.post(QR, headers={**citizen.headers, "Accept-Language": "en"})

    assert (card.json()["status"], card.json()["electronic_card_issued"]) == ("active", False)
    assert error_of(reply) == (409, "ELECTRONIC_SOCIAL_SECURITY_CARD_NOT_ISSUED")
    assert reply.json()["error"]["message"].startswith("No electronic social security card has been issued yet")


async def test_a_card_reported_lost_after_the_qr_was_shown_checks_as_not_valid(client, sms, app, departments_live,
                                                                                clock, monkeypatch):
    citizen, id_number = await holder(client, sms, numbers=LOST)
    rp = await pharmacy(clock)
    cards = app.ctx.services.departments.social_security_card
    theirs = hrss.social_security_card(id_number, beijing_today(), {})
    in_use = Card(masked(theirs["card_no"]), 3, "active", "正常", "示例银行", "2020-01-01", "2030-01-01", True,
                  hrss.ISSUER, True)

    async def before_the_loss(citizen_id: str) -> Card:
        return in_use

    with monkeypatch.context() as then:  # the QR was shown while the card was still in use
        then.setattr(cards, "card", before_the_loss)
        qr = await shown_qr(client, citizen)

    reply = await check(client, rp, qr, **{"Accept-Language": "zh-Hant"})

    assert reply.status_code == 200, reply.text
    assert reply.json() | {"checked_at": None} == {
        "valid": False, "reason": "SOCIAL_SECURITY_CARD_LOST", "status": "lost", "status_name": "挂失",
        "message": "該社會保障卡已掛失，電子社保卡暫不能使用；補領新卡後即可恢復，詳詢人社部門或發卡銀行。",
        "holder_name_masked": None, "card_no_masked": None, "checked_at": None, "sample": True}
    [mine, _] = (await client.get(ACCESS_LOG, headers=citizen.headers)).json()["items"]
    assert (mine["action"], mine["attributes"]) == ("social_security_card_checked", ["valid", "card_status"])


async def test_the_department_down_answers_503_with_retry_after_and_the_qr_stays_checkable(
        client, sms, app, departments_live, departments, clock):
    citizen, _ = await holder(client, sms)
    rp = await pharmacy(clock)
    qr = await shown_qr(client, citizen)
    departments.behave("fail", department="hrss", count=0)

    reply = await check(client, rp, qr)
    card = await client.get(CARD, headers=citizen.headers)

    assert error_of(reply) == (503, "DEPARTMENT_UNAVAILABLE")
    wait = int(reply.headers["Retry-After"])
    assert wait > 0 and reply.json()["error"]["retry_after"] == wait
    assert error_of(card) == (503, "DEPARTMENT_UNAVAILABLE") and int(card.headers["Retry-After"]) > 0
    assert (await client.get(ACCESS_LOG, headers=citizen.headers)).json()["items"] == []  # nothing was learned

    departments.calm()
    clock.advance(wait)  # past the breaker, well inside the QR's lifetime

    again = await check(client, rp, qr)

    assert again.status_code == 200 and again.json()["valid"] is True
    assert error_of(await check(client, rp, qr)) == (409, "TOKEN_ALREADY_USED")


async def test_a_card_reply_of_another_shape_is_the_department_unavailable(client, sms, app, departments_live,
                                                                           monkeypatch):
    citizen, _ = await holder(client, sms)

    async def odd(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return {"card_no": "A12345678", "status": "active"}  # verified, but no electronic card, bank, dates...

    monkeypatch.setattr(app.ctx.services.departments.social_security_card.asker, "ask", odd)
    card, qr = await client.get(CARD, headers=citizen.headers), await client.post(QR, headers=citizen.headers)

    for reply in (card, qr):
        assert error_of(reply) == (503, "DEPARTMENT_UNAVAILABLE") and int(reply.headers["Retry-After"]) > 0
