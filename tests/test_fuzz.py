"""Random-program fuzzing: forward, reverse, second order and finite differences agree.

``test_random_programs`` draws small programs from ``fuzz.programs()`` (a
Hypothesis strategy over tangent2's differentiable subset, see
``tests/fuzz.py``), derandomized so every run checks the same programs, and
fails on the first program where any two of forward mode, reverse mode,
forward over reverse, reverse over reverse and finite differences disagree,
or where tangent2 crashes, printing the program's source.  Constructs of
known bugs (``fuzz.KNOWN_BUGS``) are not generated; crashes with the
signature of a known bug are counted, not failed.

``REGRESSIONS``: a minimized reproduction of each bug the fuzzer found, a
strict xfail until tangent2 is fixed (then the xfail turns into an XPASS
failure: add its id to ``FIXED``, and drop the construct's key from
``fuzz.KNOWN_BUGS`` so the fuzzer generates it again).

Environment: ``TANGENT2_FUZZ_EXAMPLES`` (default 300) programs;
``TANGENT2_FUZZ_SHRINK=1`` lets Hypothesis shrink a failing program (slow).
Long campaigns: ``python -m tests.fuzz --n 10000 --seed 0``.
"""
import collections
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings

import tangent2 as tg

try:
    from tests import fuzz
except ImportError:  # tests/ on sys.path (pytest's rootdir insertion)
    import fuzz

N_PROGRAMS = int(os.environ.get("TANGENT2_FUZZ_EXAMPLES", "300"))
PHASES = [Phase.explicit, Phase.generate] + ([Phase.shrink] if os.environ.get("TANGENT2_FUZZ_SHRINK") else [])

_OUTCOMES = []


@settings(max_examples=N_PROGRAMS, derandomize=True, deadline=None, database=None, phases=PHASES,
          suppress_health_check=list(HealthCheck), print_blob=False)
@given(fuzz.programs(size=0.5))
def _check_random_program(program):
    outcome = fuzz.check_program(program, ror_switching=False)
    _OUTCOMES.append(outcome)
    if outcome.status in ("fail", "invalid", "unsupported"):
        raise AssertionError(
            f"{outcome.kind}\n{outcome.message}\n"
            f"--- program (features: {', '.join(sorted(program.features))}) ---\n{program.source}")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_random_programs():
    del _OUTCOMES[:]
    _check_random_program()
    counts = collections.Counter(o.status for o in _OUTCOMES)
    notes = collections.Counter(n.split(":")[0] for o in _OUTCOMES for n in o.notes)
    print(f"\n{len(_OUTCOMES)} programs: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) +
          ("; notes: " + ", ".join(f"{k} {v}" for k, v in sorted(notes.items())) if notes else ""))
    assert len(_OUTCOMES) >= N_PROGRAMS
    # the checks must not be vacuous: most programs are checked, not skipped
    assert counts["agree"] >= 0.75 * len(_OUTCOMES), counts


def test_generator_is_deterministic_and_writes_valid_python():
    import ast
    for index in range(30):
        a = fuzz.program_for(7, index)
        b = fuzz.program_for(7, index)
        assert a.source == b.source
        ast.parse(a.source)


def test_checker_catches_a_wrong_derivative():
    """The harness itself: a derivative that disagrees with finite differences is reported."""
    source = fuzz.program_for(3, 0).source
    program = fuzz.program_from_source(source)
    module, _ = fuzz.load(program)
    try:
        fd, _ = fuzz.directional_fd(module.f, module.ARGS, module.TANGENTS)
        with pytest.raises(fuzz.Mismatch):
            fuzz._compare("mismatch:test", fd * 1.01 + 1e-3, fd, fuzz.RTOL_FD, 1e-9, "wrong", "fd",
                          structured=False)
    finally:
        fuzz.unload(module)


def test_finite_differences_detect_kinks():
    def kinked(x):
        return np.maximum(x[0], x[1])

    with pytest.raises(fuzz.FDUnreliable):
        fuzz.directional_fd(kinked, (np.array([0.5, 0.5]),), (np.array([1.0, -1.0]),))

    def smooth(x):
        return np.sum(np.sin(x))

    fd, _ = fuzz.directional_fd(smooth, (np.array([0.5, 0.2]),), (np.array([1.0, -1.0]),))
    np.testing.assert_allclose(fd, np.cos(0.5) - np.cos(0.2), rtol=1e-10)


# ------------------------------------------------------------------------------------------ regressions
# Minimized programs the fuzzer found.  Each check returns (got, expected); the test asserts they agree.

X3 = np.array([0.3, -0.7, 1.1])
X4 = np.array([1.39, -0.68, 0.83])
X5 = np.array([-0.17, 0.44, 0.59])
X6 = np.array([-1.27, 0.28, 0.10])
X7 = np.array([-0.5, 0.8, 0.3])
X8 = np.array([-0.43, -1.22, 0.28])
X9 = np.array([1.01, -0.94, 0.79])
V3 = np.array([1.0, 0.5, -2.0])


def loop_defined(x):
    for i in range(2):
        v = x * x
    return v


def loop_defined_in_nested_loop(x, n=3):
    for i in range(3):
        for j in range(n):
            v = np.sin(x)
    return np.sum(v)


def transpose_of_expression(x):
    return np.sum((x * 2.0).T)


def slice_with_computed_index(m):
    i = 1
    return np.sum(m[:, i] ** 2)


def slice_with_loop_arithmetic_index(m):
    t = 0.0
    for i in range(3):
        t = t + np.sum(m[:, 2 - i] ** 2)
    return t


def slice_with_index_array(m):
    k = np.array([0, 0, 1])
    return np.sum(m[k, 1:] ** 2)


def write_into_inactive_array(s):
    a = np.full(3, 0.3)
    a[1] = s
    return np.sum(a)


def hessian_slice_after_sum(x):
    v = x[0:2]
    return np.sum(x) + np.sum(v * v)


def hessian_write_into_parameter(x):
    x[0] = 5.0
    return np.sum(x)


def jvp_swapped_parameter_write(x):
    y = x * 2.0
    x, y = y, x
    y[1] = 5.0
    return np.sum(x)


def inactive_rebind(x):
    x = np.mean(np.arange(3.0))
    return x


