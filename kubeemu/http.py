"""The HTTP face of the emulated API server: a ``kmock.KubernetesEmulator`` subclass.

:class:`EmulatedApiServer` parses Kubernetes API URLs itself (kmock 0.8's
parser fails on ``/api/v1/namespaces``), keeps a bounded request log, and
answers from an :class:`~kubeemu.store.ObjectStore`:
discovery, list (with selectors and ``limit``/``continue``), watch (with
``resourceVersion``, ``timeoutSeconds``, bookmarks and ``sendInitialEvents``),
get, create, replace, patch (merge, strategic merge, JSON patch), delete and
delete-collection, the ``status`` and ``scale`` subresources, and ``dryRun``.
Errors are Kubernetes ``Status`` objects; names and unknown fields are
checked as kube-apiserver checks them (:mod:`kubeemu.validation`), with
``fieldValidation`` and ``Warning`` headers. Every request is also counted by
its authorization attributes (user, verb, resource...): ``GET /sandbox/audit``
answers the counts (see :mod:`kubeemu.audit`). Faults (error answers,
delays, dropped connections) are injected at rates set at run time through
``/sandbox/faults`` (see :mod:`kubeemu.faults`).

kmock's DSL still works for fault injection: reactions added with
``server[...] << ...`` are tried first, and requests they do not answer fall
through to the emulation.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import dataclasses
import json
import logging
import socket
import struct
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

import aiohttp.web
import kmock
import yaml
from kmock._internal import apps  # the base class's request matching, reused for fault injection

from kubeemu import fieldmanager
from kubeemu.audit import AUDIT_PATH, AuditEntry, AuditKey, rbac_verb, request_user
from kubeemu.discovery import (
    SERVER_VERSION,
    api_group,
    api_resources,
    openapi_group_version,
    openapi_index,
)
from kubeemu.faults import FAULTS_PATH, FaultInjector, FaultPlan, FaultRule, failure_status
from kubeemu.model import FieldSelector, JsonDict, LabelSelector, ResourceType, StatusError
from kubeemu.patch import (
    APPLY_PATCH,
    MERGE_PATCH,
    PATCH_TYPES,
    STRATEGIC_MERGE_PATCH,
    PatchError,
    apply_merge_patch,
    apply_patch,
)
from kubeemu.store import SYSTEM_NAMESPACES, ObjectStore, UnknownFieldsHook, WatchEvent
from kubeemu.table import render_table, wants_table
from kubeemu.validation import FIELD_VALIDATION_DIRECTIVES, builtin_schema, unknown_fields

__all__ = ["EmulatedApiServer", "read_crd_files", "serve"]

logger = logging.getLogger("kubeemu.server")

_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml parses the big mesh CRDs 10x faster


@dataclasses.dataclass(frozen=True)
class _Route:
    """A parsed API path; ``version`` None means ``/apis/{group}``, ``plural`` None a version root."""

    group: str
    version: str | None
    plural: str | None = None
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    watch: bool = False


def _parse_path(path: str) -> _Route | None:
    parts = [part for part in path.split("/") if part]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) == 2 and parts[0] == "apis":
        return _Route(parts[1], None)
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    watch = bool(rest) and rest[0] == "watch"
    if watch:
        rest = rest[1:]
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces" and not (group == "" and rest[2] in ("status", "finalize")):
        namespace, rest = rest[1], rest[2:]
    if not rest:
        return _Route(group, version, watch=watch)
    return _Route(
        group, version, rest[0], namespace, rest[1] if len(rest) > 1 else None, "/".join(rest[2:]) or None, watch
    )


def _action(method: str, watch: bool, named: bool) -> kmock.action | None:
    """The kmock action of a resource request (what kmock's DSL filters on)."""
    if method == "GET":
        return kmock.action.WATCH if watch else kmock.action.FETCH if named else kmock.action.LIST
    return {
        "POST": kmock.action.CREATE,
        "PUT": kmock.action.UPDATE,
        "PATCH": kmock.action.UPDATE,
        "DELETE": kmock.action.DELETE,
    }.get(method)


def _audit_key(raw: aiohttp.web.BaseRequest, route: _Route | None, params: dict[str, str]) -> AuditKey:
    """The authorization attributes of a request, as the audit summary counts them."""
    user, agent = request_user(raw.headers), raw.headers.get("User-Agent", "")
    if route is None or route.version is None or route.plural is None:
        return AuditKey(user, agent, raw.method.lower(), path=raw.path)
    watch = route.watch or params.get("watch") in ("true", "1")
    return AuditKey(
        user,
        agent,
        rbac_verb(raw.method, named=route.name is not None, watch=watch),
        api_group=route.group,
        resource=route.plural,
        subresource=route.subresource,
        namespace=route.namespace,
    )


def _json(data: Any, status: int = 200) -> aiohttp.web.Response:
    return aiohttp.web.Response(body=json.dumps(data).encode(), status=status, content_type="application/json")


_BODY_TYPES = ("application/json", "application/yaml", *PATCH_TYPES, APPLY_PATCH)
_OPTIONS_KIND = {"POST": "CreateOptions", "PUT": "UpdateOptions", "PATCH": "PatchOptions"}


def _field_validation(method: str, params: Any) -> str:
    """The request's ``fieldValidation`` directive; kube-apiserver's default is ``Warn``."""
    directive = str(params.get("fieldValidation") or "Warn")
    if directive not in FIELD_VALIDATION_DIRECTIVES:
        supported = ", ".join(f'"{value}"' for value in FIELD_VALIDATION_DIRECTIVES)
        message = f'fieldValidation: Unsupported value: "{directive}": supported values: {supported}'
        kind = _OPTIONS_KIND.get(method, "CreateOptions")
        raise StatusError(
            422,
            "Invalid",
            f'{kind}.meta.k8s.io "" is invalid: {message}',
            {
                "group": "meta.k8s.io",
                "kind": kind,
                "causes": [
                    {
                        "reason": "FieldValueNotSupported",
                        "message": message.split(": ", 1)[1],
                        "field": "fieldValidation",
                    }
                ],
            },
        )
    return directive


def _strict_error(found: list[str]) -> str:
    """apimachinery's StrictDecodingError text."""
    return "strict decoding error: " + ", ".join(f'unknown field "{path}"' for path in found)


def _unknown_fields_hook(rt: ResourceType, method: str, directive: str, warnings: list[str]) -> UnknownFieldsHook:
    """What a write does with unknown fields, as kube-apiserver's create/update/patch handlers do.

    ``Strict``: a create or update is 400 BadRequest (``<Kind> in version
    "<v>" cannot be handled as a <Kind>: strict decoding error: ...``), a patch
    422 Invalid on the field ``patch``; ``Warn``: one ``Warning`` per field;
    ``Ignore``: nothing. The fields are dropped in every case that stores.
    """

    def hook(found: list[str], obj: JsonDict) -> None:
        if directive == "Warn":
            warnings.extend(f'unknown field "{path}"' for path in found)
        elif directive == "Strict" and method == "PATCH":
            value = json.dumps(json.dumps(obj, separators=(",", ":")))
            cause = f"Invalid value: {value}: {_strict_error(found)}"
            raise StatusError(
                422,
                "Invalid",
                f' "" is invalid: patch: {cause}',
                {"causes": [{"reason": "FieldValueInvalid", "message": cause, "field": "patch"}]},
            )
        elif directive == "Strict":
            raise StatusError.bad_request(
                f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: {_strict_error(found)}'
            )

    return hook


def _relabel(rt: ResourceType, obj: JsonDict) -> JsonDict:
    return obj if obj.get("apiVersion") == rt.api_version else {**obj, "apiVersion": rt.api_version}


def _scale_view(obj: JsonDict) -> JsonDict:
    meta = obj["metadata"]
    match_labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            key: meta[key]
            for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if key in meta
        },
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": ",".join(f"{k}={v}" for k, v in sorted(match_labels.items())),
        },
    }


