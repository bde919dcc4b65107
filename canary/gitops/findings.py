"""What ``canary validate`` and ``canary convert`` report: one :class:`Finding` per problem.

A finding names the file, the object (kind, namespace and name, or the
document's position when it has no name) and the field path, so a message
reads ``apps/podinfo/canary.yaml: Canary test/podinfo: spec.analysis.stepWeight:
must be between 1 and 100 (got 0)``. :func:`to_json` gives the machine form.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from canary.gitops.documents import FieldPath
from canary.models.errors import field_path

__all__ = ["Finding", "Severity", "format_path", "object_label", "to_json"]

Severity = Literal["error", "warning", "info"]
"""``error`` fails the check; ``warning`` (accepted but not acted on, or suspicious) and ``info`` do not."""


def format_path(path: FieldPath) -> str:
    """A field path as people read it: ``spec.analysis.metrics[0].name`` (empty for the whole object)."""
    return field_path(list(path)) if path else ""


def object_label(kind: str | None, namespace: str | None, name: str | None, document: int | None) -> str:
    """``Canary test/podinfo``, ``Canary podinfo`` (no namespace), ``Canary (document 2)`` (no name), ``document 2``."""
    if kind is None and name is None and document is not None:
        return f"document {document}"
    what = kind or "object"
    if name:
        return f"{what} {namespace}/{name}" if namespace else f"{what} {name}"
    if document is not None:
        return f"{what} (document {document})"
    return what


@dataclass(frozen=True)
class Finding:
    """One problem of one object (or file), located down to the field."""

    file: str
    """The file, as given or found under a given directory."""
    severity: Severity
    """error, warning or info."""
    message: str
    """What is wrong, in words (without the location)."""
    path: str = ""
    """Field path in the object (``spec.analysis.stepWeight``); empty for the whole object or file."""
    kind: str | None = None
    """Kind of the object, when known."""
    namespace: str | None = None
    """metadata.namespace of the object, when set."""
    name: str | None = None
    """metadata.name of the object, when set."""
    document: int | None = None
    """1-based index of the document in the file."""
    line: int | None = None
    """1-based line of the field in the file, when known."""

    def where(self) -> str:
        """``file: Kind ns/name: path`` (the parts that are known)."""
        parts = [self.file]
        if self.kind is not None or self.name is not None or self.document is not None:
            parts.append(object_label(self.kind, self.namespace, self.name, self.document))
        if self.path:
            parts.append(self.path)
        return ": ".join(parts)

    def __str__(self) -> str:
        prefix = "" if self.severity == "error" else f"{self.severity}: "
        return f"{self.where()}: {prefix}{self.message}"

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: file, kind, namespace, name, path, severity, message, document, line."""
        return {
            "file": self.file,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "path": self.path,
            "severity": self.severity,
            "message": self.message,
            "document": self.document,
            "line": self.line,
        }


def to_json(findings: Iterable[Finding]) -> list[dict[str, Any]]:
    """Findings as a list of JSON-ready dicts, in order."""
    return [finding.as_dict() for finding in findings]
