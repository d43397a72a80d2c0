"""Derivative rules for NumPy primitives (and the operators, which map to them)."""
import numpy as np

from tangent2.rules.registry import jvp_rule, vjp_rule, zero_derivative
from tangent2.runtime import broadcast_like, unbroadcast


@vjp_rule(np.multiply)
def multiply_vjp(g, ans, x1, x2):
    return unbroadcast(g * x2, x1), unbroadcast(g * x1, x2)


@jvp_rule(np.multiply)
def multiply_jvp(x1_dot, x2_dot, ans, x1, x2):
    return x1_dot * x2 + x1 * x2_dot


@vjp_rule(np.add)
def add_vjp(g, ans, x1, x2):
    return unbroadcast(g, x1), unbroadcast(g, x2)


@jvp_rule(np.add)
def add_jvp(x1_dot, x2_dot, ans, x1, x2):
    return broadcast_like(x1_dot, ans) + broadcast_like(x2_dot, ans)


@vjp_rule(np.tanh)
def tanh_vjp(g, ans, x):
    return g * (1.0 - ans * ans)


@jvp_rule(np.tanh)
def tanh_jvp(x_dot, ans, x):
    return x_dot * (1.0 - ans * ans)


zero_derivative(np.shape, np.floor, np.sign)
