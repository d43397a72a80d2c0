"""tangent2.jit: Numba-compiled derivatives against the Python ones.

Each Numba compile costs about a second (several for array code), so compiled
functions are shared between tests through ``_jitted`` (built once per
session and key), and tests that need a fresh process (the on-disk cache,
the CUDA simulator) run small subprocesses.
"""
import functools
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tangent2 as tg
from tangent2 import api
from tangent2.jit import CompilationError, JitFunction

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


# ------------------------------------------------------- functions under test

def cubic(x):
    return x**3 + 2*x**2 - 3*x + 1


def mlp_loss(params, x, y):
    h = np.tanh(x @ params["W1"] + params["b1"])
    out = h @ params["W2"] + params["b2"]
    return np.sum((out - y) ** 2) / y.shape[0]


def euler(k, y0):
    y = y0
    for i in range(50):
        y = y + 0.01 * (-k * y ** 3)
    return y


def while_break(x):
    y = x
    n = 0
    while n < 20:
        y = y * 1.5 + np.sin(y)
        if y > 10.0:
            break
        n += 1
    return y


def subscript_loop(x):
    y = np.zeros(x.shape[0])
    for i in range(1, x.shape[0]):
        y[i] = y[i - 1] * 0.5 + np.sin(x[i]) * x[i - 1]
    return np.sum(y ** 2)


def elementwise(x, y):
    return x ** 2 * y + np.sin(x * y)


def vector_sin(x):
    return np.sin(x) * x


def f32_loss(w, x):
    return np.sum(np.tanh(x * w) ** 2 + 0.5 * w)


def per_example_loss(w, x, y):
    h = x
    for i in range(3):
        h = np.tanh(w * h + 0.1 * i)
    return np.sum((h - y) ** 2)


def squeezed(x):
    return np.sum(np.squeeze(x) ** 2)  # np.squeeze without axis=: Numba cannot know the result's ndim


# ------------------------------------------------------------------ fixtures
RNG = np.random.default_rng(7)
PARAMS = {"W1": RNG.standard_normal((3, 4)) * 0.5, "b1": RNG.standard_normal(4) * 0.1,
          "W2": RNG.standard_normal((4, 2)) * 0.5, "b2": RNG.standard_normal(2) * 0.1}
X = RNG.standard_normal((5, 3))
Y = RNG.standard_normal((5, 2))

DERIVATIVES = {
    "grad1": lambda: tg.grad(cubic),
    "grad2": lambda: tg.grad(tg.grad(cubic)),
    "grad3": lambda: tg.grad(tg.grad(tg.grad(cubic))),
    "mlp": lambda: tg.grad(mlp_loss),
    "euler": lambda: tg.grad(euler, wrt=(0, 1)),
    "while": lambda: tg.grad(while_break),
    "subscript": lambda: tg.grad(subscript_loop),
    "jvp": lambda: tg.Derivative(elementwise, "jvp", (0, 1)),
    "f32": lambda: tg.value_and_grad(f32_loss),
}


@functools.lru_cache(maxsize=None)
def _derivative(key):
    return DERIVATIVES[key]()


@functools.lru_cache(maxsize=None)
def _jitted(key):
    return tg.jit(_derivative(key))


def assert_tree_close(actual, expected, rtol=1e-10, atol=1e-12):
    from tangent2 import tree
    a, e = tree.leaves(actual), tree.leaves(expected)
    assert len(a) == len(e)
    for x, y in zip(a, e):
        assert np.shape(x) == np.shape(y)
        np.testing.assert_allclose(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64),
                                   rtol=rtol, atol=atol)


# --------------------------------------------------------------------- tests
@pytest.mark.parametrize("order,expected", [(1, 9.75), (2, 13.0), (3, 6.0)])
def test_polynomial_orders(order, expected):
    jitted = _jitted(f"grad{order}")
    assert isinstance(jitted, JitFunction)
    value = jitted(1.5)
    assert value == pytest.approx(expected, rel=1e-12)
    assert value == pytest.approx(_derivative(f"grad{order}")(1.5), rel=1e-12)
    assert jitted(-0.25) == pytest.approx(_derivative(f"grad{order}")(-0.25), rel=1e-12)
    assert (float,) in jitted._fast  # the second call took the fast path


