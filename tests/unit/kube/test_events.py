"""Events named after a decision's key are recorded at most once, however often delivery is tried."""

from __future__ import annotations

from datetime import UTC, datetime

from canary.kube.api import EVENTS
from canary.kube.events import record_event
from canary.kube.memory import MemoryApi

CANARY = {
    "apiVersion": "canary.dev/v1beta1",
    "kind": "Canary",
    "metadata": {"name": "podinfo", "namespace": "test", "uid": "u-1"},
}
NOW = datetime(2026, 1, 1, tzinfo=UTC)


async def test_an_event_recorded_again_under_its_key_is_not_recorded_twice() -> None:
    api = MemoryApi()
    for _ in range(3):  # a retry after a lost answer, a redelivery after a crash
        await record_event(api, CANARY, "Warning", "RolledBack", "rolling back", NOW, key="v2/Failed/1")
    await record_event(api, CANARY, "Normal", "Succeeded", "promoted", NOW, key="v3/Succeeded/1")
    events = await api.list(EVENTS, "test")
    assert sorted(e["reason"] for e in events) == ["RolledBack", "Succeeded"]
    assert all(e["metadata"]["name"].startswith("podinfo.") for e in events)


async def test_the_same_key_on_another_canary_of_the_same_name_is_another_event() -> None:
    api = MemoryApi()
    again = {**CANARY, "metadata": {**CANARY["metadata"], "uid": "u-2"}}  # deleted and created again
    await record_event(api, CANARY, "Normal", "Succeeded", "promoted", NOW, key="k")
    await record_event(api, again, "Normal", "Succeeded", "promoted", NOW, key="k")
    assert len(await api.list(EVENTS, "test")) == 2


async def test_events_without_a_key_are_each_recorded() -> None:
    api = MemoryApi()
    await record_event(api, CANARY, "Warning", "Halted", "halting", NOW)
    await record_event(api, CANARY, "Warning", "Halted", "halting", NOW)
    assert len(await api.list(EVENTS, "test")) == 2
