"""Properties of the identity-document rules (accounts.documents): for each document type, every generated valid
number passes, and every single-character corruption, checksum change or length change fails, naming the rule it
broke. A rule is predicted here from the number's parts (not by calling the rules under test).

Documents without a check character (the permits) cannot catch a digit swapped for another digit: for them the
corruptions are those their format can see (a letter for a digit, another prefix, another length)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings, strategies as st

from app.accounts import documents as d
from app.accounts.documents import DocumentRejected

TODAY = date(2024, 6, 1)
DIGITS = "0123456789"
GB_CHARS = DIGITS + "X"
FOREIGN_NUMERIC = sorted(code for code in d.NUMERIC_TO_2 if (d.alpha3_of_numeric(code) or "CHN") not in d.NOT_FOREIGN)
FOREIGN_ALPHA3 = sorted(code for code in d.ALPHA3_TO_2 if code not in d.NOT_FOREIGN)
MAINLAND = sorted(d.MAINLAND_PROVINCES)
RESIDENT = sorted(d.RESIDENT_PROVINCES)
EXAMPLES = settings(max_examples=60, deadline=None)


def rule_of(call) -> str | None:
    try:
        call()
    except DocumentRejected as rejected:
        return rejected.rule
    return None


birth_dates = st.dates(min_value=date(1900, 1, 1), max_value=TODAY)
sequences = st.text(DIGITS, min_size=3, max_size=3)


def gb(first17: str) -> str:
    return first17 + d.gb11643_check_char(first17)


@st.composite
def resident_ids(draw) -> str:
    region = draw(st.sampled_from(RESIDENT)) + draw(st.text(DIGITS, min_size=4, max_size=4).filter(lambda s: s != "0000"))
    return gb(region + draw(birth_dates).strftime("%Y%m%d") + draw(sequences))


@st.composite
def residence_permits(draw) -> str:
    return gb(draw(st.sampled_from(d.RESIDENCE_PERMIT_PREFIXES)) + draw(birth_dates).strftime("%Y%m%d") + draw(sequences))


@st.composite
def permanent_2023(draw) -> str:
    head = "9" + draw(st.sampled_from(MAINLAND)) + draw(st.sampled_from(FOREIGN_NUMERIC))
    return gb(head + draw(birth_dates).strftime("%Y%m%d") + draw(sequences))


@st.composite
def permanent_2004(draw) -> str:
    born = draw(st.dates(min_value=TODAY - timedelta(days=99 * 365), max_value=TODAY))
    body = draw(st.sampled_from(FOREIGN_ALPHA3)) + draw(st.sampled_from(MAINLAND)) + born.strftime("%y%m%d") \
        + draw(sequences)
    return body + d.icao_check_digit(body)


hk_macao_permits = st.builds(lambda p, n, r: p + n + r, st.sampled_from("HM"), st.text(DIGITS, min_size=8, max_size=8),
                             st.sampled_from(["", *(f"{i:02d}" for i in range(0, 100, 7))]))
taiwan_permits = st.text(DIGITS, min_size=8, max_size=8)
passport_numbers = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ" + DIGITS, min_size=d.PASSPORT_MIN, max_size=d.PASSPORT_MAX)


def td3(number: str, nationality: str, born: date, expires: date = date(2031, 5, 31)) -> str:
    """A TD3 machine-readable zone as ICAO 9303 part 4 lays it out."""
    field = number.ljust(9, "<")
    birth, expiry, optional = born.strftime("%y%m%d"), expires.strftime("%y%m%d"), "<" * 14
    line2 = field + d.icao_check_digit(field) + nationality + birth + d.icao_check_digit(birth) + "F" + expiry \
        + d.icao_check_digit(expiry) + optional + d.icao_check_digit(optional)
    composite = line2[0:10] + line2[13:20] + line2[21:43]
    line1 = ("P<" + nationality + "SAMPLE<<SHIYONG").ljust(44, "<")  # 示例
    return line1 + "\n" + line2 + d.icao_check_digit(composite)


# -- what the rules say of a number of the GB 11643 form -----------------------------------------------

def _date_ok(text: str) -> bool:
    try:
        born = date(int(text[0:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return False
    return 1900 <= born.year and born <= TODAY


def expected_gb_rule(kind: str, number: str) -> str:
    """The rule a corrupted 18-character number breaks first, as each document's rules are ordered."""
    if any(c not in GB_CHARS for c in number) or "X" in number[:17]:
        return "format"
    if kind == "resident_id" and (number[:2] not in d.RESIDENT_PROVINCES or number[2:6] == "0000"):
        return "region"
    if kind == "residence_permit" and not number.startswith(d.RESIDENCE_PERMIT_PREFIXES):
        return "prefix"
    if kind == "permanent_residence":
        if number[0] != "9":
            return "prefix"
        if number[1:3] not in d.MAINLAND_PROVINCES:
            return "region"
        if number[3:6] not in FOREIGN_NUMERIC:
            return "country"
    return "checksum" if _date_ok(number[6:14]) else "birth_date"


