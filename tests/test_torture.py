"""Torture suite: many small functions, each differentiated in every mode.

For every case of ``CASES`` (function, arguments, wrt, optional hand-derived
gradient):

  * ``test_reverse``: ``tangent2.grad`` (scalar outputs) or the ``vjp`` pullback
    of a random cotangent (other outputs) against central finite differences,
    plus dtypes (float32 in, float32 out) and the caller's arguments untouched;
  * ``test_value_and_grad``: its value is ``f``'s, its gradient the finite one;
  * ``test_forward``: ``tangent2.jvp`` along a random direction against
    ``numerical_jvp``;
  * ``test_forward_reverse_agree``: ``<ct, J v>`` from ``jvp`` equals
    ``<J^T ct, v>`` from ``vjp`` (and from ``grad`` for scalar outputs);
  * ``test_hand_*``: an independent hand-derived derivative (``hand``), checked
    first against finite differences (so the formula itself is right), then
    against reverse and forward mode.

Every case that once exposed a tangent2 bug (continue dropped, early returns
ignored, values popped before value_and_grad returned them, nested loops
sharing a stack, writes through an alias, vjp mutating its arguments) stays
in the table as a regression test.

To add a case: write the function in ``torture_functions.py`` and one
``case(...)`` line below.
"""
import copy
import zlib

import numpy as np
import pytest

import tangent2
from tangent2 import tree
from tangent2.testing import numerical_grad, numerical_jvp

import torture_functions as T

RNG = np.random.default_rng(20240611)


def U(lo, hi, shape=None, dtype=np.float64):
    """Uniform random values in [lo, hi) (a Python float when shape is None)."""
    if shape is None:
        return float(RNG.uniform(lo, hi))
    return RNG.uniform(lo, hi, shape).astype(dtype)


