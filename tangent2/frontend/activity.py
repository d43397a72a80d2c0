"""Activity analysis: which variables carry a derivative.

A variable is *active* when some assignment to it depends differentiably on
an active parameter.  The analysis is flow-insensitive (a fixpoint over every
statement), which is exact for the single-assignment variables normalization
produces and safe for the rest: a variable active anywhere gets a derivative
everywhere it is assigned.
"""
import gast
import numpy as np

from tangent2 import ir
from tangent2.errors import UnsupportedSyntax
from tangent2.frontend.resolve import lookup
from tangent2.rules import registry

_INACTIVE_OPS = (gast.FloorDiv, gast.BitAnd, gast.BitOr, gast.BitXor, gast.LShift, gast.RShift)
# Conversions whose second positional parameter is the dtype (x.astype(d) is normalized to np.array(x, dtype=d)).
_CONVERSIONS = {np.array, np.asarray, np.asanyarray, np.ascontiguousarray, np.asfortranarray}
_UNKNOWN = object()


def analyze(node, wrt):
    """Record on ``node`` the set ``active`` of variables that depend on the parameters ``wrt``."""
    active = set(wrt)
    statements = list(ir.walk_statements(node.body))
    changed = True
    while changed:
        changed = False
        for stmt in statements:
            target = _defined(stmt)
            if target is None or target in active:
                continue
            if carries_derivative(_value(stmt), active, node.namespace):
                active.add(target)
                changed = True
    for stmt in statements:
        if _defined(stmt) is not None:
            _check_cast(_value(stmt), active, node.namespace, stmt)
        _check_write_through_call(stmt, active, node.namespace)
    node.active = active
    return node


def _defined(stmt):
    if isinstance(stmt, gast.Assign):
        return ir.target_name(stmt)
    if isinstance(stmt, gast.Expr) and _is_list_method(stmt.value, "append"):
        return stmt.value.func.value.id
    return None


def _value(stmt):
    if isinstance(stmt, gast.Expr):
        return stmt.value.args[0]
    return stmt.value


def carries_derivative(value, active, namespace):
    """Whether the operation ``value`` produces a derivative given the ``active`` names."""
    if isinstance(value, gast.Name):
        return value.id in active
    if isinstance(value, gast.Constant):
        return False
    if isinstance(value, gast.Tuple):
        return any(carries_derivative(e, active, namespace) for e in value.elts)
    if isinstance(value, gast.BinOp):
        if isinstance(value.op, _INACTIVE_OPS):
            return False
        return carries_derivative(value.left, active, namespace) or carries_derivative(value.right, active, namespace)
    if isinstance(value, gast.UnaryOp):
        return not isinstance(value.op, (gast.Not, gast.Invert)) and carries_derivative(value.operand, active,
                                                                                          namespace)
    if isinstance(value, (gast.Compare, gast.BoolOp, gast.Attribute, gast.List)):
        return False
    if isinstance(value, gast.Subscript):
        return carries_derivative(value.value, active, namespace)
    if isinstance(value, gast.Call):
        if _is_list_method(value, "pop"):
            return value.func.value.id in active
        primitive = lookup(value.func, namespace)
        if is_zero_derivative(primitive, value, namespace):
            return False
        operands = list(value.args) + [k.value for k in value.keywords]
        return any(carries_derivative(a, active, namespace) for a in operands)
    raise TypeError(f"unexpected operation in core form: {gast.dump(value)}")


def is_zero_derivative(primitive, call=None, namespace=None):
    """Whether ``primitive`` (called as ``call``, when given) never produces a derivative: a registered
    zero-derivative primitive, or a call converting to an integer or bool dtype (``np.asarray(x, dtype=int)``,
    ``np.sum(x, dtype=int)``: the result is piecewise constant)."""
    try:
        if primitive in registry.ZERO_DERIVATIVE:
            return True
    except TypeError:
        return False
    if call is None:
        return False
    dtype = _dtype_of(primitive, call, namespace)
    return dtype is not None and dtype is not _UNKNOWN and dtype.kind in "biu"


def _dtype_of(primitive, call, namespace):
    """The dtype a call converts to: None when it names none, _UNKNOWN when it is not known while compiling."""
    if not isinstance(call, gast.Call):
        return None
    expr = next((k.value for k in call.keywords if k.arg == "dtype"), None)
    if expr is None and len(call.args) > 1 and _hashable_in(primitive, _CONVERSIONS):
        expr = call.args[1]
    if expr is None:
        return None
    value = expr.value if isinstance(expr, gast.Constant) else lookup(expr, namespace)
    if isinstance(expr, gast.Constant) and value is None:
        return None
    try:
        dtype = np.dtype(value) if value is not None else _UNKNOWN
    except Exception:  # not a dtype (np.dtype raises TypeError or ValueError)
        return _UNKNOWN
    return dtype if dtype is _UNKNOWN or dtype.kind in "biufc" else _UNKNOWN


def _check_cast(value, active, namespace, stmt):
    """A conversion of a value carrying a derivative needs a dtype known while compiling: whether it has a
    derivative (a float dtype) or not (an integer or bool one) is decided then."""
    if not isinstance(value, gast.Call):
        return
    if _dtype_of(lookup(value.func, namespace), value, namespace) is not _UNKNOWN:
        return
    operands = [a for a in value.args if not isinstance(a, gast.Constant)] + \
               [k.value for k in value.keywords if k.arg != "dtype"]
    if any(carries_derivative(a, active, namespace) for a in operands):
        raise UnsupportedSyntax("the dtype of a conversion of a differentiated value must be known while "
                                "compiling (int, bool, np.float32, 'float64', ...): tangent2 decides then whether "
                                "it has a derivative", getattr(stmt, "origin", None))


def _check_write_through_call(stmt, active, namespace):
    """np.copyto(y, v) and the like write into y: fine on constants, but they have no derivative."""
    value = getattr(stmt, "value", None) if isinstance(stmt, (gast.Expr, gast.Assign)) else None
    if not isinstance(value, gast.Call) or not registry.writes_into(lookup(value.func, namespace)):
        return
    operands = list(value.args) + [k.value for k in value.keywords]
    if any(carries_derivative(a, active, namespace) for a in operands):
        function = lookup(value.func, namespace)
        owner = getattr(function, "__self__", None)
        name = f"{owner.__name__}.at" if isinstance(owner, np.ufunc) else getattr(function, "__name__", "this call")
        raise UnsupportedSyntax(f"{name}() writes into its first argument, and a derivative flows through the "
                                f"write: tangent2 has no derivative for it; assign with a subscript instead "
                                f"(y[...] = ...)", getattr(stmt, "origin", None))


def _hashable_in(value, table):
    try:
        return value in table
    except TypeError:
        return False


def _is_list_method(value, method):
    return isinstance(value, gast.Call) and isinstance(value.func, gast.Attribute) \
        and value.func.attr == method and isinstance(value.func.value, gast.Name)
