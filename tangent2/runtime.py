"""Helpers that generated derivative code calls.

Each helper is plain NumPy so that generated code runs as ordinary Python;
each one is also differentiable (rules in ``tangent2/rules/runtime.py``), so
generated code can be differentiated again.

Conventions shared by the helpers:

* A parameter that receives a cotangent is called ``ct`` (never ``g``: the
  helpers have VJP rules of their own, whose first parameter is ``g``).
* Dtypes are preserved: a Python scalar cotangent takes the floating dtype of
  the array it is spread over (so a float32 array gets a float32 gradient),
  and a gradient for a Python float is a Python float.
* Results that generated code may accumulate into are fresh arrays, never
  read-only broadcast views.
"""
import numpy as np

__all__ = [
    # original helpers
    "unbroadcast", "broadcast_like", "zeros_like", "add_at", "saved", "gather",
    # reductions
    "reduce_sum", "unreduce", "reduced_size", "extremum_weights", "prod_others",
    "prod_others_dot", "cumsum_vjp",
    # products
    "dot_vjp_a", "dot_vjp_b", "matmul_vjp_a", "matmul_vjp_b",
    "inner_vjp_a", "inner_vjp_b", "einsum_vjp_a", "einsum_vjp_b",
    "mat_outer", "matrix_transpose", "expand_last2",
    # structure
    "trace_vjp", "diag_vjp", "split_like", "unstack_like", "hstack_vjp",
    "vstack_vjp", "inverse_axes", "cast_like",
    # piecewise selections
    "max_weight", "min_weight", "fmax_weight", "fmin_weight",
    "clip_below", "clip_above",
    # linear algebra
    "norm_order",
    # checks
    "check_not_shared", "check_not_array",
]


# ---------------------------------------------------------------------------
# the original helpers

def unbroadcast(ct, x):
    """Sum the cotangent ``ct`` down to the shape of ``x``, undoing broadcasting.

    ``ct`` has the shape of a value that ``x`` was broadcast into; the result
    has ``x``'s shape (a Python float when ``x`` is a Python scalar or None).
    A ``ct`` smaller than ``x`` is broadcast up instead.
    """
    x_shape = np.shape(x)
    ct_shape = np.shape(ct)
    if ct_shape == x_shape:
        if _is_python_scalar(ct) and isinstance(x, np.generic):
            return _scalar_like(ct, x)  # a Python seed (d_out = 1.0) takes a float32 value's dtype
        return ct
    if not x_shape:
        return _scalar_like(np.sum(ct), x)
    target = np.broadcast_shapes(ct_shape, x_shape)
    if target != ct_shape:
        ct = np.broadcast_to(_array_for(ct, x), target)
    extra = len(target) - len(x_shape)
    if extra:
        ct = np.sum(ct, axis=tuple(range(extra)))
    summed = tuple(i for i, n in enumerate(x_shape) if n == 1 and ct.shape[i] != 1)
    if summed:
        ct = np.sum(ct, axis=summed, keepdims=True)
    if not ct.flags.writeable:
        ct = ct.copy()
    return ct


def broadcast_like(t, like):
    """Give the tangent ``t`` the shape of the value ``like`` it belongs to (a fresh array)."""
    like_shape = np.shape(like)
    if np.shape(t) == like_shape:
        return t
    return np.broadcast_to(_array_for(t, like), like_shape).copy()


def zeros_like(x):
    """A zero of the same shape and floating dtype as ``x``.

    For a tuple or list (the value of ``np.split``-like helpers such as
    ``unstack_like``) it is a *list* of zeros, one per element, so that
    generated code can accumulate into its items (``d_parts[1] += ...``).
    """
    if isinstance(x, (tuple, list)):
        return [zeros_like(e) for e in x]
    if isinstance(x, np.ndarray):
        return np.zeros(x.shape, dtype=_float_dtype(x.dtype))
    if isinstance(x, (np.floating, np.complexfloating)):
        return type(x)(0)
    if isinstance(x, np.generic):
        return np.float64(0.0)
    return 0.0


