"""Validation rules for phone numbers, names and resident ID numbers (GB 11643-1999)."""

from __future__ import annotations

import re
from datetime import date

from app.accounts import documents

# ASCII digits only: `\d` would also take full-width digits (１３８…), giving one person two spellings.
_PHONE = re.compile(r"^1[3-9][0-9]{9}$")
# Han characters, including the rare ones of Extensions B-G found in real names (生僻字);
# a middle dot only between parts, as in 买买提·艾力.
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_NAME = re.compile(rf"^[{_HAN}]+(·[{_HAN}]+)*$")
# A name in Latin letters as a foreigner's document prints it (ICAO 9303 allows A-Z; we keep the spaces,
# hyphens, apostrophes and dots people type between the parts).
_LATIN_NAME = re.compile(r"^[A-Z]+([ '\-.,]+[A-Z]+)*$")
MIN_LIVENESS_SAMPLE_BYTES = 256
PROVINCE_CODES = documents.RESIDENT_PROVINCES

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


def normalize_document_name(raw: str, document_type: str) -> str | None:
    """The holder's name as the document prints it: Han characters for a resident ID; for the documents of Hong
    Kong, Macau and Taiwan residents and of foreigners, Han characters or Latin letters (upper-cased, single
    spaces)."""
    name = normalize_name(raw)
    if name is not None or document_type == documents.RESIDENT_ID:
        return name
    latin = re.sub(r"\s+", " ", (raw or "").strip()).upper()
    return latin if 2 <= len(latin) <= 80 and _LATIN_NAME.match(latin) else None


def id_check_char(first17: str) -> str:
    return documents.gb11643_check_char(first17)


def normalize_citizen_number(raw: str, today: date) -> str | None:
    """An 18-character number of the GB 11643 form a department names a person by: a resident ID, a 港澳台居民居住证
    or a 2023 外国人永久居留身份证 number (one number space, one lookup hash)."""
    document = documents.gb11643_family(raw, today)
    return document.number if document else None


def normalize_id_number(raw: str, today: date) -> str | None:
    """An 18-character resident ID number that passes checksum, birth-date and region checks."""
    try:
        return documents.resident_id(raw, today).number
    except documents.DocumentRejected:
        return None
