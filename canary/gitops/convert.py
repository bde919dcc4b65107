"""``canary convert``: rewrite Flagger manifests (``flagger.app``) in a Git checkout to ``canary.dev/v1beta1``.

Each Flagger Canary, MetricTemplate or AlertProvider is converted by
:func:`canary.models.convert.convert_flagger`; every other document of the file
is kept byte for byte. When the conversion only changes ``apiVersion`` (and
renames ``spec.canaryAnalysis``), those values are edited in the text so the
comments and layout of the document survive; otherwise the document is
written out again as YAML.

What does not carry over is reported as findings: the converted objects are
checked like ``canary validate`` checks them (invalid fields, providers we
refuse, fields accepted but not acted on yet), together with the other
objects of the given paths so template references resolve, plus the notes of
``convert_flagger`` about what it changed (``info``).
"""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from canary.gitops.documents import (
    Document,
    FileDocuments,
    ReadError,
    collect_files,
    load_yaml_text,
    read_documents,
)
from canary.gitops.findings import Finding
from canary.gitops.validate import Report, validate_documents
from canary.models.base import GROUP_VERSION
from canary.models.convert import FLAGGER_GROUP, KINDS, convert_flagger
from canary.models.support import DEFAULT_PROVIDER

__all__ = ["Conversion", "ConvertedFile", "convert_paths", "convert_text", "dump_yaml", "write_conversion"]

# Notes of convert_flagger that repeat what validation reports with a field path (so they are not shown twice).
_VALIDATION_NOTES = ("invalid: ", "refused: ", "not yet: ")


@dataclass
class ConvertedFile:
    """One file that holds Flagger objects: its original text and its converted text."""

    file: str
    """The file, as given or found under a given directory."""
    path: Path
    """The file on disk."""
    original: str
    """The text read."""
    text: str
    """The text with every Flagger object converted (other documents untouched)."""
    converted: list[Document] = field(default_factory=list)
    """The converted documents (``obj`` is the converted object; lines are the original file's)."""


@dataclass
class Conversion:
    """The outcome of ``canary convert``: converted files and what does not carry over."""

    files: list[ConvertedFile] = field(default_factory=list)
    """Files with at least one Flagger object, in order."""
    read_errors: list[Finding] = field(default_factory=list)
    """Paths or files that could not be read (nothing of them was converted)."""
    problems: list[Finding] = field(default_factory=list)
    """What does not carry over: the converted objects' errors and warnings, as ``canary validate`` finds them."""
    notes: list[Finding] = field(default_factory=list)
    """What the conversion changed (``info``): a renamed field, Flagger's status dropped, an older apiVersion."""

    @property
    def objects(self) -> int:
        """Number of Flagger objects converted."""
        return sum(len(converted.converted) for converted in self.files)

    @property
    def findings(self) -> list[Finding]:
        """Read errors first, then notes and problems in file and line order."""
        rest = sorted(
            [*self.notes, *self.problems], key=lambda finding: (finding.file, finding.document or 0, finding.line or 0)
        )
        return [*self.read_errors, *rest]

    def output(self) -> str:
        """The converted files for stdout: each preceded by ``# Source: <file>``, separated by ``---``."""
        parts = []
        for converted in self.files:
            body = converted.text if converted.text.endswith("\n") else converted.text + "\n"
            parts.append(f"# Source: {converted.file}\n{body}")
        return "---\n".join(parts)


class _Dumper(yaml.SafeDumper):
    """Block-style YAML with multi-line strings (queries, commands) as literal blocks."""


def _str_representer(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    if "\n" in data and all(line == line.rstrip() for line in data.splitlines()):
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_Dumper.add_representer(str, _str_representer)


def dump_yaml(obj: Any) -> str:
    """One object as block YAML, keys in their original order."""
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1000)


def _is_flagger_group(obj: Any) -> bool:
    api_version = obj.get("apiVersion") if isinstance(obj, dict) else None
    return isinstance(api_version, str) and api_version.partition("/")[0] == FLAGGER_GROUP


def _is_flagger(obj: Any) -> bool:
    if not isinstance(obj, dict):
        return False
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    return (
        isinstance(api_version, str)
        and api_version.partition("/")[0] == FLAGGER_GROUP
        and isinstance(kind, str)
        and kind in KINDS
    )


def _edited(text: str, document: Document, original: dict[str, Any], converted: dict[str, Any]) -> str | None:
    """The document's text with only apiVersion (and a canaryAnalysis key) edited, if that yields ``converted``."""
    edits: list[tuple[int, int, str]] = []
    span = document.spans.get(("apiVersion",))
    if span is None:
        return None
    edits.append((span[0], span[1], GROUP_VERSION))
    spec_before, spec_after = original.get("spec"), converted.get("spec")
    if (
        isinstance(spec_before, dict)
        and isinstance(spec_after, dict)
        and "canaryAnalysis" in spec_before
        and "analysis" in spec_after
        and "analysis" not in spec_before
    ):
        key_span = document.key_spans.get(("spec", "canaryAnalysis"))
        if key_span is None:
            return None
        edits.append((key_span[0], key_span[1], "analysis"))
    piece = text[document.start : document.end]
    for start, end, value in sorted(edits, reverse=True):
        piece = piece[: start - document.start] + value + piece[end - document.start :]
    reread, errors = load_yaml_text(document.file, piece)
    if errors or len(reread) != 1 or reread[0].obj != converted:
        return None
    return piece


