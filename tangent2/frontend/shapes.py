"""Scalar analysis: which variables hold scalars for the arguments a function is specialized to.

A binary rule undoes broadcasting with ``unbroadcast(g, x)``; when the
result is a scalar, no operand can have been broadcast, so the call is
dropped.  This makes scalar code read (and compile) like hand-written code.
"""
import math

import gast
import numpy as np
import scipy.special

from tangent2 import ir
from tangent2.frontend.resolve import lookup

# Called without an axis, these reduce any array to a scalar.
_REDUCTIONS = {np.sum, np.mean, np.prod, np.max, np.min, np.amax, np.amin, np.linalg.norm, np.linalg.det,
               np.vdot, np.trace, scipy.special.logsumexp, float, np.float64, np.float32}
_SCALAR_FUNCTIONS = {abs, min, max, pow, round, int, len}


def infer_scalars(node, scalar_params):
    """Record on ``node`` the set ``scalars`` of variables that always hold scalars."""
    definitions = {}
    for stmt in ir.walk_statements(node.body):
        if isinstance(stmt, gast.Assign) and not ir.is_subscript_write(stmt):
            definitions.setdefault(ir.target_name(stmt), []).append(stmt.value)
        elif isinstance(stmt, gast.For):
            definitions.setdefault(stmt.target.id, []).append(ir.const(0))
    scalars = set(scalar_params)
    changed = True
    while changed:
        changed = False
        for name, values in definitions.items():
            if name not in scalars and all(_is_scalar(v, scalars, node.namespace) for v in values):
                scalars.add(name)
                changed = True
    # A variable with a definition that is not a scalar is not one (fixpoint from the optimistic side is unsafe).
    node.scalars = scalars
    return node


def _is_scalar(value, scalars, namespace):
    if isinstance(value, gast.Name):
        return value.id in scalars
    if isinstance(value, gast.Constant):
        return isinstance(value.value, (bool, int, float, complex))
    if isinstance(value, gast.BinOp):
        return _is_scalar(value.left, scalars, namespace) and _is_scalar(value.right, scalars, namespace)
    if isinstance(value, gast.UnaryOp):
        return _is_scalar(value.operand, scalars, namespace)
    if isinstance(value, (gast.Compare, gast.BoolOp)):
        return all(_is_scalar(v, scalars, namespace) for v in gast.iter_child_nodes(value)
                   if not isinstance(v, (gast.cmpop, gast.boolop)))
    if isinstance(value, gast.Call):
        function = lookup(value.func, namespace)
        args = value.args
        keywords = {k.arg for k in value.keywords}
        if function in _REDUCTIONS and not keywords & {"axis", "keepdims"} and len(args) == 1:
            return True
        elementwise = isinstance(function, np.ufunc) or function in _SCALAR_FUNCTIONS or \
            getattr(function, "__module__", None) == "math" or _in_module(function, math)
        return elementwise and all(_is_scalar(a, scalars, namespace) for a in args)
    return False


def _in_module(function, module):
    name = getattr(function, "__name__", None)
    return name is not None and getattr(module, name, None) is function
