"""The ``canary validate`` and ``canary convert`` subcommands, on manifests in a Git checkout.

:func:`register` adds both to the ``canary`` command; each sets ``func`` to a
function of the parsed arguments that returns the exit code and never lets an
exception through (bad input is reported, not traced back).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

from canary.cli.args import Command, Subparsers
from canary.gitops.convert import convert_paths, write_conversion
from canary.gitops.findings import to_json
from canary.gitops.validate import validate_paths
from canary.models.support import DEFAULT_PROVIDER

__all__ = ["register", "run_convert", "run_validate"]

EXIT_OK = 0
EXIT_FAILED = 1


def _guarded(run: Command) -> Command:
    """``run`` with every unexpected exception turned into a one-line message and exit code 1."""

    def guarded(args: argparse.Namespace) -> int:
        for stream in (sys.stdout, sys.stderr):
            # a manifest may hold text the terminal's encoding cannot show (a lone surrogate escape): show it
            # escaped rather than lose every later finding to an encoding error
            if isinstance(stream, io.TextIOWrapper):
                stream.reconfigure(errors="backslashreplace")
        try:
            return run(args)
        except KeyboardInterrupt:
            return 130
        except BrokenPipeError:
            return EXIT_FAILED
        except Exception as error:
            print(f"canary {getattr(args, 'command', '')}: internal error: {error!r}", file=sys.stderr)
            return EXIT_FAILED

    guarded.__doc__ = run.__doc__
    return guarded


def run_validate(args: argparse.Namespace) -> int:
    """``canary validate``: print every finding (text or JSON); exit 1 when there is an error."""
    report = validate_paths(args.paths, default_provider=args.provider)
    if args.format == "json":
        print(json.dumps(to_json(report.findings), indent=2))
        print(report.summary(), file=sys.stderr)
    else:
        for finding in report.findings:
            print(finding)
        print(report.summary())
    return EXIT_OK if report.ok else EXIT_FAILED


def run_convert(args: argparse.Namespace) -> int:
    """``canary convert``: converted YAML to stdout (or written), what does not carry over to stderr."""
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        print(f"canary convert: --out {args.out} exists and is not a directory", file=sys.stderr)
        return EXIT_FAILED
    conversion = convert_paths(args.paths, default_provider=args.provider)
    if args.write or args.out:
        out_dir = Path(args.out) if args.out else None
        for path in write_conversion(conversion, out_dir, args.paths):
            print(f"wrote {path}", file=sys.stderr)
    elif conversion.files:
        sys.stdout.write(conversion.output())
    for finding in conversion.findings:
        print(finding, file=sys.stderr)
    files = len(conversion.files)
    print(
        f"converted {conversion.objects} Flagger object{'s' if conversion.objects != 1 else ''} "
        f"in {files} file{'s' if files != 1 else ''}; "
        f"{len(conversion.problems)} problem{'s' if len(conversion.problems) != 1 else ''} "
        "in the converted objects",
        file=sys.stderr,
    )
    if conversion.read_errors:
        return EXIT_FAILED
    if args.strict and conversion.problems:
        return EXIT_FAILED
    return EXIT_OK


def _add_paths(parser: argparse.ArgumentParser) -> None:
    """The manifests both commands read."""
    parser.add_argument("paths", nargs="+", metavar="PATH", help="YAML file, or directory searched for *.yaml/*.yml")


def _add_provider(parser: argparse.ArgumentParser) -> None:
    """``--provider``: both commands judge a Canary without ``spec.provider`` by the controller's default."""
    parser.add_argument(
        "--provider",
        default=DEFAULT_PROVIDER,
        help=f"the controller's default mesh provider, for Canaries without spec.provider (default {DEFAULT_PROVIDER})",
    )


def register(subparsers: Subparsers) -> None:
    """Add the ``validate`` and ``convert`` subcommands to the ``canary`` command."""
    validate = subparsers.add_parser(
        "validate",
        help="check Canary, MetricTemplate and AlertProvider manifests (files or directories)",
        description="Check canary.dev manifests before they are merged: the CRD schema, the rules the "
        "controller enforces, MetricTemplate references and PromQL. Exit 1 on any error.",
    )
    _add_paths(validate)
    validate.add_argument("--format", choices=["text", "json"], default="text", help="output format (default text)")
    _add_provider(validate)
    validate.set_defaults(func=_guarded(run_validate))

    convert = subparsers.add_parser(
        "convert",
        help="rewrite Flagger manifests (flagger.app/v1beta1) to canary.dev/v1beta1",
        description="Convert Flagger Canary, MetricTemplate and AlertProvider manifests. Other documents are "
        "kept as they are. What does not carry over is reported on stderr.",
    )
    _add_paths(convert)
    where = convert.add_mutually_exclusive_group()
    where.add_argument("--write", action="store_true", help="rewrite the files in place")
    where.add_argument("--out", metavar="DIR", help="write the converted files below DIR (same layout)")
    convert.add_argument(
        "--strict", action="store_true", help="exit 1 when something does not carry over (refused or ignored)"
    )
    _add_provider(convert)
    convert.set_defaults(func=_guarded(run_convert))
