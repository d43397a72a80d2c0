"""The derivative-rule tables and the decorators that fill them.

A rule is a small runnable Python function, one per primitive and mode.  The
transformers read its source and inline its body with the real variable
names, so a rule must be written in the differentiable subset, in the form

    def _(<parameters>):
        <simple assignments>
        return <expression> | <tuple of expressions>

VJP rules take ``(g, ans, <the primitive's parameters>)`` and return one
cotangent contribution per differentiable parameter: the leading parameters
of the primitive, as many as the returned tuple has entries (a single
expression stands for the first parameter alone).  Parameters after those
(``axis``, ``keepdims``, ...) are static.

JVP rules take ``(<x_dot for each differentiable parameter x>, ans,
<the primitive's parameters>)`` and return the output tangent.  A tangent
that is known to be zero is replaced by a symbolic zero and the expression is
simplified, so rules are written as if every input were active.

Parameter names must match the primitive's own keyword names, so that calls
with keyword arguments bind correctly.
"""
import inspect

import numpy as np

VJP_RULES = {}
JVP_RULES = {}
ZERO_DERIVATIVE = set()
WRITES_INTO_FIRST = set()


def _register(table, primitives, rule):
    for primitive in primitives:
        table[_key(primitive)] = rule
    return rule


def _key(primitive):
    """Bound methods of modules (math.sin) and ufuncs are hashable as they are."""
    return primitive


def vjp_rule(*primitives):
    """Register the decorated function as the reverse-mode rule of ``primitives``."""
    def decorate(rule):
        _check_signature(rule, ("g", "ans"))
        return _register(VJP_RULES, primitives, rule)
    return decorate


def jvp_rule(*primitives):
    """Register the decorated function as the forward-mode rule of ``primitives``."""
    def decorate(rule):
        return _register(JVP_RULES, primitives, rule)
    return decorate


def zero_derivative(*primitives):
    """Declare that the outputs of ``primitives`` never carry a derivative."""
    for primitive in primitives:
        ZERO_DERIVATIVE.add(_key(primitive))


def writes_into_first_argument(*primitives):
    """Declare that ``primitives`` write into the array passed first (np.copyto, np.put, ...)."""
    for primitive in primitives:
        WRITES_INTO_FIRST.add(_key(primitive))


def writes_into(primitive):
    """Whether calling ``primitive`` writes into its first argument (also ``np.add.at`` and other ufuncs')."""
    if isinstance(getattr(primitive, "__self__", None), np.ufunc) and getattr(primitive, "__name__", "") == "at":
        return True
    try:
        return primitive in WRITES_INTO_FIRST
    except TypeError:
        return False


def _check_signature(rule, leading):
    names = list(inspect.signature(rule).parameters)
    if tuple(names[: len(leading)]) != leading:
        raise TypeError(f"rule {rule.__qualname__} must start with parameters {leading}")


def lookup(table, primitive):
    try:
        return table.get(_key(primitive))
    except TypeError:  # unhashable callables have no rules
        return None


def jvp_signature(rule):
    """Split a JVP rule's parameters into (differentiable names, primal parameter names)."""
    names = list(inspect.signature(rule).parameters)
    split = names.index("ans")
    tangents = [n[: -len("_dot")] for n in names[:split]]
    return tangents, names[split + 1:]


def vjp_signature(rule):
    """The primal parameter names of a VJP rule (everything after g and ans)."""
    return list(inspect.signature(rule).parameters)[2:]
