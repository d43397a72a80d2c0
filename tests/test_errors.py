"""Bad input gets a clear error naming the user's file and line, before anything runs."""
import os

import numpy as np
import pytest

import tangent2 as tg
from tangent2.errors import (NonDifferentiableInput, NotDifferentiable, ShapeMismatch, SourceUnavailable,
                             UnsupportedSyntax)

THIS_FILE = os.path.basename(__file__)


def line_of(function, text):
    """The file line number of the first line of ``function`` containing ``text``."""
    import inspect
    lines, first = inspect.getsourcelines(function)
    for offset, line in enumerate(lines):
        if text in line:
            return first + offset
    raise AssertionError(f"{text!r} not in {function.__name__}")


def uses_try(x):
    try:
        y = x * 2
    except ValueError:
        y = x
    return y


def uses_with(x):
    with open("f") as handle:
        y = x
    return y


counter = 0


def uses_global(x):
    global counter
    return x


def uses_yield(x):
    yield x


def uses_class(x):
    class Box:
        pass
    return x


def uses_starred_call(x):
    args = (x, x)
    return np.add(*args)


def uses_starred_params(*xs):
    return xs[0]


def recursive(x):
    if x > 1.0:
        return recursive(x / 2.0)
    return x


def uses_del(x):
    y = x
    del y
    return x


def uses_raise(x):
    if x < 0:
        raise ValueError("negative")
    return x


def uses_set(x):
    return len({x})


def uses_fft(x):
    return np.real(np.sum(np.fft.fft(x)))


def uses_import(x):
    import math
    return math.sin(x)


def uses_undefined(x):
    return x * undefined_name  # noqa: F821


def uses_attribute_assignment(x):
    x.foo = 1.0
    return x


def sums_a_list_built_in_a_loop(x):
    out = []
    for i in range(3):
        out.append(x * i)
    return sum(out)


def grows_a_tuple_in_a_loop(x):
    out = ()
    for i in range(3):
        out = out + (x * i,)
    return sum(out)


def casts_to_a_dtype_known_at_run_time(x):
    return x.astype(x.dtype) * x


def tuple_of_other_length_in_one_branch(x):
    if x > 0.5:
        t = (x, x)
    else:
        t = (x, x, x)
    return t[0]


def tuple_in_both_branches(x):
    if x > 0.5:
        t = (x, 1.0)
    else:
        t = (x, 2.0)
    return t[0]


def tuple_loop_variable_in_one_branch(x):
    if x > 0.5:
        for t in (x, 2.0):
            v = t * x
    else:
        v = x
    return v * x


CASES = [
    (uses_try, "try statement", "try:"),
    (uses_with, "with statement", "with open"),
    (uses_global, "global statement", "global counter"),
    (uses_yield, "yield", "yield x"),
    (uses_class, "class definition", "class Box"),
    (uses_starred_call, "starred", "np.add(*args)"),
    (uses_starred_params, "*args", "def uses_starred_params"),
    (recursive, "recursive call to recursive()", "return recursive(x / 2.0)"),
    (uses_del, "del statement", "del y"),
    (uses_raise, "raise statement", "raise ValueError"),
    (uses_set, "set literal", "return len({x})"),
    (uses_import, "import statement", "import math"),
    (uses_undefined, "name 'undefined_name' is not defined", "undefined_name"),
    (uses_attribute_assignment, "assignment to Attribute", "x.foo = 1.0"),
    (sums_a_list_built_in_a_loop, "'out' is a list built at run time (with .append())", "return sum(out)"),
    (grows_a_tuple_in_a_loop, "'out' (a tuple, list, dict or function) is read in this loop and rebound in it",
     "for i in range(3)"),
    (casts_to_a_dtype_known_at_run_time, "the dtype of a conversion of a differentiated value must be known "
     "while compiling", "x.astype(x.dtype)"),
    (tuple_of_other_length_in_one_branch, "'t' is bound to differently structured values in the branches of "
     "this if, and read after it", "if x > 0.5"),
    (tuple_in_both_branches, "tuples assigned in both branches of an if are not supported", "if x > 0.5"),
]


