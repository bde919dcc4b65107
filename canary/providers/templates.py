"""MetricTemplate query rendering with Flagger's template variables, refusing PromQL injection.

Flagger renders ``spec.query`` as a Go template whose functions are the
variables ``name``, ``namespace``, ``target``, ``service``, ``ingress``,
``interval`` and ``variables.<key>``, written ``{{ namespace }}`` (spacing
inside the braces is free: ``{{target}}`` works too). We render the same
placeholders, and nothing else: any other ``{{ ... }}`` is an error, never left
in the query.

Every value is checked before it is put into the query: Kubernetes names must
be RFC 1123 names, the interval a Prometheus duration, and ``templateVariables``
values a conservative set of characters. A value such as
``x"} or vector(1) #`` therefore never reaches Prometheus, whatever the spec
says; the error names the variable and the value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from canary.providers.base import ProviderError

__all__ = [
    "TEMPLATE_VARIABLES",
    "TemplateContext",
    "TemplateError",
    "check_dns_label",
    "check_dns_subdomain",
    "check_duration",
    "check_variable_value",
    "render_query",
]

TEMPLATE_VARIABLES = ("name", "namespace", "target", "service", "ingress", "interval", "workload")
"""The plain placeholders Flagger defines, besides ``variables.<key>``, plus our ``workload``.

``workload`` is the Deployment being measured: the target for the canary's
side and ``<target>-primary`` for the primary's, in the judge's template pairs
(it equals ``target`` everywhere else).
"""

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.:-]{1,253}$")
_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_VARIABLE = re.compile(r"^variables\.([A-Za-z_][A-Za-z0-9_-]*)$")


class TemplateError(ProviderError):
    """A query template cannot be rendered safely: permanent, names the variable and the value."""


def check_dns_label(variable: str, value: str) -> str:
    """``value`` if it is an RFC 1123 label (a namespace), else TemplateError."""
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise TemplateError(
            f"{variable} = {value!r} is not a valid Kubernetes name "
            "(RFC 1123 label: lower-case letters, digits and '-', at most 63 characters)"
        )
    return value


def check_dns_subdomain(variable: str, value: str) -> str:
    """``value`` if it is an RFC 1123 subdomain (an object name), else TemplateError."""
    if len(value) > 253 or not _DNS_SUBDOMAIN.match(value):
        raise TemplateError(
            f"{variable} = {value!r} is not a valid Kubernetes name "
            "(RFC 1123 subdomain: lower-case letters, digits, '-' and '.', at most 253 characters)"
        )
    return value


def check_duration(variable: str, value: str) -> str:
    """``value`` if it is a Prometheus duration such as ``1m`` or ``1m30s``, else TemplateError."""
    if not _DURATION.match(value):
        raise TemplateError(f"{variable} = {value!r} is not a Prometheus duration (e.g. 30s, 1m, 1m30s, 2h)")
    return value


def check_variable_value(variable: str, value: str) -> str:
    """``value`` if it only holds letters, digits and ``_ . : -`` (1 to 253 of them), else TemplateError."""
    if not _SAFE_VALUE.match(value):
        raise TemplateError(
            f"{variable} = {value!r} is not allowed in a query: template variables may only hold "
            "letters, digits and the characters _ . : - (1 to 253 of them)"
        )
    return value


@dataclass(frozen=True)
class TemplateContext:
    """The values a MetricTemplate query may use, as Flagger defines them.

    ``name``/``namespace`` are the Canary's; ``target`` is ``spec.targetRef.name``;
    ``service`` is ``spec.service.name`` (Flagger defaults it to the target);
    ``ingress`` is ``spec.ingressRef.name`` ("" when unset); ``interval`` is the
    metric's ``interval``; ``variables`` its ``templateVariables``.
    """

    name: str
    namespace: str
    target: str
    service: str = ""
    ingress: str = ""
    interval: str = "1m"
    variables: Mapping[str, str] = field(default_factory=dict)
    workload: str = ""

    def value(self, placeholder: str) -> str:
        """The checked value for one placeholder (``namespace``, ``variables.direction``...)."""
        found = _VARIABLE.match(placeholder)
        if found:
            key = found.group(1)
            if key not in self.variables:
                known = ", ".join(sorted(self.variables)) or "none"
                raise TemplateError(
                    f"the query uses {{{{ {placeholder} }}}} but templateVariables has no {key!r} (it has: {known})"
                )
            return check_variable_value(placeholder, str(self.variables[key]))
        if placeholder == "namespace":
            return check_dns_label(placeholder, self.namespace)
        if placeholder == "interval":
            return check_duration(placeholder, self.interval)
        if placeholder == "workload":
            return check_dns_subdomain(placeholder, self.workload or self.target)
        if placeholder in ("name", "target", "service", "ingress"):
            raw = str(getattr(self, placeholder))
            if not raw:
                source = {
                    "service": "spec.service.name",
                    "ingress": "spec.ingressRef",
                }.get(placeholder, placeholder)
                raise TemplateError(f"the query uses {{{{ {placeholder} }}}} but {source} is not set")
            return check_dns_subdomain(placeholder, raw)
        raise TemplateError(
            f"unknown template variable {{{{ {placeholder} }}}}; available: "
            + ", ".join(TEMPLATE_VARIABLES)
            + ", variables.<key>"
        )


def render_query(template: str, context: TemplateContext) -> str:
    """Substitute every ``{{ placeholder }}`` in ``template`` with its checked value.

    Raises TemplateError for an unknown placeholder, an empty ``{{ }}``, a
    missing variable or an unsafe value; an unclosed ``{{`` is an error too.
    """

    def substitute(found: re.Match[str]) -> str:
        placeholder = found.group(1).strip()
        if not placeholder:
            raise TemplateError("the query has an empty placeholder {{ }}")
        return context.value(placeholder)

    rendered = _PLACEHOLDER.sub(substitute, template)
    if "{{" in rendered:
        raise TemplateError("the query has an unclosed '{{'")
    return rendered
