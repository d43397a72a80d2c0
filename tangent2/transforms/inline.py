"""Inlining derivative rules: a rule's body, with the caller's variables in place of its parameters.

Tangents known to be zero are bound to symbolic zeros and simplified away, so
a rule written for the all-active case yields short code for each pattern of
active inputs.
"""
import copy
import functools
import inspect
import textwrap

import gast
import numpy as np

from tangent2 import ir, runtime
from tangent2.frontend.resolve import lookup

_ZERO_PREFIX = "__zero__"

# Functions linear in every argument that can carry a tangent (a zero there gives a zero).
_LINEAR = {
    np.sum, np.mean, np.transpose, np.reshape, np.ravel, np.squeeze, np.expand_dims, np.cumsum, np.copy,
    np.negative, np.positive, np.broadcast_to, np.trace, np.diag, np.real, np.conj,
    np.multiply, np.dot, np.vdot, np.matmul, np.outer, np.inner, np.einsum, np.tensordot, np.cross, np.kron,
    runtime.unbroadcast, runtime.broadcast_like,
}
_LINEAR |= {np.linalg.solve, np.swapaxes, np.moveaxis, np.flip, np.hstack, np.vstack, np.stack,
            np.concatenate, np.array, np.asarray}
# Linear only in their first argument.
_LINEAR_FIRST = {np.divide, np.true_divide}


def _linear_helpers():
    from tangent2.rules.runtime import LINEAR_HELPERS
    return LINEAR_HELPERS


@functools.lru_cache(maxsize=None)
def _rule_ast(rule):
    source = textwrap.dedent(inspect.getsource(rule))
    node = gast.parse(source).body[0]
    body = [s for s in node.body if not (isinstance(s, gast.Expr) and isinstance(s.value, gast.Constant))]
    for stmt in body[:-1]:
        if not (isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], gast.Name)):
            raise TypeError(f"rule {rule.__qualname__}: only simple assignments may precede the return")
    if not isinstance(body[-1], gast.Return):
        raise TypeError(f"rule {rule.__qualname__} must end with a return")
    return node, body


def inline_rule(rule, bindings, namer, globals_out, origin=None, scalar_result=False):
    """Inline ``rule`` with ``bindings`` (parameter -> atom, or :func:`zero` for a zero tangent).

    With ``scalar_result`` (the primitive's result is a scalar, so nothing
    was broadcast) ``unbroadcast`` and ``broadcast_like`` calls are dropped.

    Returns ``(statements, result)``: the rule's assignments, renamed, and its
    return expression (a Tuple for multi-output VJP rules).  Names the rule
    refers to as globals are added to ``globals_out``.
    """
    node, body = _rule_ast(rule)
    params = list(inspect.signature(rule).parameters)
    defaults = {name: p.default for name, p in inspect.signature(rule).parameters.items()
                if p.default is not inspect.Parameter.empty}
    env = {}
    for name in params:
        if name in bindings:
            env[name] = bindings[name]
        elif name in defaults:
            env[name] = ir.const(defaults[name])
        else:
            raise TypeError(f"rule {rule.__qualname__}: no value for parameter {name}")
    locals_ = {s.targets[0].id for s in body[:-1]}
    statements = []
    for stmt in body[:-1]:
        value = _simplify(_substitute(stmt.value, env, rule, globals_out, locals_), scalar_result, rule.__globals__)
        name = stmt.targets[0].id
        if is_zero(value) or ir.is_atom(value):
            env[name] = value
            continue
        value = materialize_zeros(value, globals_out)
        fresh = namer.fresh(name if name.startswith("_") else "_" + name)
        statements.append(ir.assign(fresh, value, origin))
        env[name] = ir.load(fresh)
    result = _simplify(_substitute(body[-1].value, env, rule, globals_out, locals_), scalar_result,
                       rule.__globals__)
    return statements, result


def zero(primal):
    """A symbolic zero standing for the tangent of ``primal`` (an atom)."""
    marker = ir.load(_ZERO_PREFIX)
    marker.primal = primal
    return marker


def is_zero(node):
    return isinstance(node, gast.Name) and node.id == _ZERO_PREFIX


def materialize_zeros(node, globals_out):
    """Replace the symbolic zeros left in ``node`` by ``zeros_like(primal)``."""
    if is_zero(node):
        return zeros_of(node.primal, globals_out)

    class Replace(gast.NodeTransformer):
        def visit_Name(self, name):
            return zeros_of(name.primal, globals_out) if is_zero(name) else name

    return Replace().visit(node)


def zeros_of(primal, globals_out):
    if isinstance(primal, gast.Constant):
        return ir.const(0.0)
    if isinstance(primal, gast.Tuple):
        return ir.tuple_([zeros_of(e, globals_out) for e in primal.elts])
    globals_out.setdefault("zeros_like", runtime.zeros_like)
    return ir.call("zeros_like", [primal])


