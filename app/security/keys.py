"""The one signing-key store: ES256 (P-256) keys with `kid`, JWKS, rotation.

Every signature the service makes (access tokens, and later health codes and vouchers) uses
the current key of this store; every key that may still have live signatures stays published
at `/.well-known/jwks.json` until `grace` after it was superseded.

On disk (`keys_dir`): one PEM per key (mode 0600) and `index.json` listing the keys in order
of creation with the moment each was superseded.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.clock import Clock
from app.file_modes import make_private_dir
from app.security.jwk import signing_jwk


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def kid_bytes_for(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """8 bytes of SHA-256 over the SubjectPublicKeyInfo, as EU DCC signers do."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).digest()[:8]


def public_jwk(kid: str, public_key: ec.EllipticCurvePublicKey) -> dict[str, Any]:
    """A signing key as published in our JWKS (see app.security.jwk)."""
    return signing_jwk(kid, public_key)


@dataclass
class SigningKey:
    kid: str  # base64url of `kid_bytes`
    kid_bytes: bytes
    private_key: ec.EllipticCurvePrivateKey
    created_at: datetime
    superseded_at: datetime | None = None

    @cached_property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        # Kept because deriving the public key afresh for each check made every verification slower
        # (docs/capacity.md).
        return self.private_key.public_key()


class KeyStoreError(RuntimeError):
    """The key directory is missing, unreadable or inconsistent."""


class SigningKeyStore:
    """Loads, creates and rotates the service's signing keys."""

    def __init__(self, directory: Path, clock: Clock, grace: timedelta, create_if_missing: bool) -> None:
        self.directory = Path(directory)
        self.clock = clock
        self.grace = grace
        self._create_if_missing = create_if_missing
        self._keys: dict[str, SigningKey] = {}
        self._order: list[str] = []
        self._index_mtime = 0.0
        self._last_reload_check = 0.0

    # -- loading -----------------------------------------------------------------------------
    def load(self) -> None:
        index = self.directory / "index.json"
        if not index.exists():
            if not self._create_if_missing:
                raise KeyStoreError(f"no signing keys in {self.directory}: run `python -m app keys rotate`")
            self.rotate()
            return
        self._read_index(index)

    def _read_index(self, index: Path) -> None:
        entries = json.loads(index.read_text("utf-8"))
        keys: dict[str, SigningKey] = {}
        for entry in entries:
            pem = (self.directory / f"{entry['file']}").read_bytes()
            private_key = serialization.load_pem_private_key(pem, password=None)
            if not isinstance(private_key, ec.EllipticCurvePrivateKey):
                raise KeyStoreError(f"{entry['file']} is not an EC private key")
            kid_raw = kid_bytes_for(private_key.public_key())
            keys[entry["kid"]] = SigningKey(
                kid=entry["kid"],
                kid_bytes=kid_raw,
                private_key=private_key,
                created_at=datetime.fromisoformat(entry["created_at"]),
                superseded_at=datetime.fromisoformat(entry["superseded_at"]) if entry.get("superseded_at") else None,
            )
            if b64url(kid_raw) != entry["kid"]:
                raise KeyStoreError(f"{entry['file']}: kid does not match the key")
        if not keys:
            raise KeyStoreError(f"{index} lists no keys")
        self._keys = keys
        self._order = [e["kid"] for e in entries]
        self._index_mtime = index.stat().st_mtime

    def reload_if_changed(self, min_interval: float = 5.0) -> None:
        """Pick up a rotation made by another process (at most every `min_interval` seconds)."""
        now = time.monotonic()
        if now - self._last_reload_check < min_interval:
            return
        self._last_reload_check = now
        index = self.directory / "index.json"
        if index.exists() and index.stat().st_mtime != self._index_mtime:
            self._read_index(index)

    # -- use ---------------------------------------------------------------------------------
    @property
    def current(self) -> SigningKey:
        self.reload_if_changed()
        return self._keys[self._order[-1]]

    def find(self, kid: str) -> SigningKey | None:
        """A published key by kid; unknown kids trigger one reload (a rotation elsewhere)."""
        key = self._held(kid)
        if key is None or not self._published(key):
            return None
        return key

    def find_signed_within(self, kid: str, kept: timedelta) -> SigningKey | None:
        """A key by kid that was current at most `kept` ago: for what we signed and keep a record of ourselves
        (a printed proof, found by its stored row), which outlives the grace a bearer token's key gets. Not
        published for others to trust longer: a token signed by it is still refused after the grace."""
        key = self._held(kid)
        if key is None or (key.superseded_at is not None and self.clock.now() >= key.superseded_at + kept):
            return None
        return key

    def _held(self, kid: str) -> SigningKey | None:
        key = self._keys.get(kid)
        if key is None:
            self.reload_if_changed(min_interval=1.0)
            key = self._keys.get(kid)
        return key

    def public_key_for(self, kid_bytes: bytes) -> ec.EllipticCurvePublicKey | None:
        """The published public key for a COSE `kid` (raw bytes), as verifiers of our codes need it."""
        # The kid's text from the few keys held, by their bytes: asked once for every code checked cold,
        # encoding it afresh took a microsecond of each. An unknown kid is encoded for `find`'s reload.
        kid = next((k.kid for k in self._keys.values() if k.kid_bytes == kid_bytes), None) or b64url(kid_bytes)
        key = self.find(kid)
        return key.public_key if key else None

    def _published(self, key: SigningKey) -> bool:
        return key.superseded_at is None or self.clock.now() < key.superseded_at + self.grace

    def jwks(self) -> dict[str, Any]:
        self.reload_if_changed()
        return {
            "keys": [public_jwk(k.kid, k.public_key) for kid in self._order if self._published(k := self._keys[kid])]
        }

    # -- rotation ----------------------------------------------------------------------------
    def rotate(self) -> SigningKey:
        """Create a new current key; the previous one stays published for `grace`."""
        make_private_dir(self.directory)
        now = self.clock.now()
        private_key = ec.generate_private_key(ec.SECP256R1())
        kid_raw = kid_bytes_for(private_key.public_key())
        kid = b64url(kid_raw)
        filename = f"signing-{kid}.pem"
        pem = private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd = os.open(self.directory / filename, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        index = self.directory / "index.json"
        entries = json.loads(index.read_text("utf-8")) if index.exists() else []
        for entry in entries:
            entry.setdefault("superseded_at", None)
            if entry["superseded_at"] is None:
                entry["superseded_at"] = now.isoformat()
        entries.append({"kid": kid, "file": filename, "created_at": now.isoformat(), "superseded_at": None})
        tmp = index.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(entries, handle, indent=2)
        os.replace(tmp, index)
        self._read_index(index)
        return self._keys[kid]
