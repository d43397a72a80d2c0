"""Lux seed, "Hutchinson Trace Estimation".

Hutchinson's estimator ``Tr(J) ≈ vᵀ J v`` (one Rademacher sample ``v``) of the
Jacobian of the model with respect to its input, computed three ways, each
then differentiated with respect to the input ``x`` and the parameters:

1. ``hutchinson_trace_vjp``: ``vᵀJ`` by a vector-Jacobian product (``tg.vjp``),
   then a batched dot product with ``v`` (the seed's ``batched_matmul``);
2. ``hutchinson_trace_jvp``: ``Jv`` by a Jacobian-vector product (``tg.jvp``);
3. ``hutchinson_trace_full_jacobian``: the full ``(12, 4, 12, 4)`` Jacobian by
   ``tg.jacfwd``, then ``vec(v)ᵀ J vec(v)``.

The model is ``Chain(Dense(4 => 12, tanh), Dense(12 => 12, tanh),
Dense(12 => 12, tanh), Dense(12 => 4))``; ``x`` is 12 examples laid out
``(12, 4)`` (Julia: ``4×12``), in Float32.

Checks: the three traces agree (the seed prints 4.9127817 three times); their
gradients w.r.t. ``x`` and the parameters agree with each other (< 1e-3; the
seed prints 0.0, 0.0, 7.2e-7, 1.4e-6) and with central finite differences
(float64); float32 gradients come back float32.

    python samples/lux_hutchinson.py
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


# ------------------------------------------------------------------ the three estimators
def hutchinson_trace_vjp(x, ps, v):
    smodel = lambda z: mlp(ps, z)                   # noqa: E731  StatefulLuxLayer
    _, pullback = tg.vjp(smodel, x)                 # vector_jacobian_product(smodel, AutoZygote(), x, v)
    (vjp,) = pullback(v)
    n, d = vjp.shape                                # batched_matmul of (n, 1, d) and (n, d, 1)
    return np.sum(vjp.reshape(n, 1, d) @ v.reshape(n, d, 1))


def hutchinson_trace_jvp(x, ps, v):
    smodel = lambda z: mlp(ps, z)                   # noqa: E731
    _, jvp = tg.jvp(smodel, (x,), (v,))             # jacobian_vector_product(smodel, AutoForwardDiff(), x, v)
    n, d = jvp.shape
    return np.sum(v.reshape(n, 1, d) @ jvp.reshape(n, d, 1))


def hutchinson_trace_full_jacobian(x, ps, v):
    smodel = lambda z: mlp(ps, z)                   # noqa: E731
    J = tg.jacfwd(smodel)(x)                        # ForwardDiff.jacobian: shape (12, 4, 12, 4)
    vec_v = np.ravel(v)                             # Julia's vec of the 4×12 array is the row-major ravel here
    return vec_v @ J.reshape(v.size, v.size) @ vec_v


ESTIMATORS = (hutchinson_trace_vjp, hutchinson_trace_jvp, hutchinson_trace_full_jacobian)


def flat(tree):
    return tg.ravel(tree)[0]


def inf_norm(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def to64(tree):
    return tg.tree.tree_map(lambda a: a.astype(np.float64), tree)


def main():
    rng = np.random.default_rng(0)
    ps = init_mlp(rng, [4, 12, 12, 12, 4], np.float32)
    x = rng.uniform(size=(12, 4)).astype(np.float32)
    v = (np.random.default_rng(12).uniform(size=(12, 4)) > 0.5).astype(np.float32) * 2 - 1  # Rademacher
    x64, ps64, v64 = to64(x), to64(ps), to64(v)

    traces = {}
    for estimator in ESTIMATORS:
        value = attempt(f"{estimator.__name__}: evaluate", lambda: estimator(x, ps, v))
        if value is not None:
            traces[estimator.__name__] = value
            print(f"Tr(J) by {estimator.__name__}: {value!r}")
    values = list(traces.values())
    if values:
        check("largest difference between the three traces (float32)",
              max(abs(float(a) - float(values[0])) for a in values), 1e-5)
    # The exact trace of the Jacobian, for comparison (not the estimator's target value).
    J = tg.jacfwd(lambda z: mlp(ps64, z))(x64)
    print(f"exact Tr(J) = {np.trace(J.reshape(48, 48)):.6f} (the estimate uses one sample)")

    # Reference for finite differences: the full-Jacobian estimate with its Jacobian
    # derivative built once (each estimator makes a new lambda, and so a new
    # derivative, per call).
    jacobian = tg.jacfwd(lambda z, ps: mlp(ps, z))
    reference = lambda x, ps, v: np.ravel(v) @ jacobian(x, ps).reshape(v.size, v.size) @ np.ravel(v)  # noqa: E731
    for estimator in ESTIMATORS:
        check(f"|{estimator.__name__} - reference| (float64)",
              abs(estimator(x64, ps64, v64) - reference(x64, ps64, v64)), 1e-10)
    dx_fd = numerical_grad(reference, (x64, ps64, v64), wrt=0)
    dps_fd = flat(numerical_grad(reference, (x64, ps64, v64), wrt=1))

    # The seed: _, ∂x_vjp, ∂ps_vjp, _, _ = Zygote.gradient(hutchinson_trace_vjp, model, x, ps, st, v)
    grads, grads64 = {}, {}
    for estimator in ESTIMATORS:
        name = estimator.__name__
        gradient = tg.grad(estimator, wrt=("x", "ps"))
        got = attempt(f"{name}: gradient (float32)", lambda: gradient(x, ps, v))
        if got is not None:
            dx, dps = got
            grads[name] = (dx, flat(dps))
            dtypes = {a.dtype for a in tg.tree.leaves((dx, dps))}
            check_that(f"{name}: float32 gradients are float32", dtypes == {np.dtype(np.float32)},
                       str(sorted(map(str, dtypes))))
            check(f"{name}: float32 ∞-norm(∂x - ∂x_fd)", inf_norm(dx, dx_fd), 1e-3)
            check(f"{name}: float32 ∞-norm(∂ps - ∂ps_fd)", inf_norm(flat(dps), dps_fd), 1e-3)
        got64 = attempt(f"{name}: gradient (float64)", lambda: gradient(x64, ps64, v64))
        if got64 is not None:
            dx64, dps64 = got64
            grads64[name] = (dx64, flat(dps64))
            check(f"{name}: float64 ∞-norm(∂x - ∂x_fd)", inf_norm(dx64, dx_fd), 1e-6)
            check(f"{name}: float64 ∞-norm(∂ps - ∂ps_fd)", inf_norm(flat(dps64), dps_fd), 1e-6)

    # The seed's sanity check: the three gradients agree.
    base = "hutchinson_trace_vjp"
    for label, table in (("float32", grads), ("float64", grads64)):
        for other in ("hutchinson_trace_jvp", "hutchinson_trace_full_jacobian"):
            if base in table and other in table:
                (dx, dps), (dx_vjp, dps_vjp) = table[other], table[base]
                check(f"{label} ∞-norm(∂x by {other} - ∂x by vjp)", inf_norm(dx, dx_vjp), 1e-3)
                check(f"{label} ∞-norm(∂ps by {other} - ∂ps by vjp)", inf_norm(dps, dps_vjp), 1e-3)

    print("all checks passed" if not FAILURES else f"{len(FAILURES)} check(s) FAILED")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
