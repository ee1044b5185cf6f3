"""Base45 (RFC 9285) decoding for every scanned code: our health codes, partners' HC1 codes, vouchers.

The `base45` library (pinned) stays our encoder and the reference this decoder is tested against
(`tests/core/test_base45_decoder.py`: the same bytes or the same ValueError for any text). Its
decoder is a Python loop per character, a sizeable part of an ES256 check, on every code a partner
sends us cold. This one does the arithmetic for all the character triples at once, as three big
integers with a 32-bit lane per triple, several times faster (docs/capacity.md).

It is exactly as strict: a character outside the alphabet, a length of 3n+1, or a triple or a final
pair worth more than its bytes can hold is a ValueError. `b45` (PyPI, numpy) is faster still but
decodes invalid text ("GGW", ":::") to bytes without a word, so it was not used.
"""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_INVALID = 0xFF
# bytes.translate table: a character's value, or 0xFF for anything outside the alphabet.
_VALUES = bytes(ALPHABET.index(chr(c)) if chr(c) in ALPHABET else _INVALID for c in range(256))
_LANE = 4  # bytes per triple's lane: the largest triple, 44 + 45·44 + 2025·44 = 91,124, needs 17 bits


def b45decode(text: str) -> bytes:
    """The bytes `text` encodes, or ValueError; trailing newlines are ignored, as the library does."""
    try:
        digits = text.rstrip("\n").encode("ascii").translate(_VALUES)
    except UnicodeEncodeError:
        raise ValueError("Invalid base45 string") from None
    triples, rest = divmod(len(digits), 3)
    if rest == 1 or _INVALID in digits:
        raise ValueError("Invalid base45 string")
    end = 3 * triples
    # Each triple c + 45·d + 2025·e in a little-endian 32-bit lane of one integer: the lanes never carry.
    lanes = bytearray(_LANE * triples)
    lanes[0::_LANE] = digits[0:end:3]
    low = int.from_bytes(lanes, "little")
    lanes[0::_LANE] = digits[1:end:3]
    middle = int.from_bytes(lanes, "little")
    lanes[0::_LANE] = digits[2:end:3]
    values = (low + 45 * middle + 2025 * int.from_bytes(lanes, "little")).to_bytes(_LANE * triples, "little")
    if values[2::_LANE].count(0) != triples:
        raise ValueError("Invalid base45 string")  # a triple above 65535
    out = bytearray(2 * triples + (rest == 2))
    out[0:2 * triples:2] = values[1::_LANE]  # each triple gives two bytes, high byte first
    out[1:2 * triples:2] = values[0::_LANE]
    if rest == 2:
        last = digits[end] + 45 * digits[end + 1]
        if last > 0xFF:
            raise ValueError("Invalid base45 string")
        out[-1] = last
    return bytes(out)
