"""``canary convert``: Flagger objects rewritten, everything else kept as written, losses reported."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from canary.cli import main
from canary.cli.gitops import register
from canary.gitops import convert_paths
from tests.unit.gitops.conftest import CANARY, TEMPLATE, write

FLAGGER_CANARY = CANARY.replace("canary.dev/v1beta1", "flagger.app/v1beta1")
FLAGGER_TEMPLATE = TEMPLATE.replace("canary.dev/v1beta1", "flagger.app/v1beta1")
DEPLOYMENT = """\
# the workload itself
apiVersion: apps/v1
kind: Deployment
metadata: {name: podinfo, namespace: test}   # flow style, kept as is
spec:
  replicas: 2
"""


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_prints_converted_yaml_and_keeps_other_documents_byte_for_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = DEPLOYMENT + "---\n# the canary\n" + FLAGGER_CANARY.lstrip("\n") + "---\n" + FLAGGER_TEMPLATE.lstrip("\n")
    path = write(tmp_path, "app.yaml", text)
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["convert", "app.yaml"], capsys)
    assert code == 0
    assert out == "# Source: app.yaml\n" + text.replace("flagger.app/v1beta1", "canary.dev/v1beta1")
    assert path.read_text(encoding="utf-8") == text  # nothing written without --write
    assert "converted 2 Flagger objects in 1 file" in err
    documents = list(yaml.safe_load_all(out))
    assert [document["apiVersion"] for document in documents] == ["apps/v1", "canary.dev/v1beta1", "canary.dev/v1beta1"]


def test_old_canary_analysis_is_renamed_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    old = FLAGGER_CANARY.replace("  analysis:", "  # how it is analysed\n  canaryAnalysis:")
    write(tmp_path, "c.yaml", old)
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["convert", "c.yaml"], capsys)
    assert code == 0
    assert "  # how it is analysed\n  analysis:\n    interval: 1m\n" in out
    assert "canaryAnalysis" not in out
    assert "c.yaml: Canary test/podinfo: spec.canaryAnalysis: info: renamed to spec.analysis" in err


def test_status_and_server_metadata_are_dropped_and_noted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    exported = FLAGGER_CANARY.replace("  namespace: test\n", "  namespace: test\n  uid: 1234\n  resourceVersion: '9'\n")
    exported += "status:\n  phase: Succeeded\n  canaryWeight: 0\n"
    write(tmp_path, "c.yaml", DEPLOYMENT + "---\n" + exported.lstrip("\n"))
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["convert", "c.yaml"], capsys)
    assert code == 0
    assert out.startswith("# Source: c.yaml\n" + DEPLOYMENT + "---\n")
    _, canary = yaml.safe_load_all(out)
    assert canary["apiVersion"] == "canary.dev/v1beta1"
    assert "status" not in canary
    assert canary["metadata"] == {"name": "podinfo", "namespace": "test"}
    assert canary["spec"] == yaml.safe_load(CANARY)["spec"]
    assert "c.yaml: Canary test/podinfo: status: info: Flagger's status is not carried over" in err


def test_write_rewrites_only_files_with_flagger_objects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "repo/apps/canary.yaml", FLAGGER_CANARY)
    write(tmp_path, "repo/apps/deployment.yaml", DEPLOYMENT)
    write(tmp_path, "repo/ours.yaml", TEMPLATE)
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["convert", "--write", "repo"], capsys)
    assert code == 0
    assert out == ""
    assert (tmp_path / "repo/apps/canary.yaml").read_text(encoding="utf-8") == CANARY.lstrip("\n")
    assert (tmp_path / "repo/apps/deployment.yaml").read_text(encoding="utf-8") == DEPLOYMENT
    assert (tmp_path / "repo/ours.yaml").read_text(encoding="utf-8") == TEMPLATE.lstrip("\n")
    assert "wrote repo/apps/canary.yaml" in err
    code, _, _ = run(["validate", "repo"], capsys)
    assert code == 0


def test_write_through_a_symlink_converts_the_file_it_points_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "shared/canary.yaml", FLAGGER_CANARY)
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo/canary.yaml").symlink_to(tmp_path / "shared/canary.yaml")
    monkeypatch.chdir(tmp_path)
    code, _, err = run(["convert", "--write", "repo/canary.yaml"], capsys)
    assert code == 0, err
    assert (tmp_path / "repo/canary.yaml").is_symlink()  # still the link
    assert (tmp_path / "shared/canary.yaml").read_text(encoding="utf-8") == CANARY.lstrip("\n")


def test_out_that_is_a_file_is_refused_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "repo/canary.yaml", FLAGGER_CANARY)
    write(tmp_path, "taken", "")
    monkeypatch.chdir(tmp_path)
    code, _, err = run(["convert", "repo", "--out", "taken"], capsys)
    assert code == 1
    assert err == "canary convert: --out taken exists and is not a directory\n"


def test_out_mirrors_the_directory_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "repo/apps/canary.yaml", FLAGGER_CANARY)
    write(tmp_path, "repo/metrics/template.yml", FLAGGER_TEMPLATE)
    monkeypatch.chdir(tmp_path)
    code, _, _ = run(["convert", "repo", "--out", "converted"], capsys)
    assert code == 0
    assert sorted(
        str(path.relative_to(tmp_path / "converted")) for path in (tmp_path / "converted").rglob("*.y*ml")
    ) == [
        "apps/canary.yaml",
        "metrics/template.yml",
    ]
    assert (tmp_path / "repo/apps/canary.yaml").read_text(encoding="utf-8") == FLAGGER_CANARY.lstrip("\n")


def test_what_does_not_carry_over_is_reported_and_fails_only_with_strict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "c.yaml", FLAGGER_CANARY.replace("provider: istio", "provider: nginx"))
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["convert", "c.yaml"], capsys)
    assert code == 0
    assert "provider: nginx" in out
    assert "c.yaml: Canary test/podinfo: spec.provider: nginx is not supported" in err
    code, _, err = run(["convert", "--strict", "c.yaml"], capsys)
    assert code == 1
    assert "c.yaml: Canary test/podinfo: spec.provider: nginx is not supported" in err


def test_strict_passes_when_everything_carries_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "c.yaml", FLAGGER_CANARY)
    monkeypatch.chdir(tmp_path)
    code, _, err = run(["convert", "--strict", "c.yaml"], capsys)
    assert code == 0
    assert err == "converted 1 Flagger object in 1 file; 0 problems in the converted objects\n"


def test_template_references_resolve_among_converted_objects(tmp_path: Path) -> None:
    def with_template(obj_text: str) -> str:
        obj = yaml.safe_load(obj_text)
        obj["spec"]["analysis"]["metrics"] = [
            {"name": "error-rate", "templateRef": {"name": "error-rate"}, "thresholdRange": {"max": 1}}
        ]
        return yaml.safe_dump(obj, sort_keys=False)

    write(tmp_path, "c.yaml", with_template(FLAGGER_CANARY))
    write(tmp_path, "t.yaml", FLAGGER_TEMPLATE)
    conversion = convert_paths([str(tmp_path)])
    assert conversion.objects == 2
    assert conversion.problems == []
    write(tmp_path, "t.yaml", FLAGGER_TEMPLATE.replace("name: error-rate", "name: other"))
    conversion = convert_paths([str(tmp_path)])
    assert [(problem.path, problem.severity) for problem in conversion.problems] == [
        ("spec.analysis.metrics[0].templateRef", "error")
    ]


def test_broken_file_is_not_rewritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = FLAGGER_CANARY + "---\n: : :\n"
    write(tmp_path, "c.yaml", broken)
    monkeypatch.chdir(tmp_path)
    code, _, err = run(["convert", "--write", "c.yaml"], capsys)
    assert code == 1
    assert (tmp_path / "c.yaml").read_text(encoding="utf-8") == broken.lstrip("\n")
    assert "c.yaml: document 2: invalid YAML" in err


def test_register_adds_both_subcommands() -> None:
    parser = argparse.ArgumentParser(prog="canary")
    register(parser.add_subparsers(dest="command", required=True))
    validate = parser.parse_args(["validate", "a", "b", "--format", "json"])
    assert (validate.paths, validate.format, callable(validate.func)) == (["a", "b"], "json", True)
    convert = parser.parse_args(["convert", "x", "--out", "o", "--strict"])
    assert (convert.paths, convert.out, convert.strict, convert.write) == (["x"], "o", True, False)
    with pytest.raises(SystemExit):
        parser.parse_args(["convert", "x", "--out", "o", "--write"])


def test_flagger_kind_we_do_not_have_is_left_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "apiVersion: flagger.app/v1beta1\nkind: Gate\nmetadata: {name: g}\n"
    write(tmp_path, "g.yaml", text)
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["convert", "--strict", "g.yaml"], capsys)
    assert (code, out) == (1, "")
    assert "g.yaml: Gate g: kind: warning: not converted: flagger.app has no 'Gate'" in err
    assert (tmp_path / "g.yaml").read_text(encoding="utf-8") == text
