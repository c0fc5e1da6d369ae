"""``python -m bridge``: the same CLI as the ``icbridge`` console script."""

import sys

from bridge.cli import main

sys.exit(main())
