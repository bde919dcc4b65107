"""The Canaries the README shows a new user pass `canary validate` (no errors)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from canary.gitops import validate_paths

README = Path(__file__).resolve().parents[3] / "README.md"
# the README's YAML blocks that are Canaries (top-level kind; a Flux healthCheck naming one is not)
BLOCKS = [
    b
    for b in re.findall(r"```yaml\n(.*?)```", README.read_text(), re.DOTALL)
    if re.search(r"^kind: Canary\s*$", b, re.M)
]


def test_the_readme_shows_canaries() -> None:
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_each_readme_canary_validates(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "canary.yaml").write_text(BLOCKS[index])
    monkeypatch.chdir(tmp_path)
    report = validate_paths(["canary.yaml"])
    assert [str(f) for f in report.findings if f.severity == "error"] == []
    assert report.checked.get("Canary") == 1
