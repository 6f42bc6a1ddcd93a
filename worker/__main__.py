"""`python -m worker [--once]`: see worker/main.py."""

import sys

from worker.main import main

sys.exit(main())
