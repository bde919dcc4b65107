"""Metric providers by MetricTemplate ``spec.provider.type``.

One provider, one file, registered here under the type name the model
validates. An unknown type is an UnknownProviderError that lists what we do
support: never a silent fallback to Prometheus.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from canary.providers.base import MetricProvider, UnknownProviderError
from canary.providers.prometheus import DEFAULT_TIMEOUT, PrometheusProvider

__all__ = ["ProviderFactory", "create_provider", "known_provider_types", "register_provider"]

ProviderFactory = Callable[..., MetricProvider]
"""Builds a provider: ``factory(address, *, timeout, insecure_skip_verify, credentials, headers)``."""

_FACTORIES: dict[str, ProviderFactory] = {"prometheus": PrometheusProvider}


def register_provider(provider_type: str, factory: ProviderFactory) -> None:
    """Make ``provider_type`` available to MetricTemplates: each metric source registers itself here."""
    _FACTORIES[provider_type] = factory


def known_provider_types() -> list[str]:
    """The provider types we can query, sorted."""
    return sorted(_FACTORIES)


def create_provider(
    provider_type: str,
    address: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    insecure_skip_verify: bool = False,
    credentials: Mapping[str, str] | None = None,
    headers: Mapping[str, Sequence[str]] | None = None,
    overrides: Mapping[str, ProviderFactory] | None = None,
) -> MetricProvider:
    """A provider of ``provider_type`` talking to ``address``; unknown types raise UnknownProviderError.

    ``overrides`` replace registered factories for one caller only (the testbed
    answers ``prometheus`` queries from its simulator without touching the registry).
    """
    factory = (overrides or {}).get(provider_type) or _FACTORIES.get(provider_type)
    if factory is None:
        raise UnknownProviderError(
            f"metric provider type {provider_type!r} is not supported; supported: " + ", ".join(known_provider_types())
        )
    return factory(
        address,
        timeout=timeout,
        insecure_skip_verify=insecure_skip_verify,
        credentials=credentials,
        headers=headers,
    )
