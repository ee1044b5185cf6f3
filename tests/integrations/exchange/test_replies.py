"""The one mapping of the exchange client's errors to what the API answers, and finding the exchange error
behind an adapter's BackendError."""

from __future__ import annotations

import pytest

from app.errors import AppError, Unavailable
from app.integrations.exchange.client import (DepartmentRefused, DepartmentUnavailable, ExchangeError,
                                              PurposeNotAuthorised, ServiceNotRegistered, SubjectUnknown)
from app.server import to_app_error
from app.services.cards.backends import BackendError
from app.integrations.exchange.replies import department_error, exchange_error_of

SERVICE = "CN-GD/GOV/11440000MB2D0003XA/tpb/violations/v1"


@pytest.mark.parametrize(("error", "status", "code"), [
    (PurposeNotAuthorised(SERVICE, "Client.PurposeNotAuthorised"), 403, "DEPARTMENT_PURPOSE_NOT_AUTHORISED"),
    (ServiceNotRegistered(SERVICE, "Client.UnknownService"), 403, "DEPARTMENT_PURPOSE_NOT_AUTHORISED"),
    (SubjectUnknown(SERVICE, "Client.UnknownSubject"), 404, "DEPARTMENT_SUBJECT_UNKNOWN"),
    (DepartmentRefused(SERVICE, "Client.Stale", 401), 502, "DEPARTMENT_REFUSED"),
])
def test_a_refusal_is_answered_with_its_own_code(error: ExchangeError, status: int, code: str) -> None:
    answer = department_error(error)
    assert (answer.status, answer.code, answer.headers) == (status, code, {})
    for language in ("zh-Hans", "zh-Hant", "en"):
        assert answer.message(language) != AppError().message(language)  # worded, not the generic text


def test_a_department_down_says_when_to_try_again() -> None:
    answer = department_error(DepartmentUnavailable(SERVICE, "Server.ClientProxy.CircuitOpen", retry_after=27))
    assert (answer.status, answer.code, answer.headers, answer.extra) == \
        (503, "DEPARTMENT_UNAVAILABLE", {"Retry-After": "27"}, {"retry_after": 27})
    assert answer.message("zh-Hans") == "部门系统暂时无法连接，请 27 秒后再试。"
    assert answer.message("en") == "The department's system cannot be reached now. Try again in 27 seconds."


def test_the_exchange_error_behind_a_backend_error_is_found_through_its_causes() -> None:
    down = DepartmentUnavailable(SERVICE, "Server.ClientProxy.Timeout")
    try:
        try:
            raise BackendError("traffic_violations: DepartmentUnavailable") from down
        except BackendError as failure:
            raise Unavailable("PAYABLES_UNAVAILABLE") from failure
    except Unavailable as unavailable:
        assert exchange_error_of(unavailable) is down
    assert exchange_error_of(Unavailable("PAYABLES_UNAVAILABLE")) is None
    assert exchange_error_of(None) is None


def test_an_exchange_error_no_handler_answered_is_still_the_departments_error_not_a_500() -> None:
    down = DepartmentUnavailable(SERVICE, "Server.ClientProxy.Timeout", retry_after=9)
    try:
        try:
            raise down
        except ExchangeError as error:
            raise BackendError("traffic_violations: DepartmentUnavailable") from error
    except BackendError as wrapped:
        answer = to_app_error(wrapped, None)  # type: ignore[arg-type]  (the request is read only for outages)
    assert (answer.status, answer.code, answer.headers) == (503, "DEPARTMENT_UNAVAILABLE", {"Retry-After": "9"})
    refused = to_app_error(PurposeNotAuthorised(SERVICE, "Client.PurposeNotAuthorised"), None)  # type: ignore[arg-type]
    assert (refused.status, refused.code) == (403, "DEPARTMENT_PURPOSE_NOT_AUTHORISED")
