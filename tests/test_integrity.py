"""No mutation of the caller's arrays, thread safety, cache integrity, NaN and inf propagation."""
import concurrent.futures
import os

import numpy as np
import pytest

import tangent2 as tg


def writes_into_its_argument(x):
    x[0] = x[0] * 3.0
    total = 0.0
    for i in range(x.shape[0]):
        x[i] = np.sin(x[i])
        total = total + x[i] ** 2
    return total


def expected_gradient(x):
    y = x.copy()
    y[0] = 3.0 * y[0]
    scale = np.ones_like(x)
    scale[0] = 3.0
    return 2 * np.sin(y) * np.cos(y) * scale


@pytest.mark.parametrize("how", ["grad", "value_and_grad", "jvp", "vjp"])
def test_read_only_arguments_are_never_written(how):
    x = np.array([0.5, -0.3, 0.2])
    x.flags.writeable = False
    if how == "grad":
        g = tg.grad(writes_into_its_argument)(x)
    elif how == "value_and_grad":
        _, g = tg.value_and_grad(writes_into_its_argument)(x)
    elif how == "jvp":
        _, t = tg.jvp(writes_into_its_argument, (x,), (np.array([1.0, 0.0, 0.0]),))
        g = np.array([t, np.nan, np.nan])
    else:
        _, pullback = tg.vjp(writes_into_its_argument, x)
        (g,) = pullback(1.0)
    np.testing.assert_array_equal(x, [0.5, -0.3, 0.2])
    expected = expected_gradient(np.array([0.5, -0.3, 0.2]))
    if how == "jvp":
        np.testing.assert_allclose(g[0], expected[0])
    else:
        np.testing.assert_allclose(g, expected)


def polynomial_with_loop(x):
    y = x
    for i in range(5):
        y = y * x + np.sin(y)
    return y


def test_threads_differentiating_the_same_function_agree():
    d = tg.grad(polynomial_with_loop)
    points = np.linspace(-1.0, 1.0, 32)
    expected = [tg.grad(polynomial_with_loop)(p) for p in points]

    def work(i):
        fresh = tg.Derivative(polynomial_with_loop, "grad")  # new Derivatives race to generate the same code
        return fresh(points[i]), d(points[i])

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(32)))
    for (fresh, shared), want in zip(results, expected):
        assert fresh == want and shared == want


def test_a_corrupted_cache_file_is_rewritten_not_executed(tmp_path, monkeypatch):
    monkeypatch.setenv("TANGENT2_CACHE_DIR", str(tmp_path))
    first = tg.Derivative(polynomial_with_loop, "grad")  # not tg.grad, which reuses a generated function
    value = first(0.3)
    path = first.function.__code__.co_filename
    assert os.path.dirname(path) == str(tmp_path)
    original = open(path).read()
    for damage in (original[: len(original) // 2], "raise SystemExit('corrupted')\n", ""):
        with open(path, "w") as handle:
            handle.write(damage)
        again = tg.Derivative(polynomial_with_loop, "grad")
        assert again(0.3) == value
        assert open(path).read() == original


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nan_and_inf_propagate():
    def f(x):
        return np.sum(np.sin(x) * x)

    g = tg.grad(f)(np.array([np.nan, np.inf, 1.0]))
    assert np.isnan(g[0]) and np.isnan(g[1])
    assert g[2] == pytest.approx(np.cos(1.0) + np.sin(1.0))
    _, t = tg.jvp(f, (np.array([np.inf]),), (np.array([1.0]),))
    assert np.isnan(t)
    assert tg.grad(lambda x: x * 2.0)(np.inf) == 2.0
