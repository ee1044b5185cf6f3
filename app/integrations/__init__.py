"""Adapters to outside parties, each speaking that party's published protocol (see ../shared/DESIGN.md).

One package per party holds the Protocol the domains use and the adapter. Every adapter raises the
errors below (never httpx's, never the provider's text, which may hold a phone number), so a domain
decides what a citizen is told without knowing which provider answered.
"""

from __future__ import annotations

import ssl
from contextlib import contextmanager
from functools import cache
from typing import Any, Iterator
from urllib.parse import urlparse

import httpx

from app import metrics


class ProviderError(RuntimeError):
    """An outside party did not do what was asked. `code` is the provider's own error code (or a short
    kind such as "timeout"); it never holds personal data and may be logged."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class ProviderUnavailable(ProviderError):
    """Timed out, unreachable, a 5xx or the provider's own "internal error / service down": try later."""


class ProviderThrottled(ProviderError):
    """The provider refused for frequency (LimitExceeded, HTTP 429): try later, `retry_after` seconds."""

    def __init__(self, code: str, retry_after: int = 60) -> None:
        super().__init__(code)
        self.retry_after = retry_after


class ProviderMisconfigured(ProviderError):
    """The provider refused our credentials, template or signature: an operator must fix settings."""


def error_kind(error: ProviderError) -> str:
    """What kind of failure `error` is, for the operators' counts: unavailable, throttled, misconfigured or
    refused (any other refusal by the party)."""
    if isinstance(error, ProviderUnavailable):
        return "unavailable"
    if isinstance(error, ProviderThrottled):
        return "throttled"
    if isinstance(error, ProviderMisconfigured):
        return "misconfigured"
    return "refused"


@contextmanager
def reported(party: str, answers: tuple[type[ProviderError], ...] = ()) -> Iterator[None]:
    """Count a ProviderError raised inside as an error of `party` (app_outside_party_errors_total), then let it
    go on; `answers` are errors that are the party's answer to the question rather than a failure."""
    try:
        yield
    except ProviderError as error:
        if not isinstance(error, answers):
            metrics.outside_party_error(party, error_kind(error))
        raise


def is_stand_in(url: str) -> bool:
    """A provider URL on loopback is one of our stand-ins (standins/): real providers never are."""
    host = (urlparse(url).hostname or "").lower()
    return host in {"localhost", "::1"} or host.startswith("127.")


@cache
def _tls() -> ssl.SSLContext:
    """One verifying TLS context for every adapter: building one loads the CA bundle, which is slow
    and which each new httpx client would otherwise do again (docs/capacity.md)."""
    return httpx.create_ssl_context()


def http_client(**options: Any) -> httpx.AsyncClient:
    """An HTTP client for an adapter (certificates verified; `options` as httpx.AsyncClient takes them)."""
    return httpx.AsyncClient(verify=_tls(), **options)
