"""The ``MetricTemplate`` resource: a reusable metric query (Flagger's ``MetricTemplate``, field by field)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from canary.models.base import GROUP_VERSION, ApiVersion, ObjectMeta, StrictModel

__all__ = [
    "MetricProviderType",
    "MetricTemplate",
    "MetricTemplateProvider",
    "MetricTemplateSpec",
    "SecretReference",
]

MetricProviderType = Literal[
    "prometheus",
    "influxdb",
    "datadog",
    "externalmetrics",
    "stackdriver",
    "cloudwatch",
    "newrelic",
    "graphite",
    "dynatrace",
    "keptn",
    "splunk",
]
"""Every metrics backend Flagger accepts (we query ``prometheus``: see :mod:`canary.models.support`)."""


class SecretReference(StrictModel):
    """A Secret in the referring object's namespace."""

    name: str
    """Name of the Kubernetes Secret."""


class MetricTemplateProvider(StrictModel):
    """The metrics backend a template's query runs against."""

    type: MetricProviderType
    """Type of the backend."""
    address: str | None = None
    """API address of the backend; the controller's (or the Canary's metricsServer) when absent."""
    headers: dict[str, list[str]] | None = None
    """HTTP headers added to each request."""
    secretRef: SecretReference | None = None
    """Secret holding the backend's credentials."""
    region: str | None = None
    """Region of the backend (cloud providers)."""
    insecureSkipVerify: bool = False
    """Skip TLS certificate verification of the address."""


class MetricTemplateSpec(StrictModel):
    """The desired state of a MetricTemplate."""

    provider: MetricTemplateProvider
    """The backend the query runs against."""
    query: str = Field(min_length=1)
    """Query with Flagger's template variables: {{ name }}, {{ namespace }}, {{ target }}, {{ service }},
    {{ interval }}, {{ variables.<key> }}."""


class MetricTemplate(StrictModel):
    """A MetricTemplate: a named query that Canary metrics reference through ``templateRef``."""

    apiVersion: ApiVersion = GROUP_VERSION
    """Always ``canary.dev/v1beta1``."""
    kind: Literal["MetricTemplate"] = "MetricTemplate"
    """Always ``MetricTemplate``."""
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    """Standard object metadata."""
    spec: MetricTemplateSpec
    """The template."""
