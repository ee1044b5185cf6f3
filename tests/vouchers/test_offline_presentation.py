"""The resident ID voucher shown offline: what a verifier with nothing but our JWKS learns from
the QR code, what it cannot learn, how the holder's phone binds it to one verifier and one nonce,
and how every broken presentation is named."""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from datetime import timedelta

import base45
import cbor2
import jwt
import pytest
import segno
from cryptography.hazmat.primitives.asymmetric import ec

from app.clock import MovableClock
from app.security.keys import SigningKeyStore, b64url, b64url_decode
from app.security.tokens import TokenIssuer
from app.vouchers.offline import (
    KB_MAX_AGE,
    QR_PREFIX,
    VCT,
    OfflineCredential,
    PresentationError,
    check_key_binding,
    from_qr_text,
    holder_binding,
    issue_offline_credential,
    key_binding_jwt,
    present,
    present_bound,
    sd_hash,
    to_qr_text,
    verify_presentation,
)

ISSUER = "https://gov-app.example.cn"
AUDIENCE = "cli_hotel_front_desk"
NONCE = "n-0S6_WzA2Mj"
TTL = 24 * 3600
CLAIMS = {
    "age_over_18": True,
    "age_over_60": False,
    "name_masked": "*三",
    "id_last4": "002X",
    "name": "张三",
    "birth_date": "1990-03-07",
}


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


def key_store(directory, clock) -> SigningKeyStore:
    keys = SigningKeyStore(directory, clock, grace=timedelta(hours=24), create_if_missing=True)
    keys.load()
    return keys


@pytest.fixture
def keys(tmp_path, clock) -> SigningKeyStore:
    return key_store(tmp_path / "keys", clock)


PHONE = ec.generate_private_key(ec.SECP256R1())  # the holder's phone key, which never leaves the phone


def public_jwk(key: ec.EllipticCurvePrivateKey) -> dict:
    return jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)


@pytest.fixture
def credential(keys, clock) -> OfflineCredential:
    return issue_offline_credential(CLAIMS, keys.current, ISSUER, clock.now(), TTL,
                                    holder_binding=holder_binding(public_jwk(PHONE)))


def with_kb(text: str, clock: MovableClock, key: ec.EllipticCurvePrivateKey = PHONE) -> str:
    """What the phone shows at the desk: `text` (<JWT>~<disclosure>~...~) and a KB-JWT for AUDIENCE and NONCE."""
    if not (text.endswith("~") and text.isascii()):
        return text
    return text + key_binding_jwt(text, key, AUDIENCE, NONCE, clock.now())


def verify(text: str, keys: SigningKeyStore, clock: MovableClock, issuer: str = ISSUER) -> dict:
    """Verify `text` as the phone would show it, with a key-binding JWT added."""
    return verify_presentation(with_kb(text, clock), keys.jwks(), clock.now(), issuer, AUDIENCE, NONCE)


def error_of(text: str, keys: SigningKeyStore, clock: MovableClock, issuer: str = ISSUER) -> str:
    with pytest.raises(PresentationError) as caught:
        verify(text, keys, clock, issuer)
    return caught.value.code


def bound_error_of(shown: str, keys: SigningKeyStore, clock: MovableClock, audience: str = AUDIENCE,
                   nonce: str = NONCE) -> str:
    """The error for exactly `shown` (no key-binding JWT added) at the verifier `audience` with `nonce`."""
    with pytest.raises(PresentationError) as caught:
        verify_presentation(shown, keys.jwks(), clock.now(), ISSUER, audience, nonce)
    return caught.value.code


def split(text: str) -> tuple[str, list[str]]:
    token, *disclosures, last = text.split("~")
    assert last == ""
    return token, disclosures


def decode_disclosure(disclosure: str) -> list:
    return json.loads(b64url_decode(disclosure))


