"""Derivative rules for NumPy primitives (and the operators, which map to them).

Operators: ``+`` np.add, ``-`` np.subtract, ``*`` np.multiply, ``/``
np.divide (np.true_divide is the same object), ``**`` np.power, ``@``
np.matmul, unary ``-`` np.negative, unary ``+`` np.positive, ``%`` np.mod,
``//`` np.floor_divide (zero derivative).

Every rule is written in the restricted form described in
``tangent2/rules/registry.py``: simple assignments and one return, calling
only primitives that have rules themselves and the helpers of
``tangent2.runtime``.  Python float literals keep float32 values float32.
"""
import numpy as np

from tangent2.rules.registry import jvp_rule, vjp_rule, writes_into_first_argument, zero_derivative
from tangent2.runtime import (
    broadcast_like, cast_like, clip_above, clip_below, cumsum_vjp, diag_vjp,
    dot_vjp_a, dot_vjp_b, einsum_vjp_a, einsum_vjp_b, expand_last2,
    extremum_weights, fmax_weight, fmin_weight, hstack_vjp, inner_vjp_a,
    inner_vjp_b, inverse_axes, mat_outer, matmul_vjp_a, matmul_vjp_b,
    matrix_transpose, max_weight, min_weight, norm_order, prod_others,
    reduce_sum, reduced_size, split_like, trace_vjp, unbroadcast, unreduce,
    unstack_like, vstack_vjp,
)

# ---------------------------------------------------------------------------
# arithmetic


@vjp_rule(np.multiply)
def multiply_vjp(g, ans, x1, x2):
    return unbroadcast(g * x2, x1), unbroadcast(g * x1, x2)


@jvp_rule(np.multiply)
def multiply_jvp(x1_dot, x2_dot, ans, x1, x2):
    return x1_dot * x2 + x1 * x2_dot


@vjp_rule(np.add)
def add_vjp(g, ans, x1, x2):
    return unbroadcast(g, x1), unbroadcast(g, x2)


@jvp_rule(np.add)
def add_jvp(x1_dot, x2_dot, ans, x1, x2):
    return broadcast_like(x1_dot, ans) + broadcast_like(x2_dot, ans)


@vjp_rule(np.subtract)
def subtract_vjp(g, ans, x1, x2):
    return unbroadcast(g, x1), unbroadcast(-g, x2)


@jvp_rule(np.subtract)
def subtract_jvp(x1_dot, x2_dot, ans, x1, x2):
    return broadcast_like(x1_dot, ans) - broadcast_like(x2_dot, ans)


@vjp_rule(np.divide)
def divide_vjp(g, ans, x1, x2):
    return unbroadcast(g / x2, x1), unbroadcast(-g * ans / x2, x2)


@jvp_rule(np.divide)
def divide_jvp(x1_dot, x2_dot, ans, x1, x2):
    return x1_dot / x2 - x2_dot * ans / x2


@vjp_rule(np.negative)
def negative_vjp(g, ans, x):
    return -g


@jvp_rule(np.negative)
def negative_jvp(x_dot, ans, x):
    return -x_dot


@vjp_rule(np.positive)
def positive_vjp(g, ans, x):
    return g


@jvp_rule(np.positive)
def positive_jvp(x_dot, ans, x):
    return x_dot


@vjp_rule(np.power)
def power_vjp(g, ans, x1, x2):
    # d/dx2 is ans * log(x1), taken as 0 where x1 <= 0 (at 0 the limit for x2 > 0; a negative
    # base has no real derivative in x2, and 0 keeps a zero tangent of x2 from turning into NaN)
    return (unbroadcast(g * x2 * x1 ** (x2 - 1), x1),
            unbroadcast(g * ans * np.log(np.where(x1 > 0, x1, 1.0)), x2))


@jvp_rule(np.power)
def power_jvp(x1_dot, x2_dot, ans, x1, x2):
    return x1_dot * x2 * x1 ** (x2 - 1) + x2_dot * ans * np.log(np.where(x1 > 0, x1, 1.0))


@vjp_rule(np.mod)  # np.remainder is the same object
def mod_vjp(g, ans, x1, x2):
    # x1 % x2 == x1 - floor(x1 / x2) * x2
    return unbroadcast(g, x1), unbroadcast(-g * np.floor_divide(x1, x2), x2)


