"""What a relying party learns of a citizen's age when the account holds a document other than the resident ID.
The birth date the document carries decides: a 港澳台居民居住证, confirmed by the identity authority, answers at a
hotel desk through the ID voucher; an older 永居证 or a passport read with its zone, declared below 实名, answers a
site the citizen signs in to (its id_token), beside identity_level 1 that says it was declared. A document that
carries no birth date (a 港澳 or 台湾 permit, a passport typed without its zone) gives no age at all: the claim is
left out, never answered false. An age turns at midnight Beijing time on the birthday, whatever the date in UTC.
People, numbers and places here are samples (示例)."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

import jwt
import pytest

from app.accounts import documents as d
from app.config import Settings
from app.security.keys import b64url_decode
from tests.accounts.document_factory import gb11643_number, post, td3
from tests.factories import live_sample, sign_in
from tests.oidc.conftest import ISSUER
from tests.oidc.oidc_factory import approved_code, authorization_query, data_bureau, exchange, pkce, register_site
from tests.vouchers.voucher_factory import Holder, Phone, get_voucher, redeem, relying_party, shown_token

AGES = ["age_over_18", "age_over_60"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_(oidc_issuer=ISSUER)  # the issuer the sign-in factories expect


def permanent_2004(nationality: str, province: str, born_yymmdd: str, sequence: str) -> str:
    body = nationality + province + born_yymmdd + sequence
    return body + d.icao_check_digit(body)


async def voucher_holder_with_permit(client, sms, name: str, number: str) -> Holder:
    """A 居住证 holder who binds it (实名), passes the face check and keeps the ID voucher on their phone."""
    citizen = await sign_in(client, sms)
    bound = await post(client, citizen, name, number, document_type="residence_permit")
    assert bound.json() == {"level": 2, "document_type": "residence_permit", "confirmed": True}, bound.text
    face = await client.post("/api/v1/me/identity/face", headers=citizen.headers, json={"liveness_sample": live_sample()})
    assert face.status_code == 200 and face.json()["level"] == 3, face.text
    return Holder(citizen, phone := Phone(), await get_voucher(client, citizen, phone), number)


async def ages_at_the_desk(client, clock, holder: Holder) -> dict:
    """The holder shows the voucher at a hotel desk that may ask both ages; what the desk learns."""
    shown = await shown_token(client, holder, clock, attributes=AGES)
    hotel = await relying_party(clock, "白云宾馆前台（示例）", AGES)
    redeemed = await redeem(client, hotel, shown["token"], AGES)
    assert redeemed.status_code == 200, redeemed.text
    return redeemed.json()["attributes"]


async def id_token_at_a_site(client, clock, citizen) -> dict:
    """The citizen signs in at a site that asks for both ages and the identity level; the id_token's claims."""
    site = await register_site(client, await data_bureau(clock), name="广州图书馆读者服务（示例）",
                               scopes=["openid", "identity", *AGES])
    verifier, challenge = pkce()
    code = await approved_code(client, citizen, site,
                               authorization_query(site, challenge, scope="openid identity " + " ".join(AGES)))
    tokens = await exchange(client, site, code, verifier)
    assert tokens.status_code == 200, tokens.text
    return jwt.decode(tokens.json()["id_token"], options={"verify_signature": False})


# -- 居住证 (confirmed): the ID voucher answers from the birth date in the number ----------------------------------

@pytest.mark.parametrize(("region", "name", "born", "ages"), [
    ("810000", "陈家明", "19880512", {"age_over_18": True, "age_over_60": False}),  # 香港居民, 38
    ("820000", "何美玲", "19580309", {"age_over_18": True, "age_over_60": True}),  # 澳门居民, 68
    ("830000", "林佳怡", "20110820", {"age_over_18": False, "age_over_60": False}),  # 台湾居民, 15
])
async def test_a_residence_permit_holder_shows_their_age_at_the_desk(client, sms, clock, region, name, born, ages):
    holder = await voucher_holder_with_permit(client, sms, name, gb11643_number(region, born, "024"))
    assert await ages_at_the_desk(client, clock, holder) == ages


