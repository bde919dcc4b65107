"""Where the testbed's demo finds :func:`render_status`; the day-2 commands are in :mod:`canary.cli.manual`.

``canary.sandbox.demo`` imports ``render_status`` from here. This module goes
when the testbed moves to its own package and imports it from
:mod:`canary.cli.manual` instead.
"""

from __future__ import annotations

from canary.cli.manual import render_list, render_status

__all__ = ["render_list", "render_status"]