@jvp_rule(np.mod)
def mod_jvp(x1_dot, x2_dot, ans, x1, x2):
    return broadcast_like(x1_dot, ans) - x2_dot * np.floor_divide(x1, x2)


@vjp_rule(np.fmod)
def fmod_vjp(g, ans, x1, x2):
    # fmod(x1, x2) == x1 - trunc(x1 / x2) * x2
    return unbroadcast(g, x1), unbroadcast(-g * np.trunc(x1 / x2), x2)


@jvp_rule(np.fmod)
def fmod_jvp(x1_dot, x2_dot, ans, x1, x2):
    return broadcast_like(x1_dot, ans) - x2_dot * np.trunc(x1 / x2)


@vjp_rule(np.square)
def square_vjp(g, ans, x):
    return g * 2.0 * x


@jvp_rule(np.square)
def square_jvp(x_dot, ans, x):
    return x_dot * 2.0 * x


@vjp_rule(np.reciprocal)
def reciprocal_vjp(g, ans, x):
    return -g * ans * ans


@jvp_rule(np.reciprocal)
def reciprocal_jvp(x_dot, ans, x):
    return -x_dot * ans * ans


@vjp_rule(np.abs)  # np.absolute is the same object
def abs_vjp(g, ans, x):
    return g * np.sign(x)


@jvp_rule(np.abs)
def abs_jvp(x_dot, ans, x):
    return x_dot * np.sign(x)


# ---------------------------------------------------------------------------
# elementwise transcendental functions


@vjp_rule(np.tanh)
def tanh_vjp(g, ans, x):
    return g * (1.0 - ans * ans)


@jvp_rule(np.tanh)
def tanh_jvp(x_dot, ans, x):
    return x_dot * (1.0 - ans * ans)


@vjp_rule(np.sin)
def sin_vjp(g, ans, x):
    return g * np.cos(x)


@jvp_rule(np.sin)
def sin_jvp(x_dot, ans, x):
    return x_dot * np.cos(x)


@vjp_rule(np.cos)
def cos_vjp(g, ans, x):
    return -g * np.sin(x)


@jvp_rule(np.cos)
def cos_jvp(x_dot, ans, x):
    return -x_dot * np.sin(x)


@vjp_rule(np.tan)
def tan_vjp(g, ans, x):
    return g * (1.0 + ans * ans)


@jvp_rule(np.tan)
def tan_jvp(x_dot, ans, x):
    return x_dot * (1.0 + ans * ans)


@vjp_rule(np.arcsin)
def arcsin_vjp(g, ans, x):
    return g / np.sqrt(1.0 - x * x)


@jvp_rule(np.arcsin)
def arcsin_jvp(x_dot, ans, x):
    return x_dot / np.sqrt(1.0 - x * x)


@vjp_rule(np.arccos)
def arccos_vjp(g, ans, x):
    return -g / np.sqrt(1.0 - x * x)


@jvp_rule(np.arccos)
def arccos_jvp(x_dot, ans, x):
    return -x_dot / np.sqrt(1.0 - x * x)


@vjp_rule(np.arctan)
def arctan_vjp(g, ans, x):
    return g / (1.0 + x * x)


@jvp_rule(np.arctan)
def arctan_jvp(x_dot, ans, x):
    return x_dot / (1.0 + x * x)


@vjp_rule(np.arctan2)
def arctan2_vjp(g, ans, x1, x2):
    r2 = x1 * x1 + x2 * x2
    return unbroadcast(g * x2 / r2, x1), unbroadcast(-g * x1 / r2, x2)


@jvp_rule(np.arctan2)
def arctan2_jvp(x1_dot, x2_dot, ans, x1, x2):
    r2 = x1 * x1 + x2 * x2
    return x1_dot * x2 / r2 - x2_dot * x1 / r2


@vjp_rule(np.sinh)
def sinh_vjp(g, ans, x):
    return g * np.cosh(x)


@jvp_rule(np.sinh)
def sinh_jvp(x_dot, ans, x):
    return x_dot * np.cosh(x)


@vjp_rule(np.cosh)
def cosh_vjp(g, ans, x):
    return g * np.sinh(x)


@jvp_rule(np.cosh)
def cosh_jvp(x_dot, ans, x):
    return x_dot * np.sinh(x)


