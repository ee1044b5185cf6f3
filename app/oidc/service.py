"""Sign in with this account elsewhere (用粤省事账号登录其他政务网站): the OpenID Connect provider's operations.

A registered site sends the citizen's browser to the authorization endpoint; the citizen, signed in, sees
the site's name and what it would learn, and approves or refuses; the site exchanges the code (with its PKCE
verifier, and its secret when it has one) for an id_token and an access token for userinfo. Every code issued,
token exchanged and userinfo read is in the citizen's access log, naming the site and the claims released.
The protocol decisions are authlib's (`authlib_server`); this module reads and stores around them.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Awaitable, Callable, Mapping
from urllib.parse import urlencode, urlsplit, urlunsplit

from authlib.oauth2.rfc6749 import InvalidGrantError
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app import audit
from app.accounts.service import CitizenSnapshot, Profile, SessionSignIn
from app.errors import AppError, NotFound, RateLimited, Unauthorized, ValidationFailed
from app.ids import new_id
from app.oidc.authlib_server import (
    HeldCode, HttpCall, IssuedCode, OAuth2Error, Prepared, ProviderReply, ProviderServer, Signer, Site, code_hash,
    secret_hash,
)
from app.oidc.models import OidcAccessToken, OidcAuthorizationCode, OidcClient, OidcConsent
from app.oidc.rules import (
    AGE_SCOPES, CLAIMS_SUPPORTED, LEVELS, OPENID, SCOPE_NAMES, SCOPES, CitizenFacts, acr_of, claims_for, level_of_acr,
    pairwise_subject, released_claims, scope_list, host_of, sign_in_level,
)
from app.platform import Platform, load_secret_key
from app.security import ratelimit
from app.personal_data import Areas, record_of
from app.security.pii import PiiCipher

CLIENT_TYPES = ("confidential", "public")
MAX_REDIRECT_URIS = 10
# Loopback by address only (RFC 8252 §8.3): "localhost" may resolve elsewhere, and its port could be anyone's.
LOOPBACK_HOSTS = ("127.0.0.1", "::1")
PURPOSE = "sign_in"  # the purpose the access log names for every release to a site
# Token requests a site may have refused (a wrong secret, a bad code or verifier) a minute: more is guessing (429).
REFUSED_TOKEN_REQUESTS_PER_MINUTE = 20
_NAME = re.compile(r"^\S(.{0,98}\S)?$")


@dataclass(frozen=True)
class RegisteredSite:
    client: OidcClient
    secret: str | None  # shown once, at registration; only its hash is kept


@dataclass(frozen=True)
class ConsentAsk:
    """What the consent page shows: the site, and what it would learn."""

    client_id: str
    client_name: str
    scopes: list[str]
    remembered: bool  # the citizen already agreed to all of it for this site


@dataclass(frozen=True)
class RememberedConsent:
    """A site the citizen agreed may sign them in, and what it may learn (我授权的网站)."""

    client_id: str
    client_name: str
    scopes: list[str]
    granted_at: datetime


@dataclass(frozen=True)
class Outcome:
    """Where the browser goes next: back to the site (`redirect_to`), or, when the request cannot be trusted
    with a redirect (an unknown site or redirect URI), an error page naming `error`."""

    redirect_to: str | None
    error: str | None = None
    description: str | None = None


Citizens = Callable[[str], Awaitable[CitizenSnapshot]]
Ages = Callable[[str, list[str], date], Awaitable[dict[str, Any]]]
SignIns = Callable[[str], Awaitable[SessionSignIn]]
# OpenID Connect's error for an acr the sign-in cannot give (OpenID Connect Unmet Authentication Requirements 1.0).
UNMET_REQUIREMENTS = "unmet_authentication_requirements"


class OidcService:
    def __init__(self, platform: Platform, citizens: Citizens, profile_of: Callable[[CitizenSnapshot], Profile],
                 ages: Ages, sign_ins: SignIns) -> None:
        self.platform = platform
        self.settings = platform.settings.oidc
        self.citizens = citizens  # AccountService.citizen: the cached snapshot
        self.profile_of = profile_of  # AccountService.profile: masked name and phone
        self.ages = ages  # VoucherService.attribute_values: the yes/no age answers
        self.sign_ins = sign_ins  # AccountService.sign_in_of: when and how the citizen's session signed in
        self.pairwise_secret = load_secret_key(self.settings.pairwise_secret, "APP_OIDC_PAIRWISE_SECRET",
                                               platform.settings.resolved_keys_dir / "oidc-pairwise.key")

    # -- discovery ----------------------------------------------------------------------------------
    def issuer(self, origin: str) -> str:
        """APP_OIDC_ISSUER, or outside production the address the request came to."""
        return self.settings.issuer.rstrip("/") or origin.rstrip("/")

    def discovery(self, issuer: str) -> dict[str, Any]:
        """OpenID Connect Discovery 1.0 §3: what a site needs to sign citizens in with us."""
        return {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/oidc/authorize",
            "token_endpoint": f"{issuer}/oidc/token",
            "userinfo_endpoint": f"{issuer}/oidc/userinfo",
            "jwks_uri": f"{issuer}/.well-known/jwks.json",
            "scopes_supported": list(SCOPE_NAMES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": [*CLAIMS_SUPPORTED, "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash"],
            "acr_values_supported": [acr_of(level) for level in LEVELS],
            "ui_locales_supported": ["zh-Hans", "zh-Hant", "en"],
            "claims_parameter_supported": False,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            "authorization_response_iss_parameter_supported": True,
        }

    # -- registration (admin) -----------------------------------------------------------------------
    async def register(self, admin_id: str, name: str, client_type: str, redirect_uris: list[str],
                       scopes: list[str]) -> RegisteredSite:
        """A new site: its client_id, and for a confidential one a secret shown this once."""
        _check_site(name, client_type, redirect_uris, scopes)
        secret = secrets.token_urlsafe(32) if client_type == "confidential" else None
        client_id = new_id("oc")
        client = await OidcClient.create(
            id=client_id, name=name, client_type=client_type, secret_hash=secret_hash(secret) if secret else None,
            redirect_uris=list(dict.fromkeys(redirect_uris)), scopes=scope_list(" ".join(scopes)),
            sector=client_id, created_by=admin_id, created_at=self.platform.clock.now())
        await audit.record_event(self.platform.clock, actor=admin_id, actor_type="admin", action="oidc_client_registered",
                                 subject_id=client.id, attributes={"name": name, "type": client_type})
        return RegisteredSite(client, secret)

    async def sites(self) -> list[OidcClient]:
        return await OidcClient.all().order_by("created_at", "id")

    async def disable(self, admin_id: str, client_id: str) -> OidcClient:
        """The site signs no one in any more; the tokens it holds stop working at userinfo."""
        client = await OidcClient.get_or_none(id=client_id)
        if client is None:
            raise NotFound("OIDC_CLIENT_NOT_FOUND")
        if client.active:
            client.active, client.disabled_at = False, self.platform.clock.now()
            await client.save(update_fields=["active", "disabled_at"])
            await audit.record_event(self.platform.clock, actor=admin_id, actor_type="admin",
                                     action="oidc_client_disabled", subject_id=client.id)
        return client

    # -- the authorization endpoint --------------------------------------------------------------------
    async def check_authorization(self, call: HttpCall, issuer: str) -> Outcome | None:
        """Before the consent page is shown: None when the request is sound, else where the browser goes."""
        server = ProviderServer(await self._prepare(call, issuer))
        return self._refusal(server, call, citizen_id=None)

    async def consent_request(self, citizen: CitizenSnapshot, session_id: str, call: HttpCall,
                              issuer: str) -> ConsentAsk | Outcome:
        """What the signed-in citizen is asked, or where the browser goes when the request is refused."""
        prepared = await self._prepare(call, issuer, citizen.id)
        server = ProviderServer(prepared)
        sign_in = await self.sign_ins(session_id)
        refused = self._refusal(server, call, citizen.id) or \
            _unmet(server, call, sign_in_level(citizen.level, sign_in.face_checked)) or \
            self._too_old(server, call, sign_in)
        if refused is not None:
            return refused
        site = prepared.sites[call.first("client_id") or ""]
        scopes = scope_list(call.first("scope"))
        consent = await OidcConsent.get_or_none(citizen_id=citizen.id, client_id=site.client_id)
        prompts = (call.first("prompt") or "").split()
        # prompt=consent: asked again even when remembered; prompt=none: nothing may be asked (OIDC Core §3.1.2.1).
        remembered = consent is not None and set(scopes) <= set(consent.scopes) and "consent" not in prompts
        if not remembered and "none" in prompts:
            return _outcome_of(server, call, OAuth2Error("Consent is needed", state=call.first("state"),
                                                         redirect_uri=call.first("redirect_uri"), error="consent_required"))
        return ConsentAsk(site.client_id, site.name, scopes, remembered)

    async def decide(self, citizen: CitizenSnapshot, session_id: str, call: HttpCall, issuer: str,
                     approve: bool) -> Outcome:
        """The citizen's answer: a code for the site (remembered consent, access log), or access_denied."""
        prepared = await self._prepare(call, issuer, citizen.id)
        server = ProviderServer(prepared)
        try:
            grant = server.get_consent_grant(call, end_user=citizen.id)
        except OAuth2Error as error:
            return _outcome_of(server, call, error)
        sign_in = await self.sign_ins(session_id)
        level = sign_in_level(citizen.level, sign_in.face_checked)
        unmet = _unmet(server, call, level) or self._too_old(server, call, sign_in)
        if unmet is not None:
            return unmet
        reply = server.create_authorization_response(call, grant_user=citizen.id if approve else None, grant=grant)
        issued = prepared.issued_code
        if issued is not None:
            site = prepared.sites[issued.client_id]
            await self._store_code(issued, level, int(sign_in.signed_in_at.timestamp()))
            await self._remember(citizen.id, site.client_id, scope_list(issued.scope))
            await self._log_release(citizen.id, site, "oidc_code_issued", scope_list(issued.scope))
        return Outcome(_with_issuer(reply.location, issuer))

    # -- the token endpoint ------------------------------------------------------------------------------
    async def token(self, call: HttpCall, issuer: str) -> ProviderReply:
        """The code exchanged for tokens (RFC 6749 §4.1.3, OIDC Core §3.1.3); a code presented again is refused
        and every token issued from it revoked (RFC 6749 §4.1.2). Too many refusals: 429 in RFC 6749's error form,
        which a site's OAuth library parses, with Retry-After."""
        try:
            return await self._token(call, issuer)
        except RateLimited as limited:
            retry_after = int(limited.extra["retry_after"])
            return ProviderReply(429, {"error": "invalid_request", "error_description": "Too many refused token "
                                       f"requests: retry after {retry_after} seconds"},
                                 {"Retry-After": str(retry_after), "Cache-Control": "no-store"})

    async def _token(self, call: HttpCall, issuer: str) -> ProviderReply:
        prepared = await self._prepare(call, issuer)
        # Failed client logins count per client_id and caller address: client_ids are public, so a count per
        # client_id alone would let anyone lock a site out. Bad codes or verifiers count once the site is known.
        login_key = f"oidc-token-refused:{_presented_client(call)}:{call.source}"
        await self._check_refusals(login_key)
        stored = await self._presented_code(call.first("code"))
        if stored is not None and stored.used_at is None and stored.expires_at > self.platform.clock.now():
            prepared.code = _held(stored)
            site = prepared.sites.get(stored.client_id)
            if site is not None:
                prepared.user_claims = await self._claims(stored.citizen_id, site, scope_list(stored.scope))
        server = ProviderServer(prepared)
        try:
            reply: ProviderReply = server.create_token_response(call)
        except OAuth2Error as error:  # raised before authlib's own handling: plain http to a host not loopback
            reply = ProviderReply(error.status_code, dict(error.get_body()), {"Cache-Control": "no-store"})
        grant_key = _grant_key(prepared.authenticated, call.source)
        if grant_key is not None:
            await self._check_refusals(grant_key)
        if stored is not None and stored.used_at is not None and _error_of(reply) == "invalid_grant":
            await self._revoke_tokens_of(stored.code_hash)
        if reply.status >= 400:
            await self._count_refusal(grant_key or login_key)
        if prepared.spent_code is not None and prepared.issued_token is not None:
            return await self._issue(server, call, prepared, reply)
        return reply

    async def _check_refusals(self, key: str) -> None:
        await ratelimit.hit(self.platform.cache, self.platform.clock, key, REFUSED_TOKEN_REQUESTS_PER_MINUTE - 1, 60,
                            amount=0)

    async def _count_refusal(self, key: str) -> None:
        await ratelimit.hit(self.platform.cache, self.platform.clock, key, REFUSED_TOKEN_REQUESTS_PER_MINUTE, 60)

    async def _issue(self, server: ProviderServer, call: HttpCall, prepared: Prepared, reply: ProviderReply) -> ProviderReply:
        held, token = prepared.spent_code, prepared.issued_token
        assert held is not None and token is not None
        now = self.platform.clock.now()
        # Spent once even when the same code arrives twice at once: only one UPDATE finds it unspent.
        # The code spent and its token stored together: a failure between them leaves the code unspent.
        async with in_transaction():
            spent = await OidcAuthorizationCode.filter(code_hash=held.code_hash, used_at=None).update(used_at=now)
            if spent:
                await OidcAccessToken.create(
                    token_hash=code_hash(token["access_token"]), code_hash=held.code_hash, client_id=held.client_id,
                    citizen_id=held.citizen_id, scope=held.scope, created_at=now,
                    expires_at=now + timedelta(seconds=self.settings.access_token_ttl))
        if not spent:
            await self._revoke_tokens_of(held.code_hash)
            refused: ProviderReply = server.handle_error_response(call, InvalidGrantError("Invalid 'code' in request."))
            return refused
        site = prepared.sites[held.client_id]
        await self._log_release(held.citizen_id, site, "oidc_token_issued", scope_list(held.scope), prepared.user_claims)
        return reply

    # -- userinfo ------------------------------------------------------------------------------------------
    async def userinfo(self, access_token: str) -> dict[str, Any]:
        """The claims of the token's scopes (OIDC Core §5.3), for a live token of an active site."""
        token = await OidcAccessToken.get_or_none(token_hash=code_hash(access_token))
        if token is None or token.revoked_at is not None or token.expires_at <= self.platform.clock.now():
            raise _invalid_token()
        client = await OidcClient.get_or_none(id=token.client_id, active=True)
        if client is None:
            raise _invalid_token()
        site, scopes = _site(client), scope_list(token.scope)
        claims = await self._claims(token.citizen_id, site, scopes)
        await self._log_release(token.citizen_id, site, "oidc_userinfo_read", scopes, claims)
        return claims

    # -- the citizen's own consents (PIPL art. 15: withdrawn as easily as given) -----------------------------
    async def consents_of(self, citizen_id: str) -> list[RememberedConsent]:
        consents = await OidcConsent.filter(citizen_id=citizen_id).order_by("-granted_at", "id")
        names = dict(await OidcClient.filter(id__in=[c.client_id for c in consents]).values_list("id", "name"))
        return [RememberedConsent(c.client_id, str(names.get(c.client_id, c.client_id)), c.scopes, c.granted_at)
                for c in consents]

    async def withdraw(self, citizen_id: str, client_id: str) -> None:
        """The consent forgotten (the next sign-in there asks again) and the site's live tokens revoked."""
        async with in_transaction():
            if not await OidcConsent.filter(citizen_id=citizen_id, client_id=client_id).delete():
                raise NotFound("OIDC_CLIENT_NOT_FOUND")
            await OidcAccessToken.filter(citizen_id=citizen_id, client_id=client_id, revoked_at=None) \
                .update(revoked_at=self.platform.clock.now())
        await audit.record_event(self.platform.clock, actor=citizen_id, actor_type="citizen",
                                 action="oidc_consent_withdrawn", subject_id=client_id)

    # -- upkeep and the citizen's own data ---------------------------------------------------------------
    async def purge_expired(self) -> int:
        """Codes and access tokens past use. A spent code is kept while a token issued from it may still be
        live, so that a replay of it still revokes that token."""
        now = self.platform.clock.now()
        codes = await OidcAuthorizationCode.filter(
            expires_at__lt=now - timedelta(seconds=self.settings.access_token_ttl)).delete()
        tokens = await OidcAccessToken.filter(expires_at__lt=now).delete()
        return int(codes) + int(tokens)

    async def erase_citizen(self, citizen_id: str) -> None:
        """Everything this provider holds of a citizen whose account is deleted: consents, codes, tokens."""
        async with in_transaction():
            await OidcConsent.filter(citizen_id=citizen_id).delete()
            await OidcAuthorizationCode.filter(citizen_id=citizen_id).delete()
            await OidcAccessToken.filter(citizen_id=citizen_id).delete()

    # -- reading before authlib, storing after ------------------------------------------------------------
    async def _prepare(self, call: HttpCall, issuer: str, citizen_id: str | None = None) -> Prepared:
        basic_id, _ = extract_basic_authorization(call.headers)
        ids = {i for i in (call.first("client_id"), basic_id) if i}
        rows = await OidcClient.filter(id__in=sorted(ids), active=True) if ids else []
        sites = {row.id: _site(row) for row in rows}
        nonce, client_id = call.first("nonce"), call.first("client_id")
        nonce_seen = bool(nonce and client_id and citizen_id is not None and
                          await OidcAuthorizationCode.filter(client_id=client_id, nonce=nonce).exists())
        key = self.platform.keys.current
        signer = Signer(key.private_key, key.kid, issuer, int(self.platform.clock.timestamp()),
                        self.settings.id_token_ttl, self.settings.access_token_ttl)
        return Prepared(sites=sites, signer=signer, citizen_id=citizen_id, nonce_seen=nonce_seen)

    def _too_old(self, server: ProviderServer, call: HttpCall, sign_in: SessionSignIn) -> Outcome | None:
        """max_age (OIDC Core §3.1.2.1): a sign-in older than the site allows is made again. With prompt=none the
        site hears login_required; otherwise the consent page signs the citizen in afresh (401)."""
        max_age = call.first("max_age") or ""
        if not max_age.isdigit() or int((self.platform.clock.now() - sign_in.signed_in_at).total_seconds()) <= int(max_age):
            return None
        if "none" in (call.first("prompt") or "").split():
            error = OAuth2Error("The sign-in is older than max_age", state=call.first("state"),
                                redirect_uri=call.first("redirect_uri"), error="login_required")
            return _outcome_of(server, call, error)
        raise Unauthorized("OIDC_SIGN_IN_AGAIN")

    def _refusal(self, server: ProviderServer, call: HttpCall, citizen_id: str | None) -> Outcome | None:
        try:
            server.get_consent_grant(call, end_user=citizen_id)
        except OAuth2Error as error:
            return _outcome_of(server, call, error)
        return None

    async def _presented_code(self, code: str | None) -> OidcAuthorizationCode | None:
        if not code or len(code) > 200:
            return None
        return await OidcAuthorizationCode.get_or_none(code_hash=code_hash(code))

    async def _store_code(self, issued: IssuedCode, level: int, auth_time: int) -> None:
        now = self.platform.clock.now()
        await OidcAuthorizationCode.create(
            code_hash=code_hash(issued.code), client_id=issued.client_id, citizen_id=issued.citizen_id,
            redirect_uri=issued.redirect_uri, scope=issued.scope, nonce=issued.nonce,
            code_challenge=issued.code_challenge, code_challenge_method=issued.code_challenge_method, level=level,
            auth_time=auth_time, created_at=now, expires_at=now + timedelta(seconds=self.settings.code_ttl))

    async def _remember(self, citizen_id: str, client_id: str, scopes: list[str]) -> None:
        now = self.platform.clock.now()
        consent = await OidcConsent.get_or_none(citizen_id=citizen_id, client_id=client_id)
        if consent is None:
            try:
                async with in_transaction():
                    await OidcConsent.create(citizen_id=citizen_id, client_id=client_id, scopes=scopes, granted_at=now)
                return
            except IntegrityError:  # approved at the same moment in another tab: widen that one
                consent = await OidcConsent.get(citizen_id=citizen_id, client_id=client_id)
        consent.scopes, consent.granted_at = scope_list(" ".join([*consent.scopes, *scopes])), now
        await consent.save(update_fields=["scopes", "granted_at"])

    async def _revoke_tokens_of(self, held_hash: str) -> None:
        await OidcAccessToken.filter(code_hash=held_hash, revoked_at=None).update(revoked_at=self.platform.clock.now())

    async def _claims(self, citizen_id: str, site: Site, scopes: list[str]) -> dict[str, Any]:
        citizen = await self.citizens(citizen_id)
        profile = self.profile_of(citizen)
        wanted = [name for name in AGE_SCOPES if name in scopes]
        ages = await self.ages(citizen_id, wanted, self.platform.clock.today()) \
            if wanted and citizen.id_number_enc else {}
        facts = CitizenFacts(citizen.level, profile.name_masked, profile.phone_masked, ages)
        subject = pairwise_subject(self.pairwise_secret, site.sector, citizen_id)
        return claims_for(scopes, subject, facts)

    async def _log_release(self, citizen_id: str, site: Site, action: str, scopes: list[str],
                           claims: Mapping[str, Any] | None = None) -> None:
        """The citizen's access-log entry: the claims of `scopes`, less the age claims their document could not
        answer when `claims` (what the site was given) is known. A code issued names what the site may learn."""
        withheld = {name for name in AGE_SCOPES if name in scopes and claims is not None and name not in claims}
        await audit.record_access(self.platform.clock, citizen_id=citizen_id, actor=site.name,
                                  actor_type="relying_party", action=action,
                                  attributes=[claim for claim in released_claims(scopes) if claim not in withheld],
                                  purpose=PURPOSE)


