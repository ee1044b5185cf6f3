"""Property tests for every codec: what is encoded decodes to itself, and arbitrary input fails only
with our declared errors (never an IndexError, a RecursionError or a crash in a library).

Codecs: the health code (health_code/codec.py: CodeClaims ⇄ GDHC1: text), the ID-voucher token
(GDID1: online token; the offline SD-JWT presentation and its QR packing in app/vouchers/offline.py),
the EU DCC adapter (health_code/interop/dcc.py), the resident ID-number validator (app/accounts/rules.py).
"""

from __future__ import annotations

import json
import zlib
from datetime import date, datetime, timezone

import base45
import cbor2
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, assume, example, given, settings, strategies as st

from app.accounts.rules import PROVINCE_CODES, id_check_char, normalize_id_number
from app.security.keys import SigningKey, b64url, kid_bytes_for
from app.vouchers import offline
from health_code import codec
from health_code.interop.dcc import EuDccFormat
from tests.health_code.interop.dcc_signing import DAY, ISSUE, cwt, hcert, lab_test, make_signer, recovery, sign_hc1, vaccination

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEY = ec.generate_private_key(ec.SECP256R1())
KID = kid_bytes_for(KEY.public_key())
PHONE = ec.generate_private_key(ec.SECP256R1())  # a holder's phone key, for key-bound offline presentations
NOW = 1_795_615_200


def finder(kid: bytes):
    return KEY.public_key() if kid == KID else None


# -- the health code ---------------------------------------------------------------------------

claims_strategy = st.builds(
    codec.CodeClaims,
    code_id=st.binary(min_size=6, max_size=6),
    colour=st.sampled_from(codec.COLOURS),
    reasons=st.lists(st.sampled_from([1, 2, 3, 11, 12, 13, 21, 22]), max_size=4, unique=True).map(sorted).map(tuple),
    subject_masked=st.text(max_size=12),
    issuer=st.sampled_from(["CN-GD", "CN-GD-SZ"]),
    issued_at=st.integers(NOW - 100, NOW),
    expires_at=st.integers(NOW + 1, NOW + 180),
    converted_from=st.none() | st.sampled_from(["", "MO", "HK", "CN-GX"]),
    holder=st.none() | st.binary(min_size=6, max_size=6),
)


@FAST
@given(claims_strategy)
def test_a_health_code_decodes_to_exactly_the_claims_it_was_made_from(claims):
    payload = codec.encode_payload(claims, KEY, KID)
    assert payload.startswith(codec.PREFIX) and payload.isascii()
    assert codec.verify_payload(payload, finder, NOW) == claims


HEALTH_CODE_ERRORS = {"BAD_PREFIX", "BAD_ENCODING", "BAD_COMPRESSION", "BAD_COSE", "UNKNOWN_KID", "BAD_SIGNATURE",
                      "EXPIRED", "NOT_YET_VALID", "BAD_CLAIMS", "UNSUPPORTED_ALGORITHM"}


def only_declared_errors(decode, errors: set[str], text) -> None:
    try:
        decode(text)
    except codec.CodeError as error:
        assert error.code in errors, error.code


@FAST
@given(st.text(max_size=300))
def test_any_text_is_refused_with_a_declared_health_code_error(text):
    only_declared_errors(lambda t: codec.verify_payload(t, finder, NOW), HEALTH_CODE_ERRORS, text)
    only_declared_errors(lambda t: codec.verify_payload(t, finder, NOW), HEALTH_CODE_ERRORS, codec.PREFIX + text)


@FAST
@given(st.lists(st.one_of(claims_strategy.map(lambda c: codec.encode_payload(c, KEY, KID)),
                          claims_strategy.map(lambda c: codec.encode_payload(c, KEY, KID)[:-3] + "AAA"),
                          st.text(max_size=40).map(lambda t: codec.PREFIX + t)), max_size=12))
def test_in_a_batch_each_code_gets_the_answer_it_gets_alone(texts):
    def answer(outcome):
        return outcome.code if isinstance(outcome, codec.CodeError) else outcome

    together = codec.verify_payloads(texts, finder, NOW)
    assert [answer(o) for o in together] == [answer(codec.verify_payloads([t], finder, NOW)[0]) for t in texts]


layers = st.one_of(
    st.binary(max_size=300),  # not zlib
    st.binary(max_size=300).map(lambda b: zlib.compress(b)),  # zlib of anything
    st.recursive(st.none() | st.booleans() | st.integers() | st.binary(max_size=40) | st.text(max_size=20),
                 lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.integers(-10, 10) | st.text(max_size=3),
                                                                               inner, max_size=5),
                 max_leaves=20).map(lambda v: zlib.compress(cbor2.dumps(v))),  # zlib of any CBOR
    st.tuples(st.binary(max_size=30), st.dictionaries(st.integers(0, 5), st.integers(), max_size=2),
              st.binary(max_size=60), st.binary(max_size=70)).map(
        lambda parts: zlib.compress(cbor2.dumps(cbor2.CBORTag(18, list(parts))))),  # COSE-shaped, anything inside
)


