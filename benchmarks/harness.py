"""Timing, checking and bookkeeping shared by every workload.

A workload is a :class:`Case`: a ``setup(quick)`` returning its data (a dict)
and a list of :class:`Impl`, one per tool.  ``Impl.build(data)`` returns a
zero-argument callable that computes the workload's quantity (a gradient, a
Hessian...) with that tool, or, for ``kind="primal"``, the function being
differentiated (used for the gradient-to-primal ratio).  ``build`` raises
:class:`Unsupported` (or anything else) when the tool cannot do it; that is
recorded, never papered over.
"""
import dataclasses
import gc
import statistics
import time
import traceback
from typing import Any, Callable, Optional

import numpy as np

# Tools, in the order rows are printed.
TOOLS = {
    "tangent2": "tangent2 (Python)",
    "tangent2.jit": "tangent2.jit",
    "jax": "JAX (jax.jit)",
    "torch": "torch.func (eager)",
    "autograd": "HIPS autograd",
    "numpy": "NumPy by hand",
}
PEER_OF_TOOL = {"jax": "jax", "torch": "torch", "autograd": "autograd"}


class Unsupported(Exception):
    """The tool cannot compute this workload (the message says why)."""


@dataclasses.dataclass
class Built:
    """What ``Impl.build`` may return instead of a bare callable."""
    call: Callable[[], Any]
    source: Any = None                # the generated source (tangent2), or a callable giving it after the first call
    jitted: Any = None                # the tangent2 JitFunction (for its cache statistics)
    note: str = ""                    # how it was built, when not the obvious way
    raw: Optional[Callable[[], Callable[[], Any]]] = None   # after the first call: the bare compiled function


@dataclasses.dataclass
class Impl:
    tool: str                          # a key of TOOLS
    build: Callable[[dict], Any]       # data -> callable or Built
    kind: str = "grad"                 # "grad" (the workload's quantity) or "primal"
    variant: str = ""                  # shown after the tool's name: "vmap of the scalar derivative", "parallel"
    quick: bool = True                 # run it under --quick (False: compile too slow for a smoke test)
    cache_load: bool = False           # time loading this one from TANGENT2_CACHE_DIR in a second process

    @property
    def label(self):
        return TOOLS[self.tool] + (f" [{self.variant}]" if self.variant else "")


@dataclasses.dataclass
class Case:
    name: str
    title: str
    group: str
    setup: Callable[[bool], dict]
    impls: list
    size: Callable[[bool], str] = lambda quick: ""
    rtol: float = 1e-6                 # for the check against the reference
    notes: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Result:
    case: str
    tool: str
    label: str
    kind: str
    status: str                        # "ok", "skipped", "unsupported", "failed", "mismatch"
    reason: str = ""
    first_s: float = float("nan")     # building the callable + its first call (tracing/compiling included)
    median_s: float = float("nan")
    q1_s: float = float("nan")
    q3_s: float = float("nan")
    min_s: float = float("nan")
    max_s: float = float("nan")
    calls: int = 0
    error: float = float("nan")       # largest relative difference from the reference
    source_lines: int = 0
    note: str = ""
    cache_load_s: float = float("nan")
    raw_s: float = float("nan")       # the Numba dispatcher alone on the flat arguments (tangent2.jit)
    cache_stats: Any = None
    value: Any = dataclasses.field(default=None, repr=False)
    jitted: Any = dataclasses.field(default=None, repr=False)

    @property
    def timed(self):
        return self.status in ("ok", "mismatch") and self.median_s == self.median_s