@vjp_rule(np.arcsinh)
def arcsinh_vjp(g, ans, x):
    return g / np.sqrt(x * x + 1.0)


@jvp_rule(np.arcsinh)
def arcsinh_jvp(x_dot, ans, x):
    return x_dot / np.sqrt(x * x + 1.0)


@vjp_rule(np.arccosh)
def arccosh_vjp(g, ans, x):
    return g / np.sqrt(x * x - 1.0)


@jvp_rule(np.arccosh)
def arccosh_jvp(x_dot, ans, x):
    return x_dot / np.sqrt(x * x - 1.0)


@vjp_rule(np.arctanh)
def arctanh_vjp(g, ans, x):
    return g / (1.0 - x * x)


@jvp_rule(np.arctanh)
def arctanh_jvp(x_dot, ans, x):
    return x_dot / (1.0 - x * x)


@vjp_rule(np.exp)
def exp_vjp(g, ans, x):
    return g * ans


@jvp_rule(np.exp)
def exp_jvp(x_dot, ans, x):
    return x_dot * ans


@vjp_rule(np.exp2)
def exp2_vjp(g, ans, x):
    return g * ans * 0.6931471805599453  # log(2)


@jvp_rule(np.exp2)
def exp2_jvp(x_dot, ans, x):
    return x_dot * ans * 0.6931471805599453  # log(2)


@vjp_rule(np.expm1)
def expm1_vjp(g, ans, x):
    return g * (ans + 1.0)


@jvp_rule(np.expm1)
def expm1_jvp(x_dot, ans, x):
    return x_dot * (ans + 1.0)


@vjp_rule(np.log)
def log_vjp(g, ans, x):
    return g / x


@jvp_rule(np.log)
def log_jvp(x_dot, ans, x):
    return x_dot / x


@vjp_rule(np.log1p)
def log1p_vjp(g, ans, x):
    return g / (1.0 + x)


@jvp_rule(np.log1p)
def log1p_jvp(x_dot, ans, x):
    return x_dot / (1.0 + x)


@vjp_rule(np.log2)
def log2_vjp(g, ans, x):
    return g / (x * 0.6931471805599453)  # x * log(2)


@jvp_rule(np.log2)
def log2_jvp(x_dot, ans, x):
    return x_dot / (x * 0.6931471805599453)  # x * log(2)


@vjp_rule(np.log10)
def log10_vjp(g, ans, x):
    return g / (x * 2.302585092994046)  # x * log(10)


@jvp_rule(np.log10)
def log10_jvp(x_dot, ans, x):
    return x_dot / (x * 2.302585092994046)  # x * log(10)


@vjp_rule(np.sqrt)
def sqrt_vjp(g, ans, x):
    return g / (2.0 * ans)


@jvp_rule(np.sqrt)
def sqrt_jvp(x_dot, ans, x):
    return x_dot / (2.0 * ans)


@vjp_rule(np.cbrt)
def cbrt_vjp(g, ans, x):
    return g / (3.0 * ans * ans)


@jvp_rule(np.cbrt)
def cbrt_jvp(x_dot, ans, x):
    return x_dot / (3.0 * ans * ans)


@vjp_rule(np.logaddexp)
def logaddexp_vjp(g, ans, x1, x2):
    return unbroadcast(g * np.exp(x1 - ans), x1), unbroadcast(g * np.exp(x2 - ans), x2)


@jvp_rule(np.logaddexp)
def logaddexp_jvp(x1_dot, x2_dot, ans, x1, x2):
    return x1_dot * np.exp(x1 - ans) + x2_dot * np.exp(x2 - ans)


@vjp_rule(np.logaddexp2)
def logaddexp2_vjp(g, ans, x1, x2):
    return unbroadcast(g * np.exp2(x1 - ans), x1), unbroadcast(g * np.exp2(x2 - ans), x2)


@jvp_rule(np.logaddexp2)
def logaddexp2_jvp(x1_dot, x2_dot, ans, x1, x2):
    return x1_dot * np.exp2(x1 - ans) + x2_dot * np.exp2(x2 - ans)


@vjp_rule(np.hypot)
def hypot_vjp(g, ans, x1, x2):
    return unbroadcast(g * x1 / ans, x1), unbroadcast(g * x2 / ans, x2)


