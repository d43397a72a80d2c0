"""tangent2.jit(target="cuda") of scalar loop code: per-example kernels from vmap and elementwise kernels.

Reverse-mode loops keep their stacks on per-thread device tapes
(tangent2/backends/cuda_device.py).  CUDA runs under Numba's simulator
(``NUMBA_ENABLE_CUDASIM=1`` must be set before ``numba.cuda`` is imported),
so those checks run in subprocesses; a few examples each, the simulator runs
every thread as Python.  Results are checked against the Python derivative,
central finite differences and hand-derived values.  The rewrite itself is
also compiled in nopython mode on the CPU (typing the same code a GPU would
get), and, where CUDA's NVVM library is installed, every kernel is compiled
to PTX.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tangent2 as tg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

USER_MODULE = textwrap.dedent("""
    import numpy as np


    def euler(k, y0, n):
        # explicit Euler steps of 0.1 for y' = -k y + sin(y)
        y = y0
        for i in range(n):
            y = y + 0.1 * (-k * y + np.sin(y))
        return y


    def linear_euler(k, y0, n):
        # y' = -k y: y_n = (1 - 0.1 k)^n y0
        y = y0
        for i in range(n):
            y = y + 0.1 * (-k * y)
        return y


    def horner(x, c):
        p = 0.0
        for i in range(c.shape[0]):
            p = p * x + c[i]
        return p


    def power(x, n):
        # x^(n+1) by a while loop
        y = x
        i = 0
        while i < n:
            y = y * x
            i += 1
        return y


    def damped(x, n):
        y = x
        while True:
            y = 0.5 * y + np.sin(x * y)
            n = n - 1
            if n <= 0:
                break
        return y


    def nested_while(x, n):
        s = 0.0
        for i in range(n):
            t = x
            j = 0
            while j < i:
                t = np.sin(t) + x
                j += 1
            s = s + t * t
        return s


    def skip_and_stop(x, n):
        y = x
        for i in range(n):
            if i % 2 == 1:
                continue
            y = y * np.cos(y) + x
            if y > 1.5:
                return y
        return y


    def special(x, y):
        a = np.exp(-x * x) + np.sqrt(y * y + 1.0)
        b = np.where(x > y, np.power(x, 2.0), np.abs(y))
        c = max(x, y) - min(x, 0.5 * y) + np.sign(x) * np.logaddexp(x, y)
        return a * b + c + np.cbrt(x) + np.square(np.log1p(y * y)) + np.clip(x, -0.5, 0.5) * np.floor(y + 2.0)


    def buffer(x, n):
        a = np.zeros(2)
        a[0] = x
        return np.sum(a) * x
""")

PRELUDE = textwrap.dedent("""
    import importlib.util, sys
    import numpy as np
    from numpy.testing import assert_allclose
    import tangent2 as tg
    from tangent2.errors import TangentError
    spec = importlib.util.spec_from_file_location("cuda_loops_module", sys.argv[1])
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)

    def central(f, args, position, eps=1e-6):
        up, down = list(args), list(args)
        up[position] = up[position] + eps
        down[position] = down[position] - eps
        return (f(*up) - f(*down)) / (2 * eps)
