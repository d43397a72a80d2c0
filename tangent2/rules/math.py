"""Derivative rules for the ``math`` module (scalar functions of Python floats).

Parameter names follow the documentation of ``math`` (``math.atan2(y, x)``,
``math.pow(x, y)``, ``math.log(x, base)``); the functions are positional-only.
"""
import math

from tangent2.rules.registry import jvp_rule, vjp_rule, zero_derivative


def _available(*names):
    """The ``math`` functions among ``names`` that this Python has (cbrt and exp2 are 3.11+)."""
    return tuple(getattr(math, name) for name in names if hasattr(math, name))


@vjp_rule(math.sin)
def sin_vjp(g, ans, x):
    return g * math.cos(x)


@jvp_rule(math.sin)
def sin_jvp(x_dot, ans, x):
    return x_dot * math.cos(x)


@vjp_rule(math.cos)
def cos_vjp(g, ans, x):
    return -g * math.sin(x)


@jvp_rule(math.cos)
def cos_jvp(x_dot, ans, x):
    return -x_dot * math.sin(x)


@vjp_rule(math.tan)
def tan_vjp(g, ans, x):
    return g * (1.0 + ans * ans)


@jvp_rule(math.tan)
def tan_jvp(x_dot, ans, x):
    return x_dot * (1.0 + ans * ans)


@vjp_rule(math.asin)
def asin_vjp(g, ans, x):
    return g / math.sqrt(1.0 - x * x)


@jvp_rule(math.asin)
def asin_jvp(x_dot, ans, x):
    return x_dot / math.sqrt(1.0 - x * x)


@vjp_rule(math.acos)
def acos_vjp(g, ans, x):
    return -g / math.sqrt(1.0 - x * x)


@jvp_rule(math.acos)
def acos_jvp(x_dot, ans, x):
    return -x_dot / math.sqrt(1.0 - x * x)


@vjp_rule(math.atan)
def atan_vjp(g, ans, x):
    return g / (1.0 + x * x)


@jvp_rule(math.atan)
def atan_jvp(x_dot, ans, x):
    return x_dot / (1.0 + x * x)


@vjp_rule(math.atan2)
def atan2_vjp(g, ans, y, x):
    r2 = x * x + y * y
    return g * x / r2, -g * y / r2


@jvp_rule(math.atan2)
def atan2_jvp(y_dot, x_dot, ans, y, x):
    r2 = x * x + y * y
    return y_dot * x / r2 - x_dot * y / r2


@vjp_rule(math.sinh)
def sinh_vjp(g, ans, x):
    return g * math.cosh(x)


@jvp_rule(math.sinh)
def sinh_jvp(x_dot, ans, x):
    return x_dot * math.cosh(x)


@vjp_rule(math.cosh)
def cosh_vjp(g, ans, x):
    return g * math.sinh(x)


@jvp_rule(math.cosh)
def cosh_jvp(x_dot, ans, x):
    return x_dot * math.sinh(x)


@vjp_rule(math.tanh)
def tanh_vjp(g, ans, x):
    return g * (1.0 - ans * ans)


@jvp_rule(math.tanh)
def tanh_jvp(x_dot, ans, x):
    return x_dot * (1.0 - ans * ans)


@vjp_rule(math.asinh)
def asinh_vjp(g, ans, x):
    return g / math.sqrt(x * x + 1.0)


@jvp_rule(math.asinh)
def asinh_jvp(x_dot, ans, x):
    return x_dot / math.sqrt(x * x + 1.0)


@vjp_rule(math.acosh)
def acosh_vjp(g, ans, x):
    return g / math.sqrt(x * x - 1.0)


@jvp_rule(math.acosh)
def acosh_jvp(x_dot, ans, x):
    return x_dot / math.sqrt(x * x - 1.0)


@vjp_rule(math.atanh)
def atanh_vjp(g, ans, x):
    return g / (1.0 - x * x)


@jvp_rule(math.atanh)
def atanh_jvp(x_dot, ans, x):
    return x_dot / (1.0 - x * x)


@vjp_rule(math.exp)
def exp_vjp(g, ans, x):
    return g * ans


@jvp_rule(math.exp)
def exp_jvp(x_dot, ans, x):
    return x_dot * ans


@vjp_rule(*_available("exp2"))
def exp2_vjp(g, ans, x):
    return g * ans * 0.6931471805599453  # log(2)


@jvp_rule(*_available("exp2"))
def exp2_jvp(x_dot, ans, x):
    return x_dot * ans * 0.6931471805599453  # log(2)


@vjp_rule(math.expm1)
def expm1_vjp(g, ans, x):
    return g * (ans + 1.0)


