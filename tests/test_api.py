"""The public API: every call checked against finite differences and a hand-derived value."""
import collections
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import tangent2 as tg
from tangent2.testing import numerical_grad, numerical_jvp

Params = collections.namedtuple("Params", ["w", "b"])
ROOT = pathlib.Path(__file__).resolve().parents[1]


def cubic(x):
    return x**3 + 2*x**2 - 3*x + 1


def two_args(x, y):
    return x * np.sin(y) + y ** 2


def mlp_loss(params, x):
    h = np.tanh(params["W"] @ x + params["b"])
    return np.sum(h ** 2)


def rng_params(seed=0):
    rng = np.random.default_rng(seed)
    return {"W": rng.normal(size=(3, 2)), "b": rng.normal(size=3)}, rng.normal(size=2)


def test_grad_of_the_seed_cubic_to_fourth_order():
    d1 = tg.grad(cubic)
    d2 = tg.grad(d1)
    d3 = tg.grad(d2)
    d4 = tg.grad(d3)
    assert [d1(1.0), d2(1.0), d3(1.0), d4(1.0)] == [4.0, 10.0, 6.0, 0.0]
    x = 0.3
    assert d1(x) == pytest.approx(3 * x**2 + 4 * x - 3)
    assert d1(x) == pytest.approx(numerical_grad(cubic, (x,)))


@pytest.mark.parametrize("wrt, expected", [
    (0, lambda x, y: np.sin(y)),
    ("y", lambda x, y: x * np.cos(y) + 2 * y),
    ((0, 1), lambda x, y: (np.sin(y), x * np.cos(y) + 2 * y)),
    (("y", "x"), lambda x, y: (x * np.cos(y) + 2 * y, np.sin(y))),
])
def test_wrt_by_index_name_and_tuple(wrt, expected):
    x, y = 0.7, -1.3
    got = tg.grad(two_args, wrt=wrt)(x, y)
    np.testing.assert_allclose(got, expected(x, y), rtol=1e-12)
    positions = [w if isinstance(w, int) else "xy".index(w) for w in (wrt if isinstance(wrt, tuple) else (wrt,))]
    numeric = [numerical_grad(two_args, (x, y), wrt=p) for p in positions]
    np.testing.assert_allclose(np.ravel(got), numeric, rtol=1e-6)


def test_grad_over_a_dict_tree_matches_hand_derivation_and_finite_differences():
    params, x = rng_params()
    grads = tg.grad(mlp_loss)(params, x)
    assert set(grads) == {"W", "b"}
    h = np.tanh(params["W"] @ x + params["b"])
    delta = 2 * h * (1 - h ** 2)
    np.testing.assert_allclose(grads["b"], delta, rtol=1e-12)
    np.testing.assert_allclose(grads["W"], np.outer(delta, x), rtol=1e-12)
    numeric = numerical_grad(mlp_loss, (params, x))
    np.testing.assert_allclose(grads["W"], numeric["W"], rtol=1e-6)


def test_namedtuple_and_list_trees():
    def loss(p, xs):
        total = 0.0
        for x in xs:
            total = total + np.sum((p.w * x + p.b) ** 2)
        return total

    p = Params(np.array([0.5, -1.0]), 0.25)
    xs = [np.array([1.0, 2.0]), np.array([-1.0, 0.5])]
    g = tg.grad(loss)(p, xs)
    assert isinstance(g, Params)
    expected_w = sum(2 * (p.w * x + p.b) * x for x in xs)
    expected_b = sum(np.sum(2 * (p.w * x + p.b)) for x in xs)
    np.testing.assert_allclose(g.w, expected_w)
    assert g.b == pytest.approx(expected_b)
    gx = tg.grad(loss, wrt=1)(p, xs)
    assert isinstance(gx, list) and len(gx) == 2
    np.testing.assert_allclose(gx[0], 2 * (p.w * xs[0] + p.b) * p.w)


def test_value_and_grad():
    params, x = rng_params(1)
    value, grads = tg.value_and_grad(mlp_loss)(params, x)
    assert value == pytest.approx(mlp_loss(params, x))
    np.testing.assert_allclose(grads["b"], tg.grad(mlp_loss)(params, x)["b"])


def test_has_aux():
    def f(x):
        y = x ** 2
        return np.sum(y), {"squares": y}

    x = np.arange(3.0)
    g, aux = tg.grad(f, has_aux=True)(x)
    np.testing.assert_allclose(g, 2 * x)
    np.testing.assert_allclose(aux["squares"], x ** 2)
    (value, aux), g = tg.value_and_grad(f, has_aux=True)(x)
    assert value == 5.0


