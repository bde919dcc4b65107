"""What can go wrong in canary, and what the controller does about it.

Every error canary raises on purpose is a :class:`CanaryError`. The controller
does one of three things with one:

- **retries** it: the same step may succeed later with nothing changed (the API
  server is down or busy, the object changed since it was read). The handler
  raises ``kopf.TemporaryError`` and the tick runs again one tick later; canary
  writes nothing about it on the Canary (kopf logs the failure, and posts that
  log line as an Event). :attr:`CanaryError.retryable` is the one question it
  asks.
- **reports** it, and carries on: the reason goes on the Canary (a failed check
  in ``status.checks``, a Warning Event) and the next tick tries again, as the
  state asks. A metric that cannot be read fails its check: missing data never
  promotes.
- **refuses** the Canary: the spec (or an object someone else owns) must change
  first. It gets ``Valid=False`` and one Warning Event (``InvalidSpec``,
  ``Unsupported``, ``InvalidTarget``, ``PrimaryNotOwned``), and nothing moves.
  These are found before anything is called, so they are not exceptions of
  this tree: pydantic's ``ValidationError`` (worded by
  :func:`canary.models.errors.describe`) and the ``refuse`` problems of
  :func:`canary.models.support.unsupported`. ``canary validate`` finds the
  same before a manifest is merged, and unsafe template values too.

The tree, with where each class lives and what happens to it::

    CanaryError                    .temporary: the same call may succeed later, unchanged
    │                              .retryable: run the step again after a delay
    ├── ApiError                   canary.kube.api: the API server refused a request
    │   │                            retryable (5xx, 429, 409): retried
    │   │                            else (403 RBAC, 422 admission, ...): reported
    │   │                            (Warning Event KubernetesRefused) when it refused
    │   │                            a change of the workloads or routes; elsewhere
    │   │                            kopf logs it and runs the tick again after its backoff;
    │   │                            while finalizing, retried
    │   ├── NotFound                 404
    │   └── Conflict                 409: exists already, or changed since it was read
    ├── RoutingError               canary.routers.base: traffic cannot be moved as asked:
    │   │                            reported (Warning Event RoutingFailed; nothing is
    │   │                            scaled that tick); while finalizing, reported
    │   │                            (FinalizeBlocked) and retried: the deletion waits
    │   └── UnknownProvider          spec.provider names no router (refused earlier)
    ├── ProviderError              canary.providers.base: a metric cannot be read:
    │   │                            reported (a failed check, with the reason)
    │   ├── NoDataError              temporary: no series yet, NaN, +-Inf
    │   ├── UnreachableError         temporary: the metrics server does not answer
    │   ├── QueryError               the server refused the query
    │   ├── BadResponseError         not a Prometheus answer
    │   ├── UnknownProviderError     a MetricTemplate's provider type we do not implement
    │   ├── UnknownMeshError         canary.providers.builtin: no built-in metrics
    │   └── TemplateError            canary.providers.templates: unsafe variable values
    ├── NotifierError              canary.notifiers.base: a chat message was not delivered:
    │   │                            reported (Warning Event AlertFailed); never
    │   │                            changes a rollout decision
    │   └── UnknownNotifierTypeError
    └── ReportError                canary.cli.report: ``canary report`` cannot draw:
                                     one line on stderr, exit code 1

``temporary`` decides only where the controller has a choice (an
:class:`~canary.kube.api.ApiError`); a reported error is reported either way,
and its ``temporary`` tells the reader whether waiting may be enough.
"""

from __future__ import annotations

__all__ = ["CanaryError"]


class CanaryError(Exception):
    """The root of canary's errors: something failed for a reason people can act on.

    ``temporary`` (a class default, set per instance where the cause decides)
    says the same call may succeed later with nothing changed; otherwise a spec,
    a configuration or an object someone else owns has to change first.
    """

    temporary: bool = False

    @property
    def retryable(self) -> bool:
        """Whether the controller runs the failed step again after a delay instead of reporting it."""
        return self.temporary
