"""Numba ``@overload`` implementations of the runtime helpers, and of NumPy calls Numba lacks.

Importing this module registers them; :mod:`tangent2.jit` imports it before
compiling anything.  Every helper of :mod:`tangent2.runtime` that generated
code calls gets an overload here, so that the generated function compiles in
nopython mode with its globals untouched.

Broadcasting decisions are taken at compile time, from the Numba types of the
arguments (array or scalar, ``ndim``, dtype) and from the *constant* values of
``axis``/``keepdims``/subscript arguments, which generated code always passes
as literals (``reduce_sum(x, 1, True)``).  What can only be known at run time
(which extents are 1) is handled by loops written for the static ``ndim``:
each implementation that depends on ``ndim`` or on constant axes is generated
as Python source and compiled by Numba (see ``_build``).

NumPy functions Numba does not support with the arguments generated code (or
user code) passes get extra overloads (``np.mean``/``np.max``/``np.min``/
``np.prod``/``np.sum`` with ``axis`` and ``keepdims``, ``np.linalg.norm`` with
``axis``, ``np.ndim``, ``np.squeeze`` with ``axis``, ``np.concatenate``/
``np.stack``/``np.hstack``/``np.vstack`` of lists, ``np.flip`` with ``axis``,
``np.einsum`` with constant subscripts, ``scipy.special.logsumexp``).  Numba
tries its own implementation first; ours is used when Numba's refuses the
call.  What stays unsupported is listed in docs/jit.md.
"""
import functools
import itertools
import math
import os
import operator
import string

import numba
import numpy as np
from numba import types
from numba.core import ir, rewrites
from numba.core.typing import npydecl
from numba.core.errors import TypingError
from numba.extending import overload, register_jitable
from numba.np.numpy_support import as_dtype

from tangent2 import runtime as rt

__all__ = []

_NOT_STATIC = object()
_THIS_FILE = os.path.basename(__file__)
_NUMBA_DIR = os.path.dirname(os.path.abspath(numba.__file__)) + os.sep


# ---------------------------------------------------------------------------
# typing-time helpers

def _static(t):
    """The Python value of a constant argument type (a literal, an omitted default, None), else _NOT_STATIC."""
    if t is None or isinstance(t, (bool, int, float, str)):
        return t
    if isinstance(t, tuple):
        return t
    if isinstance(t, types.Omitted):
        return t.value
    if isinstance(t, (types.NoneType, types.Omitted)):
        return None
    if isinstance(t, types.Literal):
        return t.literal_value
    if isinstance(t, types.BaseTuple):
        values = tuple(_static(e) for e in t.types)
        if any(v is _NOT_STATIC for v in values):
            return _NOT_STATIC
        return values
    return _NOT_STATIC


def _is_none(t):
    return t is None or isinstance(t, types.NoneType) or (isinstance(t, types.Omitted) and t.value is None)


def _is_array(t):
    return isinstance(t, types.Array)


def _is_scalar(t):
    return isinstance(t, (types.Number, types.Boolean))


def _ndim(t):
    return t.ndim if _is_array(t) else 0


def _float_np(t):
    """The NumPy floating scalar type a value of Numba type ``t`` differentiates in."""
    if _is_array(t):
        dtype = as_dtype(t.dtype)
    elif isinstance(t, types.Number):
        dtype = as_dtype(t)
    else:
        return np.float64
    if np.issubdtype(dtype, np.inexact):
        return dtype.type
    return np.float64


def _result_float(*ts):
    """The floating type several values combine to; scalars count as weak (NEP 50), like Python floats."""
    arrays = [t for t in ts if _is_array(t)]
    pool = arrays or [t for t in ts if isinstance(t, types.Number)]
    if not pool:
        return np.float64
    dtypes = [np.dtype(_float_np(t)) for t in pool]
    return np.result_type(*dtypes).type


def _axes(axis_t, ndim, what):
    """Normalized sorted tuple of the constant axes ``axis_t`` names (all of them for None)."""
    value = _static(axis_t)
    if value is _NOT_STATIC:
        raise TypingError(f"{what}: the axis must be a constant (an int, a tuple of ints or None) "
                          f"for tangent2.jit, got {axis_t}")
    if value is None:
        return tuple(range(ndim))
    items = value if isinstance(value, tuple) else (value,)
    try:
        return tuple(sorted(int(a) % ndim for a in items)) if ndim else ()
    except (TypeError, ValueError):
        raise TypingError(f"{what}: cannot use axis={value!r}")


def _flag(t, what, name="keepdims"):
    value = _static(t)
    if value is _NOT_STATIC or not isinstance(value, (bool, int, np.bool_)):
        raise TypingError(f"{what}: {name}= must be a constant True or False for tangent2.jit, got {t}")
    return bool(value)


_BUILT = {}


def _build(source, name="impl", **names):
    """Compile the generated implementation ``source`` (a def called ``name``) with ``names`` as globals."""
    key = (source, name, tuple(sorted((k, id(v)) for k, v in names.items())))
    function = _BUILT.get(key)
    if function is None:
        namespace = {"np": np, "rt": rt, "math": math, "_nan": np.nan, "_inf": np.inf, "matmul": matmul,
                     "norm": norm, "cumsum": cumsum, **names}
        exec(compile(source, f"<tangent2.numba_runtime {name}>", "exec"), namespace)
        function = namespace[name]
        function.__tangent2_source__ = source
        _BUILT[key] = function
    return function


def _tuple_text(items):
    items = list(items)
    if not items:
        return "()"
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def _index_text(items):
    items = list(items)
    return ", ".join(items) if items else "()"


def _shape_unpack(var, ndim, prefix):
    """``s0, s1 = x.shape`` lines (nothing for ndim 0)."""
    if ndim == 0:
        return ""
    names = ", ".join(f"{prefix}{k}" for k in range(ndim)) + ("," if ndim == 1 else "")
    return f"    {names} = {var}.shape\n"


def _loops(extents, body, indent=1):
    """Nested ``for i{k} in range(extent_k)`` loops around ``body`` lines."""
    text = ""
    pad = "    " * indent
    for k, extent in enumerate(extents):
        text += f"{pad}{'    ' * k}for i{k} in range({extent}):\n"
    inner = pad + "    " * len(extents)
    for line in body:
        text += f"{inner}{line}\n"
    return text


# ---------------------------------------------------------------------------
# broadcasting loops (shapes known only at run time, ndim at compile time)

def _broadcast_impl(nc, nx, mode, dtype, args=("ct", "x")):
    """Loops for ``unbroadcast`` (mode "sum": sum ``ct`` down to ``x.shape``) or
    ``broadcast_like`` (mode "copy": spread ``ct`` over ``x.shape``), ``ct`` an ``nc``-d array, ``x`` ``nx``-d."""
    n = max(nc, nx) if mode == "sum" else nx
    ct, x = args
    lines = f"def impl({ct}, {x}):\n"
    if nc == nx:
        lines += f"    if {ct}.shape == {x}.shape:\n        return {ct}\n"
    lines += _shape_unpack(ct, nc, "c") + _shape_unpack(x, nx, "s")
    # extents padded on the left to n axes
    cpad = ["1"] * (n - nc) + [f"c{k}" for k in range(nc)]
    xpad = ["1"] * (n - nx) + [f"s{k}" for k in range(nx)]
    if mode == "sum":
        extents = [f"max({c}, {s})" if c != "1" and s != "1" else (s if c == "1" else c)
                   for c, s in zip(cpad, xpad)]
    else:
        extents = xpad
    ct_index = [f"(0 if c{k} == 1 else i{k + n - nc})" for k in range(nc)]
    x_index = [f"(0 if s{k} == 1 else i{k + n - nx})" if mode == "sum" else f"i{k + n - nx}" for k in range(nx)]
    lines += f"    out = np.zeros({x}.shape, _dtype)\n"
    op = "+=" if mode == "sum" else "="
    lines += _loops(extents, [f"out[{_index_text(x_index)}] {op} {ct}[{_index_text(ct_index)}]"])
    lines += "    return out\n"
    return _build(lines, _dtype=dtype)


@overload(rt.unbroadcast)
def _unbroadcast(ct, x):
    if _is_none(x) or _is_scalar(x):
        ftype = _float_np(x) if not _is_none(x) else np.float64
        if _is_array(ct):
            return _build("def impl(ct, x):\n    return _f(np.sum(ct))\n", _f=ftype)
        if isinstance(ct, types.Float) and ct.bitwidth == 64 and ftype is np.float32:
            return lambda ct, x: np.float32(ct)  # a float64 seed takes a float32 value's dtype
        return lambda ct, x: ct
    if _is_array(x):
        if _is_scalar(ct):
            dtype = _float_np(x)
            return _build("def impl(ct, x):\n    return np.full(x.shape, ct, _dtype)\n", _dtype=dtype)
        if _is_array(ct):
            dtype = _float_np(ct)
            return _broadcast_impl(ct.ndim, x.ndim, "sum", dtype)
    return None


@overload(rt.broadcast_like)
def _broadcast_like(t, like):
    if _is_none(like) or _is_scalar(like):
        return lambda t, like: t
    if _is_array(like):
        if _is_scalar(t):
            return _build("def impl(t, like):\n    return np.full(like.shape, t, _dtype)\n", _dtype=_float_np(like))
        if _is_array(t):
            return _broadcast_impl(t.ndim, like.ndim, "copy", _float_np(t), args=("t", "like"))
    return None


@overload(rt.zeros_like)
def _zeros_like(x):
    if _is_array(x):
        return _build("def impl(x):\n    return np.zeros(x.shape, _dtype)\n", _dtype=_float_np(x))
    if _is_scalar(x) or _is_none(x):
        return _build("def impl(x):\n    return _f(0)\n", _f=_float_np(x))
    if isinstance(x, (types.UniTuple, types.List)) and _is_array(x.dtype):
        dtype = _float_np(x.dtype)
        return _build("def impl(x):\n"
                      "    out = [np.zeros(x[0].shape, _dtype)]\n"
                      "    for i in range(1, len(x)):\n"
                      "        out.append(np.zeros(x[i].shape, _dtype))\n"
                      "    return out\n", _dtype=dtype)
    if isinstance(x, (types.UniTuple, types.List)) and _is_scalar(x.dtype):
        ftype = _float_np(x.dtype)
        return _build("def impl(x):\n    return [_f(0) for _ in range(len(x))]\n", _f=ftype)
    if isinstance(x, types.BaseTuple):
        # a heterogeneous tuple: a tuple of zeros (not a list: Numba lists hold one type)
        items = ", ".join(f"rt.zeros_like(x[{i}])" for i in range(len(x)))
        return _build(f"def impl(x):\n    return ({items}{',' if len(x) == 1 else ''})\n")
    return None


@overload(rt.add_at)
def _add_at(dx, index, value):
    if not _is_array(dx):
        return None
    if _is_array(index) and isinstance(index.dtype, types.Integer) and index.ndim == 1:
        if _is_array(value) and value.ndim >= 1 and value.ndim == dx.ndim:
            # value[j] goes to dx[index[j]]
            return _build("def impl(dx, index, value):\n"
                          "    for j in range(index.shape[0]):\n"
                          "        dx[index[j]] += value[j if value.shape[0] != 1 else 0]\n"
                          "    return dx\n")
        return _build("def impl(dx, index, value):\n"
                      "    for j in range(index.shape[0]):\n"
                      "        dx[index[j]] += value\n"
                      "    return dx\n")
    if _is_array(index) and isinstance(index.dtype, types.Boolean):
        return _build("def impl(dx, index, value):\n"
                      "    dx[index] = dx[index] + value\n"
                      "    return dx\n")
    # ints and slices (alone or in a tuple) never select one element twice
    return _build("def impl(dx, index, value):\n"
                  "    dx[index] += value\n"
                  "    return dx\n")


@overload(rt.gather)
def _gather(ct, index, like):
    if _is_array(ct):
        return _build("def impl(ct, index, like):\n"
                      "    picked = ct[index]\n"
                      "    return rt.unbroadcast(_copy(picked), like)\n", _copy=_copy_fn)
    return None


def _copy_fn(value):
    """A copy of an array, the value itself for a scalar (an overloaded private helper)."""
    return rt.saved(value)


@overload(_copy_fn)
def _copy_fn_impl(value):
    if _is_array(value):
        return lambda value: value.copy()
    return lambda value: value


@overload(rt.saved)
def _saved(value):
    if _is_array(value):
        return lambda value: value.copy()
    if isinstance(value, types.List):
        return lambda value: value.copy()
    return lambda value: value


