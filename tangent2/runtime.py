"""Helpers that generated derivative code calls.

Each helper is plain NumPy so that generated code runs as ordinary Python;
each one is also differentiable (rules in ``tangent2/rules/runtime.py``), so
generated code can be differentiated again.
"""
import numpy as np


def unbroadcast(g, x):
    """Sum the cotangent ``g`` down to the shape of ``x``, undoing broadcasting."""
    x_shape = np.shape(x)
    g_shape = np.shape(g)
    if g_shape == x_shape:
        return g
    if not x_shape:
        return _scalar_like(np.sum(g), x)
    extra = len(g_shape) - len(x_shape)
    if extra:
        g = np.sum(g, axis=tuple(range(extra)))
    summed = tuple(i for i, n in enumerate(x_shape) if n == 1 and g.shape[i] != 1)
    if summed:
        g = np.sum(g, axis=summed, keepdims=True)
    return g


def broadcast_like(t, ans):
    """Give the tangent ``t`` the shape of the value ``ans`` it belongs to."""
    ans_shape = np.shape(ans)
    if np.shape(t) == ans_shape:
        return t
    return np.broadcast_to(t, ans_shape).copy()


def zeros_like(x):
    """A zero of the same shape and floating dtype as ``x``."""
    if isinstance(x, np.ndarray):
        return np.zeros(x.shape, dtype=_float_dtype(x.dtype))
    if isinstance(x, (np.floating, np.complexfloating)):
        return type(x)(0)
    if isinstance(x, np.generic):
        return np.float64(0.0)
    return 0.0


def add_at(dx, index, g):
    """``dx[index] += g``, accumulating repeated indices; returns ``dx``."""
    np.add.at(dx, index, g)
    return dx


def saved(value):
    """A copy of ``value`` that later writes into its array cannot change."""
    if isinstance(value, np.ndarray):
        return value.copy()
    return value


def _float_dtype(dtype):
    if np.issubdtype(dtype, np.inexact):
        return dtype
    return np.float64


def _scalar_like(value, like):
    if isinstance(like, np.generic):
        return like.dtype.type(value)
    return float(value)
