"""``canary validate``: check Canary, MetricTemplate and AlertProvider manifests before they are merged.

For every ``canary.dev`` object found in the given files this runs, in order:

1. the CRD schema, as the API server checks it at admission
   (:mod:`canary.gitops.schema`), with "did you mean" for unknown fields;
2. the models (:mod:`canary.models`), which hold the rules a schema cannot
   express (ascending ``stepWeights``, ``maxWeight`` ≥ ``stepWeight``,
   durations, ``thresholdRange`` order, a metric's query source, webhook
   types...); where the schema and a model report the same field, the model's
   message is kept;
3. what spans objects and what the controller would refuse at run time: a
   metric's MetricTemplate must be among the given files (found as the
   controller finds it, see :func:`canary.providers.checks.template_key`), every
   Prometheus query must parse as PromQL once its template variables are
   rendered, ``templateVariables`` values that could inject PromQL are refused
   (:mod:`canary.providers.templates`), and :func:`canary.routers.unsupported`
   says what the controller refuses (an error) or ignores for now (a warning).

Flagger objects (``flagger.app``) are errors that point to ``canary convert``;
other kinds are ignored and counted. Nothing here raises on bad input: every
problem is a :class:`~canary.gitops.findings.Finding`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from canary.admission import FoundTemplate, metric_issues, standalone_query_problem, support_issues, webhook_issues
from canary.gitops.documents import Document, FieldPath, FileDocuments, collect_files, read_documents
from canary.gitops.findings import Finding, Severity, format_path
from canary.gitops.schema import (
    KINDS,
    enum_values,
    known_fields,
    prune_nulls,
    schema_for,
    schema_problems,
    suggest,
    unknown_field_message,
)
from canary.models import (
    AlertProvider,
    Canary,
    CanaryAnalysis,
    CanaryMetric,
    CanaryService,
    CanarySpec,
    MetricTemplate,
    ObjectMeta,
    TargetReference,
    describe,
)
from canary.models.base import API_GROUP, GROUP_VERSION
from canary.models.canary import IngressReference
from canary.models.convert import FLAGGER_GROUP
from canary.models.errors import field_path
from canary.models.support import DEFAULT_PROVIDER

__all__ = ["FLAGGER_MESSAGE", "Report", "validate_documents", "validate_files", "validate_paths"]

FLAGGER_MESSAGE = "Flagger resource: run `canary convert`"
"""The error for a ``flagger.app`` object found by ``canary validate``."""

_MODELS: dict[str, type[Canary] | type[MetricTemplate] | type[AlertProvider]] = {
    "Canary": Canary,
    "MetricTemplate": MetricTemplate,
    "AlertProvider": AlertProvider,
}
# Kubernetes ObjectMeta fields that the model does not list but kubectl accepts.
_EXTRA_METADATA = ("ownerReferences", "managedFields", "selfLink", "deletionGracePeriodSeconds")
_METADATA_FIELDS = tuple(sorted({*ObjectMeta.model_fields, *_EXTRA_METADATA}))
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Pydantic error types that only say "wrong type".
_TYPE_ERRORS = frozenset(
    {
        "model_type",
        "model_attributes_type",
        "dict_type",
        "list_type",
        "string_type",
        "int_type",
        "float_type",
        "bool_type",
    }
)


@dataclass
class Report:
    """The outcome of a validation run: the findings and what was looked at."""

    findings: list[Finding] = field(default_factory=list)
    """Every problem, in file and document order."""
    files: int = 0
    """Files read."""
    checked: dict[str, int] = field(default_factory=dict)
    """Objects checked, by kind."""
    flagger: int = 0
    """Flagger objects found (each is an error)."""
    ignored: int = 0
    """Documents of other kinds (or not Kubernetes objects), left alone."""

    @property
    def errors(self) -> int:
        """Number of error findings."""
        return sum(1 for finding in self.findings if finding.severity == "error")

    @property
    def warnings(self) -> int:
        """Number of warning findings."""
        return sum(1 for finding in self.findings if finding.severity == "warning")

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings do not fail)."""
        return self.errors == 0

    def summary(self) -> str:
        """One line: files read, objects checked by kind, ignored documents, errors and warnings."""
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(self.checked.items()) if count)
        total = sum(self.checked.values())
        parts = [
            f"{self.files} file{'s' if self.files != 1 else ''}",
            f"{total} object{'s' if total != 1 else ''} checked",
        ]
        if kinds:
            parts[-1] += f" ({kinds})"
        if self.flagger:
            parts.append(f"{self.flagger} Flagger object{'s' if self.flagger != 1 else ''}")
        parts.append(f"{self.ignored} other document{'s' if self.ignored != 1 else ''} ignored")
        return (
            ", ".join(parts)
            + f": {self.errors} error{'s' if self.errors != 1 else ''}, "
            + f"{self.warnings} warning{'s' if self.warnings != 1 else ''}"
        )


