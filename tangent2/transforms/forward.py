"""Forward mode: core form -> a function computing the output and its tangent.

Each active assignment is followed (or, when it overwrites an operand its
rule needs, preceded) by the assignment of its tangent ``x_dot``.  Control
flow is kept as it is: tangents ride along with the primal values.
"""
import gast
import numpy as np

from tangent2 import ir, runtime
from tangent2.errors import NotDifferentiable
from tangent2.frontend.activity import is_zero_derivative
from tangent2.frontend.resolve import lookup
from tangent2.frontend.shapes import infer_scalars
from tangent2.rules import registry
from tangent2.transforms import inline
from tangent2.transforms.simplify import alias_classes, written_names


def forward(node, wrt):
    """Return the JVP FunctionDef ``f_jvp(*params, *wrt_dots) -> (out, out_dot)`` of ``node``."""
    return _Forward(node, wrt).run()


class _Forward:
    def __init__(self, node, wrt):
        self.node = node
        self.wrt = list(wrt)
        self.active = node.active
        self.scalars = infer_scalars(node, getattr(node, "scalar_params", ())).scalars
        self.namespace = dict(node.namespace)
        self.namer = ir.Namer(ir.all_names(node) | set(self.namespace))
        self.tangent = {}
        self.written = {ir.target_name(s) for s in ir.walk_statements(node.body) if ir.is_subscript_write(s)}
        self.zero_candidates = _zero_candidates(node)
        self.zero = set()  # names whose tangent is known to be zero everywhere (see _zero_candidates)

    def dot(self, name):
        if name not in self.tangent:
            self.tangent[name] = self.namer.fresh(f"{name}_dot")
        return self.tangent[name]

    def tangent_of(self, atom):
        """The tangent of an operand: a Name, a symbolic zero, or a tuple of those."""
        if isinstance(atom, gast.Name) and atom.id in self.active and atom.id not in self.zero:
            return ir.load(self.dot(atom.id))
        if isinstance(atom, gast.Tuple):
            parts = [self.tangent_of(e) for e in atom.elts]
            if all(inline.is_zero(p) for p in parts):
                return inline.zero(atom)
            return ir.tuple_([inline.materialize_zeros(p, self.namespace) for p in parts])
        return inline.zero(atom)

    def run(self):
        node = self.node
        for name in self.wrt:
            self.dot(name)
        # A parameter held fixed can still become active (written into, or rebound in a loop): its tangent
        # starts as zero, so that reads before the first active assignment see one.
        body = [ir.assign(self.dot(p), inline.zeros_of(ir.load(p), self.namespace), node.body[0].origin)
                for p in node.params if p in self.active and p not in self.wrt]
        body += self.block(node.body[:-1])
        output = node.body[-1].value
        out_dot = inline.materialize_zeros(self.tangent_of(output), self.namespace)
        body.append(ir.return_(ir.tuple_([output, out_dot]), node.body[-1].origin))
        params = list(node.params) + [self.tangent[w] for w in self.wrt]
        # Tangents follow the parameters, so the parameters keep no defaults.
        args = gast.arguments(args=[ir.param(p) for p in params], posonlyargs=[], vararg=None, kwonlyargs=[],
                              kw_defaults=[], kwarg=None, defaults=[])
        self.namer.reserve(self.namespace)  # rules inlined above may have bound new globals
        result = gast.FunctionDef(name=self.namer.fresh(f"{node.name}_jvp"), args=args, body=body, decorator_list=[], returns=None,
                                  type_comment=None, type_params=[])
        result.namespace = self.namespace
        result.filename = node.filename
        return result

    def block(self, stmts):
        out = []
        for stmt in stmts:
            out.extend(self.statement(stmt))
        return out

    def statement(self, stmt):
        if isinstance(stmt, gast.If):
            return [ir.if_(stmt.test, self.block(stmt.body), self.block(stmt.orelse), stmt.origin)]
        if isinstance(stmt, (gast.For, gast.While)):
            stmt.body = self.block(stmt.body)
            return [stmt]
        if isinstance(stmt, gast.Expr):
            return self.expression_statement(stmt)
        if isinstance(stmt, gast.Assign):
            if ir.is_subscript_write(stmt):
                return self.subscript_write(stmt)
            return self.assignment(stmt)
        return [stmt]

    def expression_statement(self, stmt):
        value = stmt.value
        is_append = isinstance(value, gast.Call) and isinstance(value.func, gast.Attribute) \
            and value.func.attr == "append"
        if is_append and value.func.value.id in self.active:
            item = value.args[0]
            item_dot = inline.materialize_zeros(self.tangent_of(item), self.namespace)
            push = ir.expr_stmt(ir.method_call(ir.load(self.dot(value.func.value.id)), "append", [item_dot]),
                                stmt.origin)
            return [stmt, push]
        return [stmt]

    def subscript_write(self, stmt):
        array = ir.target_name(stmt)
        if array not in self.active:
            return [stmt]
        target = stmt.targets[0]
        value_dot = inline.materialize_zeros(self.tangent_of(stmt.value), self.namespace)
        if inline.is_zero(value_dot) or isinstance(value_dot, gast.Constant):
            value_dot = ir.const(0.0)
        tangent_target = gast.Subscript(value=ir.load(self.dot(array)), slice=_copy(target.slice),
                                        ctx=gast.Store())
        return [stmt, ir.assign(tangent_target, value_dot, stmt.origin)]

    def assignment(self, stmt):
        name = stmt.targets[0].id
        if name not in self.active:
            return [stmt]
        overwrites = name in ir.names_in(stmt.value)
        result = self.namer.fresh(f"_{name}_new") if overwrites else name
        statements, tangent = self.tangent_expression(stmt, ir.load(result))
        if inline.is_zero(tangent):
            if name in self.zero_candidates and name not in self.tangent:
                # Its only assignment, and no tangent of it handed out yet: its reads get a symbolic zero, and the
                # rules of the operations reading it drop the terms it would contribute.
                self.zero.add(name)
                return [stmt]
            # The zero of the result: a rule's zero stands for an operand's tangent, of the operand's shape.
            return [stmt, ir.assign(self.dot(name), inline.zeros_of(ir.load(name), self.namespace), stmt.origin)]
        written_tangents = {self.tangent[w] for w in self.written if w in self.tangent}
        shares_written = written_tangents & ir.names_in(statements + [tangent])
        if (name in self.written or shares_written) and not _shares_memory(stmt.value) and not self._owned(tangent):
            # A new array's tangent must not share memory with another's that a write may change: this array is
            # written into later, or its tangent is (a view of) one that is (v = m + 1.0, v = m.T; m[0] = ...).
            tangent = ir.call(ir.attr(self._np(), "copy"), [tangent])
        tangent = inline.materialize_zeros(tangent, self.namespace)
        tangent_statements = statements + [ir.assign(self.dot(name), tangent, stmt.origin)]
        if not overwrites:
            return [stmt] + tangent_statements
        if result not in ir.names_in(tangent_statements):
            return tangent_statements + [stmt]  # computed from the old operands, before they change
        return [ir.assign(result, stmt.value, stmt.origin)] + tangent_statements + [
            ir.assign(name, ir.load(result), stmt.origin)]

    def tangent_expression(self, stmt, ans):
        """Statements and expression computing the tangent of ``stmt``'s value (``ans`` is its result)."""
        value = stmt.value
        if isinstance(value, gast.Name):
            return [], self.tangent_of(value)
        if isinstance(value, (gast.Constant, gast.List)):
            return [], inline.zero(ans) if isinstance(value, gast.Constant) else gast.List(elts=[], ctx=gast.Load())
        if isinstance(value, gast.Subscript):
            base_dot = self.tangent_of(value.value)
            if inline.is_zero(base_dot):
                return [], inline.zero(ans)
            return [], gast.Subscript(value=base_dot, slice=_copy(value.slice), ctx=gast.Load())
        if isinstance(value, gast.Call) and isinstance(value.func, gast.Attribute) and value.func.attr == "pop":
            return [], ir.method_call(ir.load(self.dot(value.func.value.id)), "pop")
        primitive, args, keywords = inline.primitive_call(value, self.namespace)
        if is_zero_derivative(primitive, value, self.namespace):
            return [], inline.zero(ans)
        rule = registry.lookup(registry.JVP_RULES, primitive)
        if rule is None:
            raise NotDifferentiable(_missing_rule_message(primitive, "forward"), _origin(stmt, self.node))
        tangent_params, _ = registry.jvp_signature(rule)
        bindings = inline.bind_operands(rule, len(tangent_params) + 1, args, keywords)
        for param in tangent_params:
            operand = bindings.get(param)
            bindings[f"{param}_dot"] = self.tangent_of(operand) if operand is not None else inline.zero(ir.const(0.0))
        bindings["ans"] = ans
        return inline.inline_rule(rule, bindings, self.namer, self.namespace, stmt.origin,
                                  scalar_result=stmt.targets[0].id in self.scalars)

    def _owned(self, tangent):
        """Whether the tangent expression builds a new array (or a scalar), never one another name holds."""
        if isinstance(tangent, (gast.BinOp, gast.UnaryOp)):
            return True
        return isinstance(tangent, gast.Call) and lookup(tangent.func, self.namespace) in (np.copy, runtime.saved)

    def _np(self):
        for name, value in self.namespace.items():
            if value is np:
                return ir.load(name)
        self.namespace["np"] = np
        return ir.load("np")