@FAST
@given(layers)
def test_any_bytes_behind_the_prefix_are_refused_with_a_declared_error(raw):
    text = codec.PREFIX + base45.b45encode(raw).decode("ascii")
    only_declared_errors(lambda t: codec.verify_payload(t, finder, NOW), HEALTH_CODE_ERRORS, text)


# -- the ID-voucher token (online, one-time) -----------------------------------------------------

VOUCHER_PREFIX = "GDID1:"


@FAST
@given(st.binary(min_size=16, max_size=16), st.integers(NOW - 100, NOW), st.integers(30, 180))
def test_a_voucher_token_decodes_to_its_claims(token_id, iat, ttl):
    claims = {codec.CWT_ISS: "CN-GD", codec.CWT_IAT: iat, codec.CWT_EXP: iat + ttl, 7: token_id}
    token = codec.sign_cwt(claims, KEY, KID, VOUCHER_PREFIX)
    assert codec.verify_cwt(token, finder, VOUCHER_PREFIX) == claims
    # A voucher token is never a health code, nor the other way round.
    only_declared_errors(lambda t: codec.verify_payload(t, finder, NOW), {"BAD_PREFIX"}, token)


@FAST
@given(st.text(max_size=200) | layers.map(lambda raw: VOUCHER_PREFIX + base45.b45encode(raw).decode()))
def test_any_voucher_token_text_is_refused_with_a_declared_error(text):
    only_declared_errors(lambda t: codec.verify_cwt(t, finder, VOUCHER_PREFIX), HEALTH_CODE_ERRORS, text)


# -- the offline ID presentation (SD-JWT) and its QR packing ------------------------------------

SIGNING = SigningKey(kid=b64url(KID), kid_bytes=KID, private_key=KEY, created_at=datetime.now(timezone.utc))
claim_values = st.one_of(st.text(max_size=20), st.integers(-10**6, 10**6), st.booleans())
claim_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12).filter(
    lambda n: n not in offline.RESERVED_NAMES)


def jwks() -> dict:
    import json

    import jwt

    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(KEY.public_key()))
    return {"keys": [{**jwk, "kid": b64url(KID), "alg": "ES256", "use": "sig"}]}


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(claim_names, claim_values, min_size=1, max_size=5), st.data())
def test_an_offline_presentation_discloses_exactly_what_was_chosen(claims, data):
    now = datetime.fromtimestamp(NOW, timezone.utc)
    phone_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(PHONE.public_key()))
    credential = offline.issue_offline_credential(claims, SIGNING, "CN-GD", now, ttl=600,
                                                  holder_binding=offline.holder_binding(phone_jwk))
    chosen = data.draw(st.sets(st.sampled_from(sorted(claims)), min_size=1))
    text = offline.present_bound(credential, chosen, PHONE, "cli_desk", "nonce-1", now)
    assert offline.from_qr_text(offline.to_qr_text(text)) == text
    verified = offline.verify_presentation(text, jwks(), now, "CN-GD", "cli_desk", "nonce-1")
    assert {k: v for k, v in verified.items() if k in claims} == {k: claims[k] for k in chosen}


@FAST
@given(st.text(max_size=300))
def test_any_offline_text_is_refused_with_a_declared_error(text):
    now = datetime.fromtimestamp(NOW, timezone.utc)
    for attempt in (lambda: offline.verify_presentation(text, jwks(), now, "CN-GD", "cli_desk", "nonce-1"),
                    lambda: offline.from_qr_text(text)):
        try:
            attempt()
        except offline.PresentationError:
            pass


# What a scanned GDIDO1: QR decodes through: base45, then zlib (when the first byte is 0x78), then CBOR
# of [0, presentation text] or of the packed form [1, kid bytes, iss, iat, exp, cnf, [digest bytes],
# signature, [[salt bytes, name, value] or JSON bytes, ...], (kb)]. Each field is either of the type the packer
# writes or any CBOR value (tags with a meaning to cbor2 included: dates, bignums, shared references, sets).
cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(-2**80, 2**80) | st.floats() | st.binary(max_size=40)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.integers(-10, 10) | st.text(max_size=3), inner, max_size=5)
    | st.builds(cbor2.CBORTag, st.sampled_from([0, 1, 2, 3, 4, 5, 28, 29, 30, 35, 36, 37, 52, 54, 100, 258, 260, 261,
                                               1004, 55799]) | st.integers(0, 2**32), inner),
    max_leaves=20)


def either(typed):
    return st.one_of(typed, cbor_values)


packed_disclosures = st.lists(either(st.tuples(st.binary(min_size=16, max_size=16), st.text(max_size=12), cbor_values)
                                     .map(list) | st.binary(max_size=60)), max_size=4)