GB_KINDS = {"resident_id": resident_ids(), "residence_permit": residence_permits(),
            "permanent_residence": permanent_2023()}


def parse(kind: str, number: str) -> d.Document:
    return d.parse_document(kind, number, TODAY)


@pytest.mark.parametrize("kind", sorted(GB_KINDS))
@EXAMPLES
@given(data=st.data())
def test_a_valid_gb11643_family_number_passes_with_its_birth_date(kind, data):
    number = data.draw(GB_KINDS[kind])
    document = parse(kind, number)
    assert document.number == number and document.type == kind
    assert document.birth_date == date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    assert d.birth_date_in_number(kind, number, TODAY) == document.birth_date


@pytest.mark.parametrize("kind", sorted(GB_KINDS))
@EXAMPLES
@given(data=st.data())
def test_every_single_character_corruption_of_a_gb11643_number_fails_with_its_rule(kind, data):
    number = data.draw(GB_KINDS[kind])
    position = data.draw(st.integers(0, 17))
    char = data.draw(st.sampled_from(GB_CHARS + "A/ ").filter(lambda c: c != number[position]))
    corrupted = number[:position] + char + number[position + 1:]
    if position in (0, 17) and char == " ":
        return  # a leading or trailing space is trimmed: that is the length rule's case, below
    assert rule_of(lambda: parse(kind, corrupted)) == expected_gb_rule(kind, corrupted), corrupted


@pytest.mark.parametrize("kind", sorted(GB_KINDS))
@EXAMPLES
@given(data=st.data())
def test_a_changed_check_character_fails_the_checksum(kind, data):
    number = data.draw(GB_KINDS[kind])
    check = data.draw(st.sampled_from(GB_CHARS).filter(lambda c: c != number[17]))
    assert rule_of(lambda: parse(kind, number[:17] + check)) == "checksum"


@pytest.mark.parametrize("kind", sorted(GB_KINDS))
@EXAMPLES
@given(data=st.data())
def test_a_digit_more_or_less_fails_the_length(kind, data):
    number = data.draw(GB_KINDS[kind])
    position = data.draw(st.integers(0, 17))
    shorter = number[:position] + number[position + 1:]
    longer = number[:position] + data.draw(st.sampled_from(DIGITS)) + number[position:]
    assert rule_of(lambda: parse(kind, shorter)) == "length"
    assert rule_of(lambda: parse(kind, longer)) == "length"


# -- 外国人永久居留身份证, the format before 2023 --------------------------------------------------------

@EXAMPLES
@given(number=permanent_2004())
def test_a_valid_2004_permanent_residence_number_passes(number):
    document = parse("permanent_residence", number)
    assert document.nationality == number[:3] and document.birth_date is not None
    assert document.birth_date.strftime("%y%m%d") == number[5:11]


@EXAMPLES
@given(number=permanent_2004(), data=st.data())
def test_a_digit_changed_in_a_2004_permanent_residence_number_fails(number, data):
    position = data.draw(st.integers(3, 14))
    digit = data.draw(st.sampled_from(DIGITS).filter(lambda c: c != number[position]))
    corrupted = number[:position] + digit + number[position + 1:]
    rule = rule_of(lambda: parse("permanent_residence", corrupted))
    if position < 5 and corrupted[3:5] not in d.MAINLAND_PROVINCES:
        assert rule == "region"
    elif 5 <= position < 11 and rule == "birth_date":
        pass  # no such day (or one after today)
    else:
        assert rule == "checksum", corrupted