def _outcome_of(server: ProviderServer, call: HttpCall, error: OAuth2Error) -> Outcome:
    """An error the site may hear of goes back to its redirect URI (RFC 6749 §4.1.2.1); any other is shown here."""
    if error.redirect_uri:
        return Outcome(_with_issuer(server.handle_error_response(call, error).location, server.prepared.signer.issuer))
    return Outcome(None, error.error, error.description)


async def export_of(pii: PiiCipher, citizen_id: str) -> Areas:
    """This provider's part of the citizen's copy of their data (个人信息副本): the sites they agreed may sign
    them in and what each may learn, and the sign-ins (codes, tokens) still kept, without the hashes of codes
    and tokens (credentials, meaningless outside)."""
    consents = await OidcConsent.filter(citizen_id=citizen_id).order_by("granted_at", "id")
    codes = await OidcAuthorizationCode.filter(citizen_id=citizen_id).order_by("created_at")
    tokens = await OidcAccessToken.filter(citizen_id=citizen_id).order_by("created_at")
    return {
        "oidc_consents": [record_of(row, pii, skip=("id",)) for row in consents],
        "oidc_sign_ins": [record_of(row, pii, skip=("nonce", "code_challenge", "code_challenge_method", "level",
                                                    "auth_time", "expires_at"), acr=acr_of(row.level)) for row in codes],
        "oidc_access_tokens": [record_of(row, pii) for row in tokens],
    }


