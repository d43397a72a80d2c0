"""tangent2 against JAX, torch.func, HIPS autograd and hand-written NumPy.

    python -m benchmarks [--quick] [--only NAME[,NAME...]] [--list] [--out DIR] [--cache-dir DIR]
    python benchmarks/run.py ...             (the same)

Every workload is computed by every available tool (tangent2 in Python mode
and compiled with ``tg.jit``, ``jax.jit``, ``torch.func``, autograd, NumPy by
hand), checked against a reference, and timed: median per call with the
interquartile range, ratio to JAX, gradient-to-primal ratios, first-call
(compile) times, and the time a second process takes to load tangent2's
compiled code from ``TANGENT2_CACHE_DIR``.

A full run writes ``benchmarks/results/latest.md`` and ``latest.png``;
``--quick`` (tiny sizes, few repeats: a smoke test) writes ``quick.md``,
``--only`` writes ``partial.md`` (``--out`` chooses the directory).  Peers
come from the ``bench`` extra; a missing one is skipped with a note.
"""
import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:          # ``python benchmarks/run.py`` from anywhere
    sys.path.insert(0, str(ROOT))


def _threads_from_argv(argv):
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
    return "1"


def limit_threads(threads):
    """Give every library the same number of threads (set before NumPy, torch or JAX is imported).

    The default, 1, compares generated code rather than thread pools, and keeps
    OpenBLAS from spinning on a machine other processes are also using.
    """
    threads = str(int(threads))
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
                 "TANGENT2_BENCH_THREADS"):
        os.environ[name] = threads
    if threads == "1":
        # One core for the whole process (and the cache-load subprocess, which inherits it): XLA hands
        # fused loops to helper threads even when told to use one, and on a busy machine the cross-core
        # wake-ups cost it 2-3x on small arrays (measured: 1000-point cubic 51 µs unpinned, 27 µs pinned).
        try:
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        except (AttributeError, OSError):
            pass
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_cpu_multi_thread_eigen" not in flags:
            os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false "
                                       "intra_op_parallelism_threads=1").strip()


if "numpy" not in sys.modules:
    limit_threads(_threads_from_argv(sys.argv[1:]))

from benchmarks import harness, peers, report  # noqa: E402