@dataclass
class _Object:
    """One ``canary.dev`` object found in a document (a List's item has a path prefix)."""

    document: Document
    prefix: FieldPath
    kind: str
    raw: dict[str, Any]
    obj: dict[str, Any]
    model: Canary | MetricTemplate | AlertProvider | None = None

    @property
    def name(self) -> str | None:
        metadata = self.obj.get("metadata")
        value = metadata.get("name") if isinstance(metadata, dict) else None
        return value if isinstance(value, str) and value else None

    @property
    def namespace(self) -> str | None:
        metadata = self.obj.get("metadata")
        value = metadata.get("namespace") if isinstance(metadata, dict) else None
        return value if isinstance(value, str) and value else None

    def label(self) -> str:
        return f"{self.namespace or 'default'}/{self.name or '?'}"


class _Collector:
    """Builds findings with the location filled in from the document."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []

    def add(
        self,
        document: Document,
        path: FieldPath,
        severity: Severity,
        message: str,
        kind: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
    ) -> None:
        self.findings.append(
            Finding(
                file=document.file,
                severity=severity,
                message=message,
                path=format_path(path),
                kind=kind,
                namespace=namespace,
                name=name,
                document=document.index,
                line=document.line_of(path),
            )
        )

    def on(self, item: _Object, path: FieldPath, severity: Severity, message: str) -> None:
        self.add(item.document, (*item.prefix, *path), severity, message, item.kind, item.namespace, item.name)


def _meta(obj: dict[str, Any]) -> tuple[str | None, str | None]:
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        return None, None
    namespace, name = metadata.get("namespace"), metadata.get("name")
    return (
        namespace if isinstance(namespace, str) and namespace else None,
        name if isinstance(name, str) and name else None,
    )


def _group(obj: dict[str, Any]) -> str | None:
    api_version = obj.get("apiVersion")
    return api_version.partition("/")[0] if isinstance(api_version, str) else None


def _is_ours_or_flagger(value: Any) -> bool:
    return isinstance(value, dict) and _group(value) in (API_GROUP, FLAGGER_GROUP)


def _objects(document: Document, out: _Collector, report: Report) -> Iterator[_Object]:
    """The ``canary.dev`` objects of one document; Flagger objects and odd documents become findings."""
    value = document.obj
    if value is None:
        return
    if isinstance(value, list):
        if any(_is_ours_or_flagger(item) for item in value):
            out.add(document, (), "error", "a document must hold one object, not a list (use `kind: List` and items)")
        else:
            report.ignored += 1
        return
    if not isinstance(value, dict):
        report.ignored += 1
        return
    items: list[tuple[FieldPath, Any]] = [((), value)]
    if value.get("kind") == "List" and value.get("apiVersion") == "v1" and isinstance(value.get("items"), list):
        items = [(("items", position), item) for position, item in enumerate(value["items"])]
    for prefix, item in items:
        if not isinstance(item, dict):
            report.ignored += 1
            continue
        group = _group(item)
        kind = item.get("kind")
        namespace, name = _meta(item)
        kind_text = kind if isinstance(kind, str) else None
        if group == FLAGGER_GROUP:
            report.flagger += 1
            out.add(document, (*prefix, "apiVersion"), "error", FLAGGER_MESSAGE, kind_text, namespace, name)
            continue
        if group != API_GROUP:
            if group is None and kind_text in KINDS and "apiVersion" not in item:
                out.add(
                    document,
                    (*prefix, "apiVersion"),
                    "error",
                    f"required field is missing (expected {GROUP_VERSION})",
                    kind_text,
                    namespace,
                    name,
                )
            else:
                report.ignored += 1
            continue
        if kind_text not in KINDS:
            message = f"unknown kind {kind!r} in {API_GROUP}: expected one of {', '.join(KINDS)}"
            guess = suggest(kind_text, KINDS) if kind_text else None
            if guess:
                message += f"; did you mean {guess!r}?"
            out.add(document, (*prefix, "kind"), "error", message, kind_text, namespace, name)
            continue
        assert kind_text is not None
        report.checked[kind_text] = report.checked.get(kind_text, 0) + 1
        yield _Object(document, prefix, kind_text, item, prune_nulls(item))


def _real_path(obj: Any, loc: Sequence[int | str]) -> FieldPath:
    """A pydantic error location reduced to the fields that exist in ``obj`` (drops union member tags)."""
    path: list[str | int] = []
    current = obj
    for part in loc:
        if isinstance(current, dict):
            path.append(part)
            if part not in current:
                break
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int):
            path.append(part)
            if not 0 <= part < len(current):
                break
            current = current[part]
        else:
            break
    return tuple(path)


def _model_problems(item: _Object) -> list[tuple[FieldPath, str, str]]:
    """Parse the object with its model; the problems, by field path, in the models' own words."""
    try:
        item.model = _MODELS[item.kind].model_validate(item.obj)
    except ValidationError as error:
        schema = schema_for(item.kind)
        problems: list[tuple[FieldPath, str, str]] = []
        details = error.errors(include_url=False)
        for detail, line in zip(details, describe(error), strict=True):
            loc: list[int | str] = list(detail["loc"])
            extra_field = (detail.get("ctx") or {}).get("field")
            if isinstance(extra_field, str):
                loc.append(extra_field)
            prefix = f"{field_path(loc)}: "
            message = line[len(prefix) :] if line.startswith(prefix) else line
            path = _real_path(item.obj, loc)
            value = detail.get("input")
            if detail["type"] == "extra_forbidden" and path:
                message = unknown_field_message(item.kind, str(path[-1]), known_fields(schema, path[:-1]))
            elif detail["type"] == "literal_error" and isinstance(value, str):
                guess = suggest(value, enum_values(schema, path))
                if guess:
                    message += f"; did you mean {guess!r}?"
            problems.append((path, message, detail["type"]))
        return problems
    return []