def inactive_rebind_axis_in_loop(x):
    for i in range(1):
        x = np.sum(np.ones((3, 4)) * 2.0, axis=1)
    return np.sum(x * np.ones(3))


def inactive_matmul_then_active(x):
    v = np.ones((2, 3)).T @ np.ones(2)
    v = v * x
    return np.sum(v)


def hessian_linear_matmul(x):
    return np.sum(np.ones((3, 3)) @ x)


def hessian_linear_vecmat(x):
    return np.sum(x @ np.ones((3, 3)))


def hessian_linear_dot(x):
    return np.sum(np.dot(np.ones((3, 3)), x))


def hessian_prod_with_zero(x):
    return np.prod(x)


def linear_in_matrix(x, m):
    return np.sum(x ** 2) + np.sum(m)


def overlapping_slice_write_then_loop(x):
    y = x * 1.0
    y[1:] = y[:2] ** 2
    for i in range(1):
        y = y * 1.0
    return np.sum(y)


def alias_augmented_assignment(x):
    v = x
    v += 1.0
    return np.sum(x * v)


def view_then_write_into_base(x):
    y = x * 1.0
    z = y[1:]
    y[1] = 5.0
    return np.sum(z * x[1:])


def tuple_loop_rebinds_item(x, y):
    for t in (x, y):
        y = t * 2.0
    return y


def loop_sum_of_broadcast(x):
    v = np.ones((3, 3)) + x
    for i in range(2):
        w = np.sum(v)
    return np.sum(np.sin(x)) + w


def conditional_inactive_sum_in_loop(x, s):
    for i in range(2):
        s = s + (x[2] if i != 0 else np.sum(np.zeros((3, 3))))
    return s


def real_attribute(x):
    return np.sum(x.real * x)


def astype_int(x):
    return np.sum(x.astype(int) * x)


def list_append_accumulator(x):
    out = []
    for i in range(3):
        out.append(x * i)
    return np.sum(sum(out))


def tuple_grown_in_loop(x):
    out = ()
    for i in range(3):
        out = out + (x * i,)
    return np.sum(sum(out))


def dead_stack_in_loop(x, s, m):
    s /= (1.5 + x[1] ** 2)
    v4 = m - x
    for i in range(2):
        m = np.stack((v4[i], x))  # noqa: F841 (dead, and still changes the Hessian)
    return s + np.sum(x)


def _check_dead_stack_in_loop():
    x, s, m = X3, -1.44, M23
    g = tg.grad(dead_stack_in_loop)
    hv = tg.jvp(g, (x, s, m), (V3, 0.0, np.zeros((2, 3))))[1]
    # d/dx of s / (1.5 + x1^2) is -2 s x1 / (1.5 + x1^2)^2 at x1; its derivative along V3:
    d2 = -2 * s * (1.5 - 3 * x[1] ** 2) / (1.5 + x[1] ** 2) ** 3
    return hv, np.array([0.0, d2 * V3[1], 0.0])


def _clear_error_or_right(f, args, expected):
    """(True, True) when tangent2 rejects f with UnsupportedSyntax or differentiates it right."""
    try:
        got = tg.grad(f)(*args)
    except tg.errors.UnsupportedSyntax:
        return True, True
    except Exception:  # the bug: a crash inside generated code instead of a clear error
        return False, True
    return bool(np.allclose(got, expected)), True


def unpack_param_in_if(x, m):
    if x[0] <= 10.0:
        w, m = 0.0, x / (1.5 + x)  # noqa: F841 (the tuple is part of the reproduction)
        m[2] += x[2]
    return m[2]


def dead_array_written_in_loop_in_if(x):
    if x[0] > 0.0:
        v = x * 1.0
        for i in range(2):
            v[0] = x[i]
    return np.sum(x)


def ror_dead_array_written_in_loop_in_if(x):
    return np.sum(tg.grad(dead_array_written_in_loop_in_if)(x) * V3)


def rows_loop_rebinds_array(m):
    t = 0.0
    for row in m:
        m = m * 2.0
        t = t + np.sum(row)
    return t


def slice_augassign_then_rebind_in_loop(x):
    a = x * 1.0
    for i in range(1):
        a[1:] *= x[0]
        a = a * 2.0
    return np.sum(a * x)


def element_write_then_rebind_in_loop(x):
    a = x * 1.0
    for i in range(1):
        a[1] = x[0]
        a = a * x
    return np.sum(a)


def ror_element_write_then_rebind_in_loop(x):
    return np.sum(tg.grad(element_write_then_rebind_in_loop)(x) * V3)


def element_chosen_then_decremented(x, s, n=3):
    v = x[1]
    t = s if n % 2 == 0 else v
    v -= 0.5
    return s ** 2 + t


def number_argument_linked_to_a_written_array(x, s):
    x[0] = 1.0
    for t in (x, s):
        y = t * 2.0
    v = s
    v -= x[1]
    return s * v + np.sum(x)


def shifted_and_transposed_then_written(x, m):
    v = (np.arange(3.0).reshape(3, 1) + m) + 2.0
    w = m.T + 1.0
    for i in range(3):
        m[i, 0] = 0.1 * x
    return np.sum(v ** 2) + np.sum(w) + np.sum(m)


def lambda_called_after_inner_while(x):
    double = lambda t: t * 2.0
    for i in range(2):
        k = 0
        while k < 2:
            k += 1
        y = double(x)
    return y * x


def element_of_vector_scaled_after_loop(s):
    for i in range(2):
        v = np.full(3, 0.8) * s
        e = v[2 - i]
    e *= np.tanh(s)
    return np.sum(v ** 2) + e


def return_in_loop_after_early_return(x, n=4):
    if x[0] > 5.0:
        return x * 1.0
    y = x * 3.0
    for i in range(n):
        if i > 1:
            return y * x
    return y


def weighted_return_in_loop_after_early_return(x):
    return np.sum(return_in_loop_after_early_return(x) * V3)


def early_return_then_write_after_loop(x):
    if x[0] > 5.0:
        return np.sum(x)
    a = x ** (x[2] * 0.0)
    for i in range(2):
        a = a * x[1] + np.sum(a)
    a[0] = 2.0
    return np.sum(a * x)


