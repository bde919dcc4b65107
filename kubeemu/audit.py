"""The emulated API server's audit summary: who asked for what, in Kubernetes' authorization terms.

A real API server turns every request into the attributes RBAC authorizes
(user, verb, API group, resource, subresource, namespace; or a non-resource
path) and can write them to its audit log. The sandbox does the same and
keeps a count per distinct set of attributes, so a test can ask which
permissions a client really used, however long it ran (the request log
itself is bounded). Read it with ``GET /sandbox/audit`` (:data:`AUDIT_PATH`),
:func:`fetch_audit`, or :meth:`EmulatedApiServer.audit_entries` in-process.

The sandbox authenticates nobody: the bearer token of a request *is* its
user name (as a static token file would map it), a basic-auth request is
its user name, and a request without credentials is ``system:anonymous``.
Give each client its own token in its kubeconfig to tell them apart.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import asdict, astuple, dataclass

import httpx

from kubeemu.model import JsonDict

__all__ = ["ANONYMOUS", "AUDIT_PATH", "AuditEntry", "AuditKey", "fetch_audit", "rbac_verb", "request_user"]

AUDIT_PATH = "/sandbox/audit"
ANONYMOUS = "system:anonymous"


@dataclass(frozen=True)
class AuditKey:
    """The authorization attributes of one request.

    Resource requests have ``resource`` set (and ``api_group``: "" for the
    core group); non-resource requests (discovery, ``/version``) have
    ``path`` set instead and the lower-cased HTTP method as ``verb``.
    """

    user: str
    user_agent: str
    verb: str
    api_group: str | None = None
    resource: str | None = None
    subresource: str | None = None
    namespace: str | None = None
    path: str | None = None

    def sort_key(self) -> tuple[str, ...]:
        """A total order over keys (absent attributes sort first)."""
        return tuple(value or "" for value in astuple(self))


@dataclass(frozen=True)
class AuditEntry:
    """How many requests had the attributes ``key``."""

    key: AuditKey
    count: int

    def to_json(self) -> JsonDict:
        """The entry as served at :data:`AUDIT_PATH` (camelCase, as Kubernetes spells these)."""
        key = asdict(self.key)
        return {
            "user": key["user"],
            "userAgent": key["user_agent"],
            "verb": key["verb"],
            "apiGroup": key["api_group"],
            "resource": key["resource"],
            "subresource": key["subresource"],
            "namespace": key["namespace"],
            "path": key["path"],
            "count": self.count,
        }

    @classmethod
    def from_json(cls, data: JsonDict) -> AuditEntry:
        """Parse one item of the :data:`AUDIT_PATH` answer."""
        key = AuditKey(
            user=str(data["user"]),
            user_agent=str(data["userAgent"]),
            verb=str(data["verb"]),
            api_group=data.get("apiGroup"),
            resource=data.get("resource"),
            subresource=data.get("subresource"),
            namespace=data.get("namespace"),
            path=data.get("path"),
        )
        return cls(key, int(data["count"]))


def rbac_verb(method: str, *, named: bool, watch: bool) -> str:
    """The RBAC verb of a resource request, as the Kubernetes API server derives it.

    GET (and HEAD) of one object is ``get``, of a collection ``list``, with
    ``?watch`` or under ``/watch/`` ``watch``; POST ``create``; PUT
    ``update``; PATCH ``patch``; DELETE of one object ``delete``, of a
    collection ``deletecollection``.
    """
    method = method.upper()
    if method in ("GET", "HEAD"):
        return "watch" if watch else "get" if named else "list"
    if method == "DELETE":
        return "delete" if named else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


def request_user(headers: Mapping[str, str]) -> str:
    """The user a request authenticates as in the sandbox (see the module's docstring)."""
    authorization = next((v for k, v in headers.items() if k.lower() == "authorization"), "").strip()
    scheme, _, credentials = authorization.partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer" and credentials:
        return credentials
    if scheme.lower() == "basic" and credentials:
        try:
            return base64.b64decode(credentials, validate=True).decode().partition(":")[0] or ANONYMOUS
        except (binascii.Error, UnicodeDecodeError):
            return ANONYMOUS
    return ANONYMOUS


async def fetch_audit(url: str, user: str | None = None) -> list[AuditEntry]:
    """The audit summary of the emulated API server at ``url`` (only ``user``'s requests if given)."""
    async with httpx.AsyncClient(base_url=url, timeout=10.0) as client:
        response = await client.get(AUDIT_PATH)
        response.raise_for_status()
    entries = [AuditEntry.from_json(item) for item in response.json()["items"]]
    return [entry for entry in entries if user is None or entry.key.user == user]
