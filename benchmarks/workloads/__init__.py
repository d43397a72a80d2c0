"""The benchmark workloads, in the order they run and are reported.

Each module defines ``cases()`` returning :class:`benchmarks.harness.Case` objects.
Peers are imported only when a case is built, so this package imports with
NumPy, Numba and tangent2 alone (the cache-load subprocess relies on that).
"""
import importlib

MODULES = ("poly", "mlp", "rosenbrock", "td", "lux", "euler", "gmm")


def all_cases():
    out = []
    for module in MODULES:
        out.extend(importlib.import_module(f"benchmarks.workloads.{module}").cases())
    return out


def by_name():
    return {case.name: case for case in all_cases()}