class EmulatedApiServer(kmock.KubernetesEmulator):
    """An in-memory Kubernetes API server for the testbed, faithful enough for kopf, clients and kubectl.

    ``namespaces`` are created up front (besides default, kube-system,
    kube-public, kube-node-lease); ``crds`` are CRD objects (dicts) to serve
    from the start. ``request_log_size`` bounds kmock's request log.
    ``watch_timeout`` is the server-side watch duration when the client sets
    no ``timeoutSeconds``; ``bookmark_interval`` how often watches that allow
    bookmarks get one; ``history_size`` how many changes per resource a watch
    can resume from (older ``resourceVersion`` values get 410 Gone);
    ``validate_schemas`` whether custom resources are pruned, defaulted and
    validated with their CRD's schema as a real cluster does. State lives in
    :attr:`store`; touch it only from the event loop that serves the HTTP
    requests (see ``ApiServerThread.call``); kmock's own ``objects`` view is
    not used and stays empty.

    Known simplifications: strategic merge patch knows the merge keys of the
    common built-in lists by field name only (see ``MERGE_KEYS``); server-side apply
    tracks field ownership per manager (``metadata.managedFields``) for the
    common cases only (see :mod:`kubeemu.fieldmanager`); core ``v1`` and ``events.k8s.io/v1`` events are
    stored separately; deletion propagation is always in the background;
    built-in kinds get only a few defaults (Deployment replicas, Service
    clusterIP) and no validation beyond names and unknown fields; Events never expire.
    """

    def __init__(
        self,
        *,
        namespaces: Iterable[str] = (),
        crds: Iterable[JsonDict] = (),
        request_log_size: int = 1000,
        require_namespaces: bool = True,
        watch_timeout: float = 1800.0,
        bookmark_interval: float = 60.0,
        history_size: int = 20_000,
        validate_schemas: bool = True,
    ) -> None:
        super().__init__()
        # kmock keeps every request and scans that log on every request: keep only the latest ones.
        self._requests = collections.deque(maxlen=request_log_size)  # type: ignore[assignment]
        self.store = ObjectStore(
            require_namespaces=require_namespaces, history_size=history_size, validate_schemas=validate_schemas
        )
        self.watch_timeout = watch_timeout
        self.bookmark_interval = bookmark_interval
        self.address = "127.0.0.1:0"
        self._request_count = 0
        self._audit: collections.Counter[AuditKey] = collections.Counter()
        self.faults = FaultInjector()
        ns_type = self.store.resolve("", "v1", "namespaces")
        for namespace in dict.fromkeys([*SYSTEM_NAMESPACES, *namespaces]):
            self.store.create(ns_type, None, {"metadata": {"name": namespace}})
        self.add_crds(crds)

    def audit_entries(self) -> list[AuditEntry]:
        """How many requests each distinct set of authorization attributes had so far."""
        return [AuditEntry(key, self._audit[key]) for key in sorted(self._audit, key=AuditKey.sort_key)]

    def __attrs_post_init__(self) -> None:
        """Skip kmock's own fallback reactions: this class answers unmatched requests itself."""

    def add_crds(self, crds: Iterable[JsonDict]) -> None:
        """Serve these CustomResourceDefinitions (already present ones are left as they are)."""
        crd_type = self.store.resolve("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        for crd in crds:
            try:
                self.store.create(crd_type, None, {k: v for k, v in crd.items() if k != "status"})
            except StatusError as exc:
                if exc.code != 409:
                    raise

    def add_crd_files(self, paths: Iterable[Path]) -> None:
        """Serve the CustomResourceDefinitions in these (multi-document) YAML files."""
        self.add_crds(read_crd_files(paths))

    # --- request entry ---------------------------------------------------------------------------

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        """Serve one HTTP request (the aiohttp low-level server's handler)."""
        try:
            request = await self._parse_request(raw_request)
            self._requests.append(request)
            if self.faults.active and not raw_request.path.startswith("/sandbox/"):
                injected = await self._inject_fault(raw_request)
                if injected is not None:
                    return injected
            return await self._handle(request)
        except StatusError as exc:
            return _json(exc.status(), exc.code)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug here must reach the client as a 500, not a dropped connection
            logger.exception("Internal error on %s %s", raw_request.method, raw_request.path)
            return _json(StatusError(500, "InternalError", repr(exc)).status(), 500)

    async def _inject_fault(self, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse | None:
        """Apply the fault plan to one request: wait, fail it, or cut its connection; None lets it through."""
        route = _parse_path(raw.path)
        key = _audit_key(raw, route, dict(raw.query))
        decision = self.faults.decide(key.verb, key.resource, key.api_group, raw.path, key.user)
        if decision.delay:
            await asyncio.sleep(decision.delay)
        rule = decision.failure
        if rule is None:
            return None
        if rule.fault in ("drop", "reset"):
            return self._cut_connection(raw, rule)
        qualified = None
        if route is not None and route.plural is not None:
            qualified = f"{route.plural}.{route.group}" if route.group else route.plural
        error, headers = failure_status(rule, qualified, route.name if route else None)
        response = _json(error.status(), error.code)
        response.headers.update(headers)
        return response

    @staticmethod
    def _cut_connection(raw: aiohttp.web.BaseRequest, rule: FaultRule) -> aiohttp.web.StreamResponse:
        """Close the request's connection without an answer: a FIN (``drop``) or an RST (``reset``)."""
        transport = raw.transport
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if rule.fault == "reset" and sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                transport.abort()
            else:
                transport.close()
        return aiohttp.web.Response(status=204)  # never sent: the transport is closed

    def _serve_faults(self, request: kmock.Request, method: str) -> aiohttp.web.StreamResponse:
        """``/sandbox/faults``: GET the plan and counts, PUT/POST a plan, DELETE it (answers the last counts)."""
        if method == "GET":
            return _json(self.faults.to_json())
        if method == "DELETE":
            answer = self.faults.to_json()
            self.faults.configure(FaultPlan())
            return _json(answer)
        if method not in ("PUT", "POST"):
            raise StatusError(405, "MethodNotAllowed", f"the server does not allow this method on {FAULTS_PATH}")
        try:
            plan = FaultPlan.from_json(request.data)
        except (ValueError, TypeError) as exc:
            raise StatusError.bad_request(f"invalid fault plan: {exc}") from None
        self.faults.configure(plan)
        return _json(self.faults.to_json())

    async def _parse_request(self, raw: aiohttp.web.BaseRequest) -> kmock.Request:
        body = await raw.read()
        text = body.decode("utf-8", errors="replace")
        data: Any = None
        if body and "Content-Type" in raw.headers and raw.content_type not in _BODY_TYPES:
            # kubectl and client-go send protobuf to a server that offers it; this one offers JSON and YAML only.
            raise StatusError(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types include: "
                "application/json, application/yaml",
            )
        if body:
            try:
                data = yaml.safe_load(text) if "yaml" in raw.content_type else json.loads(text)
            except (ValueError, yaml.YAMLError):
                raise StatusError.bad_request("the request body is not valid JSON") from None
        route = _parse_path(raw.path)
        params = dict(raw.query)
        action = None
        if route is not None and route.plural is not None:
            watch = route.watch or params.get("watch") in ("true", "1")
            action = _action(raw.method, watch, route.name is not None)
        if not raw.path.startswith("/sandbox/"):
            self._audit[_audit_key(raw, route, params)] += 1
        self._request_count += 1
        return kmock.Request(
            id=self._request_count,
            raw_request=raw,
            method=raw.method,
            url=raw.url,
            params=params,
            headers=dict(raw.headers),
            cookies=dict(raw.cookies),
            body=body,
            text=text,
            data=data,
            action=action,
            resource=kmock.resource(route.group, route.version, route.plural)
            if route is not None and route.version is not None and route.plural is not None
            else None,
            namespace=route.namespace if route else None,
            name=route.name if route else None,
            subresource=route.subresource if route else None,
        )

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        if self._payloads:  # user-defined kmock reactions (fault injection) go first
            with contextlib.suppress(NotImplementedError):
                response: aiohttp.web.StreamResponse = await apps.RawHandler._handle(self, request)
                return response
        return await self._dispatch(request)

    # --- routing ---------------------------------------------------------------------------------

    async def _dispatch(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        warnings: list[str] = []
        response = await self._serve(request, warnings)
        for warning in dict.fromkeys(warnings):  # RFC 7234 warnings, as kube-apiserver sends them
            response.headers.add("Warning", f"299 - {json.dumps(warning)}")
        return response

    async def _serve(self, request: kmock.Request, warnings: list[str]) -> aiohttp.web.StreamResponse:
        path = request.url.path
        method = str(request.method.value).upper()
        if path == FAULTS_PATH:
            return self._serve_faults(request, method)
        route = _parse_path(path)
        if route is None:
            return self._serve_other(path, method)
        if method != "GET" and route.plural is None:
            raise StatusError(405, "MethodNotAllowed", f"the server does not allow this method on {path}")
        if route.version is None:
            return _json(api_group(self.store, route.group))
        if route.plural is None:
            return _json(api_resources(self.store, route.group, route.version))
        rt = self.store.resolve(route.group, route.version, route.plural)
        if route.namespace is not None and not rt.namespaced:
            raise StatusError.no_resource()
        params = request.params
        dry_run = params.get("dryRun") == "All"
        name, sub = route.name, route.subresource
        unknown = None
        manager = fieldmanager.manager_name(params.get("fieldManager"), request.headers.get("User-Agent", ""))
        if method in ("POST", "PUT", "PATCH"):
            directive = _field_validation(method, params)
            if directive != "Ignore":
                unknown = _unknown_fields_hook(rt, method, directive, warnings)
        if sub is not None and sub not in rt.subresources:
            raise StatusError.no_resource()
        if method == "GET":
            if route.watch or params.get("watch") in ("true", "1"):
                return await self._watch_response(request, rt, route.namespace, name)
            table = wants_table(request.headers.get("Accept", "")) and sub is None
            include = params.get("includeObject", "Metadata")
            if name is None:
                listed = self._list_response(rt, route.namespace, params)
                if table:
                    rendered = render_table(rt, listed["items"], listed["metadata"]["resourceVersion"], include)
                    rendered["metadata"] = listed["metadata"]
                    return _json(rendered)
                return _json(listed)
            obj = self.store.get(rt, route.namespace, name)
            if table:
                return _json(render_table(rt, [obj], obj["metadata"]["resourceVersion"], include))
            return _json(_scale_view(obj) if sub == "scale" else obj)
        if method == "POST" and name is None:
            return _json(
                self.store.create(rt, route.namespace, request.data, dry_run=dry_run, unknown=unknown, manager=manager),
                201,
            )
        if method == "DELETE" and name is None:
            items = self.store.delete_collection(
                rt,
                route.namespace,
                LabelSelector.parse(params.get("labelSelector")),
                FieldSelector.parse(params.get("fieldSelector")),
            )
            return _json(
                {
                    "kind": rt.list_kind,
                    "apiVersion": rt.api_version,
                    "metadata": {"resourceVersion": str(self.store.resource_version)},
                    "items": items,
                }
            )
        if name is None:
            raise StatusError(405, "MethodNotAllowed", f"the server does not allow this method on {path}")
        if method == "DELETE":
            options = request.data if isinstance(request.data, dict) else {}
            if "propagationPolicy" in params:
                options = {**options, "propagationPolicy": params["propagationPolicy"]}
            return _json(self.store.delete(rt, route.namespace, name, options, dry_run=dry_run))
        if sub == "scale" and method in ("PUT", "PATCH"):
            return _json(self._write_scale(request, rt, route.namespace, name, dry_run, manager))
        if method == "PUT":
            return _json(
                self.store.replace(
                    rt,
                    route.namespace,
                    name,
                    request.data,
                    subresource=sub,
                    dry_run=dry_run,
                    unknown=unknown,
                    manager=manager,
                )
            )
        if method == "PATCH":
            content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
            if content_type == APPLY_PATCH:
                return self._apply(request, rt, route.namespace, name, sub, dry_run)
            if content_type not in PATCH_TYPES or (rt.custom and content_type == STRATEGIC_MERGE_PATCH):
                raise StatusError(
                    415,
                    "UnsupportedMediaType",
                    f"the body of the request was in an unknown format - accepted media types "
                    f"include: {', '.join(PATCH_TYPES)}",
                )
            return _json(
                self.store.patch(
                    rt,
                    route.namespace,
                    name,
                    content_type,
                    request.data,
                    subresource=sub,
                    dry_run=dry_run,
                    unknown=unknown,
                    manager=manager,
                )
            )
        raise StatusError(405, "MethodNotAllowed", f"the server does not allow this method on {path}")

    def _apply(
        self, request: kmock.Request, rt: ResourceType, namespace: str | None, name: str, sub: str | None, dry_run: bool
    ) -> aiohttp.web.StreamResponse:
        """Server-side apply with field ownership (see :mod:`kubeemu.fieldmanager`); creates a missing object.

        Needs ``fieldManager``; ``force=true`` takes conflicting fields over
        instead of answering 409 Conflict.
        """
        body = request.data
        if not isinstance(body, dict):
            raise StatusError.bad_request("the applied configuration must be an object")
        schema = rt.schema if rt.custom else builtin_schema(rt)
        found = unknown_fields(body, schema) if self.store.validate_schemas else []
        if found:
            # structured-merge-diff cannot type the applied configuration, whatever fieldValidation says;
            # kube-apiserver answers the bare error: a 500 without a reason.
            group = f"{rt.group}/{rt.version}"
            where = f"{namespace or ''}/{name}; {group}, Kind={rt.kind}"
            errors = [f".{path}: field not declared in schema" for path in found]
            text = errors[0] if len(errors) == 1 else "errors:\n" + "\n".join(f"  {e}" for e in errors)
            raise StatusError(500, "", f"failed to create typed patch object ({where}): {text}")
        manager = request.params.get("fieldManager")
        if not manager:
            why = "Required value: is required for apply patch"
            raise StatusError(
                422,
                "Invalid",
                f'PatchOptions.meta.k8s.io "" is invalid: fieldManager: {why}',
                {
                    "group": "meta.k8s.io",
                    "kind": "PatchOptions",
                    "causes": [{"reason": "FieldValueRequired", "message": why, "field": "fieldManager"}],
                },
            )
        force = request.params.get("force") in ("true", "1")
        try:
            live: JsonDict | None = self.store.get(rt, namespace, name)
        except StatusError as exc:
            if exc.code != 404 or sub is not None:
                raise
            live = None
        if live is None:
            body = apply_merge_patch(body, {"metadata": {"name": name}})
        new = fieldmanager.apply(
            live,
            body,
            manager=manager,
            api_version=rt.api_version,
            now=self.store.now(),
            force=force,
            schema=schema,
            subresource=sub,
            status_split="status" in rt.subresources,
        )
        if live is None:
            new["apiVersion"], new["kind"] = rt.api_version, rt.kind
            return _json(self.store.create(rt, namespace, new, dry_run=dry_run), 201)
        new["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
        return _json(self.store.replace(rt, namespace, name, new, subresource=sub, dry_run=dry_run))

    def _write_scale(
        self, request: kmock.Request, rt: ResourceType, namespace: str | None, name: str, dry_run: bool, manager: str
    ) -> JsonDict:
        current = _scale_view(self.store.get(rt, namespace, name))
        if request.method == kmock.method.PUT:
            wanted = request.data if isinstance(request.data, dict) else {}
            rv = (wanted.get("metadata") or {}).get("resourceVersion")
        else:
            content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
            try:
                wanted = apply_patch(current, content_type, request.data)
            except (PatchError, ValueError) as exc:
                raise StatusError.invalid(rt, name, f"the patch cannot be applied: {exc}") from None
            rv = None
        replicas = (wanted.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise StatusError.invalid(rt, name, "spec.replicas: Invalid value: must be a non-negative integer")
        patch: JsonDict = {"spec": {"replicas": replicas}}
        if rv:
            patch["metadata"] = {"resourceVersion": rv}
        obj = self.store.patch(
            rt, namespace, name, MERGE_PATCH, patch, dry_run=dry_run, manager=manager, subresource="scale"
        )
        return _scale_view(obj)

    def _serve_other(self, path: str, method: str) -> aiohttp.web.StreamResponse:
        if method != "GET":
            raise StatusError(405, "MethodNotAllowed", f"the server does not allow this method on {path}")
        if path in ("/healthz", "/livez", "/readyz"):
            return aiohttp.web.Response(text="ok")
        if path == "/version":
            return _json(SERVER_VERSION)
        if path == AUDIT_PATH:
            return _json({"kind": "AuditSummary", "items": [entry.to_json() for entry in self.audit_entries()]})
        if path == "/api":
            return _json(
                {
                    "kind": "APIVersions",
                    "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": self.address}],
                }
            )
        if path == "/apis":
            return _json(
                {
                    "kind": "APIGroupList",
                    "apiVersion": "v1",
                    "groups": [api_group(self.store, group) for group in self.store.preferred_versions() if group],
                }
            )
        if path == "/openapi/v3":
            return _json(openapi_index(self.store))
        if path.startswith("/openapi/v3/"):
            return _json(openapi_group_version(self.store, path.removeprefix("/openapi/v3/")))
        if path == "/":
            paths = ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version"]
            for group, versions in self.store.preferred_versions().items():
                if group:
                    paths += [f"/apis/{group}"] + [f"/apis/{group}/{version}" for version in versions]
            return _json({"paths": sorted(paths)})
        raise StatusError(404, "NotFound", "the server could not find the requested resource")

    # --- list & watch ----------------------------------------------------------------------------

    def _list_response(self, rt: ResourceType, namespace: str | None, params: Any) -> JsonDict:
        labels = LabelSelector.parse(params.get("labelSelector"))
        fields = FieldSelector.parse(params.get("fieldSelector"))
        items, rv = self.store.list_objects(rt, namespace, labels, fields)
        meta: JsonDict = {"resourceVersion": str(rv)}
        token = params.get("continue")
        if token:
            try:
                start = json.loads(base64.urlsafe_b64decode(token.encode()))
                start_key = (str(start[0]), str(start[1]))
            except (ValueError, TypeError, IndexError):
                raise StatusError(410, "Expired", "the provided continue parameter is invalid") from None
            items = [
                obj for obj in items if (obj["metadata"].get("namespace", ""), obj["metadata"]["name"]) > start_key
            ]
        limit = int(params.get("limit") or 0)
        if 0 < limit < len(items):
            last = items[limit - 1]["metadata"]
            meta["continue"] = base64.urlsafe_b64encode(
                json.dumps([last.get("namespace", ""), last["name"]]).encode()
            ).decode()
            meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        return {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": meta, "items": items}

    async def _watch_response(
        self, request: kmock.Request, rt: ResourceType, namespace: str | None, name: str | None
    ) -> aiohttp.web.StreamResponse:
        params = request.params
        labels = LabelSelector.parse(params.get("labelSelector"))
        fields = FieldSelector.parse(params.get("fieldSelector"))
        rv_text = params.get("resourceVersion") or ""
        initial_events = params.get("sendInitialEvents") == "true"
        bookmarks = params.get("allowWatchBookmarks") == "true"
        try:
            since = None if rv_text in ("", "0") or initial_events else int(rv_text)
            timeout = float(params.get("timeoutSeconds") or self.watch_timeout)
        except ValueError:
            raise StatusError.bad_request("invalid resourceVersion or timeoutSeconds") from None

        table = wants_table(request.headers.get("Accept", ""))
        include = params.get("includeObject", "Metadata")

        def matches(obj: JsonDict | None) -> bool:
            if obj is None:
                return False
            meta = obj["metadata"]
            return (
                (namespace is None or meta.get("namespace") == namespace)
                and (name is None or meta["name"] == name)
                and labels.matches(obj)
                and fields.matches(obj)
            )

        raw = request._raw_request
        assert raw is not None  # every request here comes from the HTTP server
        response = aiohttp.web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        try:
            initial, watcher = self.store.watch(rt, since)
        except StatusError as exc:  # 410 Gone travels inside the stream, as the API server does it
            await response.prepare(raw)
            await response.write(json.dumps({"type": "ERROR", "object": exc.status()}).encode() + b"\n")
            await response.write_eof()
            return response
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            await response.prepare(raw)
            for event in initial:
                await self._write_event(response, rt, event, matches, table and include)
            if initial_events and bookmarks:
                await self._write_bookmark(response, rt, initial_end=True)
            next_bookmark = loop.time() + self.bookmark_interval
            while (remaining := deadline - loop.time()) > 0:
                wait = min(remaining, next_bookmark - loop.time()) if bookmarks else remaining
                try:
                    item = await asyncio.wait_for(watcher.queue.get(), timeout=max(wait, 0.0))
                except TimeoutError:
                    if bookmarks and loop.time() >= next_bookmark:
                        await self._write_bookmark(response, rt)
                        next_bookmark = loop.time() + self.bookmark_interval
                    continue
                if item is None:
                    break
                await self._write_event(response, rt, item, matches, table and include)
            await response.write_eof()
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            pass
        finally:
            self.store.unwatch(watcher)
        return response

    async def _write_event(
        self,
        response: aiohttp.web.StreamResponse,
        rt: ResourceType,
        event: WatchEvent,
        matches: Callable[[JsonDict | None], bool],
        table: str | bool,
    ) -> None:
        """Write one event as this watch sees it (``table``: the includeObject of a Table watch, or False)."""
        new_ok = matches(event.new)
        if event.type == "MODIFIED":
            old_ok = matches(event.old)
            kind = "MODIFIED" if old_ok and new_ok else "ADDED" if new_ok else "DELETED" if old_ok else None
        else:
            kind = event.type if new_ok else None
        if kind is not None:
            obj = _relabel(rt, event.new)
            if table:
                obj = render_table(rt, [obj], obj["metadata"]["resourceVersion"], str(table))
            line = json.dumps({"type": kind, "object": obj})
            await response.write(line.encode() + b"\n")

    async def _write_bookmark(
        self, response: aiohttp.web.StreamResponse, rt: ResourceType, *, initial_end: bool = False
    ) -> None:
        meta: JsonDict = {"resourceVersion": str(self.store.resource_version)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        line = json.dumps(
            {"type": "BOOKMARK", "object": {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta}}
        )
        await response.write(line.encode() + b"\n")


def read_crd_files(paths: Iterable[Path]) -> list[JsonDict]:
    """The CustomResourceDefinition documents of these (multi-document) YAML files."""
    crds: list[JsonDict] = []
    for path in paths:
        for doc in yaml.load_all(Path(path).read_text(), Loader=_YAML_LOADER):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                crds.append(doc)
    return crds


@contextlib.asynccontextmanager
async def serve(server: EmulatedApiServer, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve ``server`` over HTTP in the current event loop; yields the base URL ``http://host:port``."""
    web_server = aiohttp.web.Server(server, handler_cancellation=True)
    runner = aiohttp.web.ServerRunner(web_server, shutdown_timeout=2.0)
    await runner.setup()
    try:
        site = aiohttp.web.TCPSite(runner, host, port)
        await site.start()
        actual_port = runner.addresses[0][1]
        server.address = f"{host}:{actual_port}"
        async with server:
            yield f"http://{host}:{actual_port}"
            server.store.close_watchers()
    finally:
        server.store.close_watchers()
        await runner.cleanup()
