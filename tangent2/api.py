"""The transformations users call: thin wrappers that build Derivative objects."""
import functools
import sys
import weakref

import numpy as np

from tangent2 import derivative
from tangent2.derivative import Derivative, python_function
from tangent2.errors import ShapeMismatch

_DERIVATIVES = weakref.WeakKeyDictionary()


def _derivative(target, kind, wrt=0, has_aux=False, mode_switching=None, **options):
    """The Derivative of ``target`` for these settings, made once: its generated code is reused by later calls."""
    key = (kind, wrt if not isinstance(wrt, list) else tuple(wrt), has_aux, mode_switching,
           tuple(sorted((k, repr(v)) for k, v in options.items())))
    try:
        cache = _DERIVATIVES.setdefault(target, {})
    except TypeError:  # not weakly referenceable: no cache
        return Derivative(target, kind, wrt, has_aux, mode_switching, **options)
    if key not in cache:
        cache[key] = Derivative(target, kind, wrt, has_aux, mode_switching, **options)
    return cache[key]


def grad(f, wrt=0, *, has_aux=False, mode_switching=None):
    """The gradient of the scalar function ``f`` with respect to argument(s) ``wrt``.

    ``wrt`` is an index, an argument name, or a tuple of them (then a tuple of
    gradients is returned).  With ``has_aux`` ``f`` returns ``(value, aux)`` and
    the derivative returns ``(gradient, aux)``.
    """
    return _derivative(f, "grad", wrt, has_aux, mode_switching)


def value_and_grad(f, wrt=0, *, has_aux=False, mode_switching=None):
    """Like :func:`grad`, returning ``(value, gradient)`` (``((value, aux), gradient)`` with ``has_aux``).

    ``mode_switching`` overrides ``tangent2.config.mode_switching`` for this derivative.
    """
    return _derivative(f, "value_and_grad", wrt, has_aux, mode_switching)


def jvp(f, primals, tangents):
    """Forward mode: ``(f(*primals), J @ tangents)``; trees in, trees out."""
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ShapeMismatch(f"jvp got {len(primals)} primals but {len(tangents)} tangents")
    wrt = tuple(i for i, p in enumerate(primals) if _has_float_leaves(p))
    for i in wrt:
        _check_matching(primals[i], tangents[i], f"tangent of argument {i}")
    primals = derivative.complete_arguments(f, primals)
    plan = _derivative(f, "jvp", wrt)._plan(primals)
    leaves = derivative._flatten_args(primals)
    tangent_leaves = [t for i in wrt for t in derivative._flatten_value(tangents[i])]
    out, out_dot = plan.function(*leaves, *tangent_leaves)
    return plan.unflatten_output(out), plan.unflatten_output(out_dot)


def vjp(f, *primals, has_aux=False):
    """Reverse mode: ``(f(*primals), pullback)``; ``pullback(cotangent)`` returns one cotangent per argument."""
    wrt = tuple(i for i, p in enumerate(primals) if _has_float_leaves(p))
    d = _derivative(f, "vjp", wrt, has_aux)
    plan = d._plan(derivative.complete_arguments(f, primals))
    leaves = derivative._flatten_args(derivative.complete_arguments(f, primals))
    out = python_function(f)(*_copies(primals))  # the function may write into its arguments
    value = out[0] if has_aux else out

    def pullback(cotangent):
        _check_matching(value, cotangent, "cotangent of the output")
        seed = derivative._flatten_value(cotangent)
        seed = seed[0] if not isinstance(plan.output, (tuple, list)) and len(seed) == 1 and not isinstance(
            cotangent, (tuple, list, dict)) else tuple(seed)
        _, grads = plan.function(*leaves, seed)
        grads = plan.unflatten_grads(grads, primals)
        grads = grads if isinstance(grads, tuple) else (grads,)
        by_position = dict(zip(wrt, grads))
        return tuple(by_position[i] if i in by_position else _zeros_tree(p) for i, p in enumerate(primals))

    return (out, pullback) if not has_aux else (value, pullback, out[1])


def jacfwd(f, wrt=0):
    """The Jacobian of ``f`` with respect to argument ``wrt`` by forward mode: shape ``out.shape + in.shape``."""
    return _derivative(f, "jacfwd", wrt)


def jacrev(f, wrt=0):
    """The Jacobian of ``f`` with respect to argument ``wrt`` by reverse mode: shape ``out.shape + in.shape``."""
    return _derivative(f, "jacrev", wrt)


def hessian(f, wrt=0):
    """The Hessian of the scalar ``f``: forward mode over its reverse-mode gradient."""
    return _derivative(_derivative(f, "grad", wrt), "jacfwd", wrt)


def hvp(f, wrt=0):
    """``(*args, v) -> H @ v``, the Hessian of ``f`` in ``args[wrt]`` times ``v``; never forms ``H``."""
    return _derivative(f, "hvp", wrt)


