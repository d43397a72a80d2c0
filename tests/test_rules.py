"""Numerical tests of every derivative rule, calling the rules directly.

For every registered primitive:
  1. the VJP rule against central finite differences of <g, f(x)>,
  2. the JVP rule against finite differences of f along x_dot,
  3. VJP/JVP consistency: <g, J v> == <J^T g, v>,
  4. at least one hand-derived value at a fixed point (table ``HAND``),
plus the form of every rule (what the compiler can inline), float32
preservation, and the list of primitives that must have rules.
"""
import ast
import builtins
import inspect
import math
import textwrap

import numpy as np
import pytest
import scipy.special

import tangent2.rules  # noqa: F401  (registers every rule)
from tangent2 import runtime as rt
from tangent2.rules.registry import (
    JVP_RULES, VJP_RULES, ZERO_DERIVATIVE, jvp_signature, vjp_signature,
)

RNG = np.random.default_rng(20240611)
EPS = 1e-6
RTOL = 1e-5
ATOL = 1e-6


# ---------------------------------------------------------------------------
# input generators: shape 'py' is a Python float, () a NumPy float64 scalar

def _make(sample, shape):
    if shape == "py":
        return float(sample(()))
    if shape == ():
        return np.float64(sample(()))
    return sample(shape)


def normal(shape):
    return _make(lambda s: RNG.standard_normal(s), shape)


def positive(shape):
    return _make(lambda s: RNG.uniform(0.5, 2.0, s), shape)


def unit(shape):
    return _make(lambda s: RNG.uniform(-0.8, 0.8, s), shape)


def away(shape):
    """Away from zero: |x| in [0.5, 2]."""
    return _make(lambda s: RNG.uniform(0.5, 2.0, s) * RNG.choice([-1.0, 1.0], s), shape)


def above1(shape):
    return _make(lambda s: RNG.uniform(1.2, 3.0, s), shape)


def prob(shape):
    return _make(lambda s: RNG.uniform(0.1, 0.9, s), shape)


def spd(n, batch=()):
    m = RNG.standard_normal(batch + (n, n))
    return m @ np.swapaxes(m, -1, -2) + n * np.eye(n)


# ---------------------------------------------------------------------------
# trees (tuples of leaves) and their arithmetic

def _is_float_leaf(x):
    if type(x) is float:
        return True
    return isinstance(x, (np.ndarray, np.generic)) and np.issubdtype(x.dtype, np.floating)


def _is_diff(x):
    if isinstance(x, tuple):
        return bool(x) and all(_is_float_leaf(e) for e in x)
    return _is_float_leaf(x)


def _leaves(x):
    return list(x) if isinstance(x, tuple) else [x]


def _rebuild(x, leaves):
    return tuple(leaves) if isinstance(x, tuple) else leaves[0]


def _copy(x):
    if isinstance(x, tuple):
        return tuple(_copy(e) for e in x)
    return x.copy() if isinstance(x, np.ndarray) else x


def _axpy(alpha, v, x):
    """x + alpha * v, leafwise, keeping each leaf's kind."""
    out = []
    for xl, vl in zip(_leaves(x), _leaves(v)):
        value = xl + alpha * vl
        out.append(float(value) if type(xl) is float else (np.float64(value) if isinstance(xl, np.generic) else value))
    return _rebuild(x, out)


def _vdot(a, b):
    return float(sum(np.sum(np.asarray(x, dtype=np.float64) * np.asarray(y, dtype=np.float64))
                     for x, y in zip(_leaves(a), _leaves(b))))


def _random_like(x):
    return _rebuild(x, [normal(np.shape(l)) if isinstance(l, np.ndarray) else
                        (float(normal(())) if type(l) is float else np.float64(normal(())))
                        for l in _leaves(x)])


def _zeros_like_tree(x):
    if x is None or isinstance(x, (str, int)) and not isinstance(x, bool):
        return 0.0
    return _rebuild(x, [np.zeros(np.shape(l)) if isinstance(l, np.ndarray) else 0.0 for l in _leaves(x)])


def _assert_close(actual, expected, what):
    al, el = _leaves(actual), _leaves(expected)
    assert len(al) == len(el), f"{what}: {len(al)} parts, expected {len(el)}"
    for a, e in zip(al, el):
        assert np.shape(a) == np.shape(e), f"{what}: shape {np.shape(a)}, expected {np.shape(e)}"
        np.testing.assert_allclose(np.asarray(a, dtype=np.float64), np.asarray(e, dtype=np.float64),
                                   rtol=RTOL, atol=ATOL, err_msg=what)


# ---------------------------------------------------------------------------
# calling rules

def _return_is_tuple(rule):
    tree = ast.parse(textwrap.dedent(inspect.getsource(rule)))
    returns = [n for n in ast.walk(tree) if isinstance(n, ast.Return)]
    return isinstance(returns[-1].value, ast.Tuple)


def vjp_entries(prim, g, ans, *args, **kwargs):
    rule = VJP_RULES[prim]
    result = rule(g, ans, *args, **kwargs)
    return tuple(result) if _return_is_tuple(rule) else (result,)


def jvp_value(prim, dots, ans, *args, **kwargs):
    """``dots``: {parameter name: tangent}; missing tangents are zeros."""
    rule = JVP_RULES[prim]
    tangents, primals = jvp_signature(rule)
    bound = dict(zip(primals, args), **kwargs)
    values = [dots[t] if t in dots else _zeros_like_tree(bound.get(t)) for t in tangents]
    return rule(*values, ans, *args, **kwargs)


def V(prim, *args, g=1.0, **kwargs):
    """The VJP entries of ``prim`` at ``args`` for cotangent ``g``."""
    ans = prim(*[_copy(a) for a in args], **kwargs)
    return vjp_entries(prim, g, ans, *args, **kwargs)


def J(prim, dots, *args, **kwargs):
    """The JVP of ``prim`` at ``args`` along ``dots`` ({name: tangent})."""
    ans = prim(*[_copy(a) for a in args], **kwargs)
    return jvp_value(prim, dots, ans, *args, **kwargs)


# ---------------------------------------------------------------------------
# the finite-difference cases

class Case:
    def __init__(self, prim, *args, diff=None, id=None, **kwargs):
        self.prim = prim
        self.args = args
        self.kwargs = kwargs
        self.diff = tuple(i for i, a in enumerate(args) if _is_diff(a)) if diff is None else diff
        self.id = id or f"{getattr(prim, '__name__', prim)}"

    def f(self, args):
        return self.prim(*[_copy(a) for a in args], **self.kwargs)


CASES = []


def case(prim, *args, **kwargs):
    CASES.append(Case(prim, *args, **kwargs))


SHAPES1 = ["py", (), (3,), (2, 3)]
UNARY = [
    (np.negative, normal), (np.positive, normal), (np.square, normal), (np.reciprocal, away),
    (np.abs, away), (np.sin, normal), (np.cos, normal), (np.tan, unit), (np.arcsin, unit),
    (np.arccos, unit), (np.arctan, normal), (np.sinh, normal), (np.cosh, normal), (np.tanh, normal),
    (np.arcsinh, normal), (np.arccosh, above1), (np.arctanh, unit), (np.exp, normal),
    (np.exp2, normal), (np.expm1, normal), (np.log, positive), (np.log1p, positive),
    (np.log2, positive), (np.log10, positive), (np.sqrt, positive), (np.cbrt, away),
    (np.deg2rad, normal), (np.rad2deg, normal), (np.radians, normal), (np.degrees, normal),
    (np.float64, normal), (np.copy, normal), (np.asarray, normal), (np.array, normal), (np.real, normal),
    (np.imag, normal),
    (scipy.special.expit, normal), (scipy.special.logit, prob), (scipy.special.erf, normal),
    (scipy.special.erfc, normal), (scipy.special.gammaln, positive), (scipy.special.digamma, positive),
    (builtins.abs, away), (rt.saved, normal), (rt.matrix_transpose, None), (rt.expand_last2, normal),
]
for _prim, _gen in UNARY:
    if _gen is None:
        continue
    for _shape in SHAPES1:
        if _prim in (np.copy, np.array) and _shape == "py":
            continue
        case(_prim, _gen(_shape), id=f"{_prim.__name__}-{_shape}")
case(rt.matrix_transpose, normal((2, 3)))
case(rt.matrix_transpose, normal((4, 2, 3)))
case(scipy.special.polygamma, 1, positive((3,)))
case(scipy.special.polygamma, 2, positive("py"))

MATH_UNARY = [
    (math.sin, normal), (math.cos, normal), (math.tan, unit), (math.asin, unit), (math.acos, unit),
    (math.atan, normal), (math.sinh, normal), (math.cosh, normal), (math.tanh, normal),
    (math.asinh, normal), (math.acosh, above1), (math.atanh, unit), (math.exp, normal),
    (math.expm1, normal), (math.log, positive), (math.log1p, positive), (math.log2, positive),
    (math.log10, positive), (math.sqrt, positive), (math.fabs, away), (math.erf, normal),
    (math.erfc, normal), (math.radians, normal), (math.degrees, normal), (builtins.float, normal),
]
for _name in ("exp2", "cbrt"):
    if hasattr(math, _name):
        MATH_UNARY.append((getattr(math, _name), away))
for _prim, _gen in MATH_UNARY:
    case(_prim, _gen("py"), id=f"math.{_prim.__name__}")
case(builtins.float, np.float64(0.7), id="float-np")
case(math.atan2, normal("py"), normal("py"))
case(math.pow, positive("py"), normal("py"))
case(math.pow, away("py"), 3.0, diff=(0,), id="pow-negative-base")
case(math.log, positive("py"), above1("py"))
case(math.hypot, normal("py"), normal("py"))
case(builtins.pow, positive("py"), normal("py"))
case(builtins.pow, positive(()), 2.5)
case(builtins.max, 0.3, -0.4)
case(builtins.max, -0.3, 0.4)
case(builtins.min, 0.3, -0.4)
case(builtins.min, -0.3, 0.4)

SHAPES2 = [((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)), ("py", (2, 3)), ((2, 3), "py"),
           ((), (3,)), ("py", "py")]
