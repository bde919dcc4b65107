"""``python -m canary``: the same as the ``canary`` command."""

import sys

from canary.cli import main

sys.exit(main())
