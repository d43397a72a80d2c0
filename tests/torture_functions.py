"""Small functions for the torture suite (tests/test_torture.py).

Each is a plain module-level def in plain NumPy/Python, exercising one
construct a source-to-source differentiator has to get right.  The table of
inputs, directions and hand-derived derivatives lives in test_torture.py.
"""
import collections
import math

import numpy as np

Params = collections.namedtuple("Params", ["w", "b"])


# ---------------------------------------------------------------- helpers
# (module-level user functions called from the functions under test)

def helper_scale(x, scale=1.0, power=2):
    return scale * x ** power


def helper_sincos(x):
    return np.sin(x), np.cos(x)


def helper_square(z):
    return z * z


def helper_poly_loop(x, n=3):
    y = x
    for i in range(n):
        y = y * x + 1.0
    return y


def helper_affine(x, w, b=0.0):
    return w * x + b


# ------------------------------------------------- overwriting, aliasing, swaps

def overwrite_scalar(x):
    x = x * 2
    x = np.sin(x)
    return x * x


def overwrite_array(x):
    x = x * 2.0
    x = np.sin(x)
    return np.sum(x ** 2)


def alias_mul(a):
    b = a
    return a * b


def alias_array(a):
    b = a
    return np.sum(a * b + b)


def swap(a, b):
    a, b = b, a
    return a ** 2 * np.sin(b)


def swap_in_loop(a, b):
    for i in range(3):
        a, b = b, a * b
    return a + b


def reassign_chain(x):
    y = x
    y = y + 1.0
    y = y * y
    x = y - x
    return x * y


def overwrite_with_self_reference(x):
    y = x * x
    y = y * y + y
    y = np.exp(-y) * y
    return y


# ----------------------------------------------------------------------- loops

def loop_overwrite(x, n):
    y = x
    for i in range(n):
        y = y * x + np.sin(y)
    return y


def loop_power(x):
    y = 1.0
    for i in range(5):
        y = y * x
    return y


def loop_over_rows(X):
    total = 0.0
    for row in X:
        total = total + np.dot(row, row)
    return total


def loop_over_rows_weights(X, w):
    acc = 0.0
    for row in X:
        acc = acc + np.tanh(row @ w)
    return acc


def nested_loops(x):
    s = 0.0
    for i in range(3):
        for j in range(2):
            s = s + x[i] * x[j] * (i + j + 1)
    return s


def nested_loops_overwrite(x):
    y = x
    for i in range(2):
        for j in range(3):
            y = np.sin(y) + 0.5 * x
        y = y * 1.1
    return y


def loop_index_branch(x):
    y = x
    for i in range(4):
        if i % 2 == 0:
            y = np.sin(y) + x
        else:
            y = y * x
    return y


def loop_data_branch(x):
    y = x
    for i in range(5):
        if y > 1.0:
            y = y * 0.5
        else:
            y = y * 3.0 + x
    return y


def loop_data_branch_array(x):
    y = x
    for i in range(3):
        if np.sum(y) > 0:
            y = y * 1.5 - 0.2 * np.sum(y)
        else:
            y = np.sin(y) * 2.0
    return np.sum(y ** 2)


def while_data_dependent(x):
    y = x
    while y < 10.0:
        y = y * 2.0 + x
    return y


def while_counter_break(x):
    y = x
    i = 0
    while True:
        y = np.sin(y) + x
        i += 1
        if i >= 4:
            break
    return y


def while_data_break(x):
    y = x
    while y < 100.0:
        y = y * y + 1.0
        if y > 5.0:
            break
    return y * x


def while_array_norm(x):
    y = x
    steps = 0
    while np.sum(y * y) < 50.0:
        y = y * 1.7 + 0.1
        steps += 1
    return np.sum(y)


def for_continue(x):
    s = 0.0
    for i in range(5):
        if i == 2:
            continue
        s = s + x ** i
    return s


def for_break(x):
    s = 0.0
    for i in range(10):
        s = s + np.sin(x * i)
        if i >= 3:
            break
    return s


def early_return_if(x):
    if x > 0:
        return x ** 2
    return -x ** 3


def early_return_in_loop(x):
    y = x
    for i in range(10):
        y = y * 1.5
        if y > 5.0:
            return y * x
    return y


def early_return_in_while(x):
    y = x
    k = 0
    while k < 20:
        y = y + np.sin(y) * 0.5
        k += 1
        if y > 2.5:
            return y * k
    return y


def loop_accumulate_two_vars(x):
    a = x
    b = 1.0
    for i in range(4):
        a = a + b * 0.5
        b = b * np.cos(a)
    return a * b