BINARY = [
    (np.add, normal, normal), (np.subtract, normal, normal), (np.multiply, normal, normal),
    (np.divide, normal, away), (np.power, positive, normal), (np.mod, normal, positive),
    (np.fmod, normal, positive), (np.arctan2, normal, normal), (np.logaddexp, normal, normal),
    (np.logaddexp2, normal, normal), (np.hypot, away, away), (np.maximum, normal, normal),
    (np.minimum, normal, normal), (np.fmax, normal, normal), (np.fmin, normal, normal),
]
for _prim, _g1, _g2 in BINARY:
    for _s1, _s2 in SHAPES2:
        case(_prim, _g1(_s1), _g2(_s2), id=f"{_prim.__name__}-{_s1}-{_s2}")
case(np.power, normal((2, 3)), 2, id="power-int-exponent")
case(np.power, normal((3,)), 3.0, diff=(0,), id="power-negative-base")
case(np.fmax, np.array([1.0, np.nan, 0.5]), np.array([0.2, 0.3, np.nan]), id="fmax-nan")
case(np.fmin, np.array([1.0, np.nan, 0.5]), np.array([0.2, 0.3, np.nan]), id="fmin-nan")

case(np.where, RNG.random((2, 3)) > 0.5, normal((2, 3)), normal((2, 3)))
case(np.where, RNG.random((2, 3)) > 0.5, normal((3,)), normal("py"))
case(np.where, RNG.random((3,)) > 0.5, normal((2, 1)), normal((2, 3)))
case(np.clip, 2 * normal((2, 3)), -0.5, 0.5)
case(np.clip, 2 * normal((2, 3)), normal((3,)) - 1.0, normal((2, 1)) + 1.0)
case(np.clip, 2 * normal((4,)), None, 0.5)
case(np.clip, 2 * normal((4,)), -0.5, None)

for _prim in (np.sum, np.mean, np.prod, np.max, np.amax, np.min, np.amin, np.var, np.std,
              scipy.special.logsumexp):
    _gen = away if _prim is np.prod else normal
    case(_prim, _gen((2, 3)), id=f"{_prim.__name__}-all")
    if _prim is not np.std:  # the std of one number is 0, where sqrt has no derivative
        case(_prim, _gen("py"), id=f"{_prim.__name__}-py")
    case(_prim, _gen((4,)), axis=0, id=f"{_prim.__name__}-1d")
    for _axis in (0, 1, -1, (0, 2), None):
        for _keep in (False, True):
            case(_prim, _gen((2, 3, 2)), axis=_axis, keepdims=_keep, id=f"{_prim.__name__}-{_axis}-{_keep}")
case(np.var, normal((3, 4)), axis=1, ddof=1)
case(np.std, normal((3, 4)), axis=0, ddof=1, keepdims=True)
case(np.prod, np.array([[0.0, 2.0, 3.0], [1.5, 0.0, 0.0]]), axis=1, id="prod-zeros")
for _axis in (None, 0, 1, -1):
    case(np.cumsum, normal((2, 3)), axis=_axis)
case(np.cumsum, normal((4,)))
case(np.cumsum, normal("py"))
for _axis in (None, 0, -1):
    case(scipy.special.softmax, normal((2, 3)), axis=_axis)
    case(scipy.special.log_softmax, normal((2, 3)), axis=_axis)

for _ord in (None, 2, 1, np.inf, -np.inf, 3, 0.5):
    case(np.linalg.norm, away((4,)), ord=_ord, id=f"norm-vector-{_ord}")
    case(np.linalg.norm, away((3, 4)), ord=_ord, axis=1, id=f"norm-rows-{_ord}")
    case(np.linalg.norm, away((3, 4)), ord=_ord, axis=0, keepdims=True, id=f"norm-cols-{_ord}")
case(np.linalg.norm, normal((3, 4)), id="norm-frobenius")
case(np.linalg.norm, normal((3, 4)), "fro", id="norm-fro")
case(np.linalg.norm, normal((2, 3, 4)), axis=(1, 2), id="norm-fro-batched")
case(np.linalg.norm, normal((2, 3, 4)), id="norm-flat")

for _a, _b in [((3,), (3,)), ((2, 3), (3,)), ((2, 3), (3, 4)), ((2, 3, 4), (4, 2)), ((3,), (3, 2)),
               ((2, 3), (2, 3, 4)), ((), (2, 3)), ((2, 3), "py")]:
    case(np.dot, normal(_a), normal(_b), id=f"dot-{_a}-{_b}")
for _a, _b in [((2, 3), (3, 4)), ((3,), (3, 4)), ((2, 3), (3,)), ((3,), (3,)), ((5, 2, 3), (3, 4)),
               ((2, 3), (5, 3, 4)), ((2, 1, 2, 3), (4, 3, 2))]:
    case(np.matmul, normal(_a), normal(_b), id=f"matmul-{_a}-{_b}")
for _a, _b in [((3,), (3,)), ((2, 3), (4, 3)), ((2, 3), (3,)), ((), (2, 3)), ((2, 2, 3), (3,))]:
    case(np.inner, normal(_a), normal(_b), id=f"inner-{_a}-{_b}")
for _a, _b in [((3,), (4,)), ((2, 2), (3,)), ((), (3,))]:
    case(np.outer, normal(_a), normal(_b), id=f"outer-{_a}-{_b}")
for _a, _b in [((3,), (3,)), ((2, 3), (6,)), ((2, 2), (2, 2))]:
    case(np.vdot, normal(_a), normal(_b), id=f"vdot-{_a}-{_b}")
EINSUMS = [
    ("ij,jk->ik", (2, 3), (3, 4)), ("ij,ij->", (2, 3), (2, 3)), ("i,j->ij", (3,), (2,)),
    ("bij,bjk->bik", (2, 2, 3), (2, 3, 2)), ("...ij,jk->...ik", (2, 2, 3), (3, 2)),
    ("ii,i->i", (3, 3), (3,)), ("ij,j", (2, 3), (3,)), ("ij,jk->i", (2, 3), (3, 4)),
    ("i,i", (1,), (3,)), ("ij,kj->ik", (2, 3), (4, 3)), ("ij,->ij", (2, 3), ()),
    ("...i,...i->...", (2, 1, 3), (4, 3)),
]
for _s, _a, _b in EINSUMS:
    case(np.einsum, _s, normal(_a), normal(_b), id=f"einsum-{_s}")

case(np.transpose, normal((2, 3, 4)))
case(np.transpose, normal((2, 3, 4)), (1, 0, 2))
case(np.transpose, normal((2, 3, 4)), axes=(-1, 0, 1))
case(np.transpose, normal("py"))
case(np.swapaxes, normal((2, 3, 4)), 0, 2)
case(np.moveaxis, normal((2, 3, 4)), 0, -1)
case(np.moveaxis, normal((2, 3, 4)), (0, 1), (2, 0))
case(np.reshape, normal((2, 3)), (3, 2))
case(np.reshape, normal((2, 3)), shape=(-1,))
case(np.reshape, normal("py"), (1, 1))
case(np.ravel, normal((2, 3)))
case(np.squeeze, normal((2, 1, 3)))
case(np.squeeze, normal((1, 3, 1)), axis=0)
case(np.expand_dims, normal((2, 3)), 1)
case(np.expand_dims, normal((2, 3)), axis=(0, 3))
case(np.flip, normal((2, 3)))
case(np.flip, normal((2, 3)), axis=1)
case(np.broadcast_to, normal((3,)), (2, 3))
case(np.broadcast_to, normal((2, 1)), (4, 2, 3))
case(np.broadcast_to, normal("py"), (2,))
case(np.concatenate, (normal((2, 3)), normal((1, 3))))
case(np.concatenate, (normal((2, 3)), normal((2, 1)), normal((2, 2))), axis=1)
case(np.concatenate, (normal((2, 3)), normal((4,))), axis=None)
case(np.stack, (normal((2, 3)), normal((2, 3))))
case(np.stack, (normal((3,)), normal((3,)), normal((3,))), axis=-1)
case(np.stack, (normal("py"), normal("py")))
case(np.hstack, (normal((3,)), normal((2,))))
case(np.hstack, (normal((2, 3)), normal((2, 1))))
case(np.hstack, (normal("py"), normal((2,))))
case(np.vstack, (normal((3,)), normal((3,))))
case(np.vstack, (normal((2, 3)), normal((1, 3))))
case(np.trace, normal((3, 3)))
case(np.trace, normal((3, 4)), 1)
case(np.trace, normal((2, 3, 3)), axis1=1, axis2=2)
case(np.trace, normal((3, 3, 2)), -1)
case(np.diag, normal((3,)))
case(np.diag, normal((3,)), 1)
case(np.diag, normal((3, 3)))
case(np.diag, normal((3, 4)), -1)
case(np.diag, normal((4, 3)), k=1)
case(np.full, (2, 3), normal("py"))
case(np.full, (2, 3), normal((3,)))
case(np.full_like, normal((2, 3)), normal("py"), diff=(1,))
case(np.asarray, normal((2, 3)), np.float64)
case(np.array, (normal("py"), normal("py"), normal(())), id="array-of-scalars")
case(np.asarray, (normal((2,)), normal((2,))), id="asarray-of-arrays")

case(np.linalg.det, normal((3, 3)) + 2 * np.eye(3))
case(np.linalg.det, normal((2, 3, 3)) + 2 * np.eye(3))
case(np.linalg.inv, spd(3))
case(np.linalg.inv, normal((2, 3, 3)) + 3 * np.eye(3))
case(np.linalg.solve, normal((3, 3)) + 3 * np.eye(3), normal((3,)))
case(np.linalg.solve, normal((3, 3)) + 3 * np.eye(3), normal((3, 2)))
case(np.linalg.solve, normal((2, 3, 3)) + 3 * np.eye(3), normal((2, 3, 2)))
case(np.linalg.solve, normal((2, 3, 3)) + 3 * np.eye(3), normal((3, 2)))

