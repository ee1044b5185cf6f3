"""What the citizen is told when a department call through the data exchange gave no data: the one mapping of
the exchange client's errors (docs/exchange.md) to the API's error envelope.

- DepartmentUnavailable (down, too slow, a reply that does not verify, its breaker open): 503
  DEPARTMENT_UNAVAILABLE, with Retry-After;
- PurposeNotAuthorised, ServiceNotRegistered included: 403 DEPARTMENT_PURPOSE_NOT_AUTHORISED;
- SubjectUnknown: 404 DEPARTMENT_SUBJECT_UNKNOWN;
- DepartmentRefused (our request was wrong): 502 DEPARTMENT_REFUSED.

An adapter that turns an exchange error into a BackendError raises it `from` the exchange error, so the
caller that answers the citizen finds it with `exchange_error_of`.
"""

from __future__ import annotations

from app.errors import AppError
from app.integrations.exchange.client import (DepartmentUnavailable, ExchangeError, PurposeNotAuthorised,
                                              SubjectUnknown)


def department_error(error: ExchangeError) -> AppError:
    """The error the API answers for an exchange error."""
    if isinstance(error, DepartmentUnavailable):
        wait = error.retry_after
        return AppError("DEPARTMENT_UNAVAILABLE", status=503, params={"retry_after": wait},
                        extra={"retry_after": wait}, headers={"Retry-After": str(wait)})
    if isinstance(error, PurposeNotAuthorised):
        return AppError("DEPARTMENT_PURPOSE_NOT_AUTHORISED", status=403)
    if isinstance(error, SubjectUnknown):
        return AppError("DEPARTMENT_SUBJECT_UNKNOWN", status=404)
    return AppError("DEPARTMENT_REFUSED", status=502)


def exchange_error_of(failure: BaseException | None) -> ExchangeError | None:
    """The exchange error a failure was raised from (through its chain of causes), or None."""
    seen: set[int] = set()
    while failure is not None and id(failure) not in seen:
        if isinstance(failure, ExchangeError):
            return failure
        seen.add(id(failure))
        failure = failure.__cause__
    return None


__all__ = ["department_error", "exchange_error_of"]
