"""Checking the phone data a mini-program passes on (getPhoneNumber): decrypt and check the watermark."""

from __future__ import annotations

import base64
import binascii
import json

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from app.accounts.service import normalize_phone

WATERMARK_MAX_AGE = 300  # phone data older than 5 minutes is not accepted (replayed or stale)
WATERMARK_MAX_AHEAD = 30  # the platform's clock may run a little ahead of ours


class PhoneDataInvalid(ValueError):
    """The data does not decrypt, is not for our appid, is too old, or holds no mainland number."""


def decrypt_phone_data(session_key: str, encrypted_data: str, iv: str, appid: str, now: float) -> str:
    """The verified phone number in `encrypted_data`: AES-128-CBC with the session key and IV (all
    base64), PKCS#7 padded, a JSON object whose watermark names our appid and a fresh timestamp."""
    try:
        key, vector, sealed = (base64.b64decode(v, validate=True) for v in (session_key, iv, encrypted_data))
    except (binascii.Error, ValueError):
        raise PhoneDataInvalid("not base64") from None
    if len(key) != 16 or len(vector) != 16 or not sealed or len(sealed) % 16:
        raise PhoneDataInvalid("wrong sizes")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(vector)).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plain = unpadder.update(decryptor.update(sealed) + decryptor.finalize()) + unpadder.finalize()
        data = json.loads(plain.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise PhoneDataInvalid("does not decrypt with this session") from None
    watermark = data.get("watermark") if isinstance(data, dict) else None
    if not isinstance(watermark, dict) or watermark.get("appid") != appid:
        raise PhoneDataInvalid("watermark appid is not ours")
    stamp = watermark.get("timestamp")
    if not isinstance(stamp, int) or not now - WATERMARK_MAX_AGE <= stamp <= now + WATERMARK_MAX_AHEAD:
        raise PhoneDataInvalid("watermark timestamp is not fresh")
    if str(data.get("countryCode", "86")) != "86":
        raise PhoneDataInvalid("not a mainland number")
    phone = normalize_phone(str(data.get("purePhoneNumber") or ""))
    if phone is None:
        raise PhoneDataInvalid("no valid phone number")
    return phone
