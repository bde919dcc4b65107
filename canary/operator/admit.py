"""The controller's side of :mod:`canary.admission`: the pre-traffic rules, with the templates read from the API.

``canary validate`` finds MetricTemplates among files; the controller reads
the ones a Canary references from the API server, once per spec it has not
judged yet (see :func:`admission_due`), and refuses the Canary with every
error in one ``Valid=False`` condition before any traffic moves.
"""

from __future__ import annotations

from pydantic import ValidationError

from canary.admission import FoundTemplate, Issue, metric_issues, webhook_issues
from canary.kube.api import METRIC_TEMPLATES, ApiError, KubeApi
from canary.models import Canary, MetricTemplate, describe
from canary.models.errors import field_path
from canary.providers.checks import template_key

__all__ = ["admission_due", "admission_errors"]


def admission_due(canary: Canary) -> bool:
    """Whether this spec has yet to pass the rules: a generation not observed yet, or one that was refused.

    A Canary that passed keeps passing until its spec changes, so an idle
    Canary reads no MetricTemplate; a refused one is checked again each tick,
    so creating the missing template (GitOps may apply it second) is enough.
    """
    valid = next((c for c in canary.status.conditions if c.type == "Valid"), None)
    return canary.status.observedGeneration != canary.metadata.generation or valid is None or valid.status != "True"


async def admission_errors(api: KubeApi, canary: Canary) -> list[str]:
    """The errors of :mod:`canary.admission`'s metric and webhook rules, each ``path: message``.

    A retryable API error propagates (the tick is tried again); a template the
    API server refuses to read, or one that does not validate, is an error on
    the metric that references it.
    """
    found: dict[tuple[str, str], list[FoundTemplate] | None] = {}
    issues: list[Issue] = []
    for position, metric in enumerate(canary.spec.analysis.metrics):
        key = template_key(canary, metric)
        if key is None or key in found:
            continue
        source = f"MetricTemplate {key[0]}/{key[1]}"
        where = ("spec", "analysis", "metrics", position, "templateRef")
        try:
            body = await api.get(METRIC_TEMPLATES, key[0], key[1])
        except ApiError as error:
            if error.retryable:
                raise
            issues.append(Issue(where, "error", f"{source} cannot be read: {error}"))
            found[key] = []
            continue
        if body is None:
            found[key] = None
            continue
        try:
            found[key] = [FoundTemplate(source, MetricTemplate.model_validate(body))]
        except ValidationError as error:
            issues.append(Issue(where, "error", f"{source} is invalid: {'; '.join(describe(error))}"))
            found[key] = []
    issues += metric_issues(canary, found.get, missing="was not found")
    issues += webhook_issues(canary)
    return [f"{field_path(list(issue.path))}: {issue.message}" for issue in issues if issue.level == "error"]
