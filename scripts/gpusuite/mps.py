"""mps: slices co-running through MPS (issue 15).  No steps yet.

Its steps run in the `mps` phase (registry.PHASES); add them to AREA.steps as
Step(key, "mps", method, needs=..., summary=...) with the methods on Mps.
"""

from . import core
from .registry import AreaSpec


class Mps(core.Area):
    pass


AREA = AreaSpec("mps", Mps, summary="slices co-running through MPS (no steps yet)", steps=[])
