"""Micro-measurements behind the profiling notes in benchmarks/README.md.

    python -m benchmarks.evidence [--threads 1]

Each line isolates one cause of a gap between tangent2.jit and its peers:

1. three-address temporaries vs one fused expression in Numba (the poly workloads);
2. ``np.dot`` of 3-vectors and a per-example temporary inside a Numba loop (the TD vmap);
3. tangent2.jit's per-call work on parameter trees vs the bare Numba dispatcher (MLP, Lux);
4. list stacks in a compiled loop (the Euler workload).

Not run by the test suite; prints a markdown table.
"""
import os
import sys
import tempfile
import timeit

from benchmarks.run import limit_threads

if "numpy" not in sys.modules:
    limit_threads("1")

import numpy as np  # noqa: E402


def per_call(function, number=None, repeat=5):
    function()
    if number is None:
        one = min(timeit.repeat(function, number=1, repeat=3))
        number = max(1, int(0.05 / max(one, 1e-7)))
    return min(timeit.repeat(function, number=number, repeat=repeat)) / number


def fmt(seconds):
    return f"{seconds * 1e6:.3g} µs" if seconds < 1e-3 else f"{seconds * 1e3:.3g} ms"


def main():
    os.environ.setdefault("TANGENT2_CACHE_DIR", tempfile.mkdtemp(prefix="tangent2-evidence-"))
    import numba

    import tangent2 as tg
    from tangent2 import derivative as dv
    rows = []

    # 1. temporaries vs fusion
    x = np.linspace(-2.0, 2.0, 10**6)

    @numba.njit
    def two_statements(x):
        a = x * 2.0
        return a * x

    @numba.njit
    def one_expression(x):
        return x * 2.0 * x

    rows.append(("Numba, 10^6 points: `a = x * 2.0; return a * x`", fmt(per_call(lambda: two_statements(x)))))
    rows.append(("Numba, 10^6 points: `return x * 2.0 * x`", fmt(per_call(lambda: one_expression(x)))))
    from benchmarks.workloads import poly
    plan = dv.Derivative(poly.f, "primal", 0)._plan((x,))
    generated = tg.jit(plan.function, cache=False)
    user = tg.jit(poly.f, cache=False)
    rows.append(("tg.jit(f), f = the cubic as the user wrote it (one expression), 10^6 points",
                 fmt(per_call(lambda: user(x)))))
    rows.append(("tg.jit of tangent2's generated primal of the same f (7 three-address statements)",
                 fmt(per_call(lambda: generated(x)))))
    rows.append(("tg.jit(tg.grad(sum f)) (array form of the first derivative)",
                 fmt(per_call(lambda: tg.jit(poly.d1)(x)))))

    # 2. tiny dot products and per-example temporaries in a compiled loop
    rng = np.random.default_rng(0)
    S = rng.normal(size=(10000, 3))
    theta = np.array([0.1, -0.1, 0.0])

    @numba.njit
    def with_dot(theta, S):
        out = np.empty(S.shape[0])
        for i in range(S.shape[0]):
            out[i] = np.dot(theta, S[i])
        return out

    @numba.njit
    def with_loop(theta, S):
        out = np.empty(S.shape[0])
        for i in range(S.shape[0]):
            acc = 0.0
            for j in range(S.shape[1]):
                acc += theta[j] * S[i, j]
            out[i] = acc
        return out

    @numba.njit
    def temporary_per_row(S):
        out = np.empty_like(S)
        for i in range(S.shape[0]):
            out[i] = S[i] * 2.0
        return out

    @numba.njit
    def in_place_per_row(S):
        out = np.empty_like(S)
        for i in range(S.shape[0]):
            for j in range(S.shape[1]):
                out[i, j] = S[i, j] * 2.0
        return out

    rows.append(("Numba loop over 10,000 rows: `np.dot(theta, S[i])` (3-vectors)",
                 fmt(per_call(lambda: with_dot(theta, S)))))
    rows.append(("the same with an explicit inner loop", fmt(per_call(lambda: with_loop(theta, S)))))
    rows.append(("Numba loop over 10,000 rows: `out[i] = S[i] * 2.0` (a temporary per row)",
                 fmt(per_call(lambda: temporary_per_row(S)))))
    rows.append(("the same written element by element", fmt(per_call(lambda: in_place_per_row(S)))))

    # 3. per-call work on trees
    from benchmarks.workloads import lux, mlp
    for name, loss, args in (
            ("mlp_small", mlp.mse_loss, (lambda d: (d["params"], d["x"], d["target"]))(mlp.setup_for("mlp_small")(False))),
            ("lux_pinn", lux.loss_function2, lux.setup_pinn(False)["args"])):
        wrt = 0 if name == "mlp_small" else (0, 1)
        derivative = tg.grad(loss, wrt=wrt)
        jitted = tg.jit(derivative)
        jitted(*args)
        leaves = dv._flatten_args(dv.complete_arguments(derivative.target, args))
        dispatcher = jitted.dispatchers[0]
        rows.append((f"{name}: tg.jit(tg.grad(loss))(params, ...) (parameter tree)",
                     fmt(per_call(lambda: jitted(*args)))))
        rows.append((f"{name}: its Numba dispatcher on the flat leaves", fmt(per_call(lambda: dispatcher(*leaves)))))
        rows.append((f"{name}: tangent2.derivative._flatten_args(args) alone",
                     fmt(per_call(lambda: dv._flatten_args(args)))))

    # 4. stacks in loops
    @numba.njit
    def push_pop(n, k):
        stack = [1.0]
        stack.pop()
        for i in range(n):
            for j in range(k):
                stack.append(i * 1.0 + j)
        total = 0.0
        for i in range(n * k):
            total += stack.pop()
        return total

    rows.append(("Numba: 14 appends + 14 pops of floats (one list) per step, 1,000 steps (euler_ode's stacks)",
                 fmt(per_call(lambda: push_pop(1000, 14)))))
    rows.append(("Numba: 3 appends + 3 pops per step (x, y, z only)", fmt(per_call(lambda: push_pop(1000, 3)))))

    print("| measurement | time per call |\n|---|---|")
    for what, value in rows:
        print(f"| {what} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
