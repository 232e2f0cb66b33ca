"""multigpu: nodes of several GPUs (issue 14).

Needs two or more GPUs; on one GPU every step records `needs >= 2 GPUs` and runs nothing.
"""

from . import core
from .core import nvidia_smi_gpus
from .registry import AreaSpec, Step


class MultiGpu(core.Area):
    def __init__(self, ctx):
        super().__init__(ctx)
        self.gpus = None

    def gpu_count(self):
        if self.gpus is None:
            if self.fake:
                self.gpus = len([g for g in self.ctx.fake_gpus.split(",") if g.strip()])
            else:
                self.gpus = len(nvidia_smi_gpus())
        return self.gpus

    def enough_gpus(self, key):
        n = self.gpu_count()
        if n >= 2:
            return True
        self.results.add("multigpu", f"{key}.skipped", None, n, ">=2", "gpus",
                         f"needs >= 2 GPUs; this machine has {n}")
        return False

    def count(self):
        if self.enough_gpus("gpus"):
            self.results.add("multigpu", "gpus", None, self.gpu_count(), ">=2", "gpus")


AREA = AreaSpec("multigpu", MultiGpu, summary="several GPUs: placement, per-GPU limits", steps=[
    Step("gpus", "multigpu", "count", needs=1, summary="how many GPUs this node has"),
])