def _as_dtype_fn(x, dtype):
    """``x`` as an array of ``dtype`` (no copy when it already is one), ready for BLAS (contiguous)."""
    return np.asarray(x, dtype=dtype)


@overload(_as_dtype_fn)
def _as_dtype_impl(x, dtype):
    target = _static_dtype(dtype)
    if _is_array(x):
        if as_dtype(x.dtype) == np.dtype(target):
            if x.layout in "CF":
                return lambda x, dtype: x
            return lambda x, dtype: np.ascontiguousarray(x)
        return lambda x, dtype: x.astype(dtype)
    return lambda x, dtype: dtype(x)


def _static_dtype(t):
    if isinstance(t, types.NumberClass):
        return as_dtype(t.instance_type).type
    if isinstance(t, types.DType):
        return as_dtype(t.dtype).type
    raise TypingError(f"not a dtype: {t}")


# ---------------------------------------------------------------------------
# reductions

def _reduce_impl(ndim, axes, keepdims, op, in_name="a", dtype=np.float64, post=""):
    """A reduction of an ``ndim``-d array over the constant ``axes``.

    ``op`` is "sum", "prod", "max", "min", "sumsq", "mean", "any". ``post`` is an
    expression of ``r`` applied to each result element (e.g. ``np.sqrt(r)``).
    """
    out_dims = [f"s{k}" if k not in axes else "1" for k in range(ndim) if keepdims or k not in axes]
    out_index = [f"i{k}" if k not in axes else "0" for k in range(ndim) if keepdims or k not in axes]
    init = {"sum": "0", "sumsq": "0", "mean": "0", "prod": "1", "max": "-_inf", "min": "_inf",
            "any": "0"}[op]
    if op in ("max", "min") and not np.issubdtype(np.dtype(dtype), np.inexact):
        info = np.iinfo(dtype)
        init = str(info.min if op == "max" else info.max)
    src = f"def impl({in_name}, axis=None, keepdims=False):\n" + _shape_unpack(in_name, ndim, "s")
    element = f"{in_name}[{_index_text(f'i{k}' for k in range(ndim))}]"
    scalar_out = not out_dims
    target = "acc" if scalar_out else f"out[{_index_text(out_index)}]"
    if op in ("sum", "mean"):
        update = [f"{target} += {element}"]
    elif op == "sumsq":
        update = [f"v = {element}", f"{target} += v * v"]
    elif op == "prod":
        update = [f"{target} *= {element}"]
    elif op == "max":
        update = [f"v = {element}", f"if v > {target} or v != v:", f"    {target} = v"]
    elif op == "min":
        update = [f"v = {element}", f"if v < {target} or v != v:", f"    {target} = v"]
    else:
        raise AssertionError(op)
    if scalar_out:
        src += f"    acc = _dtype({init})\n"
    else:
        src += f"    out = np.full({_tuple_text(out_dims)}, {init}, _dtype)\n"
    src += _loops([f"s{k}" for k in range(ndim)], update)
    count = " * ".join(f"s{k}" for k in axes) or "1"
    if op == "mean":
        post = f"r / ({count})"
    if scalar_out:
        result = post.replace("r", "acc") if post else "acc"
        src += f"    return {result}\n"
    else:
        if post:
            src += "    flat = out.reshape(-1)\n"
            src += "    for j in range(flat.shape[0]):\n"
            src += f"        r = flat[j]\n        flat[j] = {post}\n"
        src += "    return out\n"
    return _build(src, _dtype=dtype)


def _reduction(a, axis, keepdims, op, what, in_name="a"):
    """The implementation of a reduction call, or None when it does not apply."""
    if not _is_array(a):
        return None
    axes = _axes(axis, a.ndim, what)
    keep = _flag(keepdims, what)
    in_dtype = as_dtype(a.dtype)
    if op in ("mean", "sumsq"):
        dtype = _float_np(a)
    elif op in ("sum", "prod"):
        dtype = in_dtype.type if (np.issubdtype(in_dtype, np.inexact) or in_dtype == np.int64) else (
            np.int64 if np.issubdtype(in_dtype, np.integer) or in_dtype == np.bool_ else in_dtype.type)
    else:
        dtype = in_dtype.type
    post = "np.sqrt(r)" if op == "sumsq" else ""
    return _reduce_impl(a.ndim, axes, keep, op, in_name, dtype, post)


@overload(rt.reduce_sum, prefer_literal=True)
def _reduce_sum(x, axis=None, keepdims=False):
    if _is_scalar(x):
        return lambda x, axis=None, keepdims=False: x
    if _is_array(x):
        if _static(axis) is None and not _flag(keepdims, "reduce_sum"):
            return lambda x, axis=None, keepdims=False: np.sum(x)
        return _reduction(x, axis, keepdims, "sum", "reduce_sum", in_name="x")
    return None


@overload(rt.unreduce, prefer_literal=True)
def _unreduce(ct, x, axis=None, keepdims=False):
    if _is_scalar(x) or _is_none(x):
        return lambda ct, x, axis=None, keepdims=False: ct
    if not _is_array(x):
        return None
    if _is_scalar(ct):
        return _build("def impl(ct, x, axis=None, keepdims=False):\n"
                      "    return np.full(x.shape, ct, _dtype)\n", _dtype=_float_np(x))
    if not _is_array(ct):
        return None
    axes = _axes(axis, x.ndim, "unreduce")
    keep = _flag(keepdims, "unreduce")
    n = x.ndim
    src = "def impl(ct, x, axis=None, keepdims=False):\n"
    if ct.ndim == n:
        src += "    if ct.shape == x.shape:\n        return ct\n"
    src += _shape_unpack("x", n, "s")
    if ct.ndim == n:
        # kept (keepdims) axes, or no reduction: index ct by 0 where it has extent 1
        src += _shape_unpack("ct", n, "c")
        ct_index = [f"(0 if c{k} == 1 else i{k})" for k in range(n)]
    elif not keep and ct.ndim == n - len(axes):
        ct_index = [f"i{k}" for k in range(n) if k not in axes]
    else:
        raise TypingError(f"unreduce: a {ct.ndim}-d cotangent does not fit a {n}-d value reduced over "
                          f"axes {axes} (keepdims={keep})")
    src += "    out = np.empty(x.shape, _dtype)\n"
    src += _loops([f"s{k}" for k in range(n)], [f"out[{_index_text(f'i{k}' for k in range(n))}] = "
                                                 f"ct[{_index_text(ct_index)}]"])
    src += "    return out\n"
    return _build(src, _dtype=_float_np(ct))


@overload(rt.reduced_size, prefer_literal=True)
def _reduced_size(x, axis=None):
    if not _is_array(x):
        return lambda x, axis=None: 1
    axes = _axes(axis, x.ndim, "reduced_size")
    product = " * ".join(f"x.shape[{k}]" for k in axes) or "1"
    return _build(f"def impl(x, axis=None):\n    return {product}\n")


@overload(rt.extremum_weights, prefer_literal=True)
def _extremum_weights(x, extremum, axis=None, keepdims=False):
    ftype = _float_np(x)
    if _is_scalar(x):
        return _build("def impl(x, extremum, axis=None, keepdims=False):\n"
                      "    return _f(1.0) if x == extremum else _f(_nan)\n", _f=ftype)
    if not _is_array(x):
        return None
    axes = _axes(axis, x.ndim, "extremum_weights")
    keep = _flag(keepdims, "extremum_weights")
    axis_text = repr(axes)
    return _build("def impl(x, extremum, axis=None, keepdims=False):\n"
                  f"    full = rt.unreduce(extremum, x, {axis_text}, {keep})\n"
                  "    mask = (x == full).astype(_dtype)\n"
                  f"    count = rt.reduce_sum(mask, {axis_text}, True)\n"
                  f"    return mask / rt.unreduce(count, x, {axis_text}, True)\n", _dtype=ftype)


@overload(rt.prod_others, prefer_literal=True)
def _prod_others(x, axis=None):
    ftype = _float_np(x)
    if _is_scalar(x):
        return _build("def impl(x, axis=None):\n    return _f(1.0)\n", _f=ftype)
    if not _is_array(x):
        return None
    axes = _axes(axis, x.ndim, "prod_others")
    exclusive = ("    n = flat.shape[1]\n"
                 "    out = np.empty(flat.shape, _dtype)\n"
                 "    for r in range(flat.shape[0]):\n"
                 "        acc = _dtype(1.0)\n"
                 "        for j in range(n):\n"
                 "            out[r, j] = acc\n"
                 "            acc *= flat[r, j]\n"
                 "        acc = _dtype(1.0)\n"
                 "        for j in range(n - 1, -1, -1):\n"
                 "            out[r, j] *= acc\n"
                 "            acc *= flat[r, j]\n")
    if len(axes) == x.ndim:
        src = ("def impl(x, axis=None):\n"
               "    flat = np.ascontiguousarray(x).astype(_dtype).reshape((1, x.size))\n" + exclusive +
               "    return out.reshape(x.shape)\n")
        return _build(src, _dtype=ftype)
    # the reduced axes moved last, flattened into one
    perm = tuple(k for k in range(x.ndim) if k not in axes) + axes
    inverse = tuple(int(i) for i in np.argsort(perm))
    kept = [f"x.shape[{k}]" for k in range(x.ndim) if k not in axes]
    moved_shape = _tuple_text([f"x.shape[{k}]" for k in perm])
    src = ("def impl(x, axis=None):\n"
           f"    moved = np.ascontiguousarray(np.transpose(x, {perm!r})).astype(_dtype)\n"
           f"    rows = {' * '.join(kept) or '1'}\n"
           "    flat = moved.reshape((rows, moved.size // max(rows, 1)))\n" + exclusive +
           f"    return np.ascontiguousarray(np.transpose(out.reshape({moved_shape}), {inverse!r}))\n")
    return _build(src, _dtype=ftype)


@overload(rt.prod_others_dot, prefer_literal=True)
def _prod_others_dot(t, x, axis=None):
    ftype = _result_float(t, x)
    if _is_scalar(x):
        return _build("def impl(t, x, axis=None):\n    return _f(0.0)\n", _f=ftype)
    if not _is_array(x):
        return None
    axes = _axes(axis, x.ndim, "prod_others_dot")
    # exclusive products of the dual numbers x + eps t: (value, eps part) before each element, then after it
    exclusive = ("    n = flat.shape[1]\n"
                 "    before = np.empty(flat.shape, _dtype)\n"
                 "    before_eps = np.empty(flat.shape, _dtype)\n"
                 "    out = np.empty(flat.shape, _dtype)\n"
                 "    for r in range(flat.shape[0]):\n"
                 "        acc = _dtype(1.0)\n"
                 "        acc_eps = _dtype(0.0)\n"
                 "        for j in range(n):\n"
                 "            before[r, j] = acc\n"
                 "            before_eps[r, j] = acc_eps\n"
                 "            acc_eps = acc_eps * flat[r, j] + acc * tflat[r, j]\n"
                 "            acc *= flat[r, j]\n"
                 "        acc = _dtype(1.0)\n"
                 "        acc_eps = _dtype(0.0)\n"
                 "        for j in range(n - 1, -1, -1):\n"
                 "            out[r, j] = before[r, j] * acc_eps + before_eps[r, j] * acc\n"
                 "            acc_eps = acc_eps * flat[r, j] + acc * tflat[r, j]\n"
                 "            acc *= flat[r, j]\n")
    full_t = "np.full(x.shape, t)" if _is_scalar(t) else "t"
    if len(axes) == x.ndim:
        src = ("def impl(t, x, axis=None):\n"
               "    flat = np.ascontiguousarray(x).astype(_dtype).reshape((1, x.size))\n"
               f"    tflat = np.ascontiguousarray({full_t}).astype(_dtype).reshape((1, x.size))\n" + exclusive +
               "    return out.reshape(x.shape)\n")
        return _build(src, _dtype=ftype)
    perm = tuple(k for k in range(x.ndim) if k not in axes) + axes
    inverse = tuple(int(i) for i in np.argsort(perm))
    kept = [f"x.shape[{k}]" for k in range(x.ndim) if k not in axes]
    moved_shape = _tuple_text([f"x.shape[{k}]" for k in perm])
    src = ("def impl(t, x, axis=None):\n"
           f"    moved = np.ascontiguousarray(np.transpose(x, {perm!r})).astype(_dtype)\n"
           f"    tmoved = np.ascontiguousarray(np.transpose({full_t}, {perm!r})).astype(_dtype)\n"
           f"    rows = {' * '.join(kept) or '1'}\n"
           "    flat = moved.reshape((rows, moved.size // max(rows, 1)))\n"
           "    tflat = tmoved.reshape((rows, moved.size // max(rows, 1)))\n" + exclusive +
           f"    return np.ascontiguousarray(np.transpose(out.reshape({moved_shape}), {inverse!r}))\n")
    return _build(src, _dtype=ftype)


