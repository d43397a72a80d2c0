"""Derivative rules for ``scipy.special`` functions."""
import numpy as np
import scipy.special

from tangent2.rules.registry import jvp_rule, vjp_rule
from tangent2.runtime import cast_like, reduce_sum, unreduce


@vjp_rule(scipy.special.logsumexp)
def logsumexp_vjp(g, ans, a, axis=None, keepdims=False):
    # the gradient of logsumexp is softmax(a) along axis
    return unreduce(g, a, axis, keepdims) * np.exp(a - unreduce(ans, a, axis, keepdims))


@jvp_rule(scipy.special.logsumexp)
def logsumexp_jvp(a_dot, ans, a, axis=None, keepdims=False):
    return reduce_sum(a_dot * np.exp(a - unreduce(ans, a, axis, keepdims)), axis, keepdims)


@vjp_rule(scipy.special.softmax)
def softmax_vjp(g, ans, x, axis=None):
    return ans * (g - unreduce(reduce_sum(g * ans, axis, False), x, axis, False))


@jvp_rule(scipy.special.softmax)
def softmax_jvp(x_dot, ans, x, axis=None):
    return ans * (x_dot - unreduce(reduce_sum(x_dot * ans, axis, False), x, axis, False))


@vjp_rule(scipy.special.log_softmax)
def log_softmax_vjp(g, ans, x, axis=None):
    return g - np.exp(ans) * unreduce(reduce_sum(g, axis, False), x, axis, False)


@jvp_rule(scipy.special.log_softmax)
def log_softmax_jvp(x_dot, ans, x, axis=None):
    return x_dot - unreduce(reduce_sum(x_dot * np.exp(ans), axis, False), x, axis, False)


@vjp_rule(scipy.special.expit)
def expit_vjp(g, ans, x):
    return g * ans * (1.0 - ans)


@jvp_rule(scipy.special.expit)
def expit_jvp(x_dot, ans, x):
    return x_dot * ans * (1.0 - ans)


@vjp_rule(scipy.special.logit)
def logit_vjp(g, ans, x):
    return g / (x * (1.0 - x))


@jvp_rule(scipy.special.logit)
def logit_jvp(x_dot, ans, x):
    return x_dot / (x * (1.0 - x))


@vjp_rule(scipy.special.erf)
def erf_vjp(g, ans, x):
    return g * 1.1283791670955126 * np.exp(-x * x)  # 2 / sqrt(pi) * exp(-x^2)


@jvp_rule(scipy.special.erf)
def erf_jvp(x_dot, ans, x):
    return x_dot * 1.1283791670955126 * np.exp(-x * x)  # 2 / sqrt(pi) * exp(-x^2)


@vjp_rule(scipy.special.erfc)
def erfc_vjp(g, ans, x):
    return -g * 1.1283791670955126 * np.exp(-x * x)  # -2 / sqrt(pi) * exp(-x^2)


@jvp_rule(scipy.special.erfc)
def erfc_jvp(x_dot, ans, x):
    return -x_dot * 1.1283791670955126 * np.exp(-x * x)  # -2 / sqrt(pi) * exp(-x^2)


@vjp_rule(scipy.special.gammaln)
def gammaln_vjp(g, ans, x):
    return g * scipy.special.digamma(x)


@jvp_rule(scipy.special.gammaln)
def gammaln_jvp(x_dot, ans, x):
    return x_dot * scipy.special.digamma(x)


@vjp_rule(scipy.special.digamma)  # scipy.special.psi is the same object
def digamma_vjp(g, ans, x):
    return g * cast_like(scipy.special.polygamma(1, x), x)


@jvp_rule(scipy.special.digamma)
def digamma_jvp(x_dot, ans, x):
    return x_dot * cast_like(scipy.special.polygamma(1, x), x)


@vjp_rule(scipy.special.polygamma)
def polygamma_vjp(g, ans, n, x):
    # n is an integer order: no derivative (polygamma returns float64 for float32 x: cast back)
    return None, g * cast_like(scipy.special.polygamma(n + 1, x), x)


@jvp_rule(scipy.special.polygamma)
def polygamma_jvp(x_dot, ans, n, x):
    return x_dot * cast_like(scipy.special.polygamma(n + 1, x), x)