def parse(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, few repeats: a smoke test")
    parser.add_argument("--only", default=None,
                        help="comma-separated workload names or groups (see --list); prefixes match")
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    parser.add_argument("--out", default=None, help="directory for the .md table and .png chart "
                                                    "(default benchmarks/results)")
    parser.add_argument("--cache-dir", default=None,
                        help="TANGENT2_CACHE_DIR to compile into (default: a fresh temporary directory, so "
                             "first calls really compile)")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for every library (BLAS, XLA, torch, Numba's parallel target); default 1. "
                             "Read before NumPy is imported: give it on the command line")
    parser.add_argument("--no-cache-load", action="store_true", help="skip the second-process cache-load timing")
    return parser.parse_args(argv)


def select(cases, only):
    if not only:
        return cases
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    chosen = [c for c in cases if any(c.name == w or c.group == w or c.name.startswith(w) for w in wanted)]
    if not chosen:
        names = ", ".join(sorted({c.group for c in cases} | {c.name for c in cases}))
        raise SystemExit(f"--only {only!r} matches no workload; choose from: {names}")
    return chosen


QUICK_COMPILE_BUDGET_S = 25.0   # under --quick, no new tangent2.jit compile starts after this many seconds


def run_case(case, quick, cache_load, log, started=None):
    data = case.setup(quick)
    order = sorted(range(len(case.impls)), key=lambda i: (case.impls[i].tool != "tangent2.jit",
                                                        case.impls[i].kind != "grad"))
    results = [None] * len(case.impls)
    for i in order:
        impl = case.impls[i]
        skip = None
        peer = harness.PEER_OF_TOOL.get(impl.tool)
        if peer and peers.load(peer) is None:
            skip = f"{peer} not importable ({peers.skipped(peer)})"
        elif quick and not impl.quick:
            skip = "not run under --quick (compile time)"
        elif quick and impl.tool == "tangent2.jit" and started and time.time() - started > QUICK_COMPILE_BUDGET_S:
            skip = f"not run: --quick spent its {QUICK_COMPILE_BUDGET_S:.0f} s compile budget"
        results[i] = harness.run_impl(case, impl, data, quick, skip)
        results[i].index = i
        log(report.progress_line(results[i]))
    check(case, results)
    if cache_load:
        for i, impl in enumerate(case.impls):
            if impl.cache_load and results[i].status in ("ok", "mismatch"):
                second_process(case, i, results[i], quick)
                log(f"    second process: {report.seconds(results[i].cache_load_s)} "
                    f"(cache {results[i].cache_stats})")
    for result in results:
        result.value = None      # free the arrays
        result.jitted = None
    return results


REFERENCE_ORDER = ("numpy", "jax", "tangent2", "torch", "autograd", "tangent2.jit")


def check(case, results):
    """Compare each result with the first available reference of its kind (NumPy by hand, else JAX, ...)."""
    for kind in ("grad", "primal"):
        candidates = [r for r in results if r.kind == kind and r.status == "ok"]
        reference = next((r for tool in REFERENCE_ORDER for r in candidates if r.tool == tool), None)
        if reference is None:
            continue
        for result in candidates:
            result.reference = reference.label
            result.error = harness.relative_error(result.value, reference.value)
            if not result.error <= case.rtol:
                result.status = "mismatch"
                result.reason = f"differs from {reference.label} by {result.error:.2e} (relative)"


def second_process(case, index, result, quick):
    command = [sys.executable, "-m", "benchmarks.cache_load", case.name, str(index)] + (["--quick"] if quick else [])
    try:
        done = subprocess.run(command, cwd=str(ROOT), capture_output=True, text=True, timeout=600,
                              env=dict(os.environ))
        line = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
        info = json.loads(line)
    except Exception as error:  # noqa: BLE001  reported in the table, not fatal
        result.cache_stats = f"failed: {harness.first_line(error)}"
        return
    result.cache_load_s = info["first_call_s"]
    result.cache_stats = info["stats"]


def main(argv=None):
    options = parse(sys.argv[1:] if argv is None else argv)
    temporary = None
    if options.cache_dir:
        os.environ["TANGENT2_CACHE_DIR"] = os.path.abspath(options.cache_dir)
    else:
        temporary = tempfile.mkdtemp(prefix="tangent2-bench-cache-")
        os.environ["TANGENT2_CACHE_DIR"] = temporary
    from benchmarks import workloads     # imports tangent2, after TANGENT2_CACHE_DIR is set
    cases = workloads.all_cases()
    if options.list:
        for case in cases:
            print(f"{case.name:24s} {case.group:12s} {case.title} ({case.size(False)})")
        return 0
    cases = select(cases, options.only)
    out_dir = pathlib.Path(options.out) if options.out else ROOT / "benchmarks" / "results"
    stem = "quick" if options.quick else ("partial" if options.only else "latest")
    started = time.time()
    print(f"tangent2 benchmarks: {len(cases)} workloads{' (--quick)' if options.quick else ''}; "
          f"TANGENT2_CACHE_DIR={os.environ['TANGENT2_CACHE_DIR']}", flush=True)
    machine = report.machine_info()
    print(report.machine_line(machine), flush=True)
    all_results = []
    cache_load_budget = 1 if options.quick else None   # the smoke test times one second-process load
    try:
        for case in cases:
            print(f"\n== {case.name}: {case.title} ({case.size(options.quick)})", flush=True)
            load = not options.no_cache_load and (cache_load_budget is None or cache_load_budget > 0)
            results = run_case(case, options.quick, load, lambda line: print(line, flush=True), started)
            if load and cache_load_budget is not None and any(r.cache_load_s == r.cache_load_s for r in results):
                cache_load_budget -= 1
            all_results.append((case, results))
    finally:
        if temporary:
            shutil.rmtree(temporary, ignore_errors=True)
    elapsed = time.time() - started
    markdown, chart = report.write(all_results, machine, out_dir, stem, quick=options.quick, elapsed_s=elapsed,
                                   argv=sys.argv[1:] if argv is None else argv)
    print(f"\nwrote {markdown}" + (f" and {chart}" if chart else " (no chart: matplotlib is not installed)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
