"""Per-call overhead of tangent2.jit on a scalar derivative (not run by the test suite).

    python benchmarks/bench_overhead.py [--repeat 7] [--number 200000]

Prints a table: the time of one call of

* ``jit(grad(cubic))(1.5)``: the compiled gradient through tangent2.jit's fast path,
* the Numba dispatcher alone (what tangent2.jit calls),
* ``grad(cubic)(1.5)``: the uncompiled Python gradient (flattening, plan lookup, rebuild),
* the generated Python function alone,
* ``cubic(1.5)``: the Python primal, and ``numba.njit(cubic)(1.5)``,

and, in fresh processes sharing one ``TANGENT2_CACHE_DIR``, the first call
of ``jit(grad(cubic))`` when it compiles and when Numba's cache is loaded.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import timeit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def cubic(x):
    return x**3 + 2*x**2 - 3*x + 1


def per_call(function, number, repeat):
    """Best-of-``repeat`` seconds per call of ``function(1.5)`` (loop overhead subtracted)."""
    timer = timeit.Timer("f(x)", globals={"f": function, "x": 1.5})
    empty = timeit.Timer("f(x)", globals={"f": lambda x: x, "x": 1.5})
    best = min(timer.repeat(repeat, number)) / number
    baseline = min(empty.repeat(repeat, number)) / number
    return best, baseline


FIRST_CALL = textwrap.dedent("""
    import importlib.util, json, sys, time
    start = time.perf_counter()
    import tangent2 as tg
    imported = time.perf_counter() - start
    spec = importlib.util.spec_from_file_location("bench_user_module", sys.argv[1])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    jitted = tg.jit(tg.grad(module.cubic))
    start = time.perf_counter()
    jitted(1.5)
    first = time.perf_counter() - start
    print(json.dumps(dict(import_s=imported, first_call_s=first, **jitted.stats())))
""")


def first_calls():
    with tempfile.TemporaryDirectory() as tmp:
        module = os.path.join(tmp, "bench_user_module.py")
        with open(module, "w") as out:
            out.write("def cubic(x):\n    return x**3 + 2*x**2 - 3*x + 1\n")
        env = dict(os.environ, TANGENT2_CACHE_DIR=os.path.join(tmp, "cache"),
                   PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        runs = []
        for _ in range(2):
            output = subprocess.run([sys.executable, "-c", FIRST_CALL, module], env=env, check=True,
                                    capture_output=True, text=True).stdout
            runs.append(json.loads(output.strip().splitlines()[-1]))
        return runs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--number", type=int, default=200_000)
    options = parser.parse_args()

    import numba
    import tangent2 as tg

    derivative = tg.grad(cubic)
    jitted = tg.jit(derivative)
    jitted(1.5)
    dispatcher = jitted.dispatchers[0]
    generated = derivative._plan((1.5,)).function
    primal_njit = numba.njit(cubic)
    primal_njit(1.5)
    rows = [
        ("tg.jit(grad(cubic))(x)", jitted),
        ("  its Numba dispatcher", dispatcher),
        ("grad(cubic)(x)  (Python)", derivative),
        ("  its generated function", generated),
        ("cubic(x)  (Python primal)", cubic),
        ("numba.njit(cubic)(x)", primal_njit),
    ]
    print(f"per-call time at a scalar (best of {options.repeat} x {options.number} calls, "
          "empty-call overhead subtracted)\n")
    print(f"{'callable':32s} {'us/call':>9s}")
    print("-" * 42)
    for name, function in rows:
        best, baseline = per_call(function, options.number, options.repeat)
        print(f"{name:32s} {1e6 * (best - baseline):9.3f}")
    print()
    runs = first_calls()
    print("first call of jit(grad(cubic)) in a fresh process (same TANGENT2_CACHE_DIR)\n")
    print(f"{'process':32s} {'first call s':>12s} {'import s':>9s} {'hits':>5s} {'misses':>7s}")
    print("-" * 70)
    for name, run in zip(("1st (compiles)", "2nd (Numba cache)"), runs):
        print(f"{name:32s} {run['first_call_s']:12.3f} {run['import_s']:9.3f} {run['cache_hits']:5d} "
              f"{run['cache_misses']:7d}")


if __name__ == "__main__":
    main()
