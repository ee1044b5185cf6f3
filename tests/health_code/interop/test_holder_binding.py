"""Holder binding (持有人绑定) of `GDHC1` codes: a code is never converted for the wrong person.

A partner binds its code to the holder's legal name and birth date under the holder key it shares with
us (health_code.holder); converting checks the code's tag against the citizen presenting it. These properties drive the decision the
conversion takes (format adapter → subject match) with generated people: the code of one is tried by
another who shares as much as possible with them (the last character, the surname, the birth date).
"""

from __future__ import annotations

import os
from datetime import date, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, example, given, settings, strategies as st

from health_code import codec
from health_code.holder import holder_tag, holds, standard_name, standard_names
from health_code.interop.formats import OurFormat, TrustedKey
from health_code.interop.subject import subject_matches
from tests.factories import valid_id_number

KEY = ec.generate_private_key(ec.SECP256R1())
KID = os.urandom(8)
NOW = 1_795_615_200
TRUSTED = TrustedKey(KID, KEY.public_key(), "MO")
HOLDER_KEY = os.urandom(32)  # the secret MO and we share
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SURNAMES = ["张", "章", "王", "李", "欧阳", "单", "吕", "長", "张"]
GIVEN = ["三", "山", "叁", "珊", "小龙", "娜娜", "乐", "行", "𠀀三", "三·艾力"]
PEOPLE_NAMES = st.builds(lambda family, given: family + given, st.sampled_from(SURNAMES), st.sampled_from(GIVEN))
BIRTH_DATES = st.dates(date(1920, 1, 1), date(2025, 12, 31))


def id_number(born: date) -> str:
    return valid_id_number(birth=born.strftime("%Y%m%d"))


def partner_code(name: str, born: date | None, holder_key: bytes = HOLDER_KEY) -> str:
    """A code of the partner MO for the holder (name, birth date), bound when the birth date is known."""
    code_id = os.urandom(6)
    tag = holder_tag(holder_key, code_id, standard_name(name), born.isoformat()) if born else None
    claims = codec.CodeClaims(code_id, "green", (1,), codec.masked_name(name), "MO", NOW, NOW + 180, holder=tag)
    return codec.sign_cwt(claims.cwt(), KEY, KID, codec.PREFIX)


def converts_for(code: str, name: str, born: date, holder_keys: tuple[bytes, ...] = (HOLDER_KEY,)) -> bool | None:
    """What conversion decides: the code checked as a partner's, then its holder against the citizen."""
    adapter = OurFormat()
    decoded = adapter.decode(code)
    adapter.verify(decoded, lambda kid: TRUSTED if kid == KID else None, NOW)
    status = adapter.to_status(decoded)
    return subject_matches(status.subject, name, id_number(born), status.code_id, holder_keys)


def same_person_by_the_code(holder: tuple[str, date], citizen: tuple[str, date]) -> bool:
    """What the tag can tell (as a DCC's name and birth date): the same birth date and a spelling in common."""
    return holder[1] == citizen[1] and standard_name(holder[0]) in standard_names(citizen[0])


@FAST
@given(PEOPLE_NAMES, BIRTH_DATES, PEOPLE_NAMES, st.integers(-1, 1))
@example("张三", date(1990, 3, 7), "王三", 0)  # the same masked name "*三", the same birthday
@example("张三", date(1990, 3, 7), "张三", 1)  # the same name, born a day later
@example("张三", date(1990, 3, 7), "张山", 0)
def test_a_code_is_never_converted_for_the_wrong_person(holder_name, born, citizen_name, days_apart):
    citizen_born = born + timedelta(days=days_apart)
    code = partner_code(holder_name, born)

    matched = converts_for(code, citizen_name, citizen_born)

    assert matched is not None
    if matched:
        assert same_person_by_the_code((holder_name, born), (citizen_name, citizen_born))
    if citizen_name == holder_name and citizen_born == born:
        assert matched  # and the holder is never refused


@FAST
@given(PEOPLE_NAMES, BIRTH_DATES)
def test_the_holder_converts_their_own_code_whatever_reading_the_partner_used(name, born):
    assert standard_name(name) in standard_names(name)  # what an issuer spells is among what is tried
    for spelling in standard_names(name)[:8]:
        code_id = os.urandom(6)
        tag = holder_tag(HOLDER_KEY, code_id, spelling, born.isoformat())
        assert holds(tag, [HOLDER_KEY], code_id, name, id_number(born))


@FAST
@given(PEOPLE_NAMES, BIRTH_DATES)
def test_without_the_shared_key_a_tag_tells_nothing(name, born):
    """A scanner, or another partner, holds another key (or none): the right guess of name and birth date
    does not match, so the tag cannot be used to find them; the partner's old key still matches while
    both are accepted."""
    code = partner_code(name, born)
    assert converts_for(code, name, born, holder_keys=(os.urandom(32),)) is False
    assert converts_for(code, name, born, holder_keys=(os.urandom(32), HOLDER_KEY)) is True
    assert converts_for(partner_code(name, born, holder_key=os.urandom(32)), name, born) is False


@FAST
@given(PEOPLE_NAMES, BIRTH_DATES)
def test_a_code_without_a_tag_binds_no_one(name, born):
    """An older code carries only the masked name: nothing to convert it by, for anyone."""
    assert converts_for(partner_code(name, None), name, born) is None


def test_a_tag_does_not_carry_the_id_number_or_the_name():
    code = partner_code("张三", date(1990, 3, 7))
    claims = codec.unpack(code)[1]
    assert len(claims["hc"][6]) == 6 and claims["hc"][4] == "*三"
    text = repr(claims)
    assert "ZHANGSAN" not in text and "1990" not in text and "张" not in text


def test_the_tag_is_salted_with_the_code_id():
    """The same holder gets a different tag in every code: codes cannot be linked by their tags."""
    tags = {holder_tag(HOLDER_KEY, code_id, "ZHANGSAN", "1990-03-07") for code_id in (b"\x01" * 6, b"\x02" * 6)}
    assert len(tags) == 2


def test_a_holder_key_is_long_enough():
    with pytest.raises(ValueError):
        holder_tag(b"short", b"\x01" * 6, "ZHANGSAN", "1990-03-07")


def test_standardised_names():
    assert standard_names("张三") == ["ZHANGSAN"] and standard_names("張三") == ["ZHANGSAN"]
    assert "SHANTIANFANG" in standard_names("单田芳") and standard_name("吕布") == "LUBU"
    assert standard_name("买买提·艾力") == "MAIMAITIAILI"
    assert standard_names("Élodie Müller") == ["ELODIEMULLER", "ELODIEMUELLER"]
    assert standard_name("Søren Łukasz") == "SOERENLUKASZ"
    assert standard_name("ᠮᠣᠩᠭᠣᠯ") == "ᠮᠣᠩᠭᠣᠯ"  # another script: as it is, separators left out


def test_a_citizen_without_a_birth_date_is_never_the_holder():
    code_id = os.urandom(6)
    tag = holder_tag(HOLDER_KEY, code_id, "ZHANGSAN", "1990-03-07")
    assert not holds(tag, [HOLDER_KEY], code_id, "张三", "")
    assert not holds(tag, [HOLDER_KEY], code_id, "张三", "44010619901399123X")  # no such date