def encode_disclosure(content: list) -> str:
    return b64url(json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def jwt_parts(token: str) -> tuple[dict, dict, bytes]:
    header, payload, signature = token.split(".")
    return json.loads(b64url_decode(header)), json.loads(b64url_decode(payload)), b64url_decode(signature)


def sd_digest(disclosure_text: str) -> str:
    return b64url(hashlib.sha256(disclosure_text.encode("ascii")).digest())


# -- what a verifier learns ------------------------------------------------------------------

@pytest.mark.parametrize("chosen", [
    ["age_over_18"],
    ["age_over_18", "name_masked"],
    ["name", "birth_date", "id_last4"],
    list(CLAIMS),
    [],
])
def test_a_verifier_with_only_the_jwks_learns_exactly_the_disclosed_claims(credential, keys, clock, chosen):
    jwks = json.loads(json.dumps(keys.jwks()))  # what a verifier app downloaded earlier, nothing more
    scanned = from_qr_text(to_qr_text(present_bound(credential, chosen, PHONE, AUDIENCE, NONCE, clock.now())))
    claims = verify_presentation(scanned, jwks, clock.now(), ISSUER, AUDIENCE, NONCE)
    iat = int(clock.now().timestamp())
    assert claims == {"iss": ISSUER, "iat": pytest.approx(iat, abs=2), "exp": claims["iat"] + TTL,
                      **{name: CLAIMS[name] for name in chosen}}


def test_the_fixed_claims_are_visible_and_nothing_else_is_in_the_signed_payload(credential):
    header, payload, signature = jwt_parts(credential.jwt)
    assert header == {"alg": "ES256", "kid": header["kid"], "typ": "dc+sd-jwt"}
    assert set(payload) == {"iss", "iat", "exp", "vct", "cnf", "_sd", "_sd_alg"}
    assert payload["cnf"] == {"jwk": {k: public_jwk(PHONE)[k] for k in ("kty", "crv", "x", "y")}}
    assert payload["vct"] == VCT == "cn-gd-resident-id-voucher"
    assert payload["_sd_alg"] == "sha-256"
    assert len(payload["_sd"]) == len(CLAIMS) and payload["_sd"] == sorted(payload["_sd"])
    assert len(signature) == 64
    for name, disclosure in credential.disclosures.items():
        salt, claim_name, value = decode_disclosure(disclosure)
        assert (claim_name, value) == (name, CLAIMS[name])
        assert len(b64url_decode(salt)) == 16
        assert sd_digest(disclosure) in payload["_sd"]


def test_the_presentation_text_holds_no_undisclosed_value_in_any_encoding(credential, keys):
    text = present(credential, ["age_over_18"])
    token, disclosures = split(text)
    header, payload, _ = jwt_parts(token)
    decoded = [json.dumps(header, ensure_ascii=False), json.dumps(payload, ensure_ascii=False)]
    decoded += [json.dumps(decode_disclosure(d), ensure_ascii=False) for d in disclosures]
    assert [decode_disclosure(d)[1] for d in disclosures] == ["age_over_18"]
    packed = base45.b45decode(to_qr_text(text)[len(QR_PREFIX):])
    qr_content = repr(cbor2.loads(zlib.decompress(packed) if packed[:1] == b"\x78" else packed))

    undisclosed_names = ["age_over_60", "name_masked", "id_last4", "birth_date"]
    undisclosed_values = [json.dumps(v, ensure_ascii=False) for v in ("*三", "002X", "张三", "1990-03-07")]
    for secret in undisclosed_names + undisclosed_values:
        assert all(secret not in part for part in decoded), secret
        assert secret not in text and secret not in qr_content
        data = secret.encode("utf-8")
        for shift in range(3):  # base64url of the secret at each byte alignment, edge characters trimmed
            encoded = b64url(b"\0" * shift + data)[(4 * shift + 2) // 3 + 1:-1]
            assert len(encoded) >= 6 and encoded not in text, (secret, shift)
    assert all('"name"' not in part and "张三" not in part and "false" not in part for part in decoded)


def test_an_undisclosed_claim_cannot_be_matched_by_guessing_its_value_without_the_salt(credential):
    _, payload, _ = jwt_parts(present(credential, ["age_over_18"]).split("~")[0])
    digests = set(payload["_sd"])
    guesses = []
    for name, value in [("age_over_60", False), ("age_over_60", True), ("name", "张三"), ("birth_date", "1990-03-07"),
                        ("id_last4", "002X"), ("name_masked", "*三")]:
        for content in ([name, value], ["", name, value], [None, name, value], [0, name, value]):
            for ensure_ascii in (True, False):
                for separators in ((",", ":"), (", ", ": ")):
                    raw = json.dumps(content, ensure_ascii=ensure_ascii, separators=separators).encode("utf-8")
                    guesses += [b64url(raw), base64.urlsafe_b64encode(raw).decode(), raw.decode("utf-8")]
    assert len(guesses) == 6 * 4 * 2 * 2 * 3
    assert not digests & {sd_digest(g) if g.isascii() else "" for g in guesses}
    assert not digests & {b64url(hashlib.sha256(g.encode("utf-8")).digest()) for g in guesses}

    # The same computation does find the digest once the salt is known, as only the holder knows it.
    salt, _, _ = decode_disclosure(credential.disclosures["age_over_60"])
    assert sd_digest(encode_disclosure([salt, "age_over_60", False])) in digests
    assert sd_digest(encode_disclosure([salt, "age_over_60", True])) not in digests


def test_salts_are_fresh_for_every_claim_and_every_credential(keys, clock):
    first = issue_offline_credential(CLAIMS, keys.current, ISSUER, clock.now(), TTL)
    second = issue_offline_credential(CLAIMS, keys.current, ISSUER, clock.now(), TTL)
    salts = [decode_disclosure(d)[0] for c in (first, second) for d in c.disclosures.values()]
    assert len(set(salts)) == len(salts) == 2 * len(CLAIMS)
    assert not set(jwt_parts(first.jwt)[1]["_sd"]) & set(jwt_parts(second.jwt)[1]["_sd"])


# -- broken presentations --------------------------------------------------------------------

@pytest.mark.parametrize("change", [
    lambda salt, name, value: [salt, name, False],  # age_over_18: true → false
    lambda salt, name, value: [salt, "age_over_60", value],  # the same value under another name
    lambda salt, name, value: [salt[:-1] + ("A" if salt[-1] != "A" else "B"), name, value],
])
def test_a_modified_disclosure_is_not_in_the_credential(credential, keys, clock, change):
    token, (disclosure,) = split(present(credential, ["age_over_18"]))
    forged = encode_disclosure(change(*decode_disclosure(disclosure)))
    assert forged != disclosure
    assert error_of(f"{token}~{forged}~", keys, clock) == "DISCLOSURE_NOT_IN_CREDENTIAL"


def test_a_disclosure_re_encoded_with_other_json_spacing_is_not_in_the_credential(credential, keys, clock):
    token, (disclosure,) = split(present(credential, ["age_over_18"]))
    spaced = b64url(json.dumps(decode_disclosure(disclosure)).encode())  # same content, ", " separators
    assert spaced != disclosure
    assert error_of(f"{token}~{spaced}~", keys, clock) == "DISCLOSURE_NOT_IN_CREDENTIAL"


def test_a_disclosure_from_someone_elses_credential_is_not_in_the_credential(credential, keys, clock):
    other = issue_offline_credential({**CLAIMS, "age_over_60": True}, keys.current, ISSUER, clock.now(), TTL)
    token, _ = split(present(credential, ["age_over_18"]))
    assert error_of(f"{token}~{other.disclosures['age_over_60']}~", keys, clock) == "DISCLOSURE_NOT_IN_CREDENTIAL"


def test_a_duplicate_disclosure_is_rejected(credential, keys, clock):
    token, (disclosure,) = split(present(credential, ["age_over_18"]))
    assert verify(f"{token}~{disclosure}~", keys, clock)["age_over_18"] is True
    assert error_of(f"{token}~{disclosure}~{disclosure}~", keys, clock) == "DUPLICATE_DISCLOSURE"


def test_a_tampered_signature_or_payload_fails_the_signature_check(credential, keys, clock):
    token, disclosures = split(present(credential, ["age_over_18"]))
    header_b64, payload_b64, signature_b64 = token.split(".")
    signature = bytearray(b64url_decode(signature_b64))
    signature[10] ^= 0x01
    bad_signature = f"{header_b64}.{payload_b64}.{b64url(bytes(signature))}"
    assert error_of(f"{bad_signature}~{disclosures[0]}~", keys, clock) == "BAD_SIGNATURE"

    _, payload, _ = jwt_parts(token)
    longer = b64url(json.dumps({**payload, "exp": payload["exp"] + 365 * 86400}, separators=(",", ":")).encode())
    assert error_of(f"{header_b64}.{longer}.{signature_b64}~{disclosures[0]}~", keys, clock) == "BAD_SIGNATURE"


def test_a_key_the_verifier_does_not_have_is_an_unknown_kid(credential, keys, clock, tmp_path):
    stranger = key_store(tmp_path / "stranger", clock)
    text = present(credential, ["age_over_18"])
    with pytest.raises(PresentationError) as caught:
        verify_presentation(with_kb(text, clock), stranger.jwks(), clock.now(), ISSUER, AUDIENCE, NONCE)
    assert caught.value.code == "UNKNOWN_KID"

    # A forger's own key, with our kid in the header, finds our key and fails its signature.
    forged = issue_offline_credential(CLAIMS, stranger.current, ISSUER, clock.now(), TTL)
    header_b64, payload_b64, signature_b64 = forged.jwt.split(".")
    header = b64url(json.dumps({"alg": "ES256", "kid": keys.current.kid, "typ": "dc+sd-jwt"},
                               separators=(",", ":")).encode())
    assert error_of(f"{header}.{payload_b64}.{signature_b64}~", keys, clock) == "BAD_SIGNATURE"


def test_a_key_withdrawn_from_the_jwks_after_rotation_is_an_unknown_kid(keys, clock):
    credential = issue_offline_credential(CLAIMS, keys.current, ISSUER, clock.now(), ttl=7 * 86400,
                                          holder_binding=holder_binding(public_jwk(PHONE)))
    keys.rotate()
    clock.advance(hours=23)
    assert verify(present(credential, ["age_over_18"]), keys, clock)["age_over_18"] is True
    clock.advance(hours=2)  # grace over: the old key is no longer published
    assert error_of(present(credential, ["age_over_18"]), keys, clock) == "UNKNOWN_KID"


def test_an_expired_credential_is_rejected(keys, clock):
    credential = issue_offline_credential(CLAIMS, keys.current, ISSUER, clock.now(), ttl=300,
                                          holder_binding=holder_binding(public_jwk(PHONE)))
    text = present(credential, ["age_over_18"])
    clock.advance(290)
    assert verify(text, keys, clock)["age_over_18"] is True
    clock.advance(11)
    assert error_of(text, keys, clock) == "EXPIRED"


def test_a_credential_from_the_future_is_not_yet_valid(keys, clock):
    credential = issue_offline_credential(CLAIMS, keys.current, ISSUER, clock.now() + timedelta(minutes=5), TTL)
    assert error_of(present(credential, ["age_over_18"]), keys, clock) == "NOT_YET_VALID"


def test_another_issuer_is_rejected(credential, keys, clock):
    text = present(credential, ["age_over_18"])
    assert error_of(text, keys, clock, issuer="https://other.example.cn") == "WRONG_ISSUER"
    impostor = issue_offline_credential(CLAIMS, keys.current, "https://other.example.cn", clock.now(), TTL)
    assert error_of(present(impostor, ["age_over_18"]), keys, clock) == "WRONG_ISSUER"


def test_an_access_token_signed_by_the_same_key_is_not_a_voucher(keys, clock):
    token = TokenIssuer(keys, clock, ISSUER, 600).issue("user-1", "session-1", "citizen-app")
    assert error_of(f"{token}~", keys, clock) == "MALFORMED"
    retyped = jwt.encode({"iss": ISSUER, "iat": 1, "exp": 2**40, "_sd": [], "_sd_alg": "sha-256"},
                         keys.current.private_key, algorithm="ES256", headers={"kid": keys.current.kid, "typ": "dc+sd-jwt"})
    assert error_of(f"{retyped}~", keys, clock) == "MALFORMED"  # no `vct`: some other credential


@pytest.mark.parametrize("garbage", [
    "", "~", "garbage", "garbage~", "a.b.c~", "eyJhbGciOiJub25lIn0.e30.~",
    "\u5f20\u4e09~", "x" * 5000,
])
def test_garbage_is_malformed(keys, clock, garbage):
    assert error_of(garbage, keys, clock) == "MALFORMED"


def test_a_bad_disclosure_is_malformed_or_not_in_the_credential(credential, keys, clock):
    text = present(credential, ["age_over_18"])
    token, (disclosure,) = split(text)
    assert error_of(f"{token}~~{disclosure}~", keys, clock) == "MALFORMED"
    assert error_of(f"{token}~{disclosure}~!!!!~", keys, clock) == "DISCLOSURE_NOT_IN_CREDENTIAL"


# -- key binding: the phone's KB-JWT -----------------------------------------------------------

def test_a_presentation_without_a_key_binding_jwt_is_refused(credential, keys, clock):
    text = present(credential, ["age_over_18"])  # the credential as the phone keeps it: a photo of a bearer QR
    assert bound_error_of(text, keys, clock) == "KEY_BINDING_MISSING"
    assert bound_error_of(from_qr_text(to_qr_text(text)), keys, clock) == "KEY_BINDING_MISSING"


def test_a_key_binding_jwt_signed_by_another_key_is_refused(credential, keys, clock):
    text = present(credential, ["age_over_18"])
    thief = ec.generate_private_key(ec.SECP256R1())
    assert error_of(with_kb(text, clock, key=thief), keys, clock) == "KEY_BINDING_INVALID"
    forged = keys.current.private_key  # even the issuer's own key is not the holder's
    assert error_of(with_kb(text, clock, key=forged), keys, clock) == "KEY_BINDING_INVALID"


@pytest.mark.parametrize("header, claims", [
    ({"typ": "JWT"}, {}),  # a JWT the phone signed for something else
    ({}, {"aud": None}),
    ({}, {"nonce": 7}),
    ({}, {"iat": 1.5}),
    ({}, {"sd_hash": None}),
])
def test_a_key_binding_jwt_of_another_type_or_shape_is_refused(credential, keys, clock, header, claims):
    text = present(credential, ["age_over_18"])
    payload = {"iat": int(clock.timestamp()), "aud": AUDIENCE, "nonce": NONCE,
               "sd_hash": b64url(hashlib.sha256(text.encode()).digest()), **claims}
    kb = jwt.encode({k: v for k, v in payload.items() if v is not None}, PHONE, algorithm="ES256",
                    headers={"typ": "kb+jwt", **header})
    assert bound_error_of(text + kb, keys, clock) == "KEY_BINDING_INVALID"
    garbage = text + "eyJhbGciOiJFUzI1NiJ9.e30.AA"
    assert bound_error_of(garbage, keys, clock) == "KEY_BINDING_INVALID"


@pytest.mark.parametrize("digest", ["", "张三", "A" * 43])
def test_a_key_binding_jwt_over_another_digest_is_refused(credential, keys, clock, digest):
    text = present(credential, ["age_over_18"])
    kb = jwt.encode({"iat": int(clock.timestamp()), "aud": AUDIENCE, "nonce": NONCE, "sd_hash": digest}, PHONE,
                    algorithm="ES256", headers={"typ": "kb+jwt"})
    assert bound_error_of(text + kb, keys, clock) == "SD_HASH_MISMATCH"


def test_a_credential_without_a_holder_key_cannot_be_key_bound(keys, clock):
    bearer = issue_offline_credential(CLAIMS, keys.current, ISSUER, clock.now(), TTL)
    assert error_of(present(bearer, ["age_over_18"]), keys, clock) == "KEY_BINDING_INVALID"


def test_another_audience_or_nonce_is_refused(credential, keys, clock):
    shown = present_bound(credential, ["age_over_18"], PHONE, AUDIENCE, NONCE, clock.now())
    assert verify_presentation(shown, keys.jwks(), clock.now(), ISSUER, AUDIENCE, NONCE)["age_over_18"] is True
    assert bound_error_of(shown, keys, clock, audience="cli_other_hotel") == "WRONG_AUDIENCE"
    assert bound_error_of(shown, keys, clock, nonce="n-another-one") == "WRONG_NONCE"


def test_a_stale_or_future_key_binding_jwt_is_refused(credential, keys, clock):
    made = clock.now()
    shown = present_bound(credential, ["age_over_18"], PHONE, AUDIENCE, NONCE, made)
    clock.advance(119)
    assert verify_presentation(shown, keys.jwks(), clock.now(), ISSUER, AUDIENCE, NONCE)["age_over_18"] is True
    clock.advance(2)
    assert bound_error_of(shown, keys, clock) == "KEY_BINDING_STALE"
    ahead = present_bound(credential, ["age_over_18"], PHONE, AUDIENCE, NONCE, clock.now() + timedelta(seconds=61))
    assert bound_error_of(ahead, keys, clock) == "KEY_BINDING_STALE"


def test_a_disclosure_added_or_removed_after_binding_breaks_the_sd_hash(credential, keys, clock):
    shown = present_bound(credential, ["age_over_18", "name_masked"], PHONE, AUDIENCE, NONCE, clock.now())
    token, *disclosures, kb = shown.split("~")
    removed = "~".join([token, disclosures[0], kb])
    added = "~".join([token, *disclosures, credential.disclosures["id_last4"], kb])
    reordered = "~".join([token, *reversed(disclosures), kb])
    for changed in (removed, added, reordered):
        assert bound_error_of(changed, keys, clock) == "SD_HASH_MISMATCH"
        assert from_qr_text(to_qr_text(changed)) == changed  # the QR carries it as shown, to be refused
        assert bound_error_of(from_qr_text(to_qr_text(changed)), keys, clock) == "SD_HASH_MISMATCH"


def test_the_reference_implementation_verifies_our_key_bound_presentation(credential, keys, clock):
    """The OpenWallet reference SD-JWT library (sd-jwt) checks what our phone shows: issuer signature,
    the KB-JWT by the cnf key, aud, nonce and sd_hash."""
    from jwcrypto.jwk import JWK
    from sd_jwt.verifier import SDJWTVerifier

    shown = present_bound(credential, ["age_over_18", "name_masked"], PHONE, AUDIENCE, NONCE, clock.now())
    issuer_key = JWK.from_json(json.dumps(keys.jwks()["keys"][0]))
    verifier = SDJWTVerifier(shown, lambda iss, header: issuer_key, expected_aud=AUDIENCE, expected_nonce=NONCE)
    payload = verifier.get_verified_payload()
    assert (payload["age_over_18"], payload["name_masked"]) == (True, "*三") and "id_last4" not in payload
    with pytest.raises(ValueError, match="audience"):
        SDJWTVerifier(shown, lambda iss, header: issuer_key, expected_aud="cli_other_hotel", expected_nonce=NONCE)


def test_we_verify_a_key_binding_jwt_made_by_the_reference_holder(credential, keys, clock):
    from jwcrypto.jwk import JWK
    from sd_jwt.holder import SDJWTHolder

    holder = SDJWTHolder("~".join([credential.jwt, *credential.disclosures.values(), ""]))
    phone = JWK.from_json(jwt.algorithms.ECAlgorithm.to_jwk(PHONE))
    holder.create_presentation({"age_over_18": True}, NONCE, AUDIENCE, phone, "ES256")
    shown = holder.sd_jwt_presentation
    assert shown.split("~")[-1].count(".") == 2
    claims = verify_presentation(shown, keys.jwks(), clock.now(), ISSUER, AUDIENCE, NONCE)
    assert claims["age_over_18"] is True and "name" not in claims
    assert bound_error_of(shown, keys, clock, nonce="n-another-one") == "WRONG_NONCE"


# -- issuing and presenting ------------------------------------------------------------------

@pytest.mark.parametrize("name", ["iss", "exp", "vct", "cnf", "_sd", "...", ""])
def test_reserved_claim_names_cannot_be_made_disclosable(keys, clock, name):
    with pytest.raises(ValueError):
        issue_offline_credential({name: "x"}, keys.current, ISSUER, clock.now(), TTL)


def test_presenting_a_claim_the_credential_lacks_is_refused(credential):
    with pytest.raises(ValueError, match="nationality"):
        present(credential, ["age_over_18", "nationality"])


def test_holder_binding_is_always_visible_and_survives_the_qr_code(credential, keys, clock):
    shown = present_bound(credential, ["age_over_18"], PHONE, AUDIENCE, NONCE, clock.now())
    assert jwt_parts(shown.split("~")[0])[1]["cnf"] == holder_binding(public_jwk(PHONE))
    qr = to_qr_text(shown)
    assert from_qr_text(qr) == shown
    packed = cbor2.loads(zlib.decompress(b) if (b := base45.b45decode(qr[len(QR_PREFIX):]))[:1] == b"\x78" else b)
    assert packed[0] == 1 and len(packed[5]) == 64 and packed[9][1:3] == [AUDIENCE, NONCE]  # x || y; iat, aud, nonce
    assert verify_presentation(from_qr_text(qr), keys.jwks(), clock.now(), ISSUER, AUDIENCE, NONCE)["age_over_18"]


# -- the QR code -----------------------------------------------------------------------------

@pytest.mark.parametrize("chosen", [[], ["age_over_18"], ["name", "birth_date"], list(CLAIMS)])
def test_the_qr_text_round_trips_and_is_base45_behind_our_prefix(credential, chosen):
    text = present(credential, chosen)
    qr = to_qr_text(text)
    assert qr.startswith("GDIDO1:")
    assert set(qr) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")  # QR alphanumeric mode
    assert len(qr) < len(text)
    assert from_qr_text(qr) == text


def test_a_key_bound_presentation_of_age_over_18_only_fits_qr_version_18_at_level_m(credential, clock):
    text = present_bound(credential, ["age_over_18"], PHONE, AUDIENCE, NONCE, clock.now())
    qr = to_qr_text(text)
    plain = segno.make(text, error="m")
    compressed = segno.make(qr, error="m")
    modules = compressed.symbol_size(border=0)[0]
    print(f"\nage_over_18 only, key-bound: presentation {len(text)} chars → QR v{plain.version} ({plain.mode}); "
          f"QR text {len(qr)} chars → QR v{compressed.version} ({compressed.mode}, {modules} modules)")
    everything = segno.make(to_qr_text(present_bound(credential, list(CLAIMS), PHONE, AUDIENCE, NONCE, clock.now())),
                            error="m")
    print(f"all six claims, key-bound: QR v{everything.version}")
    assert compressed.mode == "alphanumeric"
    assert compressed.version <= 18  # six digests, the issuer's and the phone's signatures, the phone's key
    assert plain.version > compressed.version


def test_text_the_packing_cannot_rebuild_still_round_trips():
    foreign = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiAieCJ9.AAAA~WyJzYWx0IiwgImEiLCAxXQ~"  # JSON with spaces
    assert from_qr_text(to_qr_text(foreign)) == foreign


@pytest.mark.parametrize("scanned", [
    "", "GDHC1:6BFOXN", "GDIDO1:", "GDIDO1:!!!!", "GDIDO1:" + base45.b45encode(b"\x78\x9c garbage").decode(),
    "GDIDO1:" + base45.b45encode(cbor2.dumps([7, "x"])).decode(),
    "GDIDO1:" + base45.b45encode(cbor2.dumps([1, b"k", "iss"])).decode(),
    "GDIDO1:" + base45.b45encode(zlib.compress(cbor2.dumps([0, "~" * 100_000]), 9)).decode(),  # inflates past the limit
])
def test_a_qr_code_that_is_not_ours_is_malformed(scanned):
    with pytest.raises(PresentationError) as caught:
        from_qr_text(scanned)
    assert caught.value.code == "MALFORMED"


# -- the published example ---------------------------------------------------------------------

# RFC 9901 §5.2: an SD-JWT+KB (issuer JWT, four disclosures, KB-JWT), as printed there with its lines joined.
RFC_9901_PRESENTATION = "".join("""
eyJhbGciOiAiRVMyNTYiLCAidHlwIjogImV4YW1wbGUrc2Qtand0In0.eyJfc2QiOiBb
IkNyUWU3UzVrcUJBSHQtbk1ZWGdjNmJkdDJTSDVhVFkxc1VfTS1QZ2tqUEkiLCAiSnpZ
akg0c3ZsaUgwUjNQeUVNZmVadTZKdDY5dTVxZWhabzdGN0VQWWxTRSIsICJQb3JGYnBL
dVZ1Nnh5bUphZ3ZrRnNGWEFiUm9jMkpHbEFVQTJCQTRvN2NJIiwgIlRHZjRvTGJnd2Q1
SlFhSHlLVlFaVTlVZEdFMHc1cnREc3JaemZVYW9tTG8iLCAiWFFfM2tQS3QxWHlYN0tB
TmtxVlI2eVoyVmE1TnJQSXZQWWJ5TXZSS0JNTSIsICJYekZyendzY002R242Q0pEYzZ2
Vks4QmtNbmZHOHZPU0tmcFBJWmRBZmRFIiwgImdiT3NJNEVkcTJ4Mkt3LXc1d1BFemFr
b2I5aFYxY1JEMEFUTjNvUUw5Sk0iLCAianN1OXlWdWx3UVFsaEZsTV8zSmx6TWFTRnpn
bGhRRzBEcGZheVF3TFVLNCJdLCAiaXNzIjogImh0dHBzOi8vaXNzdWVyLmV4YW1wbGUu
Y29tIiwgImlhdCI6IDE2ODMwMDAwMDAsICJleHAiOiAxODgzMDAwMDAwLCAic3ViIjog
InVzZXJfNDIiLCAibmF0aW9uYWxpdGllcyI6IFt7Ii4uLiI6ICJwRm5kamtaX1ZDem15
VGE2VWpsWm8zZGgta284YUlLUWM5RGxHemhhVllvIn0sIHsiLi4uIjogIjdDZjZKa1B1
ZHJ5M2xjYndIZ2VaOGtoQXYxVTFPU2xlclAwVmtCSnJXWjAifV0sICJfc2RfYWxnIjog
InNoYS0yNTYiLCAiY25mIjogeyJqd2siOiB7Imt0eSI6ICJFQyIsICJjcnYiOiAiUC0y
NTYiLCAieCI6ICJUQ0FFUjE5WnZ1M09IRjRqNFc0dmZTVm9ISVAxSUxpbERsczd2Q2VH
ZW1jIiwgInkiOiAiWnhqaVdXYlpNUUdIVldLVlE0aGJTSWlyc1ZmdWVjQ0U2dDRqVDlG
MkhaUSJ9fX0.MczwjBFGtzf-6WMT-hIvYbkb11NrV1WMO-jTijpMPNbswNzZ87wY2uHz
-CXo6R04b7jYrpj9mNRAvVssXou1iw~WyJlbHVWNU9nM2dTTklJOEVZbnN4QV9BIiwgI
mZhbWlseV9uYW1lIiwgIkRvZSJd~WyJBSngtMDk1VlBycFR0TjRRTU9xUk9BIiwgImFk
ZHJlc3MiLCB7InN0cmVldF9hZGRyZXNzIjogIjEyMyBNYWluIFN0IiwgImxvY2FsaXR5
IjogIkFueXRvd24iLCAicmVnaW9uIjogIkFueXN0YXRlIiwgImNvdW50cnkiOiAiVVMi
fV0~WyIyR0xDNDJzS1F2ZUNmR2ZyeU5STjl3IiwgImdpdmVuX25hbWUiLCAiSm9obiJd
~WyJsa2x4RjVqTVlsR1RQVW92TU5JdkNBIiwgIlVTIl0~eyJhbGciOiAiRVMyNTYiLCA
idHlwIjogImtiK2p3dCJ9.eyJub25jZSI6ICIxMjM0NTY3ODkwIiwgImF1ZCI6ICJodH
RwczovL3ZlcmlmaWVyLmV4YW1wbGUub3JnIiwgImlhdCI6IDE3NDg1MzcyNDQsICJzZF
9oYXNoIjogIjBfQWYtMkItRWhMV1g1eWRoX3cyeHp3bU82aU02NkJfMlFDRWFuSTRmVV
kifQ.T3SIus2OidNl41nmVkTZVCKKhOAX97aOldMyHFiYjHm261eLiJ1YiuONFiMN8Ql
CmYzDlBLAdPvrXh52KaLgUQ
""".split())
RFC_9901_CNF = {"jwk": {"kty": "EC", "crv": "P-256", "x": "TCAER19Zvu3OHF4j4W4vfSVoHIP1ILilDls7vCeGemc",
                        "y": "ZxjiWWbZMQGHVWKVQ4hbSIirsVfuecCE6t4jT9F2HZQ"}}
RFC_9901_AUDIENCE, RFC_9901_NONCE, RFC_9901_IAT = "https://verifier.example.org", "1234567890", 1748537244


def test_the_key_binding_check_accepts_the_rfc_9901_example_and_refuses_it_changed():
    from datetime import datetime, timezone

    part, kb = RFC_9901_PRESENTATION[:RFC_9901_PRESENTATION.rindex("~") + 1], RFC_9901_PRESENTATION.rsplit("~", 1)[1]
    assert part.count("~") == 5 and sd_hash(part) == "0_Af-2B-EhLWX5ydh_w2xzwmO6iM66B_2QCEanI4fUY"
    assert jwt_parts(part.split("~")[0])[1]["cnf"] == RFC_9901_CNF
    then = datetime.fromtimestamp(RFC_9901_IAT + 30, timezone.utc)
    check_key_binding(part, kb, RFC_9901_CNF, RFC_9901_AUDIENCE, RFC_9901_NONCE, then)

    def refusal(credential_part=part, cnf=RFC_9901_CNF, audience=RFC_9901_AUDIENCE, nonce=RFC_9901_NONCE, now=then):
        with pytest.raises(PresentationError) as caught:
            check_key_binding(credential_part, kb, cnf, audience, nonce, now)
        return caught.value.code

    dropped = "~".join(part.split("~")[:-2]) + "~"  # the US nationality left out
    assert refusal(credential_part=dropped) == "SD_HASH_MISMATCH"
    assert refusal(cnf=holder_binding(public_jwk(PHONE))) == "KEY_BINDING_INVALID"
    assert refusal(audience="https://other.example.org") == "WRONG_AUDIENCE"
    assert refusal(nonce="0987654321") == "WRONG_NONCE"
    assert refusal(now=then + timedelta(seconds=KB_MAX_AGE)) == "KEY_BINDING_STALE"
