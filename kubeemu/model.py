"""The vocabulary of the emulated API server: errors, resource types and selectors.

Everything here is pure (no I/O, no event loop): the Kubernetes ``Status``
errors the server answers with, the description of a served resource
(:class:`ResourceType`) and the built-in ones, and label and field selectors.
Patches are in :mod:`kubeemu.patch`, the stateful part in
:mod:`kubeemu.store`, the HTTP part in
:mod:`kubeemu.http`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "BUILTIN_RESOURCES",
    "FieldSelector",
    "JsonDict",
    "LabelSelector",
    "ResourceType",
    "StatusError",
    "resource_types_from_crd",
    "sort_versions",
]

JsonDict = dict[str, Any]


class StatusError(Exception):
    """A failed API call, rendered to the client as a Kubernetes ``Status`` object."""

    def __init__(self, code: int, reason: str, message: str, details: JsonDict | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> JsonDict:
        """The ``Status`` body as a real API server would send it."""
        body: JsonDict = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if not self.reason:  # StatusReasonUnknown is left out, as Go's omitempty does
            del body["reason"]
        if self.details is not None:
            body["details"] = self.details
        return body

    @classmethod
    def not_found(cls, rt: ResourceType, name: str) -> StatusError:
        """404 for a missing object, worded as the API server words it."""
        return cls(404, "NotFound", f'{rt.qualified} "{name}" not found', rt.details(name))

    @classmethod
    def already_exists(cls, rt: ResourceType, name: str) -> StatusError:
        """409 for creating an object whose name is taken."""
        return cls(409, "AlreadyExists", f'{rt.qualified} "{name}" already exists', rt.details(name))

    @classmethod
    def conflict(cls, rt: ResourceType, name: str, why: str | None = None) -> StatusError:
        """409 for a stale ``metadata.resourceVersion`` (optimistic concurrency)."""
        why = why or "the object has been modified; please apply your changes to the latest version and try again"
        return cls(
            409, "Conflict", f'Operation cannot be fulfilled on {rt.qualified} "{name}": {why}', rt.details(name)
        )

    @classmethod
    def invalid(cls, rt: ResourceType, name: str, why: str, causes: list[tuple[str, str]] | None = None) -> StatusError:
        """422 for an object or patch the server refuses; ``causes`` are (field, message) pairs."""
        details: JsonDict = {"name": name, "group": rt.group, "kind": rt.kind}
        if causes:
            details["causes"] = [
                {"reason": "FieldValueInvalid", "message": message, "field": field} for field, message in causes
            ]
        if not why:  # apimachinery's NewInvalid: the causes, aggregated
            errors = [f"{field}: {message}" for field, message in causes or ()]
            why = errors[0] if len(errors) == 1 else f"[{', '.join(errors)}]"
        kind = f"{rt.kind}.{rt.group}" if rt.group else rt.kind  # a GroupKind's String()
        return cls(422, "Invalid", f'{kind} "{name}" is invalid: {why}', details)

    @classmethod
    def bad_request(cls, message: str) -> StatusError:
        """400 for a malformed request."""
        return cls(400, "BadRequest", message)

    @classmethod
    def no_resource(cls) -> StatusError:
        """404 for a URL that names no served resource."""
        return cls(404, "NotFound", "the server could not find the requested resource")


@dataclasses.dataclass(frozen=True)
class ResourceType:
    """One served resource in one API version (what discovery lists).

    Objects are stored per *group resource* (group + plural), so every served
    version of a CRD sees the same objects, relabelled with its apiVersion.
    """

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: frozenset[str] = frozenset()
    custom: bool = False  # served from a CustomResourceDefinition
    printer_columns: tuple[JsonDict, ...] = dataclasses.field(default=(), compare=False)
    list_kind_name: str = ""  # the CRD's names.listKind, if it sets one
    schema: JsonDict | None = dataclasses.field(default=None, compare=False)  # the CRD's openAPIV3Schema

    @property
    def api_version(self) -> str:
        """``v1`` for the core group, ``group/version`` otherwise."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> tuple[str, str]:
        """The storage key shared by all versions of the resource."""
        return (self.group, self.plural)

    @property
    def qualified(self) -> str:
        """``deployments.apps``, ``pods``: how error messages name the resource."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        """The kind of list responses, e.g. ``DeploymentList``."""
        return self.list_kind_name or f"{self.kind}List"

    def details(self, name: str) -> JsonDict:
        """The ``details`` block of an error about one object."""
        return {"name": name, "group": self.group, "kind": self.plural}

    def discovery(self) -> list[JsonDict]:
        """The APIResourceList entries of this resource and its subresources."""
        verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
        entries: list[JsonDict] = [
            {
                "name": self.plural,
                "singularName": self.singular or self.kind.lower(),
                "namespaced": self.namespaced,
                "kind": self.kind,
                "verbs": verbs,
                **({"shortNames": list(self.short_names)} if self.short_names else {}),
                **({"categories": list(self.categories)} if self.categories else {}),
            }
        ]
        for sub in sorted(self.subresources):
            entries.append(
                {
                    "name": f"{self.plural}/{sub}",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "kind": "Scale" if sub == "scale" else self.kind,
                    **({"group": "autoscaling", "version": "v1"} if sub == "scale" else {}),
                    "verbs": ["get", "patch", "update"],
                }
            )
        return entries


def _core(
    plural: str, kind: str, namespaced: bool = True, short: tuple[str, ...] = (), subs: Iterable[str] = ()
) -> ResourceType:
    return ResourceType("", "v1", plural, kind, namespaced, kind.lower(), short, (), frozenset(subs))


def _grp(
    group: str,
    version: str,
    plural: str,
    kind: str,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    subs: Iterable[str] = (),
) -> ResourceType:
    return ResourceType(group, version, plural, kind, namespaced, kind.lower(), short, (), frozenset(subs))


BUILTIN_RESOURCES: tuple[ResourceType, ...] = (
    _core("namespaces", "Namespace", namespaced=False, short=("ns",), subs=("status",)),
    _core("nodes", "Node", namespaced=False, short=("no",), subs=("status",)),
    _core("pods", "Pod", short=("po",), subs=("status",)),
    _core("services", "Service", short=("svc",), subs=("status",)),
    _core("endpoints", "Endpoints", short=("ep",)),
    _core("configmaps", "ConfigMap", short=("cm",)),
    _core("secrets", "Secret"),
    _core("serviceaccounts", "ServiceAccount", short=("sa",)),
    _core("events", "Event", short=("ev",)),
    _grp("apps", "v1", "deployments", "Deployment", short=("deploy",), subs=("status", "scale")),
    _grp("apps", "v1", "replicasets", "ReplicaSet", short=("rs",), subs=("status", "scale")),
    _grp("apps", "v1", "statefulsets", "StatefulSet", short=("sts",), subs=("status", "scale")),
    _grp("apps", "v1", "daemonsets", "DaemonSet", short=("ds",), subs=("status",)),
    _grp("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", short=("hpa",), subs=("status",)),
    _grp("events.k8s.io", "v1", "events", "Event", short=("ev",)),
    _grp("coordination.k8s.io", "v1", "leases", "Lease"),
    _grp("networking.k8s.io", "v1", "ingresses", "Ingress", short=("ing",), subs=("status",)),
    _grp("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", short=("pdb",), subs=("status",)),
    _grp(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
        short=("crd", "crds"),
        subs=("status",),
    ),
)

_VERSION_RE = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def _version_key(version: str) -> tuple[int, int, int, str]:
    match = _VERSION_RE.match(version)
    if match is None:
        return (3, 0, 0, version)
    major, stage, minor = match.groups()
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -int(major), -int(minor or 0), "")


def sort_versions(versions: Iterable[str]) -> list[str]:
    """Versions in Kubernetes' priority order (v2, v1, v1beta2, v1beta1, v1alpha1, others)."""
    return sorted(set(versions), key=_version_key)


