"""python3 -m mimicmem_report ...: the tool's entry point."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