""")

VMAP_SCRIPT = PRELUDE + textwrap.dedent("""
    from numba import cuda
    k = np.array([0.5, 1.5, 2.0, 0.8])
    y0 = np.array([1.0, -0.5, 2.0, 0.3])
    steps = np.array([3, 100, 1, 40])      # per-example loop bounds; 100 > the first launch's room of 64

    per_example = tg.vmap(tg.grad(m.euler, wrt=(0, 1)), in_axes=(0, 0, 0))
    kernel = tg.jit(per_example, target="cuda")
    dk, dy0 = kernel(k, y0, steps)
    stats = kernel.stats()
    assert stats["retries"] >= 1 and min(stats["rooms"].values()) >= 100, stats
    python_dk, python_dy0 = per_example(k, y0, steps)
    assert_allclose(dk, python_dk, rtol=1e-12)
    assert_allclose(dy0, python_dy0, rtol=1e-12)
    for j in range(len(k)):
        args = (float(k[j]), float(y0[j]), int(steps[j]))
        assert_allclose(dk[j], central(m.euler, args, 0), rtol=1e-5, atol=1e-8)
        assert_allclose(dy0[j], central(m.euler, args, 1), rtol=1e-5, atol=1e-8)
    source = kernel.device_source()
    assert "_tape_float64[" in source and ".append(" not in source and ".pop(" not in source
    assert "cuda.atomic.max(peaks" in kernel.kernel_source()

    # the room grown by the retry is kept: the next call launches once
    launches = kernel.stats()["launches"]
    again = kernel(k, y0, steps)
    assert kernel.stats()["launches"] == launches + 1 and kernel.stats()["retries"] == stats["retries"]
    assert_allclose(again[0], dk, rtol=0)

    # a tape budget of two examples: two launches of two, the same numbers
    per_example_bytes = 8 * sum(kernel.stats()["rooms"].values())
    kernel.tape_bytes = 2 * per_example_bytes
    launches = kernel.stats()["launches"]
    chunked = kernel(k, y0, steps)
    assert kernel.stats()["launches"] == launches + 2
    assert_allclose(chunked[0], dk, rtol=0)
    assert_allclose(chunked[1], dy0, rtol=0)
    kernel.tape_bytes = per_example_bytes - 1
    try:
        kernel(k, y0, steps)
        raise AssertionError("a tape budget below one example must fail")
    except TangentError as error:
        assert "tape_bytes" in str(error)

    # hand-derived: y_n = a^n y0 with a = 1 - 0.1 k
    linear = tg.jit(tg.vmap(tg.grad(m.linear_euler, wrt=(0, 1)), in_axes=(0, 0, 0)), target="cuda")
    dk, dy0 = linear(k, y0, steps)
    a = 1 - 0.1 * k
    assert_allclose(dk, steps * a ** (steps - 1) * -0.1 * y0, rtol=1e-12)
    assert_allclose(dy0, a ** steps, rtol=1e-12)

    # device arrays in, device arrays out
    fresh = tg.jit(per_example, target="cuda")
    out = fresh(cuda.to_device(k), cuda.to_device(y0), cuda.to_device(steps))
    assert hasattr(out[0], "copy_to_host")
    assert_allclose(out[0].copy_to_host(), python_dk, rtol=1e-12)

    # float32 examples, shared scalars (in_axes None): value and gradient stay float32
    k32 = k.astype(np.float32)
    value_and_grad = tg.vmap(tg.value_and_grad(m.euler), in_axes=(0, None, None))
    value, grad = tg.jit(value_and_grad, target="cuda")(k32, np.float32(1.0), 20)
    assert value.dtype == np.float32 and grad.dtype == np.float32
    python_value, python_grad = value_and_grad(k, 1.0, 20)
    assert_allclose(value, python_value, rtol=1e-5)
    assert_allclose(grad, python_grad, rtol=1e-4)

    # a shared coefficient array read in the loop: p'(x) = 3 c0 x^2 + 2 c1 x + c2
    c = np.array([1.0, -2.0, 0.5, 3.0])
    x = np.array([0.3, -0.5, 1.2])
    slope = tg.jit(tg.vmap(tg.grad(m.horner), in_axes=(0, None)), target="cuda")(x, c)
    assert_allclose(slope, 3 * c[0] * x ** 2 + 2 * c[1] * x + c[2], rtol=1e-12)
    assert_allclose(slope, tg.vmap(tg.grad(m.horner), in_axes=(0, None))(x, c), rtol=1e-12)
    assert_allclose(slope, [central(m.horner, (float(v), c), 0) for v in x], rtol=1e-6)

    # forward mode per example: jacfwd of a scalar function is the tangent for x_dot = 1
    forward = tg.jit(tg.vmap(tg.jacfwd(m.linear_euler, wrt=1), in_axes=(0, 0, None)), target="cuda")
    assert_allclose(forward(k, y0, 7), a ** 7, rtol=1e-12)
    curvature = tg.jit(tg.vmap(tg.hessian(m.power), in_axes=(0, None)), target="cuda")(x, 4)
    assert_allclose(curvature, 20 * x ** 3, rtol=1e-12)
    print("OK")
