"""tangent2.jit of derivatives whose generated code calls more than generated functions: a mode-switched inner
gradient (``full_gradient_jvp`` and the ``_GradientPrimitive`` of the inner gradient), and ``custom_vjp`` /
``custom_jvp`` functions with the user's rules.  Compiled == Python == finite differences == a hand-derived value."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tangent2 as tg
from tangent2.derivative import Derivative
from tangent2.jit import CompilationError
from tangent2.testing import numerical_grad, numerical_jvp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ------------------------------------------------------------------ mode switching
def cubic_energy(z, k):
    """sum(k z^3), with a loop: the inner gradient tapes it, so reverse over it switches to forward over reverse."""
    y = z
    for _ in range(2):
        y = y * z
    return np.sum(k * y)


def squared_gradient_norm(k, z):
    return np.sum(tg.grad(cubic_energy)(z, k) ** 2)   # |3 k z^2|^2 = 9 k^2 sum z^4


def test_mode_switched_gradient_compiles_and_matches():
    k, z = 0.7, np.array([0.3, -1.2, 0.5])
    derivative = tg.grad(squared_gradient_norm, wrt=(0, 1))
    python = derivative(k, z)
    assert "full_gradient_jvp" in derivative.source and "_stack" not in derivative.source  # switched
    compiled = tg.jit(derivative)(k, z)
    by_hand = (18 * k * np.sum(z ** 4), 36 * k ** 2 * z ** 3)
    numerical = numerical_grad(squared_gradient_norm, (k, z), wrt=(0, 1))
    for c, p, h, n in zip(compiled, python, by_hand, numerical):
        np.testing.assert_allclose(c, p, rtol=1e-12)
        np.testing.assert_allclose(c, h, rtol=1e-12)
        np.testing.assert_allclose(c, n, rtol=1e-6)


# ------------------------------------------------------------------ custom rules
@tg.custom_vjp
def softplus(x):
    return np.log1p(np.exp(x))


@softplus.defvjp
def softplus_vjp(g, ans, x):
    return g / (1.0 + np.exp(-x))


def softplus_times_x(x):
    return np.sum(softplus(x) * x)


@tg.custom_vjp
def clipped_identity(x):
    return x


@clipped_identity.defvjp
def clipped_identity_vjp(g, ans, x):
    return np.clip(g, -1.0, 1.0)


@tg.custom_jvp
def safe_log(x):
    return np.log(x)


@safe_log.defjvp
def safe_log_jvp(x_dot, ans, x):
    return x_dot / np.maximum(x, 1e-3)


def test_custom_vjp_gradient_second_derivative_and_jvp_compile_and_match():
    x = np.array([0.3, -1.0, 2.0])
    s = 1 / (1 + np.exp(-x))                    # softplus' = the logistic function
    gradient = tg.grad(softplus_times_x)
    assert "softplus_vjp" in gradient.source
    compiled = tg.jit(gradient)(x)
    np.testing.assert_allclose(compiled, gradient(x), rtol=1e-12)
    np.testing.assert_allclose(compiled, np.log1p(np.exp(x)) + x * s, rtol=1e-12)
    np.testing.assert_allclose(compiled, numerical_grad(softplus_times_x, (x,)), rtol=1e-6)
    # the second derivative differentiates the rule softplus_vjp (inlined) and calls it; s' = s (1 - s)
    # (a scalar grad of grad compiles in 0.2 s, tg.hessian over this array in 5 s; test_nested.py has that one)
    second = tg.grad(gradient)
    compiled = tg.jit(second)(x[0])
    np.testing.assert_allclose(compiled, second(x[0]), rtol=1e-12)
    np.testing.assert_allclose(compiled, 2 * s[0] + x[0] * s[0] * (1 - s[0]), rtol=1e-12)
    np.testing.assert_allclose(compiled, numerical_grad(gradient, (x[0],)), rtol=1e-6)
    # forward mode has no rule: the generated JVP of softplus itself (tangent2.custom._LazyJVP) is a callee
    v = np.array([1.0, 0.5, -2.0])
    value, tangent = tg.jit(Derivative(softplus_times_x, "jvp", (0,)))((x,), (v,))
    np.testing.assert_allclose(value, softplus_times_x(x), rtol=1e-12)
    np.testing.assert_allclose(tangent, np.dot(np.log1p(np.exp(x)) + x * s, v), rtol=1e-12)
    np.testing.assert_allclose(tangent, numerical_jvp(softplus_times_x, (x,), (v,)), rtol=1e-6)


def test_compiled_code_uses_the_custom_rules_not_the_true_derivatives():
    # d/dx sum(5 x) is 5; the rule clips the cotangent to 1
    f = lambda x: np.sum(5.0 * clipped_identity(x))  # noqa: E731
    np.testing.assert_allclose(tg.jit(tg.grad(f))(np.ones(3)), np.ones(3))
    # the JVP rule of log divides by max(x, 1e-3): 1e3 at 0 (where log' is infinite), 1 / x elsewhere
    x = np.array([0.0, 2.0])
    with np.errstate(divide="ignore"):
        value, tangent = tg.jit(Derivative(safe_log, "jvp", (0,)))((x,), (np.ones(2),))
        python = tg.jvp(safe_log, (x,), (np.ones(2),))
    np.testing.assert_allclose(value, python[0])
    np.testing.assert_allclose(tangent, python[1], rtol=1e-12)
    np.testing.assert_allclose(tangent, [1e3, 0.5], rtol=1e-12)
    np.testing.assert_allclose(tangent[1], numerical_jvp(np.log, (x[1:],), (np.ones(1),))[0], rtol=1e-6)


def _doubled(x):
    return 2.0 * x


@tg.custom_vjp
def double(x):
    return 2.0 * x


@double.defvjp
def double_vjp(g, ans, x):
    return _doubled(g)   # a plain Python call: Numba cannot compile it, and tangent2 does not inline rules


@tg.custom_vjp
def quadruple(x):
    return _doubled(_doubled(x))   # the same in the function itself


@quadruple.defvjp
def quadruple_vjp(g, ans, x):
    return 4.0 * g


def _line_of(text):
    with open(__file__) as source:
        return 1 + next(i for i, line in enumerate(source) if text in line)


@pytest.mark.parametrize("function, name, what, line, call", [
    (double, "double_vjp", "the VJP rule of double (defvjp)", "return _doubled(g)", "double_vjp("),
    (quadruple, "quadruple", "a custom_vjp function", "return _doubled(_doubled(x))", "= function(x)"),
], ids=["rule", "function"])
def test_a_custom_function_numba_cannot_compile_is_named_with_its_file_and_line(function, name, what, line, call):
    derivative = tg.grad(lambda x: function(x) ** 2)
    factor = 2.0 if function is double else 4.0
    assert derivative(1.5) == pytest.approx(2 * factor ** 2 * 1.5)   # Python: d/dx (c x)^2 = 2 c^2 x
    with pytest.raises(CompilationError) as caught:
        tg.jit(derivative)(1.5)
    error = caught.value
    message = str(error)
    assert message.startswith(f"Numba could not compile {name}, {what}, in nopython mode: Untyped global name "
                              f"'_doubled'")
    assert error.origin[:2] == (__file__, _line_of(line))
    assert f'in your code: File "{__file__}", line {_line_of(line)}' in message and line in message
    assert call in error.generated[2] and error.generated[0] != __file__  # the generated line calling it
    assert "not inlined" in error.hint


# ------------------------------------------------------------------ the on-disk cache
RULE_SCRIPT = textwrap.dedent("""
    import importlib.util, json, sys
    import tangent2 as tg
    spec = importlib.util.spec_from_file_location("rule_user_module", sys.argv[1])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    jitted = tg.jit(tg.grad(module.f))
    print(json.dumps(dict(value=jitted(1.5), **jitted.stats())))