# the runtime helpers (shape-only arguments are not differentiated)
case(rt.unbroadcast, normal((2, 3)), normal((3,)), diff=(0,))
case(rt.unbroadcast, normal((2, 3)), normal((2, 1)), diff=(0,))
case(rt.unbroadcast, normal((2, 3)), normal("py"), diff=(0,))
case(rt.unbroadcast, normal((2, 3)), normal(()), diff=(0,))
case(rt.unbroadcast, normal((3,)), normal((2, 3)), diff=(0,), id="unbroadcast-up")
case(rt.unbroadcast, normal((3, 1)), normal((1, 4)), diff=(0,), id="unbroadcast-mixed")
case(rt.broadcast_like, normal((3,)), normal((2, 3)), diff=(0,))
case(rt.broadcast_like, normal("py"), normal((2, 3)), diff=(0,))
case(rt.add_at, normal((4,)), [0, 2, 0], normal((3,)), diff=(0, 2))
case(rt.add_at, normal((4, 2)), (slice(1, 3),), normal((2,)), diff=(0, 2))
case(rt.gather, normal((4,)), [0, 2, 0], normal((3,)), diff=(0,))
case(rt.gather, normal((4, 2)), (slice(1, 3),), normal((2,)), diff=(0,))
case(rt.cast_like, normal((2, 3)), normal((2, 3)), diff=(0,))
case(rt.cast_like, np.float64(0.3), 1.5, diff=(0,))
case(rt.reduce_sum, normal((2, 3)), diff=(0,))
case(rt.reduce_sum, normal((2, 3)), 1, True, diff=(0,))
case(rt.reduce_sum, normal((2, 3, 2)), (0, 2), False, diff=(0,))
case(rt.unreduce, normal((3,)), normal((2, 3)), 0, False, diff=(0,))
case(rt.unreduce, normal((2, 1)), normal((2, 3)), 1, True, diff=(0,))
case(rt.unreduce, normal("py"), normal((2, 3)), diff=(0,))
case(rt.prod_others, away((2, 3)), diff=(0,))
case(rt.prod_others, away((2, 3, 2)), (0, 2), diff=(0,))
case(rt.prod_others, away("py"), diff=(0,))
case(rt.prod_others, np.array([[0.0, 2.0, 3.0, -1.5], [1.5, 0.0, 0.0, 0.7]]), 1, diff=(0,), id="prod_others-zeros")
case(rt.prod_others, np.array([[0.0, 2.0], [0.0, 0.5], [1.5, -1.2]]), diff=(0,), id="prod_others-zeros-all")
case(rt.prod_others_dot, normal((2, 3)), away((2, 3)), diff=(0, 1))
case(rt.prod_others_dot, normal((2, 3, 2)), away((2, 3, 2)), (0, 2), diff=(0, 1))
case(rt.prod_others_dot, normal((4,)), away((4,)), 0, diff=(0, 1))
case(rt.prod_others_dot, normal("py"), away("py"), diff=(0, 1))
case(rt.cumsum_vjp, normal((6,)), normal((2, 3)), diff=(0,))
case(rt.cumsum_vjp, normal((2, 3)), normal((2, 3)), 1, diff=(0,))
case(rt.cumsum_vjp, normal((1,)), normal("py"), diff=(0,))
for _op, (_ct, _a, _b) in [
    ("dot", ((2, 4), (2, 3), (3, 4))), ("dot", ((2,), (2, 3), (3,))), ("dot", ((2, 3, 2), (2, 4), (3, 4, 2))),
    ("dot", ((2, 3), (), (2, 3))), ("matmul", ((2, 4), (2, 3), (3, 4))), ("matmul", ((4,), (3,), (3, 4))),
    ("matmul", ((5, 2, 4), (2, 3), (5, 3, 4))), ("inner", ((2, 4), (2, 3), (4, 3))),
    ("inner", ((2,), (2, 3), (3,))),
]:
    _args = (normal(_ct), normal(_a), normal(_b))
    case(getattr(rt, f"{_op}_vjp_a"), *_args, diff=(0, 2), id=f"{_op}_vjp_a-{_a}-{_b}")
    case(getattr(rt, f"{_op}_vjp_b"), *_args, diff=(0, 1), id=f"{_op}_vjp_b-{_a}-{_b}")
for _s, _a, _b in EINSUMS:
    _out = np.einsum(_s, np.ones(_a), np.ones(_b)).shape
    _args = (normal(_out), _s, normal(_a), normal(_b))
    case(rt.einsum_vjp_a, *_args, diff=(0, 3), id=f"einsum_vjp_a-{_s}")
    case(rt.einsum_vjp_b, *_args, diff=(0, 2), id=f"einsum_vjp_b-{_s}")
case(rt.mat_outer, normal((3,)), normal((4,)))
case(rt.mat_outer, normal((2, 3, 2)), normal((2, 4, 2)))
case(rt.trace_vjp, normal("py"), normal((3, 4)), 1, diff=(0,))
case(rt.trace_vjp, normal((2,)), normal((2, 3, 3)), 0, 1, 2, diff=(0,))
case(rt.diag_vjp, normal((3, 3)), normal((2,)), 1, diff=(0,))
case(rt.diag_vjp, normal((3,)), normal((3, 4)), diff=(0,))
case(rt.split_like, normal((3, 3)), (normal((2, 3)), normal((1, 3))), diff=(0,))
case(rt.split_like, normal((2, 5)), (normal((2, 3)), normal((2, 2))), 1, diff=(0,))
case(rt.split_like, normal((8,)), (normal((2, 3)), normal((2,))), None, diff=(0,))
case(rt.unstack_like, normal((2, 3)), (normal((3,)), normal((3,))), diff=(0,))
case(rt.unstack_like, normal((3, 2)), (normal((3,)), normal((3,))), -1, diff=(0,))
case(rt.hstack_vjp, normal((5,)), (normal((3,)), normal((2,))), diff=(0,))
case(rt.hstack_vjp, normal((2, 4)), (normal((2, 3)), normal((2, 1))), diff=(0,))
case(rt.vstack_vjp, normal((2, 3)), (normal((3,)), normal((3,))), diff=(0,))
case(rt.vstack_vjp, normal((3, 2)), (normal((2, 2)), normal((1, 2))), diff=(0,))


def _dedupe_ids(cases):
    seen = {}
    for c in cases:
        n = seen.get(c.id, 0)
        seen[c.id] = n + 1
        if n:
            c.id = f"{c.id}#{n}"
    return cases


CASES = _dedupe_ids(CASES)


def _finite_difference_vjp(c, g):
    grads = []
    for i in c.diff:
        x = c.args[i]
        leaves = []
        for j, leaf in enumerate(_leaves(x)):
            grad = np.zeros(np.shape(leaf))
            for k in range(grad.size):
                bump = np.zeros(np.shape(leaf))
                bump.flat[k] = 1.0
                v = _rebuild(x, [bump if m == j else np.zeros(np.shape(l)) for m, l in enumerate(_leaves(x))])
                args_p = list(c.args)
                args_m = list(c.args)
                args_p[i] = _axpy(EPS, v, x)
                args_m[i] = _axpy(-EPS, v, x)
                grad.flat[k] = (_vdot(g, c.f(args_p)) - _vdot(g, c.f(args_m))) / (2 * EPS)
            leaves.append(grad)
        grads.append(_rebuild(x, leaves))
    return grads


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.id)
def test_rule_against_finite_differences(c):
    ans = c.f(c.args)
    g = _random_like(ans) if isinstance(ans, tuple) else _random_like(ans if np.ndim(ans) else float(ans))
    if isinstance(ans, np.ndarray) and ans.ndim == 0:
        g = float(g)

    # (1) VJP against finite differences of <g, f(x)>
    entries = vjp_entries(c.prim, g, ans, *c.args, **c.kwargs)
    fd = _finite_difference_vjp(c, g)
    for i, expected in zip(c.diff, fd):
        assert i < len(entries) and entries[i] is not None, f"no VJP entry for argument {i}"
        _assert_close(entries[i], expected, f"VJP entry {i}")

    # (2) JVP against finite differences along a random direction
    tangents, primals = jvp_signature(JVP_RULES[c.prim])
    v = {i: _random_like(c.args[i]) for i in c.diff}
    dots = {primals[i]: v[i] for i in c.diff}
    assert set(dots) <= set(tangents), f"JVP rule has no tangent for {set(dots) - set(tangents)}"
    jv = jvp_value(c.prim, dots, ans, *c.args, **c.kwargs)
    args_p = [(_axpy(EPS, v[i], a) if i in v else a) for i, a in enumerate(c.args)]
    args_m = [(_axpy(-EPS, v[i], a) if i in v else a) for i, a in enumerate(c.args)]
    fp, fm = c.f(args_p), c.f(args_m)
    fd_jv = _rebuild(fp, [(np.asarray(p, dtype=np.float64) - np.asarray(m, dtype=np.float64)) / (2 * EPS)
                          for p, m in zip(_leaves(fp), _leaves(fm))])
    _assert_close(jv, fd_jv, "JVP")

    # (3) <g, J v> == <J^T g, v>
    lhs = _vdot(g, jv)
    rhs = sum(_vdot(entries[i], v[i]) for i in c.diff)
    assert abs(lhs - rhs) <= 1e-9 * (1.0 + abs(lhs)) + 1e-12, (lhs, rhs)


# ---------------------------------------------------------------------------
# JVP rules with one active tangent: the compiler replaces inactive tangents by
# symbolic zeros and simplifies, so each per-argument term must alone have the
# full shape of ans.  This mimics that simplification on the rule's AST.

from tangent2.rules.runtime import LINEAR_HELPERS  # noqa: E402

_LINEAR_CALLS = {
    np.sum, np.mean, np.transpose, np.reshape, np.ravel, np.squeeze, np.expand_dims, np.cumsum, np.copy,
    np.negative, np.positive, np.broadcast_to, np.trace, np.diag, np.multiply, np.dot, np.matmul, np.outer,
    np.inner, np.einsum, np.swapaxes, np.moveaxis, np.flip,
} | set(LINEAR_HELPERS)
_ZERO = "__zero__"


def _is_zero(node):
    return isinstance(node, ast.Name) and node.id.startswith(_ZERO)