def loop_over_array_elements(x):
    s = 0.0
    for v in x:
        s = s * 0.5 + v * v
    return s


# ------------------------------------------------------------------ subscripts

def subscript_reads(x):
    return x[0] * x[1] + x[-1] ** 2


def slices_neighbors(x):
    return np.sum(x[1:] * x[:-1])


def step_slices(x):
    return np.sum(x[::2] ** 2) - np.sum(x[1::2])


def matrix_indexing(X):
    return X[0, 1] * X[1, 0] + np.sum(X[:, 0] ** 2) + np.sum(X[1, :])


def index_ij_loop(X):
    s = 0.0
    for i in range(3):
        for j in range(3):
            s = s + X[i, j] * X[j, i]
    return s


def subscript_assign(x):
    out = np.zeros(3)
    out[0] = x[0] * x[1]
    out[1] = np.sin(x[2])
    out[2] = x[0]
    return np.sum(out ** 2)


def subscript_assign_loop(x):
    out = np.zeros(4)
    for i in range(4):
        out[i] = x[i] ** 2 * (i + 1)
    return np.sum(np.sin(out))


def column_assign(X):
    Y = np.zeros((3, 2))
    Y[:, 0] = X[:, 1] * 2.0
    Y[:, 1] = np.exp(X[:, 0])
    return np.sum(Y * Y)


def aug_subscript_loop(x):
    y = np.zeros(3)
    for i in range(3):
        y[i] += x[i] * x[(i + 1) % 3]
    return np.sum(y ** 2)


def assign_into_arg(x):
    x[0] = x[0] * 3.0
    x[1] = np.sin(x[1])
    return np.sum(x ** 2)


def assign_into_arg_loop(x):
    for i in range(x.shape[0]):
        x[i] = x[i] * x[i]
    return np.sum(x)


def aug_assign_into_arg(X):
    X[:, 0] += 1.0
    X *= 2.0
    return np.sum(X ** 2)


def overwrite_slice_of_copy(x):
    y = x.copy()
    y[1:3] = y[1:3] * y[0]
    return np.sum(y)


def subscript_assign_twice(x):
    y = np.zeros(2)
    y[0] = x[0]
    y[0] = y[0] * x[1]
    return y[0] + y[1]


def subscript_overwrite_in_loop(x):
    y = x * 1.0
    for i in range(3):
        y[0] = y[0] * y[1] + np.sin(y[2])
    return y[0]


def row_assign_matrix(X):
    Y = np.zeros((2, 3))
    for i in range(2):
        Y[i] = X[i] * X[1 - i]
    return np.sum(Y ** 2)


# --------------------------------------------------------- augmented assignment

def augassign_scalar(x):
    y = x
    y += 1.0
    y *= x
    y -= 0.5 * x
    y /= 1.0 + x * x
    return y


def augassign_array(x):
    y = x * 1.0
    y += x
    y *= y
    y /= 2.0
    y -= x
    return np.sum(y)


def augassign_loop(x):
    s = 0.0
    for i in range(4):
        s += x ** (i + 1) / (i + 1)
    return s


def augassign_loop_mul(x):
    p = 1.0
    for i in range(1, 4):
        p *= x + i
    return p


# ------------------------------------------------ tuples, conditional expressions

def tuple_pack_unpack(x, y):
    t = (x * y, x + y)
    a, b = t
    return a * b


def tuple_from_helper(x):
    a, b = helper_sincos(x)
    return a * b


def nested_unpack(x):
    (a, b), c = (x, x * 2.0), x * 3.0
    return a * b * c


def cond_expr(x):
    y = x ** 2 if x > 0 else -x
    return y * x


def cond_expr_array(x):
    s = np.sum(x)
    return np.sum(x ** 2) if s > 0 else np.sum(np.sin(x))


def cond_expr_in_loop(x):
    y = x
    for i in range(4):
        y = y * 0.5 if y > 1.0 else y * y + x
    return y


def elif_chain(x):
    if x < -1.0:
        y = x ** 2
    elif x < 1.0:
        y = np.sin(x) * 3.0
    else:
        y = np.exp(x)
    return y * x


# ------------------------------------------------------------ user function calls

def call_kwargs(x):
    return helper_scale(x, power=3, scale=2.0)


def call_defaults(x):
    return helper_scale(x) + helper_scale(x, 3.0)


def call_nested_user(x):
    return helper_square(helper_scale(np.sin(x), 2.0))


def call_user_with_loop(x):
    return helper_poly_loop(x, n=2) + helper_poly_loop(x)


def call_active_kwarg(x, s):
    return helper_scale(x, scale=s, power=2) + helper_affine(x, s, b=s * s)


