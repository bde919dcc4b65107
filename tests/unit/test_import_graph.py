"""The controller's import graph: dependencies point one way, and nothing of the testbed gets in.

``pip install canary`` ships the controller (``canary``, ``analysis``); the
testbed (``kubeemu``, ``canary_testbed``) and the report's matplotlib come with
extras. These tests read every module's imports (all of them, also those
inside functions) and then import the controller in a Python that cannot
import the extras at all, as the controller image would.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

TESTBED = ("kubeemu", "canary_testbed", "kmock")
"""Top-level modules that only the ``testbed`` extra brings."""

# What each part of the controller may import of the project (besides itself and the standard
# library); DESIGN's direction: operator -> (routers | providers | notifiers | kube) -> core -> models -> analysis.
_BASE = {"analysis", "canary.models", "canary.errors"}
_ALLOWED: dict[str, set[str]] = {
    "analysis": set(),
    "canary.models": {"analysis", "canary.errors"},
    "canary.core": _BASE,
    "canary.kube": _BASE | {"canary.core"},
    "canary.routers": _BASE | {"canary.core", "canary.kube"},
    "canary.providers": _BASE | {"canary.core"},
    "canary.notifiers": _BASE | {"canary.core"},
}
_PROJECT = ("analysis", "canary", "kubeemu", "canary_testbed")


def _modules(package: str) -> Iterator[tuple[str, Path]]:
    for path in sorted((REPO_ROOT / package).rglob("*.py")):
        parts = path.relative_to(REPO_ROOT).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def _imports(path: Path) -> set[str]:
    """Every absolute module name ``path`` imports, at any depth (lazy imports count too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _part(module: str) -> str:
    """The layer a module belongs to: ``canary.<subpackage>`` or a top-level name."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "canary" and len(parts) > 1 else parts[0]


def _controller_modules() -> Iterator[tuple[str, Path]]:
    yield from _modules("canary")
    yield from _modules("analysis")


def test_the_controller_imports_nothing_of_the_testbed() -> None:
    offenders = [
        f"{module} imports {name}"
        for module, path in _controller_modules()
        for name in sorted(_imports(path))
        if name.split(".")[0] in TESTBED
    ]
    assert not offenders, offenders


def test_matplotlib_is_imported_only_where_a_report_is_drawn() -> None:
    offenders = [
        module
        for module, path in _controller_modules()
        if any(name.split(".")[0] == "matplotlib" for name in _imports(path)) and module != "canary.report.draw"
    ]
    assert not offenders, offenders


def test_kopf_is_imported_only_by_the_operator() -> None:
    offenders = [
        module
        for module, path in _controller_modules()
        if any(name.split(".")[0] == "kopf" for name in _imports(path)) and _part(module) != "canary.operator"
    ]
    assert not offenders, offenders


def test_the_emulated_api_server_imports_nothing_of_canary() -> None:
    offenders = [
        f"{module} imports {name}"
        for module, path in _modules("kubeemu")
        for name in sorted(_imports(path))
        if name.split(".")[0] in ("canary", "canary_testbed", "analysis")
    ]
    assert not offenders, offenders


@pytest.mark.parametrize("layer", sorted(_ALLOWED))
def test_dependencies_point_one_way(layer: str) -> None:
    allowed = _ALLOWED[layer] | {layer}
    offenders = sorted(
        f"{module} imports {name}"
        for module, path in _controller_modules()
        if _part(module) == layer
        for name in _imports(path)
        if name.split(".")[0] in _PROJECT and _part(name) not in allowed and name != "canary"
    )
    assert not offenders, offenders


def test_the_rules_see_every_layer() -> None:
    """A renamed package must not slip out of the rules above unnoticed."""
    parts = {_part(module) for module, _ in _controller_modules()}
    assert set(_ALLOWED) <= parts


_BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys

    class Blocked(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {blocked!r}:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None

    sys.meta_path.insert(0, Blocked())
    """
)


def _without_extras(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a Python where the extras' modules cannot be imported (the controller image)."""
    script = _BLOCKER.format(blocked=(*TESTBED, "matplotlib")) + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT, check=False
    )


def test_the_controller_runs_without_the_extras() -> None:
    proc = _without_extras(
        """
        import canary.operator.handlers, canary.operator.reconcile, canary.cli
        from canary.cli import main
        raise SystemExit(main(["controller", "--help"]))
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert "--kubeconfig" in proc.stdout


@pytest.mark.parametrize(
    ("argv", "extra"),
    [
        (["demo"], "testbed"),
        (["report", "podinfo", "--prometheus", "http://127.0.0.1:1", "--output", "/dev/null"], "report"),
    ],
)
def test_a_command_without_its_extra_says_which_in_one_line(argv: list[str], extra: str) -> None:
    proc = _without_extras(f"from canary.cli import main; raise SystemExit(main({argv!r}))")
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert f"pip install 'canary[{extra}]'" in proc.stderr
    assert "Traceback" not in proc.stderr
