"""Six-digit one-time codes (验证码): a login code sent by SMS, a family member's consent code.

The cache keeps a keyed hash of the code with a nonce, never the code. A code may be tried a
few times (counted per code), is used once even when two requests race with it, and lapses at
its expiry by the service clock. Only the errors differ between uses: each use names its own.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from app.cache import Cache, get_json, set_json
from app.clock import Clock
from app.errors import AppError, Unauthorized
from app.security.pii import PiiCipher


@dataclass(frozen=True)
class CodeErrors:
    """What a use of the codes answers when a code has lapsed or is wrong (locked is always OTP_LOCKED)."""

    lapsed: Callable[[], AppError]
    wrong: str  # the Unauthorized code, with tries_left


def new_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


class OneTimeCodes:
    """One kind of code: its cache keys start with `prefix`, its hash is keyed for `purpose`."""

    def __init__(self, cache: Cache, pii: PiiCipher, clock: Clock, *, prefix: str, purpose: str, max_tries: int,
                 errors: CodeErrors) -> None:
        self.cache, self.pii, self.clock = cache, pii, clock
        self.prefix, self.purpose, self.max_tries, self.errors = prefix, purpose, max_tries, errors

    def _mac(self, nonce: str, code: str) -> str:
        return self.pii.lookup_hash(f"{nonce}:{code}", self.purpose)

    async def keep(self, key: str, code: str, expires_at: float, keep_for: float, **extra: Any) -> None:
        """Remember `code` under `key`, valid until `expires_at` (the record itself stays `keep_for` seconds)."""
        nonce = secrets.token_hex(12)
        await set_json(self.cache, key, {"nonce": nonce, "mac": self._mac(nonce, code), "expires_at": expires_at,
                                         **extra}, ttl=keep_for)

    async def use(self, key: str, code: str, ttl: float) -> None:
        """Use up the code kept under `key`, or raise: lapsed, wrong (with tries left) or locked."""
        await self._use_checked(key, await self._checked(key, code, ttl), ttl)

    async def _checked(self, key: str, code: str, ttl: float) -> dict[str, Any]:
        """The record of the code kept under `key` once `code` matches it (a try counted), else raise."""
        record: dict[str, Any] | None = await get_json(self.cache, key)
        if record is None or self.clock.timestamp() >= record["expires_at"]:
            raise self.errors.lapsed()
        tries = await self.cache.incr(f"{self.prefix}tries:{record['nonce']}", ttl=ttl)
        if tries > self.max_tries:
            raise AppError("OTP_LOCKED", status=429)
        if not hmac.compare_digest(self._mac(record["nonce"], code), record["mac"]):
            left = self.max_tries - tries
            if left <= 0:
                raise AppError("OTP_LOCKED", status=429)
            raise Unauthorized(self.errors.wrong, params={"tries_left": left}, extra={"tries_left": left})
        return record

    async def _use_checked(self, key: str, record: dict[str, Any], ttl: float) -> None:
        # Single use, even when two requests race with the same code.
        if not await self.cache.claim_once(f"{self.prefix}used:{record['nonce']}", "1", ttl=ttl):
            raise self.errors.lapsed()
        await self.cache.delete(key)


async def use_together(uses: Sequence[tuple[OneTimeCodes, str, str]], ttl: float) -> None:
    """Use up several codes as one proof (codes to two phones): each `(codes, key, code)` is checked, its try
    counted, before any is used, so one mistyped code leaves the others good for the next attempt."""
    records = [await codes._checked(key, code, ttl) for codes, key, code in uses]
    for (codes, key, _), record in zip(uses, records):
        await codes._use_checked(key, record, ttl)
