"""Identity documents (身份证件) a citizen may bind to their account, each checked by its own published rules.

| type | 证件 | number |
| --- | --- | --- |
| resident_id | 居民身份证 | 18 characters, GB 11643 (region, birth date, sequence, MOD 11-2 check character) |
| residence_permit | 港澳台居民居住证 | the same GB 11643 form, region 810000 (香港), 820000 (澳门) or 830000 (台湾) |
| hk_macao_permit | 港澳居民来往内地通行证 | H (香港) or M (澳门) + 8-digit lifelong number, then the 2-digit renewal count (换证次数) |
| taiwan_permit | 台湾居民来往大陆通行证 | the 8-digit lifelong number (台胞终身号) |
| permanent_residence | 外国人永久居留身份证 | 2023: 9 + province of issue + GB/T 2659 numeric nationality + birth date + sequence + MOD 11-2 check; earlier: ISO alpha-3 nationality + 12 digits (province, yymmdd birth date, sequence, check digit) |
| passport | 外国护照 | ICAO 9303: up to 9 characters A-Z 0-9, an ISO 3166 alpha-3 nationality, and the TD3 machine-readable zone when given |

A number that breaks a rule raises `DocumentRejected` naming the rule: length, format, prefix, region, birth_date,
checksum, country, renewal_count or mrz. Sources are listed in docs/identity-documents.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Mapping

from babel.core import get_global

from app.i18n import N_

RESIDENT_ID = "resident_id"
RESIDENCE_PERMIT = "residence_permit"
HK_MACAO_PERMIT = "hk_macao_permit"
TAIWAN_PERMIT = "taiwan_permit"
PERMANENT_RESIDENCE = "permanent_residence"
PASSPORT = "passport"
DOCUMENT_TYPES = (RESIDENT_ID, RESIDENCE_PERMIT, HK_MACAO_PERMIT, TAIWAN_PERMIT, PERMANENT_RESIDENCE, PASSPORT)
# The documents whose number is a GB 11643 citizen-style number: one number space, one lookup hash for all of them.
GB11643_FAMILY = frozenset({RESIDENT_ID, RESIDENCE_PERMIT, PERMANENT_RESIDENCE})
# The names people know them by (the zh-Hans source; the catalogs translate them).
DOCUMENT_NAMES = {
    RESIDENT_ID: N_("居民身份证"), RESIDENCE_PERMIT: N_("港澳台居民居住证"), HK_MACAO_PERMIT: N_("港澳居民来往内地通行证"),
    TAIWAN_PERMIT: N_("台湾居民来往大陆通行证"), PERMANENT_RESIDENCE: N_("外国人永久居留身份证"), PASSPORT: N_("外国护照"),
}

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
# Province-level codes of GB/T 2260 where a mainland authority issues documents (no 71/81/82/83).
MAINLAND_PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65".split())
# Resident ID numbers of GB/T 2260 (incl. 71 Taiwan, 81 Hong Kong, 82 Macau as older clients sent them).
RESIDENT_PROVINCES = MAINLAND_PROVINCES | {"71", "81", "82"}
RESIDENCE_PERMIT_PREFIXES = ("810000", "820000", "830000")
# Nationalities a foreigner's document cannot carry: China's, and the regions whose people hold permits instead.
NOT_FOREIGN = frozenset({"CHN", "HKG", "MAC", "TWN", "156", "344", "446", "158"})
_DIGITS = re.compile(r"^[0-9]+$")
_GB11643 = re.compile(r"^[0-9]{17}[0-9X]$")
_ALNUM = re.compile(r"^[A-Z0-9]+$")
_ALPHA3 = re.compile(r"^[A-Z]{3}$")
_MRZ_CHARS = re.compile(r"^[A-Z0-9<]{44}$")
PASSPORT_MIN, PASSPORT_MAX = 5, 9


class DocumentRejected(ValueError):
    """A document number (or what goes with it) breaks one of its rules."""

    def __init__(self, rule: str, field: str = "id_number") -> None:
        super().__init__(rule)
        self.rule = rule
        self.field = field


@dataclass(frozen=True)
class Document:
    """A checked document: `number` is what identifies the holder for life (a permit without its renewal count),
    `nationality` the ISO 3166 alpha-3 code where the document states one, `birth_date` where it carries one."""

    type: str
    number: str
    nationality: str | None = None
    birth_date: date | None = None
    renewal_count: int | None = None

    @property
    def printed(self) -> str:
        """The number as printed on the card (a 港澳通行证 with its renewal count)."""
        if self.type == HK_MACAO_PERMIT and self.renewal_count is not None:
            return f"{self.number}{self.renewal_count:02d}"
        return self.number


def _countries() -> tuple[dict[str, str], dict[str, str]]:
    """ISO 3166 alpha-3 and numeric (GB/T 2659) codes, each to its alpha-2 code, from CLDR's territory data."""
    aliases: Mapping[str, list[str]] = get_global("territory_aliases")
    alpha3 = {code: targets[0] for code, targets in aliases.items() if _ALPHA3.match(code) and len(targets) == 1}
    numeric = {code: targets[0] for code, targets in aliases.items()
               if len(code) == 3 and code.isdigit() and len(targets) == 1}
    return alpha3, numeric


