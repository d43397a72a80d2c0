"""Derivative rules for the helpers of ``tangent2.runtime``.

Generated derivative code calls these helpers; giving them rules is what lets
generated code be differentiated again (Hessians, forward over reverse, ...).
Most helpers are linear in their cotangent argument ``ct``; the product
helpers ``*_vjp_a(ct, a, b)`` are bilinear in ``(ct, b)`` (``a`` only gives a
shape), and their adjoints follow from
``<abar, op_vjp_a(ct, a, b)> == <ct, op(abar, b)>``.
"""
import numpy as np

from tangent2 import runtime
from tangent2.rules.registry import jvp_rule, vjp_rule, zero_derivative
from tangent2.runtime import (
    add_at, broadcast_like, cast_like, cumsum_vjp, diag_vjp, dot_vjp_a,
    dot_vjp_b, einsum_vjp_a, einsum_vjp_b, expand_last2, gather, hstack_vjp,
    inner_vjp_a, inner_vjp_b, mat_outer, matmul_vjp_a, matmul_vjp_b,
    matrix_transpose, prod_others, prod_others_dot, reduce_sum, saved, split_like, trace_vjp, unbroadcast,
    unreduce, unstack_like, vstack_vjp, zeros_like,
)

# ---------------------------------------------------------------------------
# the original helpers


@vjp_rule(unbroadcast)
def unbroadcast_vjp(g, ans, ct, x):
    return unbroadcast(g, ct)


@jvp_rule(unbroadcast)
def unbroadcast_jvp(ct_dot, ans, ct, x):
    return unbroadcast(ct_dot, x)


@vjp_rule(broadcast_like)
def broadcast_like_vjp(g, ans, t, like):
    return unbroadcast(g, t)


@jvp_rule(broadcast_like)
def broadcast_like_jvp(t_dot, ans, t, like):
    return broadcast_like(t_dot, like)


@vjp_rule(add_at)
def add_at_vjp(g, ans, dx, index, value):
    return g, None, gather(g, index, value)


@jvp_rule(add_at)
def add_at_jvp(dx_dot, value_dot, ans, dx, index, value):
    return dx_dot + add_at(zeros_like(dx), index, value_dot)


@vjp_rule(gather)
def gather_vjp(g, ans, ct, index, like):
    return add_at(zeros_like(ct), index, g)


@jvp_rule(gather)
def gather_jvp(ct_dot, ans, ct, index, like):
    return gather(ct_dot, index, like)


@vjp_rule(saved)
def saved_vjp(g, ans, value):
    return g


@jvp_rule(saved)
def saved_jvp(value_dot, ans, value):
    return saved(value_dot)


@vjp_rule(cast_like)
def cast_like_vjp(g, ans, x, like):
    return cast_like(g, x)


@jvp_rule(cast_like)
def cast_like_jvp(x_dot, ans, x, like):
    return cast_like(x_dot, like)


# ---------------------------------------------------------------------------
# reductions


@vjp_rule(runtime.reduce_sum)
def reduce_sum_vjp(g, ans, x, axis=None, keepdims=False):
    return unreduce(g, x, axis, keepdims)


@jvp_rule(runtime.reduce_sum)
def reduce_sum_jvp(x_dot, ans, x, axis=None, keepdims=False):
    return reduce_sum(x_dot, axis, keepdims)


@vjp_rule(unreduce)
def unreduce_vjp(g, ans, ct, x, axis=None, keepdims=False):
    return reduce_sum(g, axis, keepdims)


@jvp_rule(unreduce)
def unreduce_jvp(ct_dot, ans, ct, x, axis=None, keepdims=False):
    return unreduce(ct_dot, x, axis, keepdims)


@vjp_rule(runtime.prod_others)
def prod_others_vjp(g, ans, x, axis=None):
    # the second derivatives of np.prod form a symmetric matrix: the adjoint is the derivative along g
    return prod_others_dot(g, x, axis)


@jvp_rule(runtime.prod_others)
def prod_others_jvp(x_dot, ans, x, axis=None):
    return prod_others_dot(x_dot, x, axis)


@vjp_rule(prod_others_dot)
def prod_others_dot_vjp(g, ans, t, x, axis=None):
    # third derivatives of np.prod (symmetric in t and g); valid where x has no zeros
    others = prod_others(x, axis)
    r = t / x
    q = g / x
    r_others = unreduce(reduce_sum(r, axis, False), x, axis, False) - r
    q_others = unreduce(reduce_sum(q, axis, False), x, axis, False) - q
    rq_others = unreduce(reduce_sum(r * q, axis, False), x, axis, False) - r * q
    return prod_others_dot(g, x, axis), others * (r_others * q_others - rq_others)


