"""The Prometheus metric provider, through prometheus-api-client.

prometheus-api-client is synchronous (requests); every call runs in a worker
thread with ``asyncio.to_thread`` so the controller's event loop never blocks.
Retries are few and short (the library's default retries for seconds on end):
the controller retries on its own schedule, the next tick.
"""

from __future__ import annotations

import ast
import asyncio
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn, cast

import requests
from prometheus_api_client.exceptions import PrometheusApiClientException
from prometheus_api_client.prometheus_connect import PrometheusConnect
from urllib3.util.retry import Retry

from canary.providers.base import (
    BadResponseError,
    NoDataError,
    ProviderError,
    QueryError,
    UnreachableError,
)

__all__ = ["DEFAULT_TIMEOUT", "PrometheusProvider", "resolve_address"]

DEFAULT_TIMEOUT = 5.0
"""Seconds to wait for Prometheus to answer one query."""


def resolve_address(
    *,
    template_address: str | None = None,
    metrics_server: str | None = None,
    default: str | None = None,
) -> str:
    """Pick the Prometheus address for a check, most specific first.

    A MetricTemplate's ``spec.provider.address`` wins, then the Canary's
    ``spec.metricsServer``, then the controller's setting. No address at all is
    a permanent ProviderError.
    """
    for candidate in (template_address, metrics_server, default):
        if candidate and candidate.strip():
            return candidate.strip().rstrip("/")
    raise ProviderError(
        "no Prometheus address: set the controller's metrics server, spec.metricsServer, "
        "or the MetricTemplate's spec.provider.address",
        temporary=False,
    )


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")
_STATUS = re.compile(r"^HTTP Status Code (\d+) \((.*)\)$", re.DOTALL)


def _connection_cause(error: BaseException, timeout: float) -> str:
    """The short, human part of a requests connection error ("connection refused")."""
    if isinstance(error, requests.Timeout) or "timed out" in str(error):
        return f"no answer within {timeout:g} s"
    found = _ERRNO.search(str(error))
    if found:
        return found.group(1).strip().lower()
    return type(error).__name__


def _http_error(error: PrometheusApiClientException) -> tuple[int | None, str]:
    """Status code and Prometheus' own ``error`` text from the library's exception message."""
    found = _STATUS.match(str(error))
    if not found:
        return None, str(error)
    status = int(found.group(1))
    body: Any = found.group(2)
    try:
        raw = ast.literal_eval(body)
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    except (ValueError, SyntaxError):
        text = str(body)
    try:
        message = json.loads(text).get("error", text)
    except (ValueError, AttributeError):
        message = text
    return status, str(message).strip()


def _sample_value(sample: Any) -> float:
    """The float of a ``[timestamp, "value"]`` pair."""
    if not isinstance(sample, (list, tuple)) or len(sample) != 2:
        raise BadResponseError(f"unexpected sample {sample!r}")
    try:
        return float(sample[1])
    except (TypeError, ValueError) as error:
        raise BadResponseError(f"sample value {sample[1]!r} is not a number") from error


