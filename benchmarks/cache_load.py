"""Second-process load time: build one workload's tangent2.jit callable in a fresh interpreter and call it once.

    TANGENT2_CACHE_DIR=DIR python -m benchmarks.cache_load CASE INDEX [--quick]

Run by ``benchmarks/run.py`` with the ``TANGENT2_CACHE_DIR`` the main process
compiled into, so the generated module and Numba's machine code are found on
disk.  Prints one JSON line: ``import_s`` (importing tangent2 and the
workload), ``first_call_s`` (building the callable, which generates the
derivative's code, plus the first call, which loads Numba's cache), and the
JitFunction's cache statistics.
"""
import json
import os
import sys
import time


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    name, index = argv[0], int(argv[1])
    quick = "--quick" in argv
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if root not in sys.path:
        sys.path.insert(0, root)
    start = time.perf_counter()
    from benchmarks import workloads
    case = workloads.by_name()[name]
    impl = case.impls[index]
    data = case.setup(quick)
    imported = time.perf_counter() - start
    from benchmarks.harness import Built
    start = time.perf_counter()
    built = impl.build(data)
    built = built if isinstance(built, Built) else Built(call=built)
    built.call()
    first = time.perf_counter() - start
    start = time.perf_counter()
    built.call()
    second = time.perf_counter() - start
    stats = built.jitted.stats() if built.jitted is not None else None
    print(json.dumps({"import_s": imported, "first_call_s": first, "second_call_s": second, "stats": stats}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
