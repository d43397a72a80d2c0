"""Nested AD: any order, every mode combination, transformations inside differentiated code."""
import itertools
import tracemalloc

import numpy as np
import pytest

import tangent2 as tg
from tangent2.errors import NotDifferentiable
from tangent2.testing import numerical_grad, numerical_jvp


def cubic(x):
    return x**3 + 2*x**2 - 3*x + 1


def cubic_with_control_flow(x):
    """The same cubic, built with a while loop, branches and augmented assignment."""
    y = 1.0
    total = 1.0
    i = 0
    while i < 3:
        if i == 0:
            total = total - 3 * x
        elif i == 1:
            total = total + 2 * x * x
        y = y * x
        i += 1
    return total + y


def forward_derivative(g):
    return lambda x: tg.jvp(g, (x,), (1.0,))[1]


def reverse_derivative(g):
    return tg.grad(g)


MODES = {"fwd": forward_derivative, "rev": reverse_derivative}
ALL_COMBINATIONS = list(itertools.product(MODES, repeat=4))


def derivatives(f, combination, x=1.0):
    values = []
    g = f
    for mode in combination:
        g = MODES[mode](g)
        values.append(float(g(x)))
    return values


@pytest.mark.parametrize("combination", [
    pytest.param(c, marks=pytest.mark.jit_smoke) if c == ("fwd", "rev", "fwd", "rev") else c for c in ALL_COMBINATIONS],
    ids="-".join)
def test_cubic_to_order_four_in_every_mode_combination(combination):
    assert derivatives(cubic, combination) == [4.0, 10.0, 6.0, 0.0]


@pytest.mark.parametrize("combination", [("rev",) * 4, ("fwd",) * 4, ("fwd", "rev", "fwd", "rev"),
                                         ("rev", "rev", "fwd", "fwd"), ("rev", "fwd", "rev", "rev")],
                         ids="-".join)
def test_loops_while_and_branches_to_order_four(combination):
    assert derivatives(cubic_with_control_flow, combination) == [4.0, 10.0, 6.0, 0.0]
    x = 0.37
    got = derivatives(cubic_with_control_flow, combination, x)
    np.testing.assert_allclose(got, [3 * x**2 + 4 * x - 3, 6 * x + 4, 6.0, 0.0], atol=1e-12)


def test_hessian_of_the_dot_product_is_twice_the_identity():
    H = tg.hessian(lambda x: x @ x)(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(H, 2 * np.eye(3))


def f_sin(x):
    return np.sum(np.sin(x) * x ** 2)


def test_hessian_matches_hand_derivation_and_finite_differences():
    x = np.linspace(-1.0, 1.0, 5)
    H = tg.hessian(f_sin)(x)
    diagonal = 2 * np.sin(x) + 4 * x * np.cos(x) - x ** 2 * np.sin(x)
    np.testing.assert_allclose(H, np.diag(diagonal), atol=1e-12)
    gradient = tg.grad(f_sin)
    columns = [numerical_jvp(gradient, (x,), (e,)) for e in np.eye(5)]
    np.testing.assert_allclose(H, np.array(columns).T, atol=1e-6)


def nonsquare(x, w):
    return np.tanh(w @ x) * x[0]


def test_jacfwd_and_jacrev_agree_with_each_other_and_finite_differences():
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=3), rng.normal(size=(4, 3))
    forward = tg.jacfwd(nonsquare)(x, w)
    reverse = tg.jacrev(nonsquare)(x, w)
    assert forward.shape == (4, 3)
    np.testing.assert_allclose(forward, reverse, atol=1e-12)
    numeric = np.array([numerical_jvp(nonsquare, (x, w), (e, np.zeros_like(w))) for e in np.eye(3)]).T
    np.testing.assert_allclose(forward, numeric, atol=1e-6)
    t = np.tanh(w @ x)
    expected = (1 - t ** 2)[:, None] * w * x[0]
    expected[:, 0] += t
    np.testing.assert_allclose(forward, expected, atol=1e-12)
    wrt_w = tg.jacrev(nonsquare, wrt="w")(x, w)
    assert wrt_w.shape == (4, 4, 3)


def test_hvp_equals_hessian_times_vector():
    x = np.linspace(-1.0, 1.0, 6)
    v = np.cos(np.arange(6.0))
    np.testing.assert_allclose(tg.hvp(f_sin)(x, v), tg.hessian(f_sin)(x) @ v, atol=1e-12)


def test_hvp_never_forms_the_hessian():
    n = 20_000  # a dense Hessian would take 3.2 GB
    x = np.linspace(-1.0, 1.0, n)
    v = np.ones(n)
    h = tg.hvp(f_sin)
    h(x[:3], v[:3])  # generate the code first
    tracemalloc.start()
    result = h(x, v)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 100e6
    np.testing.assert_allclose(result, 2 * np.sin(x) + 4 * x * np.cos(x) - x ** 2 * np.sin(x), atol=1e-12)