def ror_early_return_then_write_after_loop(x):
    return np.sum(tg.grad(early_return_then_write_after_loop)(x) * V3)


def _hessian_early_return_then_write_after_loop(x):
    """f = 2 x0 + (x1 + 3)^2 (x1 + x2) where the early return is not taken."""
    x1, x2 = x[1], x[2]
    return np.array([[0.0, 0.0, 0.0], [0.0, 2 * (x1 + x2) + 4 * (x1 + 3), 2 * (x1 + 3)], [0.0, 2 * (x1 + 3), 0.0]])


def element_write_of_other_argument_in_loop(x, s):
    a = np.zeros_like(x)
    for k in range(1):
        a[2] = np.exp(s)
        a = a * x
    return np.sum(a)


def ror_element_write_of_other_argument_in_loop(x, s):
    gx, gs = tg.grad(element_write_of_other_argument_in_loop, wrt=(0, 1))(x, s)
    return np.sum(gx * V3) + gs * 0.7


def element_augassign_then_square_in_loop(t):
    a = np.zeros(3)
    for k in range(2):
        a[0] += t
        a = a * a
    return np.sum(a)


def element_augassign_then_exp_in_loop(t):
    a = np.zeros(2)
    for k in range(2):
        a[0] += t
        a = np.exp(a)
    return np.sum(a)


def range_bound_rebound_in_loop(x):
    n = 2
    t = x * 1.0
    for i in range(n):
        n = n + 1
        t = t * x
    return np.sum(t) * n


def dead_array_written_in_loop(s):
    for i in range(3):
        a = np.zeros(3)
        a[:2] = np.arctan(s)
    v = np.sum(a) * s  # noqa: F841 (dead: the loop's a gets no adjoint)
    return np.sin(s)


def loop_defined_array_written_in_branch(x, s, n=3):
    for i in range(3):
        v = np.exp(x)
    if n > 5:
        w = x * 1.0  # noqa: F841
    else:
        v[0] = s
    return np.sum(x + s)


def loop_defined_read_in_untaken_branch(s, m):
    for i in range(2):
        v = m.reshape(3)
    if s > 0.0:
        s = s * 2.0
    else:
        s = s + v[2]
    return s


def assigned_in_last_iteration(x):
    for i in range(3):
        if i == 2:
            w = x * 2.0
    return np.sum(np.sin(w))


def reads_previous_iteration(x):
    for i in range(3):
        if i > 0:
            w = v * v  # noqa: F821 (v of the previous iteration)
        v = np.sin(x) * (i + 1.0)
    return np.sum(v + w)


def swap_then_slice_write_in_loop(x):
    v = x * 1.0
    x = np.tanh(x)
    w = x * 1.0
    for k in range(2):
        w += v
        x, v = v, x
        x[1:] = np.tanh(w[::2])
    return np.sum(x)


def slice_write_then_swap(x):
    a = x * 1.0
    a[1:] = np.cos(a[:2])
    x, a = a, x
    return np.sum(x)


def overlapping_slice_write_rebound_in_loop(x):
    y = x * 1.0
    for i in range(2):
        y = y * 2.0
        y[1:] = y[:2] ** 2
    return np.sum(y)


def slice_augassign_rebound_in_loop(x, s):
    y = x * 1.0
    for i in range(2):
        y = y * 1.0
        y[1:] *= s
    return np.sum(y)


def dead_matmul_in_loop(t):
    v5 = (t + t) - np.ones((3, 1))
    v12 = v5 @ np.ones((1, 3))
    for i in range(2):
        v15 = v12[0] * 1.0  # noqa: F841 (dead, and still changes the Hessian)
    return np.mean(np.sin(v5))


def dead_code_in_branches(x, s):
    v1 = x.reshape(1, 3).copy()
    if s > 10.0:
        return np.sum(x)
    elif s > -10.0:
        v9 = v1[0, -1] + np.dot(x, np.full((3, 3), 3.0))
        if x[2] >= -0.4:
            v10 = np.cumsum(v1[0])  # noqa: F841
        else:
            v11 = v9.reshape(3, 1) + x.reshape(3, 1)  # noqa: F841
    return np.sum(x ** 2)


def ror_dead_code_in_branches(x, s):
    g = tg.grad(dead_code_in_branches, wrt=(0, 1))(x, s)
    return np.sum(g[0] * V3) + g[1] * 0.3


def write_in_loop_with_untaken_branch(x, s):
    v1 = np.sum(np.outer(x[::2], x), axis=0)
    for k in range(2):
        x[:2] = v1[:2] * v1[1:]
        if s > 1.5:
            x = x * 1.0
    return np.sum(np.sin(x))


def _check_hvp_write_in_loop_with_untaken_branch():
    x, s = np.array([0.27, 0.92, -0.31]), -0.14
    hv = tg.jvp(tg.grad(write_in_loop_with_untaken_branch), (x, s), (V3, 0.0))[1]
    fd = _numerical_grad(lambda y: np.sum(tg.grad(write_in_loop_with_untaken_branch)(y, s) * V3), x)
    return hv, fd


def divide_then_write_in_loop_if(s):
    m = np.arange(6.0).reshape(2, 3) * 0.3
    for i in range(2):
        if s > 0.0:
            m = m / s
        m[0, 2 - i] = s * m[i, 2]
    return np.sum(m)  # 2.1 / s + 3.6 / s ** 2


def array_written_after_if(x, s):
    if s < 1.5:
        x = x / s
    x[-1] *= s
    return x


def _check_vjp_array_written_after_if():
    s = 0.4
    ds = tg.vjp(array_written_after_if, X3.copy(), s)[1](V3)[1]
    return ds, -(V3[0] * X3[0] + V3[1] * X3[1]) / s ** 2  # <V3, out> = (V3[:2] . x[:2]) / s + V3[2] x[2]


def array_write_in_if(x, s):
    if s < 2.0:
        v1 = np.sinh(x)
        x = x * 1.0
        x[1:] = v1[0]
    return np.sum(x)


def ror_array_write_in_if(x):
    return np.sum(tg.grad(array_write_in_if)(x, 0.5) * V3)


