"""JAX seed, "Stopping gradients", "Straight-through estimator using stop_gradient"
and "Per-example gradients".

* TD(0): the naive pseudo-loss ``(r_t + v(s_t) - v(s_tm1))**2`` has gradient
  ``[2.4, -2.4, 2.4]``; with ``tg.stop_gradient`` on the target it is the TD(0)
  update ``[-2.4, -4.8, 2.4]`` (theta = [0.1, -0.1, 0], s_tm1 = [1, 2, -1],
  r_t = 1, s_t = [2, 1, 0]), in float32 as in the seed.
* The straight-through estimator: ``grad(round)(3.2)`` is 0.0, the
  straight-through version's gradient is 1.0, and both values are 3.0.
* Per-example gradients of ``td_loss`` over a batch of two transitions:
  ``[[-2.4, -4.8, 2.4], [-2.4, -4.8, 2.4]]``, with ``theta`` shared
  (``in_axes=(None, 0, 0, 0)``) and with a batch of thetas; written as an
  explicit loop over the examples until ``tg.vmap`` exists; the seed's
  ``jax.jit`` is ``tg.jit`` of the gradient inside the loop, timed against the
  uncompiled loop (the seed's ``%timeit``; timings are printed, not checked).

    python samples/jax_stop_gradient.py
"""
import sys
import time
import traceback

import numpy as np

import tangent2 as tg
from tangent2.testing import numerical_grad

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


# ------------------------------------------------------------------ TD(0)
# Value function and initial parameters
value_fn = lambda theta, state: np.dot(theta, state)  # noqa: E731


def td_loss_naive(theta, s_tm1, r_t, s_t):
    v_tm1 = value_fn(theta, s_tm1)
    target = r_t + value_fn(theta, s_t)
    return (target - v_tm1) ** 2


def td_loss(theta, s_tm1, r_t, s_t):
    v_tm1 = value_fn(theta, s_tm1)
    target = r_t + value_fn(theta, s_t)
    return (tg.stop_gradient(target) - v_tm1) ** 2


def td_loss_fixed_target(theta, s_tm1, target):
    """``td_loss`` with the target passed in as a constant, for finite differences."""
    return (target - value_fn(theta, s_tm1)) ** 2


# ------------------------------------------------------------------ straight-through estimator
def f(x):
    return np.round(x)  # non-differentiable


def straight_through_f(x):
    # Create an exactly-zero expression with Sterbenz lemma that has
    # an exactly-one gradient.
    zero = x - tg.stop_gradient(x)
    return zero + tg.stop_gradient(f(x))


# ------------------------------------------------------------------ per-example gradients
def per_example(gradient, theta, s_tm1, r_t, s_t, theta_batched=False):
    """``vmap(gradient, in_axes=(0 if theta_batched else None, 0, 0, 0))``: the seed's perex_grads."""
    return tg.vmap(gradient, in_axes=(0 if theta_batched else None, 0, 0, 0))(theta, s_tm1, r_t, s_t)