# --------------------------------------------------- transformations inside code
def model(ps, x):
    return np.tanh(ps["W"] @ x + ps["b"])


def loss_with_input_jacobian(ps, x, y):
    J = tg.jacfwd(model, wrt=1)(ps, x)
    return np.sum((model(ps, x) - y) ** 2) + np.sum(J ** 2)


def loss_with_gradient(ps, x):
    u = lambda z: np.sum(model(ps, z))  # noqa: E731 (a closure over ps)
    return np.sum(tg.grad(u)(x) ** 2)


def loss_with_parameter_jacobian(flat, x, unravel_shape):
    W = np.reshape(flat[:6], unravel_shape)
    J = tg.jacrev(lambda w: np.tanh(w @ x), wrt=0)(W)
    return np.sum(J ** 2)


def loss_with_jvp(ps, x, v):
    out, tangent = tg.jvp(lambda z: model(ps, z), (x,), (v,))
    return np.sum(out * tangent)


def loss_with_vjp(ps, x, v):
    out, pullback = tg.vjp(lambda z: model(ps, z), x)
    (cotangent,) = pullback(v)
    return np.sum(cotangent ** 2)


def params(seed=0):
    rng = np.random.default_rng(seed)
    return {"W": rng.normal(size=(2, 3)), "b": rng.normal(size=2)}, rng.normal(size=3), rng.normal(size=2)