""")

ELEMENTWISE_SCRIPT = PRELUDE + textwrap.dedent("""
    x = np.array([0.4, 0.9, 1.3])
    n = 4
    # x^(n+1): first derivative (n+1) x^n, second (n+1) n x^(n-1)
    grad = tg.jit(tg.grad(m.power), target="cuda")
    assert_allclose(grad(x, n), 5 * x ** 4, rtol=1e-12)
    assert_allclose(grad(x, n), [tg.grad(m.power)(float(v), n) for v in x], rtol=1e-12)
    assert_allclose(grad(x, n), [central(m.power, (float(v), n), 0) for v in x], rtol=1e-6)
    ns = np.array([0, 3, 6])                # loop bounds per element, broadcast with x
    assert_allclose(grad(x, ns), (ns + 1) * x ** ns, rtol=1e-12)

    jvp = tg.jit(tg.Derivative(m.power, "jvp", 0), target="cuda")
    out, out_dot = jvp((x, n), (np.array([1.0, 2.0, -1.0]),))
    assert_allclose(out, x ** 5, rtol=1e-12)
    assert_allclose(out_dot, 5 * x ** 4 * np.array([1.0, 2.0, -1.0]), rtol=1e-12)

    hessian = tg.jit(tg.hessian(m.power), target="cuda")
    assert_allclose(hessian(x, n), 20 * x ** 3, rtol=1e-12)
    assert_allclose(hessian(x, n), [tg.hessian(m.power)(float(v), n) for v in x], rtol=1e-12)
    second = tg.jit(tg.grad(tg.grad(m.power)), target="cuda")   # reverse over reverse: stacks of cotangents
    assert_allclose(second(x, n), 20 * x ** 3, rtol=1e-12)

    for f in (m.damped, m.skip_and_stop, m.nested_while):
        kernel = tg.jit(tg.grad(f), target="cuda")
        got = kernel(x, 5)
        assert_allclose(got, [tg.grad(f)(float(v), 5) for v in x], rtol=1e-12)
        assert_allclose(got, [central(f, (float(v), 5), 0) for v in x], rtol=1e-5)
    assert "_tape_int64[" in kernel.device_source()  # the inner while loop's trip counts

    # NumPy calls the CUDA target cannot compile, replaced on scalars (both branches of where, max and min)
    xs, y = np.array([-0.7, 0.2, 1.6]), 0.9
    special = tg.jit(tg.grad(m.special, wrt=(0, 1)), target="cuda")
    dx, dy = special(xs, y)
    for j, v in enumerate(xs):
        want = tg.grad(m.special, wrt=(0, 1))(float(v), y)
        assert_allclose((dx[j], dy[j]), want, rtol=1e-12)
        assert_allclose(dx[j], central(m.special, (float(v), y), 0), rtol=1e-6)
        assert_allclose(dy[j], central(m.special, (float(v), y), 1), rtol=1e-6)
    code = [line for line in special.device_source().splitlines() if not line.lstrip().startswith("#")]
    assert not any("np.exp(" in line for line in code) and any("math.exp(" in line for line in code)
    print("OK")
""")

PTX_SCRIPT = PRELUDE + textwrap.dedent("""
    from numba import cuda

    def probe(a):
        a[0] = 1.0
    try:
        cuda.compile_ptx(probe, "(float64[:],)", cc=(9, 0))
    except Exception as error:  # no NVVM library or libdevice: CUDA's compiler is not installed
        print(f"NO NVVM ({type(error).__name__})")
        raise SystemExit(0)
    x = np.array([0.4, 0.9, 1.3])
    c = np.array([1.0, -2.0, 0.5, 3.0])
    cases = [
        (tg.vmap(tg.grad(m.euler, wrt=(0, 1)), in_axes=(0, 0, 0)), (x, x, np.array([3, 4, 5]))),
        (tg.vmap(tg.value_and_grad(m.euler), in_axes=(0, None, None)), (x.astype(np.float32), np.float32(1), 5)),
        (tg.vmap(tg.grad(m.horner), in_axes=(0, None)), (x, c)),
        (tg.vmap(tg.jacfwd(m.linear_euler, wrt=1), in_axes=(0, 0, None)), (x, x, 7)),
        (tg.grad(m.power), (x, 4)),
        (tg.Derivative(m.power, "jvp", 0), ((x, 4), (x,))),
        (tg.hessian(m.power), (x, 4)),
        (tg.grad(tg.grad(m.power)), (x, 4)),
        (tg.grad(m.damped), (x, 5)),
        (tg.grad(m.nested_while), (x, 5)),
        (tg.grad(m.skip_and_stop), (x, 5)),
        (tg.grad(m.special, wrt=(0, 1)), (x, 0.9)),
    ]
    for derivative, args in cases:
        ptx = tg.jit(derivative, target="cuda").ptx(*args, cc=(9, 0))
        assert ".visible .entry" in ptx, derivative
    # what the device cannot run is reported at the user's line
    try:
        tg.jit(tg.grad(m.buffer), target="cuda").ptx(x, 3, cc=(9, 0))
        raise AssertionError("np.zeros in device code must not compile")
    except tg.jit.CompilationError as error:
        assert error.origin[0] == sys.argv[1] and error.origin[2].strip() == "a = np.zeros(2)", error
    print("OK", len(cases))