def _overlaps(a: FieldPath, b: FieldPath) -> bool:
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter]


def _metadata_problems(item: _Object) -> list[tuple[FieldPath, str]]:
    metadata = item.obj.get("metadata")
    if metadata is None:
        return [(("metadata",), "required field is missing (kubectl apply needs metadata.name)")]
    if not isinstance(metadata, dict):
        return []  # the schema reports the type
    problems: list[tuple[FieldPath, str]] = []
    for key in metadata:
        if key not in _METADATA_FIELDS:
            message = f"unknown field {key!r} of metadata (it would be refused, not applied)"
            guess = suggest(key, _METADATA_FIELDS)
            if guess:
                message += f"; did you mean {guess!r}?"
            problems.append((("metadata", key), message))
    name = metadata.get("name")
    if name is None and metadata.get("generateName") is None:
        problems.append((("metadata", "name"), "required field is missing (kubectl apply needs a name)"))
    elif isinstance(name, str) and (len(name) > 253 or not _DNS_SUBDOMAIN.match(name)):
        problems.append(
            (
                ("metadata", "name"),
                f"must be a Kubernetes name: lower-case letters, digits, '-' and '.' (got {name!r})",
            )
        )
    namespace = metadata.get("namespace")
    if isinstance(namespace, str) and (len(namespace) > 63 or not _DNS_LABEL.match(namespace)):
        problems.append(
            (
                ("metadata", "namespace"),
                f"must be a namespace name: lower-case letters, digits and '-' (got {namespace!r})",
            )
        )
    return problems


