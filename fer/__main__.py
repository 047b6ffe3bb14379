"""`python -m fer ...`: see fer.cli."""
import sys

from fer.cli import main

sys.exit(main())
