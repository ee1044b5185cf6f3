"""PII at rest: AES-GCM encryption plus a keyed hash for lookup and uniqueness; masking for replies."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = "v1"
_FILE_VERSION = b"\x01"
_DIGIT_RUN = re.compile(r"\d{6,}")


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(master)


class PiiCipher:
    """Encrypts ID numbers, names and phone numbers; one master key, derived sub-keys."""

    def __init__(self, master_key: bytes) -> None:
        self._aead = AESGCM(_derive(master_key, b"pii-encryption"))
        self._hash_key = _derive(master_key, b"pii-lookup-hash")
        self._files = AESGCM(_derive(master_key, b"file-encryption"))

    def encrypt(self, value: str, context: str) -> str:
        """`context` (e.g. "phone") is bound into the ciphertext so fields cannot be swapped."""
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, value.encode("utf-8"), context.encode("ascii"))
        return f"{_VERSION}:{base64.b64encode(nonce + sealed).decode('ascii')}"

    def decrypt(self, token: str, context: str) -> str:
        version, _, body = token.partition(":")
        if version != _VERSION:
            raise ValueError("unknown PII ciphertext version")
        raw = base64.b64decode(body)
        return self._aead.decrypt(raw[:12], raw[12:], context.encode("ascii")).decode("utf-8")

    def seal(self, data: bytes, context: str) -> bytes:
        """A whole file encrypted (its own sub-key): version byte, 12-byte nonce, ciphertext and tag.
        `context` (e.g. the upload's id) is bound in, so one stored file cannot stand in for another."""
        nonce = os.urandom(12)
        return _FILE_VERSION + nonce + self._files.encrypt(nonce, data, context.encode("ascii"))

    def unseal(self, sealed: bytes, context: str) -> bytes:
        """The file `seal` encrypted; ValueError if it is not one, cryptography's InvalidTag if it was altered."""
        if sealed[:1] != _FILE_VERSION:
            raise ValueError("unknown file ciphertext version")
        return self._files.decrypt(sealed[1:13], sealed[13:], context.encode("ascii"))

    def lookup_hash(self, value: str, context: str) -> str:
        return hmac.new(self._hash_key, f"{context}:{value}".encode("utf-8"), hashlib.sha256).hexdigest()


def mask_phone(phone: str) -> str:
    """13812345678 -> 138****5678"""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "*" * len(phone)


def mask_id_number(id_number: str) -> str:
    """440106199001011234 -> 4401**********1234"""
    return id_number[:4] + "*" * (len(id_number) - 8) + id_number[-4:] if len(id_number) > 8 else "*" * len(id_number)


def mask_name(name: str) -> str:
    """张三 -> *三, 欧阳娜娜 -> ***娜: only the last character shows."""
    return "*" * (len(name) - 1) + name[-1:] if name else ""


def mask_digit_runs(text: str) -> str:
    """Stars every run of six or more digits (ID numbers, phones, bank cards) in free text that
    came from a caller, such as a mistyped path: 卡片440106199001011234 -> 卡片******************."""
    return _DIGIT_RUN.sub(lambda run: "*" * len(run.group()), text)
