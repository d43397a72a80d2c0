"""Lux seed, "Using Batched Jacobian for Multiple Inputs" (rendered page, 001).

The loss of ``lux_jacobian_loss.py`` with the full Jacobian replaced by the
per-example Jacobians (the seed's ``batched_jacobian(smodel,
AutoForwardDiff(), x)``): a ``(10, 2, 2)`` array, one ``2×2`` Jacobian per
input, without the zero blocks between different examples.  BatchNorm is
removed from the model, as in the seed, so that outputs of different examples
do not depend on each other: ``Chain(Dense(2 => 4, tanh), Dense(4 => 2))``.
The loss is differentiated with respect to ``x`` and the parameters.

Until ``tg.batched_jacobian`` exists, the per-example Jacobians are computed
with an explicit loop over the examples, each by ``tg.jacfwd`` (forward mode,
as the seed's ``AutoForwardDiff()``), inside the differentiated loss.

Checks: the per-example Jacobians are the diagonal blocks of the full
Jacobian of the batch and its off-diagonal blocks are zero; the gradients
agree with central finite differences (float64; the seed prints 2.1e-4 and
2.5e-4 in Float32); float32 gradients come back float32.

    python samples/lux_batched_jacobian.py
"""
import sys
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


# ------------------------------------------------------------------ the model
def dense(p, x):
    """Lux ``Dense``: weight is ``(out, in)``; x is ``(batch, in)`` or one example ``(in,)``."""
    return x @ p["weight"].T + p["bias"]


def model(ps, x):
    """``Chain(Dense(2 => 4, tanh), Dense(4 => 2))``."""
    return dense(ps["layer_2"], np.tanh(dense(ps["layer_1"], x)))


def init_dense(rng, n_in, n_out, dtype):
    limit = np.sqrt(6.0 / (n_in + n_out))                          # glorot_uniform
    return {"weight": rng.uniform(-limit, limit, size=(n_out, n_in)).astype(dtype),
            "bias": (rng.uniform(-1, 1, size=n_out) / np.sqrt(n_in)).astype(dtype)}


# ------------------------------------------------------------------ the loss
def loss_function_batched(x, ps, y):
    smodel = lambda z: model(ps, z)          # noqa: E731  StatefulLuxLayer
    y_hat = smodel(x)
    loss_emp = np.sum((y_hat - y) ** 2)
    J = tg.batched_jacobian(smodel)(x)       # batched_jacobian(smodel, AutoForwardDiff(), x)
    loss_reg = np.sum((J * 0.01) ** 2)       # abs2(norm(J .* 0.01f0))
    return loss_emp + loss_reg


def flat(tree):
    return tg.ravel(tree)[0]


def inf_norm(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def to64(tree):
    return tg.tree.tree_map(lambda a: a.astype(np.float64), tree)


def main():
    rng = np.random.default_rng(0)
    ps = {"layer_1": init_dense(rng, 2, 4, np.float32), "layer_2": init_dense(rng, 4, 2, np.float32)}
    x = rng.normal(size=(10, 2)).astype(np.float32)
    y = np.random.default_rng(11).normal(size=(10, 2)).astype(np.float32)
    x64, ps64, y64 = to64(x), to64(ps), to64(y)

    value = loss_function_batched(x, ps, y)
    print(f"loss_function_batched(x, ps, y) = {value!r}")
    J = tg.batched_jacobian(lambda z: model(ps64, z))(x64)
    print(f"batched Jacobian: shape {J.shape}")
    check_that("batched Jacobian has shape (10, 2, 2)", J.shape == (10, 2, 2), str(J.shape))
    full = tg.jacfwd(lambda z: model(ps64, z))(x64)           # (10, 2, 10, 2)
    blocks = np.stack([full[i, :, i, :] for i in range(10)])
    check("∞-norm(batched Jacobian - diagonal blocks of the full Jacobian)", inf_norm(J, blocks), 1e-14)
    off_diagonal = full.copy()
    for i in range(10):
        off_diagonal[i, :, i, :] = 0
    check("largest off-diagonal block entry of the full Jacobian", float(np.max(np.abs(off_diagonal))), 0)

    # Finite differences in float64.  The loss makes new lambdas, and so new
    # derivatives, on every call; the reference builds its Jacobian once.
    jacobian = tg.jacfwd(lambda z, ps: model(ps, z))

    def reference(x, ps, y):
        J = np.stack([jacobian(x[i], ps) for i in range(x.shape[0])])
        return np.sum((model(ps, x) - y) ** 2) + np.sum((J * 0.01) ** 2)

    check("|loss - reference loss| (float64)",
          abs(loss_function_batched(x64, ps64, y64) - reference(x64, ps64, y64)), 1e-12)
    dx_fd = numerical_grad(reference, (x64, ps64, y64), wrt=0)
    dps_fd = flat(numerical_grad(reference, (x64, ps64, y64), wrt=1))

    # The seed: _, ∂x_b, ∂ps_b, _, _ = Zygote.gradient(loss_function_batched, model, x, ps, st, y)
    gradient = tg.grad(loss_function_batched, wrt=("x", "ps"))
    got = attempt("gradient (float32)", lambda: gradient(x, ps, y))
    if got is not None:
        dx, dps = got
        dtypes = {a.dtype for a in tg.tree.leaves((dx, dps))}
        check_that("float32 gradients are float32", dtypes == {np.dtype(np.float32)}, str(sorted(map(str, dtypes))))
        check("float32 ∞-norm(∂x_b - ∂x_fd)", inf_norm(dx, dx_fd), 1e-3)
        check("float32 ∞-norm(∂ps_b - ∂ps_fd)", inf_norm(flat(dps), dps_fd), 1e-3)
    got64 = attempt("gradient (float64)", lambda: gradient(x64, ps64, y64))
    if got64 is not None:
        dx64, dps64 = got64
        check("float64 ∞-norm(∂x_b - ∂x_fd)", inf_norm(dx64, dx_fd), 1e-6)
        check("float64 ∞-norm(∂ps_b - ∂ps_fd)", inf_norm(flat(dps64), dps_fd), 1e-6)

    print("all checks passed" if not FAILURES else f"{len(FAILURES)} check(s) FAILED")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