def resource_types_from_crd(crd: Mapping[str, Any]) -> list[ResourceType]:
    """The resource types a CustomResourceDefinition serves, one per served version."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = spec.get("group")
    plural = names.get("plural")
    kind = names.get("kind")
    if not group or not plural or not kind:
        raise ValueError("spec.group, spec.names.plural and spec.names.kind are required")
    namespaced = spec.get("scope", "Namespaced") == "Namespaced"
    result: list[ResourceType] = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or spec.get("subresources") or {}
        result.append(
            ResourceType(
                group=group,
                version=version["name"],
                plural=plural,
                kind=kind,
                namespaced=namespaced,
                singular=names.get("singular") or kind.lower(),
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                subresources=frozenset(sub for sub in ("status", "scale") if sub in subresources),
                custom=True,
                printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
                list_kind_name=names.get("listKind") or "",
                schema=(
                    (version.get("schema") or {}).get("openAPIV3Schema")
                    or ((spec.get("validation") or {}).get("openAPIV3Schema"))
                ),
            )
        )
    return result


# --- selectors ---------------------------------------------------------------------------------

_LABEL_REQ_RE = re.compile(
    r"^\s*(?P<neg>!)?\s*(?P<key>[A-Za-z0-9_./-]+)\s*"
    r"(?:(?P<op>==|=|!=|\s+in\s+|\s+notin\s+|>|<)\s*(?P<value>\(.*\)|[A-Za-z0-9_.-]*))?\s*$"
)


def _split_top_level(text: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current = ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part for part in parts if part.strip()]


@dataclasses.dataclass(frozen=True)
class _LabelRequirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!exists", ">", "<"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        try:
            number = int(value or "")
            bound = int(next(iter(self.values)))
        except ValueError:
            return False
        return number > bound if self.op == ">" else number < bound


@dataclasses.dataclass(frozen=True)
class LabelSelector:
    """A parsed ``labelSelector`` query (``=``, ``==``, ``!=``, ``in``, ``notin``, ``key``, ``!key``)."""

    requirements: tuple[_LabelRequirement, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        """Parse the query text; raise :class:`StatusError` (400) if it is malformed."""
        requirements: list[_LabelRequirement] = []
        for part in _split_top_level(text or ""):
            match = _LABEL_REQ_RE.match(part)
            if match is None:
                raise StatusError.bad_request(f"unable to parse requirement: {part!r}")
            key, op, value, neg = match["key"], match["op"], match["value"], match["neg"]
            if op is None:
                requirements.append(_LabelRequirement(key, "!exists" if neg else "exists"))
                continue
            if neg:
                raise StatusError.bad_request(f"unable to parse requirement: {part!r}")
            op = op.strip()
            if op in ("in", "notin"):
                if not (value.startswith("(") and value.endswith(")")):
                    raise StatusError.bad_request(f"unable to parse requirement: {part!r}")
                values = frozenset(v.strip() for v in value[1:-1].split(",") if v.strip())
                requirements.append(_LabelRequirement(key, op, values))
            else:
                requirements.append(_LabelRequirement(key, "=" if op == "==" else op, frozenset({value})))
        return cls(tuple(requirements))

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether the object's labels satisfy every requirement."""
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(req.matches(labels) for req in self.requirements)


