"""Reading manifests from a Git checkout: files, YAML documents, and where each field is written.

:func:`collect_files` expands the paths given on the command line (directories
recursively, ``*.yaml``/``*.yml``); :func:`read_documents` loads every
document of one file the way Kubernetes tooling reads YAML (timestamps stay
strings, keys become strings) and never raises: an unreadable file, a binary
file or broken YAML becomes a :class:`ReadError` with the line. Each
:class:`Document` keeps the line of every field (for messages and editors),
the duplicate keys YAML would silently merge, and the text span of the
document (for :mod:`canary.gitops.convert`, which rewrites documents in place).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "Document",
    "FieldPath",
    "FileDocuments",
    "ReadError",
    "YamlLoader",
    "collect_files",
    "load_yaml_text",
    "read_documents",
]

FieldPath = tuple[str | int, ...]
"""A field's location in an object: mapping keys and list indexes, e.g. ``("spec", "analysis", "metrics", 0)``."""

MAX_FILE_BYTES = 20 * 1024 * 1024
"""Files larger than this are reported, not parsed (manifests are far smaller)."""
MAX_NODES = 200_000
"""Most YAML nodes a document may expand to (aliases counted each time they are used): stops alias bombs."""
MAX_DEPTH = 100
"""Deepest nesting accepted in a document (manifests nest a dozen levels)."""

_SUFFIXES = (".yaml", ".yml")


class YamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader reading YAML as Kubernetes does: timestamps stay strings."""


YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class ReadError:
    """A file, or a document in it, that could not be read as YAML."""

    file: str
    """The file, as given or found under a given directory."""
    message: str
    """What went wrong, in words."""
    line: int | None = None
    """1-based line of the problem, when known."""
    document: int | None = None
    """1-based index of the document in the file, when known."""


@dataclass
class Document:
    """One YAML document of a file: the object, where its fields are, and its text span."""

    file: str
    """The file, as given or found under a given directory."""
    index: int
    """1-based position of the document in the file (empty documents count)."""
    obj: Any
    """The document's content: usually a dict; None for an empty document."""
    start: int
    """Character offset of the document's content in the file's text."""
    end: int
    """Character offset just after the document's content."""
    lines: dict[FieldPath, int] = field(default_factory=dict)
    """1-based line of each field (mapping key) and list item."""
    duplicates: list[tuple[FieldPath, int, int]] = field(default_factory=list)
    """Keys written twice in one mapping: (path, first line, repeated line)."""
    spans: dict[FieldPath, tuple[int, int]] = field(default_factory=dict)
    """Text span (start, end offsets in the file) of each scalar value, by its path."""
    key_spans: dict[FieldPath, tuple[int, int]] = field(default_factory=dict)
    """Text span of each mapping key, by the path of the field it names."""

    def line_of(self, path: FieldPath) -> int | None:
        """The line of ``path``, else of its closest parent that has one, else of the document."""
        for cut in range(len(path), -1, -1):
            line = self.lines.get(path[:cut])
            if line is not None:
                return line
        return None


@dataclass
class FileDocuments:
    """Everything read from one file: its text, its documents, and what could not be read."""

    file: str
    """The file, as given or found under a given directory."""
    path: Path
    """The file on disk."""
    text: str | None = None
    """The whole text (None when unreadable)."""
    documents: list[Document] = field(default_factory=list)
    """The documents read, in order (a YAML error stops the file there)."""
    errors: list[ReadError] = field(default_factory=list)
    """Why (part of) the file could not be read."""


def collect_files(paths: Sequence[str]) -> tuple[list[tuple[str, Path]], list[ReadError]]:
    """The files to read: each file argument itself, each directory's ``*.yaml``/``*.yml`` recursively.

    Hidden directories (``.git``, ...) under a directory are skipped; files
    come out in a stable sorted order. Each entry is ``(display name, path)``,
    the display name being the path as the user wrote it joined with the file's
    place below it. Paths that do not exist are returned as errors.
    """
    found: list[tuple[str, Path]] = []
    errors: list[ReadError] = []
    seen: set[Path] = set()
    for arg in paths:
        root = Path(arg)
        if root.is_dir():
            for directory, dirnames, filenames in os.walk(root):
                dirnames[:] = sorted(name for name in dirnames if not name.startswith("."))
                for name in sorted(filenames):
                    if name.endswith(_SUFFIXES):
                        path = Path(directory) / name
                        _add(found, seen, str(path), path)
        elif root.exists() or root.is_symlink():
            _add(found, seen, arg, root)
        else:
            errors.append(ReadError(arg, "no such file or directory"))
    return found, errors


def _add(found: list[tuple[str, Path]], seen: set[Path], name: str, path: Path) -> None:
    try:
        key = path.resolve()
    except (OSError, RuntimeError):
        key = path.absolute()
    if key not in seen:
        seen.add(key)
        found.append((name, path))


