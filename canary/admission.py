"""What a Canary must pass before any of its traffic moves: the rules ``canary validate`` and the controller share.

The CRD schema and the models check each object on its own. The rules here
span objects or need rendering, and each would otherwise surface only once a
rollout had started, as a check failing at every step until the canary was
rolled back:

- every metric's query source: an inline query must parse as PromQL and
  carry no template placeholders; a ``templateRef`` must find its
  MetricTemplate, every ``{{ variables.x }}`` it uses must be given, and the
  query rendered for this Canary must parse;
- ``templateVariables`` values that could inject PromQL are refused
  (:func:`canary.providers.templates.check_variable_value`, the same check
  the query path runs);
- webhook addresses must be absolute http(s) URLs with a host;
- what the controller does not route or query (:func:`canary.routers.unsupported`).

``canary validate`` finds the MetricTemplates among the given files, the
controller in the API; both pass a :data:`TemplateLookup`. Nothing here does
I/O or raises on bad input: every problem is an :class:`Issue`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal
from urllib.parse import urlsplit

from canary.models import AlertProvider, Canary, CanaryMetric, MetricTemplate
from canary.providers.checks import template_context, template_key
from canary.providers.promql import promql_error
from canary.providers.templates import TemplateContext, TemplateError, check_variable_value, render_query
from canary.routers.registry import unsupported

__all__ = [
    "FieldPath",
    "FoundTemplate",
    "Issue",
    "TemplateLookup",
    "admission_issues",
    "metric_issues",
    "split_path",
    "standalone_query_problem",
    "support_issues",
    "webhook_issues",
]

FieldPath = tuple[str | int, ...]
"""A field's path below the object: ``("spec", "analysis", "metrics", 0, "query")``."""

Level = Literal["error", "warning"]


@dataclass(frozen=True)
class Issue:
    """One problem of a Canary found before traffic moves: where, how bad, and what, in words."""

    path: FieldPath
    level: Level
    """``error``: the rollout must not start; ``warning``: accepted, worth knowing."""
    message: str
    """What is wrong, without the path (callers prefix it as they present paths)."""


@dataclass(frozen=True)
class FoundTemplate:
    """A MetricTemplate a ``templateRef`` resolves to, and how messages name it."""

    source: str
    """``MetricTemplate test/latency`` (the controller) or with its file (``canary validate``)."""
    template: MetricTemplate


TemplateLookup = Callable[[tuple[str, str]], Sequence[FoundTemplate] | None]
"""Finds the templates of a ``(namespace, name)`` key; None when there is none. An empty list: it exists
but cannot be checked (invalid on its own, and reported as such by the caller)."""

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_VARIABLE = re.compile(r"^variables\.([A-Za-z_][A-Za-z0-9_-]*)$")
# Values tried for template variables when a MetricTemplate is checked on its own: a label value,
# a number and a duration (a variable may stand in any of these places).
_PLACEHOLDER_VALUES = ("placeholder", "1", "1m")


class _AnyVariables(Mapping[str, str]):
    """Template variables for a MetricTemplate checked on its own: every key has the same placeholder value."""

    def __init__(self, value: str) -> None:
        self.value = value

    def __getitem__(self, key: str) -> str:
        return self.value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def standalone_query_problem(template: MetricTemplate) -> str | None:
    """Why a Prometheus template's query cannot be rendered or parsed with placeholder values, or None."""
    if template.spec.provider.type != "prometheus":
        return None
    first: str | None = None
    for value in _PLACEHOLDER_VALUES:
        context = TemplateContext(
            name="placeholder",
            namespace="placeholder",
            target="placeholder",
            service="placeholder",
            ingress="placeholder",
            interval="1m",
            variables=_AnyVariables(value),
        )
        try:
            rendered = render_query(template.spec.query, context)
        except TemplateError as error:
            return f"cannot be rendered: {error.reason}"
        reason = promql_error(rendered)
        if reason is None:
            return None
        first = first or reason
    return f"not valid PromQL (with the template variables filled with placeholder values): {first}"


def _used_variables(query: str) -> list[str]:
    names = []
    for found in _PLACEHOLDER.finditer(query):
        match = _VARIABLE.match(found.group(1).strip())
        if match and match.group(1) not in names:
            names.append(match.group(1))
    return names


def metric_issues(
    canary: Canary,
    templates: TemplateLookup,
    *,
    missing: str,
    metrics: Sequence[tuple[int, CanaryMetric]] | None = None,
    render: bool = True,
    broken_templates: bool = True,
) -> list[Issue]:
    """The query-source problems of a Canary's metrics (see the module docstring).

    ``missing`` ends the message for a template that cannot be found ("is not
    among the given paths", "was not found"). ``metrics`` are the metrics to
    check by position (default: all of them); ``render=False`` checks
    variables without rendering (the Canary's own names may be what is
    invalid). ``broken_templates=False`` skips a template whose own query is
    broken, for a caller that reports it on the template itself.
    """
    issues: list[Issue] = []
    for position, metric in enumerate(canary.spec.analysis.metrics) if metrics is None else metrics:
        base: FieldPath = ("spec", "analysis", "metrics", position)
        if metric.templateRef is not None and metric.query:
            issues.append(
                Issue((*base, "query"), "warning", "ignored: templateRef is set and wins over an inline query")
            )
        safe: dict[str, str] = {}
        for key, value in (metric.templateVariables or {}).items():
            try:
                safe[key] = check_variable_value(f"variables.{key}", value)
            except TemplateError as error:
                issues.append(
                    Issue((*base, "templateVariables", key), "error", f"refused, it could inject PromQL: {error}")
                )
                safe[key] = "placeholder"
        kind = metric.kind()
        if kind == "query":
            issues += _inline_query_issues(metric.query or "", base)
        elif kind == "template":
            issues += _template_issues(canary, metric, base, safe, templates, missing, render, broken_templates)
    return issues


