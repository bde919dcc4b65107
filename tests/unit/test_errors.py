"""The error tree of canary.errors: one root, and one question the controller asks (``retryable``)."""

from __future__ import annotations

import pytest

from canary.cli.report import ReportError
from canary.errors import CanaryError
from canary.kube.api import ApiError, Conflict, NotFound
from canary.notifiers.base import NotifierError, UnknownNotifierTypeError
from canary.providers.base import (
    BadResponseError,
    NoDataError,
    ProviderError,
    QueryError,
    UnknownProviderError,
    UnreachableError,
)
from canary.providers.builtin import UnknownMeshError
from canary.providers.templates import TemplateError
from canary.routers.base import RoutingError, UnknownProvider


@pytest.mark.parametrize(
    "kind",
    [
        ApiError,
        NotFound,
        Conflict,
        RoutingError,
        UnknownProvider,
        ProviderError,
        NoDataError,
        UnreachableError,
        QueryError,
        BadResponseError,
        UnknownProviderError,
        UnknownMeshError,
        TemplateError,
        NotifierError,
        UnknownNotifierTypeError,
        ReportError,
    ],
)
def test_every_error_canary_raises_on_purpose_is_a_canary_error(kind: type[Exception]) -> None:
    assert issubclass(kind, CanaryError)


@pytest.mark.parametrize(
    ("status", "temporary", "retryable"),
    [
        (500, True, True),
        (503, True, True),
        (429, True, True),
        (409, False, True),
        (403, False, False),
        (422, False, False),
    ],
)
def test_an_api_error_is_retried_when_temporary_or_a_conflict(status: int, temporary: bool, retryable: bool) -> None:
    error = ApiError(status, "Reason", "message")
    assert (error.temporary, error.retryable) == (temporary, retryable)
    assert str(error) == f"{status} Reason: message"


def test_other_errors_are_retryable_exactly_when_temporary() -> None:
    assert NoDataError("empty").retryable and UnreachableError("down").retryable
    assert not QueryError("bad").retryable
    assert ProviderError("secret missing", temporary=True).retryable
    assert RoutingError("not found", temporary=True).retryable and not RoutingError("not ours").retryable
    assert not NotifierError("slack: 500").retryable