def add_at(dx, index, value):
    """``dx[index] += value``, accumulating repeated indices; returns ``dx``."""
    np.add.at(dx, index, value)
    return dx


def gather(ct, index, like):
    """``ct[index]`` summed down to the shape of ``like``: the adjoint of ``add_at(dx, index, like)`` for ``like``."""
    picked = np.asarray(ct)[index]
    if isinstance(picked, np.ndarray):
        picked = picked.copy()
    return unbroadcast(picked, like)


def saved(value):
    """A copy of ``value`` that later writes into its array cannot change."""
    if isinstance(value, np.ndarray):
        return value.copy()
    return value


# ---------------------------------------------------------------------------
# reductions

def reduce_sum(x, axis=None, keepdims=False):
    """``np.sum(x, axis=axis, keepdims=keepdims)`` (a helper: Numba has no ``keepdims=``)."""
    return np.sum(x, axis=axis, keepdims=keepdims)


def unreduce(ct, x, axis=None, keepdims=False):
    """Spread ``ct``, shaped like a reduction of ``x`` over ``axis``, back to ``x``'s shape.

    The adjoint of ``reduce_sum(x, axis, keepdims)``: every element of ``x``
    gets the value of ``ct`` at its reduced position.
    """
    shape = np.shape(x)
    if np.shape(ct) == shape:
        return ct
    arr = _array_for(ct, x)
    if not keepdims:
        axes = _norm_axes(axis, len(shape))
        arr = arr.reshape(tuple(1 if i in axes else n for i, n in enumerate(shape)))
    return np.broadcast_to(arr, shape).copy()


def reduced_size(x, axis=None):
    """How many elements of ``x`` a reduction over ``axis`` combines into one (an int)."""
    shape = np.shape(x)
    size = 1
    for i in _norm_axes(axis, len(shape)):
        size *= shape[i]
    return size