def call_in_loop(x):
    y = x
    for i in range(3):
        y = helper_affine(np.tanh(y), 1.5, b=x)
    return y


# ------------------------------------------------ nested defs, lambdas, closures

def nested_def(x):
    def inner(z):
        return z * z + x
    return inner(np.sin(x))


def lambda_call(x):
    sq = lambda z: z ** 2  # noqa: E731
    return sq(x) + sq(2.0 * x)


def closure_local(x):
    a = x * 2.0

    def g(z):
        return a * z
    return g(x) + g(1.0)


def lambda_closure(x):
    c = np.cos(x)
    h = lambda t: c * t ** 2  # noqa: E731
    return h(x)


def nested_def_in_loop(x):
    def step(y):
        return y + 0.1 * np.sin(y)
    y = x
    for i in range(5):
        y = step(y)
    return y


def nested_def_default_arg(x):
    def poly(z, a=2.0, b=1.0):
        return a * z ** 2 + b * z
    return poly(x) + poly(x, b=3.0)


# ------------------------------------------------------------------ comprehensions

def sum_genexp_params(params):
    return sum(np.sum(p ** 2) for p in params)


def sum_listcomp_range(x):
    return sum([x[i] * i for i in range(4)])


def stack_listcomp(x):
    m = np.stack([x * i for i in range(3)])
    return np.sum(m ** 2)


def stack_tuple(a, b):
    m = np.stack((a, b * 2.0))
    return np.sum(np.sin(m))


def sum_genexp_over_list(params):
    return sum(np.sum(np.tanh(p)) for p in params) * 2.0


def sum_genexp_zip(ws, xs):
    return sum(np.sum(w * x) for w, x in zip(ws, xs))


# -------------------------------------------------------- array methods and attributes

def method_sum_axis(X):
    return np.sum(X.sum(axis=0) ** 2)


def transpose_matmul(X):
    return np.sum(X.T @ X)


def shape_attribute(x):
    n = x.shape[0]
    return np.sum(x ** 2) / n


def reshape_method(x):
    return np.sum(x.reshape(2, 3)[0] ** 2)


def mean_method(X):
    return X.mean() ** 2


def max_method(x):
    return x.max() * 2.0


def dot_method(x, y):
    return x.dot(y)


def center_keepdims(X):
    C = X - X.mean(axis=1, keepdims=True)
    return np.sum(C ** 2)


def var_function(x):
    return np.var(x)


def size_ndim_attributes(X):
    return np.sum(X) * X.ndim / X.size


def copy_method(x):
    y = x.copy()
    y = y * y
    return np.sum(y) + np.sum(x)


# ------------------------------------------------------------------- broadcasting

def scalar_plus_vector(s, v):
    return np.sum((s + v) ** 2)


def outer_broadcast(a, b):
    return np.sum(np.sin(a * b))


def vector_plus_matrix(v, M):
    return np.sum((M + v) ** 3)


def broadcast_divide(X, c):
    return np.sum(X / c[:, None])


# ------------------------------------------------------------------- reductions

def logsumexp_rows(X):
    return np.sum(np.log(np.sum(np.exp(X), axis=1)))


def prod_reduction(x):
    return np.prod(x)


def max_axis(X):
    return np.sum(np.max(X, axis=0))


def mean_axis0_keepdims(X):
    m = np.mean(X, axis=0, keepdims=True)
    return np.sum(m * X)


