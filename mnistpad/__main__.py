"""`python -m mnistpad` is the `mnistpad` command."""

import sys

from .launch import main

if __name__ == "__main__":
    sys.exit(main())
