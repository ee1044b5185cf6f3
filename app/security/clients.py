"""API clients that authenticate with JWTs they sign themselves (labs, clerks, verifiers, partners).

As GOV.UK Notify does, with asymmetric keys: the client signs a short JWT with one of its
registered ES256 keys. `iss` is the client id, `kid` names the key, `iat` must be within 30 s of
our clock, `jti` may be used once, and `aud` must be this service's audience for that API.
A client has several live keys (for rotation); a key stops working at its expiry or revocation.

A client may be bound to one catalogue department (e.g. gd-hrss). The binding scopes the clerk role:
a clerk sees and acts on its own department's applications, follow-up cases and statistics only,
and a clerk bound to none is refused (403 CLIENT_DEPARTMENT_REQUIRED) rather than shown everything.

Every client request needs the client and its keys, so they are read from the shared cache
(mirrored in each worker with Redis), not the database. Whatever changes a client or its keys goes
through `set_client_active`, `set_client_department`, `revoke_client_key` or `forget_client`, which
make every worker read the database again at once; a change made by hand in SQL counts within
`CLIENT_CACHE_TTL`.

The cached form is kept under a key that names its version (`client:v2:<id>`, seven fields). Workers
of the previous version, still serving during a rolling deploy, read and write their six-field form
under `client:<id>`: neither reads the other's, and every change marks both, so each worker reads
the database again whichever version it runs. A change of the cached form takes a new key name.
"""

from __future__ import annotations

import functools
import json
import secrets
from dataclasses import dataclass
from datetime import datetime

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from tortoise import fields
from tortoise.models import Model

from app.cache import Cache
from app.clock import Clock
from app.errors import Forbidden, Unauthorized
from app.security import jws

CLIENT_AUDIENCES = ("admin", "partner", "relying_party")
IAT_TOLERANCE = 30
CLIENT_CACHE_TTL = 60.0  # the longest a change made outside the service (SQL by hand) goes unseen
# Left in the cache by a change: readers go to the database and store nothing over it until it lapses,
# so a read that began before the change cannot put the old client back. Longer than any such read.
CHANGED = "changed"
CHANGED_TTL = 30.0


class ApiClient(Model):
    """A registered organisation: a lab, a department, a verifier, a partner region, a relying party."""

    id = fields.CharField(pk=True, max_length=40)
    name = fields.CharField(max_length=100)
    audience = fields.CharField(max_length=16)
    roles: list[str] = fields.JSONField(default=list)
    created_at = fields.DatetimeField()
    active = fields.BooleanField(default=True)
    department_id = fields.CharField(max_length=40, null=True)  # the catalogue department it acts for, if any

    class Meta:
        table = "api_clients"


class ApiClientKey(Model):
    """One public key of a client, named by kid, several live at once during rotation."""

    id = fields.BigIntField(pk=True)
    client: fields.ForeignKeyRelation[ApiClient] = fields.ForeignKeyField("models.ApiClient", related_name="keys",
                                                                          on_delete=fields.CASCADE)
    kid = fields.CharField(max_length=64)
    public_key_pem = fields.TextField()
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    client_id: str

    class Meta:
        table = "api_client_keys"
        unique_together = (("client_id", "kid"),)


@dataclass(frozen=True)
class AuthenticatedClient:
    id: str
    name: str
    audience: str
    roles: tuple[str, ...]
    department_id: str | None = None

    def require_role(self, role: str) -> None:
        if role not in self.roles:
            raise Forbidden("CLIENT_ROLE_REQUIRED", params={"role": role}, extra={"required_role": role})

    def own_department(self) -> str:
        """The department this client acts for. A client bound to none is refused with 403
        CLIENT_DEPARTMENT_REQUIRED: an empty answer would look like "nothing to do", and every
        department's items would be too much."""
        if self.department_id is None:
            raise Forbidden("CLIENT_DEPARTMENT_REQUIRED")
        return self.department_id


async def register_client(clock: Clock, name: str, audience: str, roles: list[str], public_key_pem: str,
                          kid: str = "1", expires_at: datetime | None = None, client_id: str | None = None,
                          department_id: str | None = None) -> ApiClient:
    """A new client with its first key; `department_id` binds it to one catalogue department (e.g. gd-hrss)."""
    if audience not in CLIENT_AUDIENCES:
        raise ValueError(f"audience must be one of {CLIENT_AUDIENCES}")
    if department_id is not None:
        check_department_id(department_id)
    check_client_key(public_key_pem)
    client = await ApiClient.create(id=client_id or f"cl_{secrets.token_urlsafe(9)}", name=name, audience=audience,
                                    roles=roles, created_at=clock.now(), department_id=department_id)
    await ApiClientKey.create(client=client, kid=kid, public_key_pem=public_key_pem, created_at=clock.now(),
                              expires_at=expires_at)
    return client


