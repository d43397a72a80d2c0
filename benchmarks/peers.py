"""The peer libraries: which are importable, their versions, and thin adapters.

Peers come from the optional ``bench`` extra (``pip install -e ".[bench]"``).
A peer that cannot be imported is reported as skipped, with the import error;
nothing is ever substituted for it.

The adapters let one NumPy source serve several libraries where their APIs
agree: :func:`rebind` copies a function (and every function of its module it
calls) with ``np`` bound to ``jax.numpy`` or ``autograd.numpy`` and ``tg``
bound to a namespace of the peer's own transformations (``jax.jacfwd`` for
``tg.jacfwd`` ...).  The copy is then differentiated and compiled by the peer
itself.  PyTorch's API differs, so its versions are written out in each
workload.
"""
import importlib
import os
import types

PEERS = ("jax", "torch", "autograd")
_STATE = {}


def load(name):
    """The imported peer module, or None (the reason is in :func:`skipped`)."""
    if name not in _STATE:
        try:
            module = importlib.import_module(name)
            if name == "jax":
                module.config.update("jax_enable_x64", True)   # every workload runs in float64
                importlib.import_module("jax.numpy")
            if name == "torch":
                importlib.import_module("torch.func")
                module.set_default_dtype(module.float64)
                threads = os.environ.get("TANGENT2_BENCH_THREADS")
                if threads:
                    module.set_num_threads(int(threads))
            if name == "autograd":
                importlib.import_module("autograd.numpy")
            _STATE[name] = (module, None)
        except Exception as error:  # noqa: BLE001  an absent or broken peer is skipped, with its error
            _STATE[name] = (None, f"{type(error).__name__}: {error}")
    return _STATE[name][0]


def skipped(name):
    """Why ``name`` is not available (None when it is)."""
    load(name)
    return _STATE[name][1]


def versions():
    """Versions of the installed libraries (peers that are missing say so)."""
    import platform

    import numba
    import numpy
    out = {"python": platform.python_version(), "numpy": numpy.__version__, "numba": numba.__version__}
    try:
        import scipy
        out["scipy"] = scipy.__version__
    except ImportError:
        pass
    for name in PEERS:
        module = load(name)
        out[name] = getattr(module, "__version__", "installed") if module else f"not available ({skipped(name)})"
    if load("jax"):
        import jaxlib
        out["jaxlib"] = jaxlib.__version__
    return out


# --------------------------------------------------------------------------- adapters
def jax_tg():
    """``tg``-like namespace of JAX transformations."""
    jax = load("jax")
    return types.SimpleNamespace(grad=jax.grad, jacfwd=jax.jacfwd, jacrev=jax.jacrev, vjp=jax.vjp, jvp=jax.jvp,
                                 hessian=jax.hessian, vmap=jax.vmap, stop_gradient=jax.lax.stop_gradient)


def autograd_tg():
    """``tg``-like namespace of HIPS autograd transformations."""
    autograd = load("autograd")
    from autograd import make_jvp, make_vjp
    from autograd.tracer import getval

    def vjp(f, *primals):
        if len(primals) != 1:
            raise NotImplementedError("autograd adapter: vjp of one argument only")
        pullback, value = make_vjp(f)(primals[0])
        return value, lambda cotangent: (pullback(cotangent),)

    def jvp(f, primals, tangents):
        if len(primals) != 1:
            raise NotImplementedError("autograd adapter: jvp of one argument only")
        return make_jvp(f)(primals[0])(tangents[0])

    return types.SimpleNamespace(grad=autograd.grad, jacfwd=autograd.jacobian, jacrev=autograd.jacobian, vjp=vjp,
                                 jvp=jvp, hessian=autograd.hessian, stop_gradient=getval)


def rebind(function, **names):
    """A copy of ``function`` whose globals ``names`` are replaced (e.g. ``np=jax.numpy``).

    Every plain function of the same module that the copy reaches through its
    globals is copied the same way (they share one new globals dict), so a
    loss calling ``model`` calling ``dense`` is rebound all the way down.
    """
    module_globals = function.__globals__
    new_globals = dict(module_globals)
    new_globals.update(names)
    for key, value in list(new_globals.items()):
        if isinstance(value, types.FunctionType) and value.__globals__ is module_globals and key not in names:
            new_globals[key] = _copy(value, new_globals)
    if module_globals.get(function.__name__) is function:
        return new_globals[function.__name__]
    return _copy(function, new_globals)


def _copy(function, new_globals):
    copy = types.FunctionType(function.__code__, new_globals, function.__name__, function.__defaults__,
                              function.__closure__)
    copy.__kwdefaults__ = function.__kwdefaults__
    copy.__qualname__ = function.__qualname__
    return copy


def for_jax(function):
    """``function`` with ``np`` -> ``jax.numpy`` and ``tg`` -> JAX's transformations."""
    load("jax")
    import jax.numpy as jnp
    return rebind(function, np=jnp, tg=jax_tg())


def for_autograd(function):
    """``function`` with ``np`` -> ``autograd.numpy`` and ``tg`` -> autograd's transformations."""
    load("autograd")
    import autograd.numpy as anp
    return rebind(function, np=anp, tg=autograd_tg())


def torch_tg():
    """``tg``-like namespace of torch.func transformations."""
    load("torch")
    import torch.func as tf
    return types.SimpleNamespace(grad=tf.grad, jacfwd=tf.jacfwd, jacrev=tf.jacrev, vjp=tf.vjp, jvp=tf.jvp,
                                 hessian=tf.hessian, vmap=tf.vmap, stop_gradient=lambda t: t.detach())


def for_torch(function):
    """``function`` with ``np`` -> ``torch`` and ``tg`` -> torch.func (for code whose NumPy calls torch also has:
    ``torch.tanh``, ``torch.sum(a)``, ``torch.mean(a, axis=0)`` ...)."""
    torch = load("torch")
    return rebind(function, np=torch, tg=torch_tg())


def jax_block(value):
    """Wait for JAX's asynchronous dispatch to finish (the timed call includes the computation)."""
    import jax
    return jax.block_until_ready(value)