""")


def _run(script, env_extra, *args):
    env = dict(os.environ, **env_extra)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True,
                            timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_editing_a_rule_is_seen_by_the_next_process(tmp_path):
    # Numba keeps a callee's machine code inside its caller's cache entry, and the generated gradient's text
    # (it calls scale_vjp) does not change when the rule does: the copy compiled with its callees names a
    # fingerprint of the rule's code, so the edited rule gets a new cache entry.
    module = tmp_path / "rule_user_module.py"
    env = {"TANGENT2_CACHE_DIR": str(tmp_path / "cache")}
    results = []
    for factor in (3.0, 4.0):
        module.write_text(f"import tangent2 as tg\n\n\n@tg.custom_vjp\ndef scale(x):\n    return 3.0 * x\n\n\n"
                          f"@scale.defvjp\ndef scale_vjp(g, ans, x):\n    return {factor} * g\n\n\n"
                          f"def f(x):\n    return scale(x) * x\n")
        results.append(_run(RULE_SCRIPT, env, str(module)))
    # d/dx (3x * x) with the rule's factor for the first product's x: factor * x + 3 x
    assert results[0]["value"] == pytest.approx(3.0 * 1.5 + 3.0 * 1.5)
    assert results[1]["value"] == pytest.approx(4.0 * 1.5 + 3.0 * 1.5)
    assert results[1]["cache_misses"] >= 1  # compiled again, not loaded from the first rule's entry


CLOSURE_SCRIPT = textwrap.dedent("""
    import json, sys
    import tangent2 as tg
    factor = float(sys.argv[1])

    @tg.custom_vjp
    def scale(x):
        return 3.0 * x

    @scale.defvjp
    def scale_vjp(g, ans, x):
        return factor * g          # a closure: Numba freezes factor into the machine code

    def f(x):
        return scale(x) * x

    jitted = tg.jit(tg.grad(f))
    print(json.dumps(dict(value=jitted(1.5), **jitted.stats())))
""")


def test_a_rule_closing_over_a_value_is_not_served_from_the_cache(tmp_path):
    # both processes generate the same files, and the rule's code is the same: only the closed-over factor differs
    script = tmp_path / "closure_rule.py"
    script.write_text(CLOSURE_SCRIPT)
    env = {"TANGENT2_CACHE_DIR": str(tmp_path / "cache")}
    for factor in (3.0, 4.0):
        result = _run(f"import runpy, sys; sys.argv = [{str(script)!r}, {str(factor)!r}]; "
                      f"runpy.run_path({str(script)!r}, run_name='__main__')", env)
        assert result["value"] == pytest.approx(factor * 1.5 + 3.0 * 1.5)
        assert result["cache_hits"] == 0