@jvp_rule(np.hypot)
def hypot_jvp(x1_dot, x2_dot, ans, x1, x2):
    return x1_dot * x1 / ans + x2_dot * x2 / ans


@vjp_rule(np.deg2rad, np.radians)
def deg2rad_vjp(g, ans, x):
    return g * 0.017453292519943295  # pi / 180


@jvp_rule(np.deg2rad, np.radians)
def deg2rad_jvp(x_dot, ans, x):
    return x_dot * 0.017453292519943295  # pi / 180


@vjp_rule(np.rad2deg, np.degrees)
def rad2deg_vjp(g, ans, x):
    return g * 57.29577951308232  # 180 / pi


@jvp_rule(np.rad2deg, np.degrees)
def rad2deg_jvp(x_dot, ans, x):
    return x_dot * 57.29577951308232  # 180 / pi


# ---------------------------------------------------------------------------
# piecewise functions


@vjp_rule(np.maximum)
def maximum_vjp(g, ans, x1, x2):
    w = max_weight(x1, x2)
    return unbroadcast(g * w, x1), unbroadcast(g * (1.0 - w), x2)


@jvp_rule(np.maximum)
def maximum_jvp(x1_dot, x2_dot, ans, x1, x2):
    w = max_weight(x1, x2)
    return x1_dot * w + x2_dot * (1.0 - w)


@vjp_rule(np.minimum)
def minimum_vjp(g, ans, x1, x2):
    w = min_weight(x1, x2)
    return unbroadcast(g * w, x1), unbroadcast(g * (1.0 - w), x2)


@jvp_rule(np.minimum)
def minimum_jvp(x1_dot, x2_dot, ans, x1, x2):
    w = min_weight(x1, x2)
    return x1_dot * w + x2_dot * (1.0 - w)


@vjp_rule(np.fmax)
def fmax_vjp(g, ans, x1, x2):
    w = fmax_weight(x1, x2)
    return unbroadcast(g * w, x1), unbroadcast(g * (1.0 - w), x2)


@jvp_rule(np.fmax)
def fmax_jvp(x1_dot, x2_dot, ans, x1, x2):
    w = fmax_weight(x1, x2)
    return x1_dot * w + x2_dot * (1.0 - w)


@vjp_rule(np.fmin)
def fmin_vjp(g, ans, x1, x2):
    w = fmin_weight(x1, x2)
    return unbroadcast(g * w, x1), unbroadcast(g * (1.0 - w), x2)


@jvp_rule(np.fmin)
def fmin_jvp(x1_dot, x2_dot, ans, x1, x2):
    w = fmin_weight(x1, x2)
    return x1_dot * w + x2_dot * (1.0 - w)


@vjp_rule(np.clip)
def clip_vjp(g, ans, a, a_min=None, a_max=None):
    below = clip_below(a, a_min)
    above = clip_above(a, a_max)
    return (unbroadcast(g * (1.0 - below - above), a),
            unbroadcast(g * below, a_min),
            unbroadcast(g * above, a_max))


@jvp_rule(np.clip)
def clip_jvp(a_dot, a_min_dot, a_max_dot, ans, a, a_min=None, a_max=None):
    below = clip_below(a, a_min)
    above = clip_above(a, a_max)
    return (broadcast_like(a_dot * (1.0 - below - above), ans)
            + broadcast_like(a_min_dot * below, ans)
            + broadcast_like(a_max_dot * above, ans))


@vjp_rule(np.where)
def where_vjp(g, ans, condition, x, y):
    return None, unbroadcast(np.where(condition, g, 0.0), x), unbroadcast(np.where(condition, 0.0, g), y)


@jvp_rule(np.where)
def where_jvp(x_dot, y_dot, ans, condition, x, y):
    return broadcast_like(np.where(condition, x_dot, 0.0), ans) + broadcast_like(np.where(condition, 0.0, y_dot), ans)


# ---------------------------------------------------------------------------
# reductions


@vjp_rule(np.sum)
def sum_vjp(g, ans, a, axis=None, keepdims=False):
    return unreduce(g, a, axis, keepdims)


@jvp_rule(np.sum)
def sum_jvp(a_dot, ans, a, axis=None, keepdims=False):
    return reduce_sum(a_dot, axis, keepdims)


