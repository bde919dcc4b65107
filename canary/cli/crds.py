"""``canary crds``: write the CRD YAML generated from the models."""

from __future__ import annotations

import argparse
from pathlib import Path

from canary.cli.args import Subparsers

__all__ = ["register"]


def _crds(args: argparse.Namespace) -> int:
    from canary.models.crdgen import write

    for path in write(Path(args.out)):
        print(path)
    return 0


def register(subparsers: Subparsers) -> None:
    """Add ``crds`` to the ``canary`` command."""
    crds = subparsers.add_parser("crds", help="write the CRDs generated from the models")
    crds.add_argument("--out", default="crds", help="output directory (default: crds)")
    crds.set_defaults(func=_crds)