def conditional_with_reshape(x):
    a = np.zeros((3, 4))
    v = (a * 2.0) if x[2] < 0.25 else (a * np.reshape(x, (3, 1)))
    return np.sum(v)


def ror_conditional_with_reshape(x):
    return np.sum(tg.grad(conditional_with_reshape)(x) * V3)


def _helper_writing_its_local(a, k=2.0):
    a = a * a
    a[0] = k + k
    return a * 1.0


def helper_inlined_twice(x, s):
    if s > 10.0:
        x = _helper_writing_its_local(x, s)
    x = _helper_writing_its_local(np.zeros(3), k=s)
    return np.sum(x)


def _numerical_grad(f, x):
    from tangent2.testing import numerical_grad
    return numerical_grad(f, (x,))


def conditional_inactive_reduction(x, s):
    v = np.sum(np.ones((2, 3))) if s > 0.0 else s * x[0]
    return v + x


def dead_broadcast_in_loop(x):
    v = np.ones((2, 3)) * x
    for k in range(2):
        w = v * 2.0  # noqa: F841 (dead, and still changes the shape of jvp(grad(f)))
    return np.sum(x ** 2)


def dead_broadcast_in_loop_crash(x):
    v1 = np.transpose(np.outer(x[1:], x)) @ (np.arange(6.0).reshape(2, 3) * 0.3)
    for k in range(2):
        v5 = v1[:2] * x.sum() + (v1[:, 2] + np.full((2, 3), 0.8))  # noqa: F841
    return np.sum(x * 0.1)


def conditional_array_literal(x):
    return 0.25 * (np.array([0.8, 2.0, 1.5]) if x[0] > 0.0 else x)


def _jvp_of_grad(f, x, v):
    return tg.jvp(tg.grad(f), (x,), (v,))[1]


def _check_jvp_tangent_untouched():
    v = V3.copy()
    tg.jvp(jvp_swapped_parameter_write, (X3.copy(),), (v,))
    return v, V3


def _check_zero_shape():
    hv = tg.jvp(tg.grad(linear_in_matrix, wrt=(0, 1)), (X3, np.ones((3, 1))), (V3, np.ones((3, 1))))[1]
    return np.shape(hv[1]), (3, 1)


M23 = np.arange(6.0).reshape(2, 3) * 0.3
X_POSITIVE = np.array([0.5, 0.7, 1.2])