def test_mlp_dict_params():
    jitted = _jitted("mlp")
    grads = jitted(PARAMS, X, Y)
    expected = _derivative("mlp")(PARAMS, X, Y)
    assert isinstance(grads, dict) and sorted(grads) == sorted(PARAMS)
    for key in PARAMS:
        assert grads[key].shape == PARAMS[key].shape
        np.testing.assert_allclose(grads[key], expected[key], rtol=1e-10, atol=1e-12)
    # against finite differences of one entry
    eps = 1e-6
    bumped = {k: v.copy() for k, v in PARAMS.items()}
    bumped["W1"][1, 2] += eps
    lowered = {k: v.copy() for k, v in PARAMS.items()}
    lowered["W1"][1, 2] -= eps
    numeric = (mlp_loss(bumped, X, Y) - mlp_loss(lowered, X, Y)) / (2 * eps)
    assert grads["W1"][1, 2] == pytest.approx(numeric, rel=1e-6)
    # a second call with the same structure takes the cached tree path
    scaled = {k: 0.5 * v for k, v in PARAMS.items()}
    assert jitted._trees
    assert_tree_close(jitted(scaled, X, Y), _derivative("mlp")(scaled, X, Y))


def test_loop_with_stacks():
    derivative = _derivative("euler")
    assert "_stack" in derivative.source or "_stack" in derivative.function.__tangent2_source__
    dk, dy0 = _jitted("euler")(0.7, 1.2)
    ek, ey0 = derivative(0.7, 1.2)
    assert dk == pytest.approx(ek, rel=1e-12) and dy0 == pytest.approx(ey0, rel=1e-12)
    eps = 1e-6
    assert dk == pytest.approx((euler(0.7 + eps, 1.2) - euler(0.7 - eps, 1.2)) / (2 * eps), rel=1e-6)


def row_products(x):
    return np.sum(np.prod(x, axis=1) * np.array([1.0, -2.0]))


def row_products_hvp(x):
    return np.sum(tg.grad(row_products)(x) * np.array([[0.3, -0.5, 0.7], [-0.4, 0.6, 0.1]]))


def test_second_derivative_of_prod_with_zeros():
    # reverse over reverse of np.prod: the exact rule (rt.prod_others_dot) compiled; the Hessian-vector
    # product by hand: row r, element i gets w_r * sum over k != i of v_rk * (the third element of the row)
    hvp = tg.grad(row_products_hvp)
    x = np.array([[0.0, 2.0, 3.0], [1.5, 0.0, 0.0]])
    expected = np.array([[-0.5 * 3.0 + 0.7 * 2.0, 0.3 * 3.0, 0.3 * 2.0],
                         [-2.0 * 0.0, -2.0 * (-0.4 * 0.0 + 0.1 * 1.5), -2.0 * (-0.4 * 0.0 + 0.6 * 1.5)]])
    np.testing.assert_allclose(hvp(x), expected, rtol=1e-12)
    np.testing.assert_allclose(tg.jit(hvp)(x), expected, rtol=1e-12)


@pytest.mark.parametrize("x", [0.3, 2.5])
def test_while_loop_with_break(x):
    assert _jitted("while")(x) == pytest.approx(_derivative("while")(x), rel=1e-12)


def test_subscript_writes_in_loop():
    x = np.linspace(0.1, 1.2, 7)
    np.testing.assert_allclose(_jitted("subscript")(x), _derivative("subscript")(x), rtol=1e-12)


def test_forward_mode_jvp():
    x, y = np.linspace(-1, 1, 5), 0.4
    tangents = (np.ones(5), 0.5)
    out, out_dot = _jitted("jvp")((x, y), tangents)
    expected_out, expected_dot = tg.jvp(elementwise, (x, y), tangents)
    np.testing.assert_allclose(out, expected_out, rtol=1e-12)
    np.testing.assert_allclose(out_dot, expected_dot, rtol=1e-12)
    # a generated function compiled as a plain function
    function, flat = api.generated_function(elementwise, "jvp", (x, y), tangents)
    plain = tg.jit(function)
    assert_tree_close(plain(*flat), (expected_out, expected_dot))


def test_float32_preserved():
    w = np.linspace(-1, 1, 6).astype(np.float32)
    x = np.float32(0.75)
    value, grad = _jitted("f32")(w, x)
    expected_value, expected_grad = _derivative("f32")(w, x)
    assert grad.dtype == np.float32
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-5)
    assert value == pytest.approx(float(expected_value), rel=1e-5)


