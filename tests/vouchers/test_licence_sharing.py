"""Sharing a licence for a purpose: Zhang San shares his driving licence with a letting agency "仅供
办理租房登记使用" for 30 minutes; the agency scans the watermarked image and verifies it online; he sees
that in his access log, withdraws the share, and from then on it fails. Tampered, expired and
foreign tokens fail; nobody else can withdraw or fetch his shares."""

from __future__ import annotations

import io
import zlib
from datetime import timedelta

import base45
import cbor2
import PIL.Image
import zxingcpp
from cryptography.hazmat.primitives.asymmetric import ec
from PIL import ImageChops

from app.audit import AuditEntry
from app.clock import rfc3339
from app.vouchers.licence_image import LicenceCard, render_card_png
from app.vouchers.licences import CHINA_TZ, card_for
from app.vouchers.models import LicenceShare
from health_code import codec
from tests.factories import make_department
from tests.vouchers import licence_factory as lf
from tests.vouchers.licence_factory import (ACCESS_LOG, LICENCES, RP_AUD, SHARES, VERIFY, error_code, issue, set_status,
                                            share, verify)


PURPOSE = "办理租房登记"


def scan(png: bytes) -> str:
    result = zxingcpp.read_barcode(PIL.Image.open(io.BytesIO(png)))
    assert result is not None, "no QR found in the image"
    return result.text


def reframed(token: str, change) -> str:
    """The token with its CWT claims changed by `change` and the original signature kept."""
    body = base45.b45decode(token[6:])
    packed = body[:1] == b"\x78"  # zlib, as older shares were
    protected, unprotected, payload, signature = cbor2.loads(zlib.decompress(body) if packed else body).value
    claims = cbor2.loads(payload)
    change(claims)
    cose = cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, cbor2.dumps(claims), signature]))
    return "GDLS1:" + base45.b45encode(zlib.compress(cose, 9) if packed else cose).decode()


def assert_shared_for_the_purpose(shared: dict, clock) -> None:
    today = clock.now().astimezone(CHINA_TZ).strftime("%Y-%m-%d")
    assert shared["watermark"] == f"仅供 {PURPOSE} 使用 {today}"
    assert shared["state"] == "active" and shared["purpose"] == PURPOSE
    assert shared["licence_type_name"] == "机动车驾驶证"
    token = shared["verification_token"]
    assert token.startswith("GDLS1:") and "张" not in token and lf.ZHANG_SAN_ID not in token
    assert shared["expires_at"] <= rfc3339(clock.now() + timedelta(minutes=30))


async def assert_the_image_is_the_watermarked_card(app, zhang_san, licence: dict, shared: dict, png: bytes) -> None:
    """The image is the card with the watermark drawn over all of it; without it the card would differ everywhere."""
    token = shared["verification_token"]
    view = await app.ctx.services.licences.open(zhang_san.id, licence["id"])
    expires = (await LicenceShare.get(id=shared["id"])).expires_at
    served = PIL.Image.open(io.BytesIO(png)).convert("RGB")
    marked = PIL.Image.open(io.BytesIO(render_card_png(card_for(view, token, shared["watermark"], expires)))).convert("RGB")
    plain = PIL.Image.open(io.BytesIO(render_card_png(card_for(view, token, None, expires)))).convert("RGB")
    watermark_only = ImageChops.difference(marked, plain).getbbox()
    assert watermark_only is not None
    left, top, right, bottom = watermark_only
    assert right - left > 0.9 * served.width and bottom - top > 0.7 * served.height  # across the whole card
    assert ImageChops.difference(served, marked).getbbox() is None  # exactly that card
    assert "*三" in [value for _, value in card_for(view, token, None, expires).rows]  # PII masked on the card


async def assert_verified_and_logged(client, zhang_san, landlord_agency, shared: dict) -> None:
    """The agency verifies online; Zhang San sees it in his access log, with the purpose."""
    checked = await verify(client, landlord_agency, shared["verification_token"])
    assert checked == {"valid": True, "error": None, "message": None, "licence_type": "driving_licence",
                       "licence_type_name": "机动车驾驶证", "issuer": lf.POLICE, "holder_name_masked": "*三",
                       "purpose": PURPOSE, "expires_at": shared["expires_at"], "status": "valid"}

    log = (await client.get(ACCESS_LOG, headers=zhang_san.headers)).json()["items"]
    assert [(e["actor"], e["actor_type"], e["action"], e["attributes"], e["purpose"]) for e in log] == [
        ("示例房屋租赁服务有限公司", "relying_party", "licence_verified",
         ["licence_type", "issuer", "holder_name_masked", "status"], PURPOSE)]


async def assert_fails_once_withdrawn(client, zhang_san, landlord_agency, shared: dict) -> None:
    after = await verify(client, landlord_agency, shared["verification_token"])
    assert (after["valid"], after["error"], after["purpose"], after["holder_name_masked"]) == \
        (False, "SHARE_WITHDRAWN", None, None)
    assert after["message"] == "持证人已撤回该证照分享。"
    gone = await client.get(shared["image_url"], headers=zhang_san.headers)
    assert gone.status_code == 410 and error_code(gone) == "SHARE_WITHDRAWN"
    mine = (await client.get(SHARES, headers=zhang_san.headers)).json()["items"]
    assert [(s["id"], s["state"], s["verification_token"], s["image_url"]) for s in mine] == \
        [(shared["id"], "withdrawn", None, None)]


