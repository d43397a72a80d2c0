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
    """Record on ``node`` the set ``scalars`` of variables that always hold scalars.

    ``node.param_ndims`` (parameter -> ndim, when specialized to argument values) makes an element of a
    parameter never reassigned (``x = x0[0]`` of a 1-d ``x0``, ``W[i, j]``) a scalar too."""
    definitions = {}
    for stmt in ir.walk_statements(node.body):
        if isinstance(stmt, gast.Assign) and isinstance(stmt.value, gast.List):
            definitions.setdefault(ir.target_name(stmt), [])  # a stack: its items define it
        elif isinstance(stmt, gast.Assign) and not ir.is_subscript_write(stmt):
            definitions.setdefault(ir.target_name(stmt), []).append(stmt.value)
        elif isinstance(stmt, gast.Expr) and _is_method(stmt.value, "append"):
            definitions.setdefault(stmt.value.func.value.id, []).append(stmt.value.args[0])
        elif isinstance(stmt, gast.For):
            definitions.setdefault(stmt.target.id, []).append(ir.const(0))
    # Optimistic fixpoint: assume every variable is a scalar, then drop those with a non-scalar definition
    # (loop-carried variables depend on themselves).
    params = set(getattr(node, "params", ()))
    scalars = (set(definitions) - params) | set(scalar_params)
    ndims = {name: n for name, n in getattr(node, "param_ndims", {}).items() if name not in definitions}
    indices = {stmt.target.id for stmt in ir.walk_statements(node.body) if isinstance(stmt, gast.For)}
    changed = True
    while changed:
        changed = False
        for name, values in definitions.items():
            if name in scalars and not all(_is_scalar(v, scalars, node.namespace, ndims, indices) for v in values):
                scalars.discard(name)
                changed = True
    node.scalars = scalars
    return node


def _is_scalar(value, scalars, namespace, ndims=None, indices=()):
    if isinstance(value, gast.Subscript) and isinstance(value.value, gast.Name) and ndims:
        # an element: as many integer indices as the parameter has axes (no slices, no boolean masks)
        index = value.slice.elts if isinstance(value.slice, gast.Tuple) else [value.slice]
        return ndims.get(value.value.id) == len(index) and all(_is_integer(i, indices) for i in index)
    if isinstance(value, gast.Name):
        return value.id in scalars
    if isinstance(value, gast.Constant):
        return isinstance(value.value, (bool, int, float, complex))
    if isinstance(value, gast.BinOp):
        return _is_scalar(value.left, scalars, namespace, ndims, indices) and \
            _is_scalar(value.right, scalars, namespace, ndims, indices)
    if isinstance(value, gast.UnaryOp):
        return _is_scalar(value.operand, scalars, namespace, ndims, indices)
    if isinstance(value, (gast.Compare, gast.BoolOp)):
        return all(_is_scalar(v, scalars, namespace, ndims, indices) for v in gast.iter_child_nodes(value)
                   if not isinstance(v, (gast.cmpop, gast.boolop)))
    if isinstance(value, gast.Call):
        if _is_method(value, "pop"):
            return value.func.value.id in scalars
        function = lookup(value.func, namespace)
        args = value.args
        keywords = {k.arg for k in value.keywords}
        if function in _REDUCTIONS and not keywords & {"axis", "keepdims"} and len(args) == 1:
            return True
        elementwise = isinstance(function, np.ufunc) or function in _SCALAR_FUNCTIONS or \
            getattr(function, "__module__", None) == "math" or _in_module(function, math)
        return elementwise and all(_is_scalar(a, scalars, namespace, ndims, indices) for a in args)
    return False


def _is_integer(index, loop_indices):
    """An integer constant, or the index of a ``for`` loop (over ``range``, in the core form)."""
    if isinstance(index, gast.UnaryOp) and isinstance(index.op, gast.USub):
        index = index.operand
    if isinstance(index, gast.Constant):
        return type(index.value) is int
    return isinstance(index, gast.Name) and index.id in loop_indices


def _is_method(value, method):
    return isinstance(value, gast.Call) and isinstance(value.func, gast.Attribute) \
        and value.func.attr == method and isinstance(value.func.value, gast.Name)


def _in_module(function, module):
    name = getattr(function, "__name__", None)
    return name is not None and getattr(module, name, None) is function