def test_static_values_the_branches_bind_differently_are_fine_when_not_read_after_the_if():
    """The fuzzer's seed-5 index-135 program: the loop variable of an unrolled loop over (x, 2.0), bound in one
    branch only and dead after the if, was rejected."""
    assert tg.grad(tuple_loop_variable_in_one_branch)(0.7) == pytest.approx(4 * 0.7)  # f = 2 x^2 there
    assert tg.grad(tuple_loop_variable_in_one_branch)(0.2) == pytest.approx(2 * 0.2)  # f = x^2
    tg.check_grads(tuple_loop_variable_in_one_branch, (0.7,))  # forward, reverse, second order against FD


@pytest.mark.parametrize("function, construct, text", CASES, ids=[c[0].__name__ for c in CASES])
def test_unsupported_syntax_names_construct_file_and_line(function, construct, text):
    with pytest.raises(UnsupportedSyntax) as info:
        tg.grad(function)(1.0)
    message = str(info.value)
    assert construct in message
    assert THIS_FILE in message
    assert f"line {line_of(function, text)}" in message
    assert text in message  # the offending source line is quoted


def test_errors_come_before_anything_runs():
    calls = []

    def spy(x):
        calls.append(x)
        try:
            return x
        finally:
            pass

    with pytest.raises(UnsupportedSyntax):
        tg.grad(spy)(1.0)
    assert calls == []


def test_not_differentiable_names_the_call_and_how_to_add_a_rule():
    with pytest.raises(NotDifferentiable) as info:
        tg.grad(uses_fft)(np.ones(4))
    message = str(info.value)
    assert "fft" in message
    assert "custom_vjp" in message
    assert THIS_FILE in message and f"line {line_of(uses_fft, 'np.fft.fft')}" in message
    with pytest.raises(NotDifferentiable, match="fft"):
        tg.jvp(uses_fft, (np.ones(4),), (np.ones(4),))


def test_inactive_calls_without_rules_are_fine():
    def f(x):
        n = np.fft.fftfreq(4)  # no rule, but nothing to differentiate through
        return np.sum(x * n)

    x = np.arange(4.0)
    np.testing.assert_allclose(tg.grad(f)(x), np.fft.fftfreq(4))


@pytest.mark.parametrize("value", [3, True, np.int64(2), np.arange(3), "text"])
def test_differentiating_with_respect_to_a_non_float_is_an_error(value):
    def f(x):
        return x * 2.0

    with pytest.raises(NonDifferentiableInput) as info:
        tg.grad(f)(value)
    assert "argument 'x'" in str(info.value)
    assert "float" in str(info.value)


def test_integer_arguments_not_differentiated_are_fine():
    def f(x, n):
        y = x
        for i in range(n):
            y = y * x
        return y

    assert tg.grad(f)(2.0, 3) == pytest.approx(4 * 2.0 ** 3)


def test_function_defined_by_exec_has_no_source():
    namespace = {}
    exec("def f(x):\n    return x * x\n", namespace)
    with pytest.raises(SourceUnavailable) as info:
        tg.grad(namespace["f"])(1.0)
    assert "cannot find the source" in str(info.value)
    assert "custom_vjp" in str(info.value)


def test_builtin_without_rule_is_not_readable():
    with pytest.raises(tg.errors.TangentError, match="not a Python function"):
        tg.grad(print)(1.0)


def test_wrt_errors():
    def f(x, y):
        return x * y

    with pytest.raises(tg.errors.TangentError, match="no argument named 'z'"):
        tg.grad(f, wrt="z")(1.0, 2.0)
    with pytest.raises(tg.errors.TangentError, match="only 2 arguments"):
        tg.grad(f, wrt=5)(1.0, 2.0)


def test_mismatched_tangent_and_cotangent_shapes():
    def f(x):
        return x * 2.0

    with pytest.raises(ShapeMismatch, match=r"shape \(2,\).*shape \(3,\)"):
        tg.jvp(f, (np.ones(3),), (np.ones(2),))
    out, pullback = tg.vjp(f, np.ones(3))
    with pytest.raises(ShapeMismatch, match="cotangent"):
        pullback(np.ones(4))