REGRESSIONS = [
    ("loop_defined", "a variable first assigned in a for loop and read after it: zero gradient",
     lambda: (tg.grad(loop_defined)(0.7), 1.4)),
    ("loop_defined_in_nested_loop", "found by the fuzzer: a variable first assigned in a nested loop and read "
     "after the outer one: UnboundLocalError (the inner loop saved it at the top of every iteration, the first "
     "one included)", lambda: (tg.grad(loop_defined_in_nested_loop)(X3), np.cos(X3))),
    ("loop_defined_in_nested_loop_hvp", "forward over reverse of loop_defined_in_nested_loop",
     lambda: (_jvp_of_grad(loop_defined_in_nested_loop, X3, V3), -np.sin(X3) * V3)),
    ("transpose_of_expression_grad", "'.T' of an expression: zero gradient",
     lambda: (tg.grad(transpose_of_expression)(X3), np.full(3, 2.0))),
    ("transpose_of_expression_jvp", "'.T' of an expression: zero tangent",
     lambda: (tg.jvp(transpose_of_expression, (X3,), (V3,))[1], 2.0 * np.sum(V3))),
    ("slice_with_computed_index", "m[:, i] with i a variable: reverse mode emits invalid Python",
     lambda: (tg.grad(slice_with_computed_index)(M23), np.array([[0, 2 * M23[0, 1], 0], [0, 2 * M23[1, 1], 0]]))),
    ("slice_with_loop_arithmetic_index", "m[:, 2 - i] in a loop: reverse mode emits invalid Python",
     lambda: (tg.grad(slice_with_loop_arithmetic_index)(M23), 2 * M23)),
    ("slice_with_index_array", "m[k, 1:] with k an index array (repeated rows): the adjoint's add_at needs the "
     "slice as an object", lambda: (tg.grad(slice_with_index_array)(M23), 2 * np.array([[2], [1]]) * M23 *
                                    np.array([0, 1, 1]))),
    ("slice_with_index_array_hvp", "forward over reverse of m[k, 1:] with an index array",
     lambda: (_jvp_of_grad(slice_with_index_array, M23, M23 + 1.0), 2 * np.array([[2], [1]]) * (M23 + 1.0) *
              np.array([0, 1, 1]))),
    ("write_into_inactive_array", "jvp: writing an active value into np.full(...) crashes",
     lambda: (tg.jvp(write_into_inactive_array, (0.7,), (1.0,))[1], 1.0)),
    ("hessian_slice_after_sum", "jvp(grad(f)): the adjoint of np.sum(x) then a slice: IndexError on a 0-d array",
     lambda: (_jvp_of_grad(hessian_slice_after_sum, X3, V3), np.array([2 * V3[0], 2 * V3[1], 0.0]))),
    ("hessian_write_into_parameter", "jvp(grad(f)) of f writing into its parameter: IndexError on a 0-d array",
     lambda: (_jvp_of_grad(hessian_write_into_parameter, X3.copy(), V3), np.zeros(3))),
    ("jvp_swapped_parameter_write", "jvp writes into the caller's tangent array (parameter written via a swap)",
     _check_jvp_tangent_untouched),
    ("inactive_rebind", "x = np.mean(constant): the jvp tangent has the operand's shape (3,), not ()",
     lambda: (np.shape(tg.jvp(inactive_rebind, (X3,), (V3,))[1]), ())),
    ("inactive_rebind_axis_in_loop", "inactive reduction with axis rebinding x in a loop: jvp crashes",
     lambda: (tg.jvp(inactive_rebind_axis_in_loop, (X3,), (V3,))[1], 0.0)),
    ("inactive_matmul_then_active", "v = A.T @ c (inactive), then v = v * x: jvp crashes",
     lambda: (tg.jvp(inactive_matmul_then_active, (X3,), (V3,))[1], 2.0 * np.sum(V3))),
    ("conditional_inactive_reduction", "v = np.sum(C) if s > 0 else s * x[0]; return v + x: jvp tangent of "
     "shape (2, 3) for a (3,) output", lambda: (np.shape(tg.jvp(conditional_inactive_reduction, (X3, 0.5),
                                                                 (V3, 1.0))[1]), (3,))),
    ("conditional_array_literal", "jvp of `np.array([...]) if c else x`: TypeError can't multiply sequence "
     "by non-int of type 'float' (the literal's tangent is a list)",
     lambda: (tg.jvp(conditional_array_literal, (X3,), (V3,))[1], np.zeros(3))),
    ("hessian_linear_matmul", "jvp(grad(f)) of np.sum(A @ x): matmul ValueError",
     lambda: (_jvp_of_grad(hessian_linear_matmul, X3, V3), np.zeros(3))),
    ("hessian_linear_vecmat", "jvp(grad(f)) of np.sum(x @ A): AxisError",
     lambda: (_jvp_of_grad(hessian_linear_vecmat, X3, V3), np.zeros(3))),
    ("hessian_linear_dot", "jvp(grad(f)) of np.sum(np.dot(A, x)): IndexError",
     lambda: (_jvp_of_grad(hessian_linear_dot, X3, V3), np.zeros(3))),
    ("hessian_prod_with_zero", "hessian of np.prod(x) with a zero element: NaN",
     lambda: (tg.hessian(hessian_prod_with_zero)(np.array([0.0, 2.0, 3.0])),
              np.array([[0.0, 3.0, 2.0], [3.0, 0.0, 0.0], [2.0, 0.0, 0.0]]))),
    ("zero_shape", "jvp(grad(f)) returns 0.0, not zeros((3, 1)), for an argument f is linear in",
     _check_zero_shape),
    ("overlapping_slice_write_rebound_in_loop", "y = y * 2.0; y[1:] = y[:2] ** 2 in a loop: gradient "
     "[-76, 0, 0], should be [-44, 0, 0] (first order)",
     lambda: (tg.grad(overlapping_slice_write_rebound_in_loop)(X7), np.array([-44.0, 0.0, 0.0]))),
    ("slice_augassign_rebound_in_loop", "y = y * 1.0; y[1:] *= s in a loop: d/ds is -0.47, half the right "
     "2 s (x1 + x2) = -0.94", lambda: (tg.grad(slice_augassign_rebound_in_loop, wrt=1)(X8, 0.5),
                                       2 * 0.5 * (X8[1] + X8[2]))),
    ("overlapping_slice_write_then_loop", "forward over reverse: y[1:] = y[:2] ** 2 then a loop: wrong Hv",
     lambda: (_jvp_of_grad(overlapping_slice_write_then_loop, X3, V3), np.array([2 * V3[0], 2 * V3[1], 0.0]))),
    ("tuple_loop_rebinds_item_value", "for t in (x, y) rebinding y: jvp's value is 2.0, Python's 1.4",
     lambda: (tg.jvp(tuple_loop_rebinds_item, (0.5, 0.7), (1.0, 0.0))[0], tuple_loop_rebinds_item(0.5, 0.7))),
    ("tuple_loop_rebinds_item_grad", "for t in (x, y) rebinding y: grad (4, 0), expected (0, 2)",
     lambda: (tg.grad(tuple_loop_rebinds_item, wrt=(0, 1))(0.5, 0.7), np.array([0.0, 2.0]))),
    ("rows_loop_rebinds_array", "for row in m rebinding m: value 27 (Python 15), gradient 1 and 2 (should be 1)",
     lambda: (tg.grad(rows_loop_rebinds_array)(np.arange(6.0).reshape(2, 3)), np.ones((2, 3)))),
    ("slice_augassign_then_rebind_in_loop", "forward over reverse: a[1:] *= x[0]; a = a * 2.0 in a loop: wrong Hv",
     lambda: (_jvp_of_grad(slice_augassign_then_rebind_in_loop, X3, V3),
              np.array([[4, 4 * X3[1], 4 * X3[2]], [4 * X3[1], 4 * X3[0], 0],
                        [4 * X3[2], 0, 4 * X3[0]]]) @ V3)),
    ("ror_element_write_then_rebind_in_loop", "reverse over reverse (no mode switching): a[1] = x[0]; a = a * x "
     "in a loop: wrong Hv", lambda: (tg.grad(ror_element_write_then_rebind_in_loop, mode_switching=False)(X3),
                                     np.array([2 * V3[0] + V3[1], V3[0], 2 * V3[2]]))),
    ("element_chosen_then_decremented", "found by the fuzzer (seed 8, index 161): v = x[1]; t = (s if c else "
     "v); v -= 0.5; t read: rejected while compiling (the in-place -= was taken for a certain write into the "
     "argument's array, though v may hold a copied element; with x a matrix it is rejected when run)",
     lambda: (np.concatenate(tg.grad(element_chosen_then_decremented, wrt=(0, 1))(X3, 0.7), axis=None),
              np.array([0.0, 1.0, 0.0, 1.4]))),
    ("number_argument_linked_to_a_written_array", "found by the fuzzer (seed 0, index 1424): a number argument s "
     "that may share an array written into (a loop over (x, s) with x written) was copied with np.copy, a 0-d "
     "array, so v = s; v -= ... was rejected when run (s shares its array with v); f = s (s - x1) + 1 + x1 + x2",
     lambda: (np.concatenate(tg.grad(number_argument_linked_to_a_written_array, wrt=(0, 1))(X3.copy(), 0.7),
                             axis=None), np.array([0.0, 1.0 - 0.7, 1.0, 2 * 0.7 - X3[1]]))),
    ("shifted_and_transposed_then_written", "found by the fuzzer (seed 0, index 1433): jvp of v = m + c and "
     "w = m.T, then m[i, 0] = ... for every row: the tangents of v and w were m's tangent (or a view of it), "
     "which the writes changed: 3.0, exact 2 sum(v) + 3 + 0.3 = 27.3",
     lambda: (tg.jvp(shifted_and_transposed_then_written, (0.5, np.ones((3, 1))), (1.0, np.ones((3, 1))))[1],
              2 * np.sum(np.arange(3.0) + 3) + 3 + 0.3)),
    ("lambda_called_after_inner_while", "found by the fuzzer (seed 0 index 1605, seed 1 index 97): a lambda "
     "called in a for loop after a while loop nested in it: ValueError list.remove(x): x not in list (the "
     "normalizer's records of the loops' static reads were removed by equality, and the two compared equal)",
     lambda: ([tg.grad(lambda_called_after_inner_while)(0.7), tg.jvp(lambda_called_after_inner_while, (0.7,),
                                                                      (0.5,))[1]], np.array([4 * 0.7, 4 * 0.7 * 0.5]))),
    ("element_of_vector_scaled_after_loop", "found by the fuzzer (seed 5, index 226): e = v[2 - i] in a loop "
     "over range(2), then e *= ...: rejected with UnsupportedSyntax ('v' read after a write through 'e'), though "
     "an element of a vector is a copy (the check that decides it when the function runs needs v bound at the "
     "write, and a loop over a non-empty constant range was taken to maybe skip its body)",
     lambda: (tg.grad(element_of_vector_scaled_after_loop)(0.7),
              3.84 * 0.7 + 0.8 * (np.tanh(0.7) + 0.7 * (1 - np.tanh(0.7) ** 2)))),
    ("return_in_loop_after_early_return", "found while minimizing the seed-0 index-38 fuzz finding: an early "
     "return not taken, then a return inside a loop that is taken: gradient zero, should be 6 x v (the reversed "
     "if of the first return tested its flag after the loop had cleared it)",
     lambda: (tg.grad(weighted_return_in_loop_after_early_return)(X3), 6 * X3 * V3)),
    ("ror_early_return_then_write_after_loop", "found by the fuzzer (seed 0, index 38): reverse over reverse (no "
     "mode switching) with an early return not taken, a loop rebinding a and a[0] = 2.0 after it: wrong Hv (the "
     "first-order sweep's reversed loop left a bound to its first value, and the restores of the element write "
     "wrote into that array: a name defined under the early return's flag was not known to be defined in the "
     "adjoint under the same flag)",
     lambda: (tg.grad(ror_early_return_then_write_after_loop, mode_switching=False)(X_POSITIVE),
              _hessian_early_return_then_write_after_loop(X_POSITIVE) @ V3)),
    ("ror_element_write_of_other_argument_in_loop", "found by the fuzzer (seed 3): reverse over reverse (no mode "
     "switching) of a[2] = np.exp(s); a = a * x in a loop: d/ds misses exp(s) v2 (the first-order sweep pushes a "
     "and then writes into it; reverse mode over it takes the push for a copy)",
     lambda: (tg.grad(ror_element_write_of_other_argument_in_loop, wrt=1, mode_switching=False)(X3, 0.4),
              np.exp(0.4) * (V3[2] + 0.7 * X3[2]))),
    ("grad_grad_element_augassign_in_loop", "tg.grad(tg.grad(f)) with a[0] += t; a = a * a in a loop: 1.92, "
     "exact f'' = 2(2t+1)^2 + 4(t^2+t) = 6.68 at t = 0.3",
     lambda: (tg.grad(tg.grad(element_augassign_then_square_in_loop))(0.3), 2 * 1.6 ** 2 + 4 * 0.39)),
    ("for_element_augassign_then_exp_in_loop", "jvp(grad(f)) with a[0] += t; a = np.exp(a) in a loop: 20.49, "
     "exact 17.89", lambda: (tg.jvp(tg.grad(element_augassign_then_exp_in_loop), (0.3,), (0.5,))[1],
                             np.exp(np.exp(0.3) + 0.3) * ((np.exp(0.3) + 1) ** 2 + np.exp(0.3)) * 0.5)),
    ("hessian_dead_matmul_in_loop", "tg.hessian(f) of a scalar f with a dead v12[0] * 1.0 in a loop "
     "(v12 = v5 @ ones((1, 3))): -8.94, exact -4 mean(sin(2t - 1)) = -2.98 (3 times too large)",
     lambda: (tg.hessian(dead_matmul_in_loop)(0.92), -4 * np.mean(np.sin(2 * 0.92 - 1)))),
    ("ror_dead_code_in_branches", "reverse over reverse (with or without mode switching) with dead code in "
     "if/elif branches: ValueError shape-mismatch for sum (jvp(grad(f)) is right)", lambda: (tg.grad(ror_dead_code_in_branches, wrt=0, mode_switching=False)(X9, 1.2), 2 * V3)),
    ("loop_sum_of_broadcast", "jvp(grad(f)): a broadcast (3, 3) value summed in a loop gives Hv of shape (3, 3)",
     lambda: (np.shape(_jvp_of_grad(loop_sum_of_broadcast, X3, V3)), (3,))),
    ("dead_broadcast_in_loop", "jvp(grad(f)) with a dead w = (ones((2, 3)) * x) * 2.0 in a loop: Hv of shape "
     "(2, 3), rows equal to 2v", lambda: (_jvp_of_grad(dead_broadcast_in_loop, X3, V3), 2 * V3)),
    ("dead_broadcast_in_loop_crash", "jvp(grad(f)) with a dead broadcast in a loop: ValueError shapes (3,2) and "
     "(3,) not aligned", lambda: (_jvp_of_grad(dead_broadcast_in_loop_crash, X3, V3), np.zeros(3))),
    ("conditional_inactive_sum_in_loop", "jvp through `a if c else np.sum(Z)` in a loop: tangent of shape (3, 3)",
     lambda: (np.shape(tg.jvp(conditional_inactive_sum_in_loop, (X3, 0.5), (V3, 1.0))[1]), ())),
    ("unpack_param_in_if", "if c: w, m = 0.0, x / (1.5 + x); m[2] += x[2]: gradient 0.920, should be 1.276",
     lambda: (tg.grad(unpack_param_in_if)(X4, np.ones(3))[2], 1.5 / (1.5 + X4[2]) ** 2 + 1.0)),
    ("ror_dead_array_written_in_loop_in_if", "reverse over reverse (no mode switching): TypeError "
     "'float' object is not subscriptable", lambda: (tg.grad(ror_dead_array_written_in_loop_in_if,
                                                              mode_switching=False)(X4), np.zeros(3))),
    ("slice_write_then_swap", "a[1:] = np.cos(a[:2]); x, a = a, x; return np.sum(x): gradient "
     "[1.955, -0.292, 0], should be [1 - sin x0, -sin x1, 0] = [1.955, -0.276, 0]",
     lambda: (tg.grad(slice_write_then_swap)(X6), np.array([1 - np.sin(X6[0]), -np.sin(X6[1]), 0.0]))),
    ("swap_then_slice_write_in_loop", "x = np.tanh(x); loop: w += v; x, v = v, x; x[1:] = np.tanh(w[::2]): "
     "gradient [3.272, 0, 0.175], finite differences [3.272, 0, 0.335]",
     lambda: (tg.grad(swap_then_slice_write_in_loop)(X5), _numerical_grad(swap_then_slice_write_in_loop, X5))),
    ("hvp_write_in_loop_with_untaken_branch", "found by the fuzzer: jvp(grad(f)) of x[:2] = ... and an untaken "
     "`if s > 1.5: x = x * 1.0` in a loop: wrong Hv (forward mode copied the tangent of an array popped from a "
     "stack, so restoring its elements in place missed the tangent the next pop shares)",
     _check_hvp_write_in_loop_with_untaken_branch),
    ("divide_then_write_in_loop_if", "found by the fuzzer: m = m / s inside an if in a loop, then m[0, 2 - i] = "
     "s * m[i, 2]: gradient -24.91, exact -2.1 / s^2 - 7.2 / s^3 = -25.28 at s = 0.7 (jvp is right)",
     lambda: (tg.grad(divide_then_write_in_loop_if)(0.7), -2.1 / 0.7 ** 2 - 7.2 / 0.7 ** 3)),
    ("vjp_array_written_after_if", "found by the fuzzer: if c: x = x / s; then x[-1] *= s; return x: the vjp's "
     "d/ds is wrong (the adjoint of x / s reads x after the write; grad of a scalar function is right)",
     _check_vjp_array_written_after_if),
    ("ror_array_write_in_if", "found by the fuzzer: reverse over reverse (no mode switching) of an array written "
     "inside an if (x = x * 1.0; x[1:] = v1[0]): IndexError, the adjoint of v1 is a 0-d zero indexed as an array",
     lambda: (tg.grad(ror_array_write_in_if, mode_switching=False)(X9), np.array([2 * V3[0] * np.sinh(X9[0]), 0, 0]))),
    ("range_bound_rebound_in_loop", "for i in range(n) with the body rebinding n: the reversed loop ran over the "
     "final n (IndexError: pop from empty list)", lambda: (tg.grad(range_bound_rebound_in_loop)(X3), 12 * X3 ** 2)),
    ("dead_array_written_in_loop", "found by the fuzzer: an array first assigned in a loop, written into and dead "
     "after it: TypeError 'float' object is not subscriptable (its adjoint was a scalar zero)",
     lambda: (tg.grad(dead_array_written_in_loop)(0.3), np.cos(0.3))),
    ("loop_defined_array_written_in_branch", "found by the fuzzer: an array first assigned in a loop, then written "
     "into in a branch, its adjoint a scalar zero (not known to be defined): TypeError 'float' object is not "
     "subscriptable", lambda: (tg.grad(loop_defined_array_written_in_branch, wrt=1)(X3, 0.5), 3.0)),
    ("loop_defined_read_in_untaken_branch", "found by the fuzzer: v = m.reshape(3) in a loop, v read only in the "
     "branch not taken: ValueError cannot reshape array of size 1 (its adjoint, a scalar zero, went through "
     "np.reshape's rule)", lambda: (np.hstack([np.ravel(g) for g in tg.grad(loop_defined_read_in_untaken_branch,
                                                                              wrt=(0, 1))(0.5, np.ones((3, 1)))]),
                                    [2.0, 0.0, 0.0, 0.0])),
    ("assigned_in_last_iteration", "a variable assigned in a branch of a loop (if i == 2: w = ...), read after "
     "it: UnboundLocalError (the branch not taken copied it)",
     lambda: (tg.grad(assigned_in_last_iteration)(X3), 2 * np.cos(2 * X3))),
    ("reads_previous_iteration", "if i > 0: w = v * v reads v of the previous iteration: UnboundLocalError, "
     "and once v was bound, a gradient from the last v", lambda: (tg.grad(reads_previous_iteration)(X3),
                                                                  3 * np.cos(X3) + 8 * np.sin(X3) * np.cos(X3))),
    ("reads_previous_iteration_hvp", "forward over reverse of reads_previous_iteration",
     lambda: (_jvp_of_grad(reads_previous_iteration, X3, V3), (-3 * np.sin(X3) + 8 * np.cos(2 * X3)) * V3)),
    ("ror_conditional_with_reshape", "reverse over reverse (no mode switching) of `a * 2.0 if c else a * "
     "np.reshape(x, (3, 1))`: ValueError cannot reshape array of size 1 into shape (3,)",
     lambda: (tg.grad(ror_conditional_with_reshape, mode_switching=False)(X3), np.zeros(3))),
    ("helper_inlined_twice", "a helper rebinding and writing its parameter, called in an untaken branch and "
     "again after it: jvp fails with UnboundLocalError 'a_dot'",
     lambda: (tg.jvp(helper_inlined_twice, (X3, 1.1), (V3, 1.0))[1], 2.0)),
    ("real_attribute", "x.real has a zero derivative (silently: np.real(x) raises NotDifferentiable)",
     lambda: (tg.grad(real_attribute)(X3), 2 * X3)),
    ("astype_int", "x.astype(int) is differentiated as the identity (silently wrong)",
     lambda: (tg.grad(astype_int)(X3), X3.astype(int).astype(float))),
    ("list_append_accumulator", "out = []; out.append(...) in a loop: a ValueError from generated code, "
     "not UnsupportedSyntax", lambda: _clear_error_or_right(list_append_accumulator, (X3,), np.full(3, 3.0))),
    ("tuple_grown_in_loop", "out = out + (x * i,) in a range loop: the body, normalized once, read the tuple "
     "bound before the loop in every iteration (value 2x, gradient 2; Python: 3x, 3)",
     lambda: _clear_error_or_right(tuple_grown_in_loop, (X3,), np.full(3, 3.0))),
    ("dead_stack_in_loop", "found by the fuzzer (seed 5, program 167): jvp(grad(f)) with a dead m = np.stack((v4[i], "
     "x)) in a loop: Hv of shape (2, 3), row 0 zero and row 1 the x1 component repeated (should be [0, h, 0])",
     _check_dead_stack_in_loop),
    ("alias_augmented_assignment", "found by the fuzzer: v = x; v += 1.0 writes into x as well; tangent2 rebound v "
     "only (gradient 2x + 1, should be 2(x + 1))",
     lambda: _clear_error_or_right(alias_augmented_assignment, (X3.copy(),), 2 * (X3 + 1.0))),
    ("view_then_write_into_base", "found by the fuzzer: z = y[1:] then y[1] = 5.0 changes z; tangent2 kept z's old "
     "value", lambda: _clear_error_or_right(view_then_write_into_base, (X3.copy(),), np.array([0.0, 5.0, 2 * X3[2]]))),
]