@jvp_rule(prod_others_dot)
def prod_others_dot_jvp(t_dot, x_dot, ans, t, x, axis=None):
    # third derivatives of np.prod; valid where x has no zeros
    others = prod_others(x, axis)
    r = t / x
    q = x_dot / x
    r_others = unreduce(reduce_sum(r, axis, False), x, axis, False) - r
    q_others = unreduce(reduce_sum(q, axis, False), x, axis, False) - q
    rq_others = unreduce(reduce_sum(r * q, axis, False), x, axis, False) - r * q
    return prod_others_dot(t_dot, x, axis) + others * (r_others * q_others - rq_others)


@vjp_rule(cumsum_vjp)
def cumsum_vjp_vjp(g, ans, ct, a, axis=None):
    return np.cumsum(g, axis=axis)


@jvp_rule(cumsum_vjp)
def cumsum_vjp_jvp(ct_dot, ans, ct, a, axis=None):
    return cumsum_vjp(ct_dot, a, axis)


# ---------------------------------------------------------------------------
# products


@vjp_rule(dot_vjp_a)
def dot_vjp_a_vjp(g, ans, ct, a, b):
    return np.dot(g, b), None, dot_vjp_b(ct, g, b)


@jvp_rule(dot_vjp_a)
def dot_vjp_a_jvp(ct_dot, b_dot, ans, ct, a, b):
    return dot_vjp_a(ct_dot, a, b) + dot_vjp_a(ct, a, b_dot)


@vjp_rule(dot_vjp_b)
def dot_vjp_b_vjp(g, ans, ct, a, b):
    return np.dot(a, g), dot_vjp_a(ct, a, g), None


@jvp_rule(dot_vjp_b)
def dot_vjp_b_jvp(ct_dot, a_dot, ans, ct, a, b):
    return dot_vjp_b(ct_dot, a, b) + dot_vjp_b(ct, a_dot, b)


@vjp_rule(matmul_vjp_a)
def matmul_vjp_a_vjp(g, ans, ct, a, b):
    return np.matmul(g, b), None, matmul_vjp_b(ct, g, b)


@jvp_rule(matmul_vjp_a)
def matmul_vjp_a_jvp(ct_dot, b_dot, ans, ct, a, b):
    return matmul_vjp_a(ct_dot, a, b) + matmul_vjp_a(ct, a, b_dot)


@vjp_rule(matmul_vjp_b)
def matmul_vjp_b_vjp(g, ans, ct, a, b):
    return np.matmul(a, g), matmul_vjp_a(ct, a, g), None


@jvp_rule(matmul_vjp_b)
def matmul_vjp_b_jvp(ct_dot, a_dot, ans, ct, a, b):
    return matmul_vjp_b(ct_dot, a, b) + matmul_vjp_b(ct, a_dot, b)


@vjp_rule(inner_vjp_a)
def inner_vjp_a_vjp(g, ans, ct, a, b):
    return np.inner(g, b), None, inner_vjp_b(ct, g, b)


@jvp_rule(inner_vjp_a)
def inner_vjp_a_jvp(ct_dot, b_dot, ans, ct, a, b):
    return inner_vjp_a(ct_dot, a, b) + inner_vjp_a(ct, a, b_dot)


@vjp_rule(inner_vjp_b)
def inner_vjp_b_vjp(g, ans, ct, a, b):
    return np.inner(a, g), inner_vjp_a(ct, a, g), None


@jvp_rule(inner_vjp_b)
def inner_vjp_b_jvp(ct_dot, a_dot, ans, ct, a, b):
    return inner_vjp_b(ct_dot, a, b) + inner_vjp_b(ct, a_dot, b)


@vjp_rule(einsum_vjp_a)
def einsum_vjp_a_vjp(g, ans, ct, subscripts, a, b):
    return np.einsum(subscripts, g, b), None, None, einsum_vjp_b(ct, subscripts, g, b)


@jvp_rule(einsum_vjp_a)
def einsum_vjp_a_jvp(ct_dot, b_dot, ans, ct, subscripts, a, b):
    return einsum_vjp_a(ct_dot, subscripts, a, b) + einsum_vjp_a(ct, subscripts, a, b_dot)


@vjp_rule(einsum_vjp_b)
def einsum_vjp_b_vjp(g, ans, ct, subscripts, a, b):
    return np.einsum(subscripts, a, g), None, einsum_vjp_a(ct, subscripts, a, g), None