def N(*shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


class Case:
    def __init__(self, f, args, wrt=0, hand=None, has_aux=False, id=None, hand_jvp=None):
        self.f = f
        self.args = tuple(args)
        self.wrt = wrt
        self.hand = hand              # hand(*args) -> gradient, same structure as tangent2.grad(f, wrt)
        self.hand_jvp = hand_jvp      # hand_jvp(args, tangents) -> output tangent (non-scalar outputs)
        self.has_aux = has_aux
        self.id = id or f.__name__

    # ---- helpers
    @property
    def params(self):
        import inspect
        return list(inspect.signature(self.f).parameters)

    def positions(self):
        """The wrt positions, as a list of ints."""
        items = self.wrt if isinstance(self.wrt, tuple) else (self.wrt,)
        return [self.params.index(w) if isinstance(w, str) else w for w in items]

    def numeric_wrt(self):
        pos = self.positions()
        return tuple(pos) if isinstance(self.wrt, tuple) else pos[0]

    def value_fn(self):
        """The (value part of the) function, called on copies of its arguments.

        Copies, because some functions assign into their arguments, and
        tangent2.testing.numerical_grad evaluates f on the very arrays it then
        perturbs (see test_numerical_grad_of_a_function_mutating_its_argument).
        """
        f = self.f
        if self.has_aux:
            return lambda *a: f(*copy.deepcopy(a))[0]
        return lambda *a: f(*copy.deepcopy(a))

    def fresh_args(self):
        return copy.deepcopy(self.args)

    def rng(self, salt=""):
        return np.random.default_rng(zlib.crc32((self.id + salt).encode()))

    def is_float32(self):
        return any(isinstance(l, (np.ndarray, np.generic)) and l.dtype == np.float32
                   for l in tree.leaves(self.args))


def case(f, *args, **kwargs):
    return Case(f, args, **kwargs)


CASES = []


def add(c):
    CASES.append(c)


# ============================================================== the table
# ---- overwriting, aliasing, swaps
add(case(T.overwrite_scalar, U(0.1, 0.6), hand=lambda x: 4 * np.sin(2 * x) * np.cos(2 * x)))
add(case(T.overwrite_array, U(-1, 1, 5), hand=lambda x: 4 * np.sin(2 * x) * np.cos(2 * x)))
add(case(T.alias_mul, U(0.5, 2.0), hand=lambda a: 2 * a))
add(case(T.alias_array, U(-1, 1, 4), hand=lambda a: 2 * a + 1))
add(case(T.swap, U(0.2, 1.0), U(0.5, 1.5), wrt=(0, 1),
         hand=lambda a, b: (b ** 2 * np.cos(a), 2 * b * np.sin(a))))
add(case(T.swap_in_loop, U(0.5, 1.2), U(0.5, 1.2), wrt=(0, 1),
         hand=lambda a, b: (b ** 2 + 2 * a * b ** 3, 2 * a * b + 3 * a ** 2 * b ** 2)))
add(case(T.reassign_chain, U(0.2, 0.8),
         hand=lambda x: 2 * (x + 1) ** 2 * 2 * (x + 1) - (x + 1) ** 2 - x * 2 * (x + 1)))
add(case(T.overwrite_with_self_reference, U(0.3, 0.9),
         hand=lambda x: (np.exp(-(x ** 4 + x ** 2)) * (1 - (x ** 4 + x ** 2)) * (2 * x ** 2 + 1) * 2 * x)))

# ---- loops
add(case(T.loop_overwrite, U(0.3, 0.8), 3))
add(case(T.loop_power, U(0.5, 1.5), hand=lambda x: 5 * x ** 4))
add(case(T.loop_over_rows, N(4, 3), hand=lambda X: 2 * X))
add(case(T.loop_over_rows_weights, N(4, 3), N(3) * 0.5, wrt=(0, 1),
         hand=lambda X, w: (np.outer(1 - np.tanh(X @ w) ** 2, w), X.T @ (1 - np.tanh(X @ w) ** 2))))


def _nested_loops_hand(x):
    W = np.zeros((len(x), len(x)))
    for i in range(3):
        for j in range(2):
            W[i, j] = i + j + 1
    return (W + W.T) @ x


add(case(T.nested_loops, N(4), hand=_nested_loops_hand))
add(case(T.nested_loops_overwrite, U(0.2, 0.6)))
add(case(T.loop_index_branch, U(0.3, 0.7)))
add(case(T.loop_data_branch, 0.37))  # y: .37 -> 1.48 -> .74 -> 2.59 -> 1.295 -> .6475, far from 1.0
add(case(T.loop_data_branch_array, U(0.1, 0.5, 3)))
add(case(T.while_data_dependent, 0.9, hand=lambda x: 15.0))  # 0.9, 2.7, 6.3, 13.5: y = 15 x
add(case(T.while_counter_break, U(0.2, 0.8)))
add(case(T.while_data_break, 1.5,
         hand=lambda x: (x ** 2 + 1) ** 2 + 1 + x * 2 * (x ** 2 + 1) * 2 * x))  # 1.5 -> 3.25 -> 11.56 break
add(case(T.while_array_norm, np.array([0.5, 1.0, 1.5])))  # sum y^2 crosses 50 far from a step
add(case(T.for_continue, U(0.5, 1.5), hand=lambda x: 1 + 3 * x ** 2 + 4 * x ** 3))
add(case(T.for_break, U(0.2, 0.9), hand=lambda x: sum(i * np.cos(i * x) for i in range(4))))
add(case(T.early_return_if, 0.7, hand=lambda x: 2 * x, id="early_return_if_pos"))
add(case(T.early_return_if, -0.7, hand=lambda x: -3 * x ** 2, id="early_return_if_neg"))
add(case(T.early_return_in_loop, 1.2, hand=lambda x: 2 * 1.5 ** 4 * x))  # 1.8, 2.7, 4.05, 6.075 > 5
add(case(T.early_return_in_while, 0.6))
add(case(T.loop_accumulate_two_vars, U(0.2, 0.6)))
add(case(T.loop_over_array_elements, N(4),
         hand=lambda x: 2 * 0.5 ** np.arange(len(x) - 1, -1, -1) * x))

# ---- subscripts


def _subscript_reads_hand(x):
    g = np.zeros_like(x)
    g[0] += x[1]
    g[1] += x[0]
    g[-1] += 2 * x[-1]
    return g


def _slices_neighbors_hand(x):
    g = np.zeros_like(x)
    g[1:] += x[:-1]
    g[:-1] += x[1:]
    return g


def _step_slices_hand(x):
    g = -np.ones_like(x)
    g[::2] = 2 * x[::2]
    return g


def _matrix_indexing_hand(X):
    g = np.zeros_like(X)
    g[0, 1] += X[1, 0]
    g[1, 0] += X[0, 1]
    g[:, 0] += 2 * X[:, 0]
    g[1, :] += 1
    return g


add(case(T.subscript_reads, N(5), hand=_subscript_reads_hand))
add(case(T.slices_neighbors, N(6), hand=_slices_neighbors_hand))
add(case(T.step_slices, N(7), hand=_step_slices_hand))
add(case(T.matrix_indexing, N(3, 4), hand=_matrix_indexing_hand))
add(case(T.index_ij_loop, N(3, 3), hand=lambda X: 2 * X.T))
add(case(T.subscript_assign, N(3),
         hand=lambda x: np.array([2 * x[0] * x[1] ** 2 + 2 * x[0], 2 * x[0] ** 2 * x[1],
                                  2 * np.sin(x[2]) * np.cos(x[2])])))
add(case(T.subscript_assign_loop, U(-1, 1, 4),
         hand=lambda x: np.cos(np.arange(1, 5) * x ** 2) * 2 * np.arange(1, 5) * x))
add(case(T.column_assign, N(3, 2) * 0.5,
         hand=lambda X: np.stack([2 * np.exp(2 * X[:, 0]), 8 * X[:, 1]], axis=1)))
add(case(T.aug_subscript_loop, N(3),
         hand=lambda x: (2 * x * np.roll(x, -1) * np.roll(x, -1)
                         + np.roll(2 * x * np.roll(x, -1) * x, 1))))


def _assign_into_arg_hand(x):
    g = 2 * x.copy()
    g[0] = 18 * x[0]
    g[1] = 2 * np.sin(x[1]) * np.cos(x[1])
    return g


def _aug_assign_into_arg_hand(X):
    g = 8 * X.copy()
    g[:, 0] = 8 * (X[:, 0] + 1)
    return g


def _overwrite_slice_hand(x):
    g = np.ones_like(x)
    g[0] = 1 + x[1] + x[2]
    g[1] = x[0]
    g[2] = x[0]
    return g


add(case(T.assign_into_arg, N(4), hand=_assign_into_arg_hand))
add(case(T.assign_into_arg_loop, N(4), hand=lambda x: 2 * x))
add(case(T.aug_assign_into_arg, N(3, 2), hand=_aug_assign_into_arg_hand))
add(case(T.overwrite_slice_of_copy, N(5), hand=_overwrite_slice_hand))
add(case(T.subscript_assign_twice, N(3), hand=lambda x: np.array([x[1], x[0], 0.0])))
add(case(T.subscript_overwrite_in_loop, U(0.2, 0.6, 3)))
add(case(T.row_assign_matrix, N(2, 3),
         hand=lambda X: np.stack([4 * X[0] * X[1] ** 2, 4 * X[1] * X[0] ** 2])))

# ---- augmented assignment
add(case(T.augassign_scalar, U(0.2, 1.5),
         hand=lambda x: ((2 * x + 0.5) * (1 + x * x) - (x * x + 0.5 * x) * 2 * x) / (1 + x * x) ** 2))
add(case(T.augassign_array, N(4), hand=lambda x: 4 * x - 1))
add(case(T.augassign_loop, U(0.3, 1.2), hand=lambda x: 1 + x + x ** 2 + x ** 3))
add(case(T.augassign_loop_mul, U(0.3, 1.2),
         hand=lambda x: (x + 2) * (x + 3) + (x + 1) * (x + 3) + (x + 1) * (x + 2)))

# ---- tuples, conditional expressions
add(case(T.tuple_pack_unpack, U(0.2, 1.0), U(0.2, 1.0), wrt=(0, 1),
         hand=lambda x, y: (2 * x * y + y ** 2, x ** 2 + 2 * x * y)))
add(case(T.tuple_from_helper, U(0.1, 1.0), hand=lambda x: np.cos(2 * x)))
add(case(T.nested_unpack, U(0.1, 1.0), hand=lambda x: 18 * x ** 2))
add(case(T.cond_expr, 0.8, hand=lambda x: 3 * x ** 2, id="cond_expr_pos"))
add(case(T.cond_expr, -0.8, hand=lambda x: -2 * x, id="cond_expr_neg"))
add(case(T.cond_expr_array, U(0.1, 1.0, 4), hand=lambda x: 2 * x))
add(case(T.cond_expr_in_loop, 0.6))  # y: .6 -> .96 -> 1.5216 -> .7608 -> 1.1788
add(case(T.elif_chain, -1.5, hand=lambda x: 3 * x ** 2, id="elif_chain_low"))
add(case(T.elif_chain, 0.4, hand=lambda x: 3 * (np.cos(x) * x + np.sin(x)), id="elif_chain_mid"))
add(case(T.elif_chain, 1.6, hand=lambda x: np.exp(x) * (1 + x), id="elif_chain_high"))

# ---- calls to user functions
add(case(T.call_kwargs, U(0.2, 1.0), hand=lambda x: 6 * x ** 2))
add(case(T.call_defaults, U(0.2, 1.0), hand=lambda x: 8 * x))
add(case(T.call_nested_user, U(0.2, 1.0), hand=lambda x: 16 * np.sin(x) ** 3 * np.cos(x)))
add(case(T.call_user_with_loop, U(0.2, 1.0),
         hand=lambda x: 3 * x ** 2 + 1 + 4 * x ** 3 + 2 * x + 1))
add(case(T.call_active_kwarg, U(0.2, 1.0), U(0.5, 1.5), wrt=(0, 1),
         hand=lambda x, s: (2 * s * x + s, x ** 2 + x + 2 * s)))
add(case(T.call_in_loop, U(0.1, 0.5)))

# ---- nested defs, lambdas, closures
add(case(T.nested_def, U(0.2, 1.0), hand=lambda x: np.sin(2 * x) + 1))
add(case(T.lambda_call, U(0.2, 1.0), hand=lambda x: 10 * x))
add(case(T.closure_local, U(0.2, 1.0), hand=lambda x: 4 * x + 2))
add(case(T.lambda_closure, U(0.2, 1.0), hand=lambda x: -np.sin(x) * x ** 2 + 2 * x * np.cos(x)))
add(case(T.nested_def_in_loop, U(0.2, 1.0)))
add(case(T.nested_def_default_arg, U(0.2, 1.0), hand=lambda x: 8 * x + 4))

# ---- comprehensions
add(case(T.sum_genexp_params, (N(3), N(2, 2)), hand=lambda p: tuple(2 * q for q in p)))
add(case(T.sum_listcomp_range, N(4), hand=lambda x: np.arange(4.0)))
add(case(T.stack_listcomp, N(3), hand=lambda x: 10 * x))
add(case(T.stack_tuple, N(3), N(3), wrt=(0, 1), hand=lambda a, b: (np.cos(a), 2 * np.cos(2 * b))))
add(case(T.sum_genexp_over_list, [N(2), N(3), N(2, 2)],
         hand=lambda p: [2 * (1 - np.tanh(q) ** 2) for q in p]))
add(case(T.sum_genexp_zip, (N(3), N(2)), (N(3), N(2)), wrt=(0, 1), hand=lambda a, b: (b, a)))

# ---- array methods and attributes


def _onehot_max(x):
    g = np.zeros_like(x)
    g[np.argmax(x)] = 2.0
    return g


def _max_axis_hand(X):
    g = np.zeros_like(X)
    g[np.argmax(X, axis=0), np.arange(X.shape[1])] = 1.0
    return g


add(case(T.method_sum_axis, N(3, 4), hand=lambda X: np.broadcast_to(2 * X.sum(axis=0), X.shape)))
add(case(T.transpose_matmul, N(3, 2), hand=lambda X: np.broadcast_to(2 * X.sum(axis=1)[:, None], X.shape)))
add(case(T.shape_attribute, N(5), hand=lambda x: 2 * x / 5))
add(case(T.reshape_method, N(6), hand=lambda x: np.concatenate([2 * x[:3], np.zeros(3)])))
add(case(T.mean_method, N(3, 2), hand=lambda X: np.full(X.shape, 2 * X.mean() / X.size)))
add(case(T.max_method, np.array([0.1, 0.9, -0.3, 0.4]), hand=_onehot_max))
add(case(T.dot_method, N(4), N(4), wrt=(0, 1), hand=lambda x, y: (y, x)))
add(case(T.center_keepdims, N(3, 4), hand=lambda X: 2 * (X - X.mean(axis=1, keepdims=True))))
add(case(T.var_function, N(5), hand=lambda x: 2 * (x - x.mean()) / x.size))
add(case(T.size_ndim_attributes, N(2, 3), hand=lambda X: np.full(X.shape, 2 / 6)))
add(case(T.copy_method, N(4), hand=lambda x: 2 * x + 1))

# ---- broadcasting
add(case(T.scalar_plus_vector, U(-1, 1), N(4), wrt=(0, 1),
         hand=lambda s, v: (np.sum(2 * (s + v)), 2 * (s + v))))
add(case(T.outer_broadcast, N(3, 1), N(1, 4), wrt=(0, 1),
         hand=lambda a, b: (np.sum(np.cos(a * b) * b, axis=1, keepdims=True),
                            np.sum(np.cos(a * b) * a, axis=0, keepdims=True))))
add(case(T.vector_plus_matrix, N(4), N(3, 4), wrt=(0, 1),
         hand=lambda v, M: ((3 * (M + v) ** 2).sum(axis=0), 3 * (M + v) ** 2)))
add(case(T.broadcast_divide, N(3, 4), U(1, 2, 3), wrt=(0, 1),
         hand=lambda X, c: (np.broadcast_to(1 / c[:, None], X.shape), -X.sum(axis=1) / c ** 2)))

# ---- reductions


def _softmax(X):
    e = np.exp(X - X.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


add(case(T.logsumexp_rows, N(3, 4), hand=_softmax))
add(case(T.prod_reduction, U(0.5, 1.5, 4), hand=lambda x: np.prod(x) / x))
add(case(T.max_axis, N(4, 3), hand=_max_axis_hand))
add(case(T.mean_axis0_keepdims, N(4, 3), hand=lambda X: np.broadcast_to(2 * X.sum(axis=0) / 4, X.shape)))
add(case(T.softmax_weighted, N(3, 4), N(3, 4), wrt=(0, 1),
         hand=lambda X, w: (_softmax(X) * (w - np.sum(_softmax(X) * w, axis=1, keepdims=True)), _softmax(X))))

# ---- matmul
add(case(T.matmul_chain, N(2, 3), N(3, 4), N(4, 2), wrt=(0, 1, 2),
         hand=lambda A, B, C: (np.ones((2, 2)) @ (B @ C).T, A.T @ np.ones((2, 2)) @ C.T,
                               (A @ B).T @ np.ones((2, 2)))))
add(case(T.matvec_tanh, N(3, 4) * 0.5, N(4), wrt=(0, 1),
         hand=lambda W, x: (np.outer(1 - np.tanh(W @ x) ** 2, x), W.T @ (1 - np.tanh(W @ x) ** 2))))
add(case(T.quadratic_form, N(3), N(3, 3), wrt=(0, 1), hand=lambda x, A: ((A + A.T) @ x, np.outer(x, x))))
add(case(T.np_dot_chain, N(3, 3), N(3), wrt=1, hand=lambda A, x: 2 * A.T @ A @ x))

# ---- where, maximum, clip, norm
_AWAY = np.array([-1.3, -0.6, 0.4, 0.9, 1.7])  # away from 0 and from the clip bounds
add(case(T.where_select, _AWAY.copy(), hand=lambda x: np.where(x > 0, 2 * x, np.cos(x))))
add(case(T.relu_squared, _AWAY.copy(), hand=lambda x: 2 * np.maximum(x, 0.0)))
add(case(T.maximum_two, _AWAY.copy(), _AWAY[::-1].copy() + 0.05, wrt=(0, 1),
         hand=lambda x, y: ((x > y) * y, (y > x) * y + np.maximum(x, y))))
add(case(T.clip_cube, _AWAY.copy(), hand=lambda x: 3 * x ** 2 * (np.abs(x) < 1)))
add(case(T.norm_vector, N(4), hand=lambda x: x / np.sqrt(np.sum(x ** 2))))
add(case(T.norm_matrix, N(3, 3),
         hand=lambda X: 2 * X + np.vstack([X[0] / np.sqrt(np.sum(X[0] ** 2)), np.zeros((2, 3))])))
add(case(T.norm_axis, N(3, 4), hand=lambda X: X / np.sqrt(np.sum(X ** 2, axis=1, keepdims=True))))

# ---- math on scalars
add(case(T.math_mix, U(0.5, 2.0),
         hand=lambda x: np.cos(x) * np.exp(x) + np.sin(x) * np.exp(x) + 0.5 / np.sqrt(x) + 1 / x))
add(case(T.math_mix2, U(0.5, 1.5), U(0.5, 1.5), wrt=(0, 1),
         hand=lambda x, y: ((1 - np.tanh(x * y) ** 2) * y + 3 * x ** 2 - y / (x * x + y * y),
                            (1 - np.tanh(x * y) ** 2) * x + x / (x * x + y * y))))
add(case(T.math_in_loop, U(0.2, 1.0), hand=lambda x: -sum((i + 1) * np.sin((i + 1) * x) for i in range(3))))

# ---- float32
add(case(T.f32_poly, U(-1, 1, 5, np.float32), hand=lambda x: 3 * x ** 2 * np.sin(x) + x ** 3 * np.cos(x)))
add(case(T.f32_matvec, N(3, 4, dtype=np.float32), N(4, dtype=np.float32), wrt=(0, 1),
         hand=lambda W, x: (np.outer(2 * np.tanh(W @ x) * (1 - np.tanh(W @ x) ** 2), x),
                            W.T @ (2 * np.tanh(W @ x) * (1 - np.tanh(W @ x) ** 2)))))
add(case(T.f32_loop, U(-1, 1, 3, np.float32)))
add(case(T.f32_scalar, np.float32(0.7), hand=lambda x: (2 * x + x * x) * np.exp(x)))

# ---- trees


def _mlp_dict_hand(params, x, y):
    z = x @ params["W1"] + params["b1"]
    h = np.tanh(z)
    out = h @ params["W2"] + params["b2"]
    d_out = 2 * (out - y) / out.size
    dz = (d_out @ params["W2"].T) * (1 - h ** 2)
    return {"W1": x.T @ dz, "b1": dz.sum(axis=0), "W2": h.T @ d_out, "b2": d_out.sum(axis=0)}


def _namedtuple_hand(p, x):
    t = np.tanh(x @ p.w + p.b)
    d = 2 * t * (1 - t ** 2)
    return T.Params(x.T @ d, d.sum(axis=0))


add(case(T.mlp_dict_loss, {"W1": N(3, 4) * 0.5, "b1": N(4) * 0.1, "W2": N(4, 2) * 0.5, "b2": N(2) * 0.1},
         N(5, 3), N(5, 2), hand=_mlp_dict_hand))
add(case(T.mlp_layers_loss, [(N(3, 4) * 0.5, N(4) * 0.1), (N(4, 2) * 0.5, N(2) * 0.1)], N(5, 3)))
add(case(T.tuple_params_loss, (N(3, 2), N(2)), N(4, 3),
         hand=lambda p, x: (x.T @ (2 * (x @ p[0] + p[1])), (2 * (x @ p[0] + p[1])).sum(axis=0))))
add(case(T.namedtuple_loss, T.Params(N(3, 2) * 0.5, N(2) * 0.1), N(4, 3), hand=_namedtuple_hand))
add(case(T.list_params_loss, [U(0.5, 1.5), N(3), N(2)],
         hand=lambda p: [np.sum(p[1] ** 2), 2 * p[0] * p[1], np.cos(p[2])]))
add(case(T.nested_tree_loss, {"layer": (N(2, 2), N(3)), "scale": U(0.5, 1.5)},
         hand=lambda t: {"layer": (2 * t["layer"][0] * t["scale"], np.ones(3)),
                         "scale": np.sum(t["layer"][0] ** 2)}))

# ---- integer arguments
add(case(T.int_loop_count, U(0.2, 0.6), 4))
add(case(T.int_power, U(0.5, 1.5), 3, hand=lambda x, k: k * x ** (k - 1)))
add(case(T.int_arg_first, 3, U(0.2, 0.6), wrt=1))
add(case(T.horner, N(4), U(0.5, 1.5), 4, wrt=(0, 1),
         hand=lambda c, x, n: (x ** np.arange(n - 1, -1, -1.0), np.polyval(np.polyder(c), x))))
add(case(T.loop_overwrite, U(0.3, 0.8), 3, wrt="x", id="loop_overwrite_wrt_name"))

# ---- has_aux
add(case(T.aux_scalar, N(4), has_aux=True, hand=lambda x: 2 * x))
add(case(T.aux_array, N(3), N(3), wrt=(0, 1), has_aux=True, hand=lambda x, y: (2 * (x - y), -2 * (x - y))))

# ---- multi-output functions (vjp / jvp)
add(case(T.multi_tuple, U(0.2, 1.0), U(0.2, 1.0), wrt=(0, 1),
         hand_jvp=lambda a, t: (t[0] * a[1] + a[0] * t[1], np.cos(a[0]) * t[0] + t[1])))
add(case(T.multi_elementwise, U(0.1, 2.0, 4),
         hand_jvp=lambda a, t: (2 * a[0] - a[0] ** 2) * np.exp(-a[0]) * t[0]))
add(case(T.multi_matvec, N(3, 4) * 0.5, N(4), wrt=(0, 1),
         hand_jvp=lambda a, t: (1 - np.tanh(a[0] @ a[1]) ** 2) * (t[0] @ a[1] + a[0] @ t[1])))
add(case(T.multi_tuple_arrays, N(4),
         hand_jvp=lambda a, t: (2 * t[0][:2], 2 * a[0] @ t[0])))
add(case(T.multi_loop_output, N(4),
         hand_jvp=lambda a, t: np.cumsum(2 * a[0] * t[0])[:3]))
add(case(T.multi_outer, N(3), N(2), wrt=(0, 1),
         hand_jvp=lambda a, t: np.outer(t[0], a[1]) + np.outer(a[0], t[1])))
add(case(T.multi_loop_tuple, U(0.2, 0.8)))
add(case(T.multi_loop_tuple, U(-1, 1, 3), id="multi_loop_tuple_array"))

# ---- more torture


def _swap_elements_hand(x):
    return np.array([2.0, 1.0, 3.0])


def _alias_then_mutate_hand(x):
    g = 2 * x.copy()
    g[0] = 50 * x[0]
    return g


def _subscript_ij_nested_hand(X):
    a, b, c, d = X[0, 0], X[0, 1], X[1, 0], X[1, 1]
    y00, y01, y10, y11 = a * a + a, b * c + a, c * b + d, d * d + d
    return np.array([[2 * y00 * (2 * a + 1) + 2 * y01, 2 * y01 * c + 2 * y10 * c],
                     [2 * y01 * b + 2 * y10 * b, 2 * y10 + 2 * y11 * (2 * d + 1)]])


def _aug_subscript_into_arg_loop_hand(x):
    # y = L x with L lower triangular, L[i, j] = 0.5 ** (i - j); f = |y|^2
    n = len(x)
    i, j = np.indices((n, n))
    L = np.where(i >= j, 0.5 ** (i - j), 0.0)
    return 2 * L.T @ (L @ x)


add(case(T.global_constant, N(3), hand=lambda x: 2 * T.SCALE * x))
add(case(T.swap_elements, N(3), hand=_swap_elements_hand))
add(case(T.alias_then_mutate, N(3), hand=_alias_then_mutate_hand))
add(case(T.while_with_continue, U(0.2, 0.6)))
add(case(T.return_in_elif, 3.0, hand=lambda x: 1.0, id="return_in_elif_high"))
add(case(T.return_in_elif, 0.8, hand=lambda x: 3 * x ** 2, id="return_in_elif_mid"))
add(case(T.return_in_elif, -0.8, hand=lambda x: -1.0, id="return_in_elif_low"))
add(case(T.nested_branches_in_loop, 0.9))  # y: .9 -> .63 -> 1.53 -> 1.071 -> 1.971
add(case(T.subscript_ij_assign_nested, N(2, 2), hand=_subscript_ij_nested_hand))
add(case(T.aug_subscript_into_arg_loop, N(4), hand=_aug_subscript_into_arg_loop_hand))
add(case(T.lambda_in_loop, U(0.2, 0.5)))
add(case(T.closure_over_loop_variable, U(0.5, 1.5), hand=lambda x: 1 + 2 * x + 3 * x ** 2))
add(case(T.tuple_return_in_loop, U(0.2, 0.8)))
add(case(T.reshape_minus_one_matmul, N(6),
         hand=lambda x: np.broadcast_to(2 * x.reshape(2, 3).sum(axis=0), (2, 3)).reshape(6)))
add(case(T.where_scalar_branches, _AWAY.copy(), hand=lambda x: 2 * np.where(x > 0, x, 0.01 * x)))
add(case(T.loop_over_matrix_rows_overwrite, N(3, 3) * 0.5))


def _view_again_hand(x):
    # y1 <- y1 y2 twice: y1 = x1 x2^2, f = x0^2 + x1^2 x2^2 + x2^2
    return np.array([2 * x[0], 2 * x[1] * x[2] ** 2, 2 * x[1] ** 2 * x[2] + 2 * x[2]])


def _column_assign_loop_hand(X):
    # Step i writes column i, then subtracts 0.5 X[i] from row i.  Y[r, c] keeps the
    # subtraction only when row r is done at or after column c (r >= c).
    r, c = np.indices(X.shape)
    factor = (c + 1) - 0.5 * (r >= c)
    return 2 * factor ** 2 * X


add(case(T.column_assign_loop, N(3, 3), hand=_column_assign_loop_hand))
add(case(T.normalize_loop, U(0.5, 1.5, 3)))
add(case(T.len_range_loop, N(4), hand=lambda x: 2 * x * np.arange(1, 5)))
add(case(T.builtins_minmax_abs, 0.9, 0.5, wrt=(0, 1),  # x*x=.81 > y; x > y; x - 2y = -0.1 < 0
         hand=lambda x, y: (2 * x + y * -1.0 + 0.5 / np.sqrt(x), 0.0 + (-(x - 2 * y)) + y * 2.0)))
add(case(T.chained_comparison, 0.6, hand=lambda x: (2 * x + x ** 2) * np.exp(x), id="chained_comparison_in"))
add(case(T.chained_comparison, 1.4, hand=lambda x: (1 + x) * np.exp(x), id="chained_comparison_out"))
add(case(T.write_active_into_fixed_array, N(3), N(3),
         hand=lambda x, m: np.array([2 * x[0] * x[1], x[0] ** 2 + m[1], m[2]])))
add(case(T.rebind_fixed_argument_in_loop, N(3), 0.7, hand=lambda x, s: 4 * x))
add(case(T.real_and_imag_parts, N(3), hand=lambda x: 2 * x + 1.0 * (np.arange(3) == 0) * x[1]
         + 1.0 * (np.arange(3) == 1) * x[0]))
# int(x) = 1, int(2 x) = 2, bool(x) = 1; int(3 x0) = 3, int(2 x2) = 2
add(case(T.casts_to_integers, U(1.1, 1.3, 3), hand=lambda x: np.array([4.0, 4.0 + 3.0, 4.0 + 2.0])))
add(case(T.astype_copies, N(3), hand=lambda x: np.array([5.0, 2 * x[1] + x[2], 2 * x[2] + x[1]])))
add(case(T.swap_elements_through_a_temporary, N(3), hand=lambda x: np.array([3.0, 2.0, 1.0])))
add(case(T.view_read_before_the_write, N(3), hand=lambda x: np.array([4 * x[0], 8 * x[1] + 5.0, 12 * x[2]])))
add(case(T.view_taken_again_after_each_write, U(0.5, 1.5, 3), hand=_view_again_hand))
add(case(T.in_place_into_a_rebound_alias, N(3), hand=lambda x: 2 * (2 * x + 1.0)))


def _stencil_hand(x):
    """f = sum(sin(A^3 x) * [1 .. n]) with A the stencil's matrix, built independently: A^T^3 (cos(A^3 x) * w)."""
    n = len(x)
    a = np.eye(n)
    for i in range(1, n - 1):
        a[i, i - 1:i + 2] = [0.25, 0.5, 0.25]
    power = np.linalg.matrix_power(a, 3)
    return power.T @ (np.cos(power @ x) * np.arange(1.0, n + 1.0))


add(case(T.double_buffered_stencil, N(5), hand=_stencil_hand))
add(case(T.double_buffered_elementwise_in_while, U(-0.8, 0.8, 5)))


# ============================================================== known tangent2 bugs
# (reason, test modes that fail, case ids).  Each entry is one suspected cause;
# the minimal reproducer is in the reason or in the first case listed.


# ============================================================== machinery


def _params(mode, predicate=lambda c: True):
    out = []
    for c in CASES:
        if not predicate(c):
            continue
        out.append(pytest.param(c, id=c.id))
    return out


def _tol(c):
    return (2e-3, 2e-3) if c.is_float32() else (1e-5, 1e-6)


def assert_tree_close(got, expected, rtol, atol, what=""):
    g_leaves, g_def = tree.flatten(got)
    e_leaves, e_def = tree.flatten(expected)
    assert g_def == e_def, f"{what}: structure {g_def} != expected {e_def}"
    for k, (g, e) in enumerate(zip(g_leaves, e_leaves)):
        assert np.shape(g) == np.shape(e), f"{what} leaf {k}: shape {np.shape(g)} != {np.shape(e)}"
        np.testing.assert_allclose(np.asarray(g, np.float64), np.asarray(e, np.float64), rtol=rtol, atol=atol,
                                   err_msg=f"{what} leaf {k}")


def assert_unchanged(before, after):
    b_leaves, b_def = tree.flatten(before)
    a_leaves, a_def = tree.flatten(after)
    assert b_def == a_def
    for b, a in zip(b_leaves, a_leaves):
        assert np.array_equal(np.asarray(b), np.asarray(a)), "the caller's argument was modified"


def assert_dtypes_match(grads, primals, what):
    """float32 primals give float32 derivatives (and arrays give arrays of the same shape)."""
    for g, p in zip(tree.leaves(grads), tree.leaves(primals)):
        if isinstance(p, (np.ndarray, np.generic)):
            assert np.result_type(g) == p.dtype, f"{what}: dtype {np.result_type(g)} for a {p.dtype} value"
        assert np.shape(g) == np.shape(p), f"{what}: shape {np.shape(g)} for a value of shape {np.shape(p)}"


def inner(a, b):
    prods = [np.vdot(np.asarray(x, np.float64), np.asarray(y, np.float64))
             for x, y in zip(tree.leaves(a), tree.leaves(b))]
    assert len(tree.leaves(a)) == len(tree.leaves(b))
    return float(sum(prods))


def random_like(x, rng):
    def leaf(v):
        if not np.issubdtype(np.result_type(v), np.inexact):
            return tree.zeros_like(v)
        r = rng.standard_normal(np.shape(v))
        if isinstance(v, np.ndarray):
            return r.astype(v.dtype)
        if isinstance(v, np.generic):
            return v.dtype.type(r)
        return float(r)
    return tree.tree_map(leaf, x)


def direction(c, rng):
    """Random tangents for the wrt arguments, zero for the others."""
    pos = c.positions()
    return tuple(random_like(a, rng) if i in pos else tree.zeros_like(a) for i, a in enumerate(c.args))


def value_of(c):
    return c.value_fn()(*c.fresh_args())


def is_scalar_output(c):
    out = value_of(c)
    return tree.is_leaf(out) and np.ndim(out) == 0


def as_tuple(c, g):
    return g if isinstance(c.wrt, tuple) else (g,)


# ============================================================== the tests
def test_table_is_big_enough():
    assert len({c.f for c in CASES}) >= 90
    assert sum(c.hand is not None for c in CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"


@pytest.mark.parametrize("c", _params("rev"))
def test_reverse(c):
    rtol, atol = _tol(c)
    args = c.fresh_args()
    if is_scalar_output(c):
        result = tangent2.grad(c.f, c.wrt, has_aux=c.has_aux)(*args)
        assert_unchanged(c.args, args)
        if c.has_aux:
            grads, aux = result
            assert_tree_close(aux, c.f(*c.fresh_args())[1], 1e-12, 1e-12, "aux")
        else:
            grads = result
        expected = numerical_grad(c.value_fn(), c.fresh_args(), c.numeric_wrt())
        assert_tree_close(grads, expected, rtol, atol, "grad vs finite differences")
        for g, i in zip(as_tuple(c, grads), c.positions()):
            assert_dtypes_match(g, c.args[i], "grad")
    else:
        rng = c.rng("ct")
        if c.has_aux:
            out, pullback, _ = tangent2.vjp(c.f, *args, has_aux=True)
        else:
            out, pullback = tangent2.vjp(c.f, *args)
        assert_unchanged(c.args, args)
        assert_tree_close(out, value_of(c), 1e-12, 1e-12, "vjp primal output")
        ct = random_like(out, rng)
        cts = pullback(ct)
        assert len(cts) == len(c.args)
        f = c.value_fn()
        for i in c.positions():
            expected = numerical_grad(lambda *a: inner(ct, f(*a)), c.fresh_args(), i)
            assert_tree_close(cts[i], expected, rtol, atol, f"pullback for argument {i}")
            assert_dtypes_match(cts[i], c.args[i], "pullback")


@pytest.mark.parametrize("c", _params("vg", is_scalar_output))
def test_value_and_grad(c):
    """value_and_grad returns f's value and the same gradient as grad."""
    rtol, atol = _tol(c)
    args = c.fresh_args()
    value, grads = tangent2.value_and_grad(c.f, c.wrt, has_aux=c.has_aux)(*args)
    assert_unchanged(c.args, args)
    assert_tree_close(value, c.f(*c.fresh_args()), 1e-12, 1e-12, "value_and_grad value")
    expected = numerical_grad(c.value_fn(), c.fresh_args(), c.numeric_wrt())
    assert_tree_close(grads, expected, rtol, atol, "value_and_grad gradient vs finite differences")


@pytest.mark.parametrize("c", _params("fwd"))
def test_forward(c):
    rtol, atol = _tol(c)
    tangents = direction(c, c.rng("v"))
    args = c.fresh_args()
    out, out_dot = tangent2.jvp(c.f, args, tangents)
    assert_unchanged(c.args, args)
    assert_tree_close(out, c.f(*c.fresh_args()), 1e-12, 1e-12, "jvp primal output")
    if c.has_aux:
        out, out_dot = out[0], out_dot[0]
    expected = numerical_jvp(c.value_fn(), c.fresh_args(), tangents)
    assert_tree_close(out_dot, expected, rtol, atol, "jvp vs finite differences")
    for d, o in zip(tree.leaves(out_dot), tree.leaves(out)):
        if isinstance(o, (np.ndarray, np.generic)):
            assert np.result_type(d) == o.dtype, f"tangent dtype {np.result_type(d)} for a {o.dtype} output"


@pytest.mark.parametrize("c", _params("agree"))
def test_forward_reverse_agree(c):
    rtol, atol = _tol(c)
    rng = c.rng("agree")
    v = direction(c, rng)
    out, out_dot = tangent2.jvp(c.f, c.fresh_args(), v)
    if c.has_aux:
        out, out_dot = out[0], out_dot[0]
        value, pullback, _ = tangent2.vjp(c.f, *c.fresh_args(), has_aux=True)
    else:
        value, pullback = tangent2.vjp(c.f, *c.fresh_args())
    ct = random_like(value, rng)
    cts = pullback(ct)
    lhs = inner(ct, out_dot)
    rhs = sum(inner(cts[i], v[i]) for i in c.positions())
    scale = abs(lhs) + abs(rhs) + 1.0
    assert abs(lhs - rhs) <= 10 * rtol * scale, f"<ct, J v> = {lhs!r} but <J^T ct, v> = {rhs!r}"
    if is_scalar_output(c):
        grads = tangent2.grad(c.f, c.wrt, has_aux=c.has_aux)(*c.fresh_args())
        grads = grads[0] if c.has_aux else grads
        via_grad = sum(inner(g, v[i]) for g, i in zip(as_tuple(c, grads), c.positions()))
        assert abs(via_grad - inner(np.float64(1.0), out_dot)) <= 10 * rtol * (abs(via_grad) + 1.0), \
            f"<grad, v> = {via_grad!r} but jvp gives {float(out_dot)!r}"


_has_hand = lambda c: c.hand is not None  # noqa: E731
_has_any_hand = lambda c: c.hand is not None or c.hand_jvp is not None  # noqa: E731


@pytest.mark.parametrize("c", [pytest.param(c, id=c.id) for c in CASES if c.hand is not None])
def test_hand_formula_matches_finite_differences(c):
    """Checks the test itself: the hand-derived gradient is right."""
    expected = numerical_grad(c.value_fn(), c.fresh_args(), c.numeric_wrt())
    rtol, atol = _tol(c)
    assert_tree_close(c.hand(*c.fresh_args()), expected, max(rtol, 1e-5), max(atol, 1e-6), "hand formula")


@pytest.mark.parametrize("c", [pytest.param(c, id=c.id) for c in CASES if c.hand_jvp is not None])
def test_hand_jvp_formula_matches_finite_differences(c):
    tangents = direction(c, c.rng("v"))
    expected = numerical_jvp(c.value_fn(), c.fresh_args(), tangents)
    assert_tree_close(c.hand_jvp(c.fresh_args(), tangents), expected, 1e-5, 1e-6, "hand jvp formula")


@pytest.mark.parametrize("c", _params("hand_rev", _has_hand))
def test_hand_reverse(c):
    rtol, atol = _tol(c)
    grads = tangent2.grad(c.f, c.wrt, has_aux=c.has_aux)(*c.fresh_args())
    grads = grads[0] if c.has_aux else grads
    assert_tree_close(grads, c.hand(*c.fresh_args()), rtol, atol, "grad vs hand-derived")


@pytest.mark.parametrize("c", _params("hand_fwd", _has_any_hand))
def test_hand_forward(c):
    rtol, atol = _tol(c)
    v = direction(c, c.rng("v"))
    _, out_dot = tangent2.jvp(c.f, c.fresh_args(), v)
    if c.has_aux:
        out_dot = out_dot[0]
    if c.hand is not None:
        expected = sum(inner(h, v[i]) for h, i in zip(as_tuple(c, c.hand(*c.fresh_args())), c.positions()))
        np.testing.assert_allclose(float(out_dot), expected, rtol=rtol, atol=atol)
    else:
        assert_tree_close(out_dot, c.hand_jvp(c.fresh_args(), v), rtol, atol, "jvp vs hand-derived")


# ------------------------------------------------------ specific properties
MUTATING = [T.assign_into_arg, T.assign_into_arg_loop, T.aug_assign_into_arg, T.aug_subscript_into_arg_loop]


def _mutation_params():
    out = []
    for how in ["grad", "value_and_grad", "jvp", "vjp"]:
        for f in MUTATING:
            out.append(pytest.param(f, how, id=f"{how}-{f.__name__}"))
    return out


@pytest.mark.parametrize("f, how", _mutation_params())
def test_assignment_into_argument_leaves_caller_array_alone(f, how):
    c = next(c for c in CASES if c.f is f)
    x = c.fresh_args()[0]
    before = x.copy()
    if how == "grad":
        tangent2.grad(f)(x)
    elif how == "value_and_grad":
        tangent2.value_and_grad(f)(x)
    elif how == "jvp":
        tangent2.jvp(f, (x,), (np.ones_like(x),))
    else:
        _, pullback = tangent2.vjp(f, x)
        pullback(1.0)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("f", [T.write_active_into_fixed_array, T.rebind_fixed_argument_in_loop])
def test_forward_mode_with_an_argument_held_fixed_that_becomes_active(f):
    # jacfwd(f, wrt=0) read the tangent of the second argument before any assignment gave it one
    c = next(c for c in CASES if c.f is f)
    np.testing.assert_allclose(tangent2.jacfwd(f, wrt=0)(*c.fresh_args()), c.hand(*c.fresh_args()), rtol=1e-10)


def _stack_params():
    # (function, args, expects a _stack in the reverse-mode source)
    return [
        pytest.param(T.loop_overwrite, (0.5, 3), True, id="loop_overwrite"),
        pytest.param(T.loop_power, (0.7,), True, id="loop_power"),
        pytest.param(T.nested_loops_overwrite, (0.4,), True, id="nested_loops_overwrite"),
        pytest.param(T.while_counter_break, (0.4,), True, id="while_counter_break"),
        pytest.param(T.overwrite_scalar, (0.3,), False, id="overwrite_scalar"),
        pytest.param(T.matvec_tanh, (np.ones((2, 3)), np.ones(3)), False, id="matvec_tanh"),
        pytest.param(T.swap, (0.3, 0.4), False, id="swap"),
    ]


@pytest.mark.parametrize("f, args, expect_stack", _stack_params())
def test_reverse_source_uses_stacks_only_for_loops(f, args, expect_stack):
    d = tangent2.grad(f)
    d(*args)
    assert ("_stack" in d.source) == expect_stack, d.source


def test_numerical_grad_of_a_function_mutating_its_argument():
    x = np.array([0.5, 0.3, 0.2, 0.1])
    np.testing.assert_allclose(numerical_grad(T.assign_into_arg, (x,)), _assign_into_arg_hand(x), rtol=1e-6)