@vjp_rule(np.mean)
def mean_vjp(g, ans, a, axis=None, keepdims=False):
    return unreduce(g, a, axis, keepdims) / reduced_size(a, axis)


@jvp_rule(np.mean)
def mean_jvp(a_dot, ans, a, axis=None, keepdims=False):
    return reduce_sum(a_dot, axis, keepdims) / reduced_size(a, axis)


@vjp_rule(np.var)
def var_vjp(g, ans, a, axis=None, ddof=0, keepdims=False):
    centred = a - unreduce(reduce_sum(a, axis, False) / reduced_size(a, axis), a, axis, False)
    return unreduce(g, a, axis, keepdims) * 2.0 * centred / (reduced_size(a, axis) - ddof)


@jvp_rule(np.var)
def var_jvp(a_dot, ans, a, axis=None, ddof=0, keepdims=False):
    centred = a - unreduce(reduce_sum(a, axis, False) / reduced_size(a, axis), a, axis, False)
    return reduce_sum(a_dot * centred, axis, keepdims) * 2.0 / (reduced_size(a, axis) - ddof)


@vjp_rule(np.std)
def std_vjp(g, ans, a, axis=None, ddof=0, keepdims=False):
    centred = a - unreduce(reduce_sum(a, axis, False) / reduced_size(a, axis), a, axis, False)
    return unreduce(g / ans, a, axis, keepdims) * centred / (reduced_size(a, axis) - ddof)


@jvp_rule(np.std)
def std_jvp(a_dot, ans, a, axis=None, ddof=0, keepdims=False):
    centred = a - unreduce(reduce_sum(a, axis, False) / reduced_size(a, axis), a, axis, False)
    return reduce_sum(a_dot * centred, axis, keepdims) / (ans * (reduced_size(a, axis) - ddof))


@vjp_rule(np.prod)
def prod_vjp(g, ans, a, axis=None, keepdims=False):
    return unreduce(g, a, axis, keepdims) * prod_others(a, axis)


@jvp_rule(np.prod)
def prod_jvp(a_dot, ans, a, axis=None, keepdims=False):
    return reduce_sum(a_dot * prod_others(a, axis), axis, keepdims)


@vjp_rule(np.max, np.amax, np.min, np.amin)
def max_vjp(g, ans, a, axis=None, keepdims=False):
    # ties share the derivative equally
    return unreduce(g, a, axis, keepdims) * extremum_weights(a, ans, axis, keepdims)


@jvp_rule(np.max, np.amax, np.min, np.amin)
def max_jvp(a_dot, ans, a, axis=None, keepdims=False):
    return reduce_sum(a_dot * extremum_weights(a, ans, axis, keepdims), axis, keepdims)


@vjp_rule(np.cumsum)
def cumsum_vjp_rule(g, ans, a, axis=None):
    return cumsum_vjp(g, a, axis)


@jvp_rule(np.cumsum)
def cumsum_jvp(a_dot, ans, a, axis=None):
    return np.cumsum(a_dot, axis=axis)


# ---------------------------------------------------------------------------
# products


@vjp_rule(np.dot)
def dot_vjp(g, ans, a, b):
    return dot_vjp_a(g, a, b), dot_vjp_b(g, a, b)


@jvp_rule(np.dot)
def dot_jvp(a_dot, b_dot, ans, a, b):
    return np.dot(a_dot, b) + np.dot(a, b_dot)


@vjp_rule(np.matmul)
def matmul_vjp(g, ans, x1, x2):
    return matmul_vjp_a(g, x1, x2), matmul_vjp_b(g, x1, x2)


@jvp_rule(np.matmul)
def matmul_jvp(x1_dot, x2_dot, ans, x1, x2):
    return np.matmul(x1_dot, x2) + np.matmul(x1, x2_dot)


@vjp_rule(np.inner)
def inner_vjp(g, ans, a, b):
    return inner_vjp_a(g, a, b), inner_vjp_b(g, a, b)


@jvp_rule(np.inner)
def inner_jvp(a_dot, b_dot, ans, a, b):
    return np.inner(a_dot, b) + np.inner(a, b_dot)


