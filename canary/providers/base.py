"""The metric provider contract: what the controller asks a metrics backend, and how it fails.

A provider answers one PromQL-like query with one number (a check's value) or,
for histogram bucket queries, with one number per label value. Failing to get a
number is always one of the typed errors below (a branch of the tree in
:mod:`canary.errors`), each either *temporary* (the next tick may read it: the
server is down, the series has not appeared yet) or *permanent* (the query or
the configuration is wrong: waiting will not help). Either way the check fails
for that tick: a missing value never advances a weight or promotes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from canary.errors import CanaryError

__all__ = [
    "BadResponseError",
    "Measurement",
    "MetricProvider",
    "NoDataError",
    "ProviderError",
    "QueryError",
    "UnknownProviderError",
    "UnreachableError",
    "measure",
]


class ProviderError(CanaryError):
    """A metric could not be read. ``reason`` is a sentence for people; ``temporary`` says waiting may help."""

    def __init__(self, reason: str, *, temporary: bool | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if temporary is not None:
            self.temporary = temporary


class NoDataError(ProviderError):
    """The query ran but gave no usable number: an empty result, NaN or an infinity.

    Temporary: the series may simply not exist yet (no traffic so far).
    """

    temporary = True


class UnreachableError(ProviderError):
    """The metrics server could not be reached or did not answer in time (temporary)."""

    temporary = True


class QueryError(ProviderError):
    """The server refused the query (a PromQL syntax error, an unknown function): permanent."""


class BadResponseError(ProviderError):
    """The server answered, but not in the shape of its query API (wrong address?): permanent."""


class UnknownProviderError(ProviderError):
    """A MetricTemplate names a provider type we do not implement: permanent, and said loudly."""


@runtime_checkable
class MetricProvider(Protocol):
    """A metrics backend the controller queries; implementations never block the event loop."""

    async def query(self, promql: str, *, at: float | None = None) -> float:
        """Run ``promql`` and return its single value, evaluated at ``at`` (Unix seconds; None: now).

        Raises NoDataError for an empty result, NaN or ±Inf, and another
        ProviderError when the server cannot be asked or refuses the query.
        """
        ...

    async def query_vector(self, promql: str, label: str = "le", *, at: float | None = None) -> dict[str, float]:
        """Run ``promql`` at ``at`` (as in :meth:`query`); each series' value keyed by its ``label`` (e.g. ``le``).

        An empty result is an empty dict (not an error): callers decide what
        absence means. NaN values are dropped; a series without ``label`` is a
        BadResponseError.
        """
        ...

    async def check_online(self) -> None:
        """Raise a ProviderError unless the backend answers queries."""
        ...


@dataclass(frozen=True)
class Measurement:
    """One check's reading for one tick: a value, or the reason there is none.

    Failing to read a metric is data, not an exception that skips the tick: the
    controller records ``reason`` in status and Events and fails the check.
    """

    name: str
    value: float | None
    error: ProviderError | None = None

    @property
    def ok(self) -> bool:
        """True when there is a value to compare with the thresholds."""
        return self.value is not None

    @property
    def reason(self) -> str:
        """Why there is no value, naming the metric ("" when there is a value)."""
        if self.error is None:
            return ""
        if isinstance(self.error, NoDataError):
            return f"no data for {self.name}: {self.error.reason}"
        return f"{self.name}: {self.error.reason}"


async def measure(provider: MetricProvider, name: str, promql: str) -> Measurement:
    """Read metric ``name`` with ``promql``; a ProviderError becomes an errored Measurement."""
    try:
        value = await provider.query(promql)
    except ProviderError as error:
        return Measurement(name=name, value=None, error=error)
    return Measurement(name=name, value=value)
