"""Activity analysis: which variables carry a derivative.

A variable is *active* when some assignment to it depends differentiably on
an active parameter.  The analysis is flow-insensitive (a fixpoint over every
statement), which is exact for the single-assignment variables normalization
produces and safe for the rest: a variable active anywhere gets a derivative
everywhere it is assigned.
"""
import gast

from tangent2 import ir
from tangent2.frontend.resolve import lookup
from tangent2.rules import registry

_INACTIVE_OPS = (gast.FloorDiv, gast.BitAnd, gast.BitOr, gast.BitXor, gast.LShift, gast.RShift)


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
        if is_zero_derivative(primitive):
            return False
        operands = list(value.args) + [k.value for k in value.keywords]
        return any(carries_derivative(a, active, namespace) for a in operands)
    raise TypeError(f"unexpected operation in core form: {gast.dump(value)}")


def is_zero_derivative(primitive):
    try:
        return primitive in registry.ZERO_DERIVATIVE
    except TypeError:
        return False


def _is_list_method(value, method):
    return isinstance(value, gast.Call) and isinstance(value.func, gast.Attribute) \
        and value.func.attr == method and isinstance(value.func.value, gast.Name)
