"""Derivative rules for Python builtins.

``sum(...)`` over a sequence or generator is desugared by the compiler, so it
has no rule here.  ``max``/``min`` have rules for the two-argument scalar form
``max(a, b)``; the tie goes to ``a`` (the value Python returns).
"""
import builtins

import numpy as np

from tangent2.rules.registry import jvp_rule, vjp_rule, zero_derivative
from tangent2.runtime import cast_like


@vjp_rule(builtins.abs)
def abs_vjp(g, ans, x):
    return g * np.sign(x)


@jvp_rule(builtins.abs)
def abs_jvp(x_dot, ans, x):
    return x_dot * np.sign(x)


@vjp_rule(builtins.pow)
def pow_vjp(g, ans, base, exp):
    # d/dexp is ans * log(base), taken as 0 where base <= 0 (as for np.power)
    return g * exp * base ** (exp - 1), g * ans * np.log(np.where(base > 0, base, 1.0))


@jvp_rule(builtins.pow)
def pow_jvp(base_dot, exp_dot, ans, base, exp):
    return base_dot * exp * base ** (exp - 1) + exp_dot * ans * np.log(np.where(base > 0, base, 1.0))


@vjp_rule(builtins.max)
def max_vjp(g, ans, a, b):
    return (g if a >= b else 0.0 * g), (0.0 * g if a >= b else g)


@jvp_rule(builtins.max)
def max_jvp(a_dot, b_dot, ans, a, b):
    return (a_dot if a >= b else 0.0 * a_dot) + (0.0 * b_dot if a >= b else b_dot)


@vjp_rule(builtins.min)
def min_vjp(g, ans, a, b):
    return (g if a <= b else 0.0 * g), (0.0 * g if a <= b else g)


@jvp_rule(builtins.min)
def min_jvp(a_dot, b_dot, ans, a, b):
    return (a_dot if a <= b else 0.0 * a_dot) + (0.0 * b_dot if a <= b else b_dot)


@vjp_rule(builtins.float)
def float_vjp(g, ans, x):
    return cast_like(g, x)


@jvp_rule(builtins.float)
def float_jvp(x_dot, ans, x):
    return float(x_dot)


zero_derivative(builtins.int, builtins.len, builtins.range, builtins.round, builtins.bool,
                builtins.isinstance)
