"""Fault injection on the emulated API server's request path: failures a controller must survive, on demand.

A :class:`FaultPlan` is a seed and a list of :class:`FaultRule`\\ s. Each
rule matches requests (by RBAC verb, resource, or path prefix; all of them
when it names none) and fires on a matching request with its ``rate``: an
error ``status`` with the ``Status`` body kube-apiserver sends (409 Conflict,
429 TooManyRequests with ``Retry-After``, 500 InternalError, 503
ServiceUnavailable), an added ``delay`` before the request is served, or a
connection closed without an answer (``drop``) or reset (``reset``). Rules
are tried in order for every request: delays add up, and the first failure
that fires answers the request. Every rule draws one number per request it
matches from one generator seeded with the plan's seed, so the same requests
in the same order meet the same faults.

Switch it at run time with ``PUT /sandbox/faults`` (a plan as JSON; ``DELETE``
turns it off; ``GET`` answers the plan and the counts of what was injected),
:func:`set_faults` / :func:`fault_counts` / :func:`clear_faults` over HTTP, or
``python -m kubeemu.server --faults '<plan JSON>'``.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import httpx

from kubeemu.model import JsonDict, StatusError

__all__ = [
    "FAULTS_PATH",
    "FaultDecision",
    "FaultInjector",
    "FaultPlan",
    "FaultRule",
    "clear_faults",
    "fault_counts",
    "set_faults",
]

FAULTS_PATH = "/sandbox/faults"
FaultKind = Literal["status", "delay", "drop", "reset"]
_STATUSES = (409, 429, 500, 503)


@dataclasses.dataclass(frozen=True)
class FaultRule:
    """One kind of fault at a rate, for the requests it matches.

    ``fault``: ``status`` (answer ``status``), ``delay`` (wait ``seconds``
    first), ``drop`` (close the connection, no answer) or ``reset`` (close it
    with a TCP reset). ``verbs`` are RBAC verbs (get, list, watch, create,
    update, patch, delete, deletecollection), ``resources`` plurals
    (``deployments``) or ``plural.group`` (``deployments.apps``), ``paths``
    URL path prefixes, ``users`` the users requests authenticate as (a
    bearer token is its user: see :mod:`kubeemu.audit`); empty means any. ``retry_after`` is the seconds a 429
    or 503 asks the client to wait.
    """

    fault: FaultKind
    rate: float = 1.0
    status: int = 503
    seconds: float = 0.0
    retry_after: int = 1
    verbs: frozenset[str] = frozenset()
    resources: frozenset[str] = frozenset()
    paths: tuple[str, ...] = ()
    users: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.fault not in ("status", "delay", "drop", "reset"):
            raise ValueError(f"unknown fault {self.fault!r}: use status, delay, drop or reset")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"rate must be between 0 and 1, got {self.rate}")
        if self.fault == "status" and self.status not in _STATUSES:
            raise ValueError(f"status must be one of {', '.join(map(str, _STATUSES))}, got {self.status}")
        if self.seconds < 0 or self.retry_after < 0:
            raise ValueError("seconds and retryAfter cannot be negative")

    def matches(self, verb: str, resource: str | None, group: str | None, path: str, user: str = "") -> bool:
        """Whether a request with these attributes is one this rule may fault."""
        if (self.verbs and verb not in self.verbs) or (self.users and user not in self.users):
            return False
        if self.resources:
            qualified = f"{resource}.{group}" if resource and group else resource
            if resource is None or not ({resource, qualified} & self.resources):
                return False
        return not self.paths or any(path.startswith(prefix) for prefix in self.paths)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaultRule:
        """A rule from its JSON form (camelCase ``retryAfter``)."""
        known = {"fault", "rate", "status", "seconds", "retryAfter", "verbs", "resources", "paths", "users"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown rule fields: {', '.join(sorted(unknown))}")
        return cls(
            fault=data.get("fault", "status"),
            rate=float(data.get("rate", 1.0)),
            status=int(data.get("status", 503)),
            seconds=float(data.get("seconds", 0.0)),
            retry_after=int(data.get("retryAfter", 1)),
            verbs=frozenset(data.get("verbs") or ()),
            resources=frozenset(data.get("resources") or ()),
            paths=tuple(data.get("paths") or ()),
            users=frozenset(data.get("users") or ()),
        )

    def to_json(self) -> JsonDict:
        """The rule's JSON form."""
        return {
            "fault": self.fault,
            "rate": self.rate,
            "status": self.status,
            "seconds": self.seconds,
            "retryAfter": self.retry_after,
            "verbs": sorted(self.verbs),
            "resources": sorted(self.resources),
            "paths": list(self.paths),
            "users": sorted(self.users),
        }


@dataclasses.dataclass(frozen=True)
class FaultPlan:
    """The rules in force and the seed of their random draws."""

    rules: tuple[FaultRule, ...] = ()
    seed: int = 0

    @classmethod
    def from_json(cls, data: Any) -> FaultPlan:
        """A plan from ``{"seed": 1, "rules": [...]}`` (or a bare list of rules)."""
        if isinstance(data, list):
            data = {"rules": data}
        if not isinstance(data, Mapping) or not isinstance(data.get("rules", []), list):
            raise ValueError('a fault plan is {"seed": <int>, "rules": [<rule>...]}')
        return cls(tuple(FaultRule.from_json(rule) for rule in data.get("rules", [])), int(data.get("seed", 0)))

    def to_json(self) -> JsonDict:
        """The plan's JSON form."""
        return {"seed": self.seed, "rules": [rule.to_json() for rule in self.rules]}