class _SymbolicZeros(ast.NodeTransformer):
    def __init__(self, env, namespace):
        self.env = env  # name -> replacement node
        self.namespace = namespace

    def visit_Name(self, node):
        return self.env.get(node.id, node)

    def visit_BinOp(self, node):
        self.generic_visit(node)
        left, right = _is_zero(node.left), _is_zero(node.right)
        if isinstance(node.op, (ast.Mult, ast.MatMult)) and (left or right):
            return node.left if left else node.right
        if isinstance(node.op, ast.Div) and left:
            return node.left
        if isinstance(node.op, ast.Add) and (left or right):
            return node.right if left else node.left
        if isinstance(node.op, ast.Sub) and right:
            return node.left
        if isinstance(node.op, ast.Sub) and left:
            return ast.UnaryOp(op=ast.USub(), operand=node.right)
        return node

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        return node.operand if _is_zero(node.operand) else node

    def visit_Call(self, node):
        self.generic_visit(node)
        zeros = [a for a in node.args if _is_zero(a)]
        if zeros and _resolve(node.func, self.namespace) in _LINEAR_CALLS:
            return zeros[0]
        return node

    def visit_IfExp(self, node):
        self.generic_visit(node)
        return node.body if _is_zero(node.body) and _is_zero(node.orelse) else node


def _single_tangent_rule(rule, active):
    """The JVP rule simplified as if every tangent but ``active`` were a symbolic zero."""
    fn = ast.parse(textwrap.dedent(inspect.getsource(rule))).body[0]
    fn.decorator_list = []
    tangents, _ = jvp_signature(rule)
    env = {f"{t}_dot": ast.Name(id=f"{_ZERO}{t}", ctx=ast.Load()) for t in tangents if t != active}
    body = []
    for stmt in fn.body:
        if isinstance(stmt, ast.Expr):
            continue
        value = _SymbolicZeros(env, rule.__globals__).visit(stmt.value)
        if isinstance(stmt, ast.Assign) and _is_zero(value):
            env[stmt.targets[0].id] = value
            continue
        stmt.value = value
        body.append(stmt)

    class Materialize(ast.NodeTransformer):  # zeros left over become the (zero) tangent parameters
        def visit_Name(self, node):
            return ast.Name(id=node.id[len(_ZERO):] + "_dot", ctx=ast.Load()) if _is_zero(node) else node

    fn.body = [Materialize().visit(stmt) for stmt in body]
    fn.name = "_simplified"
    module = ast.fix_missing_locations(ast.Module(body=[fn], type_ignores=[]))
    namespace = dict(rule.__globals__)
    exec(compile(module, f"<simplified {rule.__qualname__}>", "exec"), namespace)
    return namespace["_simplified"]


@pytest.mark.parametrize("c", [c for c in CASES if len(c.diff) > 1 or c.prim in (np.where, np.clip, np.full)],
                         ids=lambda c: c.id)
def test_jvp_terms_alone_have_the_shape_of_ans(c):
    ans = c.f(c.args)
    rule = JVP_RULES[c.prim]
    tangents, primals = jvp_signature(rule)
    bound = dict(zip(primals, c.args), **c.kwargs)
    for i in c.diff:
        active = primals[i]
        v = _random_like(c.args[i])
        simplified = _single_tangent_rule(rule, active)
        values = [v if t == active else _zeros_like_tree(bound.get(t)) for t in tangents]
        term = simplified(*values, ans, *c.args, **c.kwargs)
        full = jvp_value(c.prim, {active: v}, ans, *c.args, **c.kwargs)
        _assert_close(term, full, f"JVP term of {active} alone")


# ---------------------------------------------------------------------------
# (4) hand-derived values

_A = np.array([[2.0, 1.0], [0.5, 3.0]])
_B = np.array([[1.0, -1.0, 2.0], [0.0, 1.0, 1.0]])
_th = math.tanh(0.5)
_sig = 1.0 / (1.0 + math.exp(-0.3))
_inv_A = np.array([[3.0, -1.0], [-0.5, 2.0]]) / 5.5  # det(_A) = 5.5

