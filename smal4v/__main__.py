"""``python -m smal4v``: the same as the ``smal4v`` console command."""

import sys

from smal4v.cli import main

sys.exit(main())
