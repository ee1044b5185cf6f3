"""authlib's authorization server, driven without a web framework of its own (authlib has no Sanic integration).

authlib's hooks are synchronous and this service reads its database asynchronously, so every call is made in
three steps: the service first reads what the request may need (the client it names, the code it presents,
whether its nonce was seen, the citizen's claims) into a `Prepared`; authlib then decides over that with no
I/O at all, so the event loop is never blocked; what it decided to write (a code issued, a code spent, a token
issued) is left in `Prepared` for the service to store afterwards, in the same request.

The grants are authlib's: `AuthorizationCodeGrant` with PKCE (`CodeChallenge`, S256 only and required of every
client) and OpenID Connect (`OpenIDCode`, the id_token signed ES256 with the service's current key).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Mapping

from authlib.oauth2.rfc6749 import (
    AuthorizationCodeGrant, AuthorizationCodeMixin, AuthorizationServer, ClientMixin, InvalidRequestError,
    JsonRequest, OAuth2Error, OAuth2Payload, OAuth2Request,
)
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey

from app.oidc.rules import OPENID, SCOPE_NAMES, acr_of, scope_list

SECRET_METHODS = ("client_secret_basic", "client_secret_post")
PUBLIC_METHODS = ("none",)
ID_TOKEN_ALG = "ES256"
MAX_NONCE = 200  # characters: a longer nonce is refused rather than cut


def secret_hash(secret: str) -> str:
    """Client secrets are 256 random bits, so one SHA-256 is enough to keep them unusable at rest."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class HttpCall:
    """One HTTP request as authlib needs to see it: no framework object crosses into the domain."""

    method: str
    uri: str  # the issuer's address of the endpoint, with the query string
    query: Mapping[str, list[str]]
    form: Mapping[str, list[str]]
    headers: Mapping[str, str]
    source: str = ""  # the caller's address (rate limits of the token endpoint)

    def first(self, name: str) -> str | None:
        values = self.form.get(name) or self.query.get(name)
        return values[0] if values else None


class _CallPayload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, call: HttpCall) -> None:
        self._call = call

    @property
    def data(self) -> dict[str, str]:
        merged = {k: v[0] for k, v in self._call.query.items() if v}
        merged.update({k: v[0] for k, v in self._call.form.items() if v})
        return merged

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        values: defaultdict[str, list[str]] = defaultdict(list)
        for source in (self._call.query, self._call.form):
            for key, items in source.items():
                values[key].extend(items)
        return values


class CallRequest(OAuth2Request):  # type: ignore[misc]
    """An `HttpCall` as authlib's framework-neutral request."""

    def __init__(self, call: HttpCall) -> None:
        super().__init__(call.method, call.uri, headers=dict(call.headers))
        self.call = call
        self.payload = _CallPayload(call)

    @property
    def args(self) -> dict[str, str]:
        return {k: v[0] for k, v in self.call.query.items() if v}

    @property
    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in self.call.form.items() if v}


@dataclass(frozen=True)
class Site(ClientMixin):  # type: ignore[misc]
    """A registered client (接入网站) as authlib asks about it."""

    client_id: str
    name: str
    client_type: str  # confidential or public
    secret_hash: str | None
    redirect_uris: tuple[str, ...]
    scopes: tuple[str, ...]
    sector: str

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None  # OpenID Connect requires redirect_uri in every request: none is assumed

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The scope asked, if it has `openid` and nothing the site was not registered for; else None (invalid_scope)."""
        asked = (scope or "").split()
        if OPENID not in asked or any(name not in self.scopes for name in asked):
            return None
        return " ".join(scope_list(scope))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris  # exact match, RFC 6749 §3.1.2.3

    def check_client_secret(self, client_secret: str) -> bool:
        return self.secret_hash is not None and hmac.compare_digest(secret_hash(client_secret), self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in (SECRET_METHODS if self.client_type == "confidential" else PUBLIC_METHODS)

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass(frozen=True)
class CodeGrant:
    """What an authorization code was issued for: the site, the citizen, where to, what, and its PKCE challenge."""

    client_id: str
    citizen_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str
    code_challenge_method: str


@dataclass(frozen=True)
class HeldCode(CodeGrant, AuthorizationCodeMixin):  # type: ignore[misc]
    """A stored authorization code, unspent and unexpired, as authlib checks it."""

    code_hash: str
    level: int
    auth_time: int

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str:
        return acr_of(self.level)

    def get_amr(self) -> None:
        return None


@dataclass(frozen=True)
class IssuedCode(CodeGrant):
    """A code authlib issued, for the service to store (by hash)."""

    code: str


@dataclass(frozen=True)
class Signer:
    """The key, issuer and times the id_token is made with."""

    private_key: ec.EllipticCurvePrivateKey
    kid: str
    issuer: str
    now: int
    id_token_ttl: int
    access_token_ttl: int


@dataclass
class Prepared:
    """What one request may need, read before authlib runs; and what authlib decided, to be stored after."""

    sites: dict[str, Site]
    signer: Signer
    citizen_id: str | None = None  # the signed-in citizen approving (authorization endpoint)
    code: HeldCode | None = None  # the code presented, when it is stored, unspent and unexpired (token endpoint)
    nonce_seen: bool = False
    user_claims: dict[str, Any] = field(default_factory=dict)  # the claims of the code's scopes (token endpoint)
    issued_code: IssuedCode | None = None
    spent_code: HeldCode | None = None
    issued_token: dict[str, Any] | None = None
    authenticated: Site | None = None  # the site the token request authenticated as (token endpoint)


@dataclass(frozen=True)
class ProviderReply:
    """authlib's answer: a status, a body (a dict of JSON, or empty), and headers (a Location for a redirect)."""

    status: int
    body: dict[str, Any] | str
    headers: dict[str, str]

    @property
    def location(self) -> str | None:
        return self.headers.get("Location")


