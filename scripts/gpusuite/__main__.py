"""python3 -m gpusuite (with scripts/ on PYTHONPATH): see runner.py and docs/GPU-SUITE.md."""
import sys

from .runner import main

sys.exit(main())
