"""``tg.jit(tg.vmap(...), target="parallel")`` against the serial compiled batch loop (not run by the tests).

    python benchmarks/bench_parallel.py [--batch 5000] [--repeat 7]

The workload: per-example gradients of a small recurrent loss (a loop of
tanh steps over a 16-vector, so each example's gradient pops saved values
from stacks) for a batch of examples, ``tg.vmap(tg.grad(loss), in_axes=(None, 0, 0))``.
Prints the time per batch of

* the Python derivative (the generated batch loop, uncompiled; one repeat),
* ``tg.jit(...)``: the batch loop compiled serially,
* ``tg.jit(..., target="parallel")`` with Numba limited to 1 thread and with
  all threads (``numba.get_num_threads()``): the batch loop runs with ``prange``,

after checking that all of them give the same gradients.  With
``parallel=True`` Numba also fuses the elementwise array expressions of each
example into loops, so the 1-thread row differs from the serial one too.
"""
import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def loss(w, x, y):
    h = x
    for i in range(8):
        h = np.tanh(w * h + 0.1 * i)
    return np.sum((h - y) ** 2)


def best_time(function, args, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None):
    import numba

    import tangent2 as tg
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=7)
    options = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    w = rng.uniform(0.2, 0.8, 16)
    x, y = rng.standard_normal((options.batch, 16)), rng.standard_normal((options.batch, 16))
    per_example = tg.vmap(tg.grad(loss), in_axes=(None, 0, 0))
    serial = tg.jit(per_example)
    parallel = tg.jit(per_example, target="parallel")
    args = (w, x, y)
    start = time.perf_counter()
    expected = per_example(*args)
    python_time = time.perf_counter() - start
    for name, compiled in (("serial", serial), ("parallel", parallel)):
        start = time.perf_counter()
        np.testing.assert_allclose(compiled(*args), expected, rtol=1e-12, atol=1e-14)
        print(f"first call of tg.jit ({name}), compiling: {time.perf_counter() - start:.2f} s")
    threads = numba.get_num_threads()
    rows = [("Python (tg.vmap(tg.grad(loss)))", python_time),
            ("tg.jit(...), serial batch loop", best_time(serial, args, options.repeat))]
    for count in sorted({1, threads}):
        numba.set_num_threads(count)
        rows.append((f"tg.jit(..., target='parallel'), {count} thread{'s' * (count > 1)}",
                     best_time(parallel, args, options.repeat)))
    numba.set_num_threads(threads)
    print(f"\nper-example gradients, batch {options.batch}, Numba threading layer {numba.threading_layer()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print("| variant | ms / batch | vs serial |")
    print("|---|---|---|")
    serial_time = rows[1][1]
    for name, seconds in rows:
        print(f"| {name} | {seconds * 1e3:.2f} | {serial_time / seconds:.2f}x |")


if __name__ == "__main__":
    main()