@overload(rt.cumsum_vjp, prefer_literal=True)
def _cumsum_vjp(ct, a, axis=None):
    if not _is_array(ct):
        return lambda ct, a, axis=None: ct
    ftype = _float_np(ct)
    value = _static(axis)
    if value is None:
        src = ("def impl(ct, a, axis=None):\n"
               "    flat = np.ascontiguousarray(ct).reshape(-1)\n"
               "    out = np.empty(flat.shape, _dtype)\n"
               "    acc = _dtype(0.0)\n"
               "    for j in range(flat.shape[0] - 1, -1, -1):\n"
               "        acc += flat[j]\n"
               "        out[j] = acc\n"
               + ("    return out.reshape(a.shape)\n" if _is_array(a) else "    return out[0]\n"))
        return _build(src, _dtype=ftype)
    ax = _axes(axis, ct.ndim, "cumsum_vjp")[0]
    src = ("def impl(ct, a, axis=None):\n"
           f"    moved = np.ascontiguousarray(np.moveaxis(ct, {ax}, -1))\n"
           "    n = moved.shape[-1]\n"
           "    flat = moved.reshape((moved.size // max(n, 1), n))\n"
           "    out = np.empty(flat.shape, _dtype)\n"
           "    for r in range(flat.shape[0]):\n"
           "        acc = _dtype(0.0)\n"
           "        for j in range(n - 1, -1, -1):\n"
           "            acc += flat[r, j]\n"
           "            out[r, j] = acc\n"
           f"    return np.ascontiguousarray(np.moveaxis(out.reshape(moved.shape), -1, {ax}))\n")
    return _build(src, _dtype=ftype)


# ---------------------------------------------------------------------------
# products (operands of 0, 1 or 2 dimensions)

def _cast_pair(*ts):
    """Source fragments that give array operands a common float dtype (Numba's BLAS calls need one)."""
    dtype = _result_float(*ts)
    return dtype


def _product_impl(params, expr, dtype, arrays):
    """``def impl(params): return expr`` with the array operands in ``arrays`` converted to ``dtype``."""
    lines = f"def impl({params}):\n"
    for name in arrays:
        lines += f"    {name} = _cast({name}, _dtype)\n"
    lines += f"    return {expr}\n"
    return _build(lines, _dtype=dtype, _cast=_as_dtype_fn)


def _products(ct, a, b, table, what, general=None):
    na, nb = _ndim(a), _ndim(b)
    key = (na, nb)
    if key not in table:
        expr = general(na, nb) if general is not None else None
        if expr is None:
            raise TypingError(f"{what}: operands of {na} and {nb} dimensions are not supported by tangent2.jit")
        dtype = _result_float(*[t for t in (ct, a, b) if _is_array(t)] or [ct, a, b])
        return _build(expr, _dtype=dtype, _cast=_as_dtype_fn)
    expr = table[key]
    if expr is None:
        return None
    dtype = _result_float(*[t for t in (ct, a, b) if _is_array(t)] or [ct, a, b])
    arrays = [name for name, t in (("ct", ct), ("a", a), ("b", b)) if _is_array(t)]
    return _product_impl("ct, a, b", expr, dtype, arrays)


def _shape_text(items):
    return _tuple_text(items)


def _nd_prelude(names):
    return "".join(f"    {n.upper()} = np.ascontiguousarray(_cast({n}, _dtype))\n" for n in names)


def _dot_nd(na, nb):
    """Source of np.dot for operands of any ndim >= 1 (a's last axis against b's second-to-last)."""
    if na == 0 or nb == 0:
        return None
    out = [f"a.shape[{k}]" for k in range(na - 1)]
    src = "def impl(a, b):\n" + _nd_prelude(["a", "b"]) + "    n = max(A.shape[-1], 1)\n"
    src += "    A2 = A.reshape((A.size // n, n))\n"
    if nb == 1:
        return src + f"    return np.dot(A2, B).reshape({_shape_text(out)})\n" if out else src + "    return np.dot(A, B)\n"
    out += [f"b.shape[{k}]" for k in range(nb - 2)] + [f"b.shape[{nb - 1}]"]
    src += "    Bm = np.ascontiguousarray(np.moveaxis(B, -2, 0)).reshape((n, B.size // n))\n"
    return src + f"    return np.dot(A2, Bm).reshape({_shape_text(out)})\n"


def _dot_vjp_a_nd(na, nb):
    if na == 0 or nb == 0:
        return None
    src = "def impl(ct, a, b):\n" + _nd_prelude(["ct", "b"]) + "    n = max(a.shape[-1], 1)\n"
    if nb == 1:
        return src + "    return (CT.reshape((CT.size, 1)) * B).reshape(a.shape)\n"
    src += "    Bm = np.ascontiguousarray(np.moveaxis(B, -2, 0)).reshape((n, B.size // n))\n"
    src += "    CT2 = CT.reshape((max(a.size // n, 1) if a.size else 0, Bm.shape[1]))\n"
    return src + "    return np.dot(CT2, Bm.T).reshape(a.shape)\n"


def _dot_vjp_b_nd(na, nb):
    if na == 0 or nb == 0:
        return None
    src = "def impl(ct, a, b):\n" + _nd_prelude(["ct", "a"]) + "    n = max(a.shape[-1], 1)\n"
    src += "    A2 = A.reshape((A.size // n, n))\n"
    if nb == 1:
        return src + "    return np.dot(A2.T, CT.reshape(CT.size))\n"
    moved = ["n"] + [f"b.shape[{k}]" for k in range(nb - 2)] + [f"b.shape[{nb - 1}]"]
    src += "    G = np.dot(A2.T, CT.reshape((A2.shape[0], CT.size // max(A2.shape[0], 1))))\n"
    return src + f"    return np.ascontiguousarray(np.moveaxis(G.reshape({_shape_text(moved)}), 0, -2))\n"


def _inner_nd(na, nb):
    if na == 0 or nb == 0:
        return None
    out = [f"a.shape[{k}]" for k in range(na - 1)] + [f"b.shape[{k}]" for k in range(nb - 1)]
    src = "def impl(a, b):\n" + _nd_prelude(["a", "b"]) + "    n = max(A.shape[-1], 1)\n"
    if not out:
        return src + "    return np.dot(A, B)\n"
    src += "    A2 = A.reshape((A.size // n, n))\n    B2 = B.reshape((B.size // n, n))\n"
    return src + f"    return np.dot(A2, B2.T).reshape({_shape_text(out)})\n"


def _inner_vjp_a_nd(na, nb):
    if na == 0 or nb == 0:
        return None
    src = "def impl(ct, a, b):\n" + _nd_prelude(["ct", "b"]) + "    n = max(b.shape[-1], 1)\n"
    src += "    B2 = B.reshape((B.size // n, n))\n"
    return src + "    return np.dot(CT.reshape((CT.size // max(B2.shape[0], 1), B2.shape[0])), B2).reshape(a.shape)\n"


def _inner_vjp_b_nd(na, nb):
    if na == 0 or nb == 0:
        return None
    src = "def impl(ct, a, b):\n" + _nd_prelude(["ct", "a"]) + "    n = max(a.shape[-1], 1)\n"
    src += "    A2 = A.reshape((A.size // n, n))\n"
    return src + "    return np.dot(CT.reshape((A2.shape[0], CT.size // max(A2.shape[0], 1))).T, A2).reshape(b.shape)\n"


def _matmul_vjp_nd(which):
    def general(na, nb):
        if na < 2 or nb < 2:
            return None
        if which == "a":
            return ("def impl(ct, a, b):\n"
                    "    return rt.unbroadcast(matmul(ct, np.swapaxes(b, -1, -2)), a)\n")
        return ("def impl(ct, a, b):\n"
                "    return rt.unbroadcast(matmul(np.swapaxes(a, -1, -2), ct), b)\n")
    return general


_SCALAR_CASES = {(0, 0): "rt.unbroadcast(ct * b, a)", (0, 1): "rt.unbroadcast(ct * b, a)",
                 (1, 0): "rt.unbroadcast(ct * b, a)", (0, 2): "rt.unbroadcast(ct * b, a)",
                 (2, 0): "rt.unbroadcast(ct * b, a)"}
_SCALAR_CASES_B = {k: "rt.unbroadcast(ct * a, b)" for k in _SCALAR_CASES}


@overload(rt.dot_vjp_a)
def _dot_vjp_a(ct, a, b):
    table = {**_SCALAR_CASES, **{(1, 1): "ct * b", (2, 1): "np.outer(ct, b)", (1, 2): "np.dot(b, ct)",
                                   (2, 2): "np.dot(ct, b.T)"}}
    return _products(ct, a, b, table, "dot_vjp_a", _dot_vjp_a_nd)


@overload(rt.dot_vjp_b)
def _dot_vjp_b(ct, a, b):
    table = {**_SCALAR_CASES_B, **{(1, 1): "ct * a", (2, 1): "np.dot(a.T, ct)", (1, 2): "np.outer(a, ct)",
                                     (2, 2): "np.dot(a.T, ct)"}}
    return _products(ct, a, b, table, "dot_vjp_b", _dot_vjp_b_nd)


@overload(rt.matmul_vjp_a)
def _matmul_vjp_a(ct, a, b):
    table = {(1, 1): "ct * b", (2, 1): "np.outer(ct, b)", (1, 2): "np.dot(b, ct)", (2, 2): "np.dot(ct, b.T)"}
    return _products(ct, a, b, table, "matmul_vjp_a", _matmul_vjp_nd("a"))


@overload(rt.matmul_vjp_b)
def _matmul_vjp_b(ct, a, b):
    table = {(1, 1): "ct * a", (2, 1): "np.dot(a.T, ct)", (1, 2): "np.outer(a, ct)", (2, 2): "np.dot(a.T, ct)"}
    return _products(ct, a, b, table, "matmul_vjp_b", _matmul_vjp_nd("b"))


@overload(rt.inner_vjp_a)
def _inner_vjp_a(ct, a, b):
    table = {**_SCALAR_CASES, **{(1, 1): "ct * b", (2, 1): "np.outer(ct, b)", (1, 2): "np.dot(ct, b)",
                                   (2, 2): "np.dot(ct, b)"}}
    return _products(ct, a, b, table, "inner_vjp_a", _inner_vjp_a_nd)


@overload(rt.inner_vjp_b)
def _inner_vjp_b(ct, a, b):
    table = {**_SCALAR_CASES_B, **{(1, 1): "ct * a", (2, 1): "np.dot(ct, a)", (1, 2): "np.outer(ct, a)",
                                     (2, 2): "np.dot(ct.T, a)"}}
    return _products(ct, a, b, table, "inner_vjp_b", _inner_vjp_b_nd)


def _batched_matmul_source(na, nb):
    """``a @ b`` for stacks of matrices (ndim >= 2 each), batch axes broadcast (extent-1 axes repeat)."""
    n = max(na, nb) - 2
    a_pad = [None] * (n - (na - 2)) + list(range(na - 2))
    b_pad = [None] * (n - (nb - 2)) + list(range(nb - 2))
    extents = []
    for k in range(n):
        options = [f"a.shape[{a_pad[k]}]" for _ in [0] if a_pad[k] is not None] + \
                  [f"b.shape[{b_pad[k]}]" for _ in [0] if b_pad[k] is not None]
        extents.append(options[0] if len(options) == 1 else f"max({options[0]}, {options[1]})")
    a_index = [f"(0 if a.shape[{a_pad[k]}] == 1 else i{k})" for k in range(n) if a_pad[k] is not None]
    b_index = [f"(0 if b.shape[{b_pad[k]}] == 1 else i{k})" for k in range(n) if b_pad[k] is not None]
    src = "def impl(a, b):\n    A = _cast(a, _dtype)\n    B = _cast(b, _dtype)\n"
    for k, e in enumerate(extents):
        src += f"    e{k} = {e}\n"
    dims = _tuple_text([f"e{k}" for k in range(n)] + ["a.shape[-2]", "b.shape[-1]"])
    src += f"    out = np.empty({dims}, _dtype)\n"
    a_item = f"A[{', '.join(a_index)}]" if a_index else "A"
    b_item = f"B[{', '.join(b_index)}]" if b_index else "B"
    src += _loops([f"e{k}" for k in range(n)], [
        f"out[{', '.join(f'i{k}' for k in range(n))}] = np.dot(np.ascontiguousarray({a_item}), "
        f"np.ascontiguousarray({b_item}))"])
    return src + "    return out\n"