""")


def _run(script, module, simulator, timeout=300):
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["TANGENT2_CACHE_DIR"] = str(module.parent / "cache")
    if simulator:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    else:
        env.pop("NUMBA_ENABLE_CUDASIM", None)
    result = subprocess.run([sys.executable, "-c", script, str(module)], env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture
def user_module(tmp_path):
    path = tmp_path / "cuda_loops_module.py"
    path.write_text(USER_MODULE)
    return path


def test_vmap_kernels_of_loop_code_under_simulator(user_module):
    assert _run(VMAP_SCRIPT, user_module, simulator=True) == "OK"


def test_elementwise_kernels_of_loop_code_under_simulator(user_module):
    assert _run(ELEMENTWISE_SCRIPT, user_module, simulator=True) == "OK"


def test_kernels_compile_to_ptx(user_module):
    """Compiles (does not run) each kernel for sm_90; needs CUDA's NVVM (pip nvidia-cuda-nvcc-cu12, CUDA_HOME)."""
    last = _run(PTX_SCRIPT, user_module, simulator=False)
    if last.startswith("NO NVVM"):
        pytest.skip("CUDA's NVVM library is not installed (set CUDA_HOME to a CUDA toolkit or the "
                    "nvidia-cuda-nvcc-cu12 wheel's nvidia/cuda_nvcc)")
    assert last.startswith("OK")


# ------------------------------------------------------------ the rewrite on the CPU
def _nested_while(x, n):
    s = 0.0
    for i in range(n):
        t = x
        j = 0
        while j < i:
            t = np.sin(t) + x
            j += 1
        s = s + t * t
    return s


def test_device_stacks_rewrite_compiles_in_nopython_mode_and_reports_overflow():
    """The rewritten function, run by numba.njit on NumPy tapes: same gradient as Python, peaks past the room."""
    import numba
    from tangent2.backends.cuda_device import device_function
    derivative = tg.grad(_nested_while)
    x, n = 0.7, 5
    expected = derivative(x, n)
    function = derivative._last.function
    stacks = device_function(function, [numba.float64, numba.int64, numba.float64])
    assert {str(d) for d in stacks.stack_dtypes} == {"float64", "int64"}
    compiled = numba.njit(stacks.function)

    def run(room, threads=2, thread=1):
        slots, sizes = stacks.layout([room] * len(stacks.stacks))
        tapes = [np.zeros((size, threads), dtype=dtype) for size, dtype in zip(sizes, stacks.dtypes)]
        return compiled(x, n, 1.0, *tapes, slots, thread)

    value, peaks = run(room=16)
    assert value == pytest.approx(expected, rel=1e-12)
    assert max(peaks) == n * (n - 1) // 2  # the inner loop's pushes: 0 + 1 + 2 + 3 + 4
    h = 1e-6
    assert value == pytest.approx((_nested_while(x + h, n) - _nested_while(x - h, n)) / (2 * h), rel=1e-6)
    _, short = run(room=3)
    assert max(short) > 3  # the host sees the overflow and launches again with more room


def _where_scalars(x, y):
    return np.where(x > y, x * y, np.sin(x)) + np.clip(y, 0.0, 0.6)


def test_np_where_and_clip_of_scalars_compile_on_the_cpu():
    """The device rewrite types the generated code with Numba on the CPU, which needs np.where/np.clip of scalars."""
    compiled = tg.jit(tg.grad(_where_scalars, wrt=(0, 1)))
    for x, y, hand in ((0.3, 0.5, (np.cos(0.3), 1.0)), (0.8, 0.7, (0.7, 0.8))):
        assert compiled(x, y) == pytest.approx(hand, rel=1e-12)
        assert compiled(x, y) == pytest.approx(tg.grad(_where_scalars, wrt=(0, 1))(x, y), rel=1e-12)
