"""The markdown table, the chart and the machine description."""
import datetime

import os
import pathlib
import platform

from benchmarks import harness, peers

GRAD_TOOLS = ("tangent2", "tangent2.jit", "jax", "torch", "autograd", "numpy")


# --------------------------------------------------------------------------- formatting
def seconds(value):
    if value is None or value != value:
        return "–"
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 1e-3:
        return f"{value * 1e3:.3g} ms"
    return f"{value * 1e6:.3g} µs"


def ratio(a, b):
    if a != a or b != b or not b:
        return "–"
    r = a / b
    return f"{r:.3g}×"


def spread(r):
    return f"{seconds(r.q1_s)} – {seconds(r.q3_s)}"


def progress_line(r):
    if r.timed:
        extra = f"  first call {seconds(r.first_s)}"
        if r.status == "mismatch":
            extra += f"  MISMATCH {r.reason}"
        return f"  {r.label:58s} {r.kind:6s} {seconds(r.median_s):>10s} (IQR {spread(r)}){extra}"
    return f"  {r.label:58s} {r.kind:6s} {r.status}: {r.reason}"


# --------------------------------------------------------------------------- machine
def machine_info():
    info = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        info["affinity"] = sorted(os.sched_getaffinity(0))
    except AttributeError:
        pass
    info["load_start"] = _load()
    info["platform"] = platform.platform()
    info["date"] = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    info["versions"] = peers.versions()
    import tangent2
    info["versions"]["tangent2"] = getattr(tangent2, "__version__", _distribution_version("tangent2"))
    threads = {"numba (tangent2.jit, target cpu)": "1 (njit without parallel=True)",
               "BLAS (NumPy, Numba's matmul)": os.environ.get("OPENBLAS_NUM_THREADS", "default")}
    torch = peers.load("torch")
    if torch is not None:
        threads["torch"] = str(torch.get_num_threads())
    if peers.load("jax") is not None:
        threads["jax"] = f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}" if os.environ.get("XLA_FLAGS") else \
            "XLA default (all cores)"
    info["threads"] = threads
    return info


def _distribution_version(name):
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:  # noqa: BLE001
        return "?"


def _load():
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except (OSError, AttributeError):
        return "?"


def machine_line(info):
    v = info["versions"]
    return (f"{info['cpu']}, {info['cores']} cores; load average {info['load_start']}; python {v['python']}, "
            f"numpy {v['numpy']}, numba {v['numba']}, " + ", ".join(f"{p} {v[p]}" for p in peers.PEERS))


# --------------------------------------------------------------------------- tables
def _best(results, tool, kind="grad"):
    """The fastest timed result of ``tool`` (tangent2.jit may have several variants)."""
    timed = [r for r in results if r.tool == tool and r.kind == kind and r.timed]
    return min(timed, key=lambda r: r.median_s) if timed else None


def _any(results, tool, kind="grad"):
    return next((r for r in results if r.tool == tool and r.kind == kind), None)


def _cell(results, tool):
    r = _best(results, tool)
    if r is not None:
        flag = " ⚠" if r.status == "mismatch" else ""
        return f"{seconds(r.median_s)}{flag}"
    r = _any(results, tool)
    if r is None:
        return "n/a"
    return {"skipped": "skipped", "unsupported": "unsupported", "failed": "failed"}.get(r.status, r.status)


