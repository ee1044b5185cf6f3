"""Every code we issue fits a QR code of version 10 at error correction level Q (221 alphanumeric
characters), for any legal name and any set of reasons: health codes, extended and printed-card codes,
converted codes and border passes.

The codes are built as the services build them (`claims_for_holder`, `border_pass_claims`) with the
longest inputs: names of up to 20 characters, with `·`, from every script a name may come in, the
largest reason codes, a partner id of 6 characters. The version is read back with segno, the encoder that
does not draw the PNG; the routes' own QR images, and border passes of the longest names for every
document type and partner, are drawn and read back with zxing-cpp's reader.
"""

from __future__ import annotations

import io
import itertools
import os
import string

import pytest
import segno
import zxingcpp
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, example, given, settings, strategies as st
from PIL import Image

from app import qr
from app.config import Settings
from health_code import codec, render
from health_code.interop.service import BORDER_PASS_PREFIX, DOCUMENT_TYPES, border_pass_claims, verify_border_pass
from health_code.models import HealthStatus
from health_code.rules import load_ruleset
from health_code.service import claims_for_holder
from tests.elderly_mode.elderly_factory import elder
from tests.factories import valid_id_number
from tests.health_code.interop.partners_factory import CONVERSIONS, make_partner, make_partner_admin

CODE = "/api/v1/health-code"

MAX_CHARACTERS = 221  # QR version 10, level Q, alphanumeric mode
ALPHANUMERIC = set(string.digits + string.ascii_uppercase + " $%*+-./:")
KEY = ec.generate_private_key(ec.SECP256R1())
KID = os.urandom(8)
NOW = 1_795_615_200
ISSUER = Settings().health_code.issuer
LONGEST_PARTNER_ID = "CN-GXZ"  # ISO 3166-2, the longest the partner registry accepts
BORDER_AUDIENCES = ("MO", "HK", LONGEST_PARTNER_ID)  # the two border partners, and the longest id one could have
ID_NUMBER = valid_id_number()
REASONS = tuple(sorted(reason.code for reason in load_ruleset().all_reasons()))

# Letters of the scripts a legal name is written in: CJK (basic, extensions A to H, compatibility), Latin
# with diacritics (foreigners' names), Mongolian, Tibetan, Uyghur (Arabic script), Yi, and Cyrillic.
SCRIPTS = st.one_of(
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), st.characters(min_codepoint=0x3400, max_codepoint=0x4DBF),
    st.characters(min_codepoint=0x20000, max_codepoint=0x3134F, categories=["Lo"]),
    st.characters(min_codepoint=0xF900, max_codepoint=0xFAFF, categories=["Lo"]),
    st.characters(min_codepoint=0xC0, max_codepoint=0x24F, categories=["Lu", "Ll"]),
    st.characters(min_codepoint=0x1820, max_codepoint=0x1878), st.characters(min_codepoint=0x0F40, max_codepoint=0x0FBC),
    st.characters(min_codepoint=0x0626, max_codepoint=0x06D5, categories=["Lo"]),
    st.characters(min_codepoint=0xA000, max_codepoint=0xA48C), st.characters(min_codepoint=0x0400, max_codepoint=0x04FF),
)


@st.composite
def legal_names(draw: st.DrawFn) -> str:
    """2 to 20 characters of one or several scripts, parts separated by `·` (or a space, in a Latin name)."""
    letters = draw(st.lists(SCRIPTS, min_size=2, max_size=20))
    separators = draw(st.sets(st.integers(1, len(letters) - 2), max_size=3)) if len(letters) > 2 else set()
    separator = draw(st.sampled_from(["·", " "]))
    return "".join(separator if index in separators else letter for index, letter in enumerate(letters))


NAMES = legal_names()
LONGEST_NAMES = ["𠀀" * 20, "艾" * 9 + "·" + "𱍊" * 10, "Ŵ" * 19 + "Ž", "ᠮ" * 20, "བ" * 19 + "ྼ", "ئ" * 20,
                 "买买提·艾力·阿不都热合曼·吐尔逊尼", "Ærøskøbing-Müller Łukasz Đorđe"]