async def test_the_age_turns_at_midnight_in_china_on_the_birthday(client, sms, clock):
    """林佳怡 turns 18 on 1 March 2027. At 23:55 the night before she is 17; ten minutes later it is 1 March in
    Guangzhou (still 28 February in UTC) and the desk, a site and an offline credential all learn she is 18."""
    clock.set(datetime(2027, 2, 28, 15, 55, tzinfo=timezone.utc))
    holder = await voucher_holder_with_permit(client, sms, "林佳怡", gb11643_number("830000", "20090301", "046"))
    assert (await ages_at_the_desk(client, clock, holder))["age_over_18"] is False
    clock.advance(minutes=10)
    assert (await ages_at_the_desk(client, clock, holder))["age_over_18"] is True
    assert (await id_token_at_a_site(client, clock, holder.citizen))["age_over_18"] is True
    offline = await client.post("/api/v1/vouchers/current/offline", headers=holder.headers, json={
        "device_proof": holder.phone.proof(holder.voucher_id, clock), "disclose": ["age_over_18"]})
    _, disclosure, _ = offline.json()["credential"].split("~")  # the one claim, for a desk without a network
    assert json.loads(b64url_decode(disclosure))[1:] == ["age_over_18", True]


# -- declared documents: a site learns the age the document carries, and that it was declared -------------------

@pytest.mark.parametrize(("who", "number", "more", "ages"), [
    ("ANNA MUELLER", permanent_2004("CAN", "44", "760215", "007"), {"document_type": "permanent_residence"},
     {"age_over_18": True, "age_over_60": False}),  # older 永居证, born 1976
    ("OLIVER BROWN", permanent_2004("GBR", "31", "120409", "005"), {"document_type": "permanent_residence"},
     {"age_over_18": False, "age_over_60": False}),  # older 永居证, born 2012
    ("JANE DOE", "E12345678", {"document_type": "passport", "nationality": "GBR",
                               "mrz": td3("E12345678", "GBR", date(1979, 11, 3))},
     {"age_over_18": True, "age_over_60": False}),
    ("HANS WEBER", "C01X00T47", {"document_type": "passport", "nationality": "DEU",
                                 "mrz": td3("C01X00T47", "DEU", date(1950, 6, 18))},
     {"age_over_18": True, "age_over_60": True}),
    ("EMMA SATO", "TR0456789", {"document_type": "passport", "nationality": "JPN",
                                "mrz": td3("TR0456789", "JPN", date(2010, 6, 18))},
     {"age_over_18": False, "age_over_60": False}),
])
async def test_a_declared_document_tells_a_site_the_age_it_carries(client, sms, clock, who, number, more, ages):
    citizen = await sign_in(client, sms)
    declared = await post(client, citizen, who, number, **more)
    assert declared.json()["confirmed"] is False, declared.text
    claims = await id_token_at_a_site(client, clock, citizen)
    assert {name: claims[name] for name in AGES} == ages
    assert claims["identity_level"] == 1  # the site can tell the document was declared, not confirmed


# -- no birth date on the document: no age claim --------------------------------------------------------------

@pytest.mark.parametrize(("who", "number", "more"), [
    ("WONG KA MING", "H1234567803", {"document_type": "hk_macao_permit"}),
    ("林志明", "08123456", {"document_type": "taiwan_permit"}),
    ("JANE DOE", "E12345678", {"document_type": "passport", "nationality": "GBR"}),  # typed, without its zone
])
async def test_a_document_without_a_birth_date_gives_a_site_no_age_claim(client, sms, clock, who, number, more):
    citizen = await sign_in(client, sms)
    declared = await post(client, citizen, who, number, **more)
    assert declared.status_code == 200, declared.text
    claims = await id_token_at_a_site(client, clock, citizen)
    assert not set(AGES) & set(claims)  # absent, not false: the site must not read a missing age as "under 18"
    assert claims["identity_level"] == 1 and claims["sub"]
    log = (await client.get("/api/v1/me/access-log", headers=citizen.headers)).json()["items"]
    given = next(entry["attributes"] for entry in log if entry["action"] == "oidc_token_issued")
    assert given == ["sub", "acr", "identity_level"]  # the citizen's log names no age the site was not given