def summary_table(all_results):
    head = ("| workload | size | tangent2 (Python) | tangent2.jit | JAX jit | torch.func | autograd | NumPy by hand "
            "| tangent2.jit / JAX | tangent2.jit grad / primal | JAX grad / primal | first call tangent2.jit "
            "| first call JAX | 2nd process, tangent2.jit from cache |")
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for case, results in all_results:
        jit, jax = _best(results, "tangent2.jit"), _best(results, "jax")
        jit_primal, jax_primal = _best(results, "tangent2.jit", "primal"), _best(results, "jax", "primal")
        loaded = [r for r in results if r.cache_load_s == r.cache_load_s]
        cells = [case.name, case.size(case._quick)] + [_cell(results, t) for t in GRAD_TOOLS]
        cells.append(ratio(jit.median_s, jax.median_s) if jit and jax else "–")
        cells.append(ratio(jit.median_s, jit_primal.median_s) if jit and jit_primal else "–")
        cells.append(ratio(jax.median_s, jax_primal.median_s) if jax and jax_primal else "–")
        cells.append(seconds(jit.first_s) if jit else "–")
        cells.append(seconds(jax.first_s) if jax else "–")
        cells.append(", ".join(seconds(r.cache_load_s) for r in loaded) if loaded else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def detail_table(all_results):
    head = ("| workload | tool | computes | median | IQR | min – max | calls timed | vs JAX | first call "
            "| check | generated lines | notes |")
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for case, results in all_results:
        for r in results:
            jax = _best(results, "jax", r.kind)
            if r.timed:
                check = "ok" if r.status == "ok" else f"**MISMATCH** {r.error:.1e}"
                if r.status == "ok" and getattr(r, "reference", None) and r.label != r.reference:
                    check = f"ok ({r.error:.0e})"
                elif r.status == "ok":
                    check = "reference"
                notes = [r.note] if r.note else []
                if r.raw_s == r.raw_s:
                    notes.append(f"Numba dispatcher alone on the flat arguments: {seconds(r.raw_s)} "
                                 f"(tangent2.jit's own per-call work: {seconds(max(r.median_s - r.raw_s, 0))})")
                if r.cache_load_s == r.cache_load_s:
                    notes.append(f"second process: {seconds(r.cache_load_s)} to build and call once, "
                                 f"Numba cache {r.cache_stats}")
                cells = [case.name, r.label, r.kind, seconds(r.median_s), spread(r),
                         f"{seconds(r.min_s)} – {seconds(r.max_s)}", str(r.calls),
                         ratio(r.median_s, jax.median_s) if jax else "–", seconds(r.first_s), check,
                         str(r.source_lines or ""), "; ".join(notes)]
            else:
                cells = [case.name, r.label, r.kind, r.status, "", "", "", "", "", "", "",
                         r.reason.replace("|", "\\|")]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def not_run(all_results):
    out = []
    for case, results in all_results:
        for r in results:
            if not r.timed:
                label = "tangent2 compiled" if r.tool == "tangent2.jit" else r.label
                out.append(f"- `{case.name}` {label}{' [' + r.kind + ']' if r.kind != 'grad' else ''}: "
                           f"{r.status} ({r.reason})")
    return "\n".join(out) if out else "- none"


def profiling_notes(all_results):
    """Where tangent2.jit is slower than the fastest peer: the measured evidence of why."""
    out = []
    for case, results in all_results:
        jit = _best(results, "tangent2.jit")
        peers_timed = [r for r in results if r.kind == "grad" and r.timed and r.tool in ("jax", "torch", "autograd",
                                                                                          "numpy")]
        if jit is None or not peers_timed:
            continue
        fastest = min(peers_timed, key=lambda r: r.median_s)
        if jit.median_s <= fastest.median_s:
            continue
        facts = [f"tangent2.jit {seconds(jit.median_s)} vs {fastest.label} {seconds(fastest.median_s)} "
                 f"({jit.median_s / fastest.median_s:.2g}× slower)"]
        jit_primal, jax_primal = _best(results, "tangent2.jit", "primal"), _best(results, "jax", "primal")
        jax = _best(results, "jax")
        if jit_primal and jax_primal:
            facts.append(f"compiled primal {seconds(jit_primal.median_s)} vs JAX's {seconds(jax_primal.median_s)} "
                         f"({jit_primal.median_s / jax_primal.median_s:.2g}×)")
            facts.append(f"gradient / primal {jit.median_s / jit_primal.median_s:.3g} for tangent2.jit"
                         + (f", {jax.median_s / jax_primal.median_s:.3g} for JAX" if jax else ""))
        if jit.raw_s == jit.raw_s:
            extra = jit.median_s - jit.raw_s
            if extra > 0.1 * jit.median_s:
                facts.append(f"the Numba dispatcher alone on the flat arguments takes {seconds(jit.raw_s)}, so "
                             f"{seconds(extra)} ({extra / jit.median_s:.0%}) is tangent2.jit's per-call work "
                             "(flattening the argument trees, the plan lookup, rebuilding and casting the result)")
            else:
                facts.append(f"the Numba dispatcher alone takes {seconds(jit.raw_s)}: tangent2.jit's per-call work "
                             "is within the noise")
            if jit_primal:
                facts.append(f"bare-dispatcher gradient / primal {jit.raw_s / jit_primal.median_s:.3g}")
        python = _best(results, "tangent2")
        if python:
            facts.append(f"Python mode / compiled {python.median_s / jit.median_s:.3g}")
        if jit.source_lines:
            facts.append(f"{jit.source_lines} generated lines")
        verdict = _verdict(jit, jit_primal, jax, jax_primal, fastest)
        out.append(f"- `{case.name}`: " + "; ".join(facts) + f". {verdict}")
    return "\n".join(out) if out else "- tangent2.jit is the fastest tool on every workload that ran."


def _verdict(jit, jit_primal, jax, jax_primal, fastest):
    if jit.raw_s == jit.raw_s and jit.median_s - jit.raw_s > 0.5 * jit.median_s:
        return "Mostly dispatch: tangent2.jit's per-call Python work costs more than the compiled code."
    if jit.median_s < 20e-6:
        return "At this size the time is per-call dispatch (argument flattening and the Numba dispatcher), not arithmetic."
    if jit_primal and jax_primal and jax:
        primal_ratio = jit_primal.median_s / jax_primal.median_s
        grad_ratio = (jit.median_s / jit_primal.median_s) / (jax.median_s / jax_primal.median_s)
        if primal_ratio > 1.5 and grad_ratio < 1.5:
            return ("The gap is already in the compiled primal (Numba's code for the same NumPy operations is "
                    f"{primal_ratio:.2g}× XLA's); the derivative adds no more than JAX's does. "
                    "Causes: benchmarks/README.md.")
        if grad_ratio >= 1.5:
            return (f"The derivative costs {grad_ratio:.2g}× more, relative to its primal, than JAX's does: the "
                    "generated code does extra work (benchmarks/README.md lists what, with snippets).")
    return "See benchmarks/README.md for an analysis of the generated code."


# --------------------------------------------------------------------------- files
def write(all_results, machine, out_dir, stem, quick, elapsed_s, argv):
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for case, _ in all_results:
        case._quick = quick
    chart = _chart(all_results, out_dir / f"{stem}.png", quick)
    v = machine["versions"]
    command = "python -m benchmarks" + ("".join(f" {a}" for a in argv) if argv else "")
    text = [f"# tangent2 benchmarks{' (--quick smoke run: tiny sizes, timings meaningless)' if quick else ''}",
            "",
            f"`{command}`, {machine['date']}, {elapsed_s:.0f} s in all.",
            "",
            "## Machine",
            "",
            f"- CPU: {machine['cpu']}, {machine['cores']} logical cores"
            + (f"; this process pinned to CPU {machine['affinity']}" if "affinity" in machine and
               len(machine["affinity"]) < (machine["cores"] or 0) else ""),
            f"- load average at the start: {machine['load_start']}, at the end: {_load()} "
            "(other processes were using the CPU while this ran: timings are noisy at the ~10-30 % level)",
            f"- {machine['platform']}",
            "- versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
            "- threads: " + "; ".join(f"{k}: {val}" for k, val in machine["threads"].items()),
            "- everything in float64 (`jax_enable_x64`); medians of repeated calls (each sample >= 40 ms "
            "of back-to-back calls, garbage collector off); spread is the interquartile range; JAX calls wait "
            "for the result (`block_until_ready`); `first call` includes tracing/code generation and compilation; "
            "tangent2.jit compiled into an empty `TANGENT2_CACHE_DIR`; `2nd process` is a fresh interpreter with "
            "that cache directory building the same `tg.jit(...)` and calling it once (generation + Numba cache load).",
            "",
            "## Summary (gradient or workload quantity; median per call)",
            "",
            summary_table(all_results),
            "",
            "`tangent2.jit / JAX` < 1 means tangent2 is faster. `grad / primal` divides the compiled derivative by "
            "the same tool's compiled primal (the function being differentiated). Where tangent2.jit has several "
            "variants the fastest is summarized; all are in the detail table. ⚠ marks a result that does not match "
            "the reference.",
            "",
            "## Every measurement",
            "",
            detail_table(all_results),
            "",
            "`check`: largest difference from the reference (NumPy by hand, else JAX, else tangent2 in Python "
            "mode), relative to max(1, largest reference entry). `generated lines`: non-comment lines of the "
            "tangent2 source that ran.",
            "",
            "## Not run",
            "",
            not_run(all_results),
            "",
            "## Where tangent2 is slower, and why (measured)",
            "",
            profiling_notes(all_results),
            "",
            "## Workloads",
            "",
        ]
    for case, _ in all_results:
        text.append(f"- `{case.name}` ({case.group}): {case.title}, {case.size(quick)}."
                    + ("".join(" " + n for n in case.notes)))
    text.append("")
    text.append(f"![median time per call]({chart.name})" if chart else
                "(No chart: matplotlib is not installed; `pip install matplotlib`.)")
    text.append("")
    markdown = out_dir / f"{stem}.md"
    markdown.write_text("\n".join(text), encoding="utf-8")
    return markdown, chart


def _chart(all_results, path, quick):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    colors = {"tangent2": "#9ecae1", "tangent2.jit": "#08519c", "jax": "#e6550d", "torch": "#756bb1",
              "autograd": "#31a354", "numpy": "#636363"}
    names = [case.name for case, _ in all_results]
    fig, ax = plt.subplots(figsize=(12, 0.55 * len(names) * 1.6 + 1.5))
    height = 0.8 / len(GRAD_TOOLS)
    for j, tool in enumerate(GRAD_TOOLS):
        ys, xs, errs = [], [], [[], []]
        for i, (case, results) in enumerate(all_results):
            r = _best(results, tool)
            if r is None:
                continue
            ys.append(i + (j - len(GRAD_TOOLS) / 2 + 0.5) * height)
            xs.append(r.median_s)
            errs[0].append(max(r.median_s - r.q1_s, 0))
            errs[1].append(max(r.q3_s - r.median_s, 0))
        if xs:
            ax.barh(ys, xs, height=height, xerr=errs, color=colors[tool], label=harness.TOOLS[tool],
                    error_kw={"elinewidth": 0.6, "capsize": 1})
    ax.set_xscale("log")
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names)
    ax.invert_yaxis()
    ax.set_xlabel("median time per call (s, log scale; bars: interquartile range)")
    ax.set_title("tangent2 vs JAX, torch.func, autograd, NumPy" + (" (--quick: meaningless sizes)" if quick else ""))
    ax.grid(axis="x", which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path