REASON_SETS = st.sets(st.sampled_from(REASONS)).map(lambda reasons: tuple(sorted(reasons)))
LIFETIMES = st.sampled_from([180, 360, 7 * 24 * 3600, 30 * 24 * 3600])  # a code, extended, printed card, longer


def qr_version(payload: str) -> int:
    """The version segno needs for the text at level Q (its own encoder, not the one that draws the PNG)."""
    return segno.make_qr(payload, error="q", boost_error=False).version


def fits(payload: str) -> None:
    assert len(payload) <= MAX_CHARACTERS, (len(payload), payload)
    assert set(payload) <= ALPHANUMERIC  # alphanumeric mode: 5.5 bits a character
    assert qr_version(payload) <= 10


def health_code(name: str, reasons: tuple[int, ...], lifetime: int = 180, converted: bool = False) -> str:
    claims = claims_for_holder(os.urandom(6), "red", reasons, name, ID_NUMBER, ISSUER, NOW, NOW + lifetime,
                               converted_from=LONGEST_PARTNER_ID if converted else None)
    assert claims.holder is None  # our codes carry no holder tag: anyone scanning could guess name and birth date
    return codec.encode_payload(claims, KEY, KID)


def border_pass(name: str, document_type: str, partner_id: str = LONGEST_PARTNER_ID) -> str:
    number = ID_NUMBER if document_type == "resident_id" else "C12345678"
    claims = border_pass_claims(ISSUER, partner_id, NOW, NOW + 12 * 3600, os.urandom(6), "yellow",
                                codec.masked_name(name), document_type, number)
    return codec.sign_cwt(claims, KEY, KID, BORDER_PASS_PREFIX)


# Computed here alone (no app, database or cache): the same on every backend.
pure = pytest.mark.same_on_every_backend
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pure
@FAST
@given(NAMES, REASON_SETS, LIFETIMES, st.booleans())
@example("𠀀" * 20, REASONS, 30 * 24 * 3600, True)
def test_every_health_code_fits_version_10_at_level_q(name, reasons, lifetime, converted):
    fits(health_code(name, reasons, lifetime, converted))


@pure
@FAST
@given(NAMES, st.sampled_from(sorted(DOCUMENT_TYPES)))
@example("𠀀" * 20, "resident_id")
def test_every_border_pass_fits_version_10_at_level_q(name, document_type):
    fits(border_pass(name, document_type))


@pure
@pytest.mark.parametrize("name", LONGEST_NAMES)
def test_the_longest_names_with_every_combination_of_reasons_fit(name):
    for count in range(len(REASONS) + 1):
        for reasons in itertools.combinations(REASONS, count):
            fits(health_code(name, reasons, 30 * 24 * 3600, converted=True))


@pure
def test_the_old_format_did_not_fit():
    """What the compact format replaced: zlib, the name's stars, reasons as a list and the provenance inline
    made a converted code of a 20-character name with every reason need version 12."""
    import zlib

    import base45
    import cbor2

    hc = {1: os.urandom(6), 2: 2, 3: list(REASONS), 4: "*" * 19 + "𠀀", 5: ["CN-GXZ", os.urandom(8), "vaccinated"]}
    cwt = {1: ISSUER, 4: NOW + 180, 6: NOW, "hc": hc}
    protected = cbor2.dumps({1: -7, 4: KID})
    cose = cbor2.dumps(cbor2.CBORTag(18, [protected, {}, cbor2.dumps(cwt), os.urandom(64)]))
    old = codec.PREFIX + base45.b45encode(zlib.compress(cose, 9)).decode()
    assert qr_version(old) > 10
    fits(health_code("𠀀" * 20, REASONS, converted=True))


# -- the routes' codes, drawn, read back ------------------------------------------------------------

