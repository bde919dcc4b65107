"""Pydantic models of our resources (``canary.dev/v1beta1``): Canary, MetricTemplate, AlertProvider.

Attribute names are Flagger's JSON field names, models refuse unknown fields,
and the CRDs in ``crds/`` are generated from these classes
(:mod:`canary.models.crdgen`).
"""

from canary.models.alert_provider import AlertProvider, AlertProviderSpec
from canary.models.base import (
    API_GROUP,
    API_VERSION,
    GROUP_VERSION,
    CrossNamespaceObjectReference,
    CustomMetadata,
    DurationError,
    ObjectMeta,
    parse_duration,
)
from canary.models.canary import (
    BUILTIN_METRICS,
    PHASES,
    PROVIDERS,
    AutoscalerReference,
    Canary,
    CanaryAlert,
    CanaryAnalysis,
    CanaryCheck,
    CanaryCondition,
    CanaryJudge,
    CanaryMetric,
    CanaryService,
    CanarySpec,
    CanaryStatus,
    CanaryThresholdRange,
    CanaryWebhook,
    JudgeErrorRate,
    JudgeLatency,
    JudgeTemplates,
    SessionAffinity,
    TargetReference,
    primary_deployment_name,
)
from canary.models.errors import describe
from canary.models.metric_template import MetricTemplate, MetricTemplateProvider, MetricTemplateSpec
from canary.models.status import JudgeMetric, JudgeStatus, JudgeVerdict
from canary.models.support import Problem, refusals, unsupported

__all__ = [
    "API_GROUP",
    "API_VERSION",
    "BUILTIN_METRICS",
    "GROUP_VERSION",
    "PHASES",
    "PROVIDERS",
    "AlertProvider",
    "AlertProviderSpec",
    "AutoscalerReference",
    "Canary",
    "CanaryAlert",
    "CanaryAnalysis",
    "CanaryCheck",
    "CanaryCondition",
    "CanaryJudge",
    "CanaryMetric",
    "CanaryService",
    "CanarySpec",
    "CanaryStatus",
    "CanaryThresholdRange",
    "CanaryWebhook",
    "CrossNamespaceObjectReference",
    "CustomMetadata",
    "DurationError",
    "JudgeErrorRate",
    "JudgeLatency",
    "JudgeMetric",
    "JudgeStatus",
    "JudgeTemplates",
    "JudgeVerdict",
    "MetricTemplate",
    "MetricTemplateProvider",
    "MetricTemplateSpec",
    "ObjectMeta",
    "Problem",
    "SessionAffinity",
    "TargetReference",
    "describe",
    "parse_duration",
    "primary_deployment_name",
    "refusals",
    "unsupported",
]