def _matmul_typer(a, b):
    """``a @ b`` for what Numba's own matmul refuses: mixed dtypes, non-contiguous operands, stacks of matrices."""
    if not (_is_array(a) and _is_array(b)):
        return None
    na, nb = a.ndim, b.ndim
    dtype = _result_float(a, b)
    if na <= 2 and nb <= 2:
        return _build("def impl(a, b):\n    return np.dot(_cast(a, _dtype), _cast(b, _dtype))\n",
                      _cast=_as_dtype_fn, _dtype=dtype)
    if na >= 2 and nb >= 2:
        return _build(_batched_matmul_source(na, nb), _cast=_as_dtype_fn, _dtype=dtype)
    if na == 1 and nb > 2:
        inner = _register_pieces(_build(_batched_matmul_source(2, nb), _cast=_as_dtype_fn, _dtype=dtype))
        shape = _tuple_text([f"b.shape[{k}]" for k in range(nb - 2)] + [f"b.shape[{nb - 1}]"])
        return _build(f"def impl(a, b):\n    return _inner(a.reshape((1, a.shape[0])), b).reshape({shape})\n",
                      _inner=inner)
    if nb == 1 and na > 2:
        inner = _register_pieces(_build(_batched_matmul_source(na, 2), _cast=_as_dtype_fn, _dtype=dtype))
        shape = _tuple_text([f"a.shape[{k}]" for k in range(na - 1)])
        return _build(f"def impl(a, b):\n    return _inner(a, b.reshape((b.shape[0], 1))).reshape({shape})\n",
                      _inner=inner)
    raise TypingError(f"matmul of {na}-d and {nb}-d arrays is not supported by tangent2.jit (1-d, 2-d, "
                      "and stacks of 2-d matrices are)")


def matmul(a, b):
    """``np.matmul`` as Numba compiles it: calls to ``np.matmul`` are redirected here (see _RedirectMatmul)."""
    return np.matmul(a, b)


overload(matmul)(_matmul_typer)
overload(operator.matmul)(_matmul_typer)


def norm(x, ord=None, axis=None, keepdims=False):
    """``np.linalg.norm`` as Numba compiles it (calls are redirected here, see _RedirectCalls)."""
    return np.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)


_numba_norm = np.linalg.norm  # Numba's own, called for the cases below that it handles


@overload(norm, prefer_literal=True)
def _norm(x, ord=None, axis=None, keepdims=False):
    if _is_scalar(x):
        return lambda x, ord=None, axis=None, keepdims=False: abs(x)
    if not _is_array(x):
        return None
    order = _static(ord)
    keep = _flag(keepdims, "np.linalg.norm")
    ax = _static(axis)
    if ax is None and not keep:
        if order in (None, "fro") and (x.ndim > 2 or order == "fro"):
            # the Frobenius / flattened 2-norm (Numba's norm refuses 'fro' and ndim > 2)
            return _build("def impl(x, ord=None, axis=None, keepdims=False):\n"
                          "    return np.sqrt(np.sum(x * x))\n")
        if x.ndim <= 2:
            return lambda x, ord=None, axis=None, keepdims=False: _numba_norm(x, ord)
        raise TypingError(f"np.linalg.norm of a {x.ndim}-d array with ord={order!r} is not supported")
    axes = _axes(axis, x.ndim, "np.linalg.norm")
    if len(axes) == 2 and order not in (None, "fro"):
        raise TypingError(f"np.linalg.norm with ord={order!r} over two axes (a matrix norm) is not supported "
                          "by tangent2.jit; only the Frobenius norm is")
    if order in (None, 2, 2.0, "fro"):
        impl = _reduction(x, axis, keepdims, "sumsq", "np.linalg.norm")
    elif order in (1, 1.0):
        impl = _build(_abs_reduction_source(x.ndim, axes, keep, "sum"), _dtype=_float_np(x))
    elif order in (np.inf, -np.inf):
        impl = _build(_abs_reduction_source(x.ndim, axes, keep, "max" if order > 0 else "min"),
                      _dtype=_float_np(x))
    else:
        p = float(order)
        return _build("def impl(x, ord=None, axis=None, keepdims=False):\n"
                      f"    return rt.reduce_sum(np.abs(x) ** {p!r}, {axes!r}, {keep}) ** (1.0 / {p!r})\n")
    return _build("def impl(x, ord=None, axis=None, keepdims=False):\n"
                  "    return _impl(x, axis, keepdims)\n", _impl=_register_pieces(impl))


def _abs_reduction_source(ndim, axes, keep, op):
    src = _reduce_source_cache.get((ndim, axes, keep, op))
    if src is None:
        base = _reduce_impl(ndim, axes, keep, op, "a", np.float64).__tangent2_source__
        src = base.replace("def impl(a, axis=None, keepdims=False):", "def impl(x, axis=None, keepdims=False):\n"
                           "    a = np.abs(x)")
        _reduce_source_cache[(ndim, axes, keep, op)] = src
    return src


_reduce_source_cache = {}

def cumsum(a, axis=None):
    """``np.cumsum`` as Numba compiles it: a scalar gives a 1-element array, as in NumPy."""
    return np.cumsum(a, axis=axis)


_numba_cumsum = np.cumsum


@overload(cumsum, prefer_literal=True)
def _cumsum(a, axis=None):
    if _is_scalar(a):
        return lambda a, axis=None: np.full(1, a)
    if _is_array(a):
        if _is_none(axis):
            return lambda a, axis=None: _numba_cumsum(a)
        ax = _axes(axis, a.ndim, "np.cumsum")[0]
        if a.ndim == 1:
            return lambda a, axis=None: _numba_cumsum(a)
        return _build("def impl(a, axis=None):\n"
                      f"    moved = np.ascontiguousarray(np.moveaxis(a, {ax}, -1))\n"
                      "    n = moved.shape[-1]\n"
                      "    flat = moved.reshape((moved.size // max(n, 1), n))\n"
                      "    out = np.empty(flat.shape, _dtype)\n"
                      "    for r in range(flat.shape[0]):\n"
                      "        acc = _dtype(0)\n"
                      "        for j in range(n):\n"
                      "            acc += flat[r, j]\n"
                      "            out[r, j] = acc\n"
                      f"    return np.ascontiguousarray(np.moveaxis(out.reshape(moved.shape), -1, {ax}))\n",
                      _dtype=_float_np(a) if np.issubdtype(as_dtype(a.dtype), np.inexact) else np.int64)
    return None


def dot(a, b):
    """``np.dot`` as Numba compiles it (calls are redirected here, see _RedirectCalls)."""
    return np.dot(a, b)


@overload(dot, jit_options={"fastmath": {"reassoc"}})
def _dot(a, b):
    # A 1-d product is a loop, not Numba's BLAS call: the call's entry costs 25-110 ns, ten times a
    # 3-vector product (vmap makes that per example), and a function that calls out keeps the
    # reference counting of its array views that Numba otherwise prunes.  Measured per 10,000 rows
    # of a 3-vector product: BLAS 300-400 us, this loop 14 us (a guarded BLAS branch for long
    # vectors costs as much as BLAS throughout).  Reassociation lets LLVM vectorize the sum, as BLAS
    # does, so long vectors stay at BLAS speed (10^3 and 10^6 elements: the same or within 1.4x), and
    # keeps the loop small enough to be inlined.
    if _is_scalar(a) or _is_scalar(b):
        return lambda a, b: a * b
    if not (_is_array(a) and _is_array(b)):
        return None
    if (a.ndim == 1 and b.ndim == 1 and a.dtype == b.dtype
            and isinstance(a.dtype, (types.Float, types.Complex))):
        return _build("def impl(a, b):\n"
                      "    n = a.shape[0]\n"
                      "    if n != b.shape[0]:\n"
                      "        raise ValueError('np.dot: shapes of the 1-d operands not aligned')\n"
                      "    acc = _zero\n"
                      "    for i in range(n):\n"
                      "        acc += a[i] * b[i]\n"
                      "    return acc\n", _zero=as_dtype(a.dtype).type(0))
    return lambda a, b: np.dot(a, b)


_REDIRECTS = {np.matmul: matmul, np.linalg.norm: norm, np.cumsum: cumsum, np.dot: dot}


# ---------------------------------------------------------------------------
# NumPy 2's promotion of Python scalars (NEP 50) in code tangent2 writes
#
# NumPy 2 treats a Python float, int or complex meeting an array as "weak": ``x32 * 0.5``, ``1.0 - x32`` and
# ``np.where(c, x32, 0.0)`` stay float32.  Numba types a Python float as float64 and promotes by types alone,
# so the same expressions come out float64.  Generated code is full of such constants (``d * 2``,
# ``1.0 - ans * ans``, the seed ``d_out = 1.0`` reaching ``matmul_vjp_a(d_out, a, b)``), and a loop-carried
# adjoint that starts float32 (``zeros_like(x)``) and is updated through them became float64 inside the
# loop: "Cannot unify array(float32, 2d) and array(float64, 2d)".  So while Numba types code tangent2 wrote
# (generated functions, and this module's implementations of the runtime helpers, which must compute what
# the Python helpers compute), Python-scalar operands of ufuncs and array operators (and the branches of
# ``np.where`` in generated code) are cast to the precision NumPy 2 gives them, as NumPy casts them.  Numba
# cannot tell a Python float from an ``np.float64`` scalar (both are float64 to it), so a float64 NumPy
# scalar meeting a float32 array also counts as weak there; NumPy 2 computes that (mixed-precision)
# operation in float64.  User code Numba compiles, and Numba's own implementations, keep Numba's rules.

def _python_scalar(t):
    """The Python scalar a Numba scalar type stands for in generated code (int64, float64 and complex128 are
    how Numba types Python's int, float and complex), or None for a typed NumPy scalar such as float32."""
    if isinstance(t, types.Integer) and t.signed and t.bitwidth == 64:
        return 0
    if t == types.float64:
        return 0.0
    if t == types.complex128:
        return 0j
    return None


def _weak_scalars(args):
    """``args`` (Numba types of one operation's inputs) with each Python-scalar type replaced by the float32 or
    complex64 type NumPy 2 converts it to when it meets the arrays (and typed scalars) among the inputs."""
    if not any(_is_array(a) for a in args):
        return tuple(args)
    try:
        strong = [as_dtype(a.dtype if _is_array(a) else a) for a in args
                  if _is_array(a) or (isinstance(a, types.Number) and _python_scalar(a) is None)]
    except NotImplementedError:
        return tuple(args)  # a record or other array NumPy has no number dtype for
    replaced = []
    for a in args:
        example = _python_scalar(a) if isinstance(a, types.Number) else None
        if example is not None:
            dtype = np.result_type(*strong, example)
            if dtype in (np.float32, np.complex64):
                a = numba.from_dtype(dtype)
        replaced.append(a)
    return tuple(replaced)


@functools.lru_cache(maxsize=None)
def _generated_file(filename):
    from tangent2.backends.numba_cpu import _is_generated
    return _is_generated(filename)


def _follows_numpy2(filename):
    """Whether code from ``filename`` is typed with NumPy 2's promotion: generated functions, and the
    implementations in this module, which compute what the Python helpers of tangent2/runtime.py compute."""
    return filename.startswith("<tangent2.numba_runtime") or os.path.basename(filename) == _THIS_FILE or \
        _generated_file(filename)


def _typing_tangent2_code(context):
    """Whether Numba is typing code tangent2 wrote (the innermost function on its compile stack)."""
    stack = context.callstack
    return len(stack) > 0 and _follows_numpy2(str(stack[0].func_id.filename))


_NUMBA_UFUNC_GENERIC = npydecl.Numpy_rules_ufunc.generic


def _ufunc_generic(self, args, kws):
    """Numba's typing of a ufunc or array operator call, with NEP 50's weak Python scalars in code tangent2
    wrote: the signature takes the scalar as float32 (say), so Numba casts it before the call, as NumPy does."""
    if _typing_tangent2_code(self.context):
        nin = self.ufunc.nin
        inputs = [a.type if isinstance(a, types.Optional) else a for a in args[:nin]]
        weak = _weak_scalars(inputs) + tuple(args[nin:])
        if weak != tuple(args):
            try:
                signature = _NUMBA_UFUNC_GENERIC(self, weak, kws)
            except TypingError:
                signature = None
            if signature is not None:
                return signature
    return _NUMBA_UFUNC_GENERIC(self, args, kws)