@EXAMPLES
@given(number=permanent_2004(), data=st.data())
def test_a_letter_for_a_digit_or_a_digit_for_a_letter_breaks_the_2004_format(number, data):
    position = data.draw(st.integers(0, 14))
    char = data.draw(st.sampled_from(DIGITS if position < 3 else "ABCXYZ"))
    corrupted = number[:position] + char + number[position + 1:]
    assert rule_of(lambda: parse("permanent_residence", corrupted)) == "format"


@EXAMPLES
@given(number=permanent_2004(), data=st.data())
def test_a_2004_number_a_character_longer_or_shorter_fails_the_length(number, data):
    position = data.draw(st.integers(0, 14))
    assert rule_of(lambda: parse("permanent_residence", number[:position] + number[position + 1:])) == "length"
    assert rule_of(lambda: parse("permanent_residence", number[:position] + "1" + number[position:])) == "length"


@EXAMPLES
@given(number=permanent_2023(), other=st.sampled_from(FOREIGN_ALPHA3))
def test_a_nationality_given_beside_a_permanent_residence_number_must_be_the_one_in_it(number, other):
    own = d.alpha3_of_numeric(number[3:6])
    assert parse("permanent_residence", number).nationality == own
    assert d.permanent_residence(number, TODAY, own).number == number
    if other != own:
        assert rule_of(lambda: d.permanent_residence(number, TODAY, other)) == "country"


# -- 港澳居民来往内地通行证, 台湾居民来往大陆通行证 ----------------------------------------------------------

@EXAMPLES
@given(number=hk_macao_permits)
def test_a_valid_hk_macao_permit_passes_and_keeps_its_lifelong_number(number):
    document = parse("hk_macao_permit", number)
    assert document.number == number[:9] and document.birth_date is None
    assert document.renewal_count == (int(number[9:]) if len(number) == 11 else None)
    assert document.printed == number


@EXAMPLES
@given(number=hk_macao_permits, data=st.data())
def test_every_visible_corruption_of_a_hk_macao_permit_fails_with_its_rule(number, data):
    position = data.draw(st.integers(0, len(number) - 1))
    if position == 0:
        char, rule = data.draw(st.sampled_from("ACKPZ0")), "prefix"
    else:
        char, rule = data.draw(st.sampled_from("HMAZ*")), "format"
    assert rule_of(lambda: parse("hk_macao_permit", number[:position] + char + number[position + 1:])) == rule
    shorter = number[:position] + number[position + 1:]
    longer = number[:position] + "1" + number[position:]
    for changed in (shorter, longer):
        assert rule_of(lambda: parse("hk_macao_permit", changed)) == "length"


@EXAMPLES
@given(number=st.text(DIGITS, min_size=8, max_size=8).map(lambda n: "H" + n), count=st.integers(0, 99),
       other=st.integers(0, 99))
def test_the_renewal_count_may_be_given_apart_but_must_agree(number, count, other):
    assert d.hk_macao_permit(number, count).printed == f"{number}{count:02d}"
    assert d.hk_macao_permit(f"{number}{count:02d}", count).renewal_count == count
    if other != count:
        assert rule_of(lambda: d.hk_macao_permit(f"{number}{count:02d}", other)) == "renewal_count"
    assert rule_of(lambda: d.hk_macao_permit(number, 100)) == "renewal_count"


@EXAMPLES
@given(number=taiwan_permits, data=st.data())
def test_a_taiwan_permit_is_eight_digits(number, data):
    assert parse("taiwan_permit", number).number == number
    position = data.draw(st.integers(0, 7))
    letter = data.draw(st.sampled_from("ATXZ-"))
    assert rule_of(lambda: parse("taiwan_permit", number[:position] + letter + number[position + 1:])) == "format"
    assert rule_of(lambda: parse("taiwan_permit", number[:position] + number[position + 1:])) == "length"
    assert rule_of(lambda: parse("taiwan_permit", number + data.draw(st.sampled_from(DIGITS)))) == "length"


# -- foreigners' passports (ICAO 9303) --------------------------------------------------------------

@EXAMPLES
@given(number=passport_numbers, nationality=st.sampled_from(FOREIGN_ALPHA3), born=birth_dates.filter(
    lambda b: b > TODAY - timedelta(days=99 * 365)))
