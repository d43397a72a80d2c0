import collections

import numpy as np
import pytest

import tangent2
from tangent2 import tree
from tangent2.testing import check_grads, numerical_grad, numerical_jvp

Params = collections.namedtuple("Params", "w b")


# --- numerical_jvp ---------------------------------------------------------------

def test_numerical_jvp_of_sin_is_cos():
    x = np.linspace(-2.0, 2.0, 7)
    v = np.arange(7.0)
    np.testing.assert_allclose(numerical_jvp(np.sin, (x,), (v,)), np.cos(x) * v, atol=1e-9)


def test_numerical_jvp_of_scalar_function_of_two_arguments():
    def f(x, y):
        return x * y ** 2

    slope = numerical_jvp(f, (3.0, 2.0), (1.0, 0.5))
    assert slope == pytest.approx(2.0 ** 2 * 1.0 + 2 * 3.0 * 2.0 * 0.5, rel=1e-8)


def test_numerical_jvp_on_trees():
    def f(p, x):
        return {"y": np.tanh(p.w @ x + p.b), "norm": np.sum(x ** 2)}

    rng = np.random.default_rng(1)
    p = Params(rng.standard_normal((2, 3)), rng.standard_normal(2))
    x = rng.standard_normal(3)
    dp = Params(rng.standard_normal((2, 3)), rng.standard_normal(2))
    dx = rng.standard_normal(3)
    out = numerical_jvp(f, (p, x), (dp, dx))
    z = p.w @ x + p.b
    expected_y = (1 - np.tanh(z) ** 2) * (dp.w @ x + p.w @ dx + dp.b)
    np.testing.assert_allclose(out["y"], expected_y, atol=1e-8)
    assert out["norm"] == pytest.approx(2 * x @ dx, rel=1e-8)


def test_numerical_jvp_computes_float32_inputs_in_float64():
    x = np.linspace(0.1, 1.0, 5, dtype=np.float32)
    out = numerical_jvp(np.exp, (x,), (np.ones_like(x),))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, np.exp(x.astype(np.float64)), rtol=1e-9)


def test_numerical_jvp_uses_a_float32_step_when_the_function_stays_float32():
    def f(x):
        return np.sin(x).astype(np.float32)

    x = np.linspace(0.1, 1.0, 5, dtype=np.float32)
    out = numerical_jvp(f, (x,), (np.ones_like(x),))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, np.cos(x), rtol=1e-3)
    tiny_step = numerical_jvp(f, (x,), (np.ones_like(x),), eps=1e-6)
    assert np.max(np.abs(tiny_step - np.cos(x))) > 1e-2


def test_numerical_jvp_leaves_integer_arguments_alone():
    def f(x, n):
        assert isinstance(n, int)
        return x ** n

    assert numerical_jvp(f, (2.0, 3), (1.0, 1.0)) == pytest.approx(12.0, rel=1e-8)


def test_numerical_jvp_of_integer_outputs_is_zero():
    out = numerical_jvp(lambda x: (x * 2, x.shape[0], x > 0), (np.ones(2),), (np.ones(2),))
    np.testing.assert_allclose(out[0], [2.0, 2.0])
    assert out[1] == 0.0
    np.testing.assert_array_equal(out[2], [0.0, 0.0])


def test_numerical_jvp_checks_tangent_structure():
    with pytest.raises(ValueError, match="structures differ"):
        numerical_jvp(lambda p: p[0], ((1.0, 2.0),), ([1.0, 2.0],))


# --- numerical_grad --------------------------------------------------------------

def test_numerical_grad_of_sum_of_squares():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    np.testing.assert_allclose(numerical_grad(lambda x: np.sum(x ** 2), (x,)), 2 * x, atol=1e-8)


def test_numerical_grad_of_sin_is_cos():
    assert numerical_grad(np.sin, (0.3,)) == pytest.approx(np.cos(0.3), rel=1e-9)


def test_numerical_grad_on_a_tree_argument():
    def loss(params, x, y):
        pred = params["w"] @ x + params["b"][0]
        return np.sum((pred - y) ** 2) + params["b"][1] ** 2

    rng = np.random.default_rng(2)
    params = {"w": rng.standard_normal((3, 4)), "b": (rng.standard_normal(3), 1.5)}
    x, y = rng.standard_normal(4), rng.standard_normal(3)
    g = numerical_grad(loss, (params, x, y))
    r = 2 * (params["w"] @ x + params["b"][0] - y)
    assert tree.structure(g) == tree.structure(params)
    np.testing.assert_allclose(g["w"], np.outer(r, x), atol=1e-7)
    np.testing.assert_allclose(g["b"][0], r, atol=1e-7)
    assert type(g["b"][1]) is float and g["b"][1] == pytest.approx(3.0, rel=1e-8)