def _with_issuer(location: str | None, issuer: str) -> str | None:
    """The authorization response names its issuer (RFC 9207), so a site talking to several providers can tell
    which one answered (mix-up, RFC 9700 §4.4)."""
    if location is None:
        return None
    parts = urlsplit(location)
    query = "&".join(q for q in (parts.query, urlencode({"iss": issuer})) if q)
    return urlunsplit(parts._replace(query=query))


def _unmet(server: ProviderServer, call: HttpCall, level: int) -> Outcome | None:
    """acr_values asking only for more than this sign-in gives (OIDC Core §3.1.2.1): the site hears
    unmet_authentication_requirements. Values not ours are ignored, as voluntary claims are."""
    asked = [lvl for lvl in (level_of_acr(v) for v in (call.first("acr_values") or "").split()) if lvl is not None]
    if not asked or min(asked) <= level:
        return None
    error = OAuth2Error(f"This sign-in gives {acr_of(level)}", state=call.first("state"),
                        redirect_uri=call.first("redirect_uri"), error=UNMET_REQUIREMENTS)
    return _outcome_of(server, call, error)


def _presented_client(call: HttpCall) -> str:
    basic_id, _ = extract_basic_authorization(call.headers)
    return (basic_id or call.first("client_id") or "-")[:64]