LONGEST_LEGAL_NAME = "阿" * 9 + "·" + "𠀀" * 10  # 20 characters, as the ID system writes a minority name


@pytest.fixture
async def admin(app, clock):
    return await make_partner_admin(clock)


def read_back(png: bytes) -> str:
    """The text and version zxing-cpp's reader finds in a drawn image (the PNG's QR is drawn by its encoder;
    the reader is checked against segno above)."""
    found = zxingcpp.read_barcode(Image.open(io.BytesIO(png)).convert("L"))
    assert found is not None and found.ec_level == "Q"
    assert int(found.extra["Version"]) <= 10
    return found.text


def fits_when_drawn(payload: str) -> None:
    """Fits by segno's count, and the drawn QR reads back whole with zxing-cpp, version 10 or less."""
    fits(payload)
    assert read_back(render.render_png(payload, "red", "红码")) == payload
    assert qr.qr_version(payload) == qr_version(payload)  # zxing-cpp's encoder agrees with segno


@pure
@pytest.mark.parametrize("partner_id", BORDER_AUDIENCES)
@pytest.mark.parametrize("document_type", sorted(DOCUMENT_TYPES))
@pytest.mark.parametrize("name", LONGEST_NAMES)
def test_border_passes_of_the_longest_names_read_back_at_version_10(name, document_type, partner_id):
    """A border pass of each longest name, for each partner and each document, drawn as a code is drawn:
    the partner's check accepts it, and the reader finds the whole pass at level Q, version 10 or less."""
    payload = border_pass(name, document_type, partner_id)
    verify_border_pass(payload, lambda kid: KEY.public_key() if kid == KID else None, NOW, partner_id)
    fits_when_drawn(payload)


@pytest.fixture
async def worst_case_citizen(app, client, sms):
    """An elder with the longest legal name and, on their status, every reason at once (no rule gives them
    all together: written in the status row, before any code is issued)."""
    citizen = await elder(client, sms, name=LONGEST_LEGAL_NAME, id_number=ID_NUMBER)
    await app.ctx.services.health.status(citizen.id)
    await HealthStatus.filter(citizen_id=citizen.id).update(colour="red", reasons=list(REASONS), next_change_at=None)
    return citizen


async def test_every_route_issues_codes_that_fit_and_read_back(app, client, admin, worst_case_citizen):
    """The health code, its elderly-mode extension, the printed card, a converted code and a border pass of
    the citizen with the longest name and every reason: each drawn QR reads back, version 10 or less."""
    headers = worst_case_citizen.headers
    shown = (await client.get(CODE, headers=headers)).json()["payload"]
    extended = (await client.post("/api/v1/health-code/extension", headers=headers)).json()["payload"]
    card = await client.get("/api/v1/elderly/print-card", headers=headers)
    assert card.status_code == 200, card.text
    printed = read_back(card.content)
    mo = await make_partner(client, admin, "CN-GXZ", formats=("GDHC1",))
    source = mo.issue_code("green", "*𠀀", holder=(LONGEST_LEGAL_NAME, "1990-03-07"))
    conversion = await client.post(CONVERSIONS, headers=headers, json={"code": source.payload, "consent": True})
    assert conversion.status_code == 201, conversion.text
    converted = conversion.json()["payload"]
    passed = await client.post("/api/v1/border-passes", headers=headers, json={"partner": "CN-GXZ"})
    assert passed.status_code == 201, passed.text
    border = passed.json()["payload"]

    for payload in (shown, extended, printed, converted, border):
        fits_when_drawn(payload)
    for payload in (shown, extended, printed, converted):
        claims = codec.unpack(payload)[1]["hc"]
        assert codec.reasons_of(claims[3]) == REASONS and claims[4] == "*𠀀" and 6 not in claims  # no holder tag
    assert codec.unpack(converted)[1]["hc"][5] == "CN-GXZ"  # the region it was converted from
