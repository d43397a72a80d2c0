"""Finite differences, and ``check_grads``: tangent2's derivatives against them.

Arguments and outputs may be trees (see ``tangent2.tree``).  Finite
differences are taken in float64 where the function allows: float32 (and
float16) inputs are promoted before the function is evaluated.  Integer and
bool leaves are never perturbed; their derivatives are zero.  Values are
assumed real.
"""
import numpy as np

from . import tree

# Default finite-difference step, by the itemsize of the least precise float output.
_EPS = {2: 1e-2, 4: 1e-3, 8: 1e-6}

# Default atol and rtol of check_grads, by the itemsize of the least precise float argument.
_TOLERANCE = {2: 5e-2, 4: 2e-3, 8: 1e-5}


def numerical_jvp(f, args, tangents, eps=None):
    """Central-difference ``J(args) @ tangents`` of ``f(*args)``, a tree like ``f``'s output.

    ``eps`` defaults to 1e-6 where ``f`` computes in float64 and to 1e-3 where
    it keeps float32 even for float64 inputs.
    """
    f = _on_copies(f)
    primals = _promote(tuple(args))
    if eps is None:
        eps = _default(_EPS, f(*primals))
    return _central_difference(f, primals, tuple(tangents), eps)


def numerical_grad(f, args, wrt=0, eps=None):
    """Central-difference gradient of scalar ``f(*args)`` w.r.t. ``args[wrt]``, a tree like it.

    ``wrt`` may be a tuple of indices, giving a tuple of gradients.
    """
    if isinstance(wrt, tuple):
        return tuple(numerical_grad(f, args, i, eps) for i in wrt)
    f = _on_copies(f)
    primals = _promote(tuple(args))
    out = f(*primals)
    if not tree.is_leaf(out) or np.ndim(out) != 0:
        raise ValueError(
            f"numerical_grad needs a scalar-valued function, got output {_describe(out)}")
    if eps is None:
        eps = _default(_EPS, out)
    x_leaves, x_def = tree.flatten(args[wrt])
    unit = [np.zeros(np.shape(x)) for x in x_leaves]
    tangents = [tree.zeros_like(a) for a in args]

    def directional(leaf_index, element):
        unit[leaf_index][element] = 1.0
        tangents[wrt] = tree.unflatten(x_def, unit)
        slope = _central_difference(f, primals, tuple(tangents), eps)
        unit[leaf_index][element] = 0.0
        return slope

    grads = []
    for j, x in enumerate(x_leaves):
        zero = tree.zeros_like(x)
        if not _is_inexact(x):
            grads.append(zero)
            continue
        g = np.array([directional(j, k) for k in np.ndindex(np.shape(x))], dtype=np.float64)
        grads.append(_like(zero, g.reshape(np.shape(x))))
    return tree.unflatten(x_def, grads)


def _on_copies(f):
    """``f`` called on copies of its array arguments, so a function writing into them changes nothing."""
    def call(*args):
        return f(*tree.tree_map(lambda x: x.copy() if isinstance(x, np.ndarray) else x, args))
    return call


def check_grads(f, args, order=2, modes=("fwd", "rev"), atol=None, rtol=None, eps=None):
    """Check ``tangent2.jvp`` and ``tangent2.vjp`` of ``f`` at ``args`` against finite differences.

    Order 1 compares, for each differentiable argument and a random direction
    ``v``, the forward-mode tangent with ``numerical_jvp`` and the reverse-mode
    ``<pullback(ct), v>`` with ``<ct, numerical_jvp>``.  Order ``n`` also checks
    the derivative functions (``jvp`` along a fixed random tangent, the
    pullback of a fixed random cotangent) to order ``n - 1``, in every mode.
    Raises ``AssertionError`` describing the first disagreement.
    """
    import tangent2

    args = tuple(args)
    if order < 1:
        raise ValueError(f"order must be at least 1, got {order}")
    unknown = set(modes) - {"fwd", "rev"}
    if unknown:
        raise ValueError(f"unknown modes {sorted(unknown)}; expected 'fwd' and/or 'rev'")
    tolerance = _default(_TOLERANCE, args)
    checker = _Checker(
        tangent2, modes, tolerance if atol is None else atol,
        tolerance if rtol is None else rtol, eps, np.random.default_rng(0))
    checker.check(f, "f", args, order, 1)