@vjp_rule(np.vdot)
def vdot_vjp(g, ans, a, b):
    return np.reshape(g * np.ravel(b), np.shape(a)), np.reshape(g * np.ravel(a), np.shape(b))


@jvp_rule(np.vdot)
def vdot_jvp(a_dot, b_dot, ans, a, b):
    return np.vdot(a_dot, b) + np.vdot(a, b_dot)


@vjp_rule(np.outer)
def outer_vjp(g, ans, a, b):
    return np.reshape(np.dot(g, np.ravel(b)), np.shape(a)), np.reshape(np.dot(np.ravel(a), g), np.shape(b))


@jvp_rule(np.outer)
def outer_jvp(a_dot, b_dot, ans, a, b):
    return np.outer(a_dot, b) + np.outer(a, b_dot)


@vjp_rule(np.einsum)
def einsum_vjp(g, ans, subscripts, a, b):
    # exactly two operands and a subscripts string, e.g. np.einsum('ij,jk->ik', a, b)
    return None, einsum_vjp_a(g, subscripts, a, b), einsum_vjp_b(g, subscripts, a, b)


@jvp_rule(np.einsum)
def einsum_jvp(a_dot, b_dot, ans, subscripts, a, b):
    return np.einsum(subscripts, a_dot, b) + np.einsum(subscripts, a, b_dot)


# ---------------------------------------------------------------------------
# shape and structure


@vjp_rule(np.transpose)
def transpose_vjp(g, ans, a, axes=None):
    return np.transpose(g, inverse_axes(axes, np.ndim(a)))


@jvp_rule(np.transpose)
def transpose_jvp(a_dot, ans, a, axes=None):
    return np.transpose(a_dot, axes)


@vjp_rule(np.swapaxes)
def swapaxes_vjp(g, ans, a, axis1, axis2):
    return np.swapaxes(g, axis1, axis2)


@jvp_rule(np.swapaxes)
def swapaxes_jvp(a_dot, ans, a, axis1, axis2):
    return np.swapaxes(a_dot, axis1, axis2)


@vjp_rule(np.moveaxis)
def moveaxis_vjp(g, ans, a, source, destination):
    return np.moveaxis(g, destination, source)


@jvp_rule(np.moveaxis)
def moveaxis_jvp(a_dot, ans, a, source, destination):
    return np.moveaxis(a_dot, source, destination)


@vjp_rule(np.reshape)
def reshape_vjp(g, ans, a, shape=None, newshape=None):
    # NumPy >= 2.1 names the parameter ``shape``; older versions ``newshape``
    return np.reshape(g, np.shape(a))


@jvp_rule(np.reshape)
def reshape_jvp(a_dot, ans, a, shape=None, newshape=None):
    return np.reshape(a_dot, np.shape(ans))


@vjp_rule(np.ravel)
def ravel_vjp(g, ans, a):
    return np.reshape(g, np.shape(a))


@jvp_rule(np.ravel)
def ravel_jvp(a_dot, ans, a):
    return np.reshape(a_dot, np.shape(ans))


@vjp_rule(np.squeeze)
def squeeze_vjp(g, ans, a, axis=None):
    return np.reshape(g, np.shape(a))


@jvp_rule(np.squeeze)
def squeeze_jvp(a_dot, ans, a, axis=None):
    return np.reshape(a_dot, np.shape(ans))


@vjp_rule(np.expand_dims)
def expand_dims_vjp(g, ans, a, axis):
    return np.reshape(g, np.shape(a))


@jvp_rule(np.expand_dims)
def expand_dims_jvp(a_dot, ans, a, axis):
    return np.reshape(a_dot, np.shape(ans))


@vjp_rule(np.flip)
def flip_vjp(g, ans, m, axis=None):
    return np.flip(g, axis)


@jvp_rule(np.flip)
def flip_jvp(m_dot, ans, m, axis=None):
    return np.flip(m_dot, axis)


@vjp_rule(np.broadcast_to)
def broadcast_to_vjp(g, ans, array, shape):
    return unbroadcast(g, array)


@jvp_rule(np.broadcast_to)
def broadcast_to_jvp(array_dot, ans, array, shape):
    return broadcast_like(array_dot, ans)


@vjp_rule(np.concatenate)
def concatenate_vjp(g, ans, arrays, axis=0):
    return split_like(g, arrays, axis)