def read_documents(name: str, path: Path) -> FileDocuments:
    """Read one file's YAML documents; problems become :class:`ReadError` entries, never exceptions."""
    result = FileDocuments(file=name, path=path)
    try:
        if path.is_dir():
            result.errors.append(ReadError(name, "is a directory, not a file"))
            return result
        if path.exists() and not path.is_file():  # a device, a FIFO, a socket (or a link to one): may never end
            result.errors.append(ReadError(name, "is not a regular file"))
            return result
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            result.errors.append(ReadError(name, f"file too large ({size} bytes; at most {MAX_FILE_BYTES})"))
            return result
        with path.open("rb") as file:  # (it may have grown since: read no more than the limit allows)
            raw = file.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            result.errors.append(ReadError(name, f"file too large (over {MAX_FILE_BYTES} bytes)"))
            return result
    except OSError as error:
        result.errors.append(ReadError(name, f"cannot read the file: {error.strerror or error}"))
        return result
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        result.errors.append(ReadError(name, f"not a UTF-8 text file (undecodable byte at offset {error.start})"))
        return result
    result.text = text
    documents, errors = load_yaml_text(name, text)
    result.documents = documents
    result.errors = errors
    return result


def load_yaml_text(name: str, text: str) -> tuple[list[Document], list[ReadError]]:
    """Every document of ``text``; the first YAML error ends the list and is returned as a ReadError."""
    documents: list[Document] = []
    errors: list[ReadError] = []
    index = 0
    loader: YamlLoader | None = None
    try:
        loader = YamlLoader(text)
        while loader.check_node():
            index += 1
            node = loader.get_node()
            if node is None:  # pragma: no cover - check_node() said there is one
                break
            problem = _too_big(node)
            if problem:
                errors.append(ReadError(name, problem, node.start_mark.line + 1, index))
                break
            document = Document(file=name, index=index, obj=None, start=node.start_mark.index, end=node.end_mark.index)
            document.lines[()] = node.start_mark.line + 1
            _index(node, (), document, is_root=True)
            document.obj = _stringify_keys(loader.construct_document(node))
            documents.append(document)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        errors.append(ReadError(name, f"invalid YAML: {_yaml_reason(error)}", line, index or None))
    except RecursionError:
        errors.append(ReadError(name, "invalid YAML: nested too deeply", None, index or None))
    finally:
        if loader is not None:
            loader.dispose()
    return documents, errors


def _yaml_reason(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError):
        parts = [part for part in (error.context, error.problem) if part]
        if parts:
            return ", ".join(parts)
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _too_big(root: yaml.Node) -> str | None:
    """Why a document is refused before it is built (alias bombs, recursive aliases, deep nesting), or None."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node, depth: int) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise _Refused("a recursive alias (an anchor used inside itself)")
        if depth > MAX_DEPTH:
            raise _Refused(f"nested more than {MAX_DEPTH} levels deep")
        active.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                total += size(key_node, depth + 1) + size(value_node, depth + 1)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                total += size(item, depth + 1)
        active.discard(key)
        if total > MAX_NODES:
            raise _Refused(f"the document expands to more than {MAX_NODES} values (aliases counted each time)")
        sizes[key] = total
        return total

    try:
        size(root, 0)
    except _Refused as refused:
        return f"document refused: {refused}"
    return None


class _Refused(Exception):
    """Internal: a document too big or recursive to build."""


def _key_text(node: yaml.Node) -> str | None:
    if isinstance(node, yaml.ScalarNode):
        return str(node.value)
    return None


def _index(node: yaml.Node, path: FieldPath, document: Document, is_root: bool = False) -> None:
    """Record the line of every field below ``node``, scalar spans, and duplicate keys."""
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = _key_text(key_node)
            if key is None or key == "<<":
                continue
            line = key_node.start_mark.line + 1
            child = (*path, key)
            if key in first_line:
                document.duplicates.append((child, first_line[key], line))
            else:
                first_line[key] = line
                document.lines[child] = line
                document.key_spans[child] = (key_node.start_mark.index, key_node.end_mark.index)
            _index(value_node, child, document)
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            child = (*path, position)
            document.lines[child] = item.start_mark.line + 1
            _index(item, child, document)
    elif isinstance(node, yaml.ScalarNode) and not is_root:
        document.spans[path] = (node.start_mark.index, node.end_mark.index)


def _stringify_keys(value: Any) -> Any:
    """Mapping keys as strings, as Kubernetes' YAML-to-JSON conversion makes them (``1`` → ``"1"``)."""
    if isinstance(value, dict):
        return {_key(key): _stringify_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_stringify_keys(item) for item in value]
    return value


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)