def check_department_id(department_id: str) -> None:
    """The form of a department id (whether the catalogue knows it is for the caller to check)."""
    if not 0 < len(department_id) <= 40:
        raise ValueError("a department id is 1 to 40 characters, e.g. gd-hrss")


def check_client_key(public_key_pem: str) -> None:
    key = serialization.load_pem_public_key(public_key_pem.encode())
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("client keys must be EC P-256 public keys (ES256)")


@dataclass(frozen=True)
class RegisteredClient:
    """A client as authentication needs it: who it is, whether it may call, its unrevoked keys
    (kid → PEM and expiry as a UNIX time, None for none) and its department. Kept in the cache as JSON
    under `client_cache_key`: adding or removing a field takes a new key name (see the module's docstring)."""

    id: str
    name: str
    audience: str
    roles: tuple[str, ...]
    active: bool
    keys: dict[str, tuple[str, float | None]]
    department_id: str | None = None

    def live_key(self, kid: str, now: datetime) -> ec.EllipticCurvePublicKey | None:
        """The public key named `kid`, unless it is unknown, revoked or expired by `now`."""
        key = self.keys.get(kid)
        if key is None or (key[1] is not None and key[1] <= now.timestamp()):
            return None
        return _public_key(key[0])

    def authenticated(self) -> AuthenticatedClient:
        return AuthenticatedClient(self.id, self.name, self.audience, self.roles, self.department_id)

    def to_json(self) -> str:
        return json.dumps([self.id, self.name, self.audience, self.roles, self.active, self.keys, self.department_id],
                          ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "RegisteredClient":
        client_id, name, audience, roles, active, keys, department_id = json.loads(text)
        return cls(client_id, name, audience, tuple(roles), active,
                   {kid: (pem, expires_at) for kid, (pem, expires_at) in keys.items()}, department_id)


async def registered_client(cache: Cache, client_id: str) -> RegisteredClient | None:
    """The client `client_id` with its unrevoked keys: from the cache, else from the database (and then
    kept in the cache, unless a change is under way)."""
    cached = await cache.get(client_cache_key(client_id))
    if cached is not None and cached != CHANGED:
        return RegisteredClient.from_json(cached)
    row = await ApiClient.get_or_none(id=client_id)
    if row is None:
        return None  # not kept: a client registered a moment later must be found at once
    keys = await ApiClientKey.filter(client_id=client_id, revoked_at=None).values_list("kid", "public_key_pem", "expires_at")
    client = RegisteredClient(row.id, row.name, row.audience, tuple(row.roles), row.active,
                              {kid: (pem, expires_at.timestamp() if expires_at else None) for kid, pem, expires_at in keys},
                              row.department_id)
    if cached is None:
        await cache.replace(client_cache_key(client_id), None, client.to_json(), ttl=CLIENT_CACHE_TTL)
    return client


async def forget_client(cache: Cache, client_id: str) -> None:
    """After any change to a client or its keys (committed): every worker reads it from the database again,
    a worker of the previous version too (it reads "changed" as this version does)."""
    for key in (client_cache_key(client_id), _previous_cache_key(client_id)):
        await cache.set(key, CHANGED, ttl=CHANGED_TTL)


async def set_client_active(cache: Cache, client_id: str, active: bool) -> bool:
    """Suspend (停用) or reactivate a client: its next request is judged on the new state, on every worker.
    False if there is no such client. A partner region is suspended through its registry entry instead,
    which also stops its codes being accepted (ValueError)."""
    if await ApiClient.exists(id=client_id, audience="partner"):
        raise ValueError("a partner region is suspended or reactivated through PATCH /api/admin/v1/partners/{id}")
    return await _update_client(cache, client_id, active=active)


async def set_client_department(cache: Cache, client_id: str, department_id: str) -> bool:
    """Bind a client to the department `department_id` (or move it there): its next request acts for that
    department, on every worker. False if there is no such client. Whether the catalogue knows the department
    is for the caller to check: this module knows no catalogue."""
    check_department_id(department_id)
    return await _update_client(cache, client_id, department_id=department_id)


async def _update_client(cache: Cache, client_id: str, **changes: bool | str) -> bool:
    """Change a client's row so that every worker sees it at once; False if there is no such client."""
    await forget_client(cache, client_id)  # first: when the cache cannot be told, nothing is changed
    updated = await ApiClient.filter(id=client_id).update(**changes)
    await forget_client(cache, client_id)
    return bool(updated)


async def revoke_client_key(clock: Clock, cache: Cache, client_id: str, kid: str) -> bool:
    """Revoke one key of a client at once, on every worker. False if it was not a live key."""
    await forget_client(cache, client_id)  # first: when the cache cannot be told, nothing is changed
    updated = await ApiClientKey.filter(client_id=client_id, kid=kid, revoked_at=None).update(revoked_at=clock.now())
    await forget_client(cache, client_id)
    return bool(updated)


def client_cache_key(client_id: str) -> str:
    """Where this version keeps a client (under the near cache's "client:" prefix, mirrored in each worker)."""
    return f"client:v2:{client_id}"


def _previous_cache_key(client_id: str) -> str:
    """Where the previous version keeps its six-field form: never read here, only marked changed."""
    return f"client:{client_id}"


@functools.lru_cache(maxsize=1024)
def _public_key(pem: str) -> ec.EllipticCurvePublicKey:
    """A registered key parsed once per worker (by its text: a rotated key is another text); only P-256
    keys are registered (check_client_key)."""
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("a client key is EC P-256")
    return key


def _refused(code: str, **params: object) -> Unauthorized:
    return Unauthorized(code, params=params or None, headers={"WWW-Authenticate": 'Bearer realm="client"'})


async def authenticate_client(token: str, audience: str, expected_aud: str, clock: Clock, cache: Cache) -> AuthenticatedClient:
    """Check a client-signed JWT. Each failure has its own stable code that says what to fix
    (CLIENT_TOKEN_MALFORMED, CLIENT_UNKNOWN, CLIENT_SUSPENDED, CLIENT_KEY_UNKNOWN,
    CLIENT_TOKEN_SIGNATURE_INVALID, CLIENT_TOKEN_EXPIRED, CLIENT_TOKEN_AUDIENCE_INVALID, CLIENT_TOKEN_IAT_OUT_OF_RANGE,
    CLIENT_TOKEN_REPLAYED), never which part of a secret was wrong."""
    try:
        parsed = jws.read(token)  # once: PyJWT would decode it three times (header, claims, verified)
    except jwt.PyJWTError:
        raise _refused("CLIENT_TOKEN_MALFORMED", why="not a JWT") from None
    header, unverified = parsed.header, parsed.claims
    if header.get("alg") != "ES256":
        raise _refused("CLIENT_TOKEN_MALFORMED", why="alg must be ES256")
    client_id, kid = unverified.get("iss"), header.get("kid")
    if not isinstance(client_id, str) or not isinstance(kid, str):
        raise _refused("CLIENT_TOKEN_MALFORMED", why="iss (client id) and kid are required")
    # Longer than any id we store, or with a NUL (PostgreSQL text cannot hold one): unknown, without
    # asking the database, which would refuse the value.
    storable_id = len(client_id) <= 40 and "\x00" not in client_id
    client = await registered_client(cache, client_id) if storable_id else None
    if client is None or client.audience != audience:
        raise _refused("CLIENT_UNKNOWN", client=client_id[:40])
    now = clock.now()
    public_key = client.live_key(kid, now)
    if public_key is None:
        raise _refused("CLIENT_KEY_UNKNOWN", kid=kid[:64])
    try:
        jws.verify_es256(parsed, public_key)
    except jwt.PyJWTError:
        raise _refused("CLIENT_TOKEN_SIGNATURE_INVALID", kid=kid[:64]) from None
    claims = unverified  # signed by the client's key: what was read is what it signed
    try:
        jws.check_claims(claims, audience=expected_aud, require=("iss", "iat", "jti", "aud"), now=now.timestamp(),
                         leeway=5)
    except jwt.ExpiredSignatureError:  # `exp` is optional; a client that set one is held to it
        raise _refused("CLIENT_TOKEN_EXPIRED") from None
    except jwt.InvalidAudienceError:
        raise _refused("CLIENT_TOKEN_AUDIENCE_INVALID", aud=expected_aud) from None
    except jwt.MissingRequiredClaimError as error:
        raise _refused("CLIENT_TOKEN_MALFORMED", why=f"claim {error.claim} is required") from None
    except jwt.PyJWTError:
        raise _refused("CLIENT_TOKEN_SIGNATURE_INVALID", kid=kid[:64]) from None
    # Only a correctly signed token from a known client learns that the client is suspended.
    if not client.active:
        raise Forbidden("CLIENT_SUSPENDED")
    iat = claims["iat"]
    if not jws.issued_within(iat, now.timestamp(), IAT_TOLERANCE):
        raise _refused("CLIENT_TOKEN_IAT_OUT_OF_RANGE", seconds=IAT_TOLERANCE)
    if not await cache.claim_once(f"client-jti:{client.id}:{claims['jti']}", "1", ttl=2 * IAT_TOLERANCE + 5):
        raise _refused("CLIENT_TOKEN_REPLAYED")
    return client.authenticated()
