"""Access tokens: ES256 JWTs signed by the key store, checked against the one clock."""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import jwt

from app.clock import Clock
from app.errors import Unauthorized
from app.security.keys import SigningKeyStore

ALGORITHM = "ES256"


@dataclass(frozen=True)
class AccessClaims:
    subject: str
    session_id: str
    token_id: str
    expires_at: int


class TokenIssuer:
    """Issues and checks access tokens for one issuer (`iss`)."""

    def __init__(self, keys: SigningKeyStore, clock: Clock, issuer: str, ttl: int) -> None:
        self.keys = keys
        self.clock = clock
        self.issuer = issuer
        self.ttl = ttl
        # A signature check costs more than the rest of a cheap request, so a token already verified
        # by this process is remembered until it expires (expiry and revocation are still checked on
        # every request; docs/capacity.md).
        self._verified: OrderedDict[tuple[str, str], AccessClaims] = OrderedDict()
        self._verified_max = 10_000

    def issue(self, subject: str, session_id: str, audience: str) -> str:
        now = int(self.clock.timestamp())
        key = self.keys.current
        claims = {
            "iss": self.issuer,
            "aud": audience,
            "sub": subject,
            "sid": session_id,
            "jti": secrets.token_urlsafe(12),
            "iat": now,
            "nbf": now,
            "exp": now + self.ttl,
        }
        return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})

    def verify(self, token: str, audience: str) -> AccessClaims:
        """Reject anything but an unexpired ES256 token of ours for `audience`."""
        cached = self._verified.get((token, audience))
        if cached is not None:
            if cached.expires_at <= self.clock.timestamp():
                raise Unauthorized("TOKEN_EXPIRED")
            return cached
        claims = self._verify_signed(token, audience)
        self._verified[(token, audience)] = claims
        if len(self._verified) > self._verified_max:
            self._verified.popitem(last=False)
        return claims

    def _verify_signed(self, token: str, audience: str) -> AccessClaims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("TOKEN_INVALID") from None
        # Checked before any key is chosen: `alg: none` and HS256-with-our-public-key are refused here.
        if header.get("alg") != ALGORITHM or not isinstance(header.get("kid"), str):
            raise Unauthorized("TOKEN_INVALID")
        key = self.keys.find(header["kid"])
        if key is None:
            raise Unauthorized("TOKEN_INVALID")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.public_key,
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=self.issuer,
                # Time is checked below against the service clock, not the machine's.
                options={"require": ["exp", "iat", "sub", "jti", "iss", "aud"], "verify_exp": False,
                         "verify_iat": False, "verify_nbf": False},
            )
        except jwt.PyJWTError:
            raise Unauthorized("TOKEN_INVALID") from None
        now = self.clock.timestamp()
        if not isinstance(claims["exp"], int) or claims["exp"] <= now:
            raise Unauthorized("TOKEN_EXPIRED")
        if claims["iat"] > now + 30:
            raise Unauthorized("TOKEN_INVALID")
        if not isinstance(claims.get("sid"), str):
            raise Unauthorized("TOKEN_INVALID")
        return AccessClaims(claims["sub"], claims["sid"], claims["jti"], claims["exp"])
