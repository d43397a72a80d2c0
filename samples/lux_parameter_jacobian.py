"""Lux seed, "Loss Function computing the Jacobian of the Parameters".

The loss is ``sum(abs2, J)`` where ``J`` is the reverse-mode Jacobian of the
model output with respect to *all* its parameters (the seed's
``Zygote.jacobian(Base.Fix1(smodel, x), ps)`` on a ``ComponentArray``); it is
differentiated with respect to the input ``x`` and the flat parameter vector.
``tg.ravel`` plays ComponentArray's part: it flattens the parameter tree into
one vector and gives back ``unravel``, a plain generated function that
tangent2 differentiates through.  ``lambda p: mlp(unravel(p), x)`` is
``Base.Fix1(smodel, x)``: the model with its input fixed, as a function of the
parameters.

The model is ``Chain(Dense(1 => 12, tanh), Dense(12 => 12, tanh),
Dense(12 => 12, tanh), Dense(12 => 1))``, ``x`` is 16 points laid out
``(16, 1)``, in Float32; ``J`` has shape ``(16, 1, 349)``.

Checks: the gradients agree with central finite differences (float64; the
seed compares with ForwardDiff, printing 1.9e-6 and 3.1e-5), float32 stays
float32, and the gradient for the output bias is exactly zero (its column of
``J`` is constant 1; the seed prints ``bias = Float32[0.0]`` for layer_4).

    python samples/lux_parameter_jacobian.py
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
def mlp(params, x):
    """tanh hidden layers, a linear output layer; weights are ``(out, in)`` like Lux."""
    h = x
    for W, b in params["hidden"]:
        h = np.tanh(h @ W.T + b)
    W, b = params["out"]
    return h @ W.T + b


def init_mlp(rng, sizes, dtype):
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        limit = np.sqrt(6.0 / (n_in + n_out))                      # glorot_uniform
        W = rng.uniform(-limit, limit, size=(n_out, n_in)).astype(dtype)
        b = (rng.uniform(-1, 1, size=n_out) / np.sqrt(n_in)).astype(dtype)
        layers.append((W, b))
    return {"hidden": layers[:-1], "out": layers[-1]}


# ------------------------------------------------------------------ the loss
def make_loss_function3(unravel):
    def loss_function3(x, ps):
        smodel = lambda p: mlp(unravel(p), x)   # noqa: E731  Base.Fix1(smodel, x) on the flat vector
        J = tg.jacrev(smodel)(ps)               # Zygote.jacobian: reverse mode, shape (16, 1, 349)
        return np.sum(J ** 2)
    return loss_function3


def inf_norm(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def main():
    rng = np.random.default_rng(0)
    tree = init_mlp(rng, [1, 12, 12, 12, 1], np.float32)
    ps, unravel = tg.ravel(tree)                      # ps = ComponentArray(ps)
    x = rng.uniform(size=(16, 1)).astype(np.float32)  # rand(Float32, 1, 16), transposed
    loss_function3 = make_loss_function3(unravel)
    print(f"{ps.size} parameters, flat dtype {ps.dtype}")

    J = tg.jacrev(lambda p: mlp(unravel(p), x))(ps)
    print(f"J: shape {J.shape}, dtype {J.dtype}")
    check_that("J has shape (16, 1, 349)", J.shape == (16, 1, 349), str(J.shape))
    value = loss_function3(x, ps)
    print(f"loss_function3(x, ps) = {value!r}")

    # The seed: _, ∂x, ∂ps, _ = Zygote.gradient(loss_function3, model, x, ps, st)
    gradient = tg.grad(loss_function3, wrt=("x", "ps"))
    got = attempt("gradient (float32)", lambda: gradient(x, ps))
    x64, ps64 = x.astype(np.float64), ps.astype(np.float64)
    got64 = attempt("gradient (float64)", lambda: gradient(x64, ps64))

    # Finite differences in float64.  The loss makes a new lambda, and so a new
    # Jacobian derivative, on every call; this reference builds its Jacobian once.
    jacobian_of_params = tg.jacrev(lambda p, x: mlp(unravel(p), x))
    reference = lambda x, ps: np.sum(jacobian_of_params(ps, x) ** 2)  # noqa: E731
    check("|loss - reference loss| (float64)", abs(loss_function3(x64, ps64) - reference(x64, ps64)), 1e-9)
    dx_fd = numerical_grad(reference, (x64, ps64), wrt=0)
    dps_fd = numerical_grad(reference, (x64, ps64), wrt=1)

    if got is not None:
        dx, dps = got
        print("∂x[:4] =", dx[:4].ravel())
        check_that("float32 in, float32 gradients out", (dx.dtype, dps.dtype) == (np.float32,) * 2,
                   f"{dx.dtype}, {dps.dtype}")
        check("float32 ∞-norm(∂x - ∂x_fd)", inf_norm(dx, dx_fd), 1e-3)
        check("float32 ∞-norm(∂ps - ∂ps_fd), relative to the largest entry",
              inf_norm(dps, dps_fd) / np.max(np.abs(dps_fd)), 1e-5)
        out_bias = unravel(dps)["out"][1]
        print(f"∂ps for the output bias: {out_bias!r}")
        check("|∂ps of the output bias| (exactly zero)", float(np.max(np.abs(out_bias))), 0)
    if got64 is not None:
        dx64, dps64 = got64
        check("float64 ∞-norm(∂x - ∂x_fd)", inf_norm(dx64, dx_fd), 1e-6)
        check("float64 ∞-norm(∂ps - ∂ps_fd)", inf_norm(dps64, dps_fd), 1e-6)

    print("all checks passed" if not FAILURES else f"{len(FAILURES)} check(s) FAILED")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