def _inline_query_issues(query: str, base: FieldPath) -> list[Issue]:
    if "{{" in query:
        return [
            Issue(
                (*base, "query"),
                "error",
                "an inline query is run as written: template variables such as {{ namespace }} are only "
                "rendered in a MetricTemplate (use templateRef)",
            )
        ]
    reason = promql_error(query)
    return [Issue((*base, "query"), "error", f"not valid PromQL: {reason}")] if reason else []


def _template_issues(
    canary: Canary,
    metric: CanaryMetric,
    base: FieldPath,
    safe: dict[str, str],
    templates: TemplateLookup,
    missing: str,
    render: bool,
    broken_templates: bool,
) -> list[Issue]:
    key = template_key(canary, metric)
    assert key is not None and metric.templateRef is not None
    found = templates(key)
    if found is None:
        where = "templateRef.namespace" if metric.templateRef.namespace else "the Canary's namespace"
        return [
            Issue(
                (*base, "templateRef"), "error", f"MetricTemplate {key[0]}/{key[1]} {missing} (namespace from {where})"
            )
        ]
    issues: list[Issue] = []
    for each in found:
        template, source = each.template, each.source
        if template.spec.provider.type != "prometheus":
            continue  # other sources have no PromQL to check here
        broken = standalone_query_problem(template)
        if broken:
            if broken_templates:
                issues.append(Issue((*base, "templateRef"), "error", f"{source}: spec.query {broken}"))
            continue
        for name in _used_variables(template.spec.query):
            if name not in safe:
                issues.append(
                    Issue(
                        (*base, "templateVariables"),
                        "error",
                        f"{source} uses {{{{ variables.{name} }}}} but templateVariables has no {name!r}",
                    )
                )
                safe[name] = "placeholder"
        if not render:
            continue
        context = replace(template_context(canary, metric), variables=safe)
        try:
            rendered = render_query(template.spec.query, context)
        except TemplateError as error:
            issues.append(
                Issue((*base, "templateRef"), "error", f"{source} cannot be rendered for this Canary: {error}")
            )
            continue
        reason = promql_error(rendered)
        if reason:
            issues.append(
                Issue(
                    (*base, "templateVariables"),
                    "error",
                    f"{source} rendered with these values is not valid PromQL: {reason}",
                )
            )
    return issues


def webhook_issues(canary: Canary) -> list[Issue]:
    """A webhook whose address could never be called: not an absolute http(s) URL with a host."""
    issues: list[Issue] = []
    for position, hook in enumerate(canary.spec.analysis.webhooks):
        path: FieldPath = ("spec", "analysis", "webhooks", position, "url")
        try:
            parts = urlsplit(hook.url.strip())
            host = parts.hostname
            parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
        except ValueError as error:
            issues.append(Issue(path, "error", f"{hook.url!r} is not a URL: {error}"))
            continue
        if parts.scheme not in ("http", "https"):
            issues.append(Issue(path, "error", f"{hook.url!r} is not an http(s) URL: webhooks are HTTP POSTs"))
        elif not host:
            issues.append(Issue(path, "error", f"{hook.url!r} names no host"))
    return issues


def split_path(text: str) -> FieldPath:
    """``spec.analysis.metrics[0].name`` as a field path."""
    return tuple(
        int(part.group(2)) if part.group(2) is not None else part.group(1)
        for part in re.finditer(r"([^.\[\]]+)|\[(\d+)\]", text)
    )


def support_issues(resource: Canary | MetricTemplate | AlertProvider, default_provider: str) -> list[Issue]:
    """:func:`canary.routers.unsupported` as issues: what is refused is an error, what is not built yet a warning."""
    issues: list[Issue] = []
    for problem in unsupported(resource, default_provider):
        message = problem.message
        for lead in (f"{problem.path}: ", f"{problem.path} "):
            if message.startswith(lead):
                message = message[len(lead) :]
                break
        message = message.removeprefix("is ")
        issues.append(Issue(split_path(problem.path), "error" if problem.severity == "refuse" else "warning", message))
    return issues


def admission_issues(canary: Canary, templates: TemplateLookup, default_provider: str) -> list[Issue]:
    """Everything :mod:`canary.admission` checks for one valid Canary, as the controller runs it."""
    return [
        *support_issues(canary, default_provider),
        *metric_issues(canary, templates, missing="was not found"),
        *webhook_issues(canary),
    ]
