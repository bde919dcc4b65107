"""The controller's one Kubernetes client: :class:`ClusterApi` over the official client.

The official ``kubernetes`` client is synchronous; every call runs in a worker
thread (``asyncio.to_thread``) so the event loop that kopf shares with all
Canaries never blocks. Requests pass through a token bucket (QPS and burst),
so the controller stays inside an explicit API budget however many Canaries
it serves, instead of hitting client-side rate limits by surprise.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from pathlib import Path
from typing import Any

import kubernetes.client
import kubernetes.config
import urllib3
from kubernetes.client.exceptions import ApiException

from canary.kube.api import ApiError, Conflict, JsonDict, NotFound, Resource

__all__ = ["ClusterApi", "TokenBucket", "kubeconfig_user", "load_client_config"]


class TokenBucket:
    """Allows ``qps`` requests a second on average and bursts of up to ``burst``."""

    def __init__(self, qps: float, burst: int) -> None:
        if not (math.isfinite(qps) and qps > 0 and burst >= 1):  # (otherwise take() would wait for ever)
            raise ValueError(f"the API request budget needs qps > 0 and burst >= 1, got qps={qps} burst={burst}")
        self.qps = qps
        self.burst = burst
        self._tokens = float(burst)
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()
        self.waited = 0.0  # seconds requests have spent waiting for a token, in all (the controller saturating)

    async def take(self) -> None:
        """Wait until a request may be sent."""
        asked = time.monotonic()
        try:
            await self._take()
        finally:
            self.waited += time.monotonic() - asked

    async def _take(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.qps)
                self._stamp = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self.qps)


def load_client_config(kubeconfig: Path | None = None) -> kubernetes.client.Configuration:
    """Client settings from a kubeconfig file, else in-cluster, else ``~/.kube/config``."""
    config = kubernetes.client.Configuration()
    if kubeconfig is not None:
        kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig), client_configuration=config
        )
        return config
    try:
        kubernetes.config.load_incluster_config(client_configuration=config)  # type: ignore[no-untyped-call]
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config(client_configuration=config)  # type: ignore[no-untyped-call]
    return config


def kubeconfig_user(kubeconfig: Path | None = None) -> str | None:
    """The user name of the kubeconfig's current context (None without a kubeconfig, as in a Pod).

    What a person calls themselves to the cluster, for requests the controller
    records (``canary promote``); the API server's audit log is the authority.
    """
    try:
        _, current = kubernetes.config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig) if kubeconfig is not None else None
        )
    except (kubernetes.config.ConfigException, OSError, TypeError, KeyError):
        return None
    user = ((current or {}).get("context") or {}).get("user")
    return str(user) if user else None


def _error(status: int, reason: str, data: bytes | str | None, retry_after: str | None = None) -> ApiError:
    """The typed error for a non-2xx answer, with the API server's own reason and message.

    ``retry_after``: the answer's Retry-After header; the Status body's
    ``details.retryAfterSeconds`` says the same where the header is missing.
    """
    message = data.decode(errors="replace") if isinstance(data, bytes) else str(data or reason)
    wait = _seconds(retry_after)
    try:
        body = json.loads(message) if message else {}
        if isinstance(body, dict):
            reason = str(body.get("reason") or reason)
            message = str(body.get("message") or message)
            details = body.get("details")
            if wait is None and isinstance(details, dict):
                wait = _seconds(details.get("retryAfterSeconds"))
    except ValueError:
        pass
    if status == 404:
        return NotFound(status, reason or "NotFound", message)
    if status == 409:
        return Conflict(status, reason or "Conflict", message)
    return ApiError(status, reason, message, retry_after=wait)


def _seconds(value: object) -> float | None:
    """A Retry-After value in seconds (the API server sends whole seconds), None when it is not one."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 <= seconds < float("inf") else None


