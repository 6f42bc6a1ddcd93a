"""`python -m services <command>`: the shell's entry point (the commands live in services/cli/)."""

import sys

from services.cli.main import main

sys.exit(main())
