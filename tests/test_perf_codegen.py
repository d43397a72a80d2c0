"""The structure of generated code where it decides speed, and the values it computes.

* A directly called ``vmap`` writes each per-example result straight into its row of the output
  (``dot_vjp_a_into(_stacked_0, _batch, ...)``) instead of making a small array per example and copying it
  (transforms/vmap.py, write_rows_in_place): no allocating call in the batch loop.
* Plans are specialized to argument ndims, so an element of a parameter (``x = x0[0]`` of a 1-d ``x0``) is a
  scalar: its ``unbroadcast`` calls go, and with them the loop stacks that kept values only for their shapes
  (the Euler-integration benchmark: 14 stacks before, 5 then); and a scalar the loop body computes from the
  popped loop state and loop-invariant values is computed again in the reversed body instead of saved (3).

Values are checked against finite differences and against hand-derived gradients, in Python and compiled.
Nothing here asserts a time.
"""
import functools
import re

import numpy as np
import pytest

import tangent2 as tg
from benchmarks.workloads.euler import DT, euler_loss
from tangent2.testing import numerical_grad


# --------------------------------------------------------------- vmap rows
def td_loss(theta, s_tm1, r_t, s_t):
    v_tm1 = np.dot(theta, s_tm1)
    target = r_t + np.dot(theta, s_t)
    return (tg.stop_gradient(target) - v_tm1) ** 2


def scaled_difference(x, y):
    return 2.0 * x - y


def td_data(n):
    rng = np.random.default_rng(11)
    return rng.standard_normal(3), rng.standard_normal((n, 3)), rng.standard_normal(n), rng.standard_normal((n, 3))


def td_closed_form(theta, s_tm1, r_t, s_t):
    # d/dtheta (c - s_tm1.theta)^2 with c = r_t + s_t.theta held constant (stop_gradient)
    return -2.0 * (r_t + s_t @ theta - s_tm1 @ theta)[:, None] * s_tm1


def batch_loop(source):
    """The statements of the ``for _batch`` loop of a generated vmap (its comments left out)."""
    match = re.search(r"^( *)for _batch in range\(1, _n\):\n((?:\1 .*\n)*)", source, re.MULTILINE)
    assert match, source
    return "".join(line + "\n" for line in match.group(2).splitlines() if not line.strip().startswith("#"))


@functools.lru_cache(maxsize=None)
def per_example_td():
    return tg.vmap(tg.grad(td_loss), in_axes=(None, 0, 0, 0))


@functools.lru_cache(maxsize=None)
def per_example_td_jit():
    return tg.jit(per_example_td())


def test_per_example_gradient_is_written_into_its_row():
    args = td_data(6)
    per_example = per_example_td()
    got = per_example(*args)
    loop = batch_loop(per_example.source)
    assert "dot_vjp_a_into(_stacked_0, _batch," in loop
    assert "dot_vjp_a(" not in loop and "_stacked_0[_batch]" not in loop   # no per-example array, no copy
    assert "check_rows_fit(_misfits)" in per_example.source
    np.testing.assert_allclose(got, td_closed_form(*args), rtol=1e-12, atol=1e-12)
    theta, s_tm1, r_t, s_t = args
    for i in range(6):
        target = r_t[i] + s_t[i] @ theta
        numeric = numerical_grad(lambda th: (target - th @ s_tm1[i]) ** 2, (theta,))
        np.testing.assert_allclose(got[i], numeric, rtol=1e-6, atol=1e-8)


def test_compiled_per_example_gradient_matches_the_closed_form():
    for n in (1, 2, 9):
        args = td_data(n)
        np.testing.assert_allclose(per_example_td_jit()(*args), td_closed_form(*args), rtol=1e-12, atol=1e-12)
    # a batch of strided rows (a transposed array) takes the same compiled loop
    theta, s_tm1, r_t, s_t = td_data(5)
    columns = np.asfortranarray(s_tm1)
    np.testing.assert_allclose(per_example_td_jit()(theta, columns, r_t, s_t),
                               td_closed_form(theta, s_tm1, r_t, s_t), rtol=1e-12, atol=1e-12)


def test_row_writes_under_the_parallel_target():
    # prange runs the batch loop; _misfits = _misfits + ... is then a reduction
    args = td_data(33)
    parallel = tg.jit(per_example_td(), target="parallel")
    np.testing.assert_allclose(parallel(*args), td_closed_form(*args), rtol=1e-12, atol=1e-12)


