"""Does a partner's code belong to this citizen? (主体核验) As far as the format lets us tell.

Our own format carries a holder tag over the standardised name and birth date, keyed with the holder
key its issuer shares with us (health_code.holder), beside a masked name (e.g. "*三") that binds no one; an EU DCC carries the name in ICAO
9303 transliteration (`fnt`, `gnt`: "ZHANG", "SAN") and the date of birth, which a resident
ID number holds in digits 7–14. Chinese names are compared through pinyin (pypinyin), with
every reading of a heteronym (单 → DAN/SHAN/CHAN) and the ICAO spellings of ü (LV, LU, LYU).
"""

from __future__ import annotations

import itertools
import re
from typing import Iterable, Mapping, Sequence

from pypinyin import Style, pinyin

from health_code.holder import birth_date_of, holds, icao_pinyin

_NOT_LETTERS = re.compile(r"[^A-Z]")


def spellings(hanzi: str) -> set[str]:
    """Every ICAO spelling of a Chinese name part, syllables joined without separators."""
    readings: list[Iterable[str]] = []
    for options in pinyin(hanzi, style=Style.NORMAL, heteronym=True, errors="ignore"):
        readings.append({form for reading in options for form in icao_pinyin(reading)})
    if not readings:
        return set()
    return {"".join(parts) for parts in itertools.islice(itertools.product(*readings), 256)}


def _letters(value: str) -> str:
    return _NOT_LETTERS.sub("", value.upper())


def name_matches(name: str, family: str, given: str) -> bool:
    """Compare a Chinese name with transliterated family and given names; surnames of 1 or 2 characters."""
    family, given = _letters(family), _letters(given)
    for split in (1, 2):
        if len(name) <= split:
            continue
        if family in spellings(name[:split]) and given in spellings(name[split:]):
            return True
    return False


def subject_matches(subject: Mapping[str, str], name: str, id_number: str, code_id: str = "",
                    holder_keys: Sequence[bytes] = (), birth_date: str | None = None) -> bool | None:
    """True or False when the code carries something that binds its holder; None when it carries nothing.

    A masked name ("*三") binds no one, as anyone with the same last character shares it: our format
    binds with its holder tag (health_code.holder), over the code id `code_id` (hex) under one of the
    issuer's `holder_keys`; a DCC with its name and birth date. The birth date is `birth_date` (ISO) when
    given, the one the holder's document carries, else the one in an 18-character `id_number`."""
    birth = birth_date or birth_date_of(id_number)
    checks: list[bool] = []
    if "holder_tag" in subject:
        checks.append(holds(bytes.fromhex(subject["holder_tag"]), holder_keys, bytes.fromhex(code_id), name,
                            id_number, birth))
    if "fnt" in subject:
        checks.append(name_matches(name, subject["fnt"], subject.get("gnt", "")))
    if subject.get("dob"):
        checks.append(birth is not None and birth.startswith(subject["dob"][:10]))  # a DCC may carry only a year
    return all(checks) if checks else None