@dataclasses.dataclass(frozen=True)
class FieldSelector:
    """A parsed ``fieldSelector`` query: ``path=value``, ``path==value``, ``path!=value``, comma-joined.

    Any dotted path into the object is accepted (``metadata.name``,
    ``metadata.namespace``, ``involvedObject.name``, ``status.phase``...).
    """

    requirements: tuple[tuple[str, bool, str], ...] = ()  # (path, equal?, value)

    @classmethod
    def parse(cls, text: str | None) -> FieldSelector:
        """Parse the query text; raise :class:`StatusError` (400) if it is malformed."""
        requirements: list[tuple[str, bool, str]] = []
        for part in _split_top_level(text or ""):
            match = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(!=|==|=)\s*(.*?)\s*$", part)
            if match is None:
                raise StatusError.bad_request(f"invalid selector: {part!r}; can't understand it")
            requirements.append((match[1], match[2] != "!=", match[3]))
        return cls(tuple(requirements))

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether every ``path (=|!=) value`` requirement holds for the object."""
        for path, equal, value in self.requirements:
            current: Any = obj
            for step in path.split("."):
                current = current.get(step) if isinstance(current, Mapping) else None
            text = "" if current is None else str(current).lower() if isinstance(current, bool) else str(current)
            if (text == value) != equal:
                return False
        return True

    def single_name(self) -> str | None:
        """The name selected by ``metadata.name=X``, if that is a requirement."""
        for path, equal, value in self.requirements:
            if path == "metadata.name" and equal:
                return value
        return None