async def test_a_watermarked_share_verifies_and_then_fails_once_withdrawn(app, client, clock, zhang_san, licence,
                                                                          landlord_agency):
    shared = await share(client, zhang_san, licence["id"], PURPOSE, valid_minutes=30)
    assert_shared_for_the_purpose(shared, clock)

    image = await client.get(shared["image_url"], headers=zhang_san.headers)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.headers["cache-control"] == "private, no-store"
    assert scan(image.content) == shared["verification_token"]  # the verifier's scanner reads the token off the image
    await assert_the_image_is_the_watermarked_card(app, zhang_san, licence, shared, image.content)

    await assert_verified_and_logged(client, zhang_san, landlord_agency, shared)

    withdrawn = await client.delete(f"{SHARES}/{shared['id']}", headers=zhang_san.headers)
    assert withdrawn.status_code == 204
    await assert_fails_once_withdrawn(client, zhang_san, landlord_agency, shared)
    assert (await client.delete(f"{SHARES}/{shared['id']}", headers=zhang_san.headers)).status_code == 204  # again: same
    assert await AuditEntry.filter(action="licence_share_withdrawn").count() == 1
    assert len((await client.get(ACCESS_LOG, headers=zhang_san.headers)).json()["items"]) == 1  # refusals show nothing


async def test_an_expired_share_fails_and_a_share_never_outlives_the_licence(client, clock, police, zhang_san, licence,
                                                                             landlord_agency):
    short = await share(client, zhang_san, licence["id"], valid_minutes=1)
    assert (await verify(client, landlord_agency, short["verification_token"]))["valid"] is True
    clock.advance(minutes=1, seconds=1)
    late = await verify(client, landlord_agency, short["verification_token"])
    assert (late["valid"], late["error"]) == (False, "SHARE_EXPIRED")
    image = await client.get(f"{SHARES}/{short['id']}/image.png", headers=zhang_san.headers)
    assert image.status_code == 410 and error_code(image) == "SHARE_EXPIRED"
    assert (await client.get(SHARES, headers=zhang_san.headers)).json()["items"][0]["state"] == "expired"

    soon = clock.now().replace(microsecond=0) + timedelta(minutes=10)
    ending = await issue(client, police, number="GD2026000000777", valid_until=soon)
    capped = await share(client, zhang_san, ending["id"], valid_minutes=60)
    assert capped["expires_at"] == ending["valid_until"]


async def test_a_suspended_or_revoked_licence_fails_verification_at_once(client, police, zhang_san, licence,
                                                                         landlord_agency):
    token = (await share(client, zhang_san, licence["id"]))["verification_token"]
    assert (await set_status(client, police, licence["id"], "suspended", "暂扣（示例）")).status_code == 200
    refused = await verify(client, landlord_agency, token)
    assert (refused["valid"], refused["error"], refused["status"], refused["licence_type"]) == \
        (False, "LICENCE_NOT_VALID", "suspended", "driving_licence")
    assert refused["holder_name_masked"] is None and refused["purpose"] is None

    assert (await set_status(client, police, licence["id"], "valid")).status_code == 200
    assert (await verify(client, landlord_agency, token))["valid"] is True

    await set_status(client, police, licence["id"], "revoked")
    revoked = await verify(client, landlord_agency, token)
    assert (revoked["valid"], revoked["error"], revoked["status"]) == (False, "LICENCE_NOT_VALID", "revoked")
    again = await client.post(f"{LICENCES}/{licence['id']}/shares", headers=zhang_san.headers,
                              json={"purpose": PURPOSE, "valid_minutes": 30})
    assert again.status_code == 409 and error_code(again) == "LICENCE_NOT_VALID"

    # What the agency learned each time (the licence status, too) is in Zhang San's access log.
    log = (await client.get(ACCESS_LOG, headers=zhang_san.headers)).json()["items"]
    assert [e["attributes"] for e in reversed(log)] == [
        ["licence_type", "status"], ["licence_type", "issuer", "holder_name_masked", "status"], ["licence_type", "status"]]
    assert {e["purpose"] for e in log} == {PURPOSE}


