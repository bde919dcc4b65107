"""The controller writes status for the generation it describes, and converges every edit of the spec.

``kubectl wait --for=condition=...`` and Flux's kstatus ignore a condition
whose observedGeneration is older than ``metadata.generation``; an edit of
``spec.service`` must reach the Services and routes whatever the phase.
"""

from __future__ import annotations

from typing import Any

from canary.kube.api import CANARIES
from tests.unit.operator.harness import NS, Harness, canary_body


def valid_condition(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == "Valid")


async def edit_spec(h: Harness, spec: dict[str, Any], generation: int) -> None:
    """An edit as the API server records it: the spec changes and the generation moves on."""
    await h.api.patch(CANARIES, NS, "podinfo", {"metadata": {"generation": generation}, "spec": spec})


async def test_a_refusal_describes_the_generation_it_refused() -> None:
    body = canary_body(webhooks=[{"name": "load", "url": "nowhere"}])
    body["metadata"]["generation"] = 3
    h = Harness(body)
    await h.setup()
    status = await h.tick()
    assert status["observedGeneration"] == 3
    assert valid_condition(status)["observedGeneration"] == 3
    # still refused at the next generation: the refusal is written again for it
    await edit_spec(h, {"analysis": {"webhooks": [{"name": "load", "url": "elsewhere"}]}}, 4)
    status = await h.tick()
    assert status["observedGeneration"] == 4
    assert valid_condition(status)["observedGeneration"] == 4


async def test_every_condition_names_the_generation_and_an_edit_alone_is_observed() -> None:
    body = canary_body()
    body["metadata"]["generation"] = 1
    h = Harness(body)
    await h.setup()
    await h.tick()
    status = await h.tick()
    assert status["phase"] == "Initialized"
    assert {c["type"]: c["observedGeneration"] for c in status["conditions"]} == {
        "Promoted": 1,
        "Ready": 1,
        "Reconciling": 1,
        "Stalled": 1,
        "Supported": 1,
        "Valid": 1,
    }
    await edit_spec(h, {"analysis": {"threshold": 3}}, 2)  # nothing to decide, but a new generation to observe
    status = await h.tick()
    assert status["observedGeneration"] == 2
    assert {c["observedGeneration"] for c in status["conditions"]} == {2}


async def test_an_edit_of_the_service_reaches_the_routes_mid_rollout() -> None:
    body = canary_body()
    body["metadata"]["generation"] = 1
    h = Harness(body)
    await h.setup()
    await h.tick()
    await h.tick()
    await h.new_revision("podinfo:2")
    assert (await h.tick())["phase"] == "Progressing"
    h.router.calls.clear()
    await h.tick()
    assert "reconcile" not in h.router.calls  # nothing changed: the routing objects are left alone
    await edit_spec(h, {"service": {"port": 8080, "headers": {"request": {"add": {"x-canary": "1"}}}}}, 2)
    status = await h.tick()
    assert status["phase"] == "Progressing"
    assert h.router.calls.count("reconcile") == 1
    await h.tick()
    assert h.router.calls.count("reconcile") == 1  # once per edit
