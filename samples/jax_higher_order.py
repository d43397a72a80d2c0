"""JAX seed, "Higher-order derivatives" (and the Hessian-vector products it points to).

* The derivatives of ``f(x) = x**3 + 2*x**2 - 3*x + 1`` by chaining ``tg.grad``
  (the seed's ``jax.grad(jax.grad(...))``): 4, 10, 6, 0 at ``x = 1``; also by
  forward mode (``tg.jvp``) and by mixing the two modes.
* The seed's ``hessian(f) = jacfwd(grad(f))`` on ``f(x) = dot(x, x)`` at
  ``[1, 2, 3]``: ``2 I``; the same with ``tg.hessian`` and with
  ``jacfwd(jacrev(f))``, ``jacrev(jacfwd(f))``, ``jacrev(jacrev(f))``, in float32
  as in the seed's printed ``dtype=float32``.
* Hessian-vector products without forming the Hessian (the Autodiff Cookbook
  trick the seed recommends): ``tg.hvp`` (forward over reverse), and written
  out by hand as forward-over-reverse ``jvp(grad(f), (x,), (v,))``,
  reverse-over-reverse ``grad(lambda x: dot(grad(f)(x), v))`` and
  reverse-over-forward ``grad(lambda x: jvp(f, (x,), (v,))[1])``; all equal
  ``H @ v`` and finite differences of the gradient.

    python samples/jax_higher_order.py
"""
import sys
import traceback

import numpy as np

import tangent2 as tg
from tangent2.testing import numerical_grad, numerical_jvp

FAILURES = []


def check(what, error, tol):
    ok = bool(error <= tol)
    print(f"{'ok  ' if ok else 'FAIL'} {what}: {error:.3g} (tolerance {tol:g})")
    if not ok:
        FAILURES.append(what)


def check_that(what, condition, detail=""):
    print(f"{'ok  ' if condition else 'FAIL'} {what}{': ' + detail if detail else ''}")
    if not condition:
        FAILURES.append(what)


def attempt(what, fn):
    """``fn()``, or None after reporting the exception as a failed check."""
    try:
        return fn()
    except Exception as e:  # noqa: BLE001  a tangent2 bug must fail the sample clearly, not crash it
        print(f"FAIL {what}: raised {type(e).__name__}: {str(e).splitlines()[0]}")
        traceback.print_exc(limit=-3)
        FAILURES.append(what)
        return None


f = lambda x: x**3 + 2*x**2 - 3*x + 1  # noqa: E731  the seed's lambda


def dot_product(x):
    return np.dot(x, x)


def hessian(f):
    """The seed's definition."""
    return tg.jacfwd(tg.grad(f))


def g(x):
    """A function with a dense, non-constant Hessian for the Hessian-vector products."""
    return np.sum(np.tanh(x) * x ** 2) + np.sum(x) ** 3 / 6


def hvp_forward_over_reverse(f, x, v):
    return tg.jvp(tg.grad(f), (x,), (v,))[1]


def hvp_reverse_over_reverse(f, x, v):
    return tg.grad(lambda x: np.dot(tg.grad(f)(x), v))(x)


def hvp_reverse_over_forward(f, x, v):
    return tg.grad(lambda x: tg.jvp(f, (x,), (v,))[1])(x)


def forward(h):
    """The derivative of a scalar function by forward mode."""
    return lambda x: tg.jvp(h, (x,), (1.0,))[1]


