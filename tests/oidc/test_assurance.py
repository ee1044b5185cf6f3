"""How sure the site may be of this sign-in: acr is what this sign-in proved (an SMS sign-in at most 实名, level 3
only after a face check in this session), identity_level what the account reached; acr_values the sign-in cannot
meet are refused (unmet_authentication_requirements)."""

from __future__ import annotations

import jwt

from app.accounts.models import Citizen
from tests.factories import sign_in, verify_real_name
from tests.oidc.oidc_factory import approved_code, authorization_query, data_bureau, exchange, pkce, query_of, register_site

LOA3 = "urn:cn:gd:gov:loa:3"


async def _face_verified_before(app, citizen, clock) -> None:
    """The account reached level 3 by a face check some time before this sign-in."""
    await Citizen.filter(id=citizen.id).update(level=3, face_verified_at=clock.now())
    await app.ctx.services.accounts.forget_citizen(citizen.id)


async def _id_token(client, site, citizen, **overrides) -> dict:
    verifier, challenge = pkce()
    code = await approved_code(client, citizen, site, authorization_query(site, challenge, scope="openid identity",
                                                                          **overrides))
    body = (await exchange(client, site, code, verifier)).json()
    return jwt.decode(body["id_token"], options={"verify_signature": False})


async def test_an_sms_sign_in_of_a_level_3_account_is_acr_2_with_identity_level_3(app, client, sms, clock):
    site = await register_site(client, await data_bureau(clock))
    earlier = await sign_in(client, sms)
    await verify_real_name(client, earlier)
    await _face_verified_before(app, earlier, clock)
    clock.advance(3600)
    now = await sign_in(client, sms, phone=earlier.phone)
    claims = await _id_token(client, site, now)
    assert claims["acr"] == "urn:cn:gd:gov:loa:2" and claims["identity_level"] == 3


async def test_a_face_check_in_this_session_gives_acr_3(app, client, sms, clock):
    site = await register_site(client, await data_bureau(clock))
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen)
    clock.advance(60)
    await _face_verified_before(app, citizen, clock)
    claims = await _id_token(client, site, citizen, acr_values=LOA3)
    assert claims["acr"] == LOA3 and claims["identity_level"] == 3


async def test_acr_values_the_sign_in_cannot_meet_are_refused_to_the_site(client, sms, clock):
    site = await register_site(client, await data_bureau(clock))
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen)
    query = authorization_query(site, pkce()[1], acr_values=LOA3, state="s3")
    for path, body in (("/api/v1/oidc/consent-requests", {"query": query}),
                       ("/api/v1/oidc/consents", {"query": query, "approve": True})):
        answer = await client.post(path, headers=citizen.headers, json=body)
        assert answer.status_code == 200, answer.text
        back = query_of(answer.json()["redirect_to"])
        assert (back["error"], back["state"]) == ("unmet_authentication_requirements", "s3") and "code" not in back
    # One value it meets among those asked, or a value not ours: the sign-in goes ahead.
    for acr_values in (f"urn:cn:gd:gov:loa:2 {LOA3}", "urn:example:other"):
        claims = await _id_token(client, site, citizen, acr_values=acr_values)
        assert claims["acr"] == "urn:cn:gd:gov:loa:2"


async def test_auth_time_is_when_the_citizen_signed_in_and_max_age_asks_for_a_fresh_sign_in(client, sms, clock):
    site = await register_site(client, await data_bureau(clock))
    citizen = await sign_in(client, sms)
    signed_in_at = int(clock.timestamp())
    clock.advance(120)
    claims = await _id_token(client, site, citizen, max_age="600")
    assert signed_in_at - 1 <= claims["auth_time"] <= signed_in_at  # the sign-in, not the approval 2 minutes on

    silent = authorization_query(site, pkce()[1], max_age="60", prompt="none", state="s4")
    answer = await client.post("/api/v1/oidc/consent-requests", headers=citizen.headers, json={"query": silent})
    back = query_of(answer.json()["redirect_to"])
    assert (back["error"], back["state"]) == ("login_required", "s4")
    query = authorization_query(site, pkce()[1], max_age="60")
    for path, body in (("/api/v1/oidc/consent-requests", {"query": query}),
                       ("/api/v1/oidc/consents", {"query": query, "approve": True})):
        again = await client.post(path, headers=citizen.headers, json=body)
        assert again.status_code == 401 and again.json()["error"]["code"] == "OIDC_SIGN_IN_AGAIN"
    fresh = await sign_in(client, sms, phone=citizen.phone)
    claims = await _id_token(client, site, fresh, max_age="0")
    assert abs(claims["auth_time"] - int(clock.timestamp())) <= 1