def _grant_key(site: Site | None, source: str) -> str | None:
    """The count of a known site's bad codes and verifiers: its own for a site with a secret; a public site can be
    named by anyone, so its count is per caller address too."""
    if site is None:
        return None
    return f"oidc-token-bad-grant:{site.client_id}" + (f":{source}" if site.client_type == "public" else "")


def _error_of(reply: ProviderReply) -> str | None:
    return reply.body.get("error") if isinstance(reply.body, dict) else None


def _invalid_token() -> AppError:
    return Unauthorized("OIDC_TOKEN_INVALID", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def _site(row: OidcClient) -> Site:
    return Site(row.id, row.name, row.client_type, row.secret_hash, tuple(row.redirect_uris), tuple(row.scopes),
                row.sector)


def _held(row: OidcAuthorizationCode) -> HeldCode:
    return HeldCode(client_id=row.client_id, citizen_id=row.citizen_id, redirect_uri=row.redirect_uri, scope=row.scope,
                    nonce=row.nonce, code_challenge=row.code_challenge, code_challenge_method=row.code_challenge_method,
                    code_hash=row.code_hash, level=row.level, auth_time=row.auth_time)


def _check_site(name: str, client_type: str, redirect_uris: list[str], scopes: list[str]) -> None:
    if not _NAME.match(name):
        raise ValidationFailed([{"field": "name", "problem": "1 to 100 characters, not blank at either end"}])
    if client_type not in CLIENT_TYPES:
        raise ValidationFailed([{"field": "client_type", "problem": f"one of {', '.join(CLIENT_TYPES)}"}])
    if not 1 <= len(redirect_uris) <= MAX_REDIRECT_URIS or not all(_redirect_uri_ok(u) for u in redirect_uris) \
            or len({host_of(u) for u in redirect_uris}) != 1:
        raise AppError("OIDC_REDIRECT_URIS_INVALID", status=422)
    if OPENID not in scopes or any(name not in SCOPES for name in scopes):
        raise AppError("OIDC_SCOPES_INVALID", status=422, params={"known": ", ".join(SCOPE_NAMES)})


def _redirect_uri_ok(uri: str) -> bool:
    """https with a host, or http on loopback (a native app or a developer's machine, RFC 8252 §7.3); no fragment."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return False
    if len(uri) > 500 or parts.fragment or not parts.hostname:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS)


__all__ = ["ConsentAsk", "HttpCall", "OidcService", "Outcome", "ProviderReply", "RegisteredSite", "RememberedConsent",
           "export_of"]