def test_numerical_grad_wrt_a_tuple():
    def f(x, y, z):
        return x * np.sum(y ** 3) * z

    y = np.array([1.0, 2.0])
    gx, gz = numerical_grad(f, (2.0, y, 5.0), wrt=(0, 2))
    assert gx == pytest.approx(9.0 * 5.0, rel=1e-8)
    assert gz == pytest.approx(2.0 * 9.0, rel=1e-8)


def test_numerical_grad_keeps_dtypes_and_zeroes_integer_leaves():
    def f(p):
        return np.sum(p[0] ** 2) * p[1] + p[2]

    p = (np.array([1.0, 2.0], np.float32), np.float32(3.0), 4)
    g = numerical_grad(f, (p,))
    assert g[0].dtype == np.float32 and type(g[1]) is np.float32
    np.testing.assert_allclose(g[0], [6.0, 12.0], rtol=1e-6)
    assert g[1] == pytest.approx(5.0, rel=1e-6)
    assert g[2] == 0.0 and type(g[2]) is float


def test_numerical_grad_needs_a_scalar_function():
    with pytest.raises(ValueError, match="scalar-valued"):
        numerical_grad(np.sin, (np.ones(3),))


# --- check_grads against reference derivatives ------------------------------------
#
# check_grads is tested with stand-ins for tangent2.jvp and tangent2.vjp built
# from a fourth-order finite-difference stencil: accurate enough (about 1e-12)
# to pass check_grads to order 2, and independent of the compiler.

STENCIL_STEP = 1e-3


def reference_jvp(f, primals, tangents):
    primals, tangents = tuple(primals), tuple(tangents)

    def at(step):
        return f(*tree.tree_map(lambda x, t: x + step * t, primals, tangents))

    h = STENCIL_STEP
    terms = [(at(2 * h), -1.0), (at(h), 8.0), (at(-h), -8.0), (at(-2 * h), 1.0)]
    out_tangent = tree.tree_map(
        lambda *values: sum(c * v for v, (_, c) in zip(values, terms)) / (12 * h),
        *[value for value, _ in terms])
    return f(*primals), out_tangent


def reference_vjp(f, *primals):
    def pullback(cotangent):
        cotangents = []
        for i, arg in enumerate(primals):
            arg_leaves, arg_def = tree.flatten(arg)
            grads = []
            for j, leaf in enumerate(arg_leaves):
                g = np.zeros(np.shape(leaf))
                for k in np.ndindex(g.shape):
                    unit = [np.zeros(np.shape(x)) for x in arg_leaves]
                    unit[j][k] = 1.0
                    tangents = [tree.zeros_like(a) for a in primals]
                    tangents[i] = tree.unflatten(arg_def, unit)
                    column = reference_jvp(f, primals, tangents)[1]
                    g[k] = sum(np.sum(c * d) for c, d in
                               zip(tree.leaves(cotangent), tree.leaves(column)))
                grads.append(g if isinstance(leaf, np.ndarray) else float(g))
            cotangents.append(tree.unflatten(arg_def, grads))
        return tuple(cotangents)

    return f(*primals), pullback


@pytest.fixture
def reference_ad(monkeypatch):
    monkeypatch.setattr(tangent2, "jvp", reference_jvp, raising=False)
    monkeypatch.setattr(tangent2, "vjp", reference_vjp, raising=False)


def mlp(params, x):
    return np.tanh(params.w @ x + params.b)


def mlp_args():
    rng = np.random.default_rng(3)
    return (Params(rng.standard_normal((2, 3)), rng.standard_normal(2)), rng.standard_normal(3))


@pytest.mark.usefixtures("reference_ad")
def test_check_grads_passes_correct_derivatives():
    check_grads(np.sin, (np.linspace(-1.0, 1.0, 4),), order=1)
    check_grads(mlp, mlp_args(), order=1)
    check_grads(lambda x, y: {"a": x * y, "b": [np.exp(x)]}, (0.5, np.ones(2)), order=1)


@pytest.mark.usefixtures("reference_ad")
def test_check_grads_skips_integer_arguments():
    check_grads(lambda x, n: x ** n, (np.array([0.5, 2.0]), 3), order=1)


def test_check_grads_reports_a_wrong_forward_derivative(monkeypatch):
    def wrong_jvp(f, primals, tangents):
        out, out_tangent = reference_jvp(f, primals, tangents)
        return out, tree.tree_map(lambda t: 1.01 * t, out_tangent)

    monkeypatch.setattr(tangent2, "jvp", wrong_jvp, raising=False)
    with pytest.raises(AssertionError) as info:
        check_grads(mlp, mlp_args(), order=1, modes=("fwd",))
    message = str(info.value)
    assert "fwd mode, order 1: jvp of f for argument 0: output tangent" in message
    assert "abs error" in message and "at index (" in message
    assert "expected" in message and "got" in message


