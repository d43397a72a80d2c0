"""The generated code of nested derivatives: what is computed once stays out of the basis loops.

Each structural check (the column loop of a Hessian carries no zero tangent
and no primal work) comes with value checks against finite differences and an
independent value (the Rosenbrock Hessian written out, forward vs reverse).
"""
import numpy as np
import pytest

import tangent2 as tg
from benchmarks.workloads.lux import loss_function1, model, setup_jacobian
from benchmarks.workloads.rosenbrock import hand_hessian, hand_hvp, rosenbrock
from tangent2.testing import numerical_grad, numerical_jvp


def _loop_body(source, header="    for _i in range("):
    """The lines of the first top-level ``for _i`` loop of a generated function (comments dropped)."""
    lines = source.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    body = []
    for line in lines[start + 1:]:
        if line.strip() and not line.startswith("        "):
            break
        if not line.strip().startswith("#"):
            body.append(line)
    return "\n".join(body)


@pytest.fixture(scope="module")
def point():
    return np.random.default_rng(0).uniform(-1.0, 1.5, size=12)


def test_rosenbrock_hessian_values(point):
    H = tg.hessian(rosenbrock)(point)
    np.testing.assert_allclose(H, hand_hessian(point), rtol=1e-12, atol=1e-10)
    gradient = tg.grad(rosenbrock)
    # Column j of the Hessian is the derivative of the gradient along e_j.
    for j in (0, 5, 11):
        e = np.zeros_like(point)
        e[j] = 1.0
        np.testing.assert_allclose(H[:, j], numerical_jvp(gradient, (point,), (e,)), rtol=1e-6, atol=1e-5)


def test_rosenbrock_hessian_loop_has_no_zero_tangents(point):
    h = tg.hessian(rosenbrock)
    h(point)
    loop = _loop_body(h.source)
    # The seed d_out has a zero tangent: its chain (d_out -> d_t_9 -> ...) contributes nothing, so neither a
    # zeros_like of it nor a term built from one is generated (the only zeros_like left is the tangent of dx,
    # which the loop writes into).
    assert loop.count("zeros_like") == 1 and "dx_dot = zeros_like(x)" in loop
    assert "d_t_9_dot" not in h.source and "d_t_8_dot" not in h.source
    # The primal and the reverse sweep are computed once, before the loop.
    assert "** 2" not in loop and "unreduce" not in loop
    # Every unbroadcast/broadcast_like in it is between arrays of provably equal shape (slices x[1:], x[:-1] of
    # one array and element-wise results of them): gone, so the operations around them fold together.
    assert "unbroadcast" not in loop and "broadcast_like" not in loop


def broadcasting(x):
    # x[0] * x[1:] broadcasts a scalar, the (n-1,)-vector against the (1,)-slice x[:1] too: those unbroadcasts
    # sum and must stay.
    return np.sum(x[0] * x[1:] ** 2 + x[:1] * x[:-1]) + np.sum(np.sin(x[2:]) * x[:-2])


def test_hessian_with_broadcasting_keeps_the_sums():
    x = np.array([0.4, -1.2, 0.7, 1.9, -0.3])
    H = tg.hessian(broadcasting)(x)
    np.testing.assert_allclose(H, tg.jacrev(tg.grad(broadcasting))(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(H, H.T, rtol=1e-12, atol=1e-12)
    gradient = tg.grad(broadcasting)
    for j in range(x.size):
        e = np.zeros_like(x)
        e[j] = 1.0
        np.testing.assert_allclose(H[:, j], numerical_jvp(gradient, (x,), (e,)), rtol=1e-6, atol=1e-6)


def test_rosenbrock_hvp_values(point):
    v = np.random.default_rng(1).normal(size=point.size)
    hv = tg.hvp(rosenbrock)
    np.testing.assert_allclose(hv(point, v), hand_hvp(point, v), rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(hv(point, v), numerical_jvp(tg.grad(rosenbrock), (point,), (v,)),
                               rtol=1e-6, atol=1e-5)


@pytest.fixture(scope="module")
def lux_data():
    return setup_jacobian(False)["args"]


def test_jacfwd_of_model_hoists_the_primal(lux_data):
    x, ps, _ = lux_data
    jacobian = tg.jacfwd(lambda z: model(ps, z))
    J = jacobian(x)
    loop = _loop_body(jacobian.source)
    # tanh, the batch statistics and the primal products do not depend on the basis direction; the model
    # reassigns h, so the hoisting has to tell its two values apart.
    assert "np.tanh" not in loop and "np.mean" not in loop and "np.sqrt" not in loop
    assert "_direction" in loop
    J_reverse = tg.jacrev(lambda z: model(ps, z))(x)
    np.testing.assert_allclose(J, J_reverse, rtol=1e-10, atol=1e-12)
    e = np.zeros_like(x)
    e[3, 1] = 1.0
    np.testing.assert_allclose(J[:, :, 3, 1], numerical_jvp(lambda z: model(ps, z), (x,), (e,)), rtol=1e-6,
                               atol=1e-7)


def test_gradient_of_loss_with_jacfwd_inside(lux_data):
    x, ps, y = lux_data
    gradient = tg.grad(loss_function1, wrt=(0, 1))
    dx, dps = gradient(x, ps, y)
    source = gradient.source
    forward_loop = _loop_body(source)
    # The inlined jacfwd's column loop (and so what reverse mode saves per column) holds tangent work only.
    assert "np.tanh" not in forward_loop and "np.mean" not in forward_loop
    assert "_h_1_1_stack" not in source and "_mean_1_1_stack" not in source
    np.testing.assert_allclose(dx, numerical_grad(loss_function1, (x, ps, y), wrt=0), rtol=1e-6, atol=1e-7)
    flat, _ = tg.ravel(dps)
    flat_fd, _ = tg.ravel(numerical_grad(loss_function1, (x, ps, y), wrt=1))
    np.testing.assert_allclose(flat, flat_fd, rtol=1e-6, atol=1e-7)


def reassigned_in_loop(x, c):
    h = np.sin(c)
    h = h * x + np.cos(h)
    return h * h


def test_jacfwd_with_a_reassigned_name():
    x = np.array([0.3, -0.7, 1.1])
    c = np.array([0.5, 0.2, -0.4])
    jacobian = tg.jacfwd(reassigned_in_loop)
    J = jacobian(x, c)
    loop = _loop_body(jacobian.source)
    assert "np.sin" not in loop and "np.cos" not in loop
    np.testing.assert_allclose(J, tg.jacrev(reassigned_in_loop)(x, c), rtol=1e-12, atol=1e-12)
    h = np.sin(c) * x + np.cos(np.sin(c))
    np.testing.assert_allclose(J, np.diag(2 * h * np.sin(c)), rtol=1e-12, atol=1e-12)


def written_through_an_alias(x):
    a = np.zeros(3)      # a zero tangent, assigned once ...
    b = a
    b[0] = x * x         # ... but changed through b: its tangent must change too
    return np.sum(a * a)


def test_zero_tangent_of_an_array_written_through_an_alias():
    out, out_dot = tg.jvp(written_through_an_alias, (1.5,), (1.0,))
    assert out == pytest.approx(1.5 ** 4)
    assert out_dot == pytest.approx(4 * 1.5 ** 3)
    assert out_dot == pytest.approx(numerical_jvp(written_through_an_alias, (1.5,), (1.0,)), rel=1e-6)
    assert tg.grad(written_through_an_alias)(1.5) == pytest.approx(4 * 1.5 ** 3)
