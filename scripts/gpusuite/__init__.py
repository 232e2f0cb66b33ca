"""softmig's GPU suite as a package: core (runner, coordinator, results), one module per area.

See registry.py for how areas, phases and steps fit together, and docs/GPU-SUITE.md.
"""