# Numba's array operators (NumpyRulesArrayOperator, in-place and unary ones) and ufunc calls all type through
# this method; there is no extension point for promotion rules.
npydecl.Numpy_rules_ufunc.generic = _ufunc_generic


def where(condition, x, y):
    """``np.where`` as Numba compiles it in generated code (calls are redirected here, see _RedirectCalls)."""
    return np.where(condition, x, y)


@overload(where)
def _where(condition, x, y):
    weak_x, weak_y = _weak_scalars((x, y))
    if (weak_x, weak_y) == (x, y):
        return lambda condition, x, y: np.where(condition, x, y)
    # a Python-float branch takes the arrays' precision: np.where(c, x32, 0.0) is float32 in NumPy 2
    return _build("def impl(condition, x, y):\n    return np.where(condition, _x(x), _y(y))\n",
                  _x=_scalar_type(weak_x), _y=_scalar_type(weak_y))


def _scalar_type(t):
    """The NumPy scalar type for a Numba scalar type (a cast Numba compiles), identity for arrays."""
    return as_dtype(t).type if _is_scalar(t) else _identity


@register_jitable
def _identity(value):
    return value


# calls redirected in generated code only: there they follow NumPy 2's promotion (above)
_GENERATED_REDIRECTS = {np.where: where}


@rewrites.register_rewrite("before-inference")
class _RedirectCalls(rewrites.Rewrite):
    """Send calls of ``np.matmul``, ``np.linalg.norm``, ``np.cumsum`` and ``np.dot`` to the functions above.

    Numba has no ``np.matmul``, and an overload of it cannot work: NumPy 2's
    ``np.matmul`` is a ufunc, and Numba's array-expression rewrite would turn
    a typed call of it into an *elementwise* loop.  Numba's ``np.linalg.norm``
    accepts ``ord='fro'`` at compile time and fails at run time.  So these
    names are replaced, before typing, by plain functions with overloads
    (``@`` is left to Numba, with an extra overload for what it refuses).  ``np.dot`` of 1-d
    arrays is a loop instead of a BLAS call.  In generated code ``np.where`` is redirected too
    (NumPy 2's promotion of Python scalars, above).
    The implementations in this module are left alone.
    """

    def match(self, func_ir, block, typemap, calltypes):
        self.hits = []
        filename = str(getattr(func_ir.loc, "filename", ""))
        if (filename.startswith("<tangent2.numba_runtime") or os.path.basename(filename) == _THIS_FILE
                or filename.startswith(_NUMBA_DIR)):
            return False  # our own implementations, and Numba's (np.dot(a, b, out)), call Numba's versions
        self.func_ir = func_ir
        self.block = block
        table = {**_REDIRECTS, **_GENERATED_REDIRECTS} if _generated_file(filename) else _REDIRECTS
        for inst in block.find_insts(ir.Assign):
            target = _resolve_object(func_ir, inst.value, table)
            if target is not None:
                self.hits.append((inst, table[target]))
        return bool(self.hits)

    def apply(self):
        for inst, replacement in self.hits:
            inst.value = ir.Global(f"tangent2_{replacement.__name__}", replacement, inst.loc)
            self.func_ir._definitions[inst.target.name] = [inst.value]
        return self.block


def _resolve_object(func_ir, value, table):
    """The object of ``table`` an IR value (a global, or a getattr chain on a module global) refers to, else None."""
    obj = _ir_value(func_ir, value, 0)
    try:
        return obj if obj in table else None
    except TypeError:  # unhashable
        return None


def _ir_value(func_ir, value, depth):
    if depth > 4:
        return None
    if isinstance(value, (ir.Global, ir.FreeVar)):
        return value.value
    if isinstance(value, ir.Expr) and value.op == "getattr":
        try:
            base = func_ir.get_definition(value.value)
        except (KeyError, AttributeError):
            return None
        owner = _ir_value(func_ir, base, depth + 1)
        if owner is None or not isinstance(owner, type(np)):
            return None
        return getattr(owner, value.attr, None)
    return None


@overload(rt.mat_outer)
def _mat_outer(u, v):
    if _ndim(u) == 1 and _ndim(v) == 1:
        return _product_impl("u, v", "np.outer(u, v)", _result_float(u, v), ["u", "v"])
    if _ndim(u) == 2 and _ndim(v) == 2:
        return _product_impl("u, v", "np.dot(u, v.T)", _result_float(u, v), ["u", "v"])
    if _ndim(u) >= 2 and _ndim(v) >= 2:
        return lambda u, v: matmul(u, np.swapaxes(v, -1, -2))
    raise TypingError("mat_outer: only 1-d or 2-d operands are supported by tangent2.jit")


@overload(rt.matrix_transpose)
def _matrix_transpose(x):
    if _is_array(x) and x.ndim >= 2:
        return lambda x: np.swapaxes(x, -1, -2)
    return None


@overload(rt.expand_last2)
def _expand_last2(x):
    if _is_scalar(x):
        return lambda x: np.full((1, 1), x)
    if _is_array(x):
        shape = _tuple_text([f"x.shape[{k}]" for k in range(x.ndim)] + ["1", "1"])
        return _build(f"def impl(x):\n    return np.ascontiguousarray(x).reshape({shape})\n")
    return None


# ---------------------------------------------------------------------------
# structure

@overload(rt.trace_vjp, prefer_literal=True)
def _trace_vjp(ct, a, offset=0, axis1=0, axis2=1):
    if not _is_array(a):
        return None
    n = a.ndim
    a1, a2 = _static(axis1), _static(axis2)
    if not isinstance(a1, int) or not isinstance(a2, int):
        raise TypingError("trace_vjp: axis1 and axis2 must be constants for tangent2.jit")
    a1, a2 = a1 % n, a2 % n
    rest = [k for k in range(n) if k not in (a1, a2)]
    index = [f"j{k}" for k in range(n)]
    index[a1] = "d + r0"
    index[a2] = "d + c0"
    src = ("def impl(ct, a, offset=0, axis1=0, axis2=1):\n"
           "    out = np.zeros(a.shape, _dtype)\n"
           f"    rows = a.shape[{a1}]\n    cols = a.shape[{a2}]\n"
           "    r0 = max(0, -offset)\n    c0 = max(0, offset)\n"
           "    m = max(0, min(rows - r0, cols - c0))\n")
    for depth, k in enumerate(rest):
        src += "    " * (depth + 1) + f"for j{k} in range(a.shape[{k}]):\n"
    pad = "    " * (len(rest) + 1)
    value = f"ct[{', '.join(f'j{k}' for k in rest)}]" if rest and _is_array(ct) else "ct"
    src += pad + "for d in range(m):\n" + pad + f"    out[{', '.join(index)}] = {value}\n"
    src += "    return out\n"
    return _build(src, _dtype=_result_float(ct, a))


@overload(rt.diag_vjp, prefer_literal=True)
def _diag_vjp(ct, v, k=0):
    if _ndim(v) == 1:
        return lambda ct, v, k=0: np.diag(ct, k).copy()
    if _ndim(v) == 2:
        return _build("def impl(ct, v, k=0):\n"
                      "    out = np.zeros(v.shape, _dtype)\n"
                      "    rows, cols = v.shape\n"
                      "    r0 = max(0, -k)\n"
                      "    c0 = max(0, k)\n"
                      "    n = max(0, min(rows - r0, cols - c0))\n"
                      "    for i in range(n):\n"
                      "        out[i + r0, i + c0] = ct[i]\n"
                      "    return out\n", _dtype=_result_float(ct, v))
    return None


def _slice_along(var, ndim, axis, piece):
    return f"{var}[{', '.join(piece if k == axis else ':' for k in range(ndim))}]"


def _pieces_impl(params, ct, parts, axis, what, sizes_of, reshape=False, squeeze=False):
    """A tuple of pieces of ``ct`` along ``axis``, as many as ``parts`` (a tuple type) has elements."""
    if not isinstance(parts, (types.BaseTuple, types.List)) or isinstance(parts, types.List):
        raise TypingError(f"{what}: the arrays must be a tuple for tangent2.jit, got {parts}")
    count = len(parts)
    src = f"def impl({params}):\n    start = 0\n"
    items = []
    for i in range(count):
        src += f"    stop = start + {sizes_of(i)}\n"
        piece = _slice_along("ct", ct.ndim, axis, "start:stop")
        if reshape:
            element = parts.types[i]
            if _is_array(element):
                piece = f"np.ascontiguousarray({piece}).reshape(arrays[{i}].shape)"
            else:
                piece = f"{piece}[0]"
        else:
            piece = f"{piece}.copy()"
        src += f"    p{i} = {piece}\n    start = stop\n"
        items.append(f"p{i}")
    src += f"    return {_tuple_text(items)}\n"
    return _build(src)


@overload(rt.split_like, prefer_literal=True)
def _split_like(ct, arrays, axis=0):
    if not _is_array(ct):
        return None
    value = _static(axis)
    if value is None:
        def size(i):
            return f"np.size(arrays[{i}])"
        flat_src = _pieces_impl("ct, arrays, axis=0", ct, arrays, 0, "split_like", size, reshape=True)
        return _build("def impl(ct, arrays, axis=0):\n"
                      "    return _inner(np.ascontiguousarray(ct).reshape(-1), arrays, 0)\n",
                      _inner=_register_pieces(flat_src))
    ax = _axes(axis, ct.ndim, "split_like")[0]
    return _pieces_impl("ct, arrays, axis=0", ct, arrays, ax, "split_like",
                        lambda i: f"arrays[{i}].shape[{ax}]")


def _register_pieces(implementation):
    """A jitted version of a generated implementation, to call it from another one."""
    from numba import njit
    return njit(implementation)


@overload(rt.unstack_like, prefer_literal=True)
def _unstack_like(ct, arrays, axis=0):
    if not _is_array(ct) or not isinstance(arrays, types.BaseTuple):
        return None
    ax = _axes(axis, ct.ndim, "unstack_like")[0]
    items = []
    src = "def impl(ct, arrays, axis=0):\n"
    for i in range(len(arrays)):
        piece = _slice_along("ct", ct.ndim, ax, str(i))
        src += f"    p{i} = _copy({piece})\n"
        items.append(f"p{i}")
    src += f"    return {_tuple_text(items)}\n"
    return _build(src, _copy=_copy_fn)


def _stack_sizes(parts, axis_of_ct, at_least):
    def size(i):
        t = parts.types[i]
        if at_least == 1:
            return "1" if _ndim(t) == 0 else f"arrays[{i}].shape[{axis_of_ct if _ndim(t) > 1 else 0}]"
        # vstack
        return "1" if _ndim(t) <= 1 else f"arrays[{i}].shape[0]"
    return size


@overload(rt.hstack_vjp)
def _hstack_vjp(ct, tup):
    if not _is_array(ct) or not isinstance(tup, types.BaseTuple):
        return None
    axis = 0 if ct.ndim == 1 else 1
    inner = _pieces_impl("ct, arrays", ct, tup, axis, "hstack_vjp", _stack_sizes(tup, axis, 1), reshape=True)
    return _build("def impl(ct, tup):\n    return _inner(ct, tup)\n", _inner=_register_pieces(inner))


@overload(rt.vstack_vjp)
def _vstack_vjp(ct, tup):
    if not _is_array(ct) or not isinstance(tup, types.BaseTuple):
        return None
    inner = _pieces_impl("ct, arrays", ct, tup, 0, "vstack_vjp", _stack_sizes(tup, 0, 2), reshape=True)
    return _build("def impl(ct, tup):\n    return _inner(ct, tup)\n", _inner=_register_pieces(inner))


@overload(rt.inverse_axes, prefer_literal=True)
def _inverse_axes(axes, ndim):
    value = _static(axes)
    if value is None:
        return lambda axes, ndim: None
    if value is _NOT_STATIC:
        raise TypingError("inverse_axes: the axes of np.transpose must be constants for tangent2.jit")
    n = _static(ndim)
    if any(a < 0 for a in value) and not isinstance(n, int):
        n = len(value)
    n = len(value) if not isinstance(n, int) else n
    inverse = tuple(int(i) for i in np.argsort([int(a) % n for a in value]))
    return _build(f"def impl(axes, ndim):\n    return {inverse!r}\n")