def writes_into_a_view(x):
    row = x[0]
    row[1] = 5.0
    return np.sum(x)


def writes_into_a_reassigned_alias(x):
    y = x.copy()
    z = y
    z[0] = 2.0
    z = np.zeros(3)
    return np.sum(y) + np.sum(z)


def writes_into_a_loop_row(x):
    total = 0.0
    for row in x:
        row[0] = 1.0
        total = total + np.sum(row)
    return total


@pytest.mark.parametrize("function, text", [
    (writes_into_a_view, "row = x[0]"),
    (writes_into_a_reassigned_alias, "z = y"),
    (writes_into_a_loop_row, "for row in x"),
])
def test_writes_tangent2_cannot_follow_through_aliases_are_rejected(function, text):
    with pytest.raises(UnsupportedSyntax) as info:
        tg.grad(function)(np.ones((2, 3)) if function is not writes_into_a_reassigned_alias else np.ones(3))
    message = str(info.value)
    assert "copy" in message
    assert f"line {line_of(function, text)}" in message


def writes_through_an_alias_of_a_parameter(x):
    v = x
    v += 1.0
    return np.sum(x * v)


def writes_into_the_base_of_a_view(x):
    y = x * 1.0
    z = y[1:]
    y[1] = 5.0
    return np.sum(z)


def _writes_into_its_parameter(a):
    a[0] = 5.0
    return np.sum(a)


def passes_an_array_a_helper_writes_into(x):
    y = x * 1.0
    s = _writes_into_its_parameter(y)
    return s + np.sum(y)


def writes_through_an_unpacked_tuple_item(x):
    y = x * 1.0
    t = (y, x)
    a, b = t
    a[0] = 5.0
    return np.sum(y * b)


@pytest.mark.parametrize("function, write, read", [
    (writes_through_an_alias_of_a_parameter, "v += 1.0", "return np.sum(x * v)"),
    (writes_into_the_base_of_a_view, "y[1] = 5.0", "return np.sum(z)"),
    (passes_an_array_a_helper_writes_into, "a[0] = 5.0", "return s + np.sum(y)"),
    (writes_through_an_unpacked_tuple_item, "a[0] = 5.0", "return np.sum(y * b)"),
])
def test_reads_of_an_array_written_through_another_name_are_rejected(function, write, read):
    """NumPy changes every name sharing the array; tangent2 would read the old value (aliasing.py)."""
    for transform in (tg.grad, lambda f: (lambda x: tg.jvp(f, (x,), (np.ones(3),)))):
        with pytest.raises(UnsupportedSyntax) as info:
            transform(function)(np.ones(3))
        message = str(info.value)
        assert "copy" in message
        written_in = _writes_into_its_parameter if function is passes_an_array_a_helper_writes_into else function
        assert f"written through" in message and f"line {line_of(written_in, write)}" in message
        assert THIS_FILE in message and f"line {line_of(function, read)}" in message  # where it is read


def swaps_two_names_for_one_array_in_a_loop(x):
    a = x * 1.0
    b = a[:]
    for i in range(2):
        a, b = b, a
        a[0] = a[1] * 2.0
    return np.sum(b)


def swaps_in_a_view_of_the_array_swapped_in(x):
    a = x * 1.0
    b = x * 2.0
    for i in range(2):
        a, b = b, b[:2]
        a[0] = 3.0
    return np.sum(b)


@pytest.mark.parametrize("function, stale", [(swaps_two_names_for_one_array_in_a_loop, "b"),
                                             (swaps_in_a_view_of_the_array_swapped_in, "b")])
def test_swapped_names_that_share_an_array_are_rejected(function, stale):
    """Names swapped in a loop that hold one array (b a view of all of a; a and a view of it) still share it:
    the aliasing pass relates pairs of names, so that a swap of names that never share (double buffering,
    tests/test_torture.py) is accepted and these are not."""
    with pytest.raises(UnsupportedSyntax) as info:
        tg.grad(function)(np.ones(3))
    message = str(info.value)
    assert f"'{stale}' is read here" in message and "written through 'a'" in message
    assert f"line {line_of(function, 'a[0] = ')}" in message


