"""The registry of department services the platform calls (docs/exchange.md, "Registration"): one JSON file,
named by APP_EXCHANGE_REGISTRY, read once at start. A mistake in it stops the start with a ConfigError that
names the file and the entry, rather than surfacing as a refused call in front of a citizen.

    {"client": "CN-GD/GOV/11440000MB2C93140X/yss-app",
     "services": [{"service": "CN-GD/GOV/11440000MB2D0001XA/hrss/insured-status/v1",
                   "url": "https://gw.hrss.example/r1/CN-GD/GOV/11440000MB2D0001XA/hrss/insured-status/v1",
                   "keys": [{"kty": "EC", "crv": "P-256", "x": "...", "y": "...", "kid": "..."}],
                   "purposes": ["citizen_request", "home_card"],
                   "timeout": 2.0, "retries": 1, "breaker": {"failures": 5, "open_seconds": 30}}]}

`timeout`, `retries` and `breaker` may be left out (DEFAULT_TIMEOUT, no retry, DEFAULT_BREAKER). An entry may
also say which department it is, for people: `"department"` (a short code, e.g. "hrss") and `"name"`. Any other
field is refused, so that a misspelt setting is not silently left at its default. An empty `purposes` is a
department that has authorised nothing yet: every call to it is refused before it is sent.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, cast
from urllib.parse import urlparse

from cryptography.hazmat.primitives.asymmetric import ec

from app.config import ConfigError
from app.integrations import is_stand_in
from app.integrations.exchange.protocol import ALGORITHM, PURPOSES, ExchangeRefused, MemberId, ServiceId
from app.security import jwk

DEFAULT_TIMEOUT = 2.0
MAX_TIMEOUT = 30.0
MAX_RETRIES = 3
_ENTRY_FIELDS = {"service", "url", "keys", "purposes", "timeout", "retries", "breaker", "department", "name"}


@dataclass(frozen=True)
class BreakerPolicy:
    """After `failures` failed calls in a row, calls fail fast for `open_seconds`; then one trial call."""

    failures: int = 5
    open_seconds: float = 30.0


DEFAULT_BREAKER = BreakerPolicy()


@dataclass(frozen=True)
class Registration:
    """One department service as registered with the platform."""

    service: ServiceId
    url: str
    keys: Mapping[str, ec.EllipticCurvePublicKey]  # the department's reply-signing keys by kid
    purposes: frozenset[str]  # what the department authorised us to ask it for (a subset of PURPOSES)
    timeout: float = DEFAULT_TIMEOUT  # seconds for a whole call, retries included
    retries: int = 0  # extra attempts, for reads only
    breaker: BreakerPolicy = DEFAULT_BREAKER
    department: str = ""  # a short code, e.g. "hrss"
    name: str = ""  # the department's name, for people (e.g. 广东省人力资源和社会保障厅)


@dataclass(frozen=True)
class Registry:
    client: MemberId  # the subsystem the departments registered as us
    services: Mapping[str, Registration]  # by the service's text


def load_registry(path: str | Path, *, client: str | None = None, production: bool = False) -> Registry:
    """The registry at `path`. `client` (APP_EXCHANGE_CLIENT), when given, must be the file's client. In
    production every URL must be https and none may point at a stand-in."""
    where = f"APP_EXCHANGE_REGISTRY {path}"
    try:
        document = json.loads(Path(path).read_text("utf-8"))
    except OSError as error:
        raise ConfigError(f"{where}: cannot be read ({error.strerror})") from None
    except ValueError as error:
        raise ConfigError(f"{where}: not JSON ({error})") from None
    if not isinstance(document, dict) or not isinstance(document.get("services"), list):
        raise ConfigError(f'{where}: an object with "client" and a list "services"')
    try:
        named = document.get("client")
        ours = MemberId.parse(named if isinstance(named, str) else "")
    except ExchangeRefused:
        raise ConfigError(f'{where}: "client" must be INSTANCE/CLASS/MEMBER_CODE/SUBSYSTEM') from None
    if client is not None and str(ours) != client:
        raise ConfigError(f'{where}: "client" is {ours}, but APP_EXCHANGE_CLIENT is {client}')
    services: dict[str, Registration] = {}
    for index, entry in enumerate(document["services"]):
        registration = _registration(entry, f"{where}: services[{index}]", production)
        name = str(registration.service)
        if name in services:
            raise ConfigError(f"{where}: services[{index}] ({name}) is registered twice")
        services[name] = registration
    return Registry(ours, services)


def _registration(entry: Any, where: str, production: bool) -> Registration:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: an object")
    try:
        named = entry.get("service")
        service = ServiceId.parse(named if isinstance(named, str) else "")
    except ExchangeRefused:
        raise ConfigError(f'{where}: "service" must be INSTANCE/CLASS/MEMBER_CODE/SUBSYSTEM/CODE/vN') from None
    where = f"{where} ({service})"
    unknown = set(entry) - _ENTRY_FIELDS
    if unknown:
        raise ConfigError(f"{where}: unknown fields {sorted(unknown)}")
    for label in ("department", "name"):
        if not isinstance(entry.get(label, ""), str) or len(entry.get(label, "")) > 100:
            raise ConfigError(f'{where}: "{label}" is text of at most 100 characters')
    breaker = entry.get("breaker", {})
    if not isinstance(breaker, dict) or set(breaker) - {"failures", "open_seconds"}:
        raise ConfigError(f'{where}: "breaker" is {{"failures": N, "open_seconds": S}}')
    return Registration(
        service=service,
        url=_url(entry.get("url"), where, production),
        keys=_keys(entry.get("keys"), where),
        purposes=_purposes(entry.get("purposes"), where),
        timeout=_number(entry.get("timeout", DEFAULT_TIMEOUT), "timeout", 0.05, MAX_TIMEOUT, where),
        retries=int(_number(entry.get("retries", 0), "retries", 0, MAX_RETRIES, where, integer=True)),
        breaker=BreakerPolicy(
            failures=int(_number(breaker.get("failures", DEFAULT_BREAKER.failures), "breaker.failures", 1, 1000,
                                 where, integer=True)),
            open_seconds=_number(breaker.get("open_seconds", DEFAULT_BREAKER.open_seconds), "breaker.open_seconds",
                                 1, 3600, where)),
        department=entry.get("department", ""),
        name=entry.get("name", ""),
    )


def _url(value: Any, where: str, production: bool) -> str:
    parts = urlparse(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
        raise ConfigError(f'{where}: "url" must be an http(s) URL')
    if production and (parts.scheme != "https" or is_stand_in(value)):
        raise ConfigError(f'{where}: "url" must be the department\'s https gateway in production, not {value}')
    return value


# What a department's key entry is told when it is refused, by app.security.jwk's reason.
_KEY_PROBLEMS = {
    "type": "an EC P-256 public JWK",
    "private": "holds a private key; register the public key only",
    "use": f"must be a signing key for {ALGORITHM}",
    "unusable": "not a usable P-256 point",
}


def _keys(value: Any, where: str) -> dict[str, ec.EllipticCurvePublicKey]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f'{where}: "keys" must list the department\'s public keys (JWK)')
    keys: dict[str, ec.EllipticCurvePublicKey] = {}
    for index, entry in enumerate(value):
        at = f"{where}: keys[{index}]"
        try:
            key = jwk.public_key_from_jwk(entry, alg=ALGORITHM)
        except jwk.JwkError as error:
            raise ConfigError(f"{at}: {_KEY_PROBLEMS[error.reason]}") from None
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid or kid in keys:
            raise ConfigError(f'{at}: "kid" missing or repeated')
        keys[kid] = cast(ec.EllipticCurvePublicKey, key)  # EC P-256: RSA was not allowed
    return keys


def _purposes(value: Any, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise ConfigError(f'{where}: "purposes" must list what the department authorised, of {sorted(PURPOSES)}')
    unknown = set(value) - set(PURPOSES)
    if unknown:
        raise ConfigError(f'{where}: "purposes" has unknown {sorted(unknown)}; known: {sorted(PURPOSES)}')
    return frozenset(value)


def _number(value: Any, name: str, low: float, high: float, where: str, integer: bool = False) -> float:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if not ok or isinstance(value, bool) or not math.isfinite(value) or not low <= value <= high:
        kind = "a whole number" if integer else "a number"
        raise ConfigError(f'{where}: "{name}" must be {kind} from {low:g} to {high:g}')
    return float(value)