def softmax_weighted(X, w):
    e = np.exp(X - X.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    return np.sum(p * w)


# -------------------------------------------------------------------- matmul

def matmul_chain(A, B, C):
    return np.sum(A @ B @ C)


def matvec_tanh(W, x):
    return np.sum(np.tanh(W @ x))


def quadratic_form(x, A):
    return x @ A @ x


def np_dot_chain(A, x):
    return np.dot(np.dot(A, x), np.dot(A, x))


# --------------------------------------------------- where / maximum / clip / norm

def where_select(x):
    return np.sum(np.where(x > 0, x ** 2, np.sin(x)))


def relu_squared(x):
    return np.sum(np.maximum(x, 0.0) ** 2)


def maximum_two(x, y):
    return np.sum(np.maximum(x, y) * y)


def clip_cube(x):
    return np.sum(np.clip(x, -1.0, 1.0) ** 3)


def norm_vector(x):
    return np.linalg.norm(x)


def norm_matrix(X):
    return np.linalg.norm(X) ** 2 + np.linalg.norm(X[0])


def norm_axis(X):
    return np.sum(np.linalg.norm(X, axis=1))


# ------------------------------------------------------------------- math on scalars

def math_mix(x):
    return math.sin(x) * math.exp(x) + math.sqrt(x) + math.log(x)


def math_mix2(x, y):
    return math.tanh(x * y) + math.pow(x, 3) + math.atan2(y, x)


def math_in_loop(x):
    s = 0.0
    for i in range(3):
        s = s + math.cos(x * (i + 1))
    return s


# ----------------------------------------------------------------------- float32

def f32_poly(x):
    return np.sum(x ** 3 * np.sin(x))


def f32_matvec(W, x):
    return np.sum(np.tanh(W @ x) ** 2)


def f32_loop(x):
    y = x
    for i in range(3):
        y = y * np.float32(0.5) + np.sin(y)
    return np.sum(y)


def f32_scalar(x):
    return x * x * np.exp(x)


# --------------------------------------------------------------------- trees

def mlp_dict_loss(params, x, y):
    h = np.tanh(x @ params["W1"] + params["b1"])
    out = h @ params["W2"] + params["b2"]
    return np.mean((out - y) ** 2)


def mlp_layers_loss(layers, x):
    h = x
    for W, b in layers:
        h = np.tanh(h @ W + b)
    return np.sum(h ** 2)


def tuple_params_loss(params, x):
    w, b = params
    return np.sum((x @ w + b) ** 2)


def namedtuple_loss(p, x):
    return np.sum(np.tanh(x @ p.w + p.b) ** 2)


def list_params_loss(params):
    return params[0] * np.sum(params[1] ** 2) + np.sum(np.sin(params[2]))


def nested_tree_loss(tree):
    w, b = tree["layer"]
    return np.sum(w ** 2) * tree["scale"] + np.sum(b)


# ------------------------------------------------------------- integer arguments

def int_loop_count(x, n):
    s = x
    for i in range(n):
        s = s * np.cos(s) + x
    return s


def int_power(x, k):
    return x ** k


def int_arg_first(n, x):
    y = x
    for i in range(n):
        y = np.sin(y) * (i + 1)
    return y


def horner(coeffs, x, n):
    y = 0.0
    for i in range(n):
        y = y * x + coeffs[i]
    return y


# ------------------------------------------------------------------------ has_aux

def aux_scalar(x):
    loss = np.sum(x ** 2)
    return loss, np.mean(x)


def aux_array(x, y):
    r = x - y
    return np.sum(r ** 2), r


# ------------------------------------------------------------ multi-output (jvp/vjp)

def multi_tuple(x, y):
    return x * y, np.sin(x) + y


def multi_elementwise(x):
    return x ** 2 * np.exp(-x)


def multi_matvec(W, x):
    return np.tanh(W @ x)


def multi_tuple_arrays(x):
    return x[:2] * 2.0, np.sum(x ** 2)


def multi_loop_output(x):
    out = np.zeros(3)
    for i in range(3):
        out[i] = np.sum(x[:i + 1] ** 2)
    return out


def multi_outer(a, b):
    return a[:, None] * b[None, :]


def multi_loop_tuple(x):
    a = x
    b = x * 0.5
    for i in range(3):
        a, b = a * np.cos(b), b + np.sin(a)
    return a, b


# ------------------------------------------------------------- more torture
SCALE = np.array([1.0, 2.0, 3.0])


def global_constant(x):
    return np.sum(SCALE * x ** 2)


def swap_elements(x):
    y = x.copy()
    y[0], y[1] = y[1], y[0]
    return np.sum(y * np.arange(1.0, 4.0))


def alias_then_mutate(x):
    y = x.copy()
    z = y
    z[0] = z[0] * 5.0
    return np.sum(y ** 2)


def while_with_continue(x):
    y = x
    k = 0
    while k < 5:
        k += 1
        if k == 3:
            continue
        y = y * np.cos(y) + x
    return y


def return_in_elif(x):
    if x > 2.0:
        return x
    elif x > 0.0:
        return x ** 3
    else:
        return -x
    return 0.0


def nested_branches_in_loop(x):
    y = x
    for i in range(4):
        if y > 0.5:
            if i % 2 == 0:
                y = y * 0.7
            else:
                y = y + x
        else:
            y = y * y + 0.6
    return y


def subscript_ij_assign_nested(X):
    Y = np.zeros((2, 2))
    for i in range(2):
        for j in range(2):
            Y[i, j] = X[i, j] * X[j, i] + X[i, i]
    return np.sum(Y ** 2)


def aug_subscript_into_arg_loop(x):
    for i in range(1, x.shape[0]):
        x[i] += x[i - 1] * 0.5
    return np.sum(x ** 2)


def lambda_in_loop(x):
    y = x
    for i in range(3):
        f = lambda t: t * np.cos(t) + i  # noqa: E731
        y = f(y)
    return y


def closure_over_loop_variable(x):
    total = 0.0
    for k in range(3):
        def term(z):
            return z ** (k + 1)
        total = total + term(x)
    return total


def tuple_return_in_loop(x):
    a = x
    b = 1.0
    for i in range(3):
        a, b = helper_sincos(a * b)
    return a + b


def reshape_minus_one_matmul(x):
    M = x.reshape(2, -1)
    return np.sum(M @ M.T)


def where_scalar_branches(x):
    return np.sum(np.where(x > 0.0, x, 0.1 * x) ** 2)


def loop_over_matrix_rows_overwrite(X):
    h = np.zeros(3)
    for row in X:
        h = np.tanh(h + row)
    return np.sum(h)


def column_assign_loop(X):
    Y = np.zeros((3, 3))
    for i in range(3):
        Y[:, i] = X[:, i] * (i + 1)
        Y[i] -= 0.5 * X[i]
    return np.sum(Y ** 2)


def normalize_loop(x):
    y = x * 1.0
    for i in range(3):
        y = y * y
        y /= np.sum(y)
    return y[0] + 2.0 * y[1]


def len_range_loop(x):
    s = 0.0
    for i in range(len(x)):
        s = s + x[i] ** 2 * (i + 1)
    return s


def builtins_minmax_abs(x, y):
    return max(x * x, y) + min(x, y) * abs(x - 2.0 * y) + float(x) ** 0.5


def chained_comparison(x):
    if 0.0 < x < 1.0:
        y = x ** 2
    else:
        y = x
    return y * np.exp(x)


def write_active_into_fixed_array(x, m):
    m[0] = x[0] * x[1]  # m is not differentiated, and carries x's derivative from here on
    return np.sum(m * x)


def rebind_fixed_argument_in_loop(x, s):
    t = 0.0
    for i in range(2):
        t = t + s * 2.0
        s = x * x
    return np.sum(t)
# ------------------------------------------------------------- dtype casts, real and imaginary parts

def real_and_imag_parts(x):
    return np.sum(x.real * np.real(x) + x.imag * x + np.imag(x)) + x[0].real * x[1]


def casts_to_integers(x):
    # truncation to an integer (or bool) is piecewise constant: only the factors x carry a derivative
    n = x.astype(int) + np.asarray(x * 2.0, dtype=np.int32) + x.astype(bool)
    return np.sum(n * x) + int(x[0] * 3.0) * x[1] + np.int64(x[2] * 2.0) * x[2]


def astype_copies(x):
    y = x.astype(np.float64)  # a copy (np.asarray would be x itself)
    y[0] = 5.0
    return np.sum(x * y) + float(x[1]) * x[2]


# ------------------------------------------------------------- aliasing tangent2 follows exactly

def swap_elements_through_a_temporary(x):
    y = x * 1.0
    t = y[0]  # an element of a vector is a copy: checked when the derivative runs
    y[0] = y[2]
    y[2] = t
    return np.sum(y * np.arange(1.0, 4.0))


def view_read_before_the_write(x):
    y = x * 2.0
    z = y[1:]
    w = np.sum(z * z)
    y[1] = 5.0
    return w + np.sum(y * x)


def view_taken_again_after_each_write(x):
    y = x * 1.0
    for i in range(2):
        z = y[1:]
        y[1] = z[0] * z[1]
    return np.sum(y * x)


def in_place_into_a_rebound_alias(x):
    y = x * 1.0
    z = y
    y = y + 1.0  # y is a new array: the write below goes into the first one, which only z holds
    z += x
    return np.sum(y * z)


def double_buffered_stencil(x):
    a = x * 1.0
    b = np.zeros_like(x)
    for k in range(3):
        b[0] = a[0]
        b[-1] = a[-1]
        b[1:-1] = 0.25 * a[:-2] + 0.5 * a[1:-1] + 0.25 * a[2:]
        a, b = b, a  # double buffering: the two names never hold the same array
    return np.sum(np.sin(a) * np.arange(1.0, len(x) + 1.0))


def double_buffered_elementwise_in_while(x):
    cur = x * 1.0
    nxt = x * 0.0
    t = 0
    while t < 2:
        for i in range(1, len(x) - 1):
            nxt[i] = cur[i - 1] * cur[i + 1] + cur[i]
        nxt[0] = cur[0]
        nxt[-1] = np.tanh(cur[-1])
        cur, nxt = nxt, cur
        t = t + 1
    return np.sum(cur * cur)