@jvp_rule(np.concatenate)
def concatenate_jvp(arrays_dot, ans, arrays, axis=0):
    return np.concatenate(arrays_dot, axis=axis)


@vjp_rule(np.stack)
def stack_vjp(g, ans, arrays, axis=0):
    return unstack_like(g, arrays, axis)


@jvp_rule(np.stack)
def stack_jvp(arrays_dot, ans, arrays, axis=0):
    return np.stack(arrays_dot, axis=axis)


@vjp_rule(np.hstack)
def hstack_vjp_rule(g, ans, tup):
    return hstack_vjp(g, tup)


@jvp_rule(np.hstack)
def hstack_jvp(tup_dot, ans, tup):
    return np.hstack(tup_dot)


@vjp_rule(np.vstack)
def vstack_vjp_rule(g, ans, tup):
    return vstack_vjp(g, tup)


@jvp_rule(np.vstack)
def vstack_jvp(tup_dot, ans, tup):
    return np.vstack(tup_dot)


@vjp_rule(np.trace)
def trace_vjp_rule(g, ans, a, offset=0, axis1=0, axis2=1):
    return trace_vjp(g, a, offset, axis1, axis2)


@jvp_rule(np.trace)
def trace_jvp(a_dot, ans, a, offset=0, axis1=0, axis2=1):
    return np.trace(a_dot, offset=offset, axis1=axis1, axis2=axis2)


@vjp_rule(np.diag)
def diag_vjp_rule(g, ans, v, k=0):
    return diag_vjp(g, v, k)


@jvp_rule(np.diag)
def diag_jvp(v_dot, ans, v, k=0):
    return np.diag(v_dot, k)


# ---------------------------------------------------------------------------
# copies, casts and constructors


@vjp_rule(np.copy)
def copy_vjp(g, ans, a):
    return g


@jvp_rule(np.copy)
def copy_jvp(a_dot, ans, a):
    return np.copy(a_dot)


@vjp_rule(np.asarray)
def asarray_vjp(g, ans, a, dtype=None):
    # an array or scalar is copied (or cast); a flat list or tuple of values is stacked
    return unstack_like(g, a, 0) if isinstance(a, (list, tuple)) else cast_like(g, a)


@jvp_rule(np.asarray)
def asarray_jvp(a_dot, ans, a, dtype=None):
    return np.asarray(a_dot, dtype=dtype)


@vjp_rule(np.array)
def array_vjp(g, ans, object, dtype=None):
    # an array or scalar is copied (or cast); a flat list or tuple of values is stacked
    return unstack_like(g, object, 0) if isinstance(object, (list, tuple)) else cast_like(g, object)


@jvp_rule(np.array)
def array_jvp(object_dot, ans, object, dtype=None):
    return np.array(object_dot, dtype=dtype)


# Complex values follow JAX's convention: a cotangent flows through a holomorphic function unconjugated, and
# cast_like projects a complex cotangent onto a real input by its real part; for real inputs np.real is the
# identity and np.imag is zero.
@vjp_rule(np.real)
def real_vjp(g, ans, val):
    return cast_like(g, val)


@jvp_rule(np.real)
def real_jvp(val_dot, ans, val):
    return np.real(val_dot)


@vjp_rule(np.imag)
def imag_vjp(g, ans, val):
    return cast_like(-1j * g, val)


@jvp_rule(np.imag)
def imag_jvp(val_dot, ans, val):
    return np.imag(val_dot)


@vjp_rule(np.float64)
def float64_vjp(g, ans, x):
    return cast_like(g, x)


@jvp_rule(np.float64)
def float64_jvp(x_dot, ans, x):
    return np.float64(x_dot)


@vjp_rule(np.float32)
def float32_vjp(g, ans, x):
    return cast_like(g, x)


@jvp_rule(np.float32)
def float32_jvp(x_dot, ans, x):
    return np.float32(x_dot)


@vjp_rule(np.full)
def full_vjp(g, ans, shape, fill_value, dtype=None):
    return None, unbroadcast(g, fill_value)


@jvp_rule(np.full)
def full_jvp(fill_value_dot, ans, shape, fill_value, dtype=None):
    return broadcast_like(fill_value_dot, ans)


