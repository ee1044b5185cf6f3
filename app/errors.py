"""Error types and the one JSON error envelope: {"error": {"code", "message", "request_id"}}.

Domain code raises these; the HTTP layer turns them into the envelope with a message in the
caller's language. Messages say what to do next, in plain words.

This module is the mechanism only: each domain registers the words of the codes it raises
(`register_messages`, in its `errors` module), the zh-Hans text in code and its translations
in the gettext catalogs (docs/i18n.md).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping

from app.core_messages import CORE_MESSAGES
from app.i18n import translate
from app.security.pii import mask_digit_runs

# Every known code and its message: the zh-Hans text, which is also the catalogs' msgid.
_MESSAGES: dict[str, str] = {}
# What a code nobody registered says: the generic "the request is invalid".
FALLBACK_CODE = "BAD_REQUEST"


def register_messages(messages: Mapping[str, str]) -> None:
    """Make `messages` ({code: N_("zh-Hans text")}) the words of those codes.

    Each domain calls this once, from its `errors` module, for the codes it raises; the core's
    own codes are registered below. Registering a code again with other words is a mistake two
    domains would otherwise make silently, so it raises ValueError.
    """
    for code, text in messages.items():
        known = _MESSAGES.get(code)
        if known is not None and known != text:
            raise ValueError(f"error code {code} is already registered with another message")
    _MESSAGES.update(messages)


def registered_messages() -> Mapping[str, str]:
    """Every registered code and its zh-Hans message (read-only)."""
    return MappingProxyType(_MESSAGES)


register_messages(CORE_MESSAGES)


def echoed(text: str, limit: int = 40) -> str:
    """The caller's own text, as a message may repeat it ("no card lottery"): cut to `limit` and
    every run of six or more digits starred, so an ID number, a phone or a bank card typed into the
    wrong field never comes back whole in a reply, nor in a log that records the reply."""
    return mask_digit_runs(text[:limit])


class AppError(Exception):
    """A failure the caller can act on. `params` fill the message; `extra` goes into the envelope."""

    status = 400
    code = "BAD_REQUEST"

    def __init__(
        self,
        code: str | None = None,
        *,
        status: int | None = None,
        params: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        message_key: str | None = None,
    ) -> None:
        self.code = code or self.code
        # One stable code may need other words in another place (TOKEN_EXPIRED for a sign-in and
        # for a presentation QR): `message_key` picks the text, `code` stays what clients check.
        self.message_key = message_key or self.code
        self.status = status or self.status
        self.params = dict(params or {})
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})
        super().__init__(self.code)

    def message(self, language: str) -> str:
        """The message of `message_key` (else of `code`, else the generic one) in `language`."""
        source = _MESSAGES.get(self.message_key) or _MESSAGES.get(self.code) or _MESSAGES[FALLBACK_CODE]
        try:
            return translate(source, language, **self.params)
        except (KeyError, IndexError):
            return translate(source, language)


class NotFound(AppError):
    status, code = 404, "NOT_FOUND"


class Unauthorized(AppError):
    status, code = 401, "AUTH_REQUIRED"


class Forbidden(AppError):
    status, code = 403, "FORBIDDEN"


class Conflict(AppError):
    status, code = 409, "CONFLICT"


class Unavailable(AppError):
    status, code = 503, "SERVICE_UNAVAILABLE"


class RateLimited(AppError):
    status, code = 429, "RATE_LIMITED"

    def __init__(self, retry_after: int, code: str | None = None) -> None:
        retry_after = max(1, int(retry_after))
        super().__init__(
            code,
            params={"retry_after": retry_after},
            extra={"retry_after": retry_after},
            headers={"Retry-After": str(retry_after)},
        )


class ValidationFailed(AppError):
    status, code = 422, "VALIDATION_FAILED"

    def __init__(self, problems: list[dict[str, str]]) -> None:
        fields = "、".join(p["field"] for p in problems) or "-"
        super().__init__(params={"fields": fields}, extra={"fields": problems})


def envelope(error: AppError, language: str, request_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {"code": error.code, "message": error.message(language), "request_id": request_id}
    body.update(error.extra)
    return {"error": body}
