"""Fixtures for the notifier tests: a real HTTP receiver on 127.0.0.1 and a realistic notification."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from canary.notifiers.base import Notification
from canary.notifiers.examples import example_notification


@dataclass
class Received:
    """One request the receiver got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON (as the service would)."""
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Receiver:
    """A local webhook endpoint: records every request and answers from a script (then ``default``)."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    script: list[tuple[int, dict[str, str], str]] = field(default_factory=list)
    default: tuple[int, dict[str, str], str] = (200, {}, "")

    def answer(self) -> tuple[int, dict[str, str], str]:
        return self.script.pop(0) if self.script else self.default


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A :class:`Receiver` listening on a free 127.0.0.1 port (``receiver.url`` is its base URL)."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            state.requests.append(Received("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            status, headers, text = state.answer()
            data = text.encode("utf-8")
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def rolled_back() -> Notification:
    """A canary rolled back after its success rate fell below 99 % (the EXAMPLES.md notification)."""
    return example_notification()
