"""The ``canary`` command: one parser, one module per command group.

Each module below registers its subcommands the same way, with
``register(subparsers)`` (the contract is in :mod:`canary.cli.args`), and
:func:`build_parser` calls them in the order ``canary --help`` lists them:

- :mod:`~canary.cli.controller`: ``controller``, the controller itself;
- :mod:`~canary.cli.crds`: ``crds``, the CRDs generated from the models;
- :mod:`~canary.cli.demo`: ``demo``, a rollout in the local testbed;
- :mod:`~canary.cli.manual`: ``approve``, ``abort``, ``retry``, ``suspend``,
  ``resume`` (annotations the controller honours), ``status`` and ``list``;
- :mod:`~canary.cli.gitops`: ``validate`` and ``convert``, on manifests in Git;
- :mod:`~canary.cli.report`: ``report``, a rollout drawn from Prometheus.

Heavy dependencies (the operator, matplotlib, the testbed) are imported only
by the command that runs them.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

__all__ = ["build_parser", "main"]

DESCRIPTION = "The ``canary`` command: run the controller, rehearse a rollout, generate CRDs, check manifests."
"""What ``canary --help`` says the command is for."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``canary`` command, every group's subcommands registered."""
    from canary.cli import controller, crds, demo, gitops, manual, report

    parser = argparse.ArgumentParser(prog="canary", description=DESCRIPTION)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for register in (
        controller.register,
        crds.register,
        demo.register,
        manual.register,
        gitops.register,
        report.register,
    ):
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``canary`` command: the exit code of the subcommand run."""
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result
