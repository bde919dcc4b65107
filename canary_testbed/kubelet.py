"""A simulated Deployment controller and kubelet for the testbed.

The emulated API server stores Deployments but runs no pods. This loop plays
the part of the Deployment controller: when a Deployment's generation or
replica count changes it waits a short delay (as pods would start) and then
writes a status with every replica updated, ready and available, or never
does, when the pod template says the version never becomes ready.

The pod template annotation ``sandbox.canary.dev/ready`` selects the
behaviour per version: ``"never"``, or a number of seconds before ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from canary.kube.api import DEPLOYMENTS, ApiError, JsonDict, KubeApi

__all__ = ["READY_ANNOTATION", "Kubelet"]

READY_ANNOTATION = "sandbox.canary.dev/ready"

log = logging.getLogger(__name__)


def _ready_after(deployment: JsonDict, default: float) -> float | None:
    annotations = deployment.get("spec", {}).get("template", {}).get("metadata", {}).get("annotations") or {}
    value = annotations.get(READY_ANNOTATION)
    if value is None:
        return default
    if str(value).strip().lower() == "never":
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        log.warning("ignoring %s=%r: expected 'never' or seconds", READY_ANNOTATION, value)
        return default


@dataclass
class Kubelet:
    """Marks Deployments ready ``delay`` seconds after they change (or never, per template)."""

    api: KubeApi
    namespace: str | None = None
    delay: float = 1.0
    period: float = 0.25
    _seen: dict[tuple[str, str], tuple[tuple[int, int, str], float]] = field(default_factory=dict)

    async def step(self, now: float | None = None) -> int:
        """One pass over all Deployments; answers how many statuses it wrote."""
        now = time.monotonic() if now is None else now
        written = 0
        for deployment in await self.api.list(DEPLOYMENTS, self.namespace):
            meta = deployment["metadata"]
            key = (meta.get("namespace", ""), meta["name"])
            spec = deployment.get("spec", {})
            replicas = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
            generation = int(meta.get("generation") or 0)
            version = (generation, replicas, str(spec.get("template")))
            seen = self._seen.get(key)
            if seen is None or seen[0] != version:
                self._seen[key] = (version, now)
                seen = self._seen[key]
            status = deployment.get("status") or {}
            wait = _ready_after(deployment, self.delay)
            ready = wait is not None and now - seen[1] >= wait
            ready_count = replicas if ready else 0
            wanted = {
                "observedGeneration": generation,
                "replicas": replicas,
                "updatedReplicas": replicas,
                "readyReplicas": ready_count,
                "availableReplicas": ready_count,
                "unavailableReplicas": replicas - ready_count,
            }
            if any(status.get(k, 0 if k != "observedGeneration" else None) != v for k, v in wanted.items()):
                try:
                    await self.api.patch(DEPLOYMENTS, key[0], key[1], {"status": wanted}, subresource="status")
                    written += 1
                except ApiError as exc:  # deleted meanwhile, or a conflict: next pass retries
                    log.debug("kubelet could not update %s/%s: %s", key[0], key[1], exc)
        return written

    async def run(self) -> None:
        """Run :meth:`step` forever, every ``period`` seconds."""
        while True:
            with contextlib.suppress(ApiError):
                await self.step()
            await asyncio.sleep(self.period)