async def test_tampered_and_foreign_tokens_and_images_fail_verification(client, zhang_san, licence, landlord_agency):
    shared = await share(client, zhang_san, licence["id"])
    token = shared["verification_token"]
    other = await share(client, zhang_san, licence["id"], purpose="银行开户")

    def retarget(claims):
        claims["ls"][1] = other["id"]

    def extend(claims):
        claims[4] += 30 * 24 * 3600

    foreign_key = ec.generate_private_key(ec.SECP256R1())
    cwt = {1: "CN-GD", 4: 4102444800, 6: 1700000000, "ls": {1: shared["id"]}}
    cases = {
        "another share's id under this signature": (reframed(token, retarget), "BAD_SIGNATURE"),
        "a longer life under this signature": (reframed(token, extend), "BAD_SIGNATURE"),
        "signed by a key that is not ours": (codec.sign_cwt(cwt, foreign_key, b"\x01" * 8, "GDLS1:"), "UNKNOWN_KID"),
        "a health-code prefix": ("GDHC1:" + token[6:], "BAD_PREFIX"),
        "a character changed": (token[:20] + ("0" if token[20] != "0" else "1") + token[21:], None),
        "not a token at all": ("hello", "BAD_PREFIX"),
    }
    for case, (forged, expected) in cases.items():
        result = await verify(client, landlord_agency, forged)
        assert result["valid"] is False and result["purpose"] is None, case
        # A changed character lands wherever it falls: in the key id (UNKNOWN_KID), the structure or the signature.
        assert result["error"] == expected or \
            (expected is None and (result["error"].startswith("BAD_") or result["error"] == "UNKNOWN_KID")), (case, result)

    # A doctored image: a new watermark ("仅供 任何用途 使用") and a QR of an edited token fails; a new watermark
    # over the genuine QR still verifies, but only for the purpose the citizen named.
    view_rows = (await client.get(f"{LICENCES}/{licence['id']}", headers=zhang_san.headers)).json()
    assert view_rows["validity"] == "valid"
    doctored = render_card_png(LicenceCard(title="机动车驾驶证", subtitle="电子证照", rows=(("姓名", "*三"),),
                                           validity="状态：有效", qr_text=reframed(token, extend), qr_caption="",
                                           watermark="仅供 任何用途 使用"))
    assert (await verify(client, landlord_agency, scan(doctored)))["error"] == "BAD_SIGNATURE"
    relabelled = render_card_png(LicenceCard(title="机动车驾驶证", subtitle="电子证照", rows=(("姓名", "*三"),),
                                             validity="状态：有效", qr_text=token, qr_caption="",
                                             watermark="仅供 任何用途 使用"))
    assert (await verify(client, landlord_agency, scan(relabelled)))["purpose"] == PURPOSE

    refusals = await AuditEntry.filter(action="licence_verification_refused").count()
    assert refusals == len(cases) + 1


async def test_nobody_else_withdraws_or_fetches_a_share(client, zhang_san, li_si, licence, landlord_agency):
    shared = await share(client, zhang_san, licence["id"])
    for reply in (await client.delete(f"{SHARES}/{shared['id']}", headers=li_si.headers),
                  await client.get(f"{SHARES}/{shared['id']}/image.png", headers=li_si.headers),
                  await client.delete(f"{SHARES}/lsh_nothing", headers=li_si.headers)):
        assert reply.status_code == 404 and error_code(reply) == "SHARE_NOT_FOUND"
    assert (await client.get(SHARES, headers=li_si.headers)).json() == {"items": []}
    assert (await verify(client, landlord_agency, shared["verification_token"]))["valid"] is True


async def test_share_requests_are_checked(client, zhang_san, licence):
    url = f"{LICENCES}/{licence['id']}/shares"
    for body, field in (({"purpose": "租", "valid_minutes": 30}, "purpose"),
                        ({"purpose": "办理\n租房", "valid_minutes": 30}, "purpose"),
                        ({"purpose": PURPOSE, "valid_minutes": 0}, "valid_minutes"),
                        ({"purpose": PURPOSE, "valid_minutes": 1441}, "valid_minutes"),
                        ({"valid_minutes": 30}, "purpose")):
        reply = await client.post(url, headers=zhang_san.headers, json=body)
        assert reply.status_code == 422 and error_code(reply) == "VALIDATION_FAILED", body
        assert reply.json()["error"]["fields"][0]["field"] == field
    default = await client.post(url, headers=zhang_san.headers, json={"purpose": PURPOSE})
    assert default.status_code == 201


async def test_only_relying_parties_verify(client, clock, zhang_san, police, licence):
    token = (await share(client, zhang_san, licence["id"]))["verification_token"]
    as_citizen = await client.post(VERIFY, headers=zhang_san.headers, json={"token": token})
    assert as_citizen.status_code == 401
    as_department = await client.post(VERIFY, headers=police.headers(aud=RP_AUD), json={"token": token})
    assert as_department.status_code == 401 and error_code(as_department) == "CLIENT_UNKNOWN"
    bank = await make_department(clock, "示例银行", [], audience="relying_party")
    wrong_aud = await client.post(VERIFY, headers=bank.headers(), json={"token": token})  # the admin audience
    assert wrong_aud.status_code == 401 and error_code(wrong_aud) == "CLIENT_TOKEN_AUDIENCE_INVALID"
    english = await client.post(VERIFY, headers={**bank.headers(aud=RP_AUD), "Accept-Language": "en"},
                                json={"token": token})
    assert english.json()["licence_type_name"] == "Driving licence"
    log = (await client.get(ACCESS_LOG, headers=zhang_san.headers)).json()["items"]
    assert [e["actor"] for e in log] == ["示例银行"]  # refused callers read nothing