@jvp_rule(math.expm1)
def expm1_jvp(x_dot, ans, x):
    return x_dot * (ans + 1.0)


@vjp_rule(math.log)
def log_vjp(g, ans, x, base=math.e):
    # math.log(x) and math.log(x, base) == log(x) / log(base)
    return g / (x * math.log(base)), -g * ans / (base * math.log(base))


@jvp_rule(math.log)
def log_jvp(x_dot, base_dot, ans, x, base=math.e):
    return x_dot / (x * math.log(base)) - base_dot * ans / (base * math.log(base))


@vjp_rule(math.log1p)
def log1p_vjp(g, ans, x):
    return g / (1.0 + x)


@jvp_rule(math.log1p)
def log1p_jvp(x_dot, ans, x):
    return x_dot / (1.0 + x)


@vjp_rule(math.log2)
def log2_vjp(g, ans, x):
    return g / (x * 0.6931471805599453)  # x * log(2)


@jvp_rule(math.log2)
def log2_jvp(x_dot, ans, x):
    return x_dot / (x * 0.6931471805599453)  # x * log(2)


@vjp_rule(math.log10)
def log10_vjp(g, ans, x):
    return g / (x * 2.302585092994046)  # x * log(10)


@jvp_rule(math.log10)
def log10_jvp(x_dot, ans, x):
    return x_dot / (x * 2.302585092994046)  # x * log(10)


@vjp_rule(math.sqrt)
def sqrt_vjp(g, ans, x):
    return g / (2.0 * ans)


@jvp_rule(math.sqrt)
def sqrt_jvp(x_dot, ans, x):
    return x_dot / (2.0 * ans)


@vjp_rule(*_available("cbrt"))
def cbrt_vjp(g, ans, x):
    return g / (3.0 * ans * ans)


@jvp_rule(*_available("cbrt"))
def cbrt_jvp(x_dot, ans, x):
    return x_dot / (3.0 * ans * ans)


@vjp_rule(math.pow)
def pow_vjp(g, ans, x, y):
    # d/dy is ans * log(x), taken as 0 where x <= 0 (x == 0: the limit for y > 0)
    return g * y * math.pow(x, y - 1.0), (g * ans * math.log(x) if x > 0.0 else 0.0 * g)


@jvp_rule(math.pow)
def pow_jvp(x_dot, y_dot, ans, x, y):
    return x_dot * y * math.pow(x, y - 1.0) + (y_dot * ans * math.log(x) if x > 0.0 else 0.0 * y_dot)


@vjp_rule(math.fabs)
def fabs_vjp(g, ans, x):
    return g * (1.0 if x > 0.0 else (-1.0 if x < 0.0 else 0.0))


@jvp_rule(math.fabs)
def fabs_jvp(x_dot, ans, x):
    return x_dot * (1.0 if x > 0.0 else (-1.0 if x < 0.0 else 0.0))


@vjp_rule(math.hypot)
def hypot_vjp(g, ans, x, y):
    # the two-argument form math.hypot(x, y)
    return g * x / ans, g * y / ans


@jvp_rule(math.hypot)
def hypot_jvp(x_dot, y_dot, ans, x, y):
    return x_dot * x / ans + y_dot * y / ans


@vjp_rule(math.erf)
def erf_vjp(g, ans, x):
    return g * 1.1283791670955126 * math.exp(-x * x)  # 2 / sqrt(pi) * exp(-x^2)


@jvp_rule(math.erf)
def erf_jvp(x_dot, ans, x):
    return x_dot * 1.1283791670955126 * math.exp(-x * x)  # 2 / sqrt(pi) * exp(-x^2)


@vjp_rule(math.erfc)
def erfc_vjp(g, ans, x):
    return -g * 1.1283791670955126 * math.exp(-x * x)  # -2 / sqrt(pi) * exp(-x^2)


@jvp_rule(math.erfc)
def erfc_jvp(x_dot, ans, x):
    return -x_dot * 1.1283791670955126 * math.exp(-x * x)  # -2 / sqrt(pi) * exp(-x^2)


@vjp_rule(math.radians)
def radians_vjp(g, ans, x):
    return g * 0.017453292519943295  # pi / 180


@jvp_rule(math.radians)
def radians_jvp(x_dot, ans, x):
    return x_dot * 0.017453292519943295  # pi / 180


@vjp_rule(math.degrees)
def degrees_vjp(g, ans, x):
    return g * 57.29577951308232  # 180 / pi


@jvp_rule(math.degrees)
def degrees_jvp(x_dot, ans, x):
    return x_dot * 57.29577951308232  # 180 / pi


zero_derivative(
    math.floor, math.ceil, math.trunc, math.isnan, math.isinf, math.isfinite,
    math.isclose,
)
