"""Sweep: CUDA kernels of every scalar torture case and of the scalar primitives (not part of the test suite).

    NUMBA_ENABLE_CUDASIM=1 python tests/cuda_sweep.py      # run each kernel under the simulator, against Python
    python tests/cuda_sweep.py --ptx                       # compile each kernel to PTX for sm_90 (needs NVVM)

For each torture case whose arguments are all scalars (tests/test_torture.py)
and each scalar primitive (NumPy ufuncs, math, builtins, scipy.special),
the gradient (and the Hessian of the unary primitives) is mapped
elementwise over three points.  Prints what fails; docs/jit.md gives the
last result.  The simulator runs Python, so only ``--ptx`` shows what the
device compiler refuses.
"""
import importlib.util
import os
import sys
import tempfile
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tangent2 as tg  # noqa: E402

UNARY = ["np.negative", "np.positive", "np.square", "np.reciprocal", "np.abs", "np.sin", "np.cos", "np.tan",
         "np.arcsin", "np.arccos", "np.arctan", "np.sinh", "np.cosh", "np.tanh", "np.arcsinh", "np.arccosh",
         "np.arctanh", "np.exp", "np.exp2", "np.expm1", "np.log", "np.log1p", "np.log2", "np.log10", "np.sqrt",
         "np.cbrt", "np.floor", "np.ceil", "np.trunc", "np.rint", "np.deg2rad", "np.rad2deg", "np.float64",
         "scipy.special.expit", "scipy.special.logit",
         "scipy.special.erf", "scipy.special.erfc", "scipy.special.gammaln", "scipy.special.digamma", "abs",
         "math.sin", "math.exp", "math.log", "math.sqrt", "math.fabs", "math.erf", "math.tanh", "math.atan",
         "math.cbrt", "math.exp2", "float"]
BINARY = ["np.add", "np.subtract", "np.multiply", "np.divide", "np.power", "np.mod", "np.fmod", "np.arctan2",
          "np.logaddexp", "np.logaddexp2", "np.hypot", "np.maximum", "np.minimum", "np.fmax", "np.fmin",
          "math.atan2", "math.pow", "math.hypot", "pow", "max", "min", "math.log"]
INSIDE_ONE = ("np.arcsin", "np.arccos", "np.arctanh", "scipy.special.logit")  # domain (-1, 1) or (0, 1)
ABOVE_ONE = ("np.arccosh",)


def _check(derivative, args, ptx):
    kernel = tg.jit(derivative, target="cuda")
    if ptx:
        kernel.ptx(*args, cc=(9, 0))
        return
    got = kernel(*args)
    position = next(i for i, a in enumerate(args) if isinstance(a, np.ndarray))
    for j, value in enumerate(args[position]):
        point = list(args)
        point[position] = float(value)
        want = derivative(*point)
        for g, w in zip(got if isinstance(want, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
            np.testing.assert_allclose(g[j], w, rtol=1e-9, atol=1e-12)


def torture_cases(ptx):
    import test_torture as torture
    failures, count = [], 0
    for c in torture.CASES:
        scalar = all(isinstance(a, (float, int, np.floating, np.integer)) and not isinstance(a, bool) for a in c.args)
        positions = c.positions()
        if c.has_aux or not scalar or not all(isinstance(c.args[p], (float, np.floating)) for p in positions):
            continue
        value = c.f(*c.args)
        if not isinstance(value, (float, np.floating)):
            continue  # not a scalar output: no gradient
        args = list(c.args)
        args[positions[0]] = np.array([float(args[positions[0]]) * s for s in (1.0, 0.9, 1.1)])
        count += 1
        try:
            _check(tg.grad(c.f, wrt=c.wrt), tuple(args), ptx)
        except Exception as error:  # report and go on
            failures.append(f"{c.id}: {type(error).__name__}: {str(error).splitlines()[0][:200]}")
    return count, failures


def primitives(ptx):
    lines = ["import math", "import numpy as np", "import scipy.special", ""]
    entries = []
    for i, expression in enumerate(UNARY):
        lines += [f"def unary_{i}(x):", f"    return {expression}(x) * x", ""]
        entries.append((f"unary_{i}", expression, 1))
    for i, expression in enumerate(BINARY):
        lines += [f"def binary_{i}(x, y):", f"    return {expression}(x, y) * x", ""]
        entries.append((f"binary_{i}", expression, 2))
    path = os.path.join(tempfile.mkdtemp(), "cuda_sweep_primitives.py")
    with open(path, "w") as handle:
        handle.write("\n".join(lines))
    spec = importlib.util.spec_from_file_location("cuda_sweep_primitives", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    failures, count = [], 0
    for name, expression, arity in entries:
        x = 0.3 if expression in INSIDE_ONE else 1.5 if expression in ABOVE_ONE else 0.7
        args = (np.array([x, x * 1.1, x * 1.2]),) if arity == 1 else (np.array([x, x * 1.1, x * 1.2]), 1.3)
        kinds = [("grad", tg.grad(getattr(module, name)))]
        if arity == 1:
            kinds.append(("hessian", tg.hessian(getattr(module, name))))
        for kind, derivative in kinds:
            count += 1
            try:
                _check(derivative, args, ptx)
            except Exception as error:  # report and go on
                failures.append(f"{expression} ({kind}): {type(error).__name__}: {str(error).splitlines()[0][:200]}")
    return count, failures


def main():
    warnings.simplefilter("ignore")
    ptx = "--ptx" in sys.argv
    for title, sweep in (("torture cases", torture_cases), ("primitives", primitives)):
        count, failures = sweep(ptx)
        print(f"{title}: {count - len(failures)} of {count} {'compile to PTX' if ptx else 'match Python'}")
        for failure in failures:
            print("  ", failure)


if __name__ == "__main__":
    main()