def test_jvp_and_vjp_with_trees_agree():
    def f(p, x):
        return {"a": np.tanh(p["W"] @ x), "b": np.sum(p["b"] * x[:1])}

    params, x = rng_params(2)
    rng = np.random.default_rng(5)
    v = ({"W": rng.normal(size=(3, 2)), "b": rng.normal(size=3)}, rng.normal(size=2))
    out, out_dot = tg.jvp(f, (params, x), v)
    expected = numerical_jvp(f, (params, x), v)
    np.testing.assert_allclose(out_dot["a"], expected["a"], rtol=1e-6)
    assert out_dot["b"] == pytest.approx(expected["b"], rel=1e-6)
    out2, pullback = tg.vjp(f, params, x)
    ct = {"a": rng.normal(size=3), "b": 0.7}
    dp, dx = pullback(ct)
    lhs = np.sum(ct["a"] * out_dot["a"]) + ct["b"] * out_dot["b"]
    rhs = np.sum(dp["W"] * v[0]["W"]) + np.sum(dp["b"] * v[0]["b"]) + np.sum(dx * v[1])
    assert lhs == pytest.approx(rhs, rel=1e-10)


def test_differentiate_decorator():
    @tg.differentiate
    def f(x):
        return np.sin(x) * x

    assert f(0.5) == pytest.approx(np.sin(0.5) * 0.5)
    assert f.grad()(0.5) == pytest.approx(np.cos(0.5) * 0.5 + np.sin(0.5))
    assert f.grad().grad()(0.5) == pytest.approx(-np.sin(0.5) * 0.5 + 2 * np.cos(0.5))
    out, tangent = f.jvp((0.5,), (2.0,))
    assert tangent == pytest.approx(2 * (np.cos(0.5) * 0.5 + np.sin(0.5)))


def test_source_and_show(capsys):
    d = tg.grad(cubic)
    text = tg.source(d)
    assert text == d.source
    assert "def cubic_grad(x, d_out=1.0):" in text
    assert "dx" in text and "# adjoint of line" in text
    tg.show(d)
    assert "def cubic_grad" in capsys.readouterr().out


def test_float32_is_preserved():
    def f(x):
        return np.sum(np.tanh(x) * x)

    x = np.linspace(-1, 1, 5, dtype=np.float32)
    g = tg.grad(f)(x)
    assert g.dtype == np.float32
    t = np.tanh(x.astype(np.float64))
    np.testing.assert_allclose(g, (1 - t ** 2) * x + t, rtol=1e-5)
    _, tangent = tg.jvp(f, (x,), (np.ones_like(x),))
    assert np.asarray(tangent).dtype == np.float32


def test_the_generated_function_is_a_real_file():
    import inspect
    d = tg.grad(cubic)
    assert inspect.getsource(d.function).startswith("def cubic_grad")


def test_command_line_prints_the_source():
    result = subprocess.run([sys.executable, "-m", "tangent2", "samples/polynomial.py:f"],
                            capture_output=True, text=True, cwd=ROOT, check=True)
    assert "def f_grad(x, d_out=1.0):" in result.stdout
    forward = subprocess.run([sys.executable, "-m", "tangent2", "samples/polynomial.py:f", "--mode", "forward"],
                             capture_output=True, text=True, cwd=ROOT, check=True)
    assert "x_dot" in forward.stdout
    second = subprocess.run([sys.executable, "-m", "tangent2", "samples/polynomial.py:f", "--order", "2"],
                            capture_output=True, text=True, cwd=ROOT, check=True)
    assert "def f_grad_grad" in second.stdout
    missing = subprocess.run([sys.executable, "-m", "tangent2", "samples/polynomial.py:nope"],
                             capture_output=True, text=True, cwd=ROOT)
    assert missing.returncode == 1 and "no function 'nope'" in missing.stderr


def test_polynomial_sample_runs():
    result = subprocess.run([sys.executable, "samples/polynomial.py"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" ok") == 4


def test_check_grads_on_tangent2_itself():
    params, x = rng_params(3)
    tg.check_grads(mlp_loss, (params, x), order=2)


def test_check_grads_catches_a_wrong_rule(monkeypatch):
    from tangent2.rules import registry

    def wrong_sin_vjp(g, ans, x):
        return g * np.cos(x) * 1.001

    monkeypatch.setitem(registry.VJP_RULES, np.sin, wrong_sin_vjp)

    def f(x):
        return np.sin(x) * 3.0

    with pytest.raises(AssertionError, match="rev mode"):
        tg.check_grads(f, (np.array([0.1, 0.2]),), order=1)