class PrometheusProvider:
    """Runs PromQL against one Prometheus server (``address``, e.g. ``http://prometheus:9090``).

    ``credentials`` comes from a MetricTemplate's ``secretRef`` Secret: ``username`` and
    ``password`` for basic auth, or ``token`` for a bearer token; ``headers`` are the
    template's ``spec.provider.headers``.
    """

    def __init__(
        self,
        address: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = 1,
        insecure_skip_verify: bool = False,
        credentials: Mapping[str, str] | None = None,
        headers: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.address = address.rstrip("/")
        self.timeout = timeout
        options: dict[str, Any] = {}
        # A MetricTemplate's headers map a name to its values, as Go's http.Header does.
        sent = {
            name: ", ".join([values] if isinstance(values, str) else values) for name, values in (headers or {}).items()
        }
        if credentials:
            if credentials.get("token"):
                sent["Authorization"] = f"Bearer {credentials['token']}"
            elif credentials.get("username") is not None:
                options["auth"] = (credentials["username"], credentials.get("password", ""))
        if sent:
            options["headers"] = sent
        retry = Retry(total=retries, connect=retries, read=0, status=0, backoff_factor=0.1)
        self._client = PrometheusConnect(url=self.address, disable_ssl=insecure_skip_verify, retry=retry, **options)

    def __repr__(self) -> str:
        return f"PrometheusProvider({self.address!r})"

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._client.close()

    def _run(self, promql: str, at: float | None) -> tuple[str, Any]:
        """Blocking: run the query (at Unix time ``at``, or now) and return ``(resultType, result)``; errors are typed."""
        params = {"time": f"{at:.3f}"} if at is not None else {}
        try:
            # requests takes a float timeout; the library merely annotates it as int.
            result = self._client.custom_query(promql, params=params, timeout=cast(int, self.timeout))
        except requests.exceptions.InvalidJSONError as error:  # a RequestException too: test it first
            raise BadResponseError(
                f"{self.address} did not answer like the Prometheus query API (is it the right address?)"
            ) from error
        except requests.RequestException as error:
            raise UnreachableError(
                f"Prometheus at {self.address} is unreachable: {_connection_cause(error, self.timeout)}"
            ) from error
        except PrometheusApiClientException as error:
            self._raise_status(error)
        except (ValueError, KeyError, TypeError) as error:
            raise BadResponseError(
                f"{self.address} did not answer like the Prometheus query API (is it the right address?)"
            ) from error
        # custom_query hands back data.result only: a scalar (or string) is one
        # [timestamp, "value"] pair, a vector a list of {"metric", "value"} objects.
        if isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict):
            return "scalar", result
        if isinstance(result, list) and all(isinstance(item, dict) for item in result):
            if any("values" in item for item in result):
                return "matrix", result
            return "vector", result
        raise BadResponseError(f"{self.address} answered with an unexpected result: {result!r:.200}")

    def _raise_status(self, error: PrometheusApiClientException) -> NoReturn:
        status, message = _http_error(error)
        if status == 400:
            raise QueryError(f"Prometheus at {self.address} refused the query: {message}") from error
        if status in (401, 403):
            raise QueryError(
                f"Prometheus at {self.address} denied access (HTTP {status}): check the credentials"
            ) from error
        if status == 404:
            raise BadResponseError(
                f"{self.address} has no Prometheus query API (HTTP 404): is it the right address?"
            ) from error
        raise ProviderError(
            f"Prometheus at {self.address} failed to run the query (HTTP {status}): {message}",
            temporary=True,
        ) from error

    def _query_sync(self, promql: str, at: float | None) -> float:
        result_type, result = self._run(promql, at)
        if result_type == "scalar":
            value = _sample_value(result)
        elif result_type == "vector":
            if not result:
                raise NoDataError("the query returned an empty vector")
            if len(result) > 1:
                series = ", ".join(json.dumps(item.get("metric", {}), sort_keys=True) for item in result[:3])
                raise QueryError(
                    f"the query returned {len(result)} series ({series}); a check needs exactly one "
                    "value: aggregate it, e.g. with sum(...)"
                )
            value = _sample_value(result[0].get("value"))
        else:
            raise QueryError(f"the query returned a {result_type}; a check needs a scalar or a vector")
        if math.isnan(value):
            raise NoDataError("the query returned NaN (no requests in the interval?)")
        if math.isinf(value):
            raise NoDataError(f"the query returned {'+' if value > 0 else '-'}Inf")
        return value

    def _vector_sync(self, promql: str, label: str, at: float | None) -> dict[str, float]:
        result_type, result = self._run(promql, at)
        if result_type != "vector":
            raise QueryError(f"the query returned a {result_type}; expected a vector by ({label})")
        values: dict[str, float] = {}
        for item in result:
            metric = item.get("metric", {})
            if not isinstance(metric, dict) or label not in metric:
                raise BadResponseError(f"a series of the result has no label {label!r}: {metric!r:.200}")
            value = _sample_value(item.get("value"))
            if not math.isnan(value):
                values[str(metric[label])] = value
        return values

    async def query(self, promql: str, *, at: float | None = None) -> float:
        """Run ``promql`` (at Unix time ``at``, or now) and return its one value (see MetricProvider.query)."""
        return await asyncio.to_thread(self._query_sync, promql, at)

    async def query_vector(self, promql: str, label: str = "le", *, at: float | None = None) -> dict[str, float]:
        """Run ``promql`` (at ``at``, or now) and return each series' value keyed by ``label`` (see MetricProvider)."""
        return await asyncio.to_thread(self._vector_sync, promql, label, at)

    async def check_online(self) -> None:
        """Ask ``vector(1)``, as Flagger does; raise a ProviderError unless it answers 1."""
        try:
            value = await self.query("vector(1)")
        except NoDataError as error:
            raise BadResponseError(
                f"Prometheus at {self.address} answered vector(1) with no value: {error.reason}"
            ) from error
        if value != 1:
            raise BadResponseError(f"Prometheus at {self.address} answered vector(1) with {value}")
