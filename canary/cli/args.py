"""What every command module of :mod:`canary.cli` shares: the registration contract and argument types.

A command module registers its subcommands with ``register(subparsers)``: it
adds one parser per subcommand and sets ``func`` to a :data:`Command`, the
function :func:`canary.cli.main` calls with the parsed arguments and whose
answer is the exit code. A module imports what only its commands need inside
those functions, so building the parser stays cheap.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TypeAlias

__all__ = ["Command", "Subparsers", "positive", "whole"]

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What ``ArgumentParser.add_subparsers`` answers: each module's ``register`` adds its subcommands to it."""

Command: TypeAlias = Callable[[argparse.Namespace], int]
"""A subcommand: the parsed arguments in, the exit code out."""


def whole(low: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"must be a whole number >= {low}, got {text!r}")
        return value

    return parse


def positive(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value
