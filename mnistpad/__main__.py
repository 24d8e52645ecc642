"""`python -m mnistpad` is the `mnistpad` command."""

import sys

from .cli import main

sys.exit(main())