@overload(rt.cast_like)
def _cast_like(x, like):
    if not (_is_array(like) or _is_scalar(like)):
        return lambda x, like: x
    dtype = _float_np(like)
    # a complex cotangent of a real value: its real part
    value = "np.real(x)" if _is_complex(x) and not np.issubdtype(dtype, np.complexfloating) else "x"
    if _is_array(x):
        return _build(f"def impl(x, like):\n    return _cast({value}, _dtype)\n", _cast=_as_dtype_fn, _dtype=dtype)
    if _is_array(like):
        return _build(f"def impl(x, like):\n    return np.full((), {value}, _dtype)\n", _dtype=dtype)
    return _build(f"def impl(x, like):\n    return _f({value})\n", _f=dtype)


def _is_complex(t):
    return isinstance(t.dtype if _is_array(t) else t, types.Complex)


# ---------------------------------------------------------------------------
# piecewise selections

def _weights_impl(params, expr_array, expr_scalar, ts):
    dtype = _result_float(*[t for t in ts if not _is_none(t)])
    if all(_is_scalar(t) or _is_none(t) for t in ts):
        return _build(f"def impl({params}):\n    return _f({expr_scalar})\n", _f=dtype)
    return _build(f"def impl({params}):\n    return np.asarray({expr_array}).astype(_f)\n", _f=dtype)


@overload(rt.max_weight)
def _max_weight(x1, x2):
    return _weights_impl("x1, x2", "np.greater(x1, x2) + 0.5 * np.equal(x1, x2)",
                         "1.0 if x1 > x2 else (0.5 if x1 == x2 else 0.0)", (x1, x2))


@overload(rt.min_weight)
def _min_weight(x1, x2):
    return _weights_impl("x1, x2", "np.less(x1, x2) + 0.5 * np.equal(x1, x2)",
                         "1.0 if x1 < x2 else (0.5 if x1 == x2 else 0.0)", (x1, x2))


@overload(rt.fmax_weight)
def _fmax_weight(x1, x2):
    # comparisons with a NaN are False, so the base weights are 0 wherever a NaN is
    return _weights_impl("x1, x2", "np.isnan(x2) + np.greater(x1, x2) + 0.5 * np.equal(x1, x2)",
                         "1.0 if x2 != x2 else (1.0 if x1 > x2 else (0.5 if x1 == x2 else 0.0))", (x1, x2))


@overload(rt.fmin_weight)
def _fmin_weight(x1, x2):
    return _weights_impl("x1, x2", "np.isnan(x2) + np.less(x1, x2) + 0.5 * np.equal(x1, x2)",
                         "1.0 if x2 != x2 else (1.0 if x1 < x2 else (0.5 if x1 == x2 else 0.0))", (x1, x2))


@overload(rt.clip_below)
def _clip_below(a, a_min):
    if _is_none(a_min):
        return _weights_impl("a, a_min", "np.zeros(np.shape(a))", "0.0", (a,))
    return _weights_impl("a, a_min", "np.less(a, a_min) * 1.0", "1.0 if a < a_min else 0.0", (a, a_min))


@overload(rt.clip_above)
def _clip_above(a, a_max):
    if _is_none(a_max):
        return _weights_impl("a, a_max", "np.zeros(np.shape(a))", "0.0", (a,))
    return _weights_impl("a, a_max", "np.greater(a, a_max) * 1.0", "1.0 if a > a_max else 0.0", (a, a_max))


@overload(rt.norm_order, prefer_literal=True)
def _norm_order(x, ord=None, axis=None):
    order = _static(ord)
    ax = _static(axis)
    if order is _NOT_STATIC:
        if isinstance(ord, types.Number):
            return lambda x, ord=None, axis=None: float(ord)
        raise TypingError("np.linalg.norm: ord must be a constant for tangent2.jit")
    matrix = (isinstance(ax, tuple) and len(ax) == 2) or (ax is None and _ndim(x) == 2 and order is not None)
    if order is None or order == "fro":
        p = 2.0
    elif matrix:
        raise TypingError(f"no derivative rule for np.linalg.norm with ord={order!r} on matrices")
    elif order == 0:
        raise TypingError("np.linalg.norm with ord=0 counts nonzeros: it has no derivative")
    else:
        p = float(order)
    return _build(f"def impl(x, ord=None, axis=None):\n    return {p!r}\n")


# ---------------------------------------------------------------------------
# NumPy functions Numba lacks (with these arguments)

def _numpy_reduction(op, what):
    def typer(a, axis=None, keepdims=False):
        if _is_scalar(a):
            return lambda a, axis=None, keepdims=False: a
        if not _is_array(a):
            return None
        return _reduction(a, axis, keepdims, op, what)
    return typer


for _function, _op in ((np.mean, "mean"), (np.max, "max"), (np.amax, "max"), (np.min, "min"),
                       (np.amin, "min"), (np.prod, "prod")):
    overload(_function, prefer_literal=True)(_numpy_reduction(_op, f"np.{_function.__name__}"))


@overload(np.sum, prefer_literal=True)
def _np_sum(a, axis=None, dtype=None, out=None, keepdims=False):
    if not _is_array(a) or not _is_none(out) or not _is_none(dtype):
        return None
    impl = _reduction(a, axis, keepdims, "sum", "np.sum")
    return _build("def wrapper(a, axis=None, dtype=None, out=None, keepdims=False):\n"
                  "    return _impl(a, axis, keepdims)\n", name="wrapper", _impl=_register_pieces(impl))


@overload(np.ndim)
def _np_ndim(a):
    n = _ndim(a)
    if _is_array(a) or _is_scalar(a):
        return _build(f"def impl(a):\n    return {n}\n")
    return None


@overload(np.squeeze, prefer_literal=True)
def _np_squeeze(a, axis=None):
    if _is_scalar(a):
        return lambda a, axis=None: a
    if not _is_array(a):
        return None
    if _is_none(axis):
        raise TypingError("np.squeeze without axis=: the result's ndim depends on run-time extents, which "
                          "tangent2.jit cannot know; pass axis= (the axes that have extent 1)")
    axes = _axes(axis, a.ndim, "np.squeeze")
    shape = _tuple_text(f"a.shape[{k}]" for k in range(a.ndim) if k not in axes)
    if len(axes) == a.ndim:
        return lambda a, axis=None: a.reshape(-1)[0]
    return _build(f"def impl(a, axis=None):\n    return np.ascontiguousarray(a).reshape({shape})\n")


def _list_join(kind):
    """np.concatenate / np.stack of a *list* of arrays (Numba takes tuples only)."""
    def typer(arrays, axis=0):
        if not isinstance(arrays, types.List) or not _is_array(arrays.dtype):
            return None
        nd = arrays.dtype.ndim
        dtype = as_dtype(arrays.dtype.dtype).type
        out_nd = nd + 1 if kind == "stack" else nd
        ax = _axes(axis, out_nd if kind == "stack" else max(nd, 1), f"np.{kind}")[0]
        src = "def impl(arrays, axis=0):\n    first = arrays[0]\n"
        if kind == "stack":
            dims = [f"first.shape[{k}]" for k in range(nd)]
            dims.insert(ax, "len(arrays)")
            src += f"    out = np.empty({_tuple_text(dims)}, _dtype)\n"
            src += "    for j in range(len(arrays)):\n"
            src += f"        {_slice_along('out', out_nd, ax, 'j')} = arrays[j]\n"
        else:
            src += "    total = 0\n    for part in arrays:\n"
            src += f"        total += part.shape[{ax}]\n"
            dims = [f"first.shape[{k}]" if k != ax else "total" for k in range(nd)]
            src += f"    out = np.empty({_tuple_text(dims)}, _dtype)\n"
            src += "    start = 0\n    for part in arrays:\n"
            src += f"        stop = start + part.shape[{ax}]\n"
            src += f"        {_slice_along('out', nd, ax, 'start:stop')} = part\n"
            src += "        start = stop\n"
        src += "    return out\n"
        return _build(src, _dtype=dtype)
    return typer


overload(np.concatenate, prefer_literal=True)(_list_join("concatenate"))
overload(np.stack, prefer_literal=True)(_list_join("stack"))


@overload(np.hstack)
def _np_hstack(tup):
    if not isinstance(tup, types.List) or not _is_array(tup.dtype):
        return None
    axis = 0 if tup.dtype.ndim == 1 else 1
    inner = _register_pieces(_list_join("concatenate")(tup, types.literal(axis)))
    return _build(f"def impl(tup):\n    return _inner(tup, {axis})\n", _inner=inner)


@overload(np.vstack)
def _np_vstack(tup):
    if not isinstance(tup, types.List) or not _is_array(tup.dtype):
        return None
    if tup.dtype.ndim == 1:
        inner = _register_pieces(_list_join("stack")(tup, types.literal(0)))
    else:
        inner = _register_pieces(_list_join("concatenate")(tup, types.literal(0)))
    return _build("def impl(tup):\n    return _inner(tup, 0)\n", _inner=inner)


@overload(np.flip, prefer_literal=True)
def _np_flip(m, axis=None):
    if not _is_array(m):
        return None
    axes = _axes(axis, m.ndim, "np.flip")
    index = ", ".join("::-1" if k in axes else ":" for k in range(m.ndim))
    return _build(f"def impl(m, axis=None):\n    return m[{index}]\n")


# ---- np.einsum with constant subscripts: nested loops

def _einsum_parse_static(subscripts, ndims):
    """Operand subscripts and output subscript, ellipses replaced by fresh (upper-case) letters.

    Returns ``(subs, out, broadcast)``: ``broadcast`` holds the letters that
    came from an ellipsis (their extents may be 1 in some operands).
    """
    text = subscripts.replace(" ", "")
    if "->" in text:
        inputs, out = text.split("->")
    else:
        inputs, out = text, None
    subs = inputs.split(",")
    if len(subs) != len(ndims):
        raise TypingError(f"np.einsum: {subscripts!r} names {len(subs)} operands, {len(ndims)} given")
    free = [c for c in string.ascii_uppercase + string.ascii_lowercase if c not in text]
    widths = []
    for s, n in zip(subs, ndims):
        named = len(s.replace("...", ""))
        if "..." not in s and named != n:
            raise TypingError(f"np.einsum: subscript {s!r} does not match a {n}-d operand")
        widths.append(n - named if "..." in s else 0)
    width = max(widths + [0])
    ellipsis = "".join(free[:width])
    subs = [s.replace("...", ellipsis[width - w:] if w else "") for s, w in zip(subs, widths)]
    if out is None:
        letters = [c for c in inputs if c.isalpha()]
        out = ellipsis + "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    else:
        out = out.replace("...", ellipsis)
    return subs, out, set(ellipsis)


def _einsum_impl(subs, out, broadcast, dtype, params, operand_names, target=None, target_subs=None):
    """``result[out-index] += prod(operand[subs-index])``, looping over every letter.

    Operands with an empty subscript are scalars (or 0-d).  With ``target``
    (an operand name) and ``target_subs`` the result is shaped like that
    operand: the adjoint of one operand.  A letter takes the largest extent
    any operand gives it; letters from an ellipsis broadcast (extent 1 reads
    index 0).
    """
    letters = []
    for s in list(subs) + [out]:
        for c in s:
            if c not in letters:
                letters.append(c)
    extents = {c: [] for c in letters}
    for name, s in zip(operand_names, subs):
        for k, c in enumerate(s):
            extents[c].append(f"{name}.shape[{k}]")
    if target is not None:
        for k, c in enumerate(target_subs):
            extents.setdefault(c, []).append(f"{target}.shape[{k}]")
            if c not in letters:
                letters.append(c)
    missing = [c for c in letters if not extents.get(c)]
    if missing:
        raise TypingError(f"np.einsum: output letters {missing} appear in no operand")
    src = f"def impl({params}):\n"
    for c in letters:
        sizes = extents[c]
        src += f"    n_{c} = {sizes[0] if len(sizes) == 1 else 'max(' + ', '.join(sizes) + ')'}\n"

    shared = {c for c in letters if len(extents[c]) > 1} | set(broadcast)

    def index(name, s):
        if not s:
            return name if name != "result" else "acc"
        parts = [f"(0 if {name}.shape[{k}] == 1 else i_{c})" if c in shared else f"i_{c}"
                 for k, c in enumerate(s)]
        return f"{name}[{', '.join(parts)}]"

    result_subs = out if target is None else target_subs
    if result_subs:
        dims = _tuple_text(f"n_{c}" for c in out) if target is None else f"{target}.shape"
        src += f"    result = np.zeros({dims}, _dtype)\n"
    else:
        src += "    acc = _dtype(0)\n"
    product = " * ".join(index(name, s) for name, s in zip(operand_names, subs)) or "1"
    target_index = index("result", result_subs) if target is None else (
        f"result[{', '.join(f'i_{c}' if c not in shared else f'(0 if result.shape[{k}] == 1 else i_{c})' for k, c in enumerate(result_subs))}]"
        if result_subs else "acc")
    for depth, c in enumerate(letters):
        src += "    " * (depth + 1) + f"for i_{c} in range(n_{c}):\n"
    src += "    " * (len(letters) + 1) + f"{target_index} += {product}\n"
    src += "    return result\n" if result_subs else "    return acc\n"
    return _build(src, _dtype=dtype)