def tanh_energy(x):
    return np.sum(np.tanh(x) * x)


def test_float32_jvp_returns_float32_scalars():
    # Numba boxes float32 scalars as Python floats, and computes 1.0 - t of a float32 t in float64
    x = np.linspace(-1, 1, 5, dtype=np.float32)
    v = np.linspace(0.5, 2.0, 5, dtype=np.float32)
    out, tangent = tg.jit(tg.Derivative(tanh_energy, "jvp", (0,)))((x,), (v,))
    assert type(out) is np.float32 and type(tangent) is np.float32
    t = np.tanh(x.astype(np.float64))
    assert tangent == pytest.approx(np.sum(((1 - t ** 2) * x + t) * v), rel=1e-5)
    assert tangent == pytest.approx(tg.jvp(tanh_energy, (x,), (v,))[1], rel=1e-6)
    assert out == pytest.approx(tanh_energy(x), rel=1e-6)


def test_jvp_of_a_gradient_fills_in_its_seed_default():
    # cubic_grad(x, d_out=1.0): the jvp of it is called with x alone, as tg.jvp is
    def cubic(x):
        return x ** 3 + 2 * x ** 2 - 3 * x + 1

    x = 0.37
    value, second = tg.jit(tg.Derivative(tg.grad(cubic), "jvp", (0,)))((x,), (1.0,))
    assert value == pytest.approx(3 * x ** 2 + 4 * x - 3, rel=1e-12)
    assert second == pytest.approx(6 * x + 4, rel=1e-12)
    assert (value, second) == pytest.approx(tg.jvp(tg.grad(cubic), (x,), (1.0,)), rel=1e-12)


def test_wrapper_calling_generated_functions():
    # jacfwd's generated wrapper calls the generated primal and jvp: they are compiled as Numba callees
    x = np.linspace(-1, 1, 4)
    jacobian = tg.jit(tg.jacfwd(vector_sin))(x)
    np.testing.assert_allclose(jacobian, np.diag(np.cos(x) * x + np.sin(x)), rtol=1e-12, atol=1e-15)


def test_plain_function_and_parallel_target():
    assert tg.jit(cubic)(2.0) == cubic(2.0)
    # a function Numba cannot compile as written (a dict argument): tangent2's generated primal stands in
    assert tg.jit(mlp_loss)(PARAMS, X, Y) == pytest.approx(mlp_loss(PARAMS, X, Y), rel=1e-12)
    assert tg.jit(tg.grad(cubic), target="parallel")(1.5) == pytest.approx(9.75)