HAND = [
    # (primitive, thunk, expected)
    (np.tanh, lambda: V(np.tanh, 0.5)[0], 1 - _th ** 2),
    (np.tanh, lambda: J(np.tanh, {"x": 2.0}, 0.5), 2 * (1 - _th ** 2)),
    (np.sin, lambda: V(np.sin, 0.3)[0], math.cos(0.3)),
    (np.cos, lambda: V(np.cos, 0.3)[0], -math.sin(0.3)),
    (np.tan, lambda: V(np.tan, 0.3)[0], 1 / math.cos(0.3) ** 2),
    (np.arcsin, lambda: V(np.arcsin, 0.6)[0], 1 / 0.8),
    (np.arccos, lambda: V(np.arccos, 0.6)[0], -1 / 0.8),
    (np.arctan, lambda: V(np.arctan, 2.0)[0], 1 / 5),
    (np.arctan2, lambda: V(np.arctan2, 3.0, 4.0), (4 / 25, -3 / 25)),
    (np.sinh, lambda: V(np.sinh, 0.4)[0], math.cosh(0.4)),
    (np.cosh, lambda: V(np.cosh, 0.4)[0], math.sinh(0.4)),
    (np.arcsinh, lambda: V(np.arcsinh, 0.75)[0], 1 / 1.25),
    (np.arccosh, lambda: V(np.arccosh, 1.25)[0], 1 / 0.75),
    (np.arctanh, lambda: V(np.arctanh, 0.5)[0], 1 / 0.75),
    (np.exp, lambda: V(np.exp, 1.0)[0], math.e),
    (np.exp2, lambda: V(np.exp2, 3.0)[0], 8 * math.log(2)),
    (np.expm1, lambda: V(np.expm1, 1.0)[0], math.e),
    (np.log, lambda: V(np.log, 4.0)[0], 0.25),
    (np.log1p, lambda: V(np.log1p, 3.0)[0], 0.25),
    (np.log2, lambda: V(np.log2, 2.0)[0], 1 / (2 * math.log(2))),
    (np.log10, lambda: V(np.log10, 10.0)[0], 1 / (10 * math.log(10))),
    (np.sqrt, lambda: V(np.sqrt, 4.0)[0], 0.25),
    *[(getattr(math, "exp2"), lambda: V(getattr(math, "exp2"), 3.0)[0], 8 * math.log(2))] * hasattr(math, "exp2"),
    *[(getattr(math, "cbrt"), lambda: V(getattr(math, "cbrt"), 8.0)[0], 1 / 12)] * hasattr(math, "cbrt"),
    (np.cbrt, lambda: V(np.cbrt, 8.0)[0], 1 / 12),
    (np.square, lambda: V(np.square, -3.0)[0], -6.0),
    (np.reciprocal, lambda: V(np.reciprocal, 2.0)[0], -0.25),
    (np.abs, lambda: V(np.abs, np.array([-2.0, 0.0, 3.0]))[0], [-1.0, 0.0, 1.0]),
    (np.negative, lambda: V(np.negative, 2.0, g=3.0)[0], -3.0),
    (np.positive, lambda: V(np.positive, 2.0, g=3.0)[0], 3.0),
    (np.add, lambda: V(np.add, np.ones((2, 3)), np.ones(3), g=np.ones((2, 3)))[1], [2.0, 2.0, 2.0]),
    (np.subtract, lambda: V(np.subtract, 1.0, np.ones((2, 2)), g=np.ones((2, 2))), (4.0, -np.ones((2, 2)))),
    (np.multiply, lambda: V(np.multiply, 3.0, 5.0), (5.0, 3.0)),
    (np.divide, lambda: V(np.divide, 3.0, 2.0), (0.5, -0.75)),
    (np.power, lambda: V(np.power, 2.0, 3.0), (12.0, 8 * math.log(2))),
    (np.power, lambda: V(np.power, 0.0, 2.0), (0.0, 0.0)),
    (np.mod, lambda: V(np.mod, 7.5, 2.0), (1.0, -3.0)),
    (np.fmod, lambda: V(np.fmod, -7.5, 2.0), (1.0, 3.0)),
    (np.logaddexp, lambda: V(np.logaddexp, 0.0, math.log(3.0)), (0.25, 0.75)),
    (np.logaddexp2, lambda: V(np.logaddexp2, 0.0, math.log2(3.0)), (0.25, 0.75)),
    (np.hypot, lambda: V(np.hypot, 3.0, 4.0), (0.6, 0.8)),
    (np.deg2rad, lambda: V(np.deg2rad, 10.0)[0], math.pi / 180),
    (np.radians, lambda: V(np.radians, 10.0)[0], math.pi / 180),
    (np.rad2deg, lambda: V(np.rad2deg, 1.0)[0], 180 / math.pi),
    (np.degrees, lambda: V(np.degrees, 1.0)[0], 180 / math.pi),
    (np.maximum, lambda: V(np.maximum, np.array([1.0, 2.0, 3.0]), 2.0, g=np.ones(3)), ([0.0, 0.5, 1.0], 1.5)),
    (np.minimum, lambda: V(np.minimum, np.array([1.0, 2.0, 3.0]), 2.0, g=np.ones(3)), ([1.0, 0.5, 0.0], 1.5)),
    (np.fmax, lambda: V(np.fmax, np.array([np.nan, 1.0]), np.array([1.0, np.nan]), g=np.ones(2)), ([0.0, 1.0], [1.0, 0.0])),
    (np.fmin, lambda: V(np.fmin, np.array([np.nan, 1.0]), np.array([1.0, np.nan]), g=np.ones(2)), ([0.0, 1.0], [1.0, 0.0])),
    (np.clip, lambda: V(np.clip, np.array([-2.0, 0.0, 2.0]), -1.0, 1.0, g=np.ones(3)), ([0.0, 1.0, 0.0], 1.0, 1.0)),
    (np.where, lambda: V(np.where, np.array([True, False]), np.array([1.0, 2.0]), 5.0, g=np.array([3.0, 4.0]))[1:],
     ([3.0, 0.0], 4.0)),
    (np.sum, lambda: V(np.sum, np.ones((2, 3)), axis=1, g=np.array([1.0, 2.0]))[0], [[1, 1, 1], [2, 2, 2]]),
    (np.mean, lambda: V(np.mean, np.ones((2, 4)), axis=1, keepdims=True, g=np.array([[4.0], [8.0]]))[0],
     [[1, 1, 1, 1], [2, 2, 2, 2]]),
    (np.var, lambda: V(np.var, np.array([1.0, 2.0, 6.0]))[0], [2 * (1 - 3) / 3, 2 * (2 - 3) / 3, 2 * (6 - 3) / 3]),
    (np.std, lambda: V(np.std, np.array([1.0, 3.0]))[0], [-0.5, 0.5]),
    (np.prod, lambda: V(np.prod, np.array([2.0, 3.0, 4.0]))[0], [12.0, 8.0, 6.0]),
    (np.prod, lambda: V(np.prod, np.array([0.0, 3.0, 4.0]))[0], [12.0, 0.0, 0.0]),
    (np.prod, lambda: V(np.prod, np.array([0.0, 3.0, 0.0]))[0], [0.0, 0.0, 0.0]),
    (np.max, lambda: V(np.max, np.array([[1.0, 5.0], [7.0, 2.0]]), axis=0, g=np.array([1.0, 2.0]))[0], [[0, 2], [1, 0]]),
    (np.max, lambda: V(np.max, np.array([3.0, 1.0, 3.0]))[0], [0.5, 0.0, 0.5]),
    (np.amax, lambda: V(np.amax, np.array([1.0, 5.0, 2.0]))[0], [0, 1, 0]),
    (np.min, lambda: V(np.min, np.array([1.0, 5.0, 2.0]))[0], [1, 0, 0]),
    (np.amin, lambda: J(np.amin, {"a": np.array([7.0, 8.0, 9.0])}, np.array([4.0, 5.0, 2.0])), 9.0),
    (np.cumsum, lambda: V(np.cumsum, np.ones(3), g=np.array([1.0, 2.0, 3.0]))[0], [6.0, 5.0, 3.0]),
    (np.cumsum, lambda: V(np.cumsum, np.ones((2, 2)), g=np.array([1.0, 2.0, 3.0, 4.0]))[0], [[10, 9], [7, 4]]),
    (np.dot, lambda: V(np.dot, _A, np.array([1.0, 2.0]), g=np.array([1.0, 1.0])),
     ([[1, 2], [1, 2]], [2.5, 4.0])),
    (np.matmul, lambda: V(np.matmul, _A, _B, g=np.ones((2, 3))), (_B.sum(1)[None, :].repeat(2, 0), _A.sum(0)[:, None].repeat(3, 1))),
    (np.inner, lambda: V(np.inner, np.array([1.0, 2.0]), np.array([3.0, 4.0])), ([3.0, 4.0], [1.0, 2.0])),
    (np.vdot, lambda: V(np.vdot, np.array([[1.0, 2.0]]), np.array([3.0, 4.0]), g=2.0), ([[6.0, 8.0]], [2.0, 4.0])),
    (np.outer, lambda: V(np.outer, np.array([1.0, 2.0]), np.array([3.0, 4.0, 5.0]), g=np.ones((2, 3))),
     ([12.0, 12.0], [3.0, 3.0, 3.0])),
    (np.einsum, lambda: V(np.einsum, "ij,jk->ik", _A, _B, g=np.ones((2, 3)))[1:],
     (_B.sum(1)[None, :].repeat(2, 0), _A.sum(0)[:, None].repeat(3, 1))),
    (np.einsum, lambda: V(np.einsum, "ii,i->", _A, np.array([1.0, 2.0]))[1:], ([[1.0, 0.0], [0.0, 2.0]], [2.0, 3.0])),
    (np.transpose, lambda: V(np.transpose, np.zeros((2, 3)), g=_B.T)[0], _B),
    (np.swapaxes, lambda: V(np.swapaxes, np.zeros((2, 3)), 0, 1, g=_B.T)[0], _B),
    (np.moveaxis, lambda: V(np.moveaxis, np.zeros((2, 3)), 0, 1, g=_B.T)[0], _B),
    (np.reshape, lambda: V(np.reshape, np.zeros((2, 3)), (3, 2), g=_B.reshape(3, 2))[0], _B),
    (np.ravel, lambda: V(np.ravel, np.zeros((2, 3)), g=_B.ravel())[0], _B),
    (np.squeeze, lambda: V(np.squeeze, np.zeros((1, 2, 3)), g=_B)[0], _B[None]),
    (np.expand_dims, lambda: V(np.expand_dims, np.zeros((2, 3)), 0, g=_B[None])[0], _B),
    (np.flip, lambda: V(np.flip, np.zeros(3), g=np.array([1.0, 2.0, 3.0]))[0], [3.0, 2.0, 1.0]),
    (np.broadcast_to, lambda: V(np.broadcast_to, np.zeros(3), (2, 3), g=_B)[0], [1.0, 0.0, 3.0]),
    (np.concatenate, lambda: V(np.concatenate, (np.zeros(2), np.zeros(1)), g=np.array([1.0, 2.0, 3.0]))[0],
     ([1.0, 2.0], [3.0])),
    (np.stack, lambda: V(np.stack, (np.zeros(3), np.zeros(3)), g=_B)[0], (_B[0], _B[1])),
    (np.hstack, lambda: V(np.hstack, (np.zeros(2), 0.0), g=np.array([1.0, 2.0, 3.0]))[0], ([1.0, 2.0], 3.0)),
    (np.vstack, lambda: V(np.vstack, (np.zeros(3), np.zeros((1, 3))), g=_B)[0], (_B[0], _B[1:])),
    (np.trace, lambda: V(np.trace, np.zeros((2, 3)), g=2.0)[0], [[2, 0, 0], [0, 2, 0]]),
    (np.diag, lambda: V(np.diag, np.zeros(2), 1, g=np.arange(9.0).reshape(3, 3))[0], [1.0, 5.0]),
    (np.diag, lambda: V(np.diag, np.zeros((2, 3)), g=np.array([1.0, 2.0]))[0], [[1, 0, 0], [0, 2, 0]]),
    (np.copy, lambda: V(np.copy, np.zeros(2), g=np.array([1.0, 2.0]))[0], [1.0, 2.0]),
    (np.asarray, lambda: V(np.asarray, 2.0, g=np.array(3.0))[0], 3.0),
    (np.array, lambda: J(np.array, {"object": np.array([1.0, 2.0])}, np.zeros(2)), [1.0, 2.0]),
    (np.array, lambda: V(np.array, (1.0, 2.0), g=np.array([3.0, 4.0]))[0], (3.0, 4.0)),
    (np.real, lambda: V(np.real, np.zeros(2), g=np.array([1.0, 2.0]))[0], [1.0, 2.0]),
    (np.real, lambda: J(np.real, {"val": np.array([1.0, 2.0])}, np.zeros(2)), [1.0, 2.0]),
    (np.imag, lambda: V(np.imag, np.zeros(2), g=np.array([1.0, 2.0]))[0], [0.0, 0.0]),
    (np.imag, lambda: V(np.imag, 0.5, g=2.0)[0], 0.0),
    (np.imag, lambda: J(np.imag, {"val": np.array([1.0, 2.0])}, np.zeros(2)), [0.0, 0.0]),
    # complex values: JAX's convention (d imag(z) / d z, transposed, is -1j)
    (np.imag, lambda: V(np.imag, np.array([1.0 + 1.0j]), g=np.array([2.0]))[0], [-2.0j]),
    (np.float64, lambda: V(np.float64, 2.0, g=3.0)[0], 3.0),
    (np.float32, lambda: V(np.float32, 2.0, g=np.float32(3.0))[0], 3.0),
    (np.float32, lambda: J(np.float32, {"x": 1.5}, 2.0), np.float32(1.5)),
    (np.full, lambda: V(np.full, (2, 3), 1.0, g=_B)[1], 4.0),
    (np.full_like, lambda: V(np.full_like, np.zeros((2, 3)), np.zeros(3), g=_B)[1], [1.0, 0.0, 3.0]),
    (np.linalg.norm, lambda: V(np.linalg.norm, np.array([3.0, 4.0]))[0], [0.6, 0.8]),
    (np.linalg.norm, lambda: V(np.linalg.norm, np.array([3.0, -4.0]), 1)[0], [1.0, -1.0]),
    (np.linalg.norm, lambda: V(np.linalg.norm, np.array([3.0, -4.0]), np.inf)[0], [0.0, -1.0]),
    (np.linalg.norm, lambda: V(np.linalg.norm, np.array([[3.0, 0.0], [0.0, 4.0]]))[0], [[0.6, 0], [0, 0.8]]),
    (np.linalg.det, lambda: V(np.linalg.det, _A)[0], 5.5 * _inv_A.T),
    (np.linalg.det, lambda: J(np.linalg.det, {"a": np.eye(2)}, _A), 5.5 * np.trace(_inv_A)),
    (np.linalg.inv, lambda: V(np.linalg.inv, _A, g=np.eye(2))[0], -_inv_A.T @ _inv_A.T),
    (np.linalg.solve, lambda: V(np.linalg.solve, _A, np.array([1.0, 1.0]), g=np.array([1.0, 0.0])),
     (-np.outer(_inv_A.T @ [1.0, 0.0], _inv_A @ [1.0, 1.0]), _inv_A.T @ [1.0, 0.0])),
    (scipy.special.logsumexp, lambda: V(scipy.special.logsumexp, np.array([0.0, math.log(3.0)]))[0], [0.25, 0.75]),
    (scipy.special.softmax, lambda: V(scipy.special.softmax, np.array([0.0, math.log(3.0)]), g=np.array([1.0, 0.0]))[0],
     [0.25 * 0.75, -0.25 * 0.75]),
    (scipy.special.log_softmax, lambda: V(scipy.special.log_softmax, np.array([0.0, math.log(3.0)]), g=np.array([1.0, 0.0]))[0],
     [0.75, -0.75]),
    (scipy.special.expit, lambda: V(scipy.special.expit, 0.3)[0], _sig * (1 - _sig)),
    (scipy.special.logit, lambda: V(scipy.special.logit, 0.2)[0], 1 / (0.2 * 0.8)),
    (scipy.special.erf, lambda: V(scipy.special.erf, 0.5)[0], 2 / math.sqrt(math.pi) * math.exp(-0.25)),
    (scipy.special.erfc, lambda: V(scipy.special.erfc, 0.5)[0], -2 / math.sqrt(math.pi) * math.exp(-0.25)),
    (scipy.special.gammaln, lambda: V(scipy.special.gammaln, 1.0)[0], -0.5772156649015329),  # -Euler gamma
    (scipy.special.digamma, lambda: V(scipy.special.digamma, 1.0)[0], math.pi ** 2 / 6),  # trigamma(1)
    (scipy.special.polygamma, lambda: V(scipy.special.polygamma, 1, 1.0)[1], -2 * 1.2020569031595942),  # -2 zeta(3)
    (math.sin, lambda: V(math.sin, 0.3)[0], math.cos(0.3)),
    (math.cos, lambda: V(math.cos, 0.3)[0], -math.sin(0.3)),
    (math.tan, lambda: V(math.tan, 0.3)[0], 1 / math.cos(0.3) ** 2),
    (math.asin, lambda: V(math.asin, 0.6)[0], 1 / 0.8),
    (math.acos, lambda: V(math.acos, 0.6)[0], -1 / 0.8),
    (math.atan, lambda: V(math.atan, 2.0)[0], 0.2),
    (math.atan2, lambda: V(math.atan2, 3.0, 4.0), (4 / 25, -3 / 25)),
    (math.sinh, lambda: V(math.sinh, 0.4)[0], math.cosh(0.4)),
    (math.cosh, lambda: V(math.cosh, 0.4)[0], math.sinh(0.4)),
    (math.tanh, lambda: V(math.tanh, 0.5)[0], 1 - _th ** 2),
    (math.asinh, lambda: V(math.asinh, 0.75)[0], 0.8),
    (math.acosh, lambda: V(math.acosh, 1.25)[0], 1 / 0.75),
    (math.atanh, lambda: V(math.atanh, 0.5)[0], 1 / 0.75),
    (math.exp, lambda: V(math.exp, 1.0)[0], math.e),
    (math.expm1, lambda: V(math.expm1, 1.0)[0], math.e),
    (math.log, lambda: V(math.log, 4.0)[0], 0.25),
    (math.log, lambda: V(math.log, 8.0, 2.0), (1 / (8 * math.log(2)), -3 / (2 * math.log(2)))),
    (math.log1p, lambda: V(math.log1p, 3.0)[0], 0.25),
    (math.log2, lambda: V(math.log2, 2.0)[0], 1 / (2 * math.log(2))),
    (math.log10, lambda: V(math.log10, 10.0)[0], 1 / (10 * math.log(10))),
    (math.sqrt, lambda: V(math.sqrt, 4.0)[0], 0.25),
    (math.pow, lambda: V(math.pow, 2.0, 3.0), (12.0, 8 * math.log(2))),
    (math.fabs, lambda: V(math.fabs, -2.0)[0], -1.0),
    (math.hypot, lambda: V(math.hypot, 3.0, 4.0), (0.6, 0.8)),
    (math.erf, lambda: V(math.erf, 0.5)[0], 2 / math.sqrt(math.pi) * math.exp(-0.25)),
    (math.erfc, lambda: V(math.erfc, 0.5)[0], -2 / math.sqrt(math.pi) * math.exp(-0.25)),
    (math.radians, lambda: V(math.radians, 1.0)[0], math.pi / 180),
    (math.degrees, lambda: V(math.degrees, 1.0)[0], 180 / math.pi),
    (builtins.abs, lambda: V(builtins.abs, -2.0)[0], -1.0),
    (builtins.pow, lambda: V(builtins.pow, 2.0, 3.0), (12.0, 8 * math.log(2))),
    (builtins.max, lambda: V(builtins.max, 2.0, 1.0), (1.0, 0.0)),
    (builtins.min, lambda: V(builtins.min, 2.0, 1.0), (0.0, 1.0)),
    (builtins.float, lambda: V(builtins.float, np.float32(2.0), g=3.0)[0], 3.0),
    # runtime helpers, against independent NumPy expressions
    (rt.unbroadcast, lambda: V(rt.unbroadcast, _B, np.zeros(3), g=np.array([1.0, 2.0, 3.0]))[0],
     np.array([[1.0, 2.0, 3.0]] * 2)),
    (rt.broadcast_like, lambda: V(rt.broadcast_like, np.zeros(3), np.zeros((2, 3)), g=_B)[0], _B.sum(0)),
    (rt.add_at, lambda: V(rt.add_at, np.zeros(3), [0, 0, 2], np.zeros(3), g=np.array([1.0, 2.0, 3.0])),
     ([1.0, 2.0, 3.0], None, [1.0, 1.0, 3.0])),
    (rt.gather, lambda: V(rt.gather, np.zeros(3), [0, 0, 2], np.zeros(3), g=np.array([1.0, 2.0, 3.0]))[0],
     [3.0, 0.0, 3.0]),
    (rt.saved, lambda: V(rt.saved, np.zeros(2), g=np.array([1.0, 2.0]))[0], [1.0, 2.0]),
    (rt.cast_like, lambda: V(rt.cast_like, np.float32(1.0), 2.0, g=3.0)[0], 3.0),
    (rt.cast_like, lambda: rt.cast_like(np.array([1.0 + 2.0j]), np.zeros(1)), [1.0]),
    (rt.cast_like, lambda: rt.cast_like(1.0 - 2.0j, 0.5), 1.0),
    (rt.reduce_sum, lambda: V(rt.reduce_sum, np.zeros((2, 3)), 0, g=np.array([1.0, 2.0, 3.0]))[0],
     [[1.0, 2.0, 3.0]] * 2),
    (rt.unreduce, lambda: V(rt.unreduce, np.zeros(2), np.zeros((2, 3)), 1, g=_B)[0], _B.sum(1)),
    (rt.prod_others, lambda: J(rt.prod_others, {"x": np.array([1.0, 0.0, 0.0])}, np.array([2.0, 3.0, 4.0])),
     [0.0, 4.0, 3.0]),
    # d/dx0 of the products of the others of (0, 3, 4): (0, x0 x2, x0 x1) -> (0, 4, 3); the rule is exact at 0
    (rt.prod_others, lambda: J(rt.prod_others, {"x": np.array([1.0, 0.0, 0.0])}, np.array([0.0, 3.0, 4.0])),
     [0.0, 4.0, 3.0]),
    # sum over k != i of t_k times the product of the elements other than i and k
    (rt.prod_others_dot, lambda: rt.prod_others_dot(np.array([1.0, 2.0, 3.0]), np.array([0.0, 3.0, 4.0])),
     [2.0 * 4.0 + 3.0 * 3.0, 1.0 * 4.0, 1.0 * 3.0]),
    # d/dx of prod_others_dot(t, x): for (t, x) = ((1, 0, 0), (2, 3, 4)) along x_dot = (0, 0, 1): only i = 1
    # has a pair (k, l) = (0, 2), giving t_0 x_dot_2 = 1
    (rt.prod_others_dot, lambda: J(rt.prod_others_dot, {"x": np.array([0.0, 0.0, 1.0])}, np.array([1.0, 0.0, 0.0]),
                                   np.array([2.0, 3.0, 4.0])), [0.0, 1.0, 0.0]),
    (rt.cumsum_vjp, lambda: V(rt.cumsum_vjp, np.zeros(3), np.zeros(3), g=np.array([1.0, 2.0, 3.0]))[0], [1.0, 3.0, 6.0]),
    (rt.dot_vjp_a, lambda: rt.dot_vjp_a(np.ones((2, 3)), _A, _B), np.ones((2, 3)) @ _B.T),
    (rt.dot_vjp_a, lambda: V(rt.dot_vjp_a, np.ones((2, 3)), _A, _B, g=np.eye(2))[0], np.eye(2) @ _B),
    (rt.dot_vjp_b, lambda: rt.dot_vjp_b(np.ones((2, 3)), _A, _B), _A.T @ np.ones((2, 3))),
    (rt.dot_vjp_b, lambda: V(rt.dot_vjp_b, np.ones((2, 3)), _A, _B, g=_B)[0], _A @ _B),
    (rt.matmul_vjp_a, lambda: rt.matmul_vjp_a(np.ones((2, 3)), _A, _B), np.ones((2, 3)) @ _B.T),
    (rt.matmul_vjp_a, lambda: V(rt.matmul_vjp_a, np.ones((2, 3)), _A, _B, g=np.eye(2))[0], np.eye(2) @ _B),
    (rt.matmul_vjp_b, lambda: rt.matmul_vjp_b(np.ones((2, 3)), _A, _B), _A.T @ np.ones((2, 3))),
    (rt.matmul_vjp_b, lambda: V(rt.matmul_vjp_b, np.ones((2, 3)), _A, _B, g=_B)[0], _A @ _B),
    (rt.inner_vjp_a, lambda: rt.inner_vjp_a(np.ones((2, 3)), _A, _B.T), np.ones((2, 3)) @ _B.T),
    (rt.inner_vjp_a, lambda: V(rt.inner_vjp_a, np.ones((2, 3)), _A, _B.T, g=np.eye(2))[0], np.eye(2) @ _B),
    (rt.inner_vjp_b, lambda: rt.inner_vjp_b(np.ones((2, 3)), _A, _B.T), (_A.T @ np.ones((2, 3))).T),
    (rt.inner_vjp_b, lambda: V(rt.inner_vjp_b, np.ones((2, 3)), _A, _B.T, g=_B.T)[0], _A @ _B),
    (rt.einsum_vjp_a, lambda: rt.einsum_vjp_a(np.ones((2, 3)), "ij,jk->ik", _A, _B), np.ones((2, 3)) @ _B.T),
    (rt.einsum_vjp_a, lambda: V(rt.einsum_vjp_a, np.ones((2, 3)), "ij,jk->ik", _A, _B, g=np.eye(2))[0], np.eye(2) @ _B),
    (rt.einsum_vjp_b, lambda: rt.einsum_vjp_b(np.ones((2, 3)), "ij,jk->ik", _A, _B), _A.T @ np.ones((2, 3))),
    (rt.einsum_vjp_b, lambda: V(rt.einsum_vjp_b, np.ones((2, 3)), "ij,jk->ik", _A, _B, g=_B)[0], _A @ _B),
    (rt.mat_outer, lambda: rt.mat_outer(_A, _B.T), _A @ _B),
    (rt.mat_outer, lambda: V(rt.mat_outer, np.array([1.0, 2.0]), np.array([3.0, 4.0]), g=_A),
     (_A @ [3.0, 4.0], _A.T @ [1.0, 2.0])),
    (rt.matrix_transpose, lambda: V(rt.matrix_transpose, np.zeros((3, 2)), g=_B)[0], _B.T),
    (rt.expand_last2, lambda: V(rt.expand_last2, np.zeros(2), g=np.ones((2, 3, 3)))[0], [9.0, 9.0]),
    (rt.trace_vjp, lambda: V(rt.trace_vjp, 1.0, np.zeros((2, 2)), g=_A)[0], 5.0),
    (rt.diag_vjp, lambda: V(rt.diag_vjp, np.zeros((2, 2)), np.zeros(2), g=np.array([1.0, 2.0]))[0], np.diag([1.0, 2.0])),
    (rt.split_like, lambda: V(rt.split_like, np.zeros(3), (np.zeros(2), np.zeros(1)), g=(np.array([1.0, 2.0]), np.array([3.0])))[0],
     [1.0, 2.0, 3.0]),
    (rt.unstack_like, lambda: V(rt.unstack_like, np.zeros((2, 3)), (np.zeros(3), np.zeros(3)), g=(_B[0], _B[1]))[0], _B),
    (rt.hstack_vjp, lambda: V(rt.hstack_vjp, np.zeros(3), (np.zeros(2), np.zeros(1)), g=(np.array([1.0, 2.0]), np.array([3.0])))[0],
     [1.0, 2.0, 3.0]),
    (rt.vstack_vjp, lambda: V(rt.vstack_vjp, np.zeros((2, 3)), (np.zeros(3), np.zeros(3)), g=(_B[0], _B[1]))[0], _B),
]