def max_error(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def main():
    theta = np.array([0.1, -0.1, 0.], dtype=np.float32)
    # An example transition.
    s_tm1 = np.array([1., 2., -1.], dtype=np.float32)
    r_t = np.array(1., dtype=np.float32)
    s_t = np.array([2., 1., 0.], dtype=np.float32)

    # --- stop_gradient
    delta_naive = tg.grad(td_loss_naive)(theta, s_tm1, r_t, s_t)
    print("naive td_update:", repr(delta_naive))
    check("naive TD gradient vs the seed's [2.4, -2.4, 2.4]", max_error(delta_naive, [2.4, -2.4, 2.4]), 1e-6)
    td_update = tg.grad(td_loss)
    delta_theta = td_update(theta, s_tm1, r_t, s_t)
    print("td_update with stop_gradient:", repr(delta_theta))
    check("TD(0) update vs the seed's [-2.4, -4.8, 2.4]", max_error(delta_theta, [-2.4, -4.8, 2.4]), 1e-6)
    check_that("the TD(0) update is float32 like its inputs", delta_theta.dtype == np.float32, str(delta_theta.dtype))
    theta64, s_tm164, s_t64 = theta.astype(np.float64), s_tm1.astype(np.float64), s_t.astype(np.float64)
    check("naive TD gradient vs finite differences (float64)",
          max_error(tg.grad(td_loss_naive)(theta64, s_tm164, 1.0, s_t64),
                    numerical_grad(td_loss_naive, (theta64, s_tm164, 1.0, s_t64))), 1e-8)
    target = 1.0 + value_fn(theta64, s_t64)
    check("TD(0) update vs finite differences with the target held fixed (float64)",
          max_error(td_update(theta64, s_tm164, 1.0, s_t64),
                    numerical_grad(td_loss_fixed_target, (theta64, s_tm164, target))), 1e-8)
    check("td_loss and td_loss_naive have the same value", abs(td_loss(theta, s_tm1, r_t, s_t) -
                                                               td_loss_naive(theta, s_tm1, r_t, s_t)), 0)

    # --- straight-through estimator
    print("f(x): ", f(3.2))
    print("straight_through_f(x):", straight_through_f(3.2))
    print("grad(f)(x):", tg.grad(f)(3.2))
    print("grad(straight_through_f)(x):", tg.grad(straight_through_f)(3.2))
    check("|f(3.2) - 3.0|", abs(f(3.2) - 3.0), 0)
    check("|straight_through_f(3.2) - 3.0|", abs(straight_through_f(3.2) - 3.0), 0)
    check("|grad(f)(3.2) - 0.0|", abs(tg.grad(f)(3.2)), 0)
    check("|grad(straight_through_f)(3.2) - 1.0|", abs(tg.grad(straight_through_f)(3.2) - 1.0), 0)
    x = np.array([0.4, 1.6, -2.7], dtype=np.float32)
    st_grad = tg.grad(lambda x: np.sum(straight_through_f(x) * np.arange(1, 4)))(x)
    check("straight-through gradient of sum(st(x) * [1, 2, 3]) on an array is [1, 2, 3]",
          max_error(st_grad, [1, 2, 3]), 0)

    # --- per-example gradients
    batched_s_tm1 = np.stack([s_tm1, s_tm1])
    batched_r_t = np.stack([r_t, r_t])
    batched_s_t = np.stack([s_t, s_t])
    expected = [[-2.4, -4.8, 2.4], [-2.4, -4.8, 2.4]]

    dtdloss_dtheta = tg.grad(td_loss)
    row = dtdloss_dtheta(theta, s_tm1, r_t, s_t)
    check("dtdloss_dtheta(theta, s_tm1, r_t, s_t) vs [-2.4, -4.8, 2.4]", max_error(row, expected[0]), 1e-6)
    batched_theta = np.stack([theta, theta])
    almost = per_example(dtdloss_dtheta, batched_theta, batched_s_tm1, batched_r_t, batched_s_t, theta_batched=True)
    print("almost_perex_grads(batched_theta, ...) =\n", repr(almost))
    check("almost_perex_grads (theta batched) vs the seed", max_error(almost, expected), 1e-6)
    inefficient = per_example(dtdloss_dtheta, theta, batched_s_tm1, batched_r_t, batched_s_t)
    print("inefficient_perex_grads(theta, ...) =\n", repr(inefficient))
    check("inefficient_perex_grads (in_axes=(None, 0, 0, 0)) vs the seed", max_error(inefficient, expected), 1e-6)
    check_that("per-example gradients are float32", inefficient.dtype == np.float32, str(inefficient.dtype))

    # The seed's perex_grads = jax.jit(vmap(grad(td_loss), in_axes=(None, 0, 0, 0))).
    batch = (theta, batched_s_tm1, batched_r_t, batched_s_t)
    perex_grads = tg.vmap(dtdloss_dtheta, in_axes=(None, 0, 0, 0))
    compiled = attempt("tg.jit(tg.vmap(tg.grad(td_loss)))", lambda: tg.jit(perex_grads))
    perex = compiled and attempt("per-example gradients with the compiled vmap", lambda: compiled(*batch))
    if perex is not None:
        print("perex_grads(theta, ...) =\n", repr(perex))
        check("perex_grads (compiled) vs the seed", max_error(perex, expected), 1e-6)
        for name, function in (("perex_grads (Python)", perex_grads), ("perex_grads (tg.jit)", compiled)):
            function(*batch)
            start, calls = time.perf_counter(), 200
            for _ in range(calls):
                function(*batch)
            print(f"%timeit {name}: {(time.perf_counter() - start) / calls * 1e6:.1f} µs per loop")

    print("all checks passed" if not FAILURES else f"{len(FAILURES)} check(s) FAILED")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
