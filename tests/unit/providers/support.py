"""Helpers shared by the provider tests."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

import pytest

from canary_testbed.prom import prometheus_available

__all__ = ["Canned", "require_prometheus"]


def require_prometheus() -> None:
    """Fail (never skip) with a clear message when the Prometheus server is not installed."""
    if not prometheus_available():
        pytest.fail(
            "the Prometheus server is not installed: run 'make test' (it installs Debian's prometheus) "
            "or 'sudo apt-get install prometheus'"
        )


@dataclass
class Canned:
    """What the canned server answers, and what it was asked."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    delay: threading.Event | None = None
    requests: list[dict[str, str]] = field(default_factory=list)

    def answer_json(self, payload: object, status: int = 200) -> None:
        """Answer every request with ``payload`` as JSON."""
        self.status = status
        self.body = json.dumps(payload).encode()
        self.content_type = "application/json"

    def answer_text(self, text: str, status: int = 200) -> None:
        """Answer every request with plain ``text``."""
        self.status = status
        self.body = text.encode()
        self.content_type = "text/plain"