@overload(np.einsum, prefer_literal=True)
def _np_einsum(subscripts, *operands):
    text = _static(subscripts)
    if not isinstance(text, str):
        raise TypingError("np.einsum: the subscripts must be a constant string for tangent2.jit")
    if len(operands) == 1 and isinstance(operands[0], types.StarArgTuple):
        operands = operands[0].types
    if not all(_is_array(t) or _is_scalar(t) for t in operands):
        raise TypingError("np.einsum: every operand must be an array or a number for tangent2.jit")
    subs, out, broadcast = _einsum_parse_static(text, [_ndim(t) for t in operands])
    names = [f"op{i}" for i in range(len(operands))]
    inner = _register_pieces(_einsum_impl(subs, out, broadcast, _result_float(*operands), ", ".join(names), names))
    unpack = ", ".join(f"operands[{i}]" for i in range(len(operands)))
    return _build(f"def impl(subscripts, *operands):\n    return _inner({unpack})\n", _inner=inner)


def _einsum_vjp(ct, subscripts, a, b, which):
    text = _static(subscripts)
    if not isinstance(text, str):
        raise TypingError("einsum_vjp: the subscripts must be a constant string for tangent2.jit")
    (sa, sb), out, broadcast = _einsum_parse_static(text, [_ndim(a), _ndim(b)])
    if _ndim(ct) != len(out):
        raise TypingError(f"einsum_vjp: a {_ndim(ct)}-d cotangent for output {out!r}")
    if which == "a":
        subs, names, target, target_subs = [out, sb], ["ct", "b"], "a", sa
    else:
        subs, names, target, target_subs = [out, sa], ["ct", "a"], "b", sb
    if len(set(target_subs)) != len(target_subs) and any(c in broadcast for c in target_subs):
        raise TypingError("einsum_vjp: repeated letters together with '...' are not supported by tangent2.jit")
    inner = _einsum_impl(subs, out, broadcast, _result_float(ct, a, b), "ct, a, b", names, target, target_subs)
    return _build("def impl(ct, subscripts, a, b):\n    return _inner(ct, a, b)\n",
                  _inner=_register_pieces(inner))


@overload(rt.einsum_vjp_a, prefer_literal=True)
def _einsum_vjp_a(ct, subscripts, a, b):
    return _einsum_vjp(ct, subscripts, a, b, "a")


@overload(rt.einsum_vjp_b, prefer_literal=True)
def _einsum_vjp_b(ct, subscripts, a, b):
    return _einsum_vjp(ct, subscripts, a, b, "b")


# ---- scipy.special.logsumexp

def _register_scipy():
    try:
        import scipy.special
    except ImportError:  # pragma: no cover
        return

    @overload(scipy.special.logsumexp, prefer_literal=True)
    def _logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
        if not _is_none(b) or _static(return_sign) not in (False, 0):
            raise TypingError("scipy.special.logsumexp with b= or return_sign=True is not supported by tangent2.jit")
        if _is_scalar(a):
            return lambda a, axis=None, b=None, keepdims=False, return_sign=False: a + 0.0
        if not _is_array(a):
            return None
        axes = _axes(axis, a.ndim, "logsumexp")
        keep = _flag(keepdims, "logsumexp")
        axis_text = repr(axes)
        return _build("def impl(a, axis=None, b=None, keepdims=False, return_sign=False):\n"
                      f"    m = np.max(a, {axis_text}, True)\n"
                      "    mf = m.reshape(-1)\n"
                      "    for j in range(mf.shape[0]):\n"
                      "        if not np.isfinite(mf[j]):\n"
                      "            mf[j] = 0.0\n"
                      f"    s = rt.reduce_sum(np.exp(a - m), {axis_text}, True)\n"
                      f"    r = np.log(s) + m\n"
                      f"    return rt.reduce_sum(r, {axis_text}, {keep})\n")


_register_scipy()
del itertools


# ---------------------------------------------------------------------------
# more NumPy, math and builtins calls Numba refuses

@overload(np.dot)
def _np_dot(a, b):
    if _is_scalar(a) and _is_scalar(b):
        return lambda a, b: a * b
    if _is_scalar(a) or _is_scalar(b):
        return lambda a, b: a * b
    if _is_array(a) and _is_array(b):
        if a.ndim <= 2 and b.ndim <= 2:
            return _build("def impl(a, b):\n    return np.dot(_cast(a, _dtype), _cast(b, _dtype))\n",
                          _cast=_as_dtype_fn, _dtype=_result_float(a, b))
        return _build(_dot_nd(a.ndim, b.ndim), _cast=_as_dtype_fn, _dtype=_result_float(a, b))
    return None


@overload(np.inner)
def _np_inner(a, b):
    if _is_scalar(a) or _is_scalar(b):
        return lambda a, b: a * b
    if _is_array(a) and _is_array(b):
        return _build(_inner_nd(a.ndim, b.ndim), _cast=_as_dtype_fn, _dtype=_result_float(a, b))
    return None


@overload(np.ravel)
def _np_ravel(a):
    if _is_scalar(a):
        return lambda a: np.full(1, a)
    return None


@overload(np.where)
def _np_where(condition, x, y):
    if _is_scalar(condition) and _is_scalar(x) and _is_scalar(y):
        return lambda condition, x, y: x if condition else y
    return None


@overload(np.clip)
def _np_clip(a, a_min, a_max):
    if _is_scalar(a) and _is_scalar(a_min) and _is_scalar(a_max):
        return lambda a, a_min, a_max: min(max(a, a_min), a_max)
    return None


@overload(np.transpose)
def _np_transpose(a, axes=None):
    if _is_scalar(a):
        return lambda a, axes=None: a
    return None


@overload(np.reshape)
def _np_reshape(a, newshape):
    if _is_scalar(a):
        return lambda a, newshape: np.full(newshape, a)
    if _is_array(a):
        return lambda a, newshape: np.ascontiguousarray(a).reshape(newshape)
    return None


@overload(np.var)
def _np_var(a):
    if _is_scalar(a):
        return lambda a: 0.0 * a
    return None


@overload(np.std)
def _np_std(a):
    if _is_scalar(a):
        return lambda a: 0.0 * a
    return None


@overload(np.array)
def _np_array(object, dtype=None):
    if _is_array(object) and _is_none(dtype):
        return lambda object, dtype=None: object.copy()
    if _is_array(object):
        return lambda object, dtype=None: object.astype(dtype)
    return None


@overload(abs)
def _builtin_abs(x):
    if _is_array(x):
        return lambda x: np.abs(x)
    return None


if hasattr(math, "cbrt"):
    @overload(math.cbrt)
    def _math_cbrt(x):
        if _is_scalar(x):
            return lambda x: np.cbrt(x)
        return None


@overload(math.log)
def _math_log(x, base):
    if _is_scalar(x) and _is_scalar(base):
        return lambda x, base: math.log(x) / math.log(base)
    return None


@overload(np.trace, prefer_literal=True)
def _np_trace(a, offset=0, axis1=0, axis2=1):
    if not _is_array(a):
        return None
    n = a.ndim
    a1, a2 = _static(axis1), _static(axis2)
    if not isinstance(a1, int) or not isinstance(a2, int):
        raise TypingError("np.trace: axis1 and axis2 must be constants for tangent2.jit")
    a1, a2 = a1 % n, a2 % n
    rest = [k for k in range(n) if k not in (a1, a2)]
    index = ["" for _ in range(n)]
    for k in rest:
        index[k] = f"j{k}"
    index[a1] = "d + r0"
    index[a2] = "d + c0"
    src = ("def impl(a, offset=0, axis1=0, axis2=1):\n"
           f"    rows = a.shape[{a1}]\n    cols = a.shape[{a2}]\n"
           "    r0 = max(0, -offset)\n    c0 = max(0, offset)\n"
           "    m = max(0, min(rows - r0, cols - c0))\n")
    if rest:
        src += f"    out = np.zeros({_tuple_text(f'a.shape[{k}]' for k in rest)}, a.dtype)\n"
        loops = ""
        for depth, k in enumerate(rest):
            loops += "    " * (depth + 1) + f"for j{k} in range(a.shape[{k}]):\n"
        inner = "    " * (len(rest) + 1)
        src += loops + inner + "for d in range(m):\n"
        src += inner + f"    out[{', '.join(f'j{k}' for k in rest)}] += a[{', '.join(index)}]\n"
        src += "    return out\n"
    else:
        src += "    acc = 0.0 * a[0, 0] if a.size else 0.0\n"
        src += "    for d in range(m):\n"
        src += f"        acc += a[{', '.join(index)}]\n    return acc\n"
    return _build(src)


def _batched_linalg(name):
    def typer(a):
        if not _is_array(a) or a.ndim != 3:
            return None
        if name == "det":
            return _build("def impl(a):\n"
                          "    out = np.empty(a.shape[0], a.dtype)\n"
                          "    for i in range(a.shape[0]):\n"
                          "        out[i] = np.linalg.det(np.ascontiguousarray(a[i]))\n"
                          "    return out\n")
        return _build("def impl(a):\n"
                      "    out = np.empty(a.shape, a.dtype)\n"
                      "    for i in range(a.shape[0]):\n"
                      "        out[i] = np.linalg.inv(np.ascontiguousarray(a[i]))\n"
                      "    return out\n")
    return typer


overload(np.linalg.det)(_batched_linalg("det"))
overload(np.linalg.inv)(_batched_linalg("inv"))


@overload(np.linalg.solve)
def _np_solve(a, b):
    if not (_is_array(a) and _is_array(b)) or a.ndim != 3:
        return None
    dtype = _result_float(a, b)
    if b.ndim == 3:
        item = "b[0 if b.shape[0] == 1 else i]"
        shape = "(n, a.shape[1], b.shape[2])"
    elif b.ndim == 2:
        item, shape = "b", "(n, a.shape[1], b.shape[1])"
    elif b.ndim == 1:
        item, shape = "b", "(n, a.shape[1])"
    else:
        return None
    return _build("def impl(a, b):\n"
                  "    n = a.shape[0]\n"
                  f"    out = np.empty({shape}, _dtype)\n"
                  "    for i in range(n):\n"
                  f"        out[i] = np.linalg.solve(_cast(a[i], _dtype), _cast({item}, _dtype))\n"
                  "    return out\n", _dtype=dtype, _cast=_as_dtype_fn)


# ---- scipy.special elementwise functions (scalars; arrays elementwise)

def _digamma_scalar(x):
    """The digamma function (recurrence up to x >= 6, then the asymptotic series; reflection below 0)."""
    if x <= 0.0 and x == math.floor(x):
        return math.nan
    reflection = 0.0
    if x < 0.0:
        reflection = -math.pi / math.tan(math.pi * x)
        x = 1.0 - x
    result = 0.0
    while x < 6.0:
        result -= 1.0 / x
        x += 1.0
    f = 1.0 / (x * x)
    series = f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132)))))
    return result + math.log(x) - 0.5 / x - series + reflection


register_jitable(_digamma_scalar)


def _expit_scalar(x):
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _logit_scalar(p):
    return math.log(p / (1.0 - p))


def _elementwise(scalar_function):
    """An overload typer: ``scalar_function`` on numbers, elementwise on arrays (dtype kept for floats)."""
    from numba import njit
    scalar = njit(scalar_function)

    def typer(x):
        if _is_scalar(x):
            ftype = _float_np(x)
            return _build("def impl(x):\n    return _f(_scalar(_g(x)))\n", _scalar=scalar, _f=ftype, _g=np.float64)
        if _is_array(x):
            return _build("def impl(x):\n"
                          "    flat = np.ascontiguousarray(x).reshape(x.size)\n"
                          "    out = np.empty(x.size, _f)\n"
                          "    for j in range(x.size):\n"
                          "        out[j] = _scalar(np.float64(flat[j]))\n"
                          "    return out.reshape(x.shape)\n", _scalar=scalar, _f=_float_np(x))
        return None
    return typer