class ClusterApi:
    """:class:`~canary.kube.api.KubeApi` over the official client, with a request budget.

    ``requests`` counts every call by (verb, resource path template); the
    testbed uses it to check that the RBAC rules grant exactly what is used.
    """

    def __init__(
        self,
        configuration: kubernetes.client.Configuration,
        qps: float = 50.0,
        burst: int = 100,
        timeout: float = 30.0,
    ) -> None:
        self._client = kubernetes.client.ApiClient(configuration)
        self._bucket = TokenBucket(qps, burst)
        self._timeout = timeout
        self.requests: dict[tuple[str, str, str, str | None], int] = {}

    @property
    def throttled(self) -> float:
        """Seconds requests have waited for the request budget so far (growing: the budget is too small)."""
        return self._bucket.waited

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()  # type: ignore[no-untyped-call]

    async def _call(
        self,
        verb: str,
        method: str,
        resource: Resource,
        path: str,
        *,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
        subresource: str | None = None,
    ) -> Any:
        key = (verb, resource.group, resource.plural, subresource)
        self.requests[key] = self.requests.get(key, 0) + 1
        await self._bucket.take()

        def call() -> Any:
            method_, url, headers, payload, post = self._client.param_serialize(
                method=method,
                resource_path=path,
                query_params=query or [],
                header_params={"Accept": "application/json", "Content-Type": content_type},
                body=body,
                auth_settings=["BearerToken"],
            )
            response = self._client.call_api(
                method_, url, header_params=headers, body=payload, post_params=post, _request_timeout=self._timeout
            )
            data = response.read()  # type: ignore[no-untyped-call]
            if not 200 <= response.status < 300:
                retry_after = response.headers.get("Retry-After") if response.headers else None
                raise _error(int(response.status), str(response.reason or ""), data, retry_after)
            try:
                result = json.loads(data) if data else {}
            except ValueError:  # (a proxy's login page, say: not the API server's answer)
                result = None
            if not isinstance(result, dict):
                # 502: something between us and the API server answered; the same request may work later
                raise ApiError(502, "BadResponse", f"the API server's answer to {method} {path} is not a JSON object")
            return result

        try:
            return await asyncio.to_thread(call)
        except ApiException as exc:  # transport-level failures the client reports as status 0
            raise ApiError(int(exc.status or 0) or 503, "Unavailable", str(exc.reason or exc)) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:  # connection refused, reset, timed out
            raise ApiError(503, "Unavailable", f"the API server did not answer: {type(exc).__name__}") from None

    async def get(self, resource: Resource, namespace: str | None, name: str) -> JsonDict | None:
        try:
            result: JsonDict = await self._call("get", "GET", resource, resource.path(namespace, name))
        except NotFound:
            return None
        return result

    async def list(
        self, resource: Resource, namespace: str | None, label_selector: str | None = None
    ) -> list[JsonDict]:
        query = [("labelSelector", label_selector)] if label_selector else None
        result = await self._call("list", "GET", resource, resource.path(namespace), query=query)
        return list(result.get("items") or [])

    async def create(self, resource: Resource, namespace: str | None, body: JsonDict) -> JsonDict:
        result: JsonDict = await self._call("create", "POST", resource, resource.path(namespace), body=body)
        return result

    async def replace(self, resource: Resource, namespace: str | None, name: str, body: JsonDict) -> JsonDict:
        path = resource.path(namespace, name)
        result: JsonDict = await self._call("update", "PUT", resource, path, body=body)
        return result

    async def patch(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        patch: JsonDict,
        *,
        subresource: str | None = None,
    ) -> JsonDict:
        path = resource.path(namespace, name, subresource)
        result: JsonDict = await self._call(
            "patch",
            "PATCH",
            resource,
            path,
            body=patch,
            content_type="application/merge-patch+json",
            subresource=subresource,
        )
        return result

    async def delete(self, resource: Resource, namespace: str | None, name: str) -> None:
        await self._call("delete", "DELETE", resource, resource.path(namespace, name))
