"""deploy/Dockerfile builds the image the Deployment expects.

No container engine runs here, so the Dockerfile is read, not built: its
final stage runs as the non-root user the pod's securityContext names, its
entrypoint is the ``canary`` console script, and what it copies in is
what ``pip install .`` needs for the controller (the project file, the readme
it names, ``canary`` and ``analysis``) and nothing of the testbed.
"""

from __future__ import annotations

import json
import shlex
import tomllib
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

from tests.unit.deploy.render import DEPLOY_DIR, REPO_ROOT, find, render_deploy


@dataclass
class Stage:
    """One build stage: its base image and instructions (keyword, arguments), continuation lines joined."""

    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for key, args in self.instructions if key == keyword]


def _stages() -> list[Stage]:
    text = (DEPLOY_DIR / "Dockerfile").read_text().replace("\\\n", " ")
    stages: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stages.append(Stage(base=args.split()[0]))
        else:
            stages[-1].instructions.append((keyword, args.strip()))
    return stages


def _exec_form(args: str) -> list[str]:
    parsed = json.loads(args)
    assert isinstance(parsed, list), f"use the exec form (a JSON list), not {args!r}"
    return [str(part) for part in parsed]


def test_the_image_is_python_311_slim() -> None:
    assert {stage.base for stage in _stages()} == {"python:3.11-slim"}


def test_the_final_stage_runs_as_the_non_root_user_of_the_pod() -> None:
    final = _stages()[-1]
    user = final.all("USER")[-1]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) > 0, f"USER must be a numeric non-root uid (runAsNonRoot checks it): {user}"
    pod = find(render_deploy(), "Deployment", "canary-controller")["spec"]["template"]["spec"]
    assert int(uid) == pod["securityContext"]["runAsUser"]
    assert not gid or int(gid) == pod["securityContext"]["runAsGroup"]


def test_the_entrypoint_is_the_canary_command_running_the_controller() -> None:
    final = _stages()[-1]
    entrypoint = _exec_form(final.all("ENTRYPOINT")[-1])
    command = _exec_form(final.all("CMD")[-1])
    assert entrypoint == ["canary"]
    assert command == ["controller"]
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["canary"] == "canary.cli:main"
    container = find(render_deploy(), "Deployment", "canary-controller")["spec"]["template"]["spec"]["containers"][0]
    exposed = {int(port.split("/")[0]) for args in final.all("EXPOSE") for port in args.split()}
    assert {p["containerPort"] for p in container["ports"]} <= exposed


def _copied() -> set[str]:
    """What the build context's COPY instructions bring in (paths, not stages' artefacts)."""
    copied: set[str] = set()
    for stage in _stages():
        for args in stage.all("COPY"):
            words = shlex.split(args)
            if any(word.startswith("--from") for word in words):
                continue
            parts = [word for word in words if not word.startswith("--")]
            copied.update(Path(source).as_posix().rstrip("/") for source in parts[:-1])
    return copied


def test_the_build_copies_the_controller_and_what_pip_install_needs() -> None:
    copied = _copied()
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    needed = {"pyproject.toml", project["project"]["readme"], "canary", "analysis"}
    assert needed <= copied, f"the Dockerfile does not copy {sorted(needed - copied)}"
    install = " ".join(args for stage in _stages() for args in stage.all("RUN"))
    assert "pip install ." in install


def test_the_image_holds_the_controller_only() -> None:
    """The testbed packages exist in the repository, and the image leaves them (and every extra) out."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    include = project["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {
        path.name
        for path in REPO_ROOT.iterdir()
        if (path / "__init__.py").is_file() and any(fnmatch(path.name, pattern) for pattern in include)
    }
    assert {"canary", "analysis", "kubeemu", "canary_testbed"} <= packages
    copied = _copied()
    assert not copied & (packages - {"canary", "analysis"}), "the image must not carry the testbed"
    assert not {"tests", "benchmarks", "."} & copied
    install = " ".join(args for stage in _stages() for args in stage.all("RUN"))
    assert "pip install ." in install and "[" not in install, "the image installs no extra"


def test_the_build_context_leaves_out_the_virtualenv_and_git() -> None:
    ignored = {
        line.strip()
        for line in (DEPLOY_DIR / "Dockerfile.dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", ".git"} <= ignored
