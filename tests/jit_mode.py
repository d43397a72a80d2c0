"""Jit mode for the test suites: every derivative a test calls also runs compiled, and must agree.

While a :class:`JitMode` is installed,

* calling a :class:`~tangent2.Derivative` from outside tangent2 (``tg.grad(f)(x)``,
  ``tg.hessian(f)(x)``, ``tg.vmap(g)(xs)``, also when test code such as
  ``numerical_grad`` calls it) runs the Python derivative, then
  ``tangent2.jit(derivative)`` on the same arguments; the two results must have the
  same tree structure, leaf shapes and dtypes and equal values (to rounding), the
  arguments must come back untouched, and the *compiled* result is returned, so the
  test's own assertions (finite differences, hand-derived values) check compiled code;
* ``tg.jvp(f, primals, tangents)`` also runs ``tangent2.jit`` of its ``"jvp"``
  Derivative, and the pullback of ``tg.vjp`` also runs its generated ``"vjp"``
  function compiled (``tangent2.api.generated_function``), compared the same way.

A Numba compile failure fails the test (a :class:`tangent2.jit.CompilationError`
propagates), unless the test is marked ``@pytest.mark.no_jit(reason=...)``: then
the Python result is used, and the test fails if nothing failed to compile (the
marker is stale). Every such test is listed with its reason in docs/jit.md.

Run a suite in jit mode with ``python -m pytest --jit tests/test_nested.py`` (or
``TANGENT2_TEST_JIT=1``); ``tests/conftest.py`` installs the mode for the suites
named in ``JIT_SUITES`` and for tests marked ``jit_smoke`` in every run.
``python tests/jit_mode.py samples/X.py`` runs a script with the mode installed.
"""
import os
import sys
import threading
import weakref

import numpy as np

import tangent2
from tangent2 import api, tree
from tangent2.derivative import Derivative
from tangent2.jit import CompilationError

_STATE = threading.local()


class JitMismatch(AssertionError):
    """The compiled derivative's result differs from the Python derivative's."""


class JitMode:
    """The patches of jit mode, and what they saw: ``checked`` derivative calls, ``failures`` to compile."""

    def __init__(self, expect_compile_failures=False):
        self.expect_compile_failures = expect_compile_failures
        self.checked = 0
        self.failures = []          # CompilationErrors tolerated under no_jit
        self._jitted = weakref.WeakKeyDictionary()   # Derivative or generated function -> JitFunction
        self._undo = []

    # ------------------------------------------------------------- installing
    def install(self):
        original_call = Derivative.__call__
        original_jvp, original_vjp = api.jvp, api.vjp
        mode = self

        def call(derivative, *args):
            if _inside() or not isinstance(derivative, Derivative):  # not a JitFunction's view of one
                return original_call(derivative, *args)
            return mode._check_derivative(original_call, derivative, args)

        def jvp(f, primals, tangents):
            if _inside():
                return original_jvp(f, primals, tangents)
            return mode._check_jvp(original_jvp, f, primals, tangents)

        def vjp(f, *primals, has_aux=False):
            result = original_vjp(f, *primals, has_aux=has_aux)
            if _inside():
                return result
            return (result[0], mode._checked_pullback(f, primals, result[1])) + tuple(result[2:])

        # normalization evaluates tg.jvp / tg.vjp inside differentiated code by this name
        jvp.__tangent2_transform__ = "jvp"
        vjp.__tangent2_transform__ = "vjp"
        for owner, name, value in ((Derivative, "__call__", call), (api, "jvp", jvp), (api, "vjp", vjp),
                                   (tangent2, "jvp", jvp), (tangent2, "vjp", vjp)):
            self._undo.append((owner, name, getattr(owner, name)))
            setattr(owner, name, value)
        return self

    def uninstall(self):
        while self._undo:
            owner, name, value = self._undo.pop()
            setattr(owner, name, value)

    def __enter__(self):
        return self.install()

    def __exit__(self, *exc):
        self.uninstall()

    # --------------------------------------------------------------- checking
    def _compiled(self, key, make):
        jitted = self._jitted.get(key)
        if jitted is None:
            jitted = self._jitted[key] = make()
        return jitted

    def _check_derivative(self, original_call, derivative, args):
        before = api._copies(args)
        with _Inside():
            expected = original_call(derivative, *args)
        what = f"tangent2.jit({_describe(derivative)})"
        got = self._run_compiled(lambda: self._compiled(derivative, lambda: tangent2.jit(derivative))(*args), what)
        if got is _FAILED:
            return expected
        _compare(expected, got, what)
        _compare(before, args, f"the arguments after {what}", exact=True)
        return got

    def _check_jvp(self, original_jvp, f, primals, tangents):
        primals, tangents = tuple(primals), tuple(tangents)
        before = api._copies((primals, tangents))
        with _Inside():
            expected = original_jvp(f, primals, tangents)
        wrt = tuple(i for i, p in enumerate(primals) if api._has_float_leaves(p))
        derivative = api._derivative(f, "jvp", wrt)
        what = f"tangent2.jit({_describe(derivative)})"
        got = self._run_compiled(
            lambda: self._compiled(derivative, lambda: tangent2.jit(derivative))(primals, tangents), what)
        if got is _FAILED:
            return expected
        _compare(expected, got, what)
        _compare(before, (primals, tangents), f"the arguments after {what}", exact=True)
        return got

    def _checked_pullback(self, f, primals, pullback):
        mode = self

        def checked(cotangent):
            result = pullback(cotangent)
            with _Inside():
                function, flat = api.generated_function(f, "vjp", primals, cotangent)
                expected = function(*api._copies(flat))
            what = f"tangent2.jit({function.__name__}) (the generated vjp of {getattr(f, '__name__', f)!r})"
            got = mode._run_compiled(lambda: mode._compiled(function, lambda: tangent2.jit(function))(*flat), what)
            if got is not _FAILED:
                _compare(expected, got, what)
            return result
        return checked

    def _run_compiled(self, run, what):
        self.checked += 1
        try:
            with _Inside():
                return run()
        except CompilationError as error:
            if not self.expect_compile_failures:
                raise
            self.failures.append((what, error))
            return _FAILED