ALPHA3_TO_2, NUMERIC_TO_2 = _countries()
_ALPHA2_TO_3 = {two: three for three, two in sorted(ALPHA3_TO_2.items(), reverse=True)}


def alpha3_of_numeric(numeric: str) -> str | None:
    two = NUMERIC_TO_2.get(numeric)
    return _ALPHA2_TO_3.get(two) if two else None


def gb11643_check_char(first17: str) -> str:
    """The MOD 11-2 check character of ISO 7064 over 17 digits, as GB 11643 uses it."""
    return _CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, _WEIGHTS)) % 11]


def icao_check_digit(text: str) -> str:
    """ICAO 9303 part 3 check digit: weights 7, 3, 1 repeating; 0-9 as themselves, A-Z as 10-35, < as 0."""
    def value(char: str) -> int:
        return int(char) if char.isdigit() else (ord(char) - 55 if char.isalpha() else 0)
    return str(sum(value(c) * (7, 3, 1)[i % 3] for i, c in enumerate(text)) % 10)


def _date(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise DocumentRejected("birth_date") from None


def _born(text: str, today: date) -> date:
    """A birth date written yyyymmdd, after 1900 and not after today."""
    born = _date(int(text[0:4]), int(text[4:6]), int(text[6:8]))
    if born.year < 1900 or born > today:
        raise DocumentRejected("birth_date")
    return born


def _born_short(text: str, today: date) -> date:
    """A birth date written yymmdd: the latest century that puts it not after today."""
    year = 2000 + int(text[0:2])
    if year > today.year:
        year -= 100
    born = _date(year, int(text[2:4]), int(text[4:6]))
    if born > today:
        born = _date(year - 100, born.month, born.day)
    return born


def _clean(raw: str) -> str:
    """Surrounding spaces go and letters are upper-cased; anything inside stays, for the rules to judge."""
    return (raw or "").strip().upper()


def _gb11643(value: str) -> None:
    """Length, characters and check character of an 18-character GB 11643 number."""
    if len(value) != 18:
        raise DocumentRejected("length")
    if not _GB11643.match(value):
        raise DocumentRejected("format")


def _checksum(value: str) -> None:
    if gb11643_check_char(value[:17]) != value[17]:
        raise DocumentRejected("checksum")


def resident_id(raw: str, today: date) -> Document:
    """居民身份证 (GB 11643-1999)."""
    value = _clean(raw)
    _gb11643(value)
    if value[:2] not in RESIDENT_PROVINCES or value[2:6] == "0000":  # 810000 and the like are residence permits
        raise DocumentRejected("region")
    born = _born(value[6:14], today)
    _checksum(value)
    return Document(RESIDENT_ID, value, "CHN", born)


def residence_permit(raw: str, today: date) -> Document:
    """港澳台居民居住证: a GB 11643 number whose region is 810000, 820000 or 830000."""
    value = _clean(raw)
    _gb11643(value)
    if not value.startswith(RESIDENCE_PERMIT_PREFIXES):
        raise DocumentRejected("prefix")
    born = _born(value[6:14], today)
    _checksum(value)
    return Document(RESIDENCE_PERMIT, value, None, born)


def hk_macao_permit(raw: str, renewal_count: int | None = None) -> Document:
    """港澳居民来往内地通行证: H or M, the 8-digit lifelong number, and the renewal count (printed as the last two
    digits of the 11-character number, or given apart). Both forms name the same holder."""
    value = _clean(raw)
    if len(value) not in (9, 11):
        raise DocumentRejected("length")
    if value[0] not in "HM":
        raise DocumentRejected("prefix")
    if not _DIGITS.match(value[1:]):
        raise DocumentRejected("format")
    printed = int(value[9:]) if len(value) == 11 else None
    if renewal_count is not None and not 0 <= renewal_count <= 99:
        raise DocumentRejected("renewal_count", "renewal_count")
    if printed is not None and renewal_count is not None and printed != renewal_count:
        raise DocumentRejected("renewal_count", "renewal_count")
    count = printed if printed is not None else renewal_count
    return Document(HK_MACAO_PERMIT, value[:9], None, None, count)


def taiwan_permit(raw: str) -> Document:
    """台湾居民来往大陆通行证: the 8-digit lifelong number (一人一号、终身不变)."""
    value = _clean(raw)
    if len(value) != 8:
        raise DocumentRejected("length")
    if not _DIGITS.match(value):
        raise DocumentRejected("format")
    return Document(TAIWAN_PERMIT, value)


def permanent_residence(raw: str, today: date, nationality: str | None = None) -> Document:
    """外国人永久居留身份证, either format; a nationality given beside the number must be the one in it."""
    value = _clean(raw)
    if len(value) == 18:
        document = _permanent_residence_2023(value, today)
    elif len(value) == 15:
        document = _permanent_residence_2004(value, today)
    else:
        raise DocumentRejected("length")
    if nationality is not None and _clean(nationality) != document.nationality:
        raise DocumentRejected("country", "nationality")
    return document


def _permanent_residence_2023(value: str, today: date) -> Document:
    """9, the province of issue (2 digits), the nationality (GB/T 2659 numeric), birth date, sequence, check."""
    _gb11643(value)
    if value[0] != "9":
        raise DocumentRejected("prefix")
    if value[1:3] not in MAINLAND_PROVINCES:
        raise DocumentRejected("region")
    nationality = alpha3_of_numeric(value[3:6])
    if nationality is None or nationality in NOT_FOREIGN:
        raise DocumentRejected("country")
    born = _born(value[6:14], today)
    _checksum(value)
    return Document(PERMANENT_RESIDENCE, value, nationality, born)


def _permanent_residence_2004(value: str, today: date) -> Document:
    """The nationality (ISO alpha-3), province of issue, birth date yymmdd, sequence (3) and an ICAO-style check digit
    over the 14 characters before it."""
    if not _ALPHA3.match(value[:3]) or not _DIGITS.match(value[3:]):
        raise DocumentRejected("format")
    if value[:3] not in ALPHA3_TO_2 or value[:3] in NOT_FOREIGN:
        raise DocumentRejected("country")
    if value[3:5] not in MAINLAND_PROVINCES:
        raise DocumentRejected("region")
    born = _born_short(value[5:11], today)
    if icao_check_digit(value[:14]) != value[14]:
        raise DocumentRejected("checksum")
    return Document(PERMANENT_RESIDENCE, value, value[:3], born)


def passport(raw: str, today: date, nationality: str | None, mrz: str | None = None) -> Document:
    """A foreigner's passport (ICAO 9303). With the TD3 machine-readable zone, its number, nationality and birth
    date must agree with what was typed and every check digit must hold; the birth date comes from there."""
    value = _clean(raw)
    if not PASSPORT_MIN <= len(value) <= PASSPORT_MAX:
        raise DocumentRejected("length")
    if not _ALNUM.match(value):
        raise DocumentRejected("format")
    country = _clean(nationality or "")
    if country not in ALPHA3_TO_2 or country in NOT_FOREIGN:
        raise DocumentRejected("country", "nationality")
    born = _mrz_birth_date(mrz, value, country, today) if mrz else None
    return Document(PASSPORT, value, country, born)


def _mrz_birth_date(mrz: str, number: str, nationality: str, today: date) -> date:
    """Check a TD3 zone (two lines of 44) against the typed number and nationality; its birth date."""
    lines = [line for line in re.split(r"[\r\n]+", mrz.strip().upper()) if line]
    if len(lines) == 1 and len(lines[0]) == 88:
        lines = [lines[0][:44], lines[0][44:]]
    if len(lines) != 2 or not all(_MRZ_CHARS.match(line) for line in lines) or lines[0][0] != "P":
        raise DocumentRejected("mrz", "mrz")
    second = lines[1]
    if second[0:9].rstrip("<") != number:
        raise DocumentRejected("mrz", "mrz")
    if second[10:13] != nationality:
        raise DocumentRejected("country", "mrz")
    checked = ((second[0:9], second[9]), (second[13:19], second[19]), (second[21:27], second[27]),
               (second[0:10] + second[13:20] + second[21:43], second[43]))
    if any(icao_check_digit(field) != digit for field, digit in checked):
        raise DocumentRejected("checksum", "mrz")
    if not _DIGITS.match(second[13:19]):
        raise DocumentRejected("birth_date", "mrz")
    return _born_short(second[13:19], today)


def parse_document(document_type: str, raw_number: str, today: date, *, nationality: str | None = None,
                   renewal_count: int | None = None, mrz: str | None = None) -> Document:
    """Check a number by the rules of its document type; raises DocumentRejected naming the rule broken."""
    if document_type == RESIDENT_ID:
        return resident_id(raw_number, today)
    if document_type == RESIDENCE_PERMIT:
        return residence_permit(raw_number, today)
    if document_type == HK_MACAO_PERMIT:
        return hk_macao_permit(raw_number, renewal_count)
    if document_type == TAIWAN_PERMIT:
        return taiwan_permit(raw_number)
    if document_type == PERMANENT_RESIDENCE:
        return permanent_residence(raw_number, today, nationality)
    if document_type == PASSPORT:
        return passport(raw_number, today, nationality, mrz)
    raise DocumentRejected("type", "document_type")


def gb11643_family(raw: str, today: date) -> Document | None:
    """A number of the resident ID's form (公民身份号码 or one like it), as departments name a person: a resident ID,
    a 港澳台居民居住证 or a 2023 外国人永久居留身份证 number, valid by its own rules, with its type; None otherwise."""
    value = _clean(raw)
    kind = RESIDENCE_PERMIT if value.startswith(RESIDENCE_PERMIT_PREFIXES) else \
        PERMANENT_RESIDENCE if value.startswith("9") and len(value) == 18 else RESIDENT_ID
    try:
        return parse_document(kind, value, today)
    except DocumentRejected:
        return None


def lookup_key(document: Document) -> str:
    """What the lookup hash is taken over: the number alone for the GB 11643 family (one number space, and the
    key resident IDs always had), else the type (and a passport's nationality) before it."""
    if document.type in GB11643_FAMILY:
        return document.number
    if document.type == PASSPORT:
        return f"{PASSPORT}:{document.nationality}:{document.number}"
    return f"{document.type}:{document.number}"


def mask_document(document_type: str, number: str) -> str:
    """The number as replies show it, keeping its shape: 4401**********1234, H1234****, 12****78, E1*****89."""
    if document_type == HK_MACAO_PERMIT:
        return number[:5] + "*" * (len(number) - 5)
    if document_type in (TAIWAN_PERMIT, PASSPORT):
        return number[:2] + "*" * (len(number) - 4) + number[-2:] if len(number) > 4 else "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:] if len(number) > 8 else "*" * len(number)


def birth_date_in_number(document_type: str, number: str, today: date) -> date | None:
    """The birth date a stored number carries, or None (permits and passports carry none in the number)."""
    try:
        if document_type in (RESIDENT_ID, RESIDENCE_PERMIT) or document_type == PERMANENT_RESIDENCE and len(number) == 18:
            return _date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
        if document_type == PERMANENT_RESIDENCE and len(number) == 15:
            return _born_short(number[5:11], today)
    except (DocumentRejected, ValueError):
        return None
    return None