def _register_scipy_elementwise():
    try:
        import scipy.special as sp
    except ImportError:  # pragma: no cover
        return
    table = {"expit": _expit_scalar, "logit": _logit_scalar, "erf": math.erf, "erfc": math.erfc,
             "gammaln": math.lgamma, "digamma": _digamma_scalar, "psi": _digamma_scalar}
    for name, scalar_function in table.items():
        function = getattr(sp, name, None)
        if function is None:
            continue
        if scalar_function in (math.erf, math.erfc, math.lgamma):
            scalar_function = _math_wrapper(scalar_function)
        overload(function)(_elementwise(scalar_function))

    @overload(sp.softmax, prefer_literal=True)
    def _softmax(x, axis=None):
        if not _is_array(x):
            return None
        axes = repr(_axes(axis, x.ndim, "scipy.special.softmax"))
        return _build("def impl(x, axis=None):\n"
                      f"    e = np.exp(x - np.max(x, {axes}, True))\n"
                      f"    return e / rt.unreduce(rt.reduce_sum(e, {axes}, True), x, {axes}, True)\n")

    @overload(sp.log_softmax, prefer_literal=True)
    def _log_softmax(x, axis=None):
        if not _is_array(x):
            return None
        axes = repr(_axes(axis, x.ndim, "scipy.special.log_softmax"))
        return _build("def impl(x, axis=None):\n"
                      f"    m = np.max(x, {axes}, True)\n"
                      f"    s = np.log(rt.reduce_sum(np.exp(x - m), {axes}, True)) + m\n"
                      f"    return x - rt.unreduce(s, x, {axes}, True)\n")


def _math_wrapper(function):
    namespace = {"math": math}
    exec(f"def scalar(x):\n    return math.{function.__name__}(x)\n", namespace)
    return namespace["scalar"]


_register_scipy_elementwise()


def _polygamma_scalar(n, x):
    """psi^(n)(x) for an integer n >= 1: recurrence up to x >= 20, then the asymptotic series."""
    if n == 0:
        return _digamma_scalar(x)
    if x <= 0.0 and x == math.floor(x):
        return math.nan
    sign = 1.0 if n % 2 == 1 else -1.0
    factorial = math.gamma(n + 1.0)
    shift = 0.0
    while x < 20.0:
        shift += 1.0 / x ** (n + 1)
        x += 1.0
    # (n-1)!/x^n + n!/(2 x^(n+1)) + sum_k B_2k (2k+n-1)! / ((2k)! x^(2k+n))
    total = math.gamma(float(n)) / x ** n + factorial / (2.0 * x ** (n + 1))
    bernoulli = (1.0 / 6, -1.0 / 30, 1.0 / 42, -1.0 / 30, 5.0 / 66, -691.0 / 2730)
    for k in range(1, 7):
        total += bernoulli[k - 1] * math.gamma(2.0 * k + n) / (math.gamma(2.0 * k + 1) * x ** (2 * k + n))
    return sign * (total + factorial * shift)


def _register_polygamma():
    try:
        import scipy.special as sp
    except ImportError:  # pragma: no cover
        return
    from numba import njit
    scalar = njit(_polygamma_scalar)

    @overload(sp.polygamma)
    def _polygamma(n, x):
        if not isinstance(n, types.Integer) and not (_is_array(n) and isinstance(n.dtype, types.Integer)):
            return None
        if _is_array(n):
            return None
        if _is_scalar(x):
            return _build("def impl(n, x):\n    return _f(_scalar(n, np.float64(x)))\n",
                          _scalar=scalar, _f=_float_np(x))
        if _is_array(x):
            return _build("def impl(n, x):\n"
                          "    flat = np.ascontiguousarray(x).reshape(x.size)\n"
                          "    out = np.empty(x.size, _f)\n"
                          "    for j in range(x.size):\n"
                          "        out[j] = _scalar(n, np.float64(flat[j]))\n"
                          "    return out.reshape(x.shape)\n", _scalar=scalar, _f=_float_np(x))
        return None


_register_polygamma()


@overload(np.full)
def _np_full(shape, fill_value, dtype=None):
    if _is_array(fill_value) and _is_none(dtype):
        return lambda shape, fill_value, dtype=None: np.broadcast_to(fill_value, shape).copy()
    return None


@overload(np.vdot)
def _np_vdot(a, b):
    if _is_array(a) and _is_array(b) and (a.ndim > 1 or b.ndim > 1):
        return _build("def impl(a, b):\n"
                      "    return np.dot(np.ascontiguousarray(_cast(a, _dtype)).reshape(a.size), "
                      "np.ascontiguousarray(_cast(b, _dtype)).reshape(b.size))\n",
                      _cast=_as_dtype_fn, _dtype=_result_float(a, b))
    return None


# ---------------------------------------------------------------------------
# helpers of vmap, Jacobians and stop_gradient

def _size_text(t, name):
    return f"{name}.size" if _is_array(t) else "1"


if hasattr(rt, "stop_gradient"):
    @overload(rt.stop_gradient)
    def _stop_gradient(x):
        return lambda x: x


if hasattr(rt, "batch_buffer"):
    @overload(rt.batch_buffer, prefer_literal=True)
    def _batch_buffer(value, n, axis):
        ndim = _ndim(value)
        ax = _static(axis)
        if not isinstance(ax, int):
            raise TypingError("batch_buffer: the batch axis must be a constant for tangent2.jit")
        ax = ax % (ndim + 1)
        dims = [f"value.shape[{k}]" for k in range(ndim)]
        dims.insert(ax, "n")
        return _build(f"def impl(value, n, axis):\n    return np.zeros({_tuple_text(dims)}, _dtype)\n",
                      _dtype=_float_np(value))


if hasattr(rt, "basis_vector"):
    @overload(rt.basis_vector)
    def _basis_vector(x, i):
        if _is_scalar(x):
            return _build("def impl(x, i):\n    return _f(1.0)\n", _f=_float_np(x))
        if _is_array(x):
            return _build("def impl(x, i):\n"
                          "    e = np.zeros(x.size, _dtype)\n"
                          "    e[i] = 1.0\n"
                          "    return e.reshape(x.shape)\n", _dtype=_float_np(x))
        return None


if hasattr(rt, "batched_basis"):
    @overload(rt.batched_basis)
    def _batched_basis(x, j):
        if not _is_array(x):
            return None
        return _build("def impl(x, j):\n"
                      "    e = np.zeros(x.shape, _dtype)\n"
                      "    e[:, j] = 1.0\n"
                      "    return e\n", _dtype=_float_np(x))


if hasattr(rt, "jacobian_buffer"):
    @overload(rt.jacobian_buffer)
    def _jacobian_buffer(out, x):
        return _build(f"def impl(out, x):\n    return np.zeros(({_size_text(out, 'out')}, {_size_text(x, 'x')}), "
                      "_dtype)\n", _dtype=_result_float(out, x) if (_is_array(out) or _is_array(x)) else
                      np.result_type(_float_np(out), _float_np(x)).type)


if hasattr(rt, "batched_jacobian_buffer"):
    @overload(rt.batched_jacobian_buffer)
    def _batched_jacobian_buffer(out, x):
        dtype = np.result_type(_float_np(out), _float_np(x)).type
        return _build("def impl(out, x):\n    return np.zeros((x.shape[0], out.shape[1], x.shape[1]), _dtype)\n",
                      _dtype=dtype)


@register_jitable
def _byte_extent(a):
    """The lowest and one past the highest byte address of the elements of ``a``."""
    low = a.ctypes.data
    high = low + a.itemsize
    for axis in range(a.ndim):
        if a.shape[axis] == 0:
            return low, low
        reach = (a.shape[axis] - 1) * a.strides[axis]
        if reach < 0:
            low += reach
        else:
            high += reach
    return low, high


@overload(rt.check_not_shared)
def _check_not_shared(a, b, message):
    if _is_array(a) and _is_array(b):
        def impl(a, b, message):
            # np.may_share_memory (Numba has no np.shares_memory): overlapping byte ranges
            low, high = _byte_extent(a)
            other_low, other_high = _byte_extent(b)
            if low < other_high and other_low < high:
                raise ValueError("tangent2: an array is written while another name sharing it is read again (the "
                                 "Python derivative's UnsupportedSyntax names the lines); take a copy")
        return impl
    return lambda a, b, message: None


@overload(rt.check_not_array)
def _check_not_array(value, message):
    if _is_array(value):
        def impl(value, message):
            raise ValueError("tangent2: an in-place += writes into an array another name still reads (the Python "
                             "derivative's UnsupportedSyntax names the lines); write v = v + ... instead")
        return impl
    return lambda value, message: None


# ---------------------------------------------------------------------------
# vmap's destination-passing row writes (tangent2/transforms/vmap.py: write_rows_in_place)
#
# ``helper_into(out, index, ...)`` means ``out[index] = helper(...)`` and returns the number of rows it could
# not write.  When the row is an array and the operands are scalars or arrays of the row's ndim, the row is
# written element by element (operands of extent 1 broadcast), and a value that does not fit is reported by
# returning 1 (``rt.check_rows_fit`` raises after the loop); otherwise (a scalar row, operands of other
# ndims) the value is computed and stored as before.  They are inlined, and the loop form neither allocates
# nor raises: with either in the batch loop Numba keeps the reference counting of the loop's array views, and
# 10,000 rows of 3 took 160-400 us instead of 40-60 us.

def _row_loop(out, operands, expression, params):
    """``out[index]`` written by a loop over its elements: ``expression`` of ``operands`` (names bound to
    scalars, or to arrays of the row's ndim, indexed as ``name[j...]``), or None when the types do not fit.
    ``params``: the helper's parameters after ``out, index``."""
    if not _is_array(out) or out.ndim < 2:
        return None
    ndim = out.ndim - 1
    if any(_is_array(t) and t.ndim != ndim or not (_is_array(t) or _is_scalar(t)) for t in operands.values()):
        return None
    arrays = [name for name, t in operands.items() if _is_array(t)]
    src = f"def impl(out, index, {params}):\n    row = out[index]\n"
    for name in arrays:
        for k in range(ndim):
            src += f"    if {name}.shape[{k}] != 1 and {name}.shape[{k}] != row.shape[{k}]:\n        return 1\n"
    items = {name: name for name in operands}
    for name in arrays:
        items[name] = f"{name}[{', '.join(f'0 if {name}.shape[{k}] == 1 else i{k}' for k in range(ndim))}]"
    row_item = f"row[{', '.join(f'i{k}' for k in range(ndim))}]"
    src += _loops([f"row.shape[{k}]" for k in range(ndim)], [f"{row_item} = {expression.format(**items)}"])
    return _build(src + "    return 0\n")


def _stored(value_text, params):
    return _build(f"def impl(out, index, {params}):\n    out[index] = {value_text}\n    return 0\n")


def _product_into(helper, other):
    """The overload of ``helper_into`` for the VJP ``helper`` of a product with respect to one operand: for 1-d
    operands and a scalar cotangent it is ``ct * other``."""
    def typer(out, index, ct, a, b):
        if _ndim(a) == 1 and _ndim(b) == 1 and _is_scalar(ct):
            loop = _row_loop(out, {"ct": ct, other: b if other == "b" else a}, "{ct} * {" + other + "}", "ct, a, b")
            if loop is not None:
                return loop
        return _stored(f"rt.{helper}(ct, a, b)", "ct, a, b")
    return typer


overload(rt.dot_vjp_a_into, inline="always")(_product_into("dot_vjp_a", "b"))
overload(rt.dot_vjp_b_into, inline="always")(_product_into("dot_vjp_b", "a"))
overload(rt.matmul_vjp_a_into, inline="always")(_product_into("matmul_vjp_a", "b"))
overload(rt.matmul_vjp_b_into, inline="always")(_product_into("matmul_vjp_b", "a"))


def _operator_into(symbol):
    def typer(out, index, x, y):
        loop = _row_loop(out, {"x": x, "y": y}, "{x} " + symbol + " {y}", "x, y")
        return loop if loop is not None else _stored(f"x {symbol} y", "x, y")
    return typer


overload(rt.multiply_into, inline="always")(_operator_into("*"))
overload(rt.add_into, inline="always")(_operator_into("+"))
overload(rt.subtract_into, inline="always")(_operator_into("-"))
overload(rt.divide_into, inline="always")(_operator_into("/"))


@overload(rt.check_rows_fit)
def _check_rows_fit(misfits):
    def impl(misfits):
        if misfits:
            raise ValueError("vmap: examples have a result that cannot be broadcast to the shape of the first "
                             "example's")
    return impl
