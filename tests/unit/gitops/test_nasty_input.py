"""Broken, odd and hostile files: each becomes a located finding, never an exception or a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from canary.gitops import Finding, validate_paths
from tests.unit.gitops.conftest import REPO_ROOT, write

CANARY_HEAD = "apiVersion: canary.dev/v1beta1\nkind: Canary\nmetadata:\n  name: podinfo\n  namespace: test\n"


def make_nasty_directory(root: Path) -> None:
    """A directory of every kind of bad input ``canary validate`` must survive."""
    write(root, "broken.yaml", CANARY_HEAD + "spec:\n  analysis: [unclosed\n")
    write(root, "tabs.yaml", CANARY_HEAD + "spec:\n\tanalysis: {}\n")
    (root / "binary.yaml").write_bytes(b"\xff\xfe\x00\x01binary\x00\x80")
    (root / "nul.yaml").write_text("apiVersion: v1\x00\n", encoding="utf-8")
    (root / "dangling.yaml").symlink_to(root / "does-not-exist.yaml")
    (root / "device.yaml").symlink_to("/dev/zero")  # endless: never read
    os.mkfifo(root / "fifo.yaml")  # a writer that never comes: never opened
    write(
        root, "surrogate.yaml", 'apiVersion: canary.dev/v1beta1\nkind: Canary\nmetadata: {name: "\\ud800"}\nspec: {}\n'
    )
    write(root, "kind-is-a-list.yaml", "apiVersion: flagger.app/v1beta1\nkind: [Canary]\nmetadata: {name: x}\n")
    write(root, "empty.yaml", "")
    write(root, "empty-documents.yaml", "---\n---\n# only a comment\n---\n")
    write(root, "list.yaml", "- apiVersion: canary.dev/v1beta1\n  kind: Canary\n")
    write(root, "plain-list.yaml", "- a\n- b\n")
    write(root, "scalar.yaml", "just a string\n")
    write(
        root,
        "bomb.yaml",
        'a: &a ["x","x","x","x","x","x","x","x","x","x"]\n'
        "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
        "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
        "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n",
    )
    write(root, "recursive.yaml", "&a [*a]\n")
    write(root, "deep.yaml", "[" * 5000 + "]" * 5000 + "\n")
    write(root, "unhashable.yaml", "? [1, 2]\n: x\n")
    write(root, "spec-is-a-list.yaml", CANARY_HEAD + "spec: [1, 2]\n")
    write(root, "metadata-is-a-number.yaml", "apiVersion: canary.dev/v1beta1\nkind: MetricTemplate\nmetadata: 5\n")
    write(root, "api-version-number.yaml", "apiVersion: 5\nkind: Canary\n")
    write(root, "odd-keys.yaml", CANARY_HEAD + "spec:\n  1: x\n  true: y\n  null: z\n")
    write(
        root,
        "list-kind.yaml",
        "apiVersion: v1\nkind: List\nitems:\n- " + CANARY_HEAD.replace("\n", "\n  ") + "spec: {}\n- 7\n",
    )
    (root / "dir.yaml").mkdir()
    write(root, "dir.yaml/inner.yml", CANARY_HEAD + "spec:\n  analysis:\n    metrics: {a: 1}\n    webhooks: null\n")
    write(root, ".git/config.yaml", "this: [is not even: parsed\n")


def by_file(findings: list[Finding]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for finding in findings:
        if finding.severity != "error":
            continue
        out.setdefault(Path(finding.file).name, []).append(str(finding))
    return out


def test_every_nasty_file_is_reported_where_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_nasty_directory(tmp_path / "repo")
    monkeypatch.chdir(tmp_path)
    report = validate_paths(["repo"])
    found = by_file(report.findings)
    assert found["broken.yaml"] == [
        "repo/broken.yaml: document 1: invalid YAML: while parsing a flow sequence, expected ',' or ']', but got '<stream end>'"
    ]
    assert found["tabs.yaml"][0].startswith("repo/tabs.yaml: document 1: invalid YAML: ")
    assert found["binary.yaml"] == ["repo/binary.yaml: not a UTF-8 text file (undecodable byte at offset 0)"]
    assert found["nul.yaml"][0].startswith("repo/nul.yaml: invalid YAML: ")
    assert found["dangling.yaml"] == ["repo/dangling.yaml: cannot read the file: No such file or directory"]
    assert found["device.yaml"] == ["repo/device.yaml: is not a regular file"]
    assert found["fifo.yaml"] == ["repo/fifo.yaml: is not a regular file"]
    assert found["list.yaml"] == [
        "repo/list.yaml: document 1: a document must hold one object, not a list (use `kind: List` and items)"
    ]
    assert found["bomb.yaml"] == [
        "repo/bomb.yaml: document 1: document refused: the document expands to more than 200000 values "
        "(aliases counted each time)"
    ]
    assert found["recursive.yaml"] == [
        "repo/recursive.yaml: document 1: document refused: a recursive alias (an anchor used inside itself)"
    ]
    assert found["deep.yaml"][0].startswith("repo/deep.yaml: ")
    assert "nested" in found["deep.yaml"][0]
    assert found["unhashable.yaml"][0].startswith("repo/unhashable.yaml: document 1: invalid YAML: ")
    assert found["spec-is-a-list.yaml"] == [
        "repo/spec-is-a-list.yaml: Canary test/podinfo: spec: must be a mapping (got [1, 2])"
    ]
    assert sorted(found["metadata-is-a-number.yaml"]) == [
        "repo/metadata-is-a-number.yaml: MetricTemplate (document 1): metadata: must be a mapping (got 5)",
        "repo/metadata-is-a-number.yaml: MetricTemplate (document 1): spec: required field is missing",
    ]
    assert (
        "repo/odd-keys.yaml: Canary test/podinfo: spec.1: unknown field '1' (not in the Canary schema; it would "
        "be refused, not applied)" in found["odd-keys.yaml"]
    )
    assert (
        "repo/list-kind.yaml: Canary test/podinfo: items[0].spec.targetRef: required field is missing"
        in found["list-kind.yaml"]
    )
    assert (
        'repo/dir.yaml/inner.yml: Canary test/podinfo: spec.analysis.metrics: must be a list (got {"a": 1})'
        in found["inner.yml"]
    )
    for quiet in ("empty.yaml", "empty-documents.yaml", "plain-list.yaml", "scalar.yaml", "config.yaml"):
        assert quiet not in found
    assert "api-version-number.yaml" not in found
    # plain-list, scalar, the number-apiVersion object and the List's item 7.
    assert report.ignored == 4
    assert not report.ok


def test_missing_path_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    report = validate_paths(["nowhere", "nowhere.yaml"])
    assert [str(finding) for finding in report.findings] == [
        "nowhere: no such file or directory",
        "nowhere.yaml: no such file or directory",
    ]


def test_cli_never_prints_a_traceback(tmp_path: Path) -> None:
    make_nasty_directory(tmp_path / "repo")
    for extra in ([], ["--format", "json"]):
        done = subprocess.run(
            [sys.executable, "-m", "canary", "validate", *extra, str(tmp_path / "repo")],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            timeout=120,
        )
        assert "Traceback" not in done.stderr
        assert "Traceback" not in done.stdout
        assert done.returncode == 1
        if extra:
            problems = json.loads(done.stdout)
            assert {problem["file"].rsplit("/", 1)[-1] for problem in problems} >= {"broken.yaml", "binary.yaml"}
            assert all(problem["severity"] in ("error", "warning") for problem in problems)
        else:
            assert "broken.yaml: document 1: invalid YAML" in done.stdout
            # a name the terminal cannot encode is shown escaped, and the findings after it still print
            assert "surrogate.yaml: Canary \\ud800: metadata.name: must be a Kubernetes name" in done.stdout
            assert " errors, " in done.stdout.rstrip().splitlines()[-1]  # the summary: printing went on to the end


def test_convert_cli_never_prints_a_traceback(tmp_path: Path) -> None:
    make_nasty_directory(tmp_path / "repo")
    write(tmp_path / "repo", "flagger.yaml", CANARY_HEAD.replace("canary.dev", "flagger.app") + "spec: 5\n")
    done = subprocess.run(
        [sys.executable, "-m", "canary", "convert", str(tmp_path / "repo")],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert "Traceback" not in done.stderr
    assert done.returncode == 1  # unreadable files
    assert "apiVersion: canary.dev/v1beta1" in done.stdout
    assert "flagger.yaml: Canary test/podinfo: spec: must be a mapping (got 5)" in done.stderr, done.stderr
    assert "kind-is-a-list.yaml: object x: kind: warning: not converted" in done.stderr  # not an internal error
