"""``python -m canary.cli``: the same as ``python -m canary`` and the ``canary`` command."""

import sys

from canary.cli import main

sys.exit(main())