# Found by the fuzzer and since fixed: plain regression tests now.
# Ids of REGRESSIONS fixed in tangent2: their xfail mark is dropped (delete the entry from REGRESSIONS' xfail
# list by adding the id here once the fix is in this tree; an XPASS(strict) failure says when).
FIXED = {"dead_stack_in_loop", "swap_then_slice_write_in_loop", "alias_augmented_assignment", "assigned_in_last_iteration", "astype_int", "conditional_array_literal",
         "conditional_inactive_reduction", "conditional_inactive_sum_in_loop", "dead_array_written_in_loop",
         "dead_broadcast_in_loop", "dead_broadcast_in_loop_crash", "divide_then_write_in_loop_if",
         "for_element_augassign_then_exp_in_loop", "grad_grad_element_augassign_in_loop", "helper_inlined_twice",
         "hessian_dead_matmul_in_loop", "hessian_linear_dot", "hessian_linear_matmul", "hessian_linear_vecmat",
         "hessian_prod_with_zero", "hessian_slice_after_sum", "hessian_write_into_parameter",
         "hvp_write_in_loop_with_untaken_branch", "inactive_matmul_then_active",
         "inactive_rebind", "inactive_rebind_axis_in_loop", "jvp_swapped_parameter_write", "list_append_accumulator",
         "loop_defined", "loop_defined_array_written_in_branch", "loop_defined_in_nested_loop",
         "loop_defined_in_nested_loop_hvp", "loop_defined_read_in_untaken_branch", "loop_sum_of_broadcast",
         "overlapping_slice_write_rebound_in_loop", "overlapping_slice_write_then_loop",
         "range_bound_rebound_in_loop", "reads_previous_iteration", "reads_previous_iteration_hvp", "real_attribute",
         "ror_array_write_in_if", "ror_conditional_with_reshape", "ror_element_write_of_other_argument_in_loop",
         "ror_element_write_then_rebind_in_loop", "ror_dead_array_written_in_loop_in_if",
         "ror_early_return_then_write_after_loop", "return_in_loop_after_early_return",
         "element_of_vector_scaled_after_loop", "lambda_called_after_inner_while",
         "shifted_and_transposed_then_written", "number_argument_linked_to_a_written_array",
         "element_chosen_then_decremented",
         "ror_dead_code_in_branches", "rows_loop_rebinds_array", "slice_augassign_rebound_in_loop",
         "slice_augassign_then_rebind_in_loop", "slice_with_computed_index", "slice_with_index_array",
         "slice_with_index_array_hvp", "slice_with_loop_arithmetic_index", "slice_write_then_swap",
         "transpose_of_expression_grad", "transpose_of_expression_jvp",
         "tuple_grown_in_loop", "tuple_loop_rebinds_item_grad", "tuple_loop_rebinds_item_value",
         "unpack_param_in_if", "view_then_write_into_base", "vjp_array_written_after_if",
         "write_into_inactive_array", "zero_shape"}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("check", [
    pytest.param(check, id=name, marks=[] if name in FIXED else pytest.mark.xfail(strict=True, reason=reason))
    for name, reason, check in REGRESSIONS])
