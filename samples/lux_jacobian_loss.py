"""Lux seed, "Loss Function containing Jacobian Computation".

A loss with a regularization term built from the forward-mode Jacobian of the
model with respect to its input (the seed's ``ForwardDiff.jacobian(smodel, x)``),
differentiated in reverse mode with respect to the input ``x`` and the
parameters (the seed's ``Zygote.gradient(loss_function1, model, x, ps, st, y)``).

The model is ``Chain(Dense(2 => 4, tanh), BatchNorm(4), Dense(4 => 2))`` written
as plain NumPy functions of a parameter tree.  Inputs are laid out
``(batch, features)`` (the transpose of Julia's ``(features, batch)``), and
BatchNorm is in training mode: it normalizes over the batch axis, so every
output depends on every example and the Jacobian is the full
``(10, 2, 10, 2)`` array.

Checks (as in the seed): the gradients agree with central finite differences
in infinity norm (the seed asserts < 1e-1 in Float32 and prints 4.6e-4 and
6.8e-4).  The finite differences are taken in float64 (float32 differences
are too noisy to say much); the tangent2 gradients are computed both in
float32 (the seed's precision, compared at 1e-3) and in float64 (compared at
1e-5), and float32 gradients must come back float32.

    python samples/lux_jacobian_loss.py
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
    """Lux ``Dense``: weight is ``(out, in)``, x is ``(batch, in)``."""
    return x @ p["weight"].T + p["bias"]


def batchnorm(p, x, epsilon=1e-5):
    """Lux ``BatchNorm`` in training mode: normalize each feature over the batch."""
    mean = np.mean(x, axis=0)
    centered = x - mean
    var = np.mean(centered ** 2, axis=0)
    return p["scale"] * centered / np.sqrt(var + epsilon) + p["bias"]


def model(ps, x):
    """``Chain(Dense(2 => 4, tanh), BatchNorm(4), Dense(4 => 2))``."""
    h = np.tanh(dense(ps["layer_1"], x))
    h = batchnorm(ps["layer_2"], h)
    return dense(ps["layer_3"], h)


def init_dense(rng, n_in, n_out, dtype):
    """Glorot-uniform weight and a uniform(-1/sqrt(in), 1/sqrt(in)) bias, like Lux."""
    limit = np.sqrt(6.0 / (n_in + n_out))
    return {"weight": rng.uniform(-limit, limit, size=(n_out, n_in)).astype(dtype),
            "bias": rng.uniform(-1, 1, size=n_out).astype(dtype) / np.sqrt(n_in).astype(dtype)}


def setup(dtype=np.float32):
    rng = np.random.default_rng(0)
    ps = {"layer_1": init_dense(rng, 2, 4, dtype),
          # BatchNorm starts at scale 1, bias 0 in Lux; perturb them so their gradients are generic.
          "layer_2": {"scale": (1 + 0.1 * rng.normal(size=4)).astype(dtype),
                      "bias": (0.1 * rng.normal(size=4)).astype(dtype)},
          "layer_3": init_dense(rng, 4, 2, dtype)}
    x = rng.normal(size=(10, 2)).astype(dtype)   # 10 examples of 2 features
    y = np.random.default_rng(11).normal(size=(10, 2)).astype(dtype)
    return x, ps, y


# ------------------------------------------------------------------ the loss
def loss_function1(x, ps, y):
    smodel = lambda z: model(ps, z)          # noqa: E731  the seed's StatefulLuxLayer
    y_hat = smodel(x)
    loss_emp = np.sum((y_hat - y) ** 2)
    J = tg.jacfwd(smodel)(x)                 # forward mode, shape (10, 2, 10, 2)
    loss_reg = np.sum((J * 0.01) ** 2)       # abs2(norm(J .* 0.01f0))
    return loss_emp + loss_reg


# ------------------------------------------------------------------ checks
def flat(tree):
    return tg.ravel(tree)[0]


def inf_norm(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def main():
    x32, ps32, y32 = setup(np.float32)
    value = loss_function1(x32, ps32, y32)
    print(f"loss_function1(x, ps, y) = {value!r}  (float32)")
    J = tg.jacfwd(lambda z: model(ps32, z))(x32)
    print(f"Jacobian of the model w.r.t. x: shape {J.shape}, dtype {J.dtype}")
    check_that("the Jacobian has shape (10, 2, 10, 2) and dtype float32",
               (J.shape, J.dtype) == ((10, 2, 10, 2), np.float32), f"{J.shape}, {J.dtype}")

    # The seed: _, ∂x, ∂ps, _, _ = Zygote.gradient(loss_function1, model, x, ps, st, y)
    gradient = tg.grad(loss_function1, wrt=("x", "ps"))
    got = attempt("gradient (float32)", lambda: gradient(x32, ps32, y32))
    x64, ps64, y64 = (tg.tree.tree_map(lambda a: a.astype(np.float64), t) for t in (x32, ps32, y32))
    got64 = attempt("gradient (float64)", lambda: gradient(x64, ps64, y64))
    if got is None or got64 is None:
        print(f"{len(FAILURES)} check(s) FAILED")
        return 1
    dx32, dps32 = got
    dx64, dps64 = got64
    print("∂x (float32):\n", dx32)
    dtypes = {np.asarray(g).dtype for g in [dx32] + tg.tree.leaves(dps32)}
    check_that("float32 gradients are float32", dtypes == {np.dtype(np.float32)}, str(sorted(map(str, dtypes))))

    # Finite differences (central, float64) at the float32 point.
    dx_fd = numerical_grad(loss_function1, (x64, ps64, y64), wrt=0)
    dps_fd = numerical_grad(loss_function1, (x64, ps64, y64), wrt=1)

    # The seed asserts < 1e-1 with Float32 gradients and finite differences; ours are far closer.
    check("float32 ∞-norm(∂x - ∂x_fd)", inf_norm(dx32, dx_fd), 1e-3)
    check("float32 ∞-norm(∂ps - ∂ps_fd)", inf_norm(flat(dps32), flat(dps_fd)), 1e-3)

    check("float64 ∞-norm(∂x - ∂x_fd)", inf_norm(dx64, dx_fd), 1e-5)
    check("float64 ∞-norm(∂ps - ∂ps_fd)", inf_norm(flat(dps64), flat(dps_fd)), 1e-5)
    scale = max(np.max(np.abs(dx64)), np.max(np.abs(flat(dps64))))
    check("float32 vs float64 gradients, ∞-norm relative to the largest entry",
          max(inf_norm(dx32, dx64), inf_norm(flat(dps32), flat(dps64))) / scale, 1e-4)

    print("all checks passed" if not FAILURES else f"{len(FAILURES)} check(s) FAILED")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
