"""Sanic requests as the OpenID Connect provider's `HttpCall`s (authlib sees no framework object)."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs

from sanic import Request

from api.http import client_ip
from api.services import services
from app.oidc.service import HttpCall

AUTHORIZE_PATH = "/oidc/authorize"
# A token request is a handful of short fields: a larger form is not parsed (on the event loop) but refused.
MAX_FORM_BYTES = 8192
MAX_FORM_FIELDS = 20


def issuer_of(request: Request) -> str:
    """The issuer sites know us by: APP_OIDC_ISSUER, or outside production the address asked."""
    return services(request).oidc.issuer(f"{request.scheme}://{request.host}")


def _headers(request: Request) -> dict[str, str]:
    # Named as authlib looks them up (a plain dict is case-sensitive).
    return {"Authorization": _readable_authorization(request.headers.get("authorization", "")),
            "Content-Type": request.headers.get("content-type", "")}


def _readable_authorization(value: str) -> str:
    """The header, or none when its Basic credentials are not UTF-8 (authlib would fail on them): such a site
    then presents no credentials, and is refused with invalid_client."""
    scheme, _, token = value.partition(" ")
    if scheme.lower() == "basic":
        try:
            base64.b64decode(token.strip()).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return ""
    return value


def authorization_call(request: Request, query: str) -> HttpCall:
    """An authorization request, by its query string (as the browser sent it to /oidc/authorize)."""
    uri = f"{issuer_of(request)}{AUTHORIZE_PATH}?{query}"
    return HttpCall("GET", uri, parse_qs(query, keep_blank_values=True), {}, _headers(request))


def form_call(request: Request, path: str) -> HttpCall:
    """A POST of application/x-www-form-urlencoded (the token endpoint), as RFC 6749 §4.1.3 sends it."""
    raw = request.body or b""
    try:
        body = raw.decode("utf-8") if len(raw) <= MAX_FORM_BYTES else ""
        form = parse_qs(body, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError):  # not UTF-8, or more fields than a token request has
        form = {}
    return HttpCall("POST", f"{issuer_of(request)}{path}", parse_qs(request.query_string), form, _headers(request),
                    client_ip(request))