def test_regression(check):
    got, expected = check()
    if isinstance(expected, tuple):
        assert tuple(got) == expected
    else:
        got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
        # a derivative broadcast to a larger shape is wrong even where its values repeat the right ones
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)


# The minimized programs of the fuzzer's last known bugs (KNOWN_BUGS "overlap_slice_write": a slice write whose
# value reads the array it writes, then the array rebound in a loop; "broadcast_shape": dead or inactive
# broadcasts giving derivatives a larger shape), run through every check of a random program: forward and
# reverse mode against finite differences and each other, forward over reverse against both reverse over reverse
# modes and finite differences of the gradient, each derivative with exactly its argument's shape.
FULLY_CHECKED = [
    ("overlapping_slice_write_then_loop", overlapping_slice_write_then_loop, (X3,), (V3,)),
    ("overlapping_slice_write_rebound_in_loop", overlapping_slice_write_rebound_in_loop, (X7,), (V3,)),
    ("slice_augassign_then_rebind_in_loop", slice_augassign_then_rebind_in_loop, (X3,), (V3,)),
    ("slice_augassign_rebound_in_loop", slice_augassign_rebound_in_loop, (X8, 0.5), (V3, -0.7)),
    ("dead_code_in_branches", dead_code_in_branches, (X9, 1.2), (V3, 0.3)),
    ("dead_broadcast_in_loop", dead_broadcast_in_loop, (X3,), (V3,)),
    ("loop_sum_of_broadcast", loop_sum_of_broadcast, (X3,), (V3,)),
    ("dead_stack_in_loop", dead_stack_in_loop, (X3, -1.44, M23), (V3, 0.4, M23 - 0.5)),
]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("function, args, tangents", [pytest.param(f, a, t, id=name)
                                                      for name, f, a, t in FULLY_CHECKED])
def test_fully_checked(function, args, tangents):
    outcome = fuzz.check_program(fuzz.program_from_function(function, args, tangents))
    assert outcome.status == "agree", f"{outcome.kind}\n{outcome.message}"
    assert {"jvp-vs-fd", "for-vs-ror", "for-vs-ror-switched", "hvp-vs-fd"} <= set(outcome.checks), outcome.checks