def vmap(f, in_axes=0, out_axes=0):
    """``f`` mapped over a batch axis, as a generated loop (readable, differentiable, compilable).

    ``in_axes``: None, an int, or one entry per argument (None, an int, or a
    tree of them matching the argument); ``out_axes``: an int, or one per
    returned value.
    """
    return _derivative(f, "vmap", None, in_axes=in_axes, out_axes=out_axes)


def batched_jacobian(f, mode="forward", wrt=0):
    """Per-example Jacobians, shape (batch, out, in), of ``f`` mapping (batch, in) to (batch, out).

    Examples must be independent (Lux's ``batched_jacobian``); ``mode`` is
    ``"forward"`` (one pass per input feature) or ``"reverse"`` (one per output feature).
    """
    if mode not in ("forward", "reverse"):
        raise ValueError(f"batched_jacobian mode must be 'forward' or 'reverse', not {mode!r}")
    return _derivative(f, "batched_jacobian", wrt, mode=mode)


def generated_function(f, kind, args, seed):
    """The generated ``"jvp"`` or ``"vjp"`` function of ``f`` for ``args``, and the flat arguments to call it with.

    ``seed`` is the input tangents (jvp) or the output cotangent (vjp).  The
    function is plain Python with fixed arity, so it can be differentiated again.
    """
    args = derivative.complete_arguments(f, tuple(args))
    wrt = tuple(i for i, p in enumerate(args) if _has_float_leaves(p))
    plan = _derivative(f, kind, wrt)._plan(args)
    leaves = derivative._flatten_args(args)
    if kind == "jvp":
        extra = [t for i in wrt for t in derivative._flatten_value(seed[i])]
    else:
        flat = derivative._flatten_value(seed)
        extra = [flat[0] if len(flat) == 1 and not isinstance(seed, (tuple, list, dict)) else tuple(flat)]
    return plan.function, tuple(leaves) + tuple(extra)


for _transform in (grad, value_and_grad, jacfwd, jacrev, hessian, hvp, jvp, vjp, vmap, batched_jacobian):
    # Read by normalization: calls to these inside differentiated code are evaluated while compiling.
    _transform.__tangent2_transform__ = _transform.__name__


def source(f):
    """The generated source of a Derivative (or of the Python function itself)."""
    if isinstance(f, Derivative):
        return f.source
    import inspect
    return inspect.getsource(python_function(f))


def show(f, file=None):
    """Print the generated source, with comments dimmed when writing to a terminal."""
    text = source(f)
    file = file or sys.stdout
    if getattr(file, "isatty", lambda: False)():
        text = "\n".join(f"\x1b[2m{line}\x1b[0m" if line.lstrip().startswith("#") else line
                         for line in text.splitlines())
    print(text, file=file)


class differentiate:
    """Decorator: ``f`` runs as before and gains ``f.grad()``, ``f.value_and_grad()``, ``f.jvp(...)``, ``f.vjp(...)``."""

    def __init__(self, function):
        self.__tangent2_function__ = python_function(function)
        functools.update_wrapper(self, function)

    def __call__(self, *args, **kwargs):
        return self.__tangent2_function__(*args, **kwargs)

    def grad(self, wrt=0, *, has_aux=False):
        return grad(self, wrt, has_aux=has_aux)

    def value_and_grad(self, wrt=0, *, has_aux=False):
        return value_and_grad(self, wrt, has_aux=has_aux)

    def jvp(self, primals, tangents):
        return jvp(self, primals, tangents)

    def vjp(self, *primals, has_aux=False):
        return vjp(self, *primals, has_aux=has_aux)

    @property
    def source(self):
        return source(self)


def _has_float_leaves(value):
    leaves = derivative._flatten_value(value)
    return bool(leaves) and all(
        isinstance(leaf, (float, np.floating, complex, np.complexfloating)) or
        (isinstance(leaf, np.ndarray) and np.issubdtype(leaf.dtype, np.inexact)) for leaf in leaves)


def _copies(value):
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, tuple) and hasattr(type(value), "_fields"):
        return type(value)(*[_copies(v) for v in value])
    if isinstance(value, (tuple, list)):
        return type(value)(_copies(v) for v in value)
    if isinstance(value, dict):
        return {k: _copies(v) for k, v in value.items()}
    return value


def _zeros_tree(value):
    from tangent2.runtime import zeros_like
    if isinstance(value, tuple) and hasattr(type(value), "_fields"):
        return type(value)(*[_zeros_tree(v) for v in value])
    if isinstance(value, (tuple, list)):
        return type(value)(_zeros_tree(v) for v in value)
    if isinstance(value, dict):
        return {k: _zeros_tree(v) for k, v in value.items()}
    return zeros_like(value)


def _check_matching(primal, other, what):
    p_leaves = derivative._flatten_value(primal)
    o_leaves = derivative._flatten_value(other)
    if len(p_leaves) != len(o_leaves):
        raise ShapeMismatch(f"{what} has {len(o_leaves)} leaves but the value has {len(p_leaves)}")
    for p, o in zip(p_leaves, o_leaves):
        if np.shape(p) != np.shape(o):
            raise ShapeMismatch(f"{what} has shape {np.shape(o)} but the value it belongs to has shape "
                                f"{np.shape(p)}")