def _zero_candidates(node):
    """Names that may stand for a symbolic zero tangent when their one assignment has a zero tangent.

    The name is assigned once (by a plain ``name = value``), is not a parameter, and shares no memory with an
    array the function writes into (``b = a; b[0] = y`` changes ``a`` too, and so must ``a``'s tangent): then
    wherever it is read, its value (and so its tangent) comes from that assignment.
    """
    counts = {}
    for stmt in ir.walk_statements(node.body):
        if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name):
            counts[stmt.targets[0].id] = counts.get(stmt.targets[0].id, 0) + 1
        elif isinstance(stmt, gast.Assign) and not ir.is_subscript_write(stmt):
            for name in ir.assigned_names(stmt.targets):
                counts[name] = 2
        elif isinstance(stmt, gast.For):
            for name in ir.assigned_names(stmt.target):
                counts[name] = 2
    classes = alias_classes(node)
    written = {classes.find(name) for name in written_names(node, node.body)}
    params = set(node.params)
    return {name for name, count in counts.items()
            if count == 1 and name not in params and classes.find(name) not in written}


def _shares_memory(value):
    """Whether the value is an array another name (or a stack) holds too: its tangent is shared likewise, so that a
    write through either name reaches both tangents, as it reaches both values."""
    return isinstance(value, (gast.Name, gast.Subscript)) or (
        isinstance(value, gast.Call) and isinstance(value.func, gast.Attribute) and value.func.attr == "pop")


def _copy(node):
    import copy
    return copy.deepcopy(node)


def _origin(stmt, node):
    return getattr(stmt, "origin", None)


def _missing_rule_message(primitive, mode):
    name = getattr(primitive, "__qualname__", None) or getattr(primitive, "__name__", None) or repr(primitive)
    if hasattr(primitive, "defvjp"):
        return (f"{name}() has custom rules but none for {mode} mode; give it one with "
                f"@{primitive.__name__}.def{'vjp' if mode == 'reverse' else 'jvp'}")
    module = getattr(primitive, "__module__", None)
    full = f"{module}.{name}" if module and module != "builtins" else name
    return (f"no {mode}-mode derivative rule for {full}(); give it one with tangent2.custom_jvp / "
            f"tangent2.custom_vjp, or register rules with tangent2.rules.registry.jvp_rule and vjp_rule")