class _Checker:
    """The fixed settings of one check_grads call, and its random directions."""

    def __init__(self, tg, modes, atol, rtol, eps, rng):
        import tangent2.api  # noqa: F401  (self.tg.api)
        self.tg = tg
        self.modes = modes
        self.atol = atol
        self.rtol = rtol
        self.eps = eps
        self.rng = rng

    def check(self, f, name, args, order, level):
        if "fwd" in self.modes:
            self.check_jvp(f, name, args, level)
            if order > 1:
                # The generated JVP function, of the primal and tangent leaves, is differentiated in turn.
                tangents = self.random_like(args)
                function, leaves = self.tg.api.generated_function(f, "jvp", args, tangents)
                self.check(function, f"jvp({name})", leaves, order - 1, level + 1)
        if "rev" in self.modes:
            self.check_vjp(f, name, args, level)
            if order > 1:
                cotangent = self.random_like(f(*args))
                function, leaves = self.tg.api.generated_function(f, "vjp", args, cotangent)
                self.check(function, f"vjp({name})", leaves, order - 1, level + 1)

    def check_jvp(self, f, name, args, level):
        expected_out = f(*args)
        for i in _differentiable(args):
            where = f"fwd mode, order {level}: jvp of {name} for argument {i}"
            tangents = self.direction(args, i)
            out, out_tangent = self.tg.jvp(f, args, tangents)
            self.assert_close(out, expected_out, f"{where}: primal output")
            expected = numerical_jvp(f, args, tangents, self.eps)
            self.assert_close(out_tangent, expected, f"{where}: output tangent")

    def check_vjp(self, f, name, args, level):
        where = f"rev mode, order {level}: vjp of {name}"
        out, pullback = self.tg.vjp(f, *args)
        self.assert_close(out, f(*args), f"{where}: primal output")
        cotangent = self.random_like(out)
        input_cotangents = tuple(pullback(cotangent))
        if len(input_cotangents) != len(args):
            raise AssertionError(
                f"{where}: the pullback returned {len(input_cotangents)} cotangents "
                f"for {len(args)} arguments")
        for i in _differentiable(args):
            got_def = tree.structure(input_cotangents[i])
            if got_def != tree.structure(args[i]):
                raise AssertionError(
                    f"{where} for argument {i}: cotangent has structure {got_def}, "
                    f"expected {tree.structure(args[i])}")
            tangents = self.direction(args, i)
            expected = _inner(cotangent, numerical_jvp(f, args, tangents, self.eps))
            got = _inner(input_cotangents[i], tangents[i])
            self.assert_close(
                got, expected, f"{where} for argument {i}: <cotangent, J v> (v random)")

    def direction(self, args, i):
        """Tangents for ``args``: random for argument ``i``, zero for the others."""
        return tuple(self.random_like(a) if j == i else tree.zeros_like(a)
                     for j, a in enumerate(args))

    def random_like(self, x):
        """A standard normal tree like ``x``, keeping dtypes and scalar types; zero for integers."""
        return tree.tree_map(self._random_leaf, x)

    def _random_leaf(self, x):
        zero = tree.zeros_like(x)
        if not _is_inexact(x):
            return zero
        return _like(zero, self.rng.standard_normal(np.shape(x)))

    def assert_close(self, got, expected, what):
        got_leaves, got_def = tree.flatten(got)
        expected_leaves, expected_def = tree.flatten(expected)
        if got_def != expected_def:
            raise AssertionError(
                f"{what}: got structure {got_def}, expected {expected_def}")
        for k, (g, e) in enumerate(zip(got_leaves, expected_leaves)):
            leaf = f" (leaf {k} of {got_def})" if got_def.num_leaves > 1 else ""
            if np.shape(g) != np.shape(e):
                raise AssertionError(
                    f"{what}{leaf}: got shape {np.shape(g)}, expected {np.shape(e)}")
            g64 = np.asarray(g, dtype=np.float64)
            e64 = np.asarray(e, dtype=np.float64)
            error = np.abs(g64 - e64)
            bad = ~(error <= self.atol + self.rtol * np.abs(e64))
            if np.any(bad):
                worst = tuple(int(i) for i in np.unravel_index(
                    np.argmax(np.where(bad, error, -1.0)), bad.shape))
                at = f" at index {worst}" if bad.ndim else ""
                raise AssertionError(
                    f"{what}{leaf} disagrees with finite differences:\n"
                    f"  abs error {error[worst]:.3g}{at} (expected {e64[worst]:.6g}, "
                    f"got {g64[worst]:.6g}); atol={self.atol:g}, rtol={self.rtol:g}, "
                    f"{np.count_nonzero(bad)} of {bad.size} elements off\n"
                    f"  expected {_abbreviate(e64)}\n"
                    f"  got      {_abbreviate(g64)}")


def _central_difference(f, primals, tangents, eps):
    plus = f(*_shift(primals, tangents, eps))
    minus = f(*_shift(primals, tangents, -eps))
    return tree.tree_map(lambda p, m: _slope(p, m, 2 * eps), plus, minus)


def _shift(primals, tangents, step):
    return tree.tree_map(
        lambda x, t: x + step * _promote_leaf(t) if _is_inexact(x) else x,
        primals, tangents)


def _slope(plus, minus, width):
    if not _is_inexact(plus):
        return tree.zeros_like(plus)
    return (plus - minus) / width


def _promote(args):
    """``args`` with float16/float32 leaves promoted to float64 (complex64 to complex128)."""
    return tree.tree_map(_promote_leaf, args)


def _promote_leaf(x):
    if isinstance(x, (np.ndarray, np.generic)) and np.issubdtype(x.dtype, np.inexact):
        wide = np.promote_types(x.dtype, np.float64)
        return x.astype(wide) if isinstance(x, np.ndarray) else wide.type(x)
    return x


def _is_inexact(x):
    return np.issubdtype(np.result_type(x), np.inexact)


def _differentiable(args):
    """Indices of the arguments with at least one floating leaf."""
    return [i for i, a in enumerate(args) if any(map(_is_inexact, tree.leaves(a)))]


def _default(table, x):
    """``table``'s entry for the lowest-precision float leaf of ``x`` (float64 if none)."""
    sizes = [np.finfo(np.result_type(leaf)).bits // 8
             for leaf in tree.leaves(x) if _is_inexact(leaf)]
    return table[min(sizes, default=8)]


def _like(zero, values):
    """``values`` with the dtype and scalar type of ``zero``."""
    if isinstance(zero, np.ndarray):
        return np.asarray(values, dtype=zero.dtype)
    return type(zero)(values)


def _inner(a, b):
    """The real inner product of two trees of the same structure, in float64."""
    products = tree.tree_map(
        lambda x, y: np.vdot(np.asarray(x, np.float64), np.asarray(y, np.float64)), a, b)
    return float(sum(tree.leaves(products)))


def _abbreviate(x):
    return np.array2string(x, threshold=6, edgeitems=2, precision=6, separator=", ",
                           max_line_width=100, prefix="  expected ")


def _describe(x):
    if tree.is_leaf(x):
        return f"of shape {np.shape(x)}"
    return f"with structure {tree.structure(x)}"