packed_forms = st.tuples(
    either(st.just(1)), either(st.just(KID) | st.binary(max_size=40)), either(st.just("CN-GD") | st.text(max_size=12)), either(st.integers(NOW - 100, NOW)),
    either(st.integers(NOW, NOW + 600)), either(st.none() | st.dictionaries(st.text(max_size=5), cbor_values, max_size=3)),
    either(st.lists(either(st.binary(min_size=32, max_size=32)), max_size=4)), either(st.binary(max_size=80)),
    either(packed_disclosures),
).map(list).flatmap(lambda form: st.sampled_from([  # also a field short, or the KB-JWT's [iat, aud, nonce, signature]
    form, form[:-1], [*form, None], [*form, [NOW, "cli_desk", "nonce-1", bytes(64)]], [*form, None, None]]))
text_forms = st.tuples(either(st.just(0)), either(st.text(max_size=200))).map(list)
offline_layers = st.one_of(
    st.binary(max_size=300),  # not zlib, nor CBOR of ours
    st.binary(max_size=300).map(lambda b: zlib.compress(b)),  # zlib of anything
    cbor_values.map(lambda v: zlib.compress(cbor2.dumps(v))),  # zlib of any CBOR
    (packed_forms | text_forms).map(cbor2.dumps),  # the two forms, uncompressed
    (packed_forms | text_forms).map(lambda form: zlib.compress(cbor2.dumps(form))),  # and compressed
)


@FAST
@given(offline_layers)
@example(cbor2.dumps(cbor2.CBORTag(36, "From: x\n\n")))  # cbor2 decodes tag 36 to an email.message.Message
def test_any_bytes_behind_the_offline_qr_prefix_are_refused_with_a_declared_error(raw):
    now = datetime.fromtimestamp(NOW, timezone.utc)
    text = offline.QR_PREFIX + base45.b45encode(raw).decode("ascii")
    try:
        presentation = offline.from_qr_text(text)
        offline.verify_presentation(presentation, jwks(), now, "CN-GD", "cli_desk", "nonce-1")
    except offline.PresentationError:
        return
    raise AssertionError(f"accepted: {text!r}")  # nothing here is signed by KEY


# -- the EU DCC adapter --------------------------------------------------------------------------

SIGNER = make_signer()
DCC = EuDccFormat()
certificates = st.sampled_from([vaccination(), vaccination(dn=1, sd=2), lab_test(), recovery()])


@settings(max_examples=40, deadline=None)
@given(certificates, st.integers(ISSUE - DAY, ISSUE + DAY), st.booleans(), st.booleans())
def test_a_dcc_decodes_to_what_was_signed(entry, iat, tagged, cwt_tagged):
    claims = cwt(hcert(entry), iat=iat, exp=iat + 86400)
    text = sign_hc1(claims, SIGNER, tag=tagged, cwt_tag=cwt_tagged)
    decoded = DCC.decode(text)
    assert decoded.claims == claims and decoded.kid == SIGNER.kid
    assert (decoded.issuer, decoded.issued_at, decoded.expires_at) == ("XA", iat, iat + 86400)
    assert DCC.verify(decoded, SIGNER.lookup, iat + 10) == SIGNER.trusted


DCC_ERRORS = HEALTH_CODE_ERRORS | {"KID_MISMATCH", "KEY_REVOKED", "KEY_NOT_VALID", "KEY_USAGE"}


@FAST
@given(st.text(max_size=200) | layers.map(lambda raw: "HC1:" + base45.b45encode(raw).decode()))
def test_any_text_is_refused_by_the_dcc_adapter_with_a_declared_error(text):
    try:
        decoded = DCC.decode(text)
        DCC.verify(decoded, SIGNER.lookup, NOW)
        DCC.to_status(decoded)
    except codec.CodeError as error:
        assert error.code in DCC_ERRORS, error.code


# -- the resident ID number (GB 11643) -----------------------------------------------------------

id_numbers = st.builds(
    lambda province, rest, born, sequence: (province + rest, born, sequence),
    st.sampled_from(sorted(PROVINCE_CODES)), st.from_regex(r"\A[0-9]{2}(?<!00)[0-9]{2}\Z", fullmatch=True),
    st.dates(date(1900, 1, 1), date(2026, 11, 30)), st.from_regex(r"\A[0-9]{3}\Z", fullmatch=True),
)


@FAST
@given(id_numbers)
def test_a_well_formed_id_number_is_accepted_and_normalised_to_itself(parts):
    region, born, sequence = parts
    assume(region[2:6] != "0000")
    first17 = region + born.strftime("%Y%m%d") + sequence
    number = first17 + id_check_char(first17)
    today = date(2026, 12, 1)
    assert normalize_id_number(number, today) == number
    assert normalize_id_number(f"  {number.lower()} ", today) == number
    wrong = first17 + next(c for c in "0123456789X" if c != number[-1])
    assert normalize_id_number(wrong, today) is None  # one changed check character is always caught


@FAST
@given(st.text(max_size=40))
def test_any_text_is_a_valid_id_number_or_none(text):
    result = normalize_id_number(text, date(2026, 12, 1))
    assert result is None or (len(result) == 18 and result[:17].isdigit() and id_check_char(result[:17]) == result[17])
