"""Recording an Event: a 429 or 5xx answer is retried briefly, in the tick, and never recorded twice."""

from __future__ import annotations

import pytest

from canary.kube.api import EVENTS, ApiError, JsonDict, Resource
from canary.operator.events import EVENT_ATTEMPTS, EVENT_BACKOFF, EVENT_MAX_RETRY_AFTER, CanaryEvents
from tests.unit.operator.harness import NS, Clock, FaultyApi

CANARY: JsonDict = {
    "apiVersion": "canary.dev/v1beta1",
    "kind": "Canary",
    "metadata": {"name": "podinfo", "namespace": NS},
}


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def recorder(api: FaultyApi) -> tuple[CanaryEvents, Sleeps]:
    sleeps = Sleeps()
    return CanaryEvents(api, Clock(), sleep=sleeps), sleeps


async def reasons(api: FaultyApi) -> list[str]:
    return [e["reason"] for e in await api.list(EVENTS, NS)]


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_a_passing_refusal_is_retried_at_once_and_recorded_once(status: int) -> None:
    api = FaultyApi()
    events, sleeps = recorder(api)
    api.fail_creates("events", status, times=1)
    assert await events.record(CANARY, "Warning", "RolledBack", "rolling back")
    assert await reasons(api) == ["RolledBack"]
    assert sleeps.waits == [EVENT_BACKOFF]


async def test_a_refusal_that_lasts_gives_up_within_a_bound() -> None:
    api = FaultyApi()
    events, sleeps = recorder(api)
    api.fail_creates("events", 503, times=None)
    assert not await events.record(CANARY, "Normal", "Succeeded", "promotion completed")
    assert [call[0] for call in api.calls] == ["create"] * EVENT_ATTEMPTS
    assert sum(sleeps.waits) < 1.0


@pytest.mark.parametrize("status", [403, 422])
async def test_a_refusal_for_good_is_not_retried(status: int) -> None:
    api = FaultyApi()
    events, sleeps = recorder(api)
    api.fail_creates("events", status, times=None)
    assert not await events.record(CANARY, "Normal", "Succeeded", "promotion completed")
    assert len(api.calls) == 1 and sleeps.waits == []


class BusyApi(FaultyApi):
    """Answers the first create 429 with a Retry-After."""

    def __init__(self, retry_after: float) -> None:
        super().__init__()
        self.retry_after: float | None = retry_after

    async def create(self, resource: Resource, namespace: str | None, body: JsonDict) -> JsonDict:
        if self.retry_after is not None:
            wait, self.retry_after = self.retry_after, None
            raise ApiError(429, "TooManyRequests", "slow down", retry_after=wait)
        return await super().create(resource, namespace, body)


async def test_a_short_retry_after_is_waited_for_and_a_long_one_ends_the_attempts() -> None:
    api = BusyApi(0.5)
    events, sleeps = recorder(api)
    assert await events.record(CANARY, "Normal", "Succeeded", "promotion completed")
    assert sleeps.waits == [0.5]
    api = BusyApi(EVENT_MAX_RETRY_AFTER * 5)
    events, sleeps = recorder(api)
    with pytest.raises(ApiError):
        await events.create(CANARY, "Normal", "Succeeded", "promotion completed")
    assert sleeps.waits == []


async def test_an_event_named_by_its_sender_is_recorded_once_though_sent_twice() -> None:
    api = FaultyApi()
    events, _ = recorder(api)
    api.fail_creates("events", 504, times=1, landed=True)  # stored, but the answer was lost
    await events.create(CANARY, "Warning", "RolledBack", "rolling back", suffix="0123456789abcdef")
    await events.create(CANARY, "Warning", "RolledBack", "rolling back", suffix="0123456789abcdef")
    assert await reasons(api) == ["RolledBack"]
    [event] = await api.list(EVENTS, NS)
    assert event["metadata"]["name"] == "podinfo.0123456789abcdef"