def convert_text(name: str, text: str, documents: Sequence[Document]) -> tuple[str, list[Document], list[Finding]]:
    """Convert the Flagger documents of one file's text.

    Returns the new text, the converted documents (with ``obj`` replaced) and
    findings: the ``info`` notes of :func:`convert_flagger` that validation does
    not repeat, and a warning for each Flagger object of a kind we do not have.
    """
    pieces: list[str] = []
    position = 0
    converted_documents: list[Document] = []
    notes: list[Finding] = []
    for document in documents:
        if not _is_flagger(document.obj):
            if _is_flagger_group(document.obj):
                kind = document.obj.get("kind")
                metadata = document.obj.get("metadata")
                metadata = metadata if isinstance(metadata, dict) else {}
                notes.append(
                    Finding(
                        file=name,
                        severity="warning",
                        message=f"not converted: {FLAGGER_GROUP} has no {kind!r} that this project knows "
                        f"(only {', '.join(KINDS)})",
                        path="kind",
                        kind=kind if isinstance(kind, str) else None,
                        namespace=metadata.get("namespace") if isinstance(metadata.get("namespace"), str) else None,
                        name=metadata.get("name") if isinstance(metadata.get("name"), str) else None,
                        document=document.index,
                        line=document.line_of(("kind",)),
                    )
                )
            continue
        original: dict[str, Any] = document.obj
        converted, messages = convert_flagger(original)
        metadata = converted.get("metadata")
        namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
        object_name = metadata.get("name") if isinstance(metadata, dict) else None
        for message in messages:
            if message.startswith(_VALIDATION_NOTES):
                continue
            path, _, rest = message.partition(": ")
            notes.append(
                Finding(
                    file=name,
                    severity="info",
                    message=rest or message,
                    path=path if rest else "",
                    kind=str(original.get("kind")),
                    namespace=namespace if isinstance(namespace, str) else None,
                    name=object_name if isinstance(object_name, str) else None,
                    document=document.index,
                    line=document.line_of((path,)) if rest else document.line_of(()),
                )
            )
        piece = _edited(text, document, original, converted)
        if piece is None:
            piece = dump_yaml(converted)
        pieces.append(text[position : document.start])
        pieces.append(piece)
        position = document.end
        converted_documents.append(replace(document, obj=copy.deepcopy(converted)))
    pieces.append(text[position:])
    return "".join(pieces), converted_documents, notes


def convert_paths(paths: Sequence[str], default_provider: str = DEFAULT_PROVIDER) -> Conversion:
    """Convert every Flagger object under ``paths`` (nothing is written: see :func:`write_conversion`)."""
    conversion = Conversion()
    found, missing = collect_files(paths)
    read_errors: list[ReadError] = list(missing)
    reads: list[FileDocuments] = [read_documents(name, path) for name, path in found]
    all_documents: list[Document] = []
    notes: list[Finding] = []
    converted_keys: set[tuple[str, int]] = set()
    for read in reads:
        read_errors.extend(read.errors)
        if read.text is None:
            continue
        if read.errors:
            # A file with broken YAML is not rewritten: only what was read is checked.
            all_documents.extend(read.documents)
            continue
        text, converted, file_notes = convert_text(read.file, read.text, read.documents)
        by_index = {document.index: document for document in converted}
        all_documents.extend(by_index.get(document.index, document) for document in read.documents)
        if converted:
            conversion.files.append(ConvertedFile(read.file, read.path, read.text, text, converted))
            converted_keys.update((read.file, document.index) for document in converted)
        notes.extend(file_notes)
    report: Report = validate_documents(all_documents, default_provider)
    conversion.problems = [
        finding for finding in report.findings if (finding.file, finding.document or 0) in converted_keys
    ] + [note for note in notes if note.severity != "info"]
    conversion.notes = [note for note in notes if note.severity == "info"]
    conversion.read_errors = [
        Finding(file=error.file, severity="error", message=error.message, document=error.document, line=error.line)
        for error in read_errors
    ]
    return conversion


def write_conversion(conversion: Conversion, out_dir: Path | None = None, roots: Sequence[str] = ()) -> list[Path]:
    """Write the converted files: in place (``out_dir`` None) or below ``out_dir``, mirroring ``roots``.

    With ``out_dir``, a file found under a directory given in ``roots`` keeps
    its place below that directory; a file given directly keeps its name.
    Files are replaced atomically. Returns the paths written.
    """
    written = []
    for converted in conversion.files:
        target = converted.path if out_dir is None else out_dir / _relative(converted.path, roots)
        target.parent.mkdir(parents=True, exist_ok=True)
        # in place, a symlink's target is the file to convert (replacing the link would leave it as it was)
        _atomic_write(target.resolve() if out_dir is None and target.is_symlink() else target, converted.text)
        written.append(target)
    return written


def _relative(path: Path, roots: Sequence[str]) -> Path:
    for root in roots:
        base = Path(root)
        if base.is_dir():
            try:
                return path.relative_to(base)
            except ValueError:
                continue
    return Path(path.name)


def _atomic_write(target: Path, text: str) -> None:
    mode = target.stat().st_mode & 0o777 if target.exists() else None
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