# --------------------------------------------------------------------------- timing
def measure(call, quick, budget_s=None):
    """``(result, first_s, samples)``: the first call timed alone, then ``repeats`` samples of ``number`` calls.

    Each sample is long enough (>= 40 ms, 2 ms under --quick) to swamp the timer;
    the total is capped near ``budget_s`` (calls slower than that are timed 3 times).
    The garbage collector is off while sampling, as in ``timeit``.
    """
    start = time.perf_counter()
    result = call()
    first = time.perf_counter() - start
    start = time.perf_counter()
    call()
    one = max(time.perf_counter() - start, 1e-7)
    repeats, target = (3, 0.002) if quick else (11, 0.04)
    budget_s = budget_s if budget_s is not None else (0.05 if quick else 2.0)
    number = max(1, int(target / one))
    while repeats > 3 and repeats * number * one > budget_s:
        if number > 1:
            number = max(1, number // 2)
        else:
            repeats -= 2
    samples = []
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(number):
                call()
            samples.append((time.perf_counter() - start) / number)
    finally:
        if enabled:
            gc.enable()
    return result, first, samples, number


def summarize(samples):
    ordered = sorted(samples)
    if len(ordered) >= 4:
        q = statistics.quantiles(ordered, n=4)
        q1, q3 = q[0], q[2]
    else:
        q1, q3 = ordered[0], ordered[-1]
    return dict(median_s=statistics.median(ordered), q1_s=q1, q3_s=q3, min_s=ordered[0], max_s=ordered[-1])


# --------------------------------------------------------------------------- checking
def flatten(value):
    """One float64 vector from a result of any tool (arrays, tensors, scalars, tuples, lists, dicts)."""
    out = []

    def visit(v):
        if isinstance(v, dict):
            for key in sorted(v, key=str):
                visit(v[key])
        elif isinstance(v, (tuple, list)):
            for item in v:
                visit(item)
        elif hasattr(v, "detach") and hasattr(v, "numpy"):      # a torch tensor
            out.append(np.asarray(v.detach().numpy(), dtype=np.float64).ravel())
        else:
            out.append(np.asarray(v, dtype=np.float64).ravel())

    visit(value)
    return np.concatenate(out) if out else np.zeros(0)


def relative_error(value, reference):
    a, b = flatten(value), flatten(reference)
    if a.shape != b.shape:
        return float("inf")
    scale = max(1.0, float(np.max(np.abs(b))) if b.size else 1.0)
    return float(np.max(np.abs(a - b))) / scale if a.size else 0.0


def first_line(error):
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:300]


def run_impl(case, impl, data, quick, skip_reason=None):
    """Build and time one implementation; every failure becomes a Result saying why."""
    result = Result(case=case.name, tool=impl.tool, label=impl.label, kind=impl.kind, status="ok")
    if skip_reason:
        result.status, result.reason = "skipped", skip_reason
        return result
    start = time.perf_counter()
    try:
        built = impl.build(data)
    except Unsupported as error:
        result.status, result.reason = "unsupported", str(error)
        return result
    except Exception as error:  # noqa: BLE001  a tool that cannot build it is reported, not hidden
        result.status, result.reason = "unsupported", first_line(error)
        return result
    if not isinstance(built, Built):
        built = Built(call=built)
    build_s = time.perf_counter() - start
    result.note = built.note
    try:
        value, first, samples, number = measure(built.call, quick)
    except Exception as error:  # noqa: BLE001
        result.status = "unsupported" if _is_compile_error(error) else "failed"
        result.reason = first_line(error)
        if result.status == "failed":
            traceback.print_exc(limit=-2)
        return result
    result.value = value
    result.first_s = build_s + first          # building may already compile (tangent2_jit_primal does)
    result.calls = len(samples) * number
    for key, number in summarize(samples).items():
        setattr(result, key, number)
    result.jitted = built.jitted
    source = built.source() if callable(built.source) else built.source
    if source:
        result.source_lines = sum(1 for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#"))
    if built.raw is not None:
        try:
            raw = built.raw()
            if raw is not None:
                _, _, samples, _ = measure(raw, quick)
                result.raw_s = summarize(samples)["median_s"]
        except Exception:  # noqa: BLE001  the probe is evidence for the notes, never a result
            pass
    return result


def _is_compile_error(error):
    name = type(error).__name__
    module = type(error).__module__ or ""
    return name == "CompilationError" or module.startswith("numba")