@pytest.mark.parametrize("loss, extra", [
    (loss_with_input_jacobian, "y"), (loss_with_gradient, None), (loss_with_jvp, "v3"), (loss_with_vjp, "y"),
])
def test_losses_containing_derivatives(loss, extra):
    ps, x, y = params()
    args = (ps, x) + ({"y": (y,), "v3": (np.cos(x),), None: ()}[extra])
    g = tg.grad(loss)(ps, *args[1:])
    numeric = numerical_grad(loss, args)
    np.testing.assert_allclose(g["W"], numeric["W"], rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(g["b"], numeric["b"], rtol=1e-5, atol=1e-8)
    gx = tg.grad(loss, wrt=1)(*args)
    np.testing.assert_allclose(gx, numerical_grad(loss, args, wrt=1), rtol=1e-5, atol=1e-8)


def test_loss_with_jacobian_with_respect_to_parameters():
    rng = np.random.default_rng(2)
    flat, x = rng.normal(size=6), rng.normal(size=3)
    g = tg.grad(loss_with_parameter_jacobian)(flat, x, (2, 3))
    np.testing.assert_allclose(g, numerical_grad(loss_with_parameter_jacobian, (flat, x, (2, 3))), atol=1e-7)


def test_gradient_inside_loss_by_hand():
    """d/dW of sum(grad_x sum(tanh(W x))^2) written out."""
    W = np.array([[0.3, -0.2], [0.5, 0.1]])
    x = np.array([0.7, -0.4])

    def loss(W, x):
        return np.sum(tg.grad(lambda z: np.sum(np.tanh(W @ z)))(x) ** 2)

    t = np.tanh(W @ x)
    s = 1 - t ** 2                       # du/dx = W^T s
    gx = W.T @ s
    # d/dW_ij of |W^T s|^2 = 2 gx_j s_i + 2 (W gx)_i * ds_i/d(Wx)_i * x_j, ds/dz = -2 t s
    expected = 2 * np.outer(s, gx) + np.outer(2 * (W @ gx) * (-2 * t * s), x)
    np.testing.assert_allclose(tg.grad(loss)(W, x), expected, atol=1e-12)


def euler_energy(x, k):
    """A loop the inner gradient must tape."""
    y = x
    for i in range(20):
        y = y + 0.05 * (-k * y ** 3)
    return np.sum(y ** 2)


def loss_with_looping_gradient(k, x):
    return np.sum(tg.grad(euler_energy)(x, k) ** 2)


def test_mode_switching_gives_the_same_values():
    ps, x, _ = params(1)
    on = tg.grad(loss_with_gradient, mode_switching=True)
    off = tg.grad(loss_with_gradient, mode_switching=False)
    auto = tg.grad(loss_with_gradient)
    np.testing.assert_allclose(on(ps, x)["W"], off(ps, x)["W"], atol=1e-12)
    np.testing.assert_allclose(auto(ps, x)["W"], off(ps, x)["W"], atol=1e-12)
    assert "full_gradient_jvp" in on.source
    assert "full_gradient_jvp" not in off.source
    assert "full_gradient_jvp" not in auto.source  # straight-line inner gradient: reverse over reverse is cheaper


def test_automatic_mode_switching_avoids_a_second_tape_for_loops():
    x = np.array([0.3, -0.2])
    auto = tg.grad(loss_with_looping_gradient)
    off = tg.grad(loss_with_looping_gradient, mode_switching=False)
    np.testing.assert_allclose(auto(0.7, x), off(0.7, x), rtol=1e-12)
    np.testing.assert_allclose(auto(0.7, x), numerical_grad(loss_with_looping_gradient, (0.7, x)), rtol=1e-6)
    assert "full_gradient_jvp" in auto.source
    assert "_stack" not in auto.source     # no tape of the inner gradient's tape
    assert "_stack" in off.source
    previous = tg.config.mode_switching
    try:
        tg.config.mode_switching = False
        globally_off = tg.grad(loss_with_looping_gradient)
        globally_off(0.7, x)
        assert "full_gradient_jvp" not in globally_off.source
    finally:
        tg.config.mode_switching = previous


# ----------------------------------------------------------- stop_gradient, custom rules
def test_td0_update_with_stop_gradient_matches_the_seed():
    value_fn = lambda theta, state: np.dot(theta, state)  # noqa: E731

    def td_loss(theta, s_tm1, r_t, s_t):
        v_tm1 = value_fn(theta, s_tm1)
        target = r_t + value_fn(theta, s_t)
        return (tg.stop_gradient(target) - v_tm1) ** 2

    theta = np.array([0.1, -0.1, 0.0])
    delta = tg.grad(td_loss)(theta, np.array([1.0, 2.0, -1.0]), 1.0, np.array([2.0, 1.0, 0.0]))
    np.testing.assert_allclose(delta, [-2.4, -4.8, 2.4])


def test_straight_through_estimator():
    def f(x):
        return np.round(x)

    def straight_through_f(x):
        zero = x - tg.stop_gradient(x)
        return zero + tg.stop_gradient(f(x))

    assert tg.grad(f)(3.2) == 0.0
    assert tg.grad(straight_through_f)(3.2) == 1.0
    assert straight_through_f(3.2) == 3.0


@tg.custom_vjp
def softplus(x):
    return np.log1p(np.exp(x))


@softplus.defvjp
def softplus_vjp(g, ans, x):
    return g / (1.0 + np.exp(-x))


def test_custom_vjp_is_used_and_its_hessian_works():
    def f(x):
        return np.sum(softplus(x) * x)

    x = np.array([0.3, -1.0, 2.0])
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(tg.grad(f)(x), softplus(x) + x * s)
    np.testing.assert_allclose(tg.grad(f)(x), numerical_grad(f, (x,)), rtol=1e-6)
    assert "softplus_vjp" in tg.grad(f).source
    np.testing.assert_allclose(tg.hessian(f)(x), np.diag(2 * s + x * s * (1 - s)), atol=1e-12)


def test_custom_vjp_rule_really_replaces_the_derivative():
    @tg.custom_vjp
    def clipped_identity(x):
        return x

    @clipped_identity.defvjp
    def clipped_identity_vjp(g, ans, x):
        return np.clip(g, -1.0, 1.0)

    def f(x):
        return np.sum(5.0 * clipped_identity(x))

    np.testing.assert_allclose(tg.grad(f)(np.ones(3)), np.ones(3))  # clipped, not 5


def test_custom_jvp():
    @tg.custom_jvp
    def safe_log(x):
        return np.log(x)

    @safe_log.defjvp
    def safe_log_jvp(x_dot, ans, x):
        return x_dot / np.maximum(x, 1e-3)

    with np.errstate(divide="ignore"):
        _, tangent = tg.jvp(safe_log, (np.array([0.0, 2.0]),), (np.ones(2),))
    np.testing.assert_allclose(tangent, [1e3, 0.5])
    with pytest.raises(NotDifferentiable, match="defvjp"):
        tg.grad(lambda x: np.sum(safe_log(x)))(np.ones(2))


def test_jacobian_with_respect_to_a_whole_parameter_tree_through_ravel():
    ps, x, _ = params(3)
    flat, unravel = tg.ravel(ps)

    def from_flat(flat, x):
        return model(unravel(flat), x)

    J = tg.jacfwd(from_flat)(flat, x)
    assert J.shape == (2, flat.size)
    np.testing.assert_allclose(J, tg.jacrev(from_flat)(flat, x), atol=1e-12)
    numeric = np.array([numerical_jvp(from_flat, (flat, x), (e, np.zeros(3))) for e in np.eye(flat.size)]).T
    np.testing.assert_allclose(J, numeric, atol=1e-6)
