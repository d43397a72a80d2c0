"""Small helpers to build each tool's callables the same way in every workload."""
import numpy as np

from benchmarks import peers
from benchmarks.harness import Built, Unsupported


def tangent2_python(derivative, *args):
    """A tangent2 Derivative called in Python mode (the generated NumPy code, uncompiled)."""
    return Built(lambda: derivative(*args), source=lambda: _source(derivative, args))


def tangent2_jit(derivative, *args, target="cpu"):
    """``tg.jit(derivative)`` called on ``args``."""
    import tangent2 as tg
    jitted = tg.jit(derivative, target=target)
    return Built(lambda: jitted(*args), source=lambda: _source(derivative, args), jitted=jitted,
                 raw=lambda: _raw_dispatcher(derivative, jitted, args))


def _raw_dispatcher(derivative, jitted, args):
    """The Numba dispatcher tg.jit compiled, called on the flat leaves it receives (no tree handling):
    what a call costs without tangent2.jit's per-call work.  None when that is not a plain gradient."""
    from tangent2 import derivative as dv
    if derivative.kind != "grad" or derivative.has_aux or len(jitted.dispatchers) != 1:
        return None
    complete = dv.complete_arguments(derivative.target, args)
    leaves = dv._flatten_args(complete)
    dispatcher = jitted.dispatchers[0]
    dispatcher(*leaves)
    return lambda: dispatcher(*leaves)


def tangent2_jit_vmap(vmapped, *args, target="cpu"):
    """``tg.jit(tg.vmap(...))``; if tg.jit refuses vmap Derivatives, the generated batch loop compiled directly.

    The fallback compiles the very function ``tg.vmap`` generated (found through
    the Derivative's internal ``_plan``) with ``tg.jit`` as a plain function, and
    says so in the result's note.
    """
    import tangent2 as tg
    from tangent2.errors import TangentError
    try:
        jitted = tg.jit(vmapped, target=target)
    except TangentError as error:
        refusal = str(error).splitlines()[0]
    else:
        return Built(lambda: jitted(*args), source=lambda: _source(vmapped, args), jitted=jitted)
    from tangent2 import derivative as dv
    if any(not isinstance(a, (np.ndarray, float, int)) for a in args):
        raise Unsupported(f"tg.jit(tg.vmap(...)): {refusal}")
    plan = vmapped._plan(args)
    jitted = tg.jit(plan.function, target=target)
    leaves = dv._flatten_args(args)
    return Built(lambda: jitted(*leaves), source=plan.source, jitted=jitted,
                 note=f"tg.jit(tg.vmap(...)) refused ({refusal}); timed: the generated batch loop "
                      "(Derivative._plan(args).function) compiled with tg.jit as a plain function")


def _source(derivative, args):
    """The generated source that runs for ``args`` (the plan for their structure), for the profiling notes."""
    from tangent2 import derivative as dv
    try:
        if derivative.kind == "hvp":
            args = args[:-1]
        if derivative.kind != "vmap":
            args = dv.complete_arguments(derivative.target, args)
        return derivative._plan(args).source
    except Exception:  # noqa: BLE001  the source is only used for the profiling notes
        try:
            return derivative.source
        except Exception:  # noqa: BLE001
            return None


def need(name):
    module = peers.load(name)
    if module is None:
        raise Unsupported(f"{name} is not importable: {peers.skipped(name)}")
    return module


def jax_call(function, *args):
    """``function`` (already jax.jit-ed) called on device copies of ``args``; waits for the result."""
    jax = need("jax")
    import jax.numpy as jnp
    device_args = jax.tree_util.tree_map(lambda a: jnp.asarray(a) if isinstance(a, np.ndarray) else a, args)
    return lambda: jax.block_until_ready(function(*device_args))


def torch_tensors(tree):
    """NumPy arrays (in tuples, lists, dicts) as float64 torch tensors; other leaves unchanged."""
    torch = need("torch")
    if isinstance(tree, dict):
        return {k: torch_tensors(v) for k, v in tree.items()}
    if isinstance(tree, (tuple, list)):
        return type(tree)(torch_tensors(v) for v in tree)
    if isinstance(tree, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(tree))
    return tree


def torch_call(function, *args):
    torch = need("torch")
    targs = torch_tensors(args)

    def call():
        with torch.no_grad():  # torch.func transforms do their own tracking; no autograd graph outside
            return function(*targs)
    return call


def tangent2_jit_primal(function, *args):
    """The compiled primal, for the gradient-to-primal ratio: ``tg.jit(function)``.

    When Numba cannot compile the user's function as it is (it calls another
    user function, or a tangent2 transformation), the primal tangent2 itself
    generates for the derivative (user calls inlined, transformations
    resolved; the internal ``Derivative(f, "primal")``) is compiled with
    ``tg.jit`` instead, and the result's note says so.
    """
    import tangent2 as tg
    from tangent2 import derivative as dv
    jitted = tg.jit(function, cache=False)   # a user function's Numba cache would live next to its source
    try:
        jitted(*args)
    except Exception as error:  # noqa: BLE001  the reason goes into the note
        refusal = str(error).splitlines()[0]
    else:
        return Built(lambda: jitted(*args), jitted=jitted)
    plan = dv.Derivative(function, "primal", 0)._plan(dv.complete_arguments(function, args))
    leaves = dv._flatten_args(dv.complete_arguments(function, args))
    jitted = tg.jit(plan.function, cache=False)
    return Built(lambda: jitted(*leaves), source=plan.source, jitted=jitted,
                 note=f"tg.jit(f) refused ({refusal[:160]}); timed: tangent2's generated primal of f "
                      "(calls inlined) compiled with tg.jit")
