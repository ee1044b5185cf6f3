"""app.security.jws against PyJWT: the client-JWT check reads a token once by hand, and must accept and
refuse exactly what PyJWT's three calls (header, unverified claims, verified decode) did."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings, strategies as st

from app.security import jws

KEY = ec.generate_private_key(ec.SECP256R1())
OTHER = ec.generate_private_key(ec.SECP256R1())
AUD = "https://gov-app.example.cn/admin"
REQUIRE = ("iss", "iat", "jti", "aud")
LEEWAY = 5


def b64(data: Any) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims(**changes: Any) -> dict[str, Any]:
    base = {"iss": "c_1", "iat": int(time.time()), "jti": "j-1", "aud": AUD}
    return {k: v for k, v in {**base, **changes}.items() if v is not ...}


def signed(payload: dict[str, Any], headers: dict[str, Any] | None = None, key: Any = KEY) -> str:
    return jwt.encode(payload, key, algorithm="ES256", headers={"kid": "1", **(headers or {})})


def by_pyjwt(token: str) -> tuple[str, Any]:
    """What the check did with PyJWT: refused as malformed, refused by the verified decode (its class), or the claims."""
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return "malformed", None
    try:
        verified = jwt.decode(token, KEY.public_key(), algorithms=["ES256"], audience=AUD,
                              options={"require": list(REQUIRE), "verify_iat": False}, leeway=LEEWAY)
    except jwt.PyJWTError as error:
        return type(error).__name__, (header, unverified)
    return "valid", (header, verified)


def by_hand(token: str) -> tuple[str, Any]:
    try:
        parsed = jws.read(token)
    except jwt.PyJWTError:
        return "malformed", None
    try:
        jws.verify_es256(parsed, KEY.public_key())
        jws.check_claims(parsed.claims, audience=AUD, require=REQUIRE, now=time.time(), leeway=LEEWAY)
    except jwt.PyJWTError as error:
        return type(error).__name__, (parsed.header, parsed.claims)
    return "valid", (parsed.header, parsed.claims)


def tokens() -> dict[str, str]:
    now = int(time.time())
    good = signed(claims())
    head, body, signature = good.split(".")
    return {
        "valid": good,
        "valid, aud a list": signed(claims(aud=["other", AUD])),
        "valid, exp ahead": signed(claims(exp=now + 60)),
        "valid, exp within the leeway": signed(claims(exp=now - 2)),
        "valid, a header with padding": f"{head}{'=' * (-len(head) % 4)}.{body}.{signature}",
        "expired": signed(claims(exp=now - 60)),
        "exp as text of a number": signed(claims(exp=str(now + 60))),
        "exp not a number": signed(claims(exp="soon")),
        "nbf ahead": signed(claims(nbf=now + 60)),
        "nbf not a number": signed(claims(nbf=[1])),
        "another audience": signed(claims(aud="https://gov-app.example.cn/partner")),
        "aud empty": signed(claims(aud="")),
        "aud a number": signed(claims(aud=7)),
        "aud a list with a number": signed(claims(aud=[AUD, 7])),
        "no aud": signed(claims(aud=...)),
        "no jti": signed(claims(jti=...)),
        "jti null": signed(claims(jti=None)),
        "jti a number": signed(claims(jti=5)),
        "sub a number": signed(claims(sub=5)),
        "no iat": signed(claims(iat=...)),
        "signed by another key": signed(claims(), key=OTHER),
        "claims changed after signing": f"{head}.{b64(claims(iss='c_2'))}.{signature}",
        "signature cut short": f"{head}.{body}.{signature[:-4]}",
        "signature of 65 bytes": f"{head}.{body}.{b64(base64.urlsafe_b64decode(signature + '==') + b'0')}",
        "stray bits in the signature's last character": f"{head}.{body}.{signature[:-1]}{chr(ord(signature[-1]) ^ 1)}",
        "alg none": f"{b64({'alg': 'none', 'kid': '1'})}.{body}.",
        "alg HS256": f"{b64({'alg': 'HS256', 'kid': '1'})}.{body}.{signature}",
        "kid a number": f"{b64({'alg': 'ES256', 'kid': 1})}.{body}.{signature}",
        "crit b64, present": f"{b64({'alg': 'ES256', 'kid': '1', 'crit': ['b64'], 'b64': True})}.{body}.{signature}",
        "crit unknown": f"{b64({'alg': 'ES256', 'kid': '1', 'crit': ['exp']})}.{body}.{signature}",
        "crit empty": f"{b64({'alg': 'ES256', 'kid': '1', 'crit': []})}.{body}.{signature}",
        "b64 false": f"{b64({'alg': 'ES256', 'kid': '1', 'crit': ['b64'], 'b64': False})}..{signature}",
        "header a list": f"{b64(['ES256'])}.{body}.{signature}",
        "claims a list": f"{head}.{b64([1, 2])}.{signature}",
        "claims not JSON": f"{head}.{b64(b'{nope')}.{signature}",
        "three '=' of padding": f"{head}===.{body}.{signature}",
        "a character outside base64url": f"{head}.{body[:-1]}+.{signature}",
        "two segments": f"{head}.{body}",
        "one segment": head,
        "empty": "",
        "four segments": f"{good}.{signature}",
    }


@pytest.mark.parametrize("name", list(tokens()))
def test_the_token_gets_what_pyjwt_gave_it(name):
    token = tokens()[name]
    assert by_hand(token) == by_pyjwt(token), name


def test_the_cases_cover_acceptance_and_each_kind_of_refusal():
    """The cases above would not show a difference if they were all refused the same way."""
    outcomes = {by_pyjwt(token)[0] for token in tokens().values()}
    assert {"valid", "malformed", "InvalidSignatureError", "ExpiredSignatureError", "InvalidAudienceError",
            "MissingRequiredClaimError", "ImmatureSignatureError", "DecodeError", "InvalidJTIError",
            "InvalidSubjectError", "InvalidAlgorithmError"} <= outcomes


@settings(max_examples=300, deadline=None)
@given(position=st.integers(min_value=0), replacement=st.sampled_from("AQgw_-=.+/ \x00é"))
def test_a_token_changed_in_any_one_place_gets_what_pyjwt_gave_it(position, replacement):
    good = signed(claims(exp=int(time.time()) + 60))
    at = position % len(good)
    changed = good[:at] + replacement + good[at + 1:]
    assert by_hand(changed) == by_pyjwt(changed)


@settings(max_examples=200, deadline=None)
@given(header=st.dictionaries(st.sampled_from(["alg", "kid", "crit", "b64", "typ"]),
                              st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=4),
                                        st.lists(st.sampled_from(["b64", "exp", 1]), max_size=2))),
       payload=st.dictionaries(st.sampled_from(["iss", "iat", "jti", "aud", "exp", "nbf", "sub"]),
                               st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**40, max_value=2**40),
                                         st.sampled_from([AUD, "x", "", "123"]), st.lists(st.sampled_from([AUD, 1]),
                                                                                          max_size=2))))
def test_any_header_and_claims_signed_with_the_key_get_what_pyjwt_gave_them(header, payload):
    head, body = b64(header), b64(payload)
    signature = jwt.algorithms.ECAlgorithm(jwt.algorithms.ECAlgorithm.SHA256).sign(f"{head}.{body}".encode(), KEY)
    token = f"{head}.{body}.{b64(signature)}"
    assert by_hand(token) == by_pyjwt(token)
