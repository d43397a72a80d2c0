"""Lux seed, "Loss Function contains Gradient Computation" (the PINN example).

The loss contains the gradient of ``sum(abs2, model(t))`` with respect to the
input ``t`` (the seed's ``Zygote.gradient(Base.Fix1(sum, abs2) ∘ smodel, t)``)
and is differentiated again with respect to ``t`` and the parameters: reverse
mode over a reverse-mode gradient.  With mode switching on (the default,
``tangent2.config.mode_switching``) tangent2 rewrites the outer reverse pass
over the inner gradient as a forward-mode JVP of the full gradient (Hessian
symmetry), which needs no second tape; with ``mode_switching=False`` it
differentiates the inner gradient's generated code in reverse mode.  Both must
agree.

The model is ``Chain(Dense(1 => 12, tanh), Dense(12 => 12, tanh),
Dense(12 => 12, tanh), Dense(12 => 1))`` as a NumPy function of a parameter
tree ``{"hidden": [(W1, b1), (W2, b2), (W3, b3)], "out": (W4, b4)}``; ``t`` is
16 points in [0, 1), laid out ``(16, 1)`` (Julia: ``1×16``), in Float32.

Checks: the gradients w.r.t. ``t`` and the parameters agree with central
finite differences (the seed compares with ForwardDiff and asserts < 1e-3,
printing 5.7e-6 and 2.9e-6); mode switching on and off agree; float32 in gives
float32 out.  The seed's form, ``smodel = lambda z: model(ps, z)`` composed
with ``sum(abs2, ·)``, and the same loss with the model called directly in the
lambda are both run.

    python samples/lux_gradient_loss.py
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


# ------------------------------------------------------------------ the losses
def loss_function2(t, ps):
    """The seed's form: a stateful model closure, composed with sum(abs2, ·)."""
    smodel = lambda z: mlp(ps, z)                           # noqa: E731  StatefulLuxLayer
    y_hat = tg.grad(lambda z: np.sum(smodel(z) ** 2))(t)   # (Base.Fix1(sum, abs2) ∘ smodel)
    return np.sum((y_hat - np.cos(t)) ** 2)


def loss_function2_direct(t, ps):
    """The same loss with the model called directly inside the lambda."""
    y_hat = tg.grad(lambda z: np.sum(mlp(ps, z) ** 2))(t)
    return np.sum((y_hat - np.cos(t)) ** 2)


def sum_abs2_model(z, ps):
    return np.sum(mlp(ps, z) ** 2)


grad_sum_abs2_model = tg.grad(sum_abs2_model)


def loss_reference(t, ps):
    """The same loss for finite differences, its inner gradient built once.

    ``tg.grad(lambda ...)`` evaluated in plain Python makes a new lambda, and a
    new derivative, on every call (about 25 ms each); finite differences over
    the 365 inputs use this equivalent, whose derivative is generated once.
    """
    return np.sum((grad_sum_abs2_model(t, ps) - np.cos(t)) ** 2)


def flat(tree):
    return tg.ravel(tree)[0]


def inf_norm(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def to64(tree):
    return tg.tree.tree_map(lambda a: a.astype(np.float64), tree)


def check_loss(loss, ps, t, dt_fd, dps_fd):
    name = loss.__name__
    print(f"--- {name}")
    t64, ps64 = to64(t), to64(ps)
    value = attempt(f"{name}: evaluate", lambda: loss(t, ps))
    if value is not None:
        print(f"{name}(t, ps) = {value!r}")
        check(f"{name}: |value - reference value| (float64)", abs(loss(t64, ps64) - loss_reference(t64, ps64)),
              1e-12)

    results = {}
    for switching in (True, False):
        label = f"{name}, mode_switching={switching}"
        gradient = tg.grad(loss, wrt=("t", "ps"), mode_switching=switching)
        start = time.perf_counter()
        got = attempt(f"{label}: gradient (float32)", lambda: gradient(t, ps))
        if got is None:
            continue
        elapsed = time.perf_counter() - start
        dt, dps = got
        print(f"{label}: first call (generates code) {elapsed:.2f} s; ∂t[:3] = {dt[:3].ravel()}")
        dtypes = {np.asarray(a).dtype for a in tg.tree.leaves((dt, dps))}
        check_that(f"{label}: float32 gradients are float32", dtypes == {np.dtype(np.float32)},
                   str(sorted(map(str, dtypes))))
        check(f"{label}: float32 ∞-norm(∂t - ∂t_fd)", inf_norm(dt, dt_fd), 1e-3)
        check(f"{label}: float32 ∞-norm(∂ps - ∂ps_fd)", inf_norm(flat(dps), flat(dps_fd)), 1e-3)
        got64 = attempt(f"{label}: gradient (float64)", lambda: gradient(t64, ps64))
        if got64 is None:
            continue
        dt64, dps64 = got64
        check(f"{label}: float64 ∞-norm(∂t - ∂t_fd)", inf_norm(dt64, dt_fd), 1e-6)
        check(f"{label}: float64 ∞-norm(∂ps - ∂ps_fd)", inf_norm(flat(dps64), flat(dps_fd)), 1e-6)
        results[switching] = (dt64, dps64)
    if len(results) == 2:
        (a_t, a_ps), (b_t, b_ps) = results[True], results[False]
        check(f"{name}: mode switching on vs off, ∞-norm of the difference (float64)",
              max(inf_norm(a_t, b_t), inf_norm(flat(a_ps), flat(b_ps))), 1e-10)


def main():
    rng = np.random.default_rng(0)
    ps = init_mlp(rng, [1, 12, 12, 12, 1], np.float32)
    t = rng.uniform(size=(16, 1)).astype(np.float32)       # rand(Float32, 1, 16), transposed
    print("t =", t.ravel())
    # Central finite differences in float64 at the float32 point.
    dt_fd = numerical_grad(loss_reference, (to64(t), to64(ps)), wrt=0)
    dps_fd = numerical_grad(loss_reference, (to64(t), to64(ps)), wrt=1)
    for loss in (loss_function2, loss_function2_direct):
        check_loss(loss, ps, t, dt_fd, dps_fd)
    print("all checks passed" if not FAILURES else f"{len(FAILURES)} check(s) FAILED")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