_FAILED = object()


class _Inside:
    """Marks tangent2's own calls of Derivatives (the jitted call runs Derivative.__call__ on a view)."""

    def __enter__(self):
        _STATE.depth = getattr(_STATE, "depth", 0) + 1

    def __exit__(self, *exc):
        _STATE.depth -= 1


def _inside():
    return getattr(_STATE, "depth", 0) > 0


def _describe(derivative):
    target = derivative.target
    name = _describe(target) if isinstance(target, Derivative) else getattr(target, "__name__", repr(target))
    return f"{derivative.kind}({name})"


def _compare(expected, got, what, exact=False):
    """Same structure, leaf kinds, shapes, dtypes, and values equal to rounding (bit for bit with ``exact``)."""
    e_leaves, e_def = tree.flatten(expected)
    g_leaves, g_def = tree.flatten(got)
    if e_def != g_def:
        raise JitMismatch(f"{what} returned a tree of structure {g_def}, the Python derivative {e_def}")
    for i, (e, g) in enumerate(zip(e_leaves, g_leaves)):
        where = f"{what}: leaf {i} of {e_def}"
        if isinstance(e, np.ndarray) and e.ndim > 0:
            if not isinstance(g, np.ndarray) or g.shape != e.shape:
                raise JitMismatch(f"{where} is {_kind(g)}, the Python derivative's {_kind(e)}")
        elif np.ndim(g) != 0:
            raise JitMismatch(f"{where} is {_kind(g)}, the Python derivative's {_kind(e)}")
        if np.result_type(g) != np.result_type(e) and not _boxed_by_numba(e, g):
            raise JitMismatch(f"{where} has dtype {np.result_type(g)}, the Python derivative's {np.result_type(e)}")
        if exact:
            same = np.array_equal(e, g, equal_nan=True)
        elif np.issubdtype(np.result_type(e), np.inexact):
            # float32: Numba computes some intermediates in float64 and sums in another order than NumPy
            rtol = 1e-4 if np.result_type(e) in (np.float32, np.complex64) else 1e-10
            scale = np.max(np.abs(e), initial=1.0, where=np.isfinite(e)) if np.size(e) else 1.0
            same = np.allclose(g, e, rtol=rtol, atol=rtol * 1e-2 * scale, equal_nan=True)
        else:
            same = np.array_equal(e, g)
        if not same:
            difference = np.max(np.abs(np.asarray(g, dtype=complex) - np.asarray(e, dtype=complex)), initial=0.0)
            raise JitMismatch(f"{where} differs from the Python derivative's by up to {difference:.3g}:\n"
                              f"compiled {g!r}\npython   {e!r}")


def _boxed_by_numba(expected, got):
    """Numba returns float32 and complex64 scalars as Python floats and complexes (docs/jit.md)."""
    return np.ndim(expected) == 0 and (
        (type(got) is float and np.result_type(expected) == np.float32) or
        (type(got) is complex and np.result_type(expected) == np.complex64))


def _kind(leaf):
    if isinstance(leaf, np.ndarray):
        return f"an array of shape {leaf.shape}"
    return f"a {type(leaf).__name__} scalar"


def main(argv):
    """``python tests/jit_mode.py script.py [args]``: run ``script.py`` as ``__main__`` in jit mode
    (with ``TANGENT2_TEST_JIT_EXPECT_FAILURES=1``, compile failures are listed instead of raised)."""
    import runpy
    script = argv[1]
    sys.argv = argv[1:]
    sys.path.insert(0, str(__import__("pathlib").Path(script).resolve().parent))
    expect = os.environ.get("TANGENT2_TEST_JIT_EXPECT_FAILURES", "") not in ("", "0")
    with JitMode(expect_compile_failures=expect) as mode:
        try:
            runpy.run_path(script, run_name="__main__")
        except SystemExit as exit:
            if exit.code not in (None, 0):
                raise
    for what, error in mode.failures:
        print(f"jit mode: could not compile {what}: {error.reason}", file=sys.stderr)
    print(f"jit mode: {mode.checked - len(mode.failures)} derivative calls compiled and matched, "
          f"{len(mode.failures)} did not compile", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv)
