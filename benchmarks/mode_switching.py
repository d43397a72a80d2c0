"""Mode switching: reverse over an inner gradient/VJP as forward over reverse, against reverse over reverse.

    python benchmarks/mode_switching.py [--quick]

Workloads from the Lux seed: the PINN loss (a gradient inside the loss) and
the Hutchinson trace estimate by VJP.  For each, the gradient of the loss
with respect to the parameters is timed (median of repeated calls) and its
peak traced memory measured, with tangent2.config.mode_switching on and off.
Results go to benchmarks/results/mode_switching.md.
"""
import argparse
import pathlib
import statistics
import sys
import time
import tracemalloc

import numpy as np

import tangent2 as tg


def mlp(params, x):
    h = x
    for W, b in params[:-1]:
        h = np.tanh(h @ W.T + b)
    W, b = params[-1]
    return h @ W.T + b


def init(rng, sizes):
    return [(rng.normal(size=(n_out, n_in)) / np.sqrt(n_in), rng.normal(size=n_out) * 0.1)
            for n_in, n_out in zip(sizes[:-1], sizes[1:])]


def pinn_loss(params, t):
    u = lambda z: np.sum(mlp(params, z) ** 2)  # noqa: E731
    du = tg.grad(u)(t)
    return np.sum((du - np.cos(t)) ** 2)


def hutchinson_vjp(params, x, v):
    _, pullback = tg.vjp(lambda z: mlp(params, z), x)
    (vjp,) = pullback(v)
    return np.sum(vjp * v)


def euler_energy(x, k):
    y = x
    for i in range(200):
        y = y + 0.01 * (-k * y ** 3 + np.sin(y))
    return np.sum(y ** 2)


def euler_loss(k, x):
    """An inner gradient through a 200-step integration loop (its tape is what switching avoids)."""
    return np.sum(tg.grad(euler_energy)(x, k) ** 2)


def measure(function, args, repeats):
    function(*args)  # generate the code first
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(*args)
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    function(*args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return statistics.median(times), peak


def _leaves(tree):
    if isinstance(tree, (tuple, list)):
        return [leaf for item in tree for leaf in _leaves(item)]
    return [tree]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, few repeats (a smoke test)")
    options = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    batch, repeats = (4, 3) if options.quick else (16, 50)
    workloads = {
        "PINN (grad inside loss), 1-12-12-12-1": (
            pinn_loss, (init(rng, [1, 12, 12, 12, 1]), rng.uniform(size=(batch, 1)))),
        "Hutchinson by VJP, 4-12-12-12-4": (
            hutchinson_vjp, (init(rng, [4, 12, 12, 12, 4]), rng.uniform(size=(batch, 4)),
                             np.sign(rng.normal(size=(batch, 4))))),
        "gradient through a 200-step Euler loop": (euler_loss, (0.7, rng.uniform(size=64))),
    }
    rows = []
    for name, (loss, args) in workloads.items():
        results = {}
        for switching in (True, False):
            gradient = tg.grad(loss, mode_switching=switching)
            results[switching] = measure(gradient, args, repeats) + (gradient(*args),)
        (t_on, m_on, g_on), (t_off, m_off, g_off) = results[True], results[False]
        agree = max(np.max(np.abs(np.asarray(a) - np.asarray(b)))
                    for a, b in zip(_leaves(g_on), _leaves(g_off)))
        rows.append((name, t_on, t_off, m_on, m_off, agree))
    lines = ["| workload | switching on | off | on/off time | peak memory on | off | gradients differ by |",
             "|---|---|---|---|---|---|---|"]
    for name, t_on, t_off, m_on, m_off, agree in rows:
        lines.append(f"| {name} | {t_on * 1e3:.2f} ms | {t_off * 1e3:.2f} ms | {t_on / t_off:.2f} | "
                     f"{m_on / 1e3:.0f} kB | {m_off / 1e3:.0f} kB | {agree:.1e} |")
    table = "\n".join(lines)
    print(table)
    if not options.quick:
        out = pathlib.Path(__file__).parent / "results" / "mode_switching.md"
        out.write_text("# Mode switching (Python mode, median per call, batch %d)\n\n%s\n\n"
                       "`tangent2.config.mode_switching = \"auto\"` (the default) switches only inner gradients "
                       "with loops, where the second tape is the cost.\n" % (batch, table))
        print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
