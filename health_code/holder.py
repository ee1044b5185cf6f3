"""Holder binding of a `GDHC1` code (持有人绑定): who a code belongs to, without saying it in the code.

A partner's code carries `hc[6]`, a 6-byte tag over its holder's standardised name and birth date,
keyed with a secret the partner and we share (互认持有人密钥, agreed through the partner registry) and
salted with the code's id:

    tag = HMAC-SHA256(holder key, "GDHC1-holder" 0x00 || code id || 0x00 || standardised name || 0x00
                      || birth date)[:6]

- birth date: "YYYY-MM-DD" (for a resident ID number, its digits 7-14);
- standardised name: the legal name, as on the holder's identity document (居民身份证 or 外国人永久居留
  身份证), written in capital Latin letters without separators, as ICAO 9303 does for an EU DCC's
  `fnt`/`gnt`: a Chinese character by any of its Hanyu Pinyin readings (ü as U, YU or V), so that 張三
  and 张三 both read ZHANGSAN; a Latin letter without its diacritics (É → E, ß → SS, Ø → OE); a letter of
  another script (Mongolian, Tibetan, Uyghur...) as it is, NFC, with its marks; spaces, `·`, hyphens and
  other punctuation left out. An issuer may use any reading of a heteronym (the most common one is
  usual); a verifier tries every reading of the name it holds.

The tag binds as strongly as a DCC's `nam` and `dob` (the same name and the same birth date), while it
shows neither: without the holder key a scanner cannot test a guess against it, so the code tells no
more than its masked name. It is no digest of an ID number. Everything in it is what a partner region
issuing `GDHC1` codes knows of its holders.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import re
import unicodedata
from datetime import date
from typing import Sequence

from pypinyin import Style, lazy_pinyin, pinyin

TAG_BYTES = 6
KEY_BYTES = 32
MAX_SPELLINGS = 1024  # readings of one name a verifier tries (a 20-character name of heteronyms has more)
_DOMAIN = b"GDHC1-holder\x00"
_BIRTH_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Latin letters that do not decompose into a base letter and marks, spelt as ICAO 9303 does.
_LATIN_LETTERS = {"ß": "SS", "Æ": "AE", "æ": "AE", "Ø": "OE", "ø": "OE", "Œ": "OE", "œ": "OE", "Þ": "TH",
                  "þ": "TH", "Ð": "D", "ð": "D", "Đ": "D", "đ": "D", "Ł": "L", "ł": "L", "ı": "I", "Ħ": "H", "ħ": "H"}
# Letters ICAO 9303 spells two ways: without the diaeresis, or with an E after the letter.
_UMLAUTS = {"Ä": "AE", "Ö": "OE", "Ü": "UE"}


def icao_pinyin(reading: str) -> list[str]:
    """A pinyin syllable as ICAO 9303 writes it: ü as U, YU or V (the usual one first)."""
    upper = reading.upper().replace("Ü", "V")
    if "V" not in upper:
        return [upper]
    return [upper.replace("V", "U"), upper.replace("V", "YU"), upper]


def _letter(char: str) -> list[str]:
    """One character that is not a Chinese character, standardised: no spelling for a separator."""
    if char in _LATIN_LETTERS:
        return [_LATIN_LETTERS[char]]
    base = unicodedata.normalize("NFKD", char)[:1]
    if base.isascii() and base.isalpha():
        umlaut = _UMLAUTS.get(char.upper())
        return [base.upper(), umlaut] if umlaut else [base.upper()]
    if char.isalpha() or unicodedata.category(char).startswith("M"):
        return [char.upper()]
    return []


def _readings(name: str) -> list[list[str]]:
    """Each character's standardised spellings, the most common first; separators left out."""
    readings: list[list[str]] = []
    # pypinyin declares its `errors` callback as returning a str; it takes the documented list of readings too.
    options_per_char = pinyin(name, style=Style.NORMAL, heteronym=True,
                              errors=lambda run: [[c] for c in run])  # type: ignore[arg-type,return-value]
    for char, options in zip(name, options_per_char):
        if options == [char]:
            spelt = _letter(char)
            if spelt:
                readings.append(spelt)
        else:
            forms = [form for reading in options for form in icao_pinyin(reading)]
            readings.append(list(dict.fromkeys(forms)))
    return readings


def standard_names(name: str) -> list[str]:
    """Every standardised spelling of a legal name (at most MAX_SPELLINGS), the most common first."""
    readings = _readings(unicodedata.normalize("NFC", name))
    return ["".join(parts) for parts in itertools.islice(itertools.product(*readings), MAX_SPELLINGS)]


def standard_name(name: str) -> str:
    """The spelling an issuer puts in a tag: each character's most common reading (the first of
    `standard_names`, without making the others)."""
    name = unicodedata.normalize("NFC", name)
    spelt = []
    # pypinyin declares its `errors` callback as returning a str; it takes the documented list of readings too.
    readings = lazy_pinyin(name, style=Style.NORMAL, errors=lambda run: list(run))  # type: ignore[arg-type,return-value]
    for char, reading in zip(name, readings):
        forms = _letter(char) if reading == char else icao_pinyin(reading)
        spelt.append(forms[0] if forms else "")
    return "".join(spelt)


def birth_date_of(id_number: str) -> str | None:
    """The birth date in an 18-character resident or permanent-residence ID number, or None."""
    if len(id_number) != 18:
        return None
    try:
        return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14])).isoformat()
    except ValueError:
        return None


def holder_tag(key: bytes, code_id: bytes, spelling: str, birth_date: str) -> bytes:
    """The tag over one standardised spelling and an ISO birth date, under a holder key."""
    if not _BIRTH_DATE.match(birth_date):
        raise ValueError("birth date is YYYY-MM-DD")
    if len(key) < KEY_BYTES:
        raise ValueError(f"a holder key is at least {KEY_BYTES} bytes")
    message = _DOMAIN + code_id + b"\x00" + spelling.encode() + b"\x00" + birth_date.encode()
    return hmac.digest(key, message, hashlib.sha256)[:TAG_BYTES]


def holds(tag: bytes, keys: Sequence[bytes], code_id: bytes, name: str, id_number: str,
          birth_date: str | None = None) -> bool:
    """Whether the citizen with this legal name and ID number is the holder a code's tag names, under any
    of the holder keys the code's issuer shares with us (two while it changes key). `birth_date` (ISO), when
    given, is the one the holder's document carries (a document whose number holds none: a passport's zone)."""
    birth_date = birth_date or birth_date_of(id_number)
    if birth_date is None or len(tag) != TAG_BYTES:
        return False
    spellings = [spelling for spelling in standard_names(name) if spelling]
    return any(hmac.compare_digest(holder_tag(key, code_id, spelling, birth_date), tag)
               for key in keys for spelling in spellings)