def _check_object(item: _Object, out: _Collector) -> None:
    """Schema, metadata and model checks of one object (the model is kept on ``item`` when it parses)."""
    schema = schema_problems(item.kind, item.obj)
    schema_paths = {path for path, _ in schema}
    # A plain type error reads better in the schema's words ("must be a mapping (got 5)"); the models'
    # messages win everywhere else, and the schema's are kept only where the models say nothing.
    model = [
        (path, message)
        for path, message, kind in _model_problems(item)
        if not (kind in _TYPE_ERRORS and path in schema_paths)
    ]
    schema = [(path, message) for path, message in schema if not any(_overlaps(path, seen) for seen, _ in model)]
    reported: set[tuple[FieldPath, str]] = set()
    for path, message in [*_metadata_problems(item), *model, *schema]:
        if (path, message) in reported:
            continue
        reported.add((path, message))
        out.on(item, path, "error", message)


def _unsupported(item: _Object, out: _Collector, default_provider: str) -> None:
    assert item.model is not None
    for issue in support_issues(item.model, default_provider):
        out.on(item, issue.path, issue.level, issue.message)


@dataclass
class _Index:
    """The objects of the given paths by what references them: (namespace, name)."""

    templates: dict[tuple[str, str], list[_Object]] = field(default_factory=dict)
    providers: dict[tuple[str, str], list[_Object]] = field(default_factory=dict)
    template_problems: dict[int, str | None] = field(default_factory=dict)

    def standalone_problem(self, item: _Object) -> str | None:
        key = id(item)
        if key not in self.template_problems:
            model = item.model
            self.template_problems[key] = standalone_query_problem(model) if isinstance(model, MetricTemplate) else None
        return self.template_problems[key]


def _check_metric_template(item: _Object, index: _Index, out: _Collector) -> None:
    problem = index.standalone_problem(item)
    if problem:
        out.on(item, ("spec", "query"), "error", problem)


def _partial_canary(obj: dict[str, Any]) -> tuple[Canary, list[tuple[int, CanaryMetric]]]:
    """What the metric checks need from a Canary that does not validate as a whole.

    The metrics that validate on their own, by position, and a Canary built
    without validation that carries only the names the checks read (metadata,
    targetRef, service and ingressRef names).
    """

    def mapping(value: Any) -> dict[str, Any]:
        return value if isinstance(value, dict) else {}

    def text(value: Any) -> str | None:
        return value if isinstance(value, str) and value else None

    spec = mapping(obj.get("spec"))
    analysis = mapping(spec.get("analysis"))
    metrics: list[tuple[int, CanaryMetric]] = []
    raw_metrics = analysis.get("metrics")
    for position, raw in enumerate(raw_metrics if isinstance(raw_metrics, list) else []):
        try:
            metrics.append((position, CanaryMetric.model_validate(raw)))
        except ValidationError:
            continue  # its problems are reported already
    metadata = mapping(obj.get("metadata"))
    ingress = text(mapping(spec.get("ingressRef")).get("name"))
    canary = Canary.model_construct(
        metadata=ObjectMeta.model_construct(name=text(metadata.get("name")), namespace=text(metadata.get("namespace"))),
        spec=CanarySpec.model_construct(
            targetRef=TargetReference.model_construct(
                apiVersion="", kind="Deployment", name=text(mapping(spec.get("targetRef")).get("name")) or ""
            ),
            service=CanaryService.model_construct(port=0, name=text(mapping(spec.get("service")).get("name"))),
            ingressRef=IngressReference.model_construct(apiVersion="", kind="Ingress", name=ingress)
            if ingress
            else None,
            analysis=CanaryAnalysis.model_construct(metrics=[metric for _, metric in metrics], alerts=[]),
        ),
    )
    return canary, metrics


