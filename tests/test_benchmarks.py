"""The benchmark suite runs: ``python -m benchmarks --quick`` completes and writes its table.

Only that it runs and reports is asserted; timings are never asserted (they
depend on the machine and on whatever else it is doing).
"""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_quick_benchmark_run_writes_a_table(tmp_path):
    command = [sys.executable, "-m", "benchmarks", "--quick", "--out", str(tmp_path)]
    # --quick takes ~35 s on a 2-core machine shared with other jobs (JAX and torch installed); the
    # timeout only guards against a hang, so it leaves room for a loaded machine.
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=150)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    table = (tmp_path / "quick.md").read_text(encoding="utf-8")
    assert "| workload |" in table and "## Machine" in table, table[:2000]
    for workload in ("poly_d1", "mlp_small", "rosenbrock_hessian", "td_perex_2", "lux_pinn", "euler_ode",
                     "gmm_adbench"):
        assert f"| {workload} |" in table, f"{workload} missing from the table:\n{table[:3000]}"
    # tangent2 in Python mode runs every workload, and nothing silently disagrees with the reference.
    assert "MISMATCH" not in table, table
    python_rows = [line for line in table.splitlines() if "| tangent2 (Python)" in line]
    assert python_rows and all("| grad | unsupported" not in line and "| grad | failed" not in line
                               for line in python_rows), "\n".join(python_rows)


def test_only_and_list_select_workloads():
    listing = subprocess.run([sys.executable, "-m", "benchmarks", "--list"], cwd=ROOT, capture_output=True,
                             text=True, timeout=58)
    assert listing.returncode == 0, listing.stderr[-3000:]
    assert "gmm_adbench" in listing.stdout and "td_perex_10000" in listing.stdout
    bad = subprocess.run([sys.executable, "-m", "benchmarks", "--only", "no_such_workload"], cwd=ROOT,
                         capture_output=True, text=True, timeout=58)
    assert bad.returncode != 0 and "matches no workload" in bad.stderr