def test_elementwise_results_are_written_into_rows():
    x = np.arange(12.0).reshape(4, 3) / 5
    y = np.linspace(-1.0, 1.0, 3)
    batched = tg.vmap(scaled_difference, in_axes=(0, None))
    np.testing.assert_allclose(batched(x, y), 2.0 * x - y[None, :])
    assert "subtract_into(_stacked_0, _batch," in batch_loop(batched.source)
    np.testing.assert_allclose(tg.jit(batched)(x, y), 2.0 * x - y[None, :])
    # y of extent 1 broadcasts over the row, as NumPy's row assignment does
    np.testing.assert_allclose(tg.jit(batched)(x, np.array([0.5])), 2.0 * x - 0.5)


def cubic(x):
    return x**3 + 2*x**2 - 3*x + 1


def test_the_per_example_derivative_is_specialized_to_one_example():
    # x[_batch] of a 1-d x is a scalar: the inlined derivative has no unbroadcast (and no primal kept for it)
    x = np.linspace(-2.0, 2.0, 7)
    first = tg.vmap(tg.grad(cubic))
    second = tg.vmap(tg.grad(tg.grad(cubic)))
    np.testing.assert_allclose(first(x), 3 * x**2 + 4 * x - 3, rtol=1e-12)
    np.testing.assert_allclose(second(x), 6 * x + 4, rtol=1e-12)
    assert "unbroadcast" not in first.source and "unbroadcast" not in second.source
    assert "** 3" not in batch_loop(first.source)   # the primal's x**3 fed only shapes
    numeric = numerical_grad(lambda v: np.sum(cubic(v)), (x,))
    np.testing.assert_allclose(first(x), numeric, rtol=1e-6)
    np.testing.assert_allclose(tg.jit(second)(x), 6 * x + 4, rtol=1e-12)
    # an unbatched argument (theta) is passed whole to the specialized per-example derivative
    mapped = tg.vmap(tg.grad(td_loss), in_axes=(None, 0, 0, 0))
    args = td_data(3)
    np.testing.assert_allclose(mapped(*args), td_closed_form(*args), rtol=1e-12, atol=1e-12)

def ragged(x, k):
    return x[:k] * 2.0


def test_a_result_that_does_not_fit_its_row_raises():
    batched = tg.vmap(ragged, in_axes=(None, 0))
    x = np.arange(5.0)
    np.testing.assert_allclose(batched(x, np.array([3, 3])), [[0.0, 2.0, 4.0]] * 2)
    assert "multiply_into(_stacked_0, _batch," in batch_loop(batched.source)
    with pytest.raises(ValueError):
        batched(x, np.array([2, 3]))
    with pytest.raises(ValueError, match="cannot be broadcast to the shape of the first example"):
        tg.jit(batched)(x, np.array([2, 3]))


def outer_loss(x):
    return np.sum(tg.vmap(lambda z: np.sin(z) * z)(x))


