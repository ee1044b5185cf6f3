"""What the citizen is told when a department call through the data exchange gave no data: the one mapping of
the exchange client's errors (docs/exchange.md) to the API's error envelope.

- DepartmentUnavailable (down, too slow, a reply that does not verify, its breaker open): 503
  DEPARTMENT_UNAVAILABLE, with Retry-After;
- PurposeNotAuthorised, ServiceNotRegistered included: 403 DEPARTMENT_PURPOSE_NOT_AUTHORISED;
- SubjectUnknown: 404 DEPARTMENT_SUBJECT_UNKNOWN;
- DepartmentRefused (our request was wrong): 502 DEPARTMENT_REFUSED.

An adapter that turns an exchange error into a BackendError raises it `from` the exchange error, so the
caller that answers the citizen finds it with `exchange_error_of`. The words of these four codes are
registered here, with the mapping (zh-Hans, marked with N_; zh-Hant and English from locales/).
"""

from __future__ import annotations

from app.errors import AppError, register_messages
from app.i18n import N_
from app.integrations.exchange.client import (DepartmentUnavailable, ExchangeError, PurposeNotAuthorised,
                                              SubjectUnknown)

register_messages({
    "DEPARTMENT_UNAVAILABLE": N_("部门系统暂时无法连接，请 {retry_after} 秒后再试。"),
    "DEPARTMENT_PURPOSE_NOT_AUTHORISED": N_("该部门未授权本平台为此用途查询您的信息，请通过该部门的窗口或官方渠道办理。"),
    "DEPARTMENT_SUBJECT_UNKNOWN": N_("该部门没有您的相关记录。如有疑问，请联系该部门。"),
    "DEPARTMENT_REFUSED": N_("部门系统未能受理本次请求，请稍后再试；如仍不成功，请联系客服。"),
})


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