def test_parallel_target_runs_the_vmap_batch_loop_with_prange():
    per_example = tg.vmap(tg.value_and_grad(per_example_loss), in_axes=(None, 0, 0))
    rng = np.random.default_rng(3)
    w, x, y = rng.uniform(0.2, 0.8, 4), rng.standard_normal((33, 4)), rng.standard_normal((33, 4))
    parallel = tg.jit(per_example, target="parallel", cache=False)  # compiled here: Numba keeps its diagnostics
    values, grads = parallel(w, x, y)
    expected_values, expected_grads = per_example(w, x, y)      # the batch loop in Python
    serial_values, serial_grads = tg.jit(per_example)(w, x, y)  # and compiled without prange
    np.testing.assert_allclose(values, expected_values, rtol=1e-12)
    np.testing.assert_allclose(grads, expected_grads, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grads, serial_grads, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(values, serial_values, rtol=1e-12)
    # one example by itself, against finite differences
    eps = 1e-6
    bump = np.zeros(4)
    bump[2] = eps
    numeric = (per_example_loss(w + bump, x[5], y[5]) - per_example_loss(w - bump, x[5], y[5])) / (2 * eps)
    assert grads[5, 2] == pytest.approx(numeric, rel=1e-6)
    (dispatcher,) = parallel.dispatchers
    compiled_source = dispatcher.py_func.__tangent2_source__
    assert "for _batch in prange(1, _n):" in compiled_source
    assert "for _batch in range(1, _n):" in per_example.source  # the Python loop is unchanged
    diagnostics = dispatcher.get_metadata(dispatcher.signatures[0])["parfor_diagnostics"]
    stops = [getattr(parfor.loop_nests[0].stop, "name", None) for parfor in diagnostics.initial_parfors]
    assert "_n" in stops  # Numba made the batch loop a parallel loop


def test_compile_failure_names_generated_and_user_lines():
    jitted = tg.jit(tg.grad(squeezed))
    with pytest.raises(CompilationError) as info:
        jitted(np.ones((3, 1)))
    message = str(info.value)
    error = info.value
    assert "np.squeeze" in message
    generated_file, generated_line, generated_text = error.generated
    assert os.path.basename(generated_file).startswith("tg_")
    assert f'File "{generated_file}", line {generated_line}' in message
    assert "np.squeeze(x)" in generated_text
    user_file, user_line, user_text = error.origin
    assert user_file == __file__
    assert user_line == squeezed.__code__.co_firstlineno + 1
    assert f'File "{__file__}", line {user_line}' in message
    assert "What to change" in message and "axis=" in error.hint
    assert isinstance(error, tg.errors.TangentError)


def test_fallback_python_warns_and_runs():
    jitted = tg.jit(tg.grad(squeezed), fallback="python")
    with pytest.warns(RuntimeWarning, match="uncompiled Python version"):
        result = jitted(np.ones((3, 1)))
    np.testing.assert_allclose(result, 2 * np.ones((3, 1)))


def test_bad_options():
    with pytest.raises(tg.errors.TangentError, match="target"):
        tg.jit(tg.grad(cubic), target="tpu")
    with pytest.raises(tg.errors.TangentError, match="fallback"):
        tg.jit(tg.grad(cubic), fallback="object")


# ---------------------------------------------------------- subprocess tests
def _run(script, env_extra, *args, timeout=240):
    env = dict(os.environ)
    env.update(env_extra)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


CACHE_SCRIPT = textwrap.dedent("""
    import importlib.util, json, sys, time
    import tangent2 as tg
    spec = importlib.util.spec_from_file_location("cached_user_module", sys.argv[1])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    jitted = tg.jit(tg.grad(module.f))
    start = time.perf_counter()
    value = jitted(1.5)
    first_call = time.perf_counter() - start
    print(json.dumps(dict(value=value, first_call=first_call, **jitted.stats())))
""")


def test_on_disk_cache_second_process_skips_compilation(tmp_path):
    module = tmp_path / "user_module.py"
    module.write_text("def f(x):\n    return x**3 + 2*x**2 - 3*x + 1\n")
    env = {"TANGENT2_CACHE_DIR": str(tmp_path / "cache")}
    first = json.loads(_run(CACHE_SCRIPT, env, str(module)).strip().splitlines()[-1])
    second = json.loads(_run(CACHE_SCRIPT, env, str(module)).strip().splitlines()[-1])
    assert first["value"] == second["value"] == pytest.approx(9.75)
    assert first["cache_misses"] >= 1 and first["cache_hits"] == 0
    assert second["cache_hits"] >= 1 and second["cache_misses"] == 0
    assert list((tmp_path / "cache" / "__pycache__").glob("tg_*.nbi"))  # Numba's index next to the file


def test_an_upgraded_tangent2_does_not_reuse_the_files_an_older_one_cached(tmp_path, monkeypatch):
    # Numba's cache is keyed by the generated file: machine code compiled by an older tangent2 (other overloads,
    # other typing rules) for the same text must not be found under the same name
    from tangent2 import codegen
    monkeypatch.setenv("TANGENT2_CACHE_DIR", str(tmp_path))
    text = "def f(x):\n    return x\n"
    current = codegen.write_source(text)
    assert codegen.write_source(text) == current
    monkeypatch.setattr(codegen, "_compiler_fingerprint", lambda: b"another tangent2")
    upgraded = codegen.write_source(text)
    assert upgraded != current
    assert open(upgraded).read() == open(current).read() == text


CUDA_SCRIPT = textwrap.dedent("""
    import importlib.util, sys
    import numpy as np
    import tangent2 as tg
    from numba import cuda
    assert cuda.simulator_enabled if hasattr(cuda, "simulator_enabled") else True
    spec = importlib.util.spec_from_file_location("cuda_user_module", sys.argv[1])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    x = np.linspace(-1.0, 1.0, 40)
    y = 0.7
    kernel = tg.jit(tg.grad(module.f, wrt=(0, 1)), target="cuda")
    dx, dy = kernel(x, y)
    python = tg.grad(module.f, wrt=(0, 1))
    expected = np.array([python(float(a), y) for a in x])
    np.testing.assert_allclose(dx, expected[:, 0], rtol=1e-12)
    np.testing.assert_allclose(dy, expected[:, 1], rtol=1e-12)
    assert "cuda.grid(1)" in kernel.kernel_source()
    # float32 in, float32 out; value_and_grad gives (value, grad)
    value, grad = tg.jit(tg.value_and_grad(module.f), target="cuda")(x.astype(np.float32), np.float32(y))
    assert value.dtype == np.float32 and grad.dtype == np.float32
    np.testing.assert_allclose(value, module.f(x, y), rtol=1e-5)
    np.testing.assert_allclose(grad, expected[:, 0], rtol=1e-4)
    # device arrays stay on the device; broadcasting of two arrays
    on_device = kernel(cuda.to_device(x), cuda.to_device(x))
    np.testing.assert_allclose(on_device[0].copy_to_host(), [python(float(a), float(a))[0] for a in x], rtol=1e-12)
    print("OK")
""")


def test_cuda_kernel_under_simulator(tmp_path):
    module = tmp_path / "cuda_user_module.py"
    module.write_text("import numpy as np\n\n\ndef f(x, y):\n    return x ** 2 * y + np.sin(x * y)\n")
    env = {"NUMBA_ENABLE_CUDASIM": "1", "TANGENT2_CACHE_DIR": str(tmp_path / "cache")}
    assert _run(CUDA_SCRIPT, env, str(module)).strip().endswith("OK")


EDIT_SCRIPT = textwrap.dedent("""
    import importlib.util, json, sys
    import numpy as np
    import tangent2 as tg
    spec = importlib.util.spec_from_file_location("edited_user_module", sys.argv[1])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    x = np.array([0.3, -0.7, 1.1])
    jacobian = tg.jit(tg.jacfwd(module.f))(x)
    hessian = tg.jit(tg.hessian(module.g))(x)
    print(json.dumps({"jacobian": jacobian.tolist(), "hessian": hessian.tolist()}))
""")


def test_cached_nested_derivative_after_the_users_file_is_edited(tmp_path):
    # The jacfwd/hessian wrappers' text names their callees, not their content: editing f gave the same wrapper
    # file, whose cached machine code called the old callees (ModuleNotFoundError in the next process).
    module = tmp_path / "edited_user_module.py"
    env = {"TANGENT2_CACHE_DIR": str(tmp_path / "cache")}
    x = np.array([0.3, -0.7, 1.1])
    for k, function in enumerate(("sin", "cos", "sin")):
        module.write_text(f"import numpy as np\n\n\ndef f(x):\n    return np.{function}(x) * x\n\n\n"
                          f"def g(x):\n    return np.sum(np.{function}(x) * x)\n")
        result = json.loads(_run(EDIT_SCRIPT, env, str(module)).strip().splitlines()[-1])
        s, c = (np.sin(x), np.cos(x)) if function == "sin" else (np.cos(x), -np.sin(x))
        second = -s  # the second derivative of sin and of cos is minus the function
        np.testing.assert_allclose(result["jacobian"], np.diag(c * x + s), rtol=1e-12, atol=1e-15, err_msg=str(k))
        np.testing.assert_allclose(result["hessian"], np.diag(second * x + 2 * c), rtol=1e-12, atol=1e-15)


def _closure_gradient(w):
    return tg.grad(lambda z: np.sum(np.tanh(w * z)))


def test_derivatives_of_the_same_closure_over_other_arrays_are_not_served_from_the_cache():
    # the two lambdas give the same generated file; Numba freezes w into the machine code
    x = np.array([0.3, -0.2, 0.5])
    for scale in (1.0, 2.0):
        w = scale * np.array([1.0, -0.5, 2.0])
        compiled = tg.jit(_closure_gradient(w))(x)
        np.testing.assert_allclose(compiled, w * (1 - np.tanh(w * x) ** 2), rtol=1e-12)
        np.testing.assert_allclose(compiled, _closure_gradient(w)(x), rtol=1e-12)