def extremum_weights(x, extremum, axis=None, keepdims=False):
    """Where ``x`` equals its reduced ``extremum`` (max or min over ``axis``): 1/count, else 0.

    ``extremum`` has the reduced shape; ties share the derivative equally.
    The result has ``x``'s shape and floating dtype.
    """
    xa = np.asarray(x)
    axes = _norm_axes(axis, xa.ndim)
    mask = xa == unreduce(np.asarray(extremum), xa, axis, keepdims)
    count = np.sum(mask, axis=axes, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        weights = (mask / count).astype(_float_dtype(xa.dtype))
    return _kind_like(weights, x)


def prod_others(x, axis=None):
    """For each element of ``x``, the product of the *other* elements in its reduction over ``axis``.

    The derivative of ``np.prod(x, axis)``, exact when ``x`` has zeros
    (computed with exclusive cumulative products, no division).
    """
    return _exclusive_products(x, None, axis)


def prod_others_dot(t, x, axis=None):
    """The derivative of ``prod_others(x, axis)`` along ``t``: for each element ``i`` of ``x``,
    the sum over the other elements ``k`` of its reduction of ``t[k]`` times the product of the
    elements other than ``i`` and ``k``.

    The second derivative of ``np.prod(x, axis)``, exact when ``x`` has zeros: the exclusive
    products are taken of the dual numbers ``x + eps t`` (``eps**2 == 0``), no division.  The
    matrix of second derivatives is symmetric, so this is also the adjoint of ``prod_others``.
    """
    return _exclusive_products(x, t, axis)


def _exclusive_products(x, t, axis):
    """``prod_others(x, axis)`` for ``t`` None, else its derivative along ``t`` (see prod_others_dot)."""
    xa = np.asarray(x)
    dtype = _float_dtype(xa.dtype if t is None else np.result_type(xa, t))
    if xa.ndim == 0:
        return _kind_like(np.full((), 1.0 if t is None else 0.0, dtype=dtype), x)
    axes = _norm_axes(axis, xa.ndim)
    ends = tuple(range(xa.ndim - len(axes), xa.ndim))
    rest = tuple(n for i, n in enumerate(xa.shape) if i not in axes)
    n = reduced_size(xa, axis)
    if n == 0:
        return np.zeros(xa.shape, dtype=dtype)

    def rows(a):
        """``a`` with the reduced axes moved last and flattened into one."""
        return np.moveaxis(np.broadcast_to(np.asarray(a, dtype=dtype), xa.shape), axes, ends).reshape(rest + (n,))

    # each factor a dual number (value, eps part); the prefix products of the factors before each element
    # and the suffix products of those after it are dual numbers too
    values = rows(x)
    parts = None if t is None else rows(t)
    left = _exclusive_scan(values, parts)
    right = _exclusive_scan(values[..., ::-1], None if parts is None else parts[..., ::-1])
    if t is None:
        result = left[0] * right[0][..., ::-1]
    else:
        result = left[0] * right[1][..., ::-1] + left[1] * right[0][..., ::-1]
    moved = np.moveaxis(xa, axes, ends).shape
    return np.moveaxis(result.reshape(moved), ends, axes).copy()


def _exclusive_scan(values, parts):
    """The products of the dual numbers ``values + eps parts`` before each position of the last axis:
    (value, eps part); the eps part is None when ``parts`` is.  With eps parts, doubling steps (log2(n)
    array products: position j takes the product of the window of ``step`` positions before it)."""
    ones = np.ones(values.shape[:-1] + (1,), dtype=values.dtype)
    value = np.concatenate((ones, values[..., :-1]), axis=-1)
    if parts is None:
        return np.cumprod(value, axis=-1), None
    part = np.concatenate((0.0 * ones, parts[..., :-1]), axis=-1)
    step = 1
    while step < value.shape[-1]:
        part = np.concatenate((part[..., :step],
                               part[..., step:] * value[..., :-step] + value[..., step:] * part[..., :-step]),
                              axis=-1)
        value = np.concatenate((value[..., :step], value[..., step:] * value[..., :-step]), axis=-1)
        step *= 2
    return value, part


def cumsum_vjp(ct, a, axis=None):
    """The adjoint of ``np.cumsum(a, axis)``: reverse cumulative sum of ``ct``, shaped like ``a``.

    With ``axis=None`` the cumulative sum ran over ``a`` flattened, so ``ct`` is 1-D.
    """
    ct = np.asarray(ct)
    if axis is None:
        result = np.cumsum(ct.ravel()[::-1])[::-1].reshape(np.shape(a))
    else:
        result = np.flip(np.cumsum(np.flip(ct, axis), axis=axis), axis)
    return _kind_like(result.copy(), a)


# ---------------------------------------------------------------------------
# products: each *_vjp_a(ct, a, b) is the gradient with respect to a of
# <ct, op(a, b)> (it uses a only for its shape), *_vjp_b likewise for b.

def dot_vjp_a(ct, a, b):
    """Gradient with respect to ``a`` of ``<ct, np.dot(a, b)>``."""
    na, nb = np.ndim(a), np.ndim(b)
    if na == 0 or nb == 0:
        return unbroadcast(np.multiply(ct, b), a)
    if nb == 1:
        return np.multiply.outer(ct, b)
    ct_axes = tuple(range(na - 1, np.ndim(ct)))
    b_axes = tuple(i for i in range(nb) if i != nb - 2)
    return np.tensordot(ct, b, axes=(ct_axes, b_axes))


def dot_vjp_b(ct, a, b):
    """Gradient with respect to ``b`` of ``<ct, np.dot(a, b)>``."""
    na, nb = np.ndim(a), np.ndim(b)
    if na == 0 or nb == 0:
        return unbroadcast(np.multiply(ct, a), b)
    lead = tuple(range(na - 1))
    if nb == 1:
        return np.tensordot(a, ct, axes=(lead, lead))
    return np.moveaxis(np.tensordot(a, ct, axes=(lead, lead)), 0, -2).copy()


def matmul_vjp_a(ct, a, b):
    """Gradient with respect to ``a`` of ``<ct, np.matmul(a, b)>`` (1-D operands and batch broadcasting included)."""
    A, B, G = _matmul_promote(ct, a, b)
    grad = unbroadcast(np.matmul(G, np.swapaxes(B, -1, -2)), A)
    return np.reshape(grad, np.shape(a))


def matmul_vjp_b(ct, a, b):
    """Gradient with respect to ``b`` of ``<ct, np.matmul(a, b)>``."""
    A, B, G = _matmul_promote(ct, a, b)
    grad = unbroadcast(np.matmul(np.swapaxes(A, -1, -2), G), B)
    return np.reshape(grad, np.shape(b))


def inner_vjp_a(ct, a, b):
    """Gradient with respect to ``a`` of ``<ct, np.inner(a, b)>``."""
    na, nb = np.ndim(a), np.ndim(b)
    if na == 0 or nb == 0:
        return unbroadcast(np.multiply(ct, b), a)
    ct_axes = tuple(range(na - 1, np.ndim(ct)))
    return np.tensordot(ct, b, axes=(ct_axes, tuple(range(nb - 1))))


def inner_vjp_b(ct, a, b):
    """Gradient with respect to ``b`` of ``<ct, np.inner(a, b)>``."""
    na, nb = np.ndim(a), np.ndim(b)
    if na == 0 or nb == 0:
        return unbroadcast(np.multiply(ct, a), b)
    lead = tuple(range(na - 1))
    return np.tensordot(ct, a, axes=(lead, lead))


def einsum_vjp_a(ct, subscripts, a, b):
    """Gradient with respect to ``a`` of ``<ct, np.einsum(subscripts, a, b)>``.

    The transposed subscripts are computed from ``subscripts`` at call time;
    ellipses, repeated indices (diagonals), indices summed in one operand
    only and size-1 broadcasting are handled.
    """
    (sa, sb), out = _einsum_parse(subscripts, np.shape(a), np.shape(b))
    return _einsum_operand_grad(ct, out, sb, b, sa, a)


def einsum_vjp_b(ct, subscripts, a, b):
    """Gradient with respect to ``b`` of ``<ct, np.einsum(subscripts, a, b)>``."""
    (sa, sb), out = _einsum_parse(subscripts, np.shape(a), np.shape(b))
    return _einsum_operand_grad(ct, out, sa, a, sb, b)


def mat_outer(u, v):
    """``u @ v^T`` over the last two axes, or ``np.outer(u, v)`` for vectors (1-D ``u`` and ``v``)."""
    if np.ndim(u) == 1 and np.ndim(v) == 1:
        return np.outer(u, v)
    return np.matmul(u, np.swapaxes(v, -1, -2))


def matrix_transpose(x):
    """Swap the last two axes (the transpose of a matrix or of a stack of matrices)."""
    return np.swapaxes(x, -1, -2)


def expand_last2(x):
    """``x`` with two unit axes appended, so a (batch of) scalar(s) scales a (batch of) matrices."""
    return np.reshape(x, np.shape(x) + (1, 1))


# ---------------------------------------------------------------------------
# structure

def trace_vjp(ct, a, offset=0, axis1=0, axis2=1):
    """The adjoint of ``np.trace(a, offset, axis1, axis2)``: zeros shaped like ``a`` with ``ct`` on that diagonal."""
    values = np.expand_dims(np.asarray(ct), -1)  # the same value all along the diagonal
    return _embed_diagonal(values, np.shape(a), offset, axis1, axis2, _result_float(ct, a))


def diag_vjp(ct, v, k=0):
    """The adjoint of ``np.diag(v, k)``: the k-th diagonal of ``ct`` (``v`` 1-D) or ``ct`` put on it (``v`` 2-D)."""
    if np.ndim(v) == 1:
        return np.diag(ct, k).copy()
    return _embed_diagonal(np.asarray(ct), np.shape(v), k, 0, 1, _result_float(ct, v))


def split_like(ct, arrays, axis=0):
    """The adjoint of ``np.concatenate(arrays, axis)``: ``ct`` cut into a tuple of pieces shaped like ``arrays``."""
    ct = np.asarray(ct)
    shapes = [np.shape(x) for x in arrays]
    if axis is None:
        sizes = [int(np.prod(s)) for s in shapes]
        pieces = np.split(ct, np.cumsum(sizes)[:-1])
        return tuple(p.reshape(s) for p, s in zip(pieces, shapes))
    sizes = [s[axis] for s in shapes]
    return tuple(np.split(ct, np.cumsum(sizes)[:-1], axis=axis))


def unstack_like(ct, arrays, axis=0):
    """The adjoint of ``np.stack(arrays, axis)``: a tuple of the slices of ``ct`` along ``axis``."""
    ct = np.asarray(ct)
    return tuple(_kind_like(np.take(ct, i, axis=axis), x) for i, x in enumerate(arrays))


def hstack_vjp(ct, tup):
    """The adjoint of ``np.hstack(tup)``: a tuple of pieces of ``ct`` shaped like the elements of ``tup``."""
    ct = np.asarray(ct)
    axis = 0 if ct.ndim == 1 else 1
    sizes = [np.atleast_1d(np.asarray(x)).shape[axis] for x in tup]
    pieces = np.split(ct, np.cumsum(sizes)[:-1], axis=axis)
    return tuple(_kind_like(p.reshape(np.shape(x)), x) for p, x in zip(pieces, tup))


def vstack_vjp(ct, tup):
    """The adjoint of ``np.vstack(tup)``: a tuple of pieces of ``ct`` shaped like the elements of ``tup``."""
    ct = np.asarray(ct)
    sizes = [np.atleast_2d(np.asarray(x)).shape[0] for x in tup]
    pieces = np.split(ct, np.cumsum(sizes)[:-1], axis=0)
    return tuple(_kind_like(p.reshape(np.shape(x)), x) for p, x in zip(pieces, tup))


def inverse_axes(axes, ndim):
    """The permutation that undoes ``np.transpose(., axes)`` on ``ndim`` axes (None stays None: reversal is its own inverse)."""
    if axes is None:
        return None
    return tuple(int(i) for i in np.argsort([int(ax) % ndim for ax in axes]))


def cast_like(x, like):
    """``x`` converted to the floating dtype (and scalar kind) of ``like``: the adjoint of a dtype cast (a complex
    ``x`` for a real ``like``: its real part)."""
    if np.iscomplexobj(x) and not np.iscomplexobj(like):
        x = np.real(x)
    if isinstance(like, np.ndarray):
        return np.asarray(x, dtype=_float_dtype(like.dtype))
    if isinstance(like, np.generic):
        return _float_dtype(like.dtype).type(x) if np.ndim(x) == 0 else np.asarray(x, dtype=_float_dtype(like.dtype))
    if isinstance(like, (bool, int, float)) and np.ndim(x) == 0:
        return float(x)
    return x


# ---------------------------------------------------------------------------
# piecewise selections (all have zero derivative)

def max_weight(x1, x2):
    """The share of ``np.maximum(x1, x2)``'s derivative that goes to ``x1``: 1 where x1 > x2, 1/2 on ties, else 0."""
    weights = np.where(np.greater(x1, x2), 1.0, np.where(np.equal(x1, x2), 0.5, 0.0))
    return _weights(weights, x1, x2)


def min_weight(x1, x2):
    """The share of ``np.minimum(x1, x2)``'s derivative that goes to ``x1``: 1 where x1 < x2, 1/2 on ties, else 0."""
    return max_weight(x2, x1)


def fmax_weight(x1, x2):
    """Like ``max_weight`` for ``np.fmax``, which ignores NaNs: 1 where x2 is NaN, 0 where only x1 is."""
    with np.errstate(invalid="ignore"):
        base = np.where(np.greater(x1, x2), 1.0, np.where(np.equal(x1, x2), 0.5, 0.0))
    weights = np.where(np.isnan(x2), 1.0, np.where(np.isnan(x1), 0.0, base))
    return _weights(weights, x1, x2)


def fmin_weight(x1, x2):
    """Like ``min_weight`` for ``np.fmin``, which ignores NaNs: 1 where x2 is NaN, 0 where only x1 is."""
    with np.errstate(invalid="ignore"):
        base = np.where(np.less(x1, x2), 1.0, np.where(np.equal(x1, x2), 0.5, 0.0))
    weights = np.where(np.isnan(x2), 1.0, np.where(np.isnan(x1), 0.0, base))
    return _weights(weights, x1, x2)


def clip_below(a, a_min):
    """1 where ``np.clip`` replaced ``a`` by the lower bound ``a_min`` (a < a_min), else 0; all 0 when a_min is None."""
    if a_min is None:
        return _weights(np.zeros(np.shape(a)), a)
    return _weights(np.where(np.less(a, a_min), 1.0, 0.0), a, a_min)


def clip_above(a, a_max):
    """1 where ``np.clip`` replaced ``a`` by the upper bound ``a_max`` (a > a_max), else 0; all 0 when a_max is None."""
    if a_max is None:
        return _weights(np.zeros(np.shape(a)), a)
    return _weights(np.where(np.greater(a, a_max), 1.0, 0.0), a, a_max)


# ---------------------------------------------------------------------------
# linear algebra

def norm_order(x, ord=None, axis=None):
    """The p of the vector p-norm that ``np.linalg.norm(x, ord, axis)`` computes (Frobenius is p = 2).

    Raises NotImplementedError for norms whose derivative has no rule:
    matrix norms other than Frobenius, and ``ord=0`` (a count).
    """
    ndim = np.ndim(x)
    matrix = (isinstance(axis, tuple) and len(axis) == 2) or (axis is None and ndim == 2 and ord is not None)
    if matrix:
        if ord is None or ord == "fro":
            return 2.0
        raise NotImplementedError(
            f"no derivative rule for np.linalg.norm with ord={ord!r} on matrices "
            "(only the Frobenius norm, ord=None or 'fro'); write the norm out with "
            "NumPy operations or give it a custom_vjp")
    if ord is None or ord == "fro":
        return 2.0
    if ord == 0:
        raise NotImplementedError("np.linalg.norm with ord=0 counts nonzeros: it has no derivative")
    return float(ord)


# ---------------------------------------------------------------------------
# private helpers

def _float_dtype(dtype):
    if np.issubdtype(dtype, np.inexact):
        return dtype
    return np.dtype(np.float64)


def _scalar_like(value, like):
    if isinstance(like, np.generic):
        return _float_dtype(like.dtype).type(value)
    return float(value)


def _is_python_scalar(value):
    return type(value) in (bool, int, float)


def _array_for(value, like):
    """``value`` as an array; a Python scalar takes the floating dtype of ``like``."""
    if _is_python_scalar(value):
        return np.asarray(value, dtype=_float_dtype(np.asarray(like).dtype))
    return np.asarray(value)


def _kind_like(value, like):
    """An array result given the scalar kind of ``like``: a Python float for a Python scalar, a NumPy scalar for a NumPy scalar."""
    if isinstance(like, np.ndarray) or np.ndim(value) != 0:
        return value
    if isinstance(like, np.generic):
        return np.asarray(value)[()]
    return float(value)


def _result_float(*values):
    return _float_dtype(np.result_type(*values))


def _weights(weights, *inputs):
    """0/1/½ weights in the floating dtype the inputs combine to, with the scalar kind of the inputs."""
    dtype = _result_float(*[v for v in inputs if v is not None])
    weights = np.asarray(weights, dtype=dtype)
    if weights.ndim:
        return weights
    if any(isinstance(v, (np.ndarray, np.generic)) for v in inputs):
        return weights[()]
    return float(weights)


def _norm_axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        return tuple(int(a) % ndim for a in axis)
    return (int(axis) % ndim,)


def _matmul_promote(ct, a, b):
    """Operands of a matmul as (batched) matrices, and the cotangent with the matching unit axes."""
    A = np.asarray(a)
    B = np.asarray(b)
    G = _array_for(ct, A)
    if B.ndim == 1:
        B = B.reshape(-1, 1)
        G = np.expand_dims(G, -1)
    if A.ndim == 1:
        A = A.reshape(1, -1)
        G = np.expand_dims(G, -2)
    return A, B, G


def _embed_diagonal(values, shape, offset, axis1, axis2, dtype):
    """Zeros of ``shape`` with ``values`` (broadcast to batch shape + diagonal length) on a diagonal."""
    out = np.zeros(shape, dtype=dtype)
    ndim = len(shape)
    view = np.moveaxis(out, (axis1 % ndim, axis2 % ndim), (-2, -1))
    rows, cols = view.shape[-2:]
    r0, c0 = max(0, -offset), max(0, offset)
    n = max(0, min(rows - r0, cols - c0))
    i = np.arange(n)
    view[..., i + r0, i + c0] = values
    return out


def _einsum_parse(subscripts, *shapes):
    """Operand subscripts and output subscript, with ellipses replaced by fresh letters."""
    import string

    text = subscripts.replace(" ", "")
    if "->" in text:
        inputs, out = text.split("->")
    else:
        inputs, out = text, None
    subs = inputs.split(",")
    if len(subs) != len(shapes):
        raise ValueError(f"einsum subscripts {subscripts!r} do not match {len(shapes)} operands")
    if out is None:
        letters = [c for c in inputs if c.isalpha()]
        out = ("..." if "..." in inputs else "") + "".join(
            sorted(c for c in set(letters) if letters.count(c) == 1))
    free = [c for c in string.ascii_letters if c not in text]
    n_ell = [len(shape) - (len(s) - 3) if "..." in s else 0 for s, shape in zip(subs, shapes)]
    width = max(n_ell + [0])
    ell = "".join(free[:width])
    subs = [s.replace("...", ell[width - n:] if n else "") for s, n in zip(subs, n_ell)]
    out = out.replace("...", ell)
    return subs, out


def _einsum_operand_grad(ct, out, s_other, other, s_x, x):
    """Gradient with respect to operand ``x`` (subscript ``s_x``) of ``<ct, einsum(s_x, s_other -> out)>``."""
    x_shape = np.shape(x)
    unique = "".join(dict.fromkeys(s_x))
    size = {c: x_shape[s_x.index(c)] for c in unique}
    kept = "".join(c for c in unique if c in out or c in s_other)
    t = np.einsum(f"{out},{s_other}->{kept}", ct, other)
    # letters summed in x alone: the cotangent is constant along them
    t = np.reshape(t, tuple(t.shape[kept.index(c)] if c in kept else 1 for c in unique))
    # (and size-1 axes of t where x is larger: einsum broadcast x's operand partner)
    t = np.broadcast_to(t, tuple(size[c] if t.shape[i] == 1 else t.shape[i] for i, c in enumerate(unique)))
    # letters along which x was broadcast (size 1 in x): sum the cotangent
    summed = tuple(i for i, c in enumerate(unique) if size[c] == 1 and t.shape[i] != 1)
    if summed:
        t = np.sum(t, axis=summed, keepdims=True)
    if len(unique) == len(s_x):
        return np.array(t)  # unique == s_x: t is already in x's axis order
    # repeated letters: x's derivative lives on the diagonal
    grad = np.zeros(x_shape, dtype=t.dtype)
    grid = np.indices(t.shape, sparse=True)
    grad[tuple(grid[unique.index(c)] for c in s_x)] = t
    return grad


def jacobian_buffer(out, x):
    """Zeros of shape (size(out), size(x)) in the floating dtype of the pair."""
    dtype = np.result_type(_float_dtype(np.asarray(out).dtype), _float_dtype(np.asarray(x).dtype))
    return np.zeros((np.size(out), np.size(x)), dtype=dtype)


def basis_vector(x, i):
    """The ``i``-th unit vector, shaped and typed like ``x`` (a scalar for a scalar ``x``)."""
    if np.ndim(x) == 0:
        return _scalar_like(1.0, x)
    e = np.zeros(np.size(x), dtype=_float_dtype(np.asarray(x).dtype))
    e[i] = 1.0
    return e.reshape(np.shape(x))


def stop_gradient(x):
    """``x`` itself, seen by differentiation as a constant (its derivative is zero)."""
    return x


def batch_buffer(value, n, axis):
    """Zeros to stack ``n`` values like ``value`` along ``axis`` (the result of vmap)."""
    shape = np.shape(value)
    dtype = _float_dtype(np.asarray(value).dtype)
    return np.zeros(shape[:axis] + (n,) + shape[axis:], dtype=dtype)


# Destination-passing forms for vmap's batch loop: ``_stacked[_batch] = dot_vjp_a(ct, a, b)`` becomes
# ``_misfits = _misfits + dot_vjp_a_into(_stacked, _batch, ct, a, b)``, which tangent2.jit compiles to a loop
# writing the row, so the loop makes no array per example (an allocation costs more than the arithmetic for
# small rows).  A compiled helper does not raise when the value does not fit the row (a raise in the loop
# made Numba keep the reference counting of the loop's array views: 2-3x slower); it returns 1 and leaves
# the row, and ``check_rows_fit`` raises after the loop.  These helpers appear only in a vmap that is called,
# never in code that is differentiated again, so they have no derivative rules.

def dot_vjp_a_into(out, index, ct, a, b):
    """``out[index] = dot_vjp_a(ct, a, b)``; the number of rows it could not write (0 here: NumPy raises)."""
    out[index] = dot_vjp_a(ct, a, b)
    return 0


def dot_vjp_b_into(out, index, ct, a, b):
    """``out[index] = dot_vjp_b(ct, a, b)``; 0, like ``dot_vjp_a_into``."""
    out[index] = dot_vjp_b(ct, a, b)
    return 0


def matmul_vjp_a_into(out, index, ct, a, b):
    """``out[index] = matmul_vjp_a(ct, a, b)``; 0, like ``dot_vjp_a_into``."""
    out[index] = matmul_vjp_a(ct, a, b)
    return 0


def matmul_vjp_b_into(out, index, ct, a, b):
    """``out[index] = matmul_vjp_b(ct, a, b)``; 0, like ``dot_vjp_a_into``."""
    out[index] = matmul_vjp_b(ct, a, b)
    return 0


def multiply_into(out, index, x, y):
    """``out[index] = x * y``; 0, like ``dot_vjp_a_into``."""
    out[index] = x * y
    return 0


def add_into(out, index, x, y):
    """``out[index] = x + y``; 0, like ``dot_vjp_a_into``."""
    out[index] = x + y
    return 0


def subtract_into(out, index, x, y):
    """``out[index] = x - y``; 0, like ``dot_vjp_a_into``."""
    out[index] = x - y
    return 0


def divide_into(out, index, x, y):
    """``out[index] = x / y``; 0, like ``dot_vjp_a_into``."""
    out[index] = x / y
    return 0


def check_rows_fit(misfits):
    """Raise if a ``*_into`` helper could not write a row (an example's result is not shaped like the first's)."""
    if misfits:
        raise ValueError(f"vmap: {misfits} examples have a result that cannot be broadcast to the shape of the "
                         "first example's")


def batched_basis(x, j):
    """Zeros shaped like the batch ``x`` (batch, features) with ones in feature column ``j``."""
    e = np.zeros(np.shape(x), dtype=_float_dtype(np.asarray(x).dtype))
    e[:, j] = 1.0
    return e


def batched_jacobian_buffer(out, x):
    """Zeros of shape (batch, out features, in features) for per-example Jacobians."""
    dtype = np.result_type(_float_dtype(np.asarray(out).dtype), _float_dtype(np.asarray(x).dtype))
    return np.zeros((np.shape(x)[0], np.shape(out)[1], np.shape(x)[1]), dtype=dtype)


# ---------------------------------------------------------------------------
# checks

def check_not_shared(a, b, message):
    """Raise UnsupportedSyntax(``message``) when the arrays ``a`` and ``b`` share memory (see
    tangent2.frontend.aliasing: a write through one of them that tangent2 could not follow into the other)."""
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and np.shares_memory(a, b):
        from tangent2.errors import UnsupportedSyntax
        raise UnsupportedSyntax(message)


def check_not_array(value, message):
    """Raise UnsupportedSyntax(``message``) when ``value`` is an array (see tangent2.frontend.aliasing: an
    in-place ``+=`` into an array another name still reads)."""
    if isinstance(value, np.ndarray):
        from tangent2.errors import UnsupportedSyntax
        raise UnsupportedSyntax(message)
