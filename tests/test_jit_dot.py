"""tangent2.jit compiles a 1-d ``np.dot`` as a loop (numba_runtime.dot), not a BLAS call.

The loop is compiled with reassociation (vectorized sums); these tests check
it against NumPy's ``np.dot`` at lengths around the vector widths, for
complex operands and for strided views, that other operand kinds still reach Numba's ``np.dot``, and
that a per-example gradient through it (vmap of grad of a TD loss) matches
its closed form and finite differences.
"""
import functools

import numba
import numpy as np
import pytest

import tangent2 as tg
from tangent2.backends import numba_runtime  # noqa: F401  (registers the redirect of np.dot)


@numba.njit
def _dot(a, b):
    return np.dot(a, b)


@numba.njit
def _dot_rows(theta, rows):
    # np.dot twice in one function (before and in a loop), as in vmap's peeled batch loop
    out = np.empty(rows.shape[0])
    out[0] = np.dot(theta, rows[0])
    for i in range(1, rows.shape[0]):
        out[i] = np.dot(theta, rows[i])
    return out


@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 7, 8, 17, 1001])
def test_one_dimensional_dot_matches_numpy(n):
    rng = np.random.default_rng(n)
    a, b = rng.standard_normal(n), rng.standard_normal(n)
    np.testing.assert_allclose(_dot(a, b), np.dot(a, b), rtol=1e-12, atol=1e-12)
    a_c, b_c = a + 1j * rng.standard_normal(n), b - 2j * rng.standard_normal(n)
    np.testing.assert_allclose(_dot(a_c, b_c), np.dot(a_c, b_c), rtol=1e-12, atol=1e-12)


def test_strided_rows_and_other_operands():
    rng = np.random.default_rng(1)
    m = rng.standard_normal((6, 9))
    np.testing.assert_allclose(_dot(m[:, 2], m[:, 5]), m[:, 2] @ m[:, 5], rtol=1e-12)
    np.testing.assert_allclose(_dot(m[1, :8:2], m[3, 1::2]), m[1, :8:2] @ m[3, 1::2], rtol=1e-12)
    np.testing.assert_allclose(_dot(m, m[0]), m @ m[0], rtol=1e-12)                 # 2-d: Numba's np.dot
    assert _dot(np.arange(4), np.arange(4)) == 14                                    # integers: Numba's
    assert _dot(2.5, 4.0) == 10.0
    np.testing.assert_allclose(_dot_rows(m[0, :3], m[:, 3:6]), m[:, 3:6] @ m[0, :3], rtol=1e-12)


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError, match="not aligned"):
        _dot(np.ones(3), np.ones(4))


def td_loss(theta, s_tm1, r_t, s_t):
    v_tm1 = np.dot(theta, s_tm1)
    target = r_t + np.dot(theta, s_t)
    return (tg.stop_gradient(target) - v_tm1) ** 2


@functools.lru_cache(maxsize=None)
def _per_example():
    return tg.jit(tg.vmap(tg.grad(td_loss), in_axes=(None, 0, 0, 0)))


def test_per_example_gradient_through_the_loop_dot():
    rng = np.random.default_rng(3)
    theta, s_tm1, r_t, s_t = rng.standard_normal(3), rng.standard_normal((7, 3)), rng.standard_normal(7), \
        rng.standard_normal((7, 3))
    got = _per_example()(theta, s_tm1, r_t, s_t)
    closed = -2.0 * (r_t + s_t @ theta - s_tm1 @ theta)[:, None] * s_tm1   # the target is held constant
    np.testing.assert_allclose(got, closed, rtol=1e-12, atol=1e-12)
    eps = 1e-6
    for i in range(7):
        target = r_t[i] + s_t[i] @ theta     # stop_gradient: finite differences of the loss with it fixed
        for k in range(3):
            e = np.zeros(3)
            e[k] = eps
            fd = ((target - s_tm1[i] @ (theta + e)) ** 2 - (target - s_tm1[i] @ (theta - e)) ** 2) / (2 * eps)
            np.testing.assert_allclose(got[i, k], fd, rtol=1e-6, atol=1e-8)
