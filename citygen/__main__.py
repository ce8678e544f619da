"""``python -m citygen``."""

import sys

from citygen.cli import main

sys.exit(main())
