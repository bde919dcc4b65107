"""Webhook answers that are slow, endless, oddly encoded, or addresses that cannot be called: a failed hook, never more."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web

from canary.models import Canary, CanaryWebhook
from canary.operator.webhooks import WebhookCaller
from tests.unit.operator.conftest import serving
from tests.unit.operator.harness import canary_body


@pytest_asyncio.fixture
async def odd_server() -> AsyncIterator[str]:
    """Answers: /utf16 a 403 in UTF-16 without BOM, /trickle a byte every 0.2 s, /endless an endless 500."""

    async def utf16(request: web.Request) -> web.Response:
        return web.Response(status=403, body="frozen".encode("utf-16-le"), content_type="text/plain", charset="utf-16")

    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=500)
        await response.prepare(request)
        for _ in range(50):
            await response.write(b"x")
            await asyncio.sleep(0.2)
        return response

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=500)
        await response.prepare(request)
        while True:
            await response.write(b"y" * 65536)

    app = web.Application()
    app.router.add_post("/utf16", utf16)
    app.router.add_post("/trickle", trickle)
    app.router.add_post("/endless", endless)
    async with serving(app) as url:
        yield url


async def call(url: str, timeout: str = "1s") -> tuple[float, bool, str]:
    canary = Canary.model_validate(canary_body())
    hook = CanaryWebhook.model_validate({"name": "gate", "type": "confirm-rollout", "url": url, "timeout": timeout})
    caller = WebhookCaller()
    try:
        start = time.monotonic()
        result = await caller.call(canary, hook, "Progressing")
        return time.monotonic() - start, result.ok, result.reason
    finally:
        await caller.close()


async def test_an_answer_in_a_charset_it_does_not_hold_is_read_as_text(odd_server: str) -> None:
    _, ok, reason = await call(f"{odd_server}/utf16")
    assert not ok
    assert reason == "confirm-rollout hook gate failed (HTTP 403): frozen"


async def test_the_timeout_bounds_the_whole_call_not_each_read(odd_server: str) -> None:
    elapsed, ok, reason = await call(f"{odd_server}/trickle", timeout="1s")  # the answer would take 10 s
    assert not ok
    assert reason == "confirm-rollout hook gate failed (no answer): no answer within the hook's timeout (1s)"
    assert elapsed < 3.0


async def test_an_endless_answer_is_read_no_further_than_what_is_kept(odd_server: str) -> None:
    elapsed, ok, reason = await call(f"{odd_server}/endless", timeout="5s")
    assert not ok
    assert reason == "confirm-rollout hook gate failed (HTTP 500): " + "y" * 500
    assert elapsed < 3.0  # it did not wait for the end


async def test_an_address_that_cannot_be_called_is_a_failed_hook() -> None:
    _, ok, reason = await call("http://xn--zz.example/gate")
    assert not ok
    assert reason.startswith("confirm-rollout hook gate failed (no answer): invalid URL: ")


async def test_a_hooks_credentials_never_reach_the_log(odd_server: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = odd_server.replace("http://", "http://admin:s3cret@") + "/utf16?token=abcdef123"
    await call(url)
    ours = [r for r in caplog.records if r.name.split(".")[0] in ("httpx", "httpcore", "canary")]  # not the server's
    logged = "\n".join(record.getMessage() for record in ours)
    assert "HTTP Request: POST <redacted>" in logged
    assert "s3cret" not in logged and "abcdef123" not in logged
