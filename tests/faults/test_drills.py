"""A short seeded fault drill per mesh: a healthy and an erroring revision rolled out through failures.

The controller (its own process, authenticated as its ServiceAccount) meets
20 % API faults (409/429/500/503, delays, dropped and reset connections), a
SIGKILL at a random moment, a window in which every write of the routing
object fails (a step saved in status but not routed: the persist -> converge
gap), and Prometheus stopped and started again. The drill's rules are in
:func:`canary_testbed.drills.violations`; ``make soak`` runs many more seeds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from canary_testbed.drills import ERRORING, HEALTHY, Drill, drill_testbed, run_drill
from canary_testbed.testbed import Testbed

pytestmark = [pytest.mark.testbed]

SEEDS = {"istio": 20261208, "linkerd": 20261209}


@pytest_asyncio.fixture(params=["istio", "linkerd"], scope="module", loop_scope="module")
async def bed(request: pytest.FixtureRequest) -> AsyncIterator[Testbed]:
    async with drill_testbed(request.param) as testbed:
        yield testbed


@pytest.mark.asyncio(loop_scope="module")
async def test_a_rollout_through_faults_keeps_every_rule(bed: Testbed) -> None:
    report = await run_drill(bed, Drill(seed=SEEDS[bed.provider]), revision=1)
    assert report.violations == [], report
    assert report.phases == {HEALTHY: "Succeeded", ERRORING: "Failed"}
    # the drill did what it says: faults were injected, the controller was killed, Prometheus went away,
    # and a step saved in status but not routed was routed again before it was judged
    assert sum(report.faults_injected.values()) > 0, report
    assert report.kills == 1 and report.outages == 1, report
    assert report.repaired_steps >= 1, report
