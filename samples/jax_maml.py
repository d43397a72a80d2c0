"""JAX seed, "Higher order optimization": the MAML meta-gradient.

The seed's formulation, verbatim apart from ``jax`` -> ``tg``::

    def meta_loss_fn(params, data):
      \"\"\"Computes the loss after one step of SGD.\"\"\"
      grads = jax.grad(loss_fn)(params, data)
      return loss_fn(params - lr * grads, data)

    meta_grads = jax.grad(meta_loss_fn)(params, data)

The meta-gradient differentiates *through* the SGD step, so it contains the
Hessian of the loss: with ``p' = p - lr * ∇L(p)``,
``∇meta(p) = (I - lr ∇²L(p)) ∇L(p')``.

Two losses are used:

* least squares ``L(p) = |X p - y|² / (2 n)``, whose Hessian is ``XᵀX / n``: the
  meta-gradient has a closed form, checked exactly (hand derivation);
* a tanh MLP regression with its parameter tree flattened by ``tg.ravel`` (so
  ``params - lr * grads`` is array arithmetic, as in the seed), checked against
  the formula above with ``tg.hessian`` and against central finite
  differences, with mode switching on and off, in float64 and float32.

    python samples/jax_maml.py
"""
import sys
import traceback

import numpy as np

import tangent2 as tg
from tangent2.testing import numerical_grad

FAILURES = []
lr = 0.1


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


# ------------------------------------------------------------------ least squares
def loss_fn(params, data):
    X, y = data
    r = X @ params - y
    return np.sum(r ** 2) / (2 * y.shape[0])


def meta_loss_fn(params, data):
    """Computes the loss after one step of SGD."""
    grads = tg.grad(loss_fn)(params, data)
    return loss_fn(params - lr * grads, data)


# ------------------------------------------------------------------ a tanh MLP on a flat parameter vector
def make_mlp_losses(unravel):
    def mlp(params, x):
        h = x
        for W, b in params["hidden"]:
            h = np.tanh(h @ W.T + b)
        W, b = params["out"]
        return h @ W.T + b

    def mlp_loss_fn(params, data):
        X, y = data
        return np.mean((mlp(unravel(params), X) - y) ** 2)

    def mlp_meta_loss_fn(params, data):
        """Computes the loss after one step of SGD."""
        grads = tg.grad(mlp_loss_fn)(params, data)
        return mlp_loss_fn(params - lr * grads, data)

    return mlp_loss_fn, mlp_meta_loss_fn


def init_mlp(rng, sizes):
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        limit = np.sqrt(6.0 / (n_in + n_out))
        layers.append((rng.uniform(-limit, limit, size=(n_out, n_in)), rng.uniform(-1, 1, size=n_out) / np.sqrt(n_in)))
    return {"hidden": layers[:-1], "out": layers[-1]}


def inf_norm(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def main():
    rng = np.random.default_rng(0)

    # --- least squares: the closed form
    X, y = rng.normal(size=(20, 3)), rng.normal(size=20)
    params, data = rng.normal(size=3), (X, y)
    n = y.shape[0]
    H = X.T @ X / n
    gradient = lambda p: X.T @ (X @ p - y) / n                 # noqa: E731  ∇L by hand
    stepped = params - lr * gradient(params)
    by_hand = (np.eye(3) - lr * H) @ gradient(stepped)
    meta_grads = attempt("least squares: tg.grad(meta_loss_fn)", lambda: tg.grad(meta_loss_fn)(params, data))
    print("meta_grads =", meta_grads)
    if meta_grads is not None:
        check("least squares: ∞-norm(meta_grads - (I - lr XᵀX/n) ∇L(p - lr ∇L(p)))",
              inf_norm(meta_grads, by_hand), 1e-14)
        check("least squares: ∞-norm(meta_grads - finite differences)",
              inf_norm(meta_grads, numerical_grad(meta_loss_fn, (params, data))), 1e-8)
        plain = tg.grad(loss_fn)(params, data)
        difference = inf_norm(meta_grads, plain)
        check_that("least squares: the meta-gradient differs from the plain gradient", difference > 1e-3,
                   f"∞-norm of the difference {difference:.3g}")
    off = attempt("least squares: mode_switching=False",
                  lambda: tg.grad(meta_loss_fn, mode_switching=False)(params, data))
    if off is not None:
        check("least squares: ∞-norm(mode switching off - closed form)", inf_norm(off, by_hand), 1e-14)

    # --- a tanh MLP, parameters flattened with tg.ravel
    flat, unravel = tg.ravel(init_mlp(rng, [2, 8, 8, 1]))
    X, y = rng.normal(size=(16, 2)), rng.normal(size=(16, 1))
    mlp_loss_fn, mlp_meta_loss_fn = make_mlp_losses(unravel)
    data = (X, y)
    print(f"MLP with {flat.size} parameters; loss {mlp_loss_fn(flat, data):.6f}, "
          f"loss after one SGD step {mlp_meta_loss_fn(flat, data):.6f}")
    g = tg.grad(mlp_loss_fn)
    stepped = flat - lr * g(flat, data)
    H = tg.hessian(lambda p: mlp_loss_fn(p, data))(flat)
    formula = (np.eye(flat.size) - lr * H) @ g(stepped, data)
    reference = lambda p, data: mlp_loss_fn(p - lr * g(p, data), data)  # noqa: E731  inner gradient built once
    check("MLP: |meta loss - reference|", abs(mlp_meta_loss_fn(flat, data) - reference(flat, data)), 1e-14)
    fd = numerical_grad(reference, (flat, data))
    results = {}
    for switching in (True, False):
        meta = attempt(f"MLP: tg.grad(meta_loss_fn, mode_switching={switching})",
                       lambda: tg.grad(mlp_meta_loss_fn, mode_switching=switching)(flat, data))
        if meta is None:
            continue
        results[switching] = meta
        check(f"MLP, mode_switching={switching}: ∞-norm(meta_grads - (I - lr H) ∇L(p'))", inf_norm(meta, formula),
              1e-12)
        check(f"MLP, mode_switching={switching}: ∞-norm(meta_grads - finite differences)", inf_norm(meta, fd), 1e-8)
    if len(results) == 2:
        check("MLP: ∞-norm(mode switching on - off)", inf_norm(results[True], results[False]), 1e-14)

    flat32, data32 = flat.astype(np.float32), (X.astype(np.float32), y.astype(np.float32))
    meta32 = attempt("MLP: float32 meta-gradient", lambda: tg.grad(mlp_meta_loss_fn)(flat32, data32))
    if meta32 is not None:
        check_that("MLP: float32 meta-gradient is float32", meta32.dtype == np.float32, str(meta32.dtype))
        check("MLP: float32 ∞-norm(meta_grads - finite differences)", inf_norm(meta32, fd), 1e-5)

    print("all checks passed" if not FAILURES else f"{len(FAILURES)} check(s) FAILED")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
