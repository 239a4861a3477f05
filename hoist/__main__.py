"""``python -m hoist``: the same command as the ``hoist`` script."""

import sys

from hoist.cli import main

sys.exit(main())
