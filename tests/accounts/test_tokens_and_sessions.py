"""A signed-in citizen's tokens and devices: what is accepted, what is refused, and what a
second device sees after a refresh, a stolen refresh token, a logout or a remote sign-out."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.accounts.models import RefreshToken
from app.audit import AuditEntry
from app.security.keys import b64url, kid_bytes_for
from tests.factories import SignedInCitizen, sign_in

ME = "/api/v1/me"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
SESSIONS = "/api/v1/me/sessions"


# -- helpers -------------------------------------------------------------------------------

def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def unverified(token: str) -> tuple[dict, dict]:
    return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})


def encode_segment(data: dict) -> str:
    return b64url(json.dumps(data, separators=(",", ":")).encode("utf-8"))


def sign_with(private_key: ec.EllipticCurvePrivateKey, kid: str, claims: dict) -> str:
    return jwt.encode(claims, private_key, algorithm="ES256", headers={"kid": kid})


def error_code(reply) -> str:
    return reply.json()["error"]["code"]


async def get_me(client, token: str):
    return await client.get(ME, headers=bearer(token))


async def another_device(client, sms, clock, citizen: SignedInCitizen, device: str) -> SignedInCitizen:
    """The same citizen signs in on a second phone (a new code may be sent after 60 s)."""
    clock.advance(61)
    second = await sign_in(client, sms, citizen.phone, device=device)
    assert second.id == citizen.id
    return second


async def session_id_of(client, citizen: SignedInCitizen) -> str:
    reply = await client.get(SESSIONS, headers=citizen.headers)
    assert reply.status_code == 200, reply.text
    (current,) = [item for item in reply.json()["items"] if item["current"]]
    return current["id"]


# -- the access token ----------------------------------------------------------------------

async def test_the_access_token_is_an_es256_jwt_whose_key_is_published(client, sms, settings):
    citizen = await sign_in(client, sms)
    header, claims = unverified(citizen.access_token)
    assert header["alg"] == "ES256"
    assert isinstance(header["kid"], str) and header["kid"]

    jwks = await client.get("/.well-known/jwks.json")
    assert jwks.status_code == 200
    published = {k["kid"]: k for k in jwks.json()["keys"]}
    assert header["kid"] in published

    # The token verifies with the published public key alone, as a partner would check it.
    public_key = jwt.PyJWK(published[header["kid"]]).key
    checked = jwt.decode(citizen.access_token, public_key, algorithms=["ES256"],
                         audience=settings.accounts.citizen_audience, issuer=settings.security.issuer)
    assert checked == claims
    assert claims["iss"] == settings.security.issuer
    assert claims["aud"] == settings.accounts.citizen_audience
    assert claims["sub"] == citizen.id
    assert claims["exp"] == claims["iat"] + 900
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 12
    assert claims["sid"] == await session_id_of(client, citizen)


async def test_every_token_has_its_own_jti(client, sms, clock):
    first = await sign_in(client, sms)
    second = await another_device(client, sms, clock, first, "平板")
    refreshed = await client.post(REFRESH, json={"refresh_token": first.refresh_token})
    jtis = {unverified(t)[1]["jti"] for t in (first.access_token, second.access_token, refreshed.json()["access_token"])}
    assert len(jtis) == 3


async def test_a_token_works_until_it_expires_after_15_minutes(client, sms, clock):
    citizen = await sign_in(client, sms)
    unused = await another_device(client, sms, clock, citizen, "平板")  # never shown before expiry
    assert (await get_me(client, citizen.access_token)).status_code == 200
    clock.advance(890 - 61)
    assert (await get_me(client, citizen.access_token)).status_code == 200

    clock.advance(11 + 61)
    for token in (citizen.access_token, unused.access_token):
        reply = await get_me(client, token)
        assert reply.status_code == 401
        assert error_code(reply) == "TOKEN_EXPIRED"


async def test_a_token_signed_by_our_key_is_accepted_only_with_our_audience_and_issuer(client, sms, platform):
    citizen = await sign_in(client, sms)
    header, claims = unverified(citizen.access_token)
    key = platform.keys.find(header["kid"])

    # Control: the same claims re-signed by our key are accepted, so each refusal below is
    # about the one claim that was changed.
    assert (await get_me(client, sign_with(key.private_key, key.kid, dict(claims)))).status_code == 200

    for changed in ({"aud": "relying-party"}, {"aud": ["other-app"]}, {"iss": "https://evil.example.com"},
                    {"iss": platform.settings.security.issuer + "/"}):
        reply = await get_me(client, sign_with(key.private_key, key.kid, {**claims, **changed}))
        assert reply.status_code == 401, changed
        assert error_code(reply) == "TOKEN_INVALID", changed

    # A token the issuer itself made for another audience is refused too.
    other = platform.tokens.issue(citizen.id, claims["sid"], "relying-party")
    reply = await get_me(client, other)
    assert reply.status_code == 401 and error_code(reply) == "TOKEN_INVALID"


async def test_a_token_without_a_signature_is_refused(client, sms):
    citizen = await sign_in(client, sms)
    header, claims = unverified(citizen.access_token)
    for alg in ("none", "None", "NONE"):
        unsigned = f"{encode_segment({'alg': alg, 'typ': 'JWT', 'kid': header['kid']})}.{encode_segment(claims)}."
        reply = await get_me(client, unsigned)
        assert reply.status_code == 401, alg
        assert error_code(reply) == "TOKEN_INVALID"


async def test_an_hs256_token_keyed_with_our_public_key_is_refused(client, sms, platform):
    """The algorithm-confusion attack: the public key is public, so an HMAC made with it proves nothing."""
    citizen = await sign_in(client, sms)
    header, claims = unverified(citizen.access_token)
    public_pem = platform.keys.find(header["kid"]).public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    jwk_json = json.dumps((await client.get("/.well-known/jwks.json")).json()["keys"][0]).encode()
    for secret in (public_pem, public_pem.strip(), jwk_json):
        signing_input = f"{encode_segment({'alg': 'HS256', 'typ': 'JWT', 'kid': header['kid']})}.{encode_segment(claims)}"
        mac = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
        reply = await get_me(client, f"{signing_input}.{b64url(mac)}")
        assert reply.status_code == 401
        assert error_code(reply) == "TOKEN_INVALID"


async def test_a_token_signed_by_a_key_that_is_not_ours_is_refused(client, sms, platform):
    citizen = await sign_in(client, sms)
    header, claims = unverified(citizen.access_token)
    stranger = ec.generate_private_key(ec.SECP256R1())
    stranger_kid = b64url(kid_bytes_for(stranger.public_key()))
    for kid in (stranger_kid, header["kid"]):  # an unknown kid, and a stranger claiming our kid
        reply = await get_me(client, sign_with(stranger, kid, claims))
        assert reply.status_code == 401, kid
        assert error_code(reply) == "TOKEN_INVALID"
    jwks = (await client.get("/.well-known/jwks.json")).json()
    assert stranger_kid not in {k["kid"] for k in jwks["keys"]}


async def test_a_token_with_a_changed_payload_is_refused(client, sms):
    alice = await sign_in(client, sms)
    bob = await sign_in(client, sms)
    head, _, signature = alice.access_token.split(".")
    _, claims = unverified(alice.access_token)
    assert (await get_me(client, alice.access_token)).status_code == 200  # alice's real token is good

    for changed in ({"sub": bob.id}, {"exp": claims["exp"] + 86400}):
        forged = f"{head}.{encode_segment({**claims, **changed})}.{signature}"
        reply = await get_me(client, forged)
        assert reply.status_code == 401, changed
        assert error_code(reply) == "TOKEN_INVALID"


async def test_missing_or_garbage_authorization_is_refused(client, sms):
    citizen = await sign_in(client, sms)
    reply = await client.get(ME)
    assert reply.status_code == 401
    assert error_code(reply) == "AUTH_REQUIRED"
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")

    for header in ("", "Bearer", "Bearer   ", f"Basic {citizen.access_token}", citizen.access_token):
        reply = await client.get(ME, headers={"Authorization": header})
        assert reply.status_code == 401, header
        assert error_code(reply) == "AUTH_REQUIRED", header

    for token in ("garbage", "a.b.c", "eyJhbGciOiJFUzI1NiJ9.e30.", citizen.access_token[:-6]):
        reply = await get_me(client, token)
        assert reply.status_code == 401, token
        assert error_code(reply) == "TOKEN_INVALID", token


# -- signing-key rotation ------------------------------------------------------------------

async def test_after_key_rotation_old_tokens_still_work_and_new_ones_use_the_new_key(client, sms, clock, platform):
    before = await sign_in(client, sms)  # issued before the rotation, not presented until after it
    old_kid = unverified(before.access_token)[0]["kid"]

    new_key = platform.keys.rotate()
    assert new_key.kid != old_kid

    assert (await get_me(client, before.access_token)).status_code == 200
    after = await sign_in(client, sms)
    assert unverified(after.access_token)[0]["kid"] == new_key.kid
    assert (await get_me(client, after.access_token)).status_code == 200

    refreshed = await client.post(REFRESH, json={"refresh_token": before.refresh_token})
    assert unverified(refreshed.json()["access_token"])[0]["kid"] == new_key.kid

    kids = [k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]]
    assert set(kids) == {old_kid, new_key.kid}


async def test_a_key_past_its_grace_period_is_no_longer_trusted(client, sms, clock, platform):
    old = platform.keys.current
    new = platform.keys.rotate()
    clock.advance(24 * 3600 + 60)

    citizen = await sign_in(client, sms)
    _, claims = unverified(citizen.access_token)
    assert (await get_me(client, sign_with(new.private_key, new.kid, claims))).status_code == 200
    reply = await get_me(client, sign_with(old.private_key, old.kid, claims))
    assert reply.status_code == 401
    assert error_code(reply) == "TOKEN_INVALID"
    kids = [k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]]
    assert kids == [new.kid]


# -- refresh -------------------------------------------------------------------------------

async def test_refresh_gives_new_tokens_in_the_login_shape(client, sms, clock):
    citizen = await sign_in(client, sms)
    clock.advance(600)
    reply = await client.post(REFRESH, json={"refresh_token": citizen.refresh_token})
    assert reply.status_code == 200
    body = reply.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in", "citizen"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert body["citizen"] == {"id": citizen.id, "level": 1, "elderly_mode": False}
    assert body["refresh_token"] != citizen.refresh_token
    assert body["access_token"] != citizen.access_token
    # Same device, same session: the new token carries the same session id.
    assert unverified(body["access_token"])[1]["sid"] == unverified(citizen.access_token)[1]["sid"]

    clock.advance(600)  # the first access token has expired by now; the new one has not
    assert (await get_me(client, citizen.access_token)).status_code == 401
    assert (await get_me(client, body["access_token"])).status_code == 200

    # The new refresh token works once more, and so on.
    again = await client.post(REFRESH, json={"refresh_token": body["refresh_token"]})
    assert again.status_code == 200


async def test_a_reused_refresh_token_signs_the_whole_session_out(client, sms, clock):
    phone_one = await sign_in(client, sms, device="小米 14")
    tablet = await another_device(client, sms, clock, phone_one, "华为平板")

    first = await client.post(REFRESH, json={"refresh_token": phone_one.refresh_token})
    assert first.status_code == 200
    newest = first.json()
    assert (await get_me(client, newest["access_token"])).status_code == 200

    # Someone kept a copy of the old refresh token and tries it.
    replay = await client.post(REFRESH, json={"refresh_token": phone_one.refresh_token})
    assert replay.status_code == 401
    assert error_code(replay) == "REFRESH_TOKEN_REUSED"

    # The real owner's newest tokens are dead too: the whole family is revoked.
    newest_refresh = await client.post(REFRESH, json={"refresh_token": newest["refresh_token"]})
    assert newest_refresh.status_code == 401
    assert error_code(newest_refresh) == "REFRESH_TOKEN_INVALID"
    for token in (newest["access_token"], phone_one.access_token):
        reply = await get_me(client, token)
        assert reply.status_code == 401
        assert error_code(reply) == "TOKEN_REVOKED"

    # The citizen's other device is not affected.
    assert (await get_me(client, tablet.access_token)).status_code == 200
    assert (await client.post(REFRESH, json={"refresh_token": tablet.refresh_token})).status_code == 200

    revoked = await AuditEntry.filter(action="session_revoked", subject_id=phone_one.id)
    assert len(revoked) == 1
    assert revoked[0].attributes["reason"] == "refresh_reuse"
    assert revoked[0].actor_type == "system"


async def test_two_refreshes_racing_with_one_token_swap_it_once(client, sms):
    """A phone that sends its refresh twice at once (a retry on a flaky network): one reply carries new tokens,
    the other is the replay of a used token, and only one replacement token was ever stored."""
    citizen = await sign_in(client, sms)
    replies = await asyncio.gather(*(client.post(REFRESH, json={"refresh_token": citizen.refresh_token})
                                     for _ in range(2)))

    assert sorted(reply.status_code for reply in replies) == [200, 401]
    assert [error_code(reply) for reply in replies if reply.status_code == 401] == ["REFRESH_TOKEN_REUSED"]
    session_tokens = await RefreshToken.filter(session__citizen_id=citizen.id).values_list("used_at", flat=True)
    assert len(session_tokens) == 2 and sum(used is not None for used in session_tokens) == 1


async def test_an_unknown_refresh_token_is_refused(client, sms):
    citizen = await sign_in(client, sms)
    for token in ("not-a-token", secrets.token_urlsafe(32), citizen.refresh_token + "x", citizen.refresh_token[:-1], ""):
        reply = await client.post(REFRESH, json={"refresh_token": token})
        assert reply.status_code == 401, token
        assert error_code(reply) == "REFRESH_TOKEN_INVALID"
    # None of those attempts harmed the real one.
    assert (await client.post(REFRESH, json={"refresh_token": citizen.refresh_token})).status_code == 200


async def test_refresh_without_a_refresh_token_is_a_validation_error(client):
    for body in ({}, {"token": "abc"}, {"refresh_token": 12345}, {"refresh_token": None}):
        reply = await client.post(REFRESH, json=body)
        assert reply.status_code == 422, body
        error = reply.json()["error"]
        assert error["code"] == "VALIDATION_FAILED"
        assert [f["field"] for f in error["fields"]] == ["refresh_token"]


async def test_a_refresh_token_ends_with_its_session_after_30_days(client, sms, clock, settings):
    citizen = await sign_in(client, sms)
    clock.advance(settings.accounts.refresh_token_ttl - 60)
    reply = await client.post(REFRESH, json={"refresh_token": citizen.refresh_token})
    assert reply.status_code == 200
    clock.advance(61)
    late = await client.post(REFRESH, json={"refresh_token": reply.json()["refresh_token"]})
    assert late.status_code == 401
    assert error_code(late) == "REFRESH_TOKEN_INVALID"


# -- logout --------------------------------------------------------------------------------

async def test_logout_ends_this_device_only(client, sms, clock):
    phone = await sign_in(client, sms, device="iPhone 15")
    tablet = await another_device(client, sms, clock, phone, "iPad")

    reply = await client.post(LOGOUT, headers=phone.headers)
    assert reply.status_code == 204
    assert reply.content == b""

    after = await get_me(client, phone.access_token)
    assert after.status_code == 401
    assert error_code(after) == "TOKEN_REVOKED"
    refresh = await client.post(REFRESH, json={"refresh_token": phone.refresh_token})
    assert refresh.status_code == 401
    assert error_code(refresh) == "REFRESH_TOKEN_INVALID"
    again = await client.post(LOGOUT, headers=phone.headers)
    assert again.status_code == 401 and error_code(again) == "TOKEN_REVOKED"

    assert (await get_me(client, tablet.access_token)).status_code == 200
    assert (await client.post(REFRESH, json={"refresh_token": tablet.refresh_token})).status_code == 200


async def test_logout_needs_a_signed_in_device(client):
    reply = await client.post(LOGOUT)
    assert reply.status_code == 401
    assert error_code(reply) == "AUTH_REQUIRED"


# -- signed-in devices ---------------------------------------------------------------------

async def test_the_device_list_shows_each_signed_in_device_and_marks_this_one(client, sms, clock):
    phone = await sign_in(client, sms, device="华为 Mate 60")
    tablet = await another_device(client, sms, clock, phone, "iPad Air")

    reply = await client.get(SESSIONS, headers=phone.headers)
    assert reply.status_code == 200
    items = reply.json()["items"]
    assert sorted(i["device_name"] for i in items) == ["iPad Air", "华为 Mate 60"]
    assert [i["device_name"] for i in items if i["current"]] == ["华为 Mate 60"]
    for item in items:
        assert item["created_at"].endswith("Z") and item["last_used_at"].endswith("Z")

    from_tablet = (await client.get(SESSIONS, headers=tablet.headers)).json()["items"]
    assert [i["device_name"] for i in from_tablet if i["current"]] == ["iPad Air"]
    assert {i["id"] for i in from_tablet} == {i["id"] for i in items}


async def test_signing_out_another_device_remotely(client, sms, clock):
    phone = await sign_in(client, sms, device="华为 Mate 60")
    lost = await another_device(client, sms, clock, phone, "丢失的旧手机")
    lost_id = await session_id_of(client, lost)

    reply = await client.delete(f"{SESSIONS}/{lost_id}", headers=phone.headers)
    assert reply.status_code == 204

    gone = await get_me(client, lost.access_token)
    assert gone.status_code == 401
    assert error_code(gone) == "TOKEN_REVOKED"
    refresh = await client.post(REFRESH, json={"refresh_token": lost.refresh_token})
    assert refresh.status_code == 401 and error_code(refresh) == "REFRESH_TOKEN_INVALID"

    remaining = (await client.get(SESSIONS, headers=phone.headers)).json()["items"]
    assert [i["device_name"] for i in remaining] == ["华为 Mate 60"]
    assert (await get_me(client, phone.access_token)).status_code == 200

    twice = await client.delete(f"{SESSIONS}/{lost_id}", headers=phone.headers)
    assert twice.status_code == 404 and error_code(twice) == "NOT_FOUND"
    unknown = await client.delete(f"{SESSIONS}/ses_doesnotexist", headers=phone.headers)
    assert unknown.status_code == 404 and error_code(unknown) == "NOT_FOUND"


async def test_a_citizen_cannot_see_or_sign_out_someone_elses_device(client, sms):
    alice = await sign_in(client, sms, device="Alice 的手机")
    bob = await sign_in(client, sms, device="Bob 的手机")
    bob_session = await session_id_of(client, bob)

    alice_list = (await client.get(SESSIONS, headers=alice.headers)).json()["items"]
    assert [i["device_name"] for i in alice_list] == ["Alice 的手机"]
    assert bob_session not in {i["id"] for i in alice_list}

    reply = await client.delete(f"{SESSIONS}/{bob_session}", headers=alice.headers)
    assert reply.status_code == 404
    assert error_code(reply) == "NOT_FOUND"

    assert (await get_me(client, bob.access_token)).status_code == 200
    assert bob_session in {i["id"] for i in (await client.get(SESSIONS, headers=bob.headers)).json()["items"]}
    assert (await client.post(REFRESH, json={"refresh_token": bob.refresh_token})).status_code == 200


async def test_the_device_list_needs_a_signed_in_citizen(client):
    assert (await client.get(SESSIONS)).status_code == 401
    reply = await client.delete(f"{SESSIONS}/ses_x")
    assert reply.status_code == 401 and error_code(reply) == "AUTH_REQUIRED"


# -- audit ---------------------------------------------------------------------------------

async def test_login_and_logout_are_in_the_audit_log(client, sms):
    citizen = await sign_in(client, sms)
    session_id = await session_id_of(client, citizen)

    logins = await AuditEntry.filter(action="login", subject_id=citizen.id)
    assert len(logins) == 1
    assert logins[0].actor == citizen.id and logins[0].actor_type == "citizen"
    assert logins[0].attributes == {"session_id": session_id}
    assert citizen.phone not in json.dumps(logins[0].attributes)
    assert await AuditEntry.filter(action="session_revoked", subject_id=citizen.id).count() == 0

    assert (await client.post(LOGOUT, headers=citizen.headers)).status_code == 204
    revoked = await AuditEntry.filter(action="session_revoked", subject_id=citizen.id)
    assert len(revoked) == 1
    assert revoked[0].actor == citizen.id and revoked[0].actor_type == "citizen"
    assert revoked[0].attributes == {"session_id": session_id, "reason": "logout"}
    assert revoked[0].seq > logins[0].seq


async def test_a_remote_sign_out_is_audited_against_the_session_it_ended(client, sms, clock):
    phone = await sign_in(client, sms)
    other = await another_device(client, sms, clock, phone, "旧手机")
    other_id = await session_id_of(client, other)
    assert (await client.delete(f"{SESSIONS}/{other_id}", headers=phone.headers)).status_code == 204
    (entry,) = await AuditEntry.filter(action="session_revoked", subject_id=phone.id)
    assert entry.attributes == {"session_id": other_id, "reason": "remote_sign_out"}
    assert await AuditEntry.filter(action="login", subject_id=phone.id).count() == 2

