"""Fixtures for the provider tests: the real Prometheus server and a tiny canned HTTP server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from canary_testbed.prom import PrometheusServer
from tests.unit.providers.support import Canned, require_prometheus


@pytest.fixture(scope="module")
def prometheus() -> Iterator[PrometheusServer]:
    """A real Prometheus on a free 127.0.0.1 port, scraping nothing (module-scoped)."""
    require_prometheus()
    with PrometheusServer() as server:
        yield server


@pytest.fixture
def canned() -> Iterator[tuple[str, Canned]]:
    """``(url, canned)``: an HTTP server on 127.0.0.1 answering whatever ``canned`` says."""
    state = Canned()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
            if state.delay is not None:
                state.delay.wait(timeout=5)
            self.send_response(state.status)
            self.send_header("Content-Type", state.content_type)
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        if state.delay is not None:
            state.delay.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
