"""The jit mode of the test suites (tests/jit_mode.py) catches what it is for: wrong compiled results,
compile failures, and stale no_jit markers; and it leaves tangent2 as it was when it is removed."""
import collections

import numpy as np
import pytest

import tangent2 as tg
from tangent2.derivative import Derivative
from tangent2.jit import CompilationError

from jit_mode import JitMismatch, JitMode, _compare

Pair = collections.namedtuple("Pair", "a b")


def quartic(x):
    return x ** 4 - 2.0 * x


def squeezed(x):
    return np.sum(np.squeeze(x) ** 2)   # no axis=: Numba cannot know the result's ndim


def test_a_derivative_call_runs_compiled_and_returns_the_compiled_result():
    original = Derivative.__call__
    with JitMode() as mode:
        assert tg.grad(quartic)(0.5) == pytest.approx(4 * 0.5 ** 3 - 2.0, rel=1e-14)
        assert mode.checked == 1
        jitted = mode._jitted[tg.grad(quartic)]
        assert jitted.dispatchers          # it really compiled
        _, tangent = tg.jvp(quartic, (0.5,), (2.0,))
        assert tangent == pytest.approx(2 * (4 * 0.5 ** 3 - 2.0), rel=1e-14)
        _, pullback = tg.vjp(quartic, 0.5)
        assert pullback(3.0)[0] == pytest.approx(3 * (4 * 0.5 ** 3 - 2.0), rel=1e-14)
        assert mode.checked == 3
    assert Derivative.__call__ is original and tg.jvp.__module__ == "tangent2.api"


def test_a_compile_failure_fails_unless_expected():
    x = np.ones((3, 1))
    with JitMode(), pytest.raises(CompilationError, match="squeeze"):
        tg.grad(squeezed)(x)
    with JitMode(expect_compile_failures=True) as mode:
        np.testing.assert_allclose(tg.grad(squeezed)(x), 2 * x)   # the Python result
    assert len(mode.failures) == 1 and "squeezed" in mode.failures[0][0]


@pytest.mark.parametrize("expected, got, message", [
    ((1.0, np.ones(2)), (1.0, np.ones(2) + 1e-6), "differs .* by up to 1e-06"),
    ((1.0, np.ones(2)), [1.0, np.ones(2)], "structure"),
    ({"a": np.ones(2)}, {"a": np.ones(3)}, "shape"),
    (Pair(np.ones(2), 1.0), Pair(np.ones(2, np.float32), 1.0), "dtype float32"),
    (np.ones(1), 1.0, "float scalar"),
])
def test_results_are_compared_in_structure_shape_dtype_and_value(expected, got, message):
    _compare(expected, expected, "same")
    with pytest.raises(JitMismatch, match=message):
        _compare(expected, got, "tangent2.jit(grad(f))")


def test_numba_boxed_float32_scalars_and_rounding_are_accepted():
    _compare((np.float32(1.5), np.ones(2)), (1.5, np.ones(2) * (1 + 1e-14)), "value_and_grad")
    with pytest.raises(JitMismatch, match="dtype float64"):
        _compare(np.float32(1.5), np.float64(1.5), "value")


@pytest.mark.no_jit(reason="np.squeeze(x) without axis= (checked by the marker: a test whose derivatives all "
                           "compile would fail)")
@pytest.mark.jit_smoke
def test_no_jit_marker_runs_the_python_derivative(_jit_mode):
    assert _jit_mode.expect_compile_failures
    np.testing.assert_allclose(tg.grad(squeezed)(np.full((2, 1), 3.0)), np.full((2, 1), 6.0))
    assert len(_jit_mode.failures) == 1


def test_a_stale_no_jit_marker_fails(pytester):
    here = __import__("pathlib").Path(__file__).parent
    pytester.makeconftest((here / "conftest.py").read_text())
    pytester.makepyfile(jit_mode=(here / "jit_mode.py").read_text())
    pytester.makepyfile(test_stale="""
        import pytest
        import tangent2 as tg

        def quartic(x):
            return x ** 4 - 2.0 * x

        @pytest.mark.jit_smoke
        @pytest.mark.no_jit(reason="it used to fail")
        def test_stale():
            assert tg.grad(quartic)(0.5) == 4 * 0.5 ** 3 - 2.0

        @pytest.mark.jit_smoke
        @pytest.mark.no_jit
        def test_no_reason():
            pass
    """)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(["*marked no_jit (it used to fail) but every derivative compiled*",
                                 "*no_jit needs reason=*"])