@pytest.mark.parametrize("index", range(len(HAND)), ids=lambda i: f"{i}-{getattr(HAND[i][0], '__name__', '')}")
def test_hand_derived_value(index):
    _, thunk, expected = HAND[index]
    actual = thunk()
    if isinstance(expected, tuple):
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected):
            if e is None:
                assert a is None
            elif isinstance(e, tuple):
                for ai, ei in zip(a, e):
                    np.testing.assert_allclose(ai, ei, rtol=1e-12, atol=1e-12)
            else:
                np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12)
    else:
        np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12)


def test_every_rule_has_a_hand_derived_value_and_a_finite_difference_case():
    by_hand = {p for p, _, _ in HAND}
    by_fd = {c.prim for c in CASES} | {np.float32}  # float32 casts are too coarse for differences
    missing_hand = [getattr(p, "__name__", p) for p in _builtin(VJP_RULES) if p not in by_hand]
    missing_fd = [getattr(p, "__name__", p) for p in _builtin(VJP_RULES) if p not in by_fd]
    assert not missing_hand, f"no hand-derived value for {missing_hand}"
    assert not missing_fd, f"no finite-difference case for {missing_fd}"


# ---------------------------------------------------------------------------
# dtypes

FLOAT32_UNARY = [p for p, gen in UNARY if gen is not None and p not in (np.float64, builtins.abs)] + [np.float32]
FLOAT32_BINARY = [p for p, _, _ in BINARY]