def test_check_grads_reports_the_wrong_argument(monkeypatch):
    def wrong_vjp(f, *primals):
        out, pullback = reference_vjp(f, *primals)
        return out, lambda ct: (pullback(ct)[0], -pullback(ct)[1])

    monkeypatch.setattr(tangent2, "vjp", wrong_vjp, raising=False)
    with pytest.raises(AssertionError, match="rev mode, order 1: vjp of f for argument 1"):
        check_grads(lambda x, y: x * np.sin(y), (np.ones(2), np.ones(2)), order=1,
                    modes=("rev",))


def test_check_grads_reports_a_wrong_second_derivative(monkeypatch):
    def wrong_jvp(f, primals, tangents):
        out, out_tangent = reference_jvp(f, primals, tangents)
        if f.__name__.endswith("_vjp"):
            out_tangent = tree.tree_map(lambda t: 2 * t, out_tangent)
        return out, out_tangent

    monkeypatch.setattr(tangent2, "jvp", wrong_jvp, raising=False)
    monkeypatch.setattr(tangent2, "vjp", reference_vjp, raising=False)
    check_grads(np.sin, (np.ones(2),), order=1)
    with pytest.raises(AssertionError, match=r"fwd mode, order 2: jvp of vjp\(f\)"):
        check_grads(np.sin, (np.ones(2),), order=2)


def test_check_grads_reports_structure_mismatches(monkeypatch):
    def wrong_jvp(f, primals, tangents):
        out, out_tangent = reference_jvp(f, primals, tangents)
        return out, list(out_tangent)

    def wrong_vjp(f, *primals):
        out, pullback = reference_vjp(f, *primals)
        return out, lambda ct: (list(pullback(ct)[0]),)

    monkeypatch.setattr(tangent2, "jvp", wrong_jvp, raising=False)
    monkeypatch.setattr(tangent2, "vjp", wrong_vjp, raising=False)

    def f(p):
        return (p[0] * p[1], p[1])

    with pytest.raises(AssertionError, match=r"got structure \[\*, \*\], expected \(\*, \*\)"):
        check_grads(f, ((1.0, 2.0),), order=1, modes=("fwd",))
    with pytest.raises(AssertionError, match=r"cotangent has structure \[\*, \*\]"):
        check_grads(f, ((1.0, 2.0),), order=1, modes=("rev",))


def test_check_grads_tolerances_follow_the_argument_dtype(monkeypatch):
    def slightly_wrong_jvp(f, primals, tangents):
        out, out_tangent = reference_jvp(f, primals, tangents)
        return out, tree.tree_map(lambda t: t * (1 + 1e-4), out_tangent)

    monkeypatch.setattr(tangent2, "jvp", slightly_wrong_jvp, raising=False)
    x = np.linspace(0.1, 1.0, 3)
    check_grads(np.sin, (x.astype(np.float32),), order=1, modes=("fwd",))
    with pytest.raises(AssertionError):
        check_grads(np.sin, (x,), order=1, modes=("fwd",))
    check_grads(np.sin, (x,), order=1, modes=("fwd",), atol=1e-3, rtol=1e-3)


def test_check_grads_validates_its_arguments():
    with pytest.raises(ValueError, match="order"):
        check_grads(np.sin, (1.0,), order=0)
    with pytest.raises(ValueError, match="unknown modes"):
        check_grads(np.sin, (1.0,), modes=("forward",))


# --- check_grads on tangent2 itself -------------------------------------------------

needs_tangent2 = pytest.mark.skipif(
    not (hasattr(tangent2, "jvp") and hasattr(tangent2, "vjp")),
    reason="tangent2.jvp and tangent2.vjp are not available yet")


@needs_tangent2
def test_tangent2_polynomial():
    def f(x):
        return x ** 3 + 2 * x ** 2 - 3 * x + 1

    check_grads(f, (0.7,), order=2)


@needs_tangent2
def test_tangent2_elementwise_on_arrays():
    def f(x, y):
        return np.sin(x) * y + np.exp(-x ** 2)

    check_grads(f, (np.linspace(-1.0, 1.0, 4), np.arange(4.0)), order=2)


@needs_tangent2
def test_tangent2_tree_arguments():
    check_grads(mlp, mlp_args(), order=2)


@needs_tangent2
def test_tangent2_float32():
    def f(x):
        return np.sum(np.tanh(x) ** 2)

    check_grads(f, (np.linspace(-1.0, 1.0, 5, dtype=np.float32),), order=2)
