"""Renders deploy/ with ``kubectl kustomize``, as a user installing canary does; shared by the deploy tests."""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

__all__ = ["DEPLOY_DIR", "REPO_ROOT", "find", "kubectl", "render_deploy"]

REPO_ROOT = Path(__file__).resolve().parents[3]
DEPLOY_DIR = REPO_ROOT / "deploy"


def kubectl() -> str:
    """The kubectl on PATH; the test fails (never skips) with the way to install it when there is none."""
    found = shutil.which("kubectl")
    if found is None:
        pytest.fail(
            "kubectl is not installed, so deploy/ cannot be rendered: run `make test` as root "
            "(it installs Debian's kubernetes-client), or `apt-get install kubernetes-client`"
        )
    return found


@functools.cache
def _render(path: Path) -> tuple[str, ...]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"kubectl kustomize {path} failed:\n{result.stderr}"
    return tuple(yaml.safe_dump(doc) for doc in yaml.safe_load_all(result.stdout) if doc is not None)


def render_deploy(path: Path = DEPLOY_DIR) -> list[dict[str, Any]]:
    """Every object ``kubectl kustomize deploy/`` renders (a fresh copy on each call)."""
    return [yaml.safe_load(text) for text in _render(path)]


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    """The one rendered object of ``kind`` (and ``name``); fails the test naming what is missing."""
    matches = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(matches) == 1, f"expected one {kind} {name or ''} in deploy/, found {len(matches)}"
    return matches[0]
