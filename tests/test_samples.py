"""Every script in samples/ runs to completion and reports its checks.

Each sample reproduces an example of the seed documents and checks it against
finite differences or the values the seed prints; it exits non-zero on a
mismatch.  The scripts run as users run them: ``python samples/X.py`` from the
repository root, in a fresh interpreter.
"""
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SAMPLES = sorted(p.name for p in (ROOT / "samples").glob("*.py") if not p.name.startswith("_"))


def test_the_samples_are_all_there():
    expected = {"polynomial.py", "lux_jacobian_loss.py", "lux_gradient_loss.py", "lux_parameter_jacobian.py",
                "lux_hutchinson.py", "lux_batched_jacobian.py", "jax_higher_order.py", "jax_maml.py",
                "jax_stop_gradient.py"}
    assert expected <= set(SAMPLES)


# samples some of whose derivatives tangent2.jit cannot compile (docs/jit.md): in jit mode they run with the
# failures listed, and must have at least one
NO_JIT = {}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.no_jit(reason=NO_JIT[n])) if n in NO_JIT else n
                                  for n in SAMPLES])
def test_sample_runs_and_passes_its_checks(name, jit_mode_active, _jit_mode):
    # in jit mode the script runs under tests/jit_mode.py: its derivatives are also compiled and compared
    runner = [sys.executable, "tests/jit_mode.py"] if jit_mode_active else [sys.executable]
    env = dict(os.environ, TANGENT2_TEST_JIT_EXPECT_FAILURES="1" if name in NO_JIT else "0")
    result = subprocess.run(runner + [f"samples/{name}"], cwd=ROOT, capture_output=True, text=True,
                            timeout=900 if jit_mode_active else 300, env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"samples/{name} exited with {result.returncode}:\n{output[-6000:]}"
    lines = result.stdout.splitlines()
    passed = [line for line in lines if line.startswith("ok ") or line.rstrip().endswith(" ok")]
    assert len(passed) >= 3, f"samples/{name} printed too few checks:\n{result.stdout}"
    assert not any(line.startswith("FAIL") or "MISMATCH" in line for line in lines), result.stdout
    if name != "polynomial.py":
        assert lines[-1] == "all checks passed", result.stdout[-3000:]
    if jit_mode_active:
        assert "derivative calls compiled and matched" in result.stderr, output[-3000:]
        _jit_mode.failures += [line for line in result.stderr.splitlines() if "could not compile" in line]


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_says_what_it_reproduces(name):
    import ast
    tree = ast.parse((ROOT / "samples" / name).read_text())
    assert ast.get_docstring(tree), f"samples/{name} has no module docstring"
    functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert "main" in functions, f"samples/{name} has no main()"