@jvp_rule(einsum_vjp_b)
def einsum_vjp_b_jvp(ct_dot, a_dot, ans, ct, subscripts, a, b):
    return einsum_vjp_b(ct_dot, subscripts, a, b) + einsum_vjp_b(ct, subscripts, a_dot, b)


@vjp_rule(mat_outer)
def mat_outer_vjp(g, ans, u, v):
    return unbroadcast(np.matmul(g, v), u), unbroadcast(np.matmul(matrix_transpose(g), u), v)


@jvp_rule(mat_outer)
def mat_outer_jvp(u_dot, v_dot, ans, u, v):
    return mat_outer(u_dot, v) + mat_outer(u, v_dot)


@vjp_rule(matrix_transpose)
def matrix_transpose_vjp(g, ans, x):
    return matrix_transpose(g)


@jvp_rule(matrix_transpose)
def matrix_transpose_jvp(x_dot, ans, x):
    return matrix_transpose(x_dot)


@vjp_rule(expand_last2)
def expand_last2_vjp(g, ans, x):
    return reduce_sum(g, (-2, -1), False)


@jvp_rule(expand_last2)
def expand_last2_jvp(x_dot, ans, x):
    return expand_last2(x_dot)


# ---------------------------------------------------------------------------
# structure


@vjp_rule(trace_vjp)
def trace_vjp_vjp(g, ans, ct, a, offset=0, axis1=0, axis2=1):
    return np.trace(g, offset=offset, axis1=axis1, axis2=axis2)


@jvp_rule(trace_vjp)
def trace_vjp_jvp(ct_dot, ans, ct, a, offset=0, axis1=0, axis2=1):
    return trace_vjp(ct_dot, a, offset, axis1, axis2)


@vjp_rule(diag_vjp)
def diag_vjp_vjp(g, ans, ct, v, k=0):
    return np.diag(g, k)


@jvp_rule(diag_vjp)
def diag_vjp_jvp(ct_dot, ans, ct, v, k=0):
    return diag_vjp(ct_dot, v, k)


@vjp_rule(split_like)
def split_like_vjp(g, ans, ct, arrays, axis=0):
    return np.concatenate(g, axis=axis)


@jvp_rule(split_like)
def split_like_jvp(ct_dot, ans, ct, arrays, axis=0):
    return split_like(ct_dot, arrays, axis)


@vjp_rule(unstack_like)
def unstack_like_vjp(g, ans, ct, arrays, axis=0):
    return np.stack(g, axis=axis)


@jvp_rule(unstack_like)
def unstack_like_jvp(ct_dot, ans, ct, arrays, axis=0):
    return unstack_like(ct_dot, arrays, axis)


@vjp_rule(hstack_vjp)
def hstack_vjp_vjp(g, ans, ct, tup):
    return np.hstack(g)


@jvp_rule(hstack_vjp)
def hstack_vjp_jvp(ct_dot, ans, ct, tup):
    return hstack_vjp(ct_dot, tup)


@vjp_rule(vstack_vjp)
def vstack_vjp_vjp(g, ans, ct, tup):
    return np.vstack(g)


@jvp_rule(vstack_vjp)
def vstack_vjp_jvp(ct_dot, ans, ct, tup):
    return vstack_vjp(ct_dot, tup)


# ---------------------------------------------------------------------------
# helpers whose outputs carry no derivative

zero_derivative(
    zeros_like, runtime.reduced_size, runtime.extremum_weights, runtime.inverse_axes,
    runtime.max_weight, runtime.min_weight, runtime.fmax_weight, runtime.fmin_weight,
    runtime.clip_below, runtime.clip_above, runtime.norm_order,
    runtime.jacobian_buffer, runtime.basis_vector, runtime.stop_gradient, runtime.batch_buffer,
    runtime.batched_basis, runtime.batched_jacobian_buffer, runtime.check_not_shared,
    runtime.check_not_array,
)


# Helpers that give a zero whenever any argument that can carry a tangent is
# zero (linear, or bilinear in (ct, b)): a simplifier may replace such a call
# with a symbolic zero, as it does for np.sum or np.matmul.  (prod_others_dot is
# linear in its direction t; its x is a primal in every rule, never a zero.)
LINEAR_HELPERS = frozenset({
    unbroadcast, broadcast_like, gather, saved, cast_like, reduce_sum, unreduce, cumsum_vjp, prod_others_dot,
    dot_vjp_a, dot_vjp_b, matmul_vjp_a, matmul_vjp_b, inner_vjp_a, inner_vjp_b,
    einsum_vjp_a, einsum_vjp_b, mat_outer, matrix_transpose, expand_last2, trace_vjp, diag_vjp,
})
