"""The optional extras of the ``canary`` distribution, and the one line a command says when one is missing.

``pip install canary`` gives the controller and its CLI. Two commands need
more: ``canary demo`` runs the local testbed (extra ``testbed``: the emulated
API server's kmock) and ``canary report`` draws PNGs (extra ``report``:
matplotlib). Each imports what it needs when it runs, through
:func:`import_extra`, so a missing extra is a clear line, not a traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["EXTRAS", "MissingExtra", "import_extra"]

EXTRAS: dict[str, tuple[str, ...]] = {
    "testbed": ("kmock", "kubeemu", "canary_testbed"),
    "report": ("matplotlib",),
}
"""Each extra and the top-level modules it makes importable."""


class MissingExtra(ImportError):
    """A command needs an extra that is not installed; the message says which and how to install it."""


def import_extra(module: str, extra: str, command: str) -> ModuleType:
    """Import ``module`` for ``command``; MissingExtra naming ``extra`` when one of its modules is absent.

    Only a missing module of that extra becomes MissingExtra: any other
    ImportError is a real defect and propagates as it is.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in EXTRAS[extra]:
            raise
        raise MissingExtra(
            f"{command} needs the '{extra}' extra ({error.name} is not installed): pip install 'canary[{extra}]'"
        ) from None
