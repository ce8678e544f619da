"""``python -m citygen.cli``."""

import sys

from citygen.cli import main

sys.exit(main())