def main():
    # --- the cubic, to order four
    dfdx = tg.grad(f)
    d2fdx = tg.grad(dfdx)
    d3fdx = tg.grad(d2fdx)
    d4fdx = tg.grad(d3fdx)
    expected = [4.0, 10.0, 6.0, 0.0]
    print("reverse mode:", [dfdx(1.), d2fdx(1.), d3fdx(1.), d4fdx(1.)])
    for order, (d, want) in enumerate(zip((dfdx, d2fdx, d3fdx, d4fdx), expected), start=1):
        check(f"order {order} derivative of the cubic at 1.0 by grad^{order} (seed: {want})", abs(d(1.) - want), 0)
    chains = {"jvp^4": (forward,) * 4, "grad, jvp, grad, jvp": (tg.grad, forward) * 2,
              "jvp, jvp, grad, grad": (forward, forward, tg.grad, tg.grad)}
    for name, chain in chains.items():
        h, got = f, []
        for step in chain:
            h = step(h)
            got.append(attempt(f"{name}: order {len(got) + 1}", lambda: h(1.0)))
        if None not in got:
            print(f"{name}: {got}")
            check(f"largest |derivative - seed value| at orders 1-4 by {name}",
                  max(abs(a - b) for a, b in zip(got, expected)), 0)
    x = 0.37
    for order, (d, exact) in enumerate(zip((dfdx, d2fdx, d3fdx, d4fdx), (3*x**2 + 4*x - 3, 6*x + 4, 6.0, 0.0)), 1):
        check(f"order {order} derivative at {x} against the hand derivative", abs(d(x) - exact), 1e-12)

    # --- the Hessian of dot(x, x) is 2 I
    x32 = np.array([1., 2., 3.], dtype=np.float32)
    H = hessian(dot_product)(x32)
    print("hessian(f)(jnp.array([1., 2., 3.])) =\n", repr(H))
    check("|jacfwd(grad(f)) - 2 I| on [1, 2, 3]", float(np.max(np.abs(H - 2 * np.eye(3)))), 0)
    check_that("jacfwd(grad(f)) keeps float32, as the seed's dtype=float32", H.dtype == np.float32, str(H.dtype))
    for name, make in (("tg.hessian(f)", tg.hessian), ("jacfwd(jacrev(f))", lambda h: tg.jacfwd(tg.jacrev(h))),
                       ("jacrev(jacfwd(f))", lambda h: tg.jacrev(tg.jacfwd(h))),
                       ("jacrev(jacrev(f))", lambda h: tg.jacrev(tg.jacrev(h)))):
        other = attempt(name, lambda: make(dot_product)(x32))
        if other is not None:
            check(f"|{name} - 2 I| on [1, 2, 3]", float(np.max(np.abs(other - 2 * np.eye(3)))), 0)
            check_that(f"{name} keeps float32", other.dtype == np.float32, str(other.dtype))

    # --- Hessian-vector products
    rng = np.random.default_rng(0)
    x, v = rng.normal(size=5), rng.normal(size=5)
    H = tg.hessian(g)(x)
    columns = np.array([numerical_jvp(tg.grad(g), (x,), (e,)) for e in np.eye(5)]).T
    check("∞-norm(hessian(g) - finite differences of grad(g))", float(np.max(np.abs(H - columns))), 1e-7)
    check("∞-norm(hessian(g) - hessian(g).T)", float(np.max(np.abs(H - H.T))), 1e-13)
    hv_fd = numerical_jvp(tg.grad(g), (x,), (v,))
    for name, hvp in (("tg.hvp(g)(x, v)", lambda: tg.hvp(g)(x, v)),
                      ("jvp(grad(g), (x,), (v,))", lambda: hvp_forward_over_reverse(g, x, v)),
                      ("grad(lambda x: dot(grad(g)(x), v))", lambda: hvp_reverse_over_reverse(g, x, v)),
                      ("grad(lambda x: jvp(g, (x,), (v,))[1])", lambda: hvp_reverse_over_forward(g, x, v))):
        hv = attempt(name, hvp)
        if hv is not None:
            check(f"∞-norm({name} - H @ v)", float(np.max(np.abs(hv - H @ v))), 1e-12)
            check(f"∞-norm({name} - finite differences of grad(g) along v)", float(np.max(np.abs(hv - hv_fd))), 1e-7)
    hv = tg.hvp(dot_product)(x32, x32)
    check("|tg.hvp(dot)(x, v) - 2 v|", float(np.max(np.abs(hv - 2 * x32))), 0)
    check_that("tg.hvp(dot)(x, v) keeps float32", hv.dtype == np.float32, str(hv.dtype))
    # The seed's cubic has a 1x1 Hessian: f''(1) = 10.
    check("|tg.hessian(cubic)(1.0) - 10|", abs(float(tg.hessian(f)(1.0)) - 10.0), 0)
    check("|grad(g) - finite differences|", float(np.max(np.abs(tg.grad(g)(x) - numerical_grad(g, (x,))))), 1e-8)

    print("all checks passed" if not FAILURES else f"{len(FAILURES)} check(s) FAILED")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
