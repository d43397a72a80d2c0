"""vmap and batched_jacobian: generated batch loops, checked against explicit Python loops and by hand."""
import collections

import numpy as np
import pytest

import tangent2 as tg
from tangent2.errors import ShapeMismatch, TangentError
from tangent2.testing import numerical_grad

Params = collections.namedtuple("Params", ["w", "b"])


def value_fn(theta, state):
    return np.dot(theta, state)


def td_loss(theta, s_tm1, r_t, s_t):
    v_tm1 = value_fn(theta, s_tm1)
    target = r_t + value_fn(theta, s_t)
    return (tg.stop_gradient(target) - v_tm1) ** 2


@pytest.mark.jit_smoke
def test_per_example_gradients_of_the_seed_td_loss():
    theta = np.array([0.1, -0.1, 0.0])
    s_tm1, r_t, s_t = np.array([1.0, 2.0, -1.0]), np.array(1.0), np.array([2.0, 1.0, 0.0])
    batch = (np.stack([s_tm1, s_tm1]), np.stack([r_t, r_t]), np.stack([s_t, s_t]))
    per_example = tg.vmap(tg.grad(td_loss), in_axes=(None, 0, 0, 0))
    np.testing.assert_allclose(per_example(theta, *batch), [[-2.4, -4.8, 2.4], [-2.4, -4.8, 2.4]])
    assert "for _batch in range(1, _n):" in per_example.source


def test_vmap_matches_a_python_loop_with_in_axes_and_out_axes():
    def f(a, b):
        return np.tanh(a * b[0]) + b[1]

    a = np.linspace(-1, 1, 3)
    b = np.arange(6.0).reshape(2, 3)  # batched along axis 1
    expected = [np.tanh(a[i] * b[0, i]) + b[1, i] for i in range(3)]
    np.testing.assert_allclose(tg.vmap(f, in_axes=(0, 1))(a, b), expected)
    stacked = tg.vmap(lambda x: np.outer(x, x), out_axes=1)(np.arange(6.0).reshape(3, 2))
    assert stacked.shape == (2, 3, 2)
    np.testing.assert_allclose(stacked[:, 1, :], np.outer([2.0, 3.0], [2.0, 3.0]))


def test_tree_arguments_tree_in_axes_and_tuple_outputs():
    def f(p, x):
        return p.w * x + p.b, {"sum": np.sum(x)}

    p = Params(np.array([1.0, 2.0]), np.array([[0.5, 0.5], [1.0, 1.0], [2.0, 2.0]]))
    xs = np.arange(6.0).reshape(3, 2)
    lines, sums = tg.vmap(f, in_axes=(Params(None, 0), 0))(p, xs)
    for i in range(3):
        np.testing.assert_allclose(lines[i], p.w * xs[i] + p.b[i])
    np.testing.assert_allclose(sums["sum"], xs.sum(axis=1))


def test_nesting_vmap_of_vmap_grad_of_vmap_and_vmap_of_jacfwd():
    x = np.arange(6.0).reshape(2, 3) / 7
    np.testing.assert_allclose(tg.vmap(tg.vmap(np.sin))(x), np.sin(x))

    def total(x):
        return np.sum(tg.vmap(lambda z: np.sin(z) * z)(x))

    np.testing.assert_allclose(tg.grad(total)(x[0]), np.cos(x[0]) * x[0] + np.sin(x[0]))
    np.testing.assert_allclose(tg.grad(total)(x[0]), numerical_grad(total, (x[0],)), rtol=1e-6)
    jacobians = tg.vmap(tg.jacfwd(lambda z: np.tanh(z) * 2.0))(x)
    assert jacobians.shape == (2, 3, 3)
    np.testing.assert_allclose(jacobians[1], np.diag(2 * (1 - np.tanh(x[1]) ** 2)))


def test_inconsistent_batch_sizes_name_the_arguments():
    with pytest.raises(ShapeMismatch, match="'a' has 3, 'b' has 4"):
        tg.vmap(lambda a, b: a + b)(np.ones(3), np.ones(4))
    with pytest.raises(TangentError, match="in_axes"):
        tg.vmap(lambda a, b: a + b, in_axes=(0,))(np.ones(3), np.ones(3))


def model(ps, x):
    return np.tanh(x @ ps["W"].T + ps["b"])


def test_batched_jacobian_forward_and_reverse_match_per_example_jacobians():
    rng = np.random.default_rng(0)
    ps = {"W": rng.normal(size=(2, 3)), "b": rng.normal(size=2)}
    x = rng.normal(size=(5, 3))
    forward = tg.batched_jacobian(model, wrt=1)(ps, x)
    reverse = tg.batched_jacobian(model, mode="reverse", wrt=1)(ps, x)
    assert forward.shape == (5, 2, 3)
    for i in range(5):
        t = np.tanh(ps["W"] @ x[i] + ps["b"])
        np.testing.assert_allclose(forward[i], (1 - t ** 2)[:, None] * ps["W"], atol=1e-12)
    np.testing.assert_allclose(forward, reverse, atol=1e-12)


def test_batched_jacobian_inside_a_differentiated_loss():
    rng = np.random.default_rng(1)
    ps = {"W": rng.normal(size=(2, 3)), "b": rng.normal(size=2)}
    x = rng.normal(size=(4, 3))

    def loss(ps, x):
        J = tg.batched_jacobian(model, wrt=1)(ps, x)
        return np.sum((J * 0.01) ** 2) + np.sum(model(ps, x) ** 2)

    g = tg.grad(loss)(ps, x)
    numeric = numerical_grad(loss, (ps, x))
    np.testing.assert_allclose(g["W"], numeric["W"], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(tg.grad(loss, wrt=1)(ps, x), numerical_grad(loss, (ps, x), wrt=1), rtol=1e-5,
                               atol=1e-9)
