"""tangent2.jit's unrolled per-call entry for gradients over trees (jit.py ``_unrolled_grad_entry``): later
calls take the trees apart in generated straight-line code; the results must equal the Python derivative's,
with the same containers and dtypes, and other structures must still take the general path."""
import collections

import numpy as np

import tangent2 as tg
from tangent2.testing import numerical_grad

Layer = collections.namedtuple("Layer", ["w", "b"])


def loss(params, x):
    h = np.tanh(x * params["first"].w + params["first"].b)
    s = params["scale"][0] * np.sum(h ** 2) + params["scale"][1] * params["shift"]
    return s + np.sum(params["extra"] * x)


def _params(dtype=np.float64):
    return {"first": Layer(np.array([0.5, -1.0, 2.0], dtype=dtype), np.array([0.1, 0.2, -0.3], dtype=dtype)),
            "scale": [1.5, np.array(0.5)], "shift": 0.25, "extra": np.array([1.0, 2.0, 3.0], dtype=dtype)}


def _check_same(got, expected, strict=False):
    """Same containers, values and array dtypes; ``strict``: the very same leaf types too (the unrolled entry
    against tangent2.jit's general path; scalar leaves may be np.float64 in Python mode, float compiled)."""
    if strict or isinstance(expected, (dict, tuple, list, np.ndarray)):
        assert type(got) is type(expected)
    if isinstance(expected, dict):
        assert sorted(got) == sorted(expected)
        for key in expected:
            _check_same(got[key], expected[key], strict)
    elif isinstance(expected, (tuple, list)):
        assert len(got) == len(expected)
        for a, b in zip(got, expected):
            _check_same(a, b, strict)
    else:
        if isinstance(expected, np.ndarray):
            assert got.dtype == expected.dtype
        np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_unrolled_entry_matches_the_python_gradient():
    x = np.array([0.3, -0.2, 0.7])
    params = _params()
    jitted = tg.jit(tg.grad(loss))
    expected = tg.grad(loss)(params, x)
    first = jitted(params, x)                 # the general path; it builds the unrolled entry
    assert (dict, np.ndarray) in jitted._fast
    second = jitted(params, x)                # the unrolled entry
    _check_same(first, expected)
    _check_same(second, first, strict=True)
    # against finite differences, leaf by leaf (independent of both code paths)
    w_numeric = numerical_grad(lambda w: loss(dict(params, first=Layer(w, params["first"].b)), x),
                               (params["first"].w,))
    np.testing.assert_allclose(second["first"].w, w_numeric, rtol=1e-6)
    shift_numeric = numerical_grad(lambda s: loss(dict(params, shift=s), x), (0.25,))
    np.testing.assert_allclose(second["shift"], shift_numeric, rtol=1e-6)
    # hand-derived: d/d extra = x, d/d shift = scale[1]
    np.testing.assert_allclose(second["extra"], x, rtol=1e-12)
    np.testing.assert_allclose(second["shift"], 0.5, rtol=1e-12)

    # float32 leaves keep their dtype through the unrolled entry
    params32 = _params(np.float32)
    general32 = jitted(params32, x)
    got32 = jitted(params32, x)
    _check_same(got32, tg.grad(loss)(params32, x))
    _check_same(got32, general32, strict=True)


def test_other_structures_with_the_same_top_level_types_take_the_general_path():
    x = np.array([0.3, -0.2, 0.7])
    jitted = tg.jit(tg.grad(loss))
    params = _params()
    jitted(params, x)
    jitted(params, x)
    bigger = dict(params, unused=np.ones(2))            # one more key: a different generated function
    _check_same(jitted(bigger, x), tg.grad(loss)(bigger, x))
    swapped = dict(params, shift=np.array([0.25, 0.5, 1.0]))   # a scalar leaf that is now an array
    _check_same(jitted(swapped, x), tg.grad(loss)(swapped, x))
    _check_same(jitted(params, x), tg.grad(loss)(params, x))