def test_a_valid_passport_passes_and_its_zone_gives_the_birth_date(number, nationality, born):
    assert d.passport(number, TODAY, nationality).birth_date is None  # no zone, no birth date
    document = d.passport(number, TODAY, nationality, td3(number, nationality, born))
    assert (document.number, document.nationality, document.birth_date) == (number, nationality, born)


@EXAMPLES
@given(number=passport_numbers, nationality=st.sampled_from(FOREIGN_ALPHA3), data=st.data())
def test_a_passport_number_of_the_wrong_length_or_characters_fails(number, nationality, data):
    position = data.draw(st.integers(0, len(number) - 1))
    char = data.draw(st.sampled_from("<-/ *"))
    if not (position == 0 or position == len(number) - 1) or char != " ":
        assert rule_of(lambda: d.passport(number[:position] + char + number[position + 1:], TODAY, nationality)) \
            == "format"
    too_long = number + "A" * (d.PASSPORT_MAX + 1 - len(number))
    assert rule_of(lambda: d.passport(too_long, TODAY, nationality)) == "length"
    assert rule_of(lambda: d.passport(number[:d.PASSPORT_MIN - 1], TODAY, nationality)) == "length"


@EXAMPLES
@given(number=passport_numbers, nationality=st.sampled_from(FOREIGN_ALPHA3), born=st.dates(date(1950, 1, 1), TODAY),
       data=st.data())
def test_every_digit_changed_in_the_zone_fails_a_check_digit(number, nationality, born, data):
    zone = td3(number, nationality, born)
    line1, line2 = zone.split("\n")
    digits = [i for i, c in enumerate(line2) if c.isdigit() and not 0 <= i < 9]  # the number itself: below
    position = data.draw(st.sampled_from(digits))
    digit = data.draw(st.sampled_from(DIGITS).filter(lambda c: c != line2[position]))
    corrupted = line1 + "\n" + line2[:position] + digit + line2[position + 1:]
    assert rule_of(lambda: d.passport(number, TODAY, nationality, corrupted)) in {"checksum", "birth_date"}
    if not 13 <= position < 19:
        assert rule_of(lambda: d.passport(number, TODAY, nationality, corrupted)) == "checksum"


@EXAMPLES
@given(number=passport_numbers, nationality=st.sampled_from(FOREIGN_ALPHA3), other=st.sampled_from(FOREIGN_ALPHA3),
       data=st.data())
def test_the_zone_must_name_the_typed_number_and_nationality(number, nationality, other, data):
    zone = td3(number, nationality, date(1990, 3, 7))
    position = data.draw(st.integers(0, len(number) - 1))
    typed = number[:position] + ("1" if number[position] != "1" else "2") + number[position + 1:]
    assert rule_of(lambda: d.passport(typed, TODAY, nationality, zone)) == "mrz"
    if other != nationality:
        assert rule_of(lambda: d.passport(number, TODAY, other, zone)) == "country"
    assert rule_of(lambda: d.passport(number, TODAY, nationality, zone[:-1])) == "mrz"


@pytest.mark.parametrize("nationality", [None, "", "CHN", "HKG", "MAC", "TWN", "XYZ", "US", "usa1"])
def test_a_passport_needs_a_foreign_nationality(nationality):
    assert rule_of(lambda: d.passport("E12345678", TODAY, nationality)) == "country"
    assert d.passport("e12345678", TODAY, "usa").nationality == "USA"


def test_the_masks_keep_each_documents_shape():
    assert d.mask_document("resident_id", "440106199003071234") == "4401**********1234"
    assert d.mask_document("residence_permit", "810000199003071237") == "8100**********1237"
    assert d.mask_document("hk_macao_permit", "H12345678") == "H1234****"
    assert d.mask_document("taiwan_permit", "12345678") == "12****78"
    assert d.mask_document("permanent_residence", "USA110900307123") == "USA1*******7123"
    assert d.mask_document("passport", "E12345678") == "E1*****78"


def test_the_lookup_key_tells_types_and_passport_nationalities_apart():
    one = d.Document("passport", "E12345678", "USA")
    assert d.lookup_key(one) != d.lookup_key(d.Document("passport", "E12345678", "GBR"))
    assert d.lookup_key(d.Document("taiwan_permit", "12345678")) != d.lookup_key(d.Document("passport", "12345678", "USA"))
    assert d.lookup_key(d.Document("resident_id", "440106199003071234")) == "440106199003071234"  # as it always was