@vjp_rule(np.full_like)
def full_like_vjp(g, ans, a, fill_value, dtype=None):
    return None, unbroadcast(g, fill_value)


@jvp_rule(np.full_like)
def full_like_jvp(fill_value_dot, ans, a, fill_value, dtype=None):
    return broadcast_like(fill_value_dot, ans)


# ---------------------------------------------------------------------------
# linear algebra


@vjp_rule(np.linalg.norm)
def norm_vjp(g, ans, x, ord=None, axis=None, keepdims=False):
    # vector p-norms (p = 2 by default, 1, inf, -inf, any p != 0) and the Frobenius norm
    p = norm_order(x, ord, axis)
    gx = unreduce(g, x, axis, keepdims)
    nx = unreduce(ans, x, axis, keepdims)
    return (gx * x / nx if p == 2.0 else
            gx * np.sign(x) * extremum_weights(np.abs(x), ans, axis, keepdims) if np.isinf(p) else
            gx * np.sign(x) * (np.abs(x) / nx) ** (p - 1.0))


@jvp_rule(np.linalg.norm)
def norm_jvp(x_dot, ans, x, ord=None, axis=None, keepdims=False):
    p = norm_order(x, ord, axis)
    nx = unreduce(ans, x, axis, keepdims)
    return (reduce_sum(x_dot * x, axis, keepdims) / ans if p == 2.0 else
            reduce_sum(x_dot * np.sign(x) * extremum_weights(np.abs(x), ans, axis, keepdims), axis, keepdims) if np.isinf(p) else
            reduce_sum(x_dot * np.sign(x) * (np.abs(x) / nx) ** (p - 1.0), axis, keepdims))


@vjp_rule(np.linalg.det)
def det_vjp(g, ans, a):
    # d det(A) = det(A) * tr(A^-1 dA)
    return expand_last2(g * ans) * matrix_transpose(np.linalg.inv(a))


@jvp_rule(np.linalg.det)
def det_jvp(a_dot, ans, a):
    return ans * reduce_sum(matrix_transpose(np.linalg.inv(a)) * a_dot, (-2, -1), False)


@vjp_rule(np.linalg.inv)
def inv_vjp(g, ans, a):
    ans_t = matrix_transpose(ans)
    return -np.matmul(ans_t, np.matmul(g, ans_t))


@jvp_rule(np.linalg.inv)
def inv_jvp(a_dot, ans, a):
    return -np.matmul(ans, np.matmul(a_dot, ans))


@vjp_rule(np.linalg.solve)
def solve_vjp(g, ans, a, b):
    # x = A^-1 b; b is a vector (1-D) or a (stack of) matrices
    gb = np.linalg.solve(matrix_transpose(a), g)
    return unbroadcast(-mat_outer(gb, ans), a), unbroadcast(gb, b)


@jvp_rule(np.linalg.solve)
def solve_jvp(a_dot, b_dot, ans, a, b):
    # one solve; a zero a_dot or b_dot simplifies inside its argument
    return np.linalg.solve(a, b_dot - np.matmul(a_dot, ans))


# ---------------------------------------------------------------------------
# primitives whose outputs carry no derivative

zero_derivative(
    np.shape, np.size, np.ndim, np.result_type, np.broadcast_shapes,
    np.zeros, np.ones, np.empty, np.zeros_like, np.ones_like, np.empty_like,
    np.arange, np.linspace, np.eye, np.identity, np.indices,
    np.argmax, np.argmin, np.argsort, np.searchsorted, np.nonzero, np.count_nonzero,
    np.floor, np.ceil, np.round, np.around, np.rint, np.trunc, np.fix, np.sign, np.signbit,
    np.isnan, np.isfinite, np.isinf, np.isclose, np.allclose, np.array_equal,
    np.greater, np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal,
    np.logical_and, np.logical_or, np.logical_not, np.logical_xor,
    np.all, np.any, np.floor_divide, np.heaviside,
    # integer and bool scalar conversions (np.int64(x)): piecewise constant
    np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64, np.bool_,
)

# Functions writing into the array passed first: no derivative rules (a derivative flowing through one is
# UnsupportedSyntax: tangent2.frontend.activity), and writes for the aliasing analysis.
writes_into_first_argument(np.copyto, np.put, np.place, np.putmask, np.fill_diagonal, np.random.shuffle)