@pytest.mark.parametrize("prim", FLOAT32_UNARY, ids=lambda p: p.__name__)
@pytest.mark.parametrize("kind", ["array", "scalar"])
def test_float32_unary(prim, kind):
    gen = dict(UNARY).get(prim, normal)
    x = np.asarray(gen((3,)), dtype=np.float32)
    if kind == "scalar":
        x = x[0]
    ans = prim(x)
    g = np.ones_like(ans)
    (dx,) = vjp_entries(prim, g, ans, x)
    t = jvp_value(prim, {"x": np.ones_like(x)}, ans, x) if "x_dot" in inspect.signature(JVP_RULES[prim]).parameters \
        else jvp_value(prim, {list(inspect.signature(JVP_RULES[prim]).parameters)[0][:-4]: np.ones_like(x)}, ans, x)
    for value in (dx, t):
        assert np.asarray(value).dtype == np.float32, (prim.__name__, np.asarray(value).dtype)


@pytest.mark.parametrize("prim", FLOAT32_BINARY, ids=lambda p: p.__name__)
def test_float32_binary(prim):
    x1 = np.asarray(positive((2, 3)), dtype=np.float32)
    x2 = np.asarray(positive((3,)), dtype=np.float32)
    ans = prim(x1, x2)
    entries = vjp_entries(prim, np.ones_like(ans), ans, x1, x2)
    t = jvp_value(prim, {"x1": np.ones_like(x1), "x2": np.ones_like(x2)}, ans, x1, x2)
    for value in entries + (t,):
        assert np.asarray(value).dtype == np.float32
    # Python-float operand (e.g. x * 2.0): its cotangent may be a Python float, x's stays float32
    ans = prim(x1, 0.7)
    assert np.asarray(vjp_entries(prim, np.ones_like(ans), ans, x1, 0.7)[0]).dtype == np.float32


@pytest.mark.parametrize("prim,args,kwargs", [
    (np.sum, (np.ones((2, 3)),), {"axis": 1}), (np.mean, (np.ones((2, 3)),), {}),
    (np.prod, (np.ones((2, 3)),), {"axis": 0}), (np.max, (np.arange(6.0).reshape(2, 3),), {"axis": 1}),
    (np.var, (np.arange(6.0),), {}), (np.std, (np.arange(6.0),), {}),
    (np.linalg.norm, (np.arange(1.0, 4.0),), {}), (np.linalg.norm, (np.arange(1.0, 4.0), 1), {}),
    (np.cumsum, (np.ones((2, 3)),), {"axis": 1}), (np.matmul, (np.ones((2, 3)), np.ones((3, 2))), {}),
    (np.dot, (np.ones((2, 3)), np.ones(3)), {}), (np.einsum, ("ij,jk->ik", np.ones((2, 3)), np.ones((3, 2))), {}),
    (np.linalg.det, (np.eye(3) * 2,), {}), (np.linalg.inv, (np.eye(3) * 2,), {}),
    (np.linalg.solve, (np.eye(3) * 2, np.ones(3)), {}), (np.where, (np.array([True, False]), np.ones(2), np.ones(2)), {}),
    (np.clip, (np.arange(3.0), 0.5, 1.5), {}), (scipy.special.logsumexp, (np.ones((2, 3)),), {"axis": 1}),
    (scipy.special.softmax, (np.ones((2, 3)),), {"axis": 1}),
])
def test_float32_structured(prim, args, kwargs):
    args = tuple(np.asarray(a, dtype=np.float32) if isinstance(a, np.ndarray) and a.dtype == np.float64 else a
                 for a in args)
    ans = prim(*args, **kwargs)
    # a Python float cotangent of a scalar output (d_out = 1.0) keeps float32 too
    for g in (np.ones_like(ans),) + ((1.0,) if np.ndim(ans) == 0 else ()):
        for value in vjp_entries(prim, g, ans, *args, **kwargs):
            if value is not None and not isinstance(value, float):
                assert np.asarray(value).dtype == np.float32, prim.__name__
    tangents, primals = jvp_signature(JVP_RULES[prim])
    dots = {t: np.ones_like(args[primals.index(t)]) for t in tangents
            if isinstance(args[primals.index(t)], np.ndarray) and args[primals.index(t)].dtype == np.float32}
    assert np.asarray(jvp_value(prim, dots, ans, *args, **kwargs)).dtype == np.float32


# ---------------------------------------------------------------------------
# the form of every rule: what the compiler can inline

ALLOWED_NODES = (
    ast.Name, ast.Load, ast.Constant, ast.Call, ast.Attribute, ast.BinOp, ast.UnaryOp, ast.Tuple,
    ast.IfExp, ast.Compare, ast.keyword, ast.operator, ast.unaryop, ast.cmpop, ast.BoolOp, ast.boolop,
)


def _resolve(node, namespace):
    if isinstance(node, ast.Name):
        if node.id in namespace:
            return namespace[node.id]
        return getattr(builtins, node.id)
    if isinstance(node, ast.Attribute):
        return getattr(_resolve(node.value, namespace), node.attr)
    raise AssertionError(f"cannot resolve {ast.dump(node)}")


def _all_rules():
    rules = {}
    for table in (VJP_RULES, JVP_RULES):
        for rule in table.values():
            if (rule.__module__ or "").startswith("tangent2.rules"):  # not rules made for user functions
                rules[rule.__module__ + "." + rule.__qualname__] = rule
    return sorted(rules.items())


@pytest.mark.parametrize("name,rule", _all_rules(), ids=[n for n, _ in _all_rules()])
def test_rule_form(name, rule):
    tree = ast.parse(textwrap.dedent(inspect.getsource(rule)))
    fn = tree.body[0]
    body = [s for s in fn.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    params = set(inspect.signature(rule).parameters)
    local = set()
    for stmt in body[:-1]:
        assert isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name), \
            f"{name}: only simple assignments may precede the return"
        local.add(stmt.targets[0].id)
    assert isinstance(body[-1], ast.Return) and body[-1].value is not None, f"{name} must end with a return"
    namespace = dict(rule.__globals__)
    for stmt in body:
        value = stmt.value
        for node in ast.walk(value):
            assert isinstance(node, ALLOWED_NODES), f"{name}: {type(node).__name__} is not allowed in a rule"
            if isinstance(node, ast.Name) and node.id not in params and node.id not in local:
                assert node.id in namespace or hasattr(builtins, node.id), f"{name}: unknown name {node.id}"
            if isinstance(node, ast.Call):
                assert not any(isinstance(a, ast.Starred) for a in node.args), f"{name}: *args in a call"
                callee = _resolve(node.func, namespace)
                has_rules = callee in ZERO_DERIVATIVE or (callee in VJP_RULES and callee in JVP_RULES)
                assert has_rules, f"{name}: calls {ast.unparse(node.func)}, which has no rules"
                if isinstance(node.func, ast.Name):
                    # a helper called by bare name must be the runtime helper itself, not a shadowing rule
                    assert getattr(rt, node.func.id, callee) is callee, f"{name}: {node.func.id} is shadowed"


# Primitives whose rule parameters cannot be checked against an inspectable signature.
_NO_SIGNATURE = {np.einsum, np.float32, np.float64, builtins.max, builtins.min, builtins.float, builtins.pow,
                 builtins.abs, math.log, math.hypot, scipy.special.logsumexp}


