"""float32 derivatives under tangent2.jit keep float32, as NumPy 2 does (NEP 50).

NumPy 2 computes ``x32 * 0.5``, ``1.0 - x32`` and ``np.where(c, x32, 0.0)`` in float32; Numba, by its
own rules, in float64.  Generated code is full of Python-float constants, so before tangent2 typed them
as NumPy 2 does (``tangent2/backends/numba_runtime.py``), a loop-carried float32 adjoint became float64
inside its loop and the derivative did not compile ("Cannot unify array(float32, 1d, C) and
array(float64, 1d, C)"), and a compiled vjp pullback returned float64 arrays where Python returns float32.

Each test compiles one small derivative (about a second) and checks its dtype and its values against the
Python derivative, central finite differences (in float64, at the float32 point) and a hand-derived value.
"""
import numba
import numpy as np
import pytest

import tangent2 as tg
from tangent2 import api
from tangent2.testing import numerical_grad

X = np.array([-1.2, -0.4, 0.3, 0.9, 1.7], dtype=np.float32)


def tanh_chain(x):
    z = x
    for _ in range(3):
        z = np.tanh(z)          # adjoint: dz * (1.0 - z * z), a Python float meeting a float32 array
    return np.sum(z)


def halving_sum(x):
    total = x * 0
    z = x
    for _ in range(3):
        z = z * 0.5             # float32 times a Python float, carried by the loop
        total = total + z
    return 0.5 * np.sum(total ** 2)


def relu_steps(x):
    z = x
    for _ in range(2):
        z = np.where(z > 0.0, z, 0.0)   # np.where of a float32 array and a Python float
    return np.sum(z * z)


def residual_layer(x, w):
    return x * 2.0 + np.tanh(w @ x) * 0.5


def residual_steps(x, w):
    z = x
    for _ in range(2):
        z = z + np.tanh(w @ z) * 0.5
    return z


def _check_float32_gradient(f, expected):
    gradient = tg.grad(f)
    python = gradient(X)
    compiled = tg.jit(gradient)(X)
    assert python.dtype == np.float32
    assert isinstance(compiled, np.ndarray) and compiled.dtype == np.float32
    np.testing.assert_allclose(compiled, python, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(compiled, numerical_grad(f, (X,)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(compiled, expected, rtol=1e-5, atol=1e-6)


def test_loop_carried_adjoint_through_python_float_constants_stays_float32():
    # d/dx tanh(tanh(tanh(x))) = (1 - t1**2)(1 - t2**2)(1 - t3**2), t1 = tanh(x), t2 = tanh(t1), t3 = tanh(t2)
    t1 = np.tanh(X.astype(np.float64))
    t2 = np.tanh(t1)
    t3 = np.tanh(t2)
    _check_float32_gradient(tanh_chain, (1 - t1 ** 2) * (1 - t2 ** 2) * (1 - t3 ** 2))


def test_accumulating_float32_arrays_times_python_floats_stays_float32():
    # total = x/2 + x/4 + x/8 = 7x/8, loss = sum(total**2)/2, so the gradient is (7/8)**2 x
    _check_float32_gradient(halving_sum, 0.765625 * X.astype(np.float64))


def test_where_with_a_python_float_branch_in_a_loop_stays_float32():
    # relu applied twice is relu: the gradient of sum(relu(x)**2) is 2x where x > 0, else 0
    x64 = X.astype(np.float64)
    _check_float32_gradient(relu_steps, np.where(x64 > 0, 2 * x64, 0.0))


W = np.array([[0.5, -0.3, 0.2, 0.1, 0.0],
              [0.1, 0.4, -0.2, 0.0, 0.3],
              [-0.3, 0.2, 0.6, -0.1, 0.1],
              [0.0, 0.1, 0.3, 0.5, -0.4],
              [0.2, 0.0, -0.1, 0.2, 0.7]], dtype=np.float32)
V = np.array([1.0, -1.0, 0.5, 2.0, -0.5], dtype=np.float32)


def _step_pullback(z, w, u):
    """The cotangents of z and w of ``z + tanh(w @ z) * 0.5`` for the output cotangent u (float64)."""
    s = 0.5 * (1 - np.tanh(w @ z) ** 2) * u
    return u + w.T @ s, np.outer(s, z)


def _residual_layer_pullback(x, w, v):
    s = 0.5 * (1 - np.tanh(w @ x) ** 2) * v
    return 2.0 * v + w.T @ s, np.outer(s, x)


def _residual_steps_pullback(x, w, v):
    z1 = x + np.tanh(w @ x) * 0.5
    u1, dw2 = _step_pullback(z1, w, v)
    dx, dw1 = _step_pullback(x, w, u1)
    return dx, dw1 + dw2


@pytest.mark.parametrize("f, by_hand", [(residual_layer, _residual_layer_pullback),
                                        (residual_steps, _residual_steps_pullback)],
                         ids=["one layer", "a loop of two steps"])
def test_compiled_vjp_pullback_returns_float32(f, by_hand):
    function, flat = api.generated_function(f, "vjp", (X, W), V)
    python_out, python_cotangents = function(*flat)
    out, cotangents = tg.jit(function)(*flat)
    assert out.dtype == np.float32 and python_out.dtype == np.float32
    assert [c.dtype for c in cotangents] == [np.float32, np.float32] == [c.dtype for c in python_cotangents]
    np.testing.assert_allclose(out, f(X, W), rtol=1e-6)
    for got, python in zip(cotangents, python_cotangents):
        np.testing.assert_allclose(got, python, rtol=1e-5, atol=1e-6)
    # the pullback tangent2.vjp returns (Python) agrees
    for got, pulled in zip(cotangents, tg.vjp(f, X, W)[1](V)):
        np.testing.assert_allclose(got, pulled, rtol=1e-5, atol=1e-6)
    v64 = V.astype(np.float64)
    numerical = numerical_grad(lambda x, w: np.dot(f(x, w), v64), (X, W), wrt=(0, 1))
    expected = by_hand(X.astype(np.float64), W.astype(np.float64), v64)
    for got, fd, hand in zip(cotangents, numerical, expected):
        np.testing.assert_allclose(got, fd, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(got, hand, rtol=1e-5, atol=1e-6)


def test_user_code_compiled_by_numba_keeps_numbas_promotion():
    # NumPy 2's promotion applies to code tangent2 writes; a user's own numba.njit function is left alone
    import tangent2.backends.numba_runtime  # noqa: F401  (what tangent2.jit imports)
    assert numba.njit(lambda x: x * 0.5)(X).dtype == np.float64