def _check_canary(item: _Object, index: _Index, out: _Collector) -> None:
    """Metric checks (templates, variables, PromQL), webhook addresses and alert references of one Canary.

    The rules are :mod:`canary.admission`'s, which the controller runs too.
    When the Canary as a whole is invalid, the metrics that are valid on their
    own are still checked (so one run reports everything), without rendering
    templates for this Canary (its names may be what is invalid).
    """
    whole = isinstance(item.model, Canary)
    if isinstance(item.model, Canary):
        canary = item.model
        metrics = list(enumerate(canary.spec.analysis.metrics))
    else:
        canary, metrics = _partial_canary(item.obj)

    def lookup(key: tuple[str, str]) -> list[FoundTemplate] | None:
        if key not in index.templates:
            return None
        return [
            FoundTemplate(f"MetricTemplate {key[0]}/{key[1]} ({found.document.file})", found.model)
            for found in index.templates[key]
            if isinstance(found.model, MetricTemplate)  # an invalid one is reported where it is
        ]

    issues = metric_issues(
        canary, lookup, missing="is not among the given paths", metrics=metrics, render=whole, broken_templates=False
    )
    for issue in [*issues, *(webhook_issues(canary) if whole else [])]:
        out.on(item, issue.path, issue.level, issue.message)
    for position, alert in enumerate(canary.spec.analysis.alerts):
        ref = alert.providerRef
        provider_key = (ref.namespace or canary.metadata.namespace or "default", ref.name)
        if provider_key not in index.providers:
            out.on(
                item,
                ("spec", "analysis", "alerts", position, "providerRef"),
                "warning",
                f"AlertProvider {provider_key[0]}/{provider_key[1]} is not among the given paths",
            )


def _duplicate_keys(item: _Object, out: _Collector) -> None:
    for path, first, again in item.document.duplicates:
        if path[: len(item.prefix)] == item.prefix:
            out.add(
                item.document,
                path,
                "error",
                f"written twice (lines {first} and {again}): the API server refuses duplicate fields",
                item.kind,
                item.namespace,
                item.name,
            )


def validate_documents(
    documents: Sequence[Document], default_provider: str = DEFAULT_PROVIDER, report: Report | None = None
) -> Report:
    """Check every ``canary.dev`` object of ``documents`` (together: references resolve across them)."""
    report = report if report is not None else Report()
    out = _Collector()
    objects: list[_Object] = []
    for document in documents:
        try:
            for item in _objects(document, out, report):
                _duplicate_keys(item, out)
                _check_object(item, out)
                objects.append(item)
        except Exception as error:
            out.add(document, (), "error", f"internal error while checking this document: {error!r}")
    index = _Index()
    seen: dict[tuple[str, str, str], _Object] = {}
    for item in objects:
        name = item.name
        if name is None:
            continue
        key = (item.kind, item.namespace or "default", name)
        if key in seen:
            first = seen[key].document
            out.on(
                item, ("metadata", "name"), "warning", f"defined again (first in {first.file}, document {first.index})"
            )
        else:
            seen[key] = item
        if item.kind == "MetricTemplate":
            index.templates.setdefault(key[1:], []).append(item)
        elif item.kind == "AlertProvider":
            index.providers.setdefault(key[1:], []).append(item)
    for item in objects:
        try:
            if item.kind == "Canary":
                _check_canary(item, index, out)
            elif isinstance(item.model, MetricTemplate):
                _check_metric_template(item, index, out)
            if item.model is not None:
                _unsupported(item, out, default_provider)
        except Exception as error:
            out.on(item, (), "error", f"internal error while checking this object: {error!r}")
    order = {(document.file, document.index): position for position, document in enumerate(documents)}
    findings = sorted(
        out.findings,
        key=lambda finding: (order.get((finding.file, finding.document or 0), -1), finding.line or 0),
    )
    report.findings.extend(findings)
    return report


def validate_files(files: Sequence[FileDocuments], default_provider: str = DEFAULT_PROVIDER) -> Report:
    """Check the documents of files already read; read errors become error findings."""
    report = Report(files=len(files))
    documents: list[Document] = []
    for read in files:
        documents.extend(read.documents)
    validate_documents(documents, default_provider, report)
    read_errors = [
        Finding(file=error.file, severity="error", message=error.message, document=error.document, line=error.line)
        for read in files
        for error in read.errors
    ]
    report.findings[:0] = read_errors
    return report


def validate_paths(paths: Sequence[str], default_provider: str = DEFAULT_PROVIDER) -> Report:
    """Read every YAML file under ``paths`` and check it; see the module docstring for what is checked."""
    found, missing = collect_files(paths)
    report = validate_files([read_documents(name, path) for name, path in found], default_provider)
    report.findings[:0] = [Finding(file=error.file, severity="error", message=error.message) for error in missing]
    return report