def reads_a_row_after_writing_its_matrix(x):
    m = np.outer(x, x)
    r = m[0]
    m[0, 1] = 5.0
    return np.sum(r)


def reads_an_element_after_writing_its_array(x):
    y = x * 1.0
    e = y[0]
    y[0] = 5.0
    return e * np.sum(y)


def adds_in_place_into_an_array_another_name_reads(x):
    y = x * 1.0
    z = y
    z += 1.0
    return np.sum(y)


def adds_in_place_into_a_scalar_alias(s):
    v = s
    v += 1.0
    return s * v


def test_sharing_known_only_from_shapes_is_checked_when_the_function_runs():
    """r = m[0] is a view of a matrix (a copy of a vector's element); v += ... writes into an array (rebinds a
    scalar): the derivative checks these when it runs, and raises before computing anything wrong."""
    for function, write, read in ((reads_a_row_after_writing_its_matrix, "m[0, 1] = 5.0", "return np.sum(r)"),
                                  (adds_in_place_into_an_array_another_name_reads, "z += 1.0", "return np.sum(y)")):
        with pytest.raises(UnsupportedSyntax) as info:
            tg.grad(function)(np.ones(3))
        message = str(info.value)
        assert THIS_FILE in message and f"line {line_of(function, write)}" in message  # raised there
        assert f"read again at line {line_of(function, read)}" in message and "copy" in message
    x = np.array([0.3, -0.7, 1.1])
    # the same constructs where nothing is shared are fine: an element of a vector, a scalar
    np.testing.assert_allclose(tg.grad(reads_an_element_after_writing_its_array)(x),
                               [5.0 + x[1] + x[2], x[0], x[0]])
    assert tg.grad(adds_in_place_into_a_scalar_alias)(0.5) == pytest.approx(2 * 0.5 + 1.0)


def writes_with_out(x):
    y = np.zeros(3)
    np.multiply(x, 2.0, out=y)
    return np.sum(y)


def test_out_arguments_are_rejected():
    with pytest.raises(UnsupportedSyntax) as info:
        tg.grad(writes_with_out)(np.ones(3))
    assert "out=" in str(info.value) and f"line {line_of(writes_with_out, 'out=y')}" in str(info.value)


def copies_into_a_differentiated_array(x):
    y = x * 1.0
    np.copyto(y, np.zeros(3))
    return np.sum(y)


def adds_at_indices_in_place(x):
    y = np.zeros(3)
    np.add.at(y, [0, 0], x[1])
    return np.sum(y * y)


def fills_the_diagonal_of_a_constant(x):
    a = np.zeros((3, 3))
    np.fill_diagonal(a, 2.0)
    return np.sum(a @ x)


@pytest.mark.parametrize("function, construct, text", [
    (copies_into_a_differentiated_array, "copyto() writes into its first argument", "np.copyto(y"),
    (adds_at_indices_in_place, "add.at() writes into its first argument", "np.add.at(y"),
])
def test_calls_writing_into_an_argument_a_derivative_flows_through_are_rejected(function, construct, text):
    with pytest.raises(UnsupportedSyntax) as info:
        tg.grad(function)(np.ones(3))
    assert construct in str(info.value) and "y[...] = ..." in str(info.value)
    assert THIS_FILE in str(info.value) and f"line {line_of(function, text)}" in str(info.value)
    # on constants they run as in NumPy: a = 2 I
    np.testing.assert_allclose(tg.grad(fills_the_diagonal_of_a_constant)(np.ones(3)), [2.0, 2.0, 2.0])


def stacks_a_list_built_in_a_loop(x):
    ys = []
    for i in range(3):
        ys.append(np.sin(x[i]))
    return np.sum(np.stack(ys))


def test_lists_built_at_run_time_are_rejected_with_advice():
    with pytest.raises(UnsupportedSyntax) as info:
        tg.grad(stacks_a_list_built_in_a_loop)(np.ones(3))
    assert "preallocate" in str(info.value)
    assert f"line {line_of(stacks_a_list_built_in_a_loop, 'np.stack(ys)')}" in str(info.value)