@pytest.mark.parametrize("prim", list(VJP_RULES), ids=lambda p: getattr(p, "__name__", str(p)))
def test_rule_parameters(prim):
    vjp, jvp = VJP_RULES[prim], JVP_RULES[prim]
    primals = vjp_signature(vjp)
    tangents, jvp_primals = jvp_signature(jvp)
    assert primals == jvp_primals, "VJP and JVP rules must take the same primal parameters"
    assert set(tangents) <= set(primals)
    if _return_is_tuple(vjp):
        tree = ast.parse(textwrap.dedent(inspect.getsource(vjp)))
        ret = [n for n in ast.walk(tree) if isinstance(n, ast.Return)][-1]
        assert len(ret.value.elts) <= len(primals)
    if prim in _NO_SIGNATURE:
        return
    try:
        sig = inspect.signature(prim)
    except (TypeError, ValueError):
        return
    names = set(sig.parameters)
    if prim is np.reshape:
        names.add("newshape")
    if prim is scipy.special.logsumexp:
        names.discard("b")
    assert set(primals) <= names, f"rule parameters {set(primals) - names} are not parameters of the primitive"


def test_logsumexp_parameters():
    assert vjp_signature(VJP_RULES[scipy.special.logsumexp]) == ["a", "axis", "keepdims"]


# ---------------------------------------------------------------------------
# registration

REQUIRED = [
    np.add, np.subtract, np.multiply, np.divide, np.true_divide, np.power, np.negative, np.positive, np.mod,
    np.matmul, np.sin, np.cos, np.tan, np.arcsin, np.arccos, np.arctan, np.arctan2, np.sinh, np.cosh, np.tanh,
    np.exp, np.exp2, np.expm1, np.log, np.log1p, np.log2, np.log10, np.sqrt, np.cbrt, np.square, np.abs,
    np.absolute, np.reciprocal, np.maximum, np.minimum, np.fmax, np.fmin, np.clip, np.where, np.logaddexp,
    np.hypot, np.sum, np.mean, np.prod, np.max, np.amax, np.min, np.amin, np.cumsum, np.dot, np.outer, np.inner,
    np.einsum, np.transpose, np.reshape, np.ravel, np.squeeze, np.expand_dims, np.concatenate, np.stack,
    np.hstack, np.vstack, np.broadcast_to, np.copy, np.array, np.asarray, np.trace, np.diag, np.linalg.norm,
    np.linalg.det, np.linalg.inv, np.linalg.solve, np.float32, np.float64, np.full,
    math.sin, math.cos, math.tan, math.asin, math.acos, math.atan, math.atan2, math.sinh, math.cosh, math.tanh,
    math.exp, math.expm1, math.log, math.log1p, math.log2, math.log10, math.sqrt, math.pow, math.fabs,
    math.hypot, math.erf,
    builtins.abs, builtins.pow, builtins.max, builtins.min, builtins.float,
    scipy.special.logsumexp, scipy.special.expit, scipy.special.erf, scipy.special.gammaln,
    scipy.special.digamma, scipy.special.polygamma,
    rt.unbroadcast, rt.broadcast_like, rt.add_at, rt.saved,
]
REQUIRED_ZERO = [
    np.floor_divide, np.shape, np.size, np.ndim, np.zeros, np.ones, np.empty, np.zeros_like, np.ones_like,
    np.empty_like, np.arange, np.linspace, np.eye, np.identity, np.argmax, np.argmin, np.argsort, np.floor,
    np.ceil, np.round, np.around, np.rint, np.trunc, np.sign, np.isnan, np.isfinite, np.isinf, np.greater,
    np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal, np.logical_and, np.logical_or,
    np.logical_not, np.all, np.any, np.heaviside,
    math.floor, math.ceil, math.trunc, math.isnan, math.isinf, math.isfinite,
    builtins.int, builtins.len, builtins.range, builtins.round, builtins.bool, rt.zeros_like,
]


def test_required_primitives_have_both_rules():
    missing = [getattr(p, "__name__", p) for p in REQUIRED if p not in VJP_RULES or p not in JVP_RULES]
    assert not missing, f"missing rules for {missing}"
    missing = [getattr(p, "__name__", p) for p in REQUIRED_ZERO if p not in ZERO_DERIVATIVE]
    assert not missing, f"not declared zero-derivative: {missing}"
    assert not set(REQUIRED_ZERO) & set(VJP_RULES)


def test_every_runtime_helper_has_rules():
    for name in rt.__all__:
        helper = getattr(rt, name)
        assert helper in ZERO_DERIVATIVE or (helper in VJP_RULES and helper in JVP_RULES), name


def _builtin(table):
    """The primitives of a rule table whose rules ship with tangent2 (not ones made for user functions)."""
    return {p for p, rule in table.items() if (rule.__module__ or "").startswith("tangent2.rules")}


def test_vjp_and_jvp_tables_agree():
    assert _builtin(VJP_RULES) == _builtin(JVP_RULES)
    assert not _builtin(VJP_RULES) & ZERO_DERIVATIVE


# ---------------------------------------------------------------------------
# runtime helpers: behaviour beyond the rules

def test_unbroadcast_kinds_and_dtypes():
    g = np.ones((2, 3), dtype=np.float32)
    assert type(rt.unbroadcast(g, 1.5)) is float
    assert rt.unbroadcast(g, np.float32(1.5)).dtype == np.float32
    assert isinstance(rt.unbroadcast(g, np.float32(1.5)), np.float32)
    assert isinstance(rt.unbroadcast(1.0, np.float32(1.5)), np.float32)
    assert type(rt.unbroadcast(1.0, 2.5)) is float
    assert rt.unbroadcast(g, np.zeros(3, np.float32)).dtype == np.float32
    up = rt.unbroadcast(1.0, np.zeros((2, 2), np.float32))
    assert up.shape == (2, 2) and up.dtype == np.float32 and up.flags.writeable


def test_unreduce_and_broadcast_like_give_fresh_float32_arrays():
    x = np.zeros((2, 3), np.float32)
    for value in (rt.unreduce(1.0, x), rt.unreduce(np.ones(3, np.float32), x, 0),
                  rt.broadcast_like(1.0, x), rt.broadcast_like(np.ones(3, np.float32), x)):
        assert value.shape == (2, 3) and value.dtype == np.float32 and value.flags.writeable


def test_add_at_accumulates_repeated_indices():
    dx = np.zeros(3)
    assert rt.add_at(dx, [0, 0, 2], np.array([1.0, 2.0, 3.0])) is dx
    np.testing.assert_array_equal(dx, [3.0, 0.0, 3.0])


def test_saved_is_a_copy():
    x = np.ones(2)
    s = rt.saved(x)
    x[0] = 5.0
    assert s[0] == 1.0


def test_zeros_like_kinds():
    assert rt.zeros_like(np.ones(2, np.float32)).dtype == np.float32
    assert rt.zeros_like(np.arange(3)).dtype == np.float64
    assert type(rt.zeros_like(1.0)) is float
    assert isinstance(rt.zeros_like(np.float32(1.0)), np.float32)


def test_prod_others_is_exact_with_zeros():
    x = np.array([[0.0, 2.0, 3.0], [1.0, 0.0, 0.0]])
    expected = np.array([[6.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(rt.prod_others(x, 1), expected)
    x3 = RNG.standard_normal((2, 3, 4))
    brute = np.empty_like(x3)
    for idx in np.ndindex(x3.shape):
        others = np.delete(x3[:, idx[1], :].ravel(), idx[0] * 4 + idx[2])
        brute[idx] = np.prod(others)
    np.testing.assert_allclose(rt.prod_others(x3, (0, 2)), brute)


def test_einsum_vjp_matches_explicit_loops():
    a, b = RNG.standard_normal((3, 3)), RNG.standard_normal((3, 4))
    ct = RNG.standard_normal((3, 4))
    # 'ii,ik->ik': a's gradient sits on the diagonal
    ga = rt.einsum_vjp_a(ct, "ii,ik->ik", a, b)
    np.testing.assert_allclose(ga, np.diag((ct * b).sum(1)))
    gb = rt.einsum_vjp_b(ct, "ii,ik->ik", a, b)
    np.testing.assert_allclose(gb, ct * np.diag(a)[:, None])


def test_norm_order_rejects_matrix_norms():
    with pytest.raises(NotImplementedError, match="Frobenius"):
        rt.norm_order(np.ones((2, 2)), 2)
    with pytest.raises(NotImplementedError):
        rt.norm_order(np.ones(3), 0)
    assert rt.norm_order(np.ones((2, 2)), "fro") == 2.0
    assert rt.norm_order(np.ones(3), np.inf) == np.inf


def test_second_derivatives_of_prod_are_exact_at_zeros():
    """Hessians of np.prod (and .prod()) along an axis, at points with zeros: forward over reverse and reverse
    over reverse against the hand-derived products of all but two elements, and against finite differences of
    the gradient (exact for a polynomial up to rounding)."""
    import tangent2 as tg

    def by_axis(x):
        return np.sum(np.prod(x, axis=1) * np.array([1.0, -2.0]))

    def by_method(x):
        return x.prod()

    def hand(x, rows):
        """d2/dx_ij dx_kl of sum_r w_r prod_j x_rj: w_r prod over the other two elements of row r."""
        h = np.zeros(x.shape + x.shape)
        for r, w in rows:
            for i in range(x.shape[1]):
                for k in range(x.shape[1]):
                    if i != k:
                        h[r, i, r, k] = w * np.prod(np.delete(x[r], [i, k]))
        return h

    x = np.array([[0.0, 2.0, 3.0, -1.5], [1.5, 0.0, 0.0, 0.7]])
    v = np.array([[0.3, -0.5, 0.7, 0.2], [-0.4, 0.6, 0.1, -0.8]])
    for f, h in [(by_axis, hand(x, [(0, 1.0), (1, -2.0)])),
                 (by_method, hand(x.reshape(1, 8), [(0, 1.0)]).reshape(x.shape + x.shape))]:
        grad = tg.grad(f)
        fd = np.empty_like(h)
        for idx in np.ndindex(x.shape):
            e = np.zeros_like(x)
            e[idx] = 1e-5
            fd[idx] = (grad(x + e) - grad(x - e)) / 2e-5
        hv = np.tensordot(h, v, axes=2)
        np.testing.assert_allclose(fd, h, atol=1e-8)
        np.testing.assert_allclose(tg.hessian(f)(x), h, atol=1e-12)
        np.testing.assert_allclose(tg.jvp(grad, (x,), (v,))[1], hv, atol=1e-12)
        ror = tg.grad(lambda x: np.sum(grad(x) * v), mode_switching=False)
        np.testing.assert_allclose(ror(x), hv, atol=1e-12)