@dataclasses.dataclass(frozen=True)
class FaultDecision:
    """What to do to one request: wait ``delay`` seconds, then fail it with ``failure`` (None: serve it)."""

    delay: float = 0.0
    failure: FaultRule | None = None


class FaultInjector:
    """Decides, request by request, which faults of the current plan fire, and counts them."""

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self.plan = FaultPlan()
        self._random = random.Random(0)
        self._counts: dict[tuple[int, str], int] = {}
        self._examined = 0
        self.configure(plan or FaultPlan())

    def configure(self, plan: FaultPlan) -> None:
        """Put ``plan`` in force (an empty plan turns injection off) and start its counts and draws afresh."""
        self.plan = plan
        self._random = random.Random(plan.seed)
        self._counts = {}
        self._examined = 0

    @property
    def active(self) -> bool:
        """Whether any rule is in force."""
        return bool(self.plan.rules)

    def decide(self, verb: str, resource: str | None, group: str | None, path: str, user: str = "") -> FaultDecision:
        """The faults for one request (each matching rule draws once, in order)."""
        self._examined += 1
        delay = 0.0
        for index, rule in enumerate(self.plan.rules):
            if not rule.matches(verb, resource, group, path, user):
                continue
            if self._random.random() >= rule.rate:
                continue
            label = str(rule.status) if rule.fault == "status" else rule.fault
            self._counts[(index, label)] = self._counts.get((index, label), 0) + 1
            if rule.fault == "delay":
                delay += rule.seconds
            else:
                return FaultDecision(delay, rule)
        return FaultDecision(delay)

    def counts(self) -> JsonDict:
        """What was injected since the plan was put in force: per rule, and totals by fault."""
        totals: dict[str, int] = {}
        per_rule = []
        for (index, label), count in sorted(self._counts.items()):
            totals[label] = totals.get(label, 0) + count
            per_rule.append({"rule": index, "fault": label, "count": count})
        return {"examined": self._examined, "injected": totals, "rules": per_rule}

    def to_json(self) -> JsonDict:
        """The plan and its counts, as ``GET /sandbox/faults`` answers them."""
        return {"kind": "FaultPlan", **self.plan.to_json(), "counts": self.counts()}


def failure_status(rule: FaultRule, qualified: str | None, name: str | None) -> tuple[StatusError, dict[str, str]]:
    """The ``Status`` error (and headers) kube-apiserver answers for the failure ``rule`` injects."""
    headers: dict[str, str] = {}
    if rule.status == 409:
        what = f'{qualified} "{name or ""}"' if qualified else f'"{name or ""}"'
        error = StatusError(
            409,
            "Conflict",
            f"Operation cannot be fulfilled on {what}: the object has been modified; "
            "please apply your changes to the latest version and try again",
            {"name": name or "", "kind": (qualified or "").split(".")[0]},
        )
    elif rule.status == 429:
        headers["Retry-After"] = str(rule.retry_after)
        error = StatusError(
            429,
            "TooManyRequests",
            "Too many requests, please try again later.",
            {"retryAfterSeconds": rule.retry_after},
        )
    elif rule.status == 500:
        error = StatusError(
            500, "InternalError", "Internal error occurred: injected fault", {"causes": [{"message": "injected fault"}]}
        )
    else:
        headers["Retry-After"] = str(rule.retry_after)
        error = StatusError(
            503, "ServiceUnavailable", "the server is currently unable to handle the request (injected fault)"
        )
        error.details = {"retryAfterSeconds": rule.retry_after}
    return error, headers


def _call(url: str, method: str, plan: JsonDict | None = None) -> JsonDict:
    """One request to ``/sandbox/faults`` of the server at ``url``; its JSON answer."""
    with httpx.Client(base_url=url, timeout=10.0) as client:
        response = client.request(method, FAULTS_PATH, json=plan)
        response.raise_for_status()
        answer: JsonDict = response.json()
        return answer


def set_faults(url: str, rules: Iterable[Mapping[str, Any] | FaultRule], seed: int = 0) -> JsonDict:
    """Put a fault plan in force on the emulated API server at ``url``; returns the plan it answers."""
    plan = {
        "seed": seed,
        "rules": [rule.to_json() if isinstance(rule, FaultRule) else dict(rule) for rule in rules],
    }
    return _call(url, "PUT", plan)


def fault_counts(url: str) -> JsonDict:
    """The counts of what the server at ``url`` injected under its current plan."""
    counts: JsonDict = _call(url, "GET")["counts"]
    return counts


def clear_faults(url: str) -> JsonDict:
    """Turn fault injection off on the server at ``url``; returns the counts of the plan that ends."""
    counts: JsonDict = _call(url, "DELETE")["counts"]
    return counts
