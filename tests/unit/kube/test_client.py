"""The official client's wrapper: answers that are not the API server's, and a request budget that can be spent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import kubernetes.client
import pytest
from aiohttp import web

from canary.kube.api import DEPLOYMENTS, ApiError
from canary.kube.client import ClusterApi, TokenBucket
from tests.unit.operator.conftest import serving


async def refusal(
    app: web.Application, call: Callable[[ClusterApi], Awaitable[object]]
) -> pytest.ExceptionInfo[ApiError]:
    """The ApiError ``call`` raises against an API server that is ``app``."""
    async with serving(app) as url:
        api = ClusterApi(kubernetes.client.Configuration(host=url))
        try:
            with pytest.raises(ApiError) as refused:
                await call(api)
        finally:
            api.close()
    return refused


@pytest.mark.parametrize("answer", ["<html>Please log in</html>", "[1, 2]", '"a string"'])
async def test_a_2xx_answer_that_is_not_a_json_object_is_a_temporary_api_error(answer: str) -> None:
    async def login_page(request: web.Request) -> web.Response:
        return web.Response(status=200, text=answer, content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", login_page)
    refused = await refusal(app, lambda api: api.get(DEPLOYMENTS, "test", "podinfo"))
    assert (refused.value.status, refused.value.reason, refused.value.temporary) == (502, "BadResponse", True)
    assert "GET /apis/apps/v1/namespaces/test/deployments/podinfo is not a JSON object" in refused.value.message


@pytest.mark.parametrize(("qps", "burst"), [(0.0, 10), (-1.0, 10), (float("nan"), 10), (5.0, 0)])
def test_a_request_budget_that_could_never_be_spent_is_refused(qps: float, burst: int) -> None:
    with pytest.raises(ValueError, match="qps > 0 and burst >= 1"):
        TokenBucket(qps, burst)


@pytest.mark.parametrize(
    ("headers", "details", "wait"),
    [({"Retry-After": "1"}, {}, 1.0), ({}, {"retryAfterSeconds": 2}, 2.0), ({}, {}, None)],
)
async def test_a_busy_api_server_says_how_long_to_wait(
    headers: dict[str, str], details: dict[str, int], wait: float | None
) -> None:
    async def busy(request: web.Request) -> web.Response:
        status = {"kind": "Status", "reason": "TooManyRequests", "message": "slow down", "details": details}
        return web.json_response(status, status=429, headers=headers)

    app = web.Application()
    app.router.add_post("/{tail:.*}", busy)
    refused = await refusal(app, lambda api: api.create(DEPLOYMENTS, "test", {"metadata": {"name": "podinfo"}}))
    assert (refused.value.status, refused.value.temporary, refused.value.retry_after) == (429, True, wait)