def test_a_vmap_inside_differentiated_code_keeps_the_plain_loop():
    # the row-writing helpers have no derivative rules: a vmap that is differentiated is not rewritten
    x = np.array([0.3, -1.2, 2.0])
    expected = np.cos(x) * x + np.sin(x)
    np.testing.assert_allclose(tg.grad(outer_loss)(x), expected, rtol=1e-12)
    np.testing.assert_allclose(tg.grad(outer_loss)(x), numerical_grad(outer_loss, (x,)), rtol=1e-6)
    jacobian = tg.jacfwd(tg.vmap(lambda z: np.sin(z) * z))(x)
    np.testing.assert_allclose(jacobian, np.diag(expected), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------- elements of arrays (the Euler benchmark's loss)


def euler_hand_gradient(p, x0, steps):
    """The adjoint recursion of euler_loss, derived by hand, in Python floats."""
    sigma, rho, beta = p
    x, y, z = x0
    trajectory = []
    for _ in range(steps):
        trajectory.append((x, y, z))
        x, y, z = x + DT * (sigma * (y - x)), y + DT * (x * (rho - z) - y), z + DT * (x * y - beta * z)
    a1, a2, a3 = 2.0 * x, 2.0 * y, 2.0 * z
    g = np.zeros(3)
    for x, y, z in reversed(trajectory):
        g += DT * np.array([(y - x) * a1, x * a2, -z * a3])
        a1, a2, a3 = (a1 + DT * (-sigma * a1 + (rho - z) * a2 + y * a3),
                      a2 + DT * (sigma * a1 - a2 + x * a3),
                      a3 + DT * (-x * a2 - beta * a3))
    return g


P = np.array([10.0, 28.0, 8.0 / 3.0])
X0 = np.array([1.0, 1.0, 1.0])


@functools.lru_cache(maxsize=None)
def euler_gradient():
    return tg.grad(euler_loss)


def test_elements_of_a_vector_parameter_are_scalars_so_only_needed_values_are_saved():
    gradient = euler_gradient()
    got = gradient(P, X0, 50)
    source = gradient.source
    assert "unbroadcast" not in source
    # Only the states are saved: the adjoint also reads y - x and rho - z, and computes them again from the
    # popped states (and the loop-invariant rho) rather than saving them.
    assert sorted(re.findall(r"(\w+)\.append\(", source)) == ["_x_stack", "_y_stack", "_z_stack"]
    reversed_loop = source[source.index("for i in range(steps - 1, -1, -1):"):]
    assert "_t = y - x" in reversed_loop and "_t_1 = rho - z" in reversed_loop
    np.testing.assert_allclose(got, euler_hand_gradient(P, X0, 50), rtol=1e-10)
    np.testing.assert_allclose(got, numerical_grad(euler_loss, (P, X0, 50)), rtol=1e-6)


def test_compiled_euler_gradient():
    compiled = tg.jit(euler_gradient())
    np.testing.assert_allclose(compiled(P, X0, 200), euler_hand_gradient(P, X0, 200), rtol=1e-10)
    np.testing.assert_allclose(compiled(P * 0.5, X0 * 2.0, 0), np.zeros(3))


def row_product(x0, x1):
    x = x0[0]
    w = x1[0]
    return np.sum(x * w)


def test_a_plan_specialized_to_ndims_is_not_reused_for_other_ndims():
    # For 1-d x0 and x1, x * w is a product of scalars (no unbroadcast); for an (n, 1) x0 and an (n, 3) x1 it
    # broadcasts (1,) against (3,), and the gradient of x0[0] must be summed back to (1,).
    gradient = tg.grad(row_product)
    compiled = tg.jit(gradient)
    vectors = (np.array([3.0, 7.0]), np.array([0.5, -2.0, 4.0]))
    columns = (np.array([[3.0], [7.0]]), np.array([[0.5, -2.0, 4.0], [1.0, 1.0, 1.0]]))
    sources = {}
    for x0, x1 in (vectors, columns, vectors, columns):
        expected = np.zeros_like(x0)
        expected[0] = np.sum(x1[0])        # d/dx0[0] of sum(x0[0] * x1[0])
        np.testing.assert_allclose(gradient(x0, x1), expected)
        sources[x0.ndim] = gradient.source
        np.testing.assert_allclose(gradient(x0, x1), numerical_grad(row_product, (x0, x1)), rtol=1e-6)
        np.testing.assert_allclose(compiled(x0, x1), expected)
    assert "unbroadcast" not in sources[1] and "unbroadcast" in sources[2]


def linear_loss(w, x, y):
    return (w @ x - y) ** 2


def test_matmul_gradients_are_written_into_rows():
    rng = np.random.default_rng(5)
    w, x, y = rng.standard_normal(4), rng.standard_normal((6, 4)), rng.standard_normal(6)
    expected = 2.0 * (x @ w - y)[:, None] * x       # d/dw (w.x - y)^2
    per_example = tg.vmap(tg.grad(linear_loss), in_axes=(None, 0, 0))
    np.testing.assert_allclose(per_example(w, x, y), expected, rtol=1e-12)
    assert "matmul_vjp_a_into(_stacked_0, _batch," in batch_loop(per_example.source)
    np.testing.assert_allclose(tg.jit(per_example)(w, x, y), expected, rtol=1e-12)
    numeric = numerical_grad(lambda v: linear_loss(v, x[2], y[2]), (w,))
    np.testing.assert_allclose(per_example(w, x, y)[2], numeric, rtol=1e-6)
    by_input = tg.vmap(tg.grad(linear_loss, wrt=1), in_axes=(None, 0, 0))
    np.testing.assert_allclose(tg.jit(by_input)(w, x, y), 2.0 * (x @ w - y)[:, None] * w[None, :], rtol=1e-12)
    assert "matmul_vjp_b_into(_stacked_0, _batch," in batch_loop(by_input.source)
