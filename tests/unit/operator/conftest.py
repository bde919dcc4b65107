"""Fixtures of the operator tests: a real local HTTP endpoint standing in for gate services and chat webhooks."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest_asyncio
from aiohttp import web


@dataclass
class HookServer:
    """A gate service: answers each path with the status set for it, and records every call."""

    url: str = ""
    answers: dict[str, tuple[int, str]] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def hook(self, name: str, type_: str, **extra: Any) -> dict[str, Any]:
        return {"name": name, "type": type_, "url": f"{self.url}/{name}", "timeout": "2s", **extra}

    def called(self, name: str) -> list[dict[str, Any]]:
        return [body for path, body in self.calls if path == name]


@pytest_asyncio.fixture
async def hooks() -> AsyncIterator[HookServer]:
    server = HookServer()

    async def handle(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        server.calls.append((name, await request.json()))
        status, text = server.answers.get(name, (200, "ok"))
        return web.Response(status=status, text=text)

    app = web.Application()
    app.router.add_post("/{name}", handle)
    async with serving(app) as url:
        server.url = url
        yield server


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` on a free 127.0.0.1 port while the block runs; its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