class S256Challenge(CodeChallenge):  # type: ignore[misc]
    """PKCE as RFC 7636 describes it, stricter: every client sends a challenge, and only S256 (no plain)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("Missing 'code_challenge': PKCE (S256) is required")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Unsupported 'code_challenge_method': S256 is required")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'")
        super().validate_code_verifier(grant, result)


class _CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = [*SECRET_METHODS, *PUBLIC_METHODS]

    @property
    def prepared(self) -> Prepared:
        prepared: Prepared = self.server.prepared
        return prepared

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        self.prepared.issued_code = IssuedCode(
            code=code, client_id=request.client.client_id, citizen_id=str(request.user), redirect_uri=data["redirect_uri"],
            scope=request.scope, nonce=data.get("nonce"), code_challenge=data["code_challenge"],
            code_challenge_method=data["code_challenge_method"])

    def query_authorization_code(self, code: str, client: Site) -> HeldCode | None:
        held = self.prepared.code
        if held is None or held.client_id != client.client_id or not hmac.compare_digest(held.code_hash, code_hash(code)):
            return None
        return held

    def delete_authorization_code(self, authorization_code: HeldCode) -> None:
        self.prepared.spent_code = authorization_code

    def authenticate_user(self, authorization_code: HeldCode) -> str:
        return authorization_code.citizen_id


class _IdToken(OpenIDCode):  # type: ignore[misc]
    """The id_token: ES256 with the service's current key (its `kid`), the service's clock, the claims prepared."""

    def __init__(self, prepared: Prepared) -> None:
        super().__init__(require_nonce=False)
        self.prepared = prepared

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return self.prepared.nonce_seen

    def validate_openid_authorization_request(self, grant: Any, redirect_uri: str) -> None:
        if len(grant.request.payload.data.get("nonce") or "") > MAX_NONCE:
            raise InvalidRequestError(f"'nonce' longer than {MAX_NONCE} characters")
        super().validate_openid_authorization_request(grant, redirect_uri)

    def resolve_client_private_key(self, client: Site) -> ECKey:
        return ECKey.import_key(self.prepared.signer.private_key, {"kid": self.prepared.signer.kid})

    def get_client_algorithm(self, client: Site) -> str:
        return ID_TOKEN_ALG

    def get_encode_header(self, client: Site) -> dict[str, str]:
        return {"alg": ID_TOKEN_ALG, "kid": self.prepared.signer.kid, "typ": "JWT"}

    def get_client_claims(self, client: Site) -> dict[str, Any]:
        signer = self.prepared.signer
        return {"iss": signer.issuer, "aud": client.client_id, "iat": signer.now, "exp": signer.now + signer.id_token_ttl}

    def generate_user_info(self, user: str, scope: str) -> dict[str, Any]:
        return dict(self.prepared.user_claims)


class ProviderServer(AuthorizationServer):  # type: ignore[misc]
    """authlib's AuthorizationServer over one `Prepared`: built for each request, it does no I/O."""

    def __init__(self, prepared: Prepared) -> None:
        super().__init__(scopes_supported=list(SCOPE_NAMES))
        self.prepared = prepared
        self.register_grant(_CodeGrant, [S256Challenge(required=True), _IdToken(prepared)])
        self.register_token_generator("default", self._bearer_token)

    def _bearer_token(self, grant_type: str, client: Site, user: Any = None, scope: str | None = None,
                      expires_in: int | None = None, include_refresh_token: bool = True) -> dict[str, Any]:
        return {"token_type": "Bearer", "access_token": secrets.token_urlsafe(32),
                "expires_in": self.prepared.signer.access_token_ttl, "scope": scope or ""}

    def query_client(self, client_id: str) -> Site | None:
        return self.prepared.sites.get(client_id)

    def authenticate_client(self, request: OAuth2Request, methods: list[str], endpoint: str = "token") -> Site:
        client: Site = super().authenticate_client(request, methods, endpoint)
        self.prepared.authenticated = client
        return client

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        self.prepared.issued_token = token

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def create_oauth2_request(self, request: HttpCall | OAuth2Request) -> OAuth2Request:
        return request if isinstance(request, OAuth2Request) else CallRequest(request)

    def create_json_request(self, request: HttpCall) -> JsonRequest:
        return JsonRequest(request.method, request.uri, dict(request.headers))

    def handle_response(self, status: int, body: Any, headers: Any) -> ProviderReply:
        return ProviderReply(status, body if isinstance(body, (dict, str)) else dict(body), dict(headers or []))


__all__ = ["CallRequest", "HeldCode", "HttpCall", "IssuedCode", "OAuth2Error", "Prepared", "ProviderReply",
           "ProviderServer", "Signer", "Site", "code_hash", "secret_hash"]
