"""Validation rules for phone numbers, names and resident ID numbers (GB 11643-1999)."""

from __future__ import annotations

import re
from datetime import date

# ASCII digits only: `\d` would also take full-width digits (１３８…), giving one person two spellings.
_PHONE = re.compile(r"^1[3-9][0-9]{9}$")
# Han characters, including the rare ones of Extensions B-G found in real names (生僻字);
# a middle dot only between parts, as in 买买提·艾力.
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_NAME = re.compile(rf"^[{_HAN}]+(·[{_HAN}]+)*$")
_ID = re.compile(r"^[0-9]{17}[0-9X]$")
MIN_LIVENESS_SAMPLE_BYTES = 256
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
# Province-level codes of GB/T 2260 (incl. 71 Taiwan, 81 Hong Kong, 82 Macau for residence permits).
PROVINCE_CODES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 "
    "61 62 63 64 65 71 81 82".split()
)

LEVEL_PHONE, LEVEL_REAL_NAME, LEVEL_FACE = 1, 2, 3


def normalize_phone(raw: str) -> str | None:
    """A mainland mobile number as 11 digits, or None. Accepts +86/0086 and spaces or dashes."""
    digits = re.sub(r"[ \t\-()]", "", raw or "")
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix):]
            break
    return digits if _PHONE.match(digits) else None


def normalize_name(raw: str) -> str | None:
    name = (raw or "").strip().replace("•", "·").replace("．", "·")
    return name if 2 <= len(name) <= 20 and _NAME.match(name) else None


def id_check_char(first17: str) -> str:
    return _CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, _WEIGHTS)) % 11]


def normalize_id_number(raw: str, today: date) -> str | None:
    """An 18-character resident ID number that passes checksum, birth-date and region checks."""
    value = (raw or "").strip().upper()
    if not _ID.match(value):
        return None
    if value[:2] not in PROVINCE_CODES or value[2:6] == "0000":
        return None
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return None
    if born.year < 1900 or born > today:
        return None
    if id_check_char(value[:17]) != value[17]:
        return None
    return value
