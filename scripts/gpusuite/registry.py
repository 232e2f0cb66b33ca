"""The registry of areas, phases and steps.

An area (memory, nvml, compute, ...) is a module of this package that defines AREA, an
AreaSpec: its name, its class (a core.Area subclass whose methods are the steps) and its
steps in order.  A step names the phase it runs in, the method that runs it, a selection
key (`--only compute:caps` runs the compute steps keyed `caps`, plus the steps they
require), an estimate of the seconds it needs, and whether `--reps N` repeats it.

Phases run in PHASES order, each with its own coordinator (or none); within a phase the
areas run in AREAS order, and each area's steps in their own order.  To add an area: write
gpusuite/<name>.py with AREA = AreaSpec(...), add <name> to AREAS, and describe it in
docs/GPU-SUITE.md.  A new phase (another coordinator configuration) goes into PHASES.
"""

import importlib
from dataclasses import dataclass, field

# The areas in run order within a phase; each is the module gpusuite/<name>.py.
AREAS = ["memory", "compute", "nvml", "multigpu", "mps"]


@dataclass(frozen=True)
class Phase:
    """A coordinator configuration: policy None means no coordinator and no shim."""
    name: str
    policy: str = None
    unmanaged_kill: bool = False   # start it with the unmanaged-process policy `kill`
    multi_gpu: bool = False        # under --fake: simulate --fake-multi-gpus, not --fake-gpus
    mps: bool = False              # GPU 0 shared through MPS (--mps 0): the coordinator runs its
                                   # MPS control daemon; the daemon is quit after the phase
    needs: float = 30.0            # seconds a phase needs to be worth starting
    summary: str = ""


PHASES = [
    Phase("baseline", None, needs=0.0,
          summary="no coordinator, no shim: the reference figures"),
    Phase("cap", "cap", summary="--sm-policy cap: memory checks, single jobs capped"),
    Phase("nvml", "cap", unmanaged_kill=True,
          summary="--sm-policy cap, unmanaged-process policy kill: NVML checks"),
    Phase("share", "share", summary="--sm-policy share: pairs, efficiency, hand-off, PyTorch"),
    Phase("multigpu", "share", multi_gpu=True,
          summary="--sm-policy share on every GPU: multi-GPU checks"),
    Phase("mps", "share", mps=True,
          summary="--sm-policy share, GPU 0 shared through MPS (--mps 0): MPS checks"),
]
PHASE_BY_NAME = {p.name: p for p in PHASES}


@dataclass(frozen=True)
class Step:
    key: str                 # the selection key: --only AREA:KEY
    phase: str               # a Phase name
    method: str              # the method of the area's class that runs it
    needs: float = 10.0      # seconds it takes about (the budget and --dry-run use it)
    repeat: bool = False     # repeated by --reps N (measurements; correctness checks run once)
    requires: tuple = ()     # keys of this area that must run too (baselines)
    summary: str = ""


@dataclass
class AreaSpec:
    name: str
    cls: type
    steps: list = field(default_factory=list)
    summary: str = ""

    def keys(self):
        out = []
        for s in self.steps:
            if s.key not in out:
                out.append(s.key)
        return out


def load_areas(names=None):
    """{name: AreaSpec} of the registered areas (all, or those named), in AREAS order."""
    out = {}
    for name in AREAS:
        if names is not None and name not in names:
            continue
        module = importlib.import_module(f"{__package__}.{name}")
        spec = module.AREA
        if spec.name != name:
            raise ValueError(f"gpusuite/{name}.py defines AREA {spec.name!r}")
        for s in spec.steps:
            if s.phase not in PHASE_BY_NAME:
                raise ValueError(f"{name}:{s.key} names an unknown phase {s.phase!r}")
        out[name] = spec
    return out


class SelectionError(ValueError):
    pass


def parse_only(text):
    """'memory,compute:caps+pairs' -> {"memory": None, "compute": {"caps", "pairs"}}.

    None means the whole area; an empty text selects every area.  Raises SelectionError
    for an unknown area (the keys are checked by select, which knows the steps).
    """
    if not text or not text.strip():
        return {name: None for name in AREAS}
    chosen = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        area, _, keys = item.partition(":")
        if area not in AREAS:
            raise SelectionError(f"unknown area {area!r} (areas: {', '.join(AREAS)})")
        if not keys:
            chosen[area] = None
        elif chosen.get(area, set()) is not None:
            chosen.setdefault(area, set()).update(k for k in keys.split("+") if k)
    return chosen


def select(areas, chosen):
    """The steps to run as [(AreaSpec, Step)] in run order (phases, then areas, then steps)."""
    picked = []
    for name, spec in areas.items():
        if name not in chosen:
            continue
        keys = chosen[name]
        if keys is not None:
            unknown = keys - set(spec.keys())
            if unknown:
                raise SelectionError(f"{name} has no step {', '.join(sorted(unknown))} "
                                     f"(its steps: {', '.join(spec.keys())})")
            todo, keys = list(keys), set()
            while todo:
                k = todo.pop()
                if k in keys:
                    continue
                keys.add(k)
                for s in spec.steps:
                    if s.key == k:
                        todo.extend(s.requires)
        for s in spec.steps:
            if keys is None or s.key in keys:
                picked.append((spec, s))
    order = {p.name: i for i, p in enumerate(PHASES)}
    area_order = {n: i for i, n in enumerate(AREAS)}
    indexed = list(enumerate(picked))
    indexed.sort(key=lambda x: (order[x[1][1].phase], area_order[x[1][0].name], x[0]))
    return [p for _, p in indexed]