def _substitute(expr, env, rule, globals_out, locals_):
    expr = copy.deepcopy(expr)

    class Substitute(gast.NodeTransformer):
        def visit_Name(self, name):
            if name.id in env:
                return copy.deepcopy(env[name.id]) if not is_zero(env[name.id]) else env[name.id]
            if name.id not in locals_:
                value = rule.__globals__.get(name.id, getattr(__builtins__, name.id, None)
                                             if not isinstance(__builtins__, dict) else __builtins__.get(name.id))
                existing = globals_out.get(name.id, value)
                if existing is not value:
                    raise TypeError(f"rule {rule.__qualname__}: global '{name.id}' clashes with another binding")
                globals_out[name.id] = value
            return name

    return Substitute().visit(expr)


def _simplify(expr, scalar_result, scope):
    """Propagate symbolic zeros upward through ``expr``; drop broadcasting helpers for scalar results."""

    class Simplify(gast.NodeTransformer):
        def visit_BinOp(self, node):
            self.generic_visit(node)
            folded = _fold_constants(node)
            if folded is not node:
                return folded
            left, right = is_zero(node.left), is_zero(node.right)
            op = node.op
            if isinstance(op, (gast.Mult, gast.MatMult)) and (left or right):
                return node.left if left else node.right
            if isinstance(op, (gast.Div, gast.FloorDiv)) and left:
                return node.left
            if isinstance(op, (gast.Add, gast.Sub)) and _both_broadcast_like(node.left, node.right, scope):
                # Both sides active: the sum broadcasts to the result's shape by itself.
                node.left, node.right = node.left.args[0], node.right.args[0]
                return node
            if isinstance(op, gast.Add):
                if left:
                    return node.right
                if right:
                    return node.left
            if isinstance(op, gast.Sub):
                if right:
                    return node.left
                if left:
                    return gast.UnaryOp(op=gast.USub(), operand=node.right)
            return node

        def visit_UnaryOp(self, node):
            self.generic_visit(node)
            if isinstance(node.op, (gast.USub, gast.UAdd)) and is_zero(node.operand):
                return node.operand
            return node

        def visit_Call(self, node):
            self.generic_visit(node)
            function = lookup(node.func, scope)
            if scalar_result and function in (runtime.unbroadcast, runtime.broadcast_like):
                return node.args[0]
            zero_args = [a for a in node.args if is_zero(a)]
            if not zero_args:
                return node
            if _hashable_in(function, _LINEAR) or _hashable_in(function, _linear_helpers()) or \
                    (_hashable_in(function, _LINEAR_FIRST) and is_zero(node.args[0])):
                return zero_args[0]
            return node

        def visit_IfExp(self, node):
            self.generic_visit(node)
            if is_zero(node.body) and is_zero(node.orelse):
                return node.body
            return node

    return Simplify().visit(expr)


def _fold_constants(node):
    """``2 - 1`` -> ``1`` and ``x ** 1`` -> ``x``, so inlined rules read like hand-written ones."""
    left, right = node.left, node.right
    numbers = (int, float)
    if isinstance(left, gast.Constant) and isinstance(right, gast.Constant) and \
            type(left.value) in numbers and type(right.value) in numbers:
        operations = {gast.Add: lambda a, b: a + b, gast.Sub: lambda a, b: a - b, gast.Mult: lambda a, b: a * b}
        operation = operations.get(type(node.op))
        if operation is not None:
            return ir.const(operation(left.value, right.value))
    if isinstance(node.op, gast.Pow) and isinstance(right, gast.Constant) and right.value == 1 \
            and type(right.value) is int:
        return left
    return node


def _both_broadcast_like(left, right, scope):
    return all(isinstance(side, gast.Call) and lookup(side.func, scope) is runtime.broadcast_like
               and not is_zero(side.args[0]) for side in (left, right))


def _hashable_in(value, collection):
    try:
        return value in collection
    except TypeError:
        return False


_OPERATORS = {
    gast.Add: np.add, gast.Sub: np.subtract, gast.Mult: np.multiply, gast.Div: np.divide,
    gast.Pow: np.power, gast.MatMult: np.matmul, gast.Mod: np.mod, gast.FloorDiv: np.floor_divide,
    gast.USub: np.negative, gast.UAdd: np.positive,
}


def primitive_call(value, namespace):
    """``(primitive, positional operands, keyword operands)`` of an operation in core form."""
    from tangent2.frontend.resolve import lookup
    if isinstance(value, gast.BinOp):
        return _OPERATORS.get(type(value.op)), [value.left, value.right], {}
    if isinstance(value, gast.UnaryOp):
        return _OPERATORS.get(type(value.op)), [value.operand], {}
    if isinstance(value, gast.Call):
        return lookup(value.func, namespace), list(value.args), {k.arg: k.value for k in value.keywords}
    return None, [], {}


def bind_operands(rule, skip, args, keywords):
    """Map the rule's primal parameters to the call's operands (like a call would bind them)."""
    params = list(inspect.signature(rule).parameters)[skip:]
    if len(args) > len(params):
        raise TypeError(f"too many arguments for rule {rule.__qualname__}")
    bound = dict(zip(params, args))
    for key, value in keywords.items():
        if key not in params:
            raise TypeError(f"rule {rule.__qualname__} has no parameter '{key}'")
        bound[key] = value
    return bound
