"""Reverse mode: core form -> a function computing the gradient (a VJP).

The generated function runs the primal code (the forward sweep), then the
adjoint sweep: each statement's derivative rule, in reverse order.  There is
no tape: variables are first renamed so that straight-line code never
overwrites a value; inside loops, the values the adjoint sweep needs are kept
on one typed list per variable (``_x_stack``), pushed after each assignment
and popped when the loop body is reversed.  ``while`` loops and loops with
``break`` count their trips; branches inside loops push their condition.
"""
import collections
import copy
import re

import gast
import numpy

from tangent2 import ir, runtime
from tangent2.errors import NotDifferentiable, UnsupportedSyntax
from tangent2.frontend.activity import analyze, is_zero_derivative
from tangent2.frontend.shapes import infer_scalars
from tangent2.rules import registry
from tangent2.transforms import inline
from tangent2.transforms.forward import _missing_rule_message


def reverse(node, wrt, return_value=False, seed_default=None, seeded_outputs=None):
    """Return the VJP FunctionDef ``f_vjp(*params, d_out) -> grads`` of the normalized ``node``.

    With ``return_value`` it returns ``(out, grads)``.  ``grads`` is the
    gradient of the single ``wrt`` parameter, or a tuple of them.
    ``seed_default`` (e.g. 1.0) makes ``d_out`` optional.  ``seeded_outputs``
    limits the cotangent to the first output leaves (the rest is auxiliary);
    when it is 1, ``d_out`` is that leaf's cotangent rather than a tuple.
    """
    renamed = _SSA(node).run()
    analyze(renamed, wrt)
    infer_scalars(renamed, getattr(node, "scalar_params", ()))
    return _Reverse(renamed, wrt, return_value, seed_default, seeded_outputs).run()


# ------------------------------------------------------------------ renaming
class _SSA:
    """Rename variables so that no value the adjoint sweep may need is overwritten.

    Outside loops every assignment gets its own name (joins of if-branches
    get a new name, assigned at the end of each branch).  A variable a loop
    body reassigns keeps its name across iterations: the body works on fresh
    names and copies the result back at its end (``carry`` copies).
    """

    def __init__(self, node):
        self.node = node
        self.namer = ir.Namer(ir.all_names(node) | set(node.namespace))
        self.defined = set()
        self.depth = 0

    def run(self):
        node = ir.copy_function(self.node)
        _mark_liveness(node.body, set())
        env = {p: p for p in node.params}
        self.defined = set(node.params)
        body = self.block(node.body, env)
        node.body = body
        return node

    def version(self, name):
        if _is_result(name):
            return name
        if name not in self.defined:
            self.defined.add(name)
            self.namer.reserve([name])
            return name
        return self.namer.fresh(name)

    def block(self, stmts, env):
        out = []
        for stmt in stmts:
            out.extend(self.statement(stmt, env))
        return out

    def rename_reads(self, node, env):
        class Rename(gast.NodeTransformer):
            def visit_Name(self, n):
                if isinstance(n.ctx, gast.Load) and n.id in env:
                    return ir.load(env[n.id])
                return n
        return Rename().visit(node)

    def statement(self, stmt, env):
        if isinstance(stmt, gast.Assign):
            stmt.value = self.rename_reads(stmt.value, env)
            target = stmt.targets[0]
            if isinstance(target, gast.Subscript):
                stmt.targets[0] = self.rename_reads(target, env)
                stmt.targets[0].ctx = gast.Store()
                return [stmt]
            env[target.id] = self.version(target.id)
            stmt.targets[0] = ir.store(env[target.id])
            return [stmt]
        if isinstance(stmt, gast.Expr):
            stmt.value = self.rename_reads(stmt.value, env)
            return [stmt]
        if isinstance(stmt, gast.Return):
            stmt.value = self.rename_reads(stmt.value, env)
            return [stmt]
        if isinstance(stmt, gast.If):
            return self.if_statement(stmt, env)
        if isinstance(stmt, (gast.For, gast.While)):
            return self.loop(stmt, env)
        return [stmt]

    def if_statement(self, stmt, env):
        stmt.test = self.rename_reads(stmt.test, env)
        then_env, else_env = dict(env), dict(env)
        stmt.body = self.block(stmt.body, then_env)
        stmt.orelse = self.block(stmt.orelse, else_env)
        copied_test = []
        if isinstance(stmt.test, gast.Name) and stmt.test.id in ir.assigned_names(stmt.body + stmt.orelse):
            # The adjoint sweep tests the condition again: keep the value the if saw (the flag of a lowered
            # early return, tested here, is assigned again by a later return inside a loop in the body).
            test = self.namer.fresh("_t")
            self.defined.add(test)
            copied_test = [ir.assign(test, stmt.test, stmt.origin)]
            stmt.test = ir.load(test)
        stmt.joins = []
        for name in sorted(set(then_env) & set(else_env)):
            if then_env[name] != else_env[name] and name in stmt.live_after:
                joined = self.namer.fresh(name) if name in self.defined else self.version(name)
                for branch, branch_env in ((stmt.body, then_env), (stmt.orelse, else_env)):
                    copy_in = ir.assign(joined, ir.load(branch_env[name]), stmt.origin)
                    copy_in.join = True
                    branch.append(copy_in)
                stmt.joins.append(joined)
                env[name] = joined
        for name in set(then_env) | set(else_env):
            if name not in stmt.live_after or name not in env:
                # Dead after the if (or new in one branch): no join needed.
                env[name] = then_env.get(name) or else_env.get(name)
        return copied_test + [stmt]

    def loop(self, stmt, env):
        assigned = {ir.target_name(s) for s in ir.walk_statements(stmt.body) if isinstance(s, gast.Assign)
                    and not ir.is_subscript_write(s)}
        assigned = {n for n in assigned if not _is_result(n)}
        carried = sorted(n for n in assigned if n in env and n in stmt.live_header)
        exits = sorted(n for n in assigned if n not in env and n in stmt.live_after)
        prologue = []
        for name in exits:
            # Assigned only in the loop but read after it: give it a name the loop copies into.
            env[name] = self.version(name)
        if isinstance(stmt, gast.For):
            # The range is evaluated once, before the body rebinds its bounds; the reversed loop reads them
            # after the whole forward sweep: it gets copies.
            bounds = {}
            for name in sorted(ir.names_in(stmt.iter) & set(carried)):
                bounds[name] = self.namer.fresh(f"{name}_bound")
                prologue.append(ir.assign(bounds[name], ir.load(env[name]), stmt.origin))
            stmt.iter = self.rename_reads(stmt.iter, {**env, **bounds})
            index = stmt.target.id
            env[index] = self.version(index)
            stmt.target = ir.store(env[index])
        else:
            stmt.test = self.rename_reads(stmt.test, env)
        header = {name: env[name] for name in carried + exits}
        body_env = dict(env)
        self.depth += 1
        body = self.block(stmt.body, body_env)
        self.depth -= 1
        # Copy back before a final `if stop: break`, so the last iteration's values survive it.
        exit_check = [body.pop()] if body and _is_break_check(body[-1]) else []
        for name, head in header.items():
            if body_env.get(name, head) != head:
                copy_back = ir.assign(head, ir.load(body_env[name]), stmt.origin)
                copy_back.carry = True
                body.append(copy_back)
        body += exit_check
        stmt.body = body
        read_in_body = ir.names_in(body)
        for name in exits:
            if header[name] in read_in_body:
                # Unbound until the loop assigns it, but copied (kept by a branch that does not assign it) in
                # every iteration: bound to None before the loop; the user's code reads it only once assigned.
                prologue.append(ir.assign(header[name], ir.const(None), stmt.origin))
        stmt.carried = [header[n] for n in carried]
        stmt.exits = [header[n] for n in exits]
        for name in assigned - set(header):
            env[name] = body_env[name]
        epilogue = []
        if self.depth:
            # Inside an enclosing loop, whose reverse sweep restores the header names first thing,
            # what follows this loop reads copies of its results instead.
            for name, head in header.items():
                env[name] = self.version(name)
                epilogue.append(ir.assign(env[name], ir.load(head), stmt.origin))
        return prologue + [stmt] + epilogue


_RESULT = re.compile(r"_result(_\d+)?$")


def _is_result(name):
    """Result variables of lowered early returns: assigned at most once per call, on exclusive paths.

    They keep one name (no versions, joins or loop copies), so they are
    defined wherever the adjoint sweep, which runs after the whole primal,
    reads them.
    """
    return bool(_RESULT.match(name))


def _mark_definitely_defined(stmts, defined, guarded=None):
    """Record ``defined_before`` on every if and loop: the names assigned on every path reaching it.

    A name bound to None does not count: it has no value to take a shape from.
    ``guarded`` maps a condition name to the names defined where it was true
    and where it was false in an earlier ``if`` on it: a later ``if`` on the
    same unchanged name takes the same branch.  (The flag of a lowered early
    return guards both the rest of the primal and, later, its adjoint, which
    reads the names that part defines.)
    """
    defined = set(defined)
    guarded = dict(guarded or {})
    for stmt in stmts:
        if isinstance(stmt, gast.Assign) and not ir.is_subscript_write(stmt):
            guarded.pop(ir.target_name(stmt), None)
            if not (isinstance(stmt.value, gast.Constant) and stmt.value.value is None):
                defined.add(ir.target_name(stmt))
        elif isinstance(stmt, gast.If):
            stmt.defined_before = set(defined)
            test = stmt.test.id if isinstance(stmt.test, gast.Name) else None
            if_true, if_false = guarded.get(test, (set(), set()))
            body = _mark_definitely_defined(stmt.body, defined | if_true, guarded)
            orelse = _mark_definitely_defined(stmt.orelse, defined | if_false, guarded)
            defined |= body & orelse
            for name in ir.assigned_names(stmt.body + stmt.orelse):
                guarded.pop(name, None)
            if test is not None and test not in ir.assigned_names(stmt.body + stmt.orelse):
                guarded[test] = (body, orelse)
        elif isinstance(stmt, (gast.For, gast.While)):
            stmt.defined_before = set(defined)
            for name in ir.assigned_names(stmt.body):
                guarded.pop(name, None)
            _mark_definitely_defined(stmt.body, defined | ({stmt.target.id} if isinstance(stmt, gast.For) else set()),
                                     guarded)
    return defined


def _mark_liveness(stmts, live):
    """Backward liveness over structured code; records ``live_after`` on ifs and loops, ``live_header`` on loops.

    Returns the names live before ``stmts`` given those ``live`` after them.
    """
    live = set(live)
    for stmt in reversed(stmts):
        if isinstance(stmt, gast.If):
            stmt.live_after = set(live)
            live = ir.names_in(stmt.test) | _mark_liveness(stmt.body, live) | \
                _mark_liveness(stmt.orelse, live)
        elif isinstance(stmt, (gast.For, gast.While)):
            # The loop test runs before every iteration, so what it reads is live at the header.
            test = stmt.iter if isinstance(stmt, gast.For) else stmt.test
            header = set(live) | ir.names_in(test)
            while True:
                entry = _mark_liveness(stmt.body, header) - ({stmt.target.id}
                                                                    if isinstance(stmt, gast.For) else set())
                grown = header | entry
                if grown == header:
                    break
                header = grown
            stmt.live_after = set(live)
            stmt.live_header = header
            live = header
        elif isinstance(stmt, gast.Assign) and not ir.is_subscript_write(stmt):
            live = (live - {ir.target_name(stmt)}) | ir.names_in(stmt.value)
        else:
            live = live | ir.names_in(stmt)
    return live


# ------------------------------------------------------------------ adjoints
class _Reverse:
    def __init__(self, node, wrt, return_value, seed_default, seeded_outputs):
        self.node = node
        self.seeded_outputs = seeded_outputs
        self.scalars = getattr(node, "scalars", set())
        self.wrt = list(wrt)
        self.return_value = return_value
        self.seed_default = seed_default
        self.active = node.active
        self.namespace = dict(node.namespace)
        self.namer = ir.Namer(ir.all_names(node) | set(self.namespace))
        self.adjoints = {}
        self.init = set()
        self.owned = set()
        self.maybe_zero = set()    # adjoints that may hold a scalar zero standing for a zero of unknown shape
        self.reverse_blocks = {}   # id(primal block) -> its reversed statement list
        self.loop_of_trips = {}    # id(loop) -> trip counter name
        self.reversed_loops = {}   # id(loop) -> the loop running its reversed body
        self.saves = {}            # id(subscript write) -> saved-value name
        self.restores = []
        self.stacks = {}               # variable -> name of its list of saved values
        self.defs = self._definition_sites(node.body)

    # -------------------------------------------------------------- helpers
    def adj(self, name):
        if name not in self.adjoints:
            base = name if not name.startswith("_") else name
            self.adjoints[name] = self.namer.fresh(f"d{base}")
        return self.adjoints[name]

    def _definition_sites(self, stmts):
        sites = collections.defaultdict(list)
        for stmt in ir.walk_statements(stmts):
            if isinstance(stmt, gast.Assign) and not ir.is_subscript_write(stmt):
                sites[ir.target_name(stmt)].append(stmt)
        return sites

    def zeros(self, like):
        self.namespace.setdefault("zeros_like", runtime.zeros_like)
        return ir.call("zeros_like", [like])

    def np_ref(self):
        for name, value in self.namespace.items():
            if value is numpy:
                return ir.load(name)
        self.namespace["np"] = numpy
        return ir.load("np")

    def mark(self, stmts, origin):
        for stmt in stmts:
            stmt.origin = getattr(stmt, "origin", None) or origin
            stmt.adjoint = True
            self.track_zeros(stmt)
        return stmts

    def track_zeros(self, stmt):
        """Follow the scalar zeros that stand for adjoints of names maybe undefined where they are zeroed.

        A sum with a real array is a real array; any other operation on such a
        zero may be one too (a scalar where an array of the name's shape is
        expected), and so may a value popped from a stack it was pushed on.
        """
        if isinstance(stmt, gast.Expr) and _list_method(stmt.value, "append"):
            if ir.names_in(stmt.value.args) & self.maybe_zero:
                self.maybe_zero.add(stmt.value.func.value.id)
            return
        if not isinstance(stmt, gast.Assign) or ir.is_subscript_write(stmt):
            return
        value = stmt.value
        if isinstance(value, gast.Constant):
            zero = True
        elif isinstance(value, gast.BinOp) and isinstance(value.op, (gast.Add, gast.Sub)):
            zero = bool(ir.names_in(value.left) & self.maybe_zero) and bool(ir.names_in(value.right) & self.maybe_zero)
        else:
            zero = bool(ir.names_in(value) & self.maybe_zero)
        if zero:
            self.maybe_zero.add(ir.target_name(stmt))
        else:
            self.maybe_zero.discard(ir.target_name(stmt))

    def accumulate(self, name, contribution, origin):
        """Statements adding ``contribution`` to the adjoint of ``name``."""
        if name not in self.active:
            return []
        adjoint = self.adj(name)
        if adjoint in self.init:
            value = gast.BinOp(left=ir.load(adjoint), op=gast.Add(), right=contribution)
            self.owned.add(adjoint)
        else:
            value = contribution
            self.init.add(adjoint)
            self.owned.discard(adjoint)
        return self.mark([ir.assign(adjoint, value)], origin)

    def accumulate_at(self, name, index, contribution, origin):
        """Statements adding ``contribution`` into ``adjoint[index]``."""
        if name not in self.active:
            return []
        adjoint = self.adj(name)
        out = self.own(name)
        # A scalar name in an index is an integer: like a loop counter, it selects no element twice.
        if _basic_index(index, self.loop_indices | self.scalars):
            target = gast.Subscript(value=ir.load(adjoint), slice=copy.deepcopy(index), ctx=gast.Store())
            out.append(gast.AugAssign(target=target, op=gast.Add(), value=contribution))
        else:
            self.namespace.setdefault("add_at", runtime.add_at)
            out.append(ir.assign(adjoint, ir.call("add_at", [ir.load(adjoint), _index_value(index), contribution])))
        return self.mark(out, origin)

    def own(self, name):
        """Make the adjoint of ``name`` an array this function may write into."""
        adjoint = self.adj(name)
        if adjoint not in self.init:
            self.init.add(adjoint)
            self.owned.add(adjoint)
            return [ir.assign(adjoint, self.zeros(ir.load(name)))]
        if adjoint not in self.owned:
            self.owned.add(adjoint)
            if adjoint in self.maybe_zero:
                # Maybe a scalar zero standing for zeros: the sum has the array's shape (and is a copy).
                return [ir.assign(adjoint, gast.BinOp(left=ir.load(adjoint), op=gast.Add(),
                                                      right=self.zeros(ir.load(name))))]
            return [ir.assign(adjoint, ir.call(ir.attr(self.np_ref(), "copy"), [ir.load(adjoint)]))]
        return []

    # ------------------------------------------------------------------ run
    def run(self):
        node = self.node
        self.loop_indices = {s.target.id for s in ir.walk_statements(node.body) if isinstance(s, gast.For)}
        self.loop_assigned = set()
        for loop in ir.walk_statements(node.body):
            if isinstance(loop, (gast.For, gast.While)):
                self.loop_assigned |= ir.assigned_names(loop)
        _mark_definitely_defined(node.body, set(node.params))
        primal = node.body[:-1]
        output = node.body[-1].value
        seed = self.namer.fresh("d_out")
        self.lists = self.active_lists()
        adjoint = [ir.assign(self.adj(name), gast.List(elts=[], ctx=gast.Load())) for name in self.lists]
        self.init.update(self.adj(name) for name in self.lists)  # stacks of cotangents, never zeroed
        adjoint += self.mark(self.seed_outputs(output, ir.load(seed)), node.body[-1].origin)
        adjoint += self.reverse_block(primal)
        read = _names_read(adjoint, {id(r) for r in self.restores})
        self._prune_restores(adjoint, _sharing_memory(primal, read, self.namespace))
        self.header_reads = self.loop_header_reads(adjoint)
        forward = self.forward_block(primal, ir.names_in(adjoint), depth=0)
        forward[:0] = [ir.assign(stack, gast.List(elts=[], ctx=gast.Load())) for stack in self.stacks.values()]
        grads = [ir.load(self.adj(w)) if self.adj(w) in self.init else self.zeros(ir.load(w)) for w in self.wrt]
        grads = grads[0] if len(grads) == 1 else ir.tuple_(grads)
        if self.return_value:
            # The adjoint sweep restores overwritten values, so the output is kept aside first.
            kept, output = self.keep_output(output)
            forward += kept
        result = ir.tuple_([output, grads]) if self.return_value else grads
        body = forward + adjoint + [ir.return_(result, node.body[-1].origin)]
        params = list(node.params) + [seed]
        if self.seed_default is not None:
            defaults = list(node.args.defaults) + [ir.const(self.seed_default)]
        else:
            defaults = []  # d_out is required, so no parameter before it may have a default
        args = gast.arguments(args=[ir.param(p) for p in params], posonlyargs=[], vararg=None, kwonlyargs=[],
                              kw_defaults=[], kwarg=None, defaults=defaults)
        suffix = "vjp" if self.return_value or self.seed_default is None else "grad"
        self.namer.reserve(self.namespace)  # rules inlined above may have bound new globals
        fn = gast.FunctionDef(name=self.namer.fresh(f"{node.name}_{suffix}"), args=args, body=body, decorator_list=[],
                              returns=None, type_comment=None, type_params=[])
        fn.namespace = self.namespace
        fn.filename = node.filename
        return fn

    def loop_header_reads(self, adjoint):
        """For each loop: the names its reversed body reads, and those the rest of the adjoint sweep reads.

        A header name's value at the top of each iteration is saved only where
        it is read: by the reversed body (the value of its own iteration), or
        after the reversed loop (the value from before the loop, which only a
        name defined on every path to the loop has: a name an enclosing loop
        assigns first is unbound in its first iteration).
        """
        everywhere = _reads(adjoint)
        reads = {}
        for loop_id, header in self.reversed_loops.items():
            inside = _reads(header.body)
            reads[loop_id] = set(inside), {n for n, count in everywhere.items() if count > inside[n]}
        return reads

    def keep_output(self, output):
        """Statements copying the returned values before the adjoint sweep, and the copies."""
        if isinstance(output, gast.Tuple):
            kept, items = [], []
            for item in output.elts:
                statements, copy_ = self.keep_output(item)
                kept += statements
                items.append(copy_)
            return kept, ir.tuple_(items)
        if not isinstance(output, gast.Name):
            return [], output
        name = self.namer.fresh("_value")
        written = any(ir.is_subscript_write(s) and ir.target_name(s) == output.id
                      for s in ir.walk_statements(self.node.body))
        if written:
            self.namespace.setdefault("saved", runtime.saved)
            value = ir.call("saved", [ir.load(output.id)])
        else:
            value = ir.load(output.id)
        return [ir.assign(name, value)], ir.load(name)

    def active_lists(self):
        """Lists (the stacks of generated reverse-mode code) holding active values."""
        return sorted(ir.target_name(s) for s in ir.walk_statements(self.node.body)
                      if isinstance(s, gast.Assign) and isinstance(s.value, gast.List)
                      and ir.target_name(s) in self.active)

    def seed_outputs(self, output, seed):
        if self.seeded_outputs is None:
            return self.seed(output, seed)
        leaves = output.elts if isinstance(output, gast.Tuple) else [output]
        if self.seeded_outputs == 1:
            return self.seed(leaves[0], seed)
        return self.seed(ir.tuple_(leaves[: self.seeded_outputs]), seed)

    def seed(self, output, seed):
        if isinstance(output, gast.Tuple):
            out = []
            for i, item in enumerate(output.elts):
                part = gast.Subscript(value=copy.deepcopy(seed), slice=ir.const(i), ctx=gast.Load())
                out += self.seed(item, part)
            return out
        if isinstance(output, gast.Name):
            return self.accumulate(output.id, seed, None)
        return []

    # ----------------------------------------------------------- the sweep
    def reverse_block(self, stmts):
        out = []
        for stmt in reversed(stmts):
            out += self.reverse_statement(stmt)
        self.reverse_blocks[id(stmts)] = out
        return out

    def reverse_statement(self, stmt):
        if isinstance(stmt, gast.Assign):
            if ir.is_subscript_write(stmt):
                return self.reverse_subscript_write(stmt)
            return self.reverse_assign(stmt)
        if isinstance(stmt, gast.If):
            if _is_break_check(stmt):
                return []
            return self.reverse_if(stmt)
        if isinstance(stmt, (gast.For, gast.While)):
            return self.reverse_loop(stmt)
        if isinstance(stmt, gast.Expr):
            if _list_method(stmt.value, "append") and stmt.value.func.value.id in self.active:
                return self.reverse_push(stmt)
            return []
        raise UnsupportedSyntax(f"{type(stmt).__name__} in core form", getattr(stmt, "origin", None))

    def reverse_push(self, stmt):
        """``stack.append(v)``: the matching cotangent comes back off the adjoint stack."""
        stack = stmt.value.func.value.id
        item = stmt.value.args[0]
        cotangent = ir.method_call(ir.load(self.adj(stack)), "pop")
        if _is_active(item, self.active):
            return self.accumulate(item.id, cotangent, stmt.origin)
        return self.mark([ir.expr_stmt(cotangent)], stmt.origin)

    def reverse_pop(self, stmt):
        """``v = stack.pop()``: pass v's cotangent to the push that stored v (zero keeps the stacks aligned)."""
        name = stmt.targets[0].id
        adjoint = self.adj(name)
        cotangent = ir.load(adjoint) if adjoint in self.init else self.zeros(ir.load(name))
        self.init.discard(adjoint)
        stack = ir.load(self.adj(stmt.value.func.value.id))
        return self.mark([ir.expr_stmt(ir.method_call(stack, "append", [cotangent]))], stmt.origin)

    def reverse_assign(self, stmt):
        name = stmt.targets[0].id
        if _list_method(stmt.value, "pop") and stmt.value.func.value.id in self.active:
            return self.reverse_pop(stmt)
        adjoint = self.adj(name) if name in self.active else None
        if adjoint is None or adjoint not in self.init:
            return []
        value = stmt.value
        g = ir.load(adjoint)
        origin = stmt.origin
        # The value assigned here is consumed: earlier code starts a fresh adjoint for it.  (A result
        # variable is assigned on exclusive paths: the adjoint stays for the other assignments.)
        if not _is_result(name):
            self.init.discard(adjoint)
        if isinstance(value, gast.Name):
            return self.accumulate(value.id, g, origin)
        if isinstance(value, (gast.Constant, gast.List)):
            return []
        if isinstance(value, gast.Subscript):
            return self.accumulate_at(value.value.id, value.slice, g, origin)
        return self.reverse_rule(stmt, g)

    def reverse_rule(self, stmt, g):
        primitive, args, keywords = inline.primitive_call(stmt.value, self.namespace)
        operands = dict(enumerate(args))
        active = [i for i, a in operands.items() if _is_active(a, self.active)] + \
                 [k for k, a in keywords.items() if _is_active(a, self.active)]
        if not active or is_zero_derivative(primitive, stmt.value, self.namespace):
            return []
        rule = registry.lookup(registry.VJP_RULES, primitive)
        if rule is None:
            raise NotDifferentiable(_missing_rule_message(primitive, "reverse"), stmt.origin)
        bindings = inline.bind_operands(rule, 2, args, keywords)
        bindings["g"] = g
        bindings["ans"] = ir.load(stmt.targets[0].id)
        out = []
        if g.id in self.maybe_zero:
            # Maybe a scalar zero standing for zeros: rules take shapes from g (np.reshape, @, ...).
            out += self.mark([ir.assign(g.id, gast.BinOp(left=ir.load(g.id), op=gast.Add(),
                                                         right=self.zeros(ir.load(stmt.targets[0].id))))], stmt.origin)
        statements, result = inline.inline_rule(rule, bindings, self.namer, self.namespace, stmt.origin,
                                                scalar_result=stmt.targets[0].id in self.scalars)
        entries = list(result.elts) if isinstance(result, gast.Tuple) else [result]
        params = registry.vjp_signature(rule)
        out += self.mark(statements, stmt.origin)
        for position, param in enumerate(params[: len(entries)]):
            operand = bindings.get(param)
            entry = entries[position]
            if operand is None or (isinstance(entry, gast.Constant) and entry.value is None):
                continue
            if not _is_active(operand, self.active):
                continue
            out += self.distribute(operand, entry, stmt.origin)
        return out

    def distribute(self, operand, contribution, origin):
        """Accumulate ``contribution`` into ``operand`` (a Name, or a Tuple receiving a tuple)."""
        if isinstance(operand, gast.Name):
            return self.accumulate(operand.id, contribution, origin)
        if isinstance(operand, gast.Tuple):
            out = []
            if isinstance(contribution, gast.Tuple):
                parts = contribution.elts
            else:
                holder = self.namer.fresh("_parts")
                out += self.mark([ir.assign(holder, contribution)], origin)
                parts = [gast.Subscript(value=ir.load(holder), slice=ir.const(i), ctx=gast.Load())
                         for i in range(len(operand.elts))]
            for item, part in zip(operand.elts, parts):
                if _is_active(item, self.active):
                    out += self.distribute(item, part, origin)
            return out
        return []

    def reverse_subscript_write(self, stmt):
        array = ir.target_name(stmt)
        target = stmt.targets[0]
        index = target.slice
        origin = stmt.origin
        saved = self.namer.fresh(f"_{array}_saved")
        self.saves[id(stmt)] = saved
        restore = ir.assign(gast.Subscript(value=ir.load(array), slice=copy.deepcopy(index), ctx=gast.Store()),
                            ir.load(saved), origin)
        restore.restore_of = (array, id(stmt))
        restore.adjoint = True
        self.restores.append(restore)
        out = [restore]
        adjoint = self.adj(array)
        if array in self.active and adjoint in self.init:
            out += self.mark(self.own(array), origin)
            value = stmt.value
            if _is_active(value, self.active) and isinstance(value, gast.Name):
                self.namespace.setdefault("saved", runtime.saved)
                self.namespace.setdefault("unbroadcast", runtime.unbroadcast)
                piece = gast.Subscript(value=ir.load(adjoint), slice=copy.deepcopy(index), ctx=gast.Load())
                out += self.accumulate(value.id, ir.call("unbroadcast", [ir.call("saved", [piece]), value]), origin)
            zero_target = gast.Subscript(value=ir.load(adjoint), slice=copy.deepcopy(index), ctx=gast.Store())
            out += self.mark([ir.assign(zero_target, ir.const(0.0))], origin)
        return out

    def _prune_restores(self, adjoint, needed):
        """Keep the save/restore of overwritten elements only for arrays the adjoint sweep reads (or a view of)."""
        drop = set()
        for stmt in self.restores:
            array, write = stmt.restore_of
            if array not in needed:
                drop.add(id(stmt))
                self.saves.pop(write, None)

        def prune(stmts):
            kept = []
            for s in stmts:
                if id(s) in drop:
                    continue
                for field in ("body", "orelse"):
                    if getattr(s, field, None):
                        setattr(s, field, prune(getattr(s, field)))
                kept.append(s)
            stmts[:] = kept
            return stmts

        prune(adjoint)

    def contributions(self, stmts):
        """Variables that receive adjoint contributions inside ``stmts`` (lists pass theirs on stacks)."""
        found = set()
        for stmt in ir.walk_statements(stmts):
            if isinstance(stmt, gast.Expr) and _list_method(stmt.value, "append"):
                found |= {n for n in ir.names_in(stmt.value.args[0]) if n in self.active}
            if isinstance(stmt, gast.Assign) and ir.target_name(stmt) in self.active:
                found |= {n for n in ir.names_in(stmt.value) if n in self.active}
                if ir.is_subscript_write(stmt):
                    found.add(ir.target_name(stmt))
        return found - set(self.lists)

    def body_locals(self, stmts):
        """Variables all of whose assignments are inside ``stmts``."""
        inside = {id(s) for s in ir.walk_statements(stmts)}
        names = {ir.target_name(s) for s in ir.walk_statements(stmts)
                 if isinstance(s, gast.Assign) and not ir.is_subscript_write(s)}
        return {n for n in names if n not in self.node.params and all(id(s) in inside for s in self.defs[n])}

    def pre_initialize(self, stmts, compound):
        """Zero the adjoints that ``stmts`` (the inside of ``compound``) accumulate into conditionally or repeatedly.

        A variable that may be undefined before ``compound`` (assigned in one
        branch of an earlier if) gets a scalar zero, which broadcasts on the
        first accumulation, since its value cannot serve as a shape.
        """
        out = []
        for name in sorted(self.contributions(stmts) - self.body_locals(stmts)):
            adjoint = self.adj(name)
            if adjoint not in self.init:
                defined = name in getattr(compound, "defined_before", ()) or name in self.node.params
                out.append(ir.assign(adjoint, self.zeros(ir.load(name)) if defined else ir.const(0.0)))
                self.init.add(adjoint)
                if defined:
                    self.owned.add(adjoint)
        return out

    def reverse_if(self, stmt):
        out = self.mark(self.pre_initialize(stmt.body + stmt.orelse, stmt), stmt.origin)
        init, owned, maybe_zero = set(self.init), set(self.owned), set(self.maybe_zero)
        body = self.reverse_block(stmt.body)
        init_then, owned_then, zero_then = self.init, self.owned, self.maybe_zero
        self.init, self.owned, self.maybe_zero = set(init), set(owned), set(maybe_zero)
        orelse = self.reverse_block(stmt.orelse)
        self.init &= init_then
        self.owned &= owned_then
        self.maybe_zero |= zero_then
        # Kept even when empty: the forward sweep may add pops to the branches; simplify drops it if not.
        # The branch lists stay the registered ones: the forward sweep adds pops to them.
        reversed_if = gast.If(test=copy.deepcopy(stmt.test), body=body, orelse=orelse)
        reversed_if.origin = stmt.origin
        reversed_if.adjoint = True
        return out + [reversed_if]

    def reverse_loop(self, stmt):
        body_stmts = stmt.body
        heads = getattr(stmt, "exits", []) + getattr(stmt, "carried", [])
        out = self.mark(self.pre_initialize(body_stmts, stmt), stmt.origin)
        received = self.contributions(body_stmts)
        for head in heads:
            adjoint = self.adj(head)
            if head in self.active and adjoint not in self.init and head in received:
                # A name only the loop assigns is undefined if it ran no iteration: a scalar zero then.
                zero = self.zeros(ir.load(head)) if head in stmt.defined_before else ir.const(0.0)
                out += self.mark([ir.assign(adjoint, zero)], stmt.origin)
                self.init.add(adjoint)
        # The header names with an adjoint hold it across iterations: from after the loop for the last
        # iteration, from the reads in the next one for the others.  (Without one, no derivative reaches
        # them: a dead value's adjoint stays a symbolic zero.)
        kept = [h for h in heads if h in self.active and self.adj(h) in self.init]
        init_before, owned_before, zero_before = set(self.init), set(self.owned), set(self.maybe_zero)
        # Where a header name the body reads may be undefined, its adjoint may become a scalar zero in any
        # iteration.
        self.maybe_zero |= {self.adj(h) for h in kept if h not in stmt.defined_before and h in received}
        locals_ = self.body_locals(body_stmts) - set(kept)
        self.init -= {self.adj(n) for n in locals_}
        body = self.reverse_block(body_stmts)
        for head in kept:
            adjoint = self.adj(head)
            if adjoint not in self.init:
                body += self.mark([ir.assign(adjoint, self.zeros(ir.load(adjoint)))], stmt.origin)
        self.init = init_before
        self.owned = owned_before & self.owned
        self.maybe_zero |= zero_before
        header = self.reverse_header(stmt)
        body[:0] = getattr(header, "prologue", [])
        header.body = body
        header.adjoint = True
        header.origin = stmt.origin
        self.reversed_loops[id(stmt)] = header
        return out + [header]

    def reverse_header(self, stmt):
        """The loop that runs the reversed body, visiting iterations last to first."""
        breaks = any(isinstance(s, gast.Break) for s in ir.walk_statements(stmt.body))
        if isinstance(stmt, gast.For) and not breaks:
            args = stmt.iter.args
            if len(args) <= 2:
                start = args[0] if len(args) == 2 else ir.const(0)
                stop = args[-1]
                rev_args = [_minus_one(stop), _minus_one(start), ir.const(-1)]
                return gast.For(target=ir.store(stmt.target.id), iter=ir.call("range", rev_args), body=[],
                                orelse=[], type_comment=None)
        trips = self.namer.fresh("_trips")
        self.loop_of_trips[id(stmt)] = trips
        if isinstance(stmt, gast.For):
            args = stmt.iter.args
            start = args[0] if len(args) >= 2 else ir.const(0)
            step = args[2] if len(args) == 3 else ir.const(1)
            k = self.namer.fresh("_k")
            index = ir.assign(stmt.target.id, gast.BinOp(
                left=copy.deepcopy(start), op=gast.Add(),
                right=gast.BinOp(left=ir.load(k), op=gast.Mult(), right=copy.deepcopy(step))))
            loop = gast.For(target=ir.store(k), iter=ir.call("range", [_minus_one(ir.load(trips)), ir.const(-1),
                                                                      ir.const(-1)]),
                            body=[], orelse=[], type_comment=None)
            loop.prologue = [index]
            return loop
        return gast.For(target=ir.store(self.namer.fresh("_")), iter=ir.call("range", [ir.load(trips)]), body=[],
                        orelse=[], type_comment=None)

    # ------------------------------------------------------- forward sweep
    def forward_block(self, stmts, needed, depth, headers=None):
        """The primal statements, with pushes of needed values inside loops and pops in the reversed blocks.

        ``headers``: for a loop's body, the header names popped at the top of its reversed body.  A needed
        scalar the body computes from those and from values no loop assigns (``_t = y - x``) is computed
        again there instead of saved: compiled, a push and a pop cost several times the arithmetic.
        """
        out = []
        pops = []
        recomputed = []
        for stmt in stmts:
            if ir.is_subscript_write(stmt) and id(stmt) in self.saves:
                saved = self.saves[id(stmt)]
                self.namespace.setdefault("saved", runtime.saved)
                piece = gast.Subscript(value=copy.deepcopy(stmt.targets[0].value),
                                       slice=copy.deepcopy(stmt.targets[0].slice), ctx=gast.Load())
                out.append(ir.assign(saved, ir.call("saved", [piece]), stmt.origin))
                if depth:
                    out.append(self.push(saved, stmt.origin))
                    pops.append(saved)
                out.append(stmt)
            elif isinstance(stmt, gast.Assign):
                out.append(stmt)
                name = ir.target_name(stmt)
                if depth and name in needed and not getattr(stmt, "carry", False) and not getattr(stmt, "join", False):
                    if headers is not None and self.recomputable(stmt, stmts, headers):
                        recomputed.append(copy.deepcopy(stmt))   # commented as the primal line it repeats
                        continue
                    out.append(self.push(name, stmt.origin))
                    if name not in pops:
                        pops.append(name)
            elif isinstance(stmt, gast.If):
                stmt.body = self.forward_block(stmt.body, needed, depth)
                stmt.orelse = self.forward_block(stmt.orelse, needed, depth)
                out.append(stmt)
                # A value joined from both branches is read after the if, so it is saved (and restored) at
                # this level, before the reverse sweep reaches those reads.
                for name in getattr(stmt, "joins", []):
                    if depth and name in needed:
                        out.append(self.push(name, stmt.origin))
                        pops.append(name)
            elif isinstance(stmt, (gast.For, gast.While)):
                out += self.forward_loop(stmt, needed, depth)
                trips = self.loop_of_trips.get(id(stmt))
                if depth and trips:
                    out.append(self.push(trips, stmt.origin))
                    pops.append(trips)
            else:
                out.append(stmt)
        reverse = self.reverse_blocks.get(id(stmts))
        if reverse is not None and (pops or recomputed):
            reverse[:0] = [self.pop(name, None) for name in pops] + recomputed
        return self.delay_pushes(out)

    def recomputable(self, stmt, body, headers):
        """Whether ``stmt`` (in a loop's ``body``) is scalar arithmetic on constants, on ``headers`` the body
        does not reassign (their values at the top of the iteration, which the reversed body pops), and on
        names no loop assigns (the same value throughout both sweeps)."""
        name = ir.target_name(stmt)
        if name not in self.scalars or len(self.defs[name]) != 1 or \
                not isinstance(stmt.value, (gast.BinOp, gast.UnaryOp)):
            return False
        operands = [stmt.value.operand] if isinstance(stmt.value, gast.UnaryOp) else [stmt.value.left,
                                                                                     stmt.value.right]
        if not all(isinstance(o, (gast.Name, gast.Constant)) for o in operands):
            return False
        reassigned = {ir.target_name(s) for s in ir.walk_statements(body)
                      if isinstance(s, gast.Assign) and not getattr(s, "carry", False)}
        for operand in operands:
            if isinstance(operand, gast.Constant):
                continue
            if operand.id not in self.scalars:
                return False
            if operand.id in headers and operand.id not in reassigned:
                continue
            if operand.id not in self.loop_assigned:
                continue
            return False
        return True

    def forward_loop(self, stmt, needed, depth):
        out = []
        reverse = self.reverse_blocks.get(id(stmt.body))
        # The header values the adjoint sweep reads are pushed at the top of each iteration (it reads a name the
        # loop assigns first in the body only where the body does, so it is bound to None before the loop).
        in_body, after_loop = self.header_reads[id(stmt)]
        saved = [h for h in getattr(stmt, "carried", []) + getattr(stmt, "exits", [])
                 if h in in_body or (h in after_loop and h in stmt.defined_before)]
        body = self.forward_block(stmt.body, needed, depth + 1, headers=set(saved))
        trips = self.loop_of_trips.get(id(stmt))
        prologue = [self.push(head, stmt.origin, owner=stmt) for head in saved]
        if trips:
            out.append(ir.assign(trips, ir.const(0), stmt.origin))
            prologue.append(ir.assign(trips, gast.BinOp(left=ir.load(trips), op=gast.Add(), right=ir.const(1)),
                                      stmt.origin))
        stmt.body = self.delay_pushes(prologue + body)
        out.append(stmt)
        if reverse is not None:
            reverse[:0] = [self.pop(head, None, owner=stmt) for head in saved]
        return out

    def push(self, name, origin, owner=None):
        stack = self.stack(name, owner)
        node = ir.expr_stmt(ir.method_call(ir.load(stack), "append", [ir.load(name)]), origin)
        node.pushes = name
        return node

    def delay_pushes(self, block):
        """Move each push of an array past the later statements of ``block`` that write into it.

        The stack holds the array itself, not a copy, and the adjoint sweep pops it
        before undoing this iteration's writes (into it or a view of it): what it
        reads is the array after them.  Pushing it after the writes says so, so that
        differentiating the generated code again takes the push for the value it
        stores.  (Moving a push changes nothing else: until the name is rebound it
        is the same array.)
        """
        block = list(block)
        for push in [s for s in block if getattr(s, "pushes", None)]:
            sharing = _sharing_memory(self.node.body, {push.pushes}, self.namespace)
            start = block.index(push)
            last = start
            for position in range(start + 1, len(block)):
                inner = list(ir.walk_statements([block[position]]))
                if any(isinstance(s, gast.Assign) and not ir.is_subscript_write(s) and ir.target_name(s) == push.pushes
                       for s in inner):
                    break  # rebound: later writes are into another array
                if any(ir.is_subscript_write(s) and ir.target_name(s) in sharing for s in inner):
                    last = position
            if last != start:
                block.insert(last, block.pop(start))
        return block

    def pop(self, name, origin, owner=None):
        node = ir.assign(name, ir.method_call(ir.load(self.stack(name, owner)), "pop"), origin)
        node.adjoint = True
        return node

    def stack(self, name, owner=None):
        """The list saving ``name``'s values; a loop's header values get one of their own (``owner``)."""
        key = (name, id(owner)) if owner is not None else name
        if key not in self.stacks:
            self.stacks[key] = self.namer.fresh(f"_{name.lstrip('_')}_stack")
        return self.stacks[key]


# Functions whose result may be a view of their first argument.
_VIEW_FUNCTIONS = {numpy.transpose, numpy.reshape, numpy.ravel, numpy.squeeze, numpy.expand_dims, numpy.swapaxes,
                   numpy.moveaxis, numpy.broadcast_to, numpy.asarray, numpy.diagonal, numpy.real, numpy.imag,
                   numpy.atleast_1d, numpy.atleast_2d, numpy.atleast_3d}


def _may_return_view(call, namespace):
    primitive = inline.primitive_call(call, namespace)[0]
    return any(primitive is function for function in _VIEW_FUNCTIONS)


def _sharing_memory(stmts, names, namespace):
    """``names`` and every name that may share memory with one of them in ``stmts`` (copies, slices, views).

    Writing into an array changes its views: ``t = y[:2]`` read by the adjoint
    sweep needs ``y``'s writes undone as much as ``y`` itself.
    """
    group = {}

    def find(name):
        while group.get(name, name) != name:
            name = group[name]
        return name

    for stmt in ir.walk_statements(stmts):
        if not isinstance(stmt, gast.Assign) or ir.is_subscript_write(stmt):
            continue
        value = stmt.value
        if isinstance(value, gast.Subscript):
            value = value.value
        elif isinstance(value, gast.Call) and value.args and _may_return_view(value, namespace):
            value = value.args[0]
        if isinstance(value, gast.Name):
            group[find(ir.target_name(stmt))] = find(value.id)
    roots = {find(n) for n in names}
    return set(names) | {n for n in set(group) | set(group.values()) if find(n) in roots}


def _list_method(value, method):
    return isinstance(value, gast.Call) and isinstance(value.func, gast.Attribute) \
        and value.func.attr == method and isinstance(value.func.value, gast.Name)


def _is_break_check(stmt):
    return isinstance(stmt, gast.If) and len(stmt.body) == 1 and isinstance(stmt.body[0], gast.Break)


def _is_active(atom, active):
    if isinstance(atom, gast.Name):
        return atom.id in active
    if isinstance(atom, gast.Tuple):
        return any(_is_active(e, active) for e in atom.elts)
    return False


def _minus_one(atom):
    if isinstance(atom, gast.Constant) and isinstance(atom.value, int):
        return ir.const(atom.value - 1)
    return gast.BinOp(left=copy.deepcopy(atom), op=gast.Sub(), right=ir.const(1))


def _basic_index(index, int_names):
    """Whether ``index`` is built from constants, slices and integer scalars ``int_names`` (no repeated elements)."""
    if isinstance(index, gast.Tuple):
        return all(_basic_index(e, int_names) for e in index.elts)
    if isinstance(index, gast.Slice):
        return True
    if isinstance(index, gast.Constant):
        return isinstance(index.value, int) or index.value is None or index.value is Ellipsis
    return isinstance(index, gast.Name) and index.id in int_names


def _index_value(index):
    """``index`` as an expression (a call argument): ``a[:, k]``'s index is ``(slice(None, None, None), k)``."""
    if isinstance(index, gast.Tuple):
        return ir.tuple_([_index_value(e) for e in index.elts])
    if isinstance(index, gast.Slice):
        return ir.call("slice", [copy.deepcopy(b) if b is not None else ir.const(None)
                                 for b in (index.lower, index.upper, index.step)])
    return copy.deepcopy(index)


def _names_read(stmts, skip):
    """Names read by ``stmts``, leaving out the statements whose ids are in ``skip``."""
    found = set()
    for stmt in ir.walk_statements(stmts):
        if id(stmt) not in skip:
            found |= _statement_reads(stmt)
    return found


def _reads(stmts):
    """For each name, how many statements of ``stmts`` (nested blocks included) read it."""
    counts = collections.Counter()
    for stmt in ir.walk_statements(stmts):
        counts.update(_statement_reads(stmt))
    return counts


def _statement_reads(stmt):
    """Names one statement reads itself (a loop's or if's header, not its blocks)."""
    found = set()
    for field, value in gast.iter_fields(stmt):
        if field in ("body", "orelse"):
            continue
        found |= ir.names_in(value) if isinstance(value, gast.AST) else \
            ir.names_in([v for v in value if isinstance(v, gast.AST)]) if isinstance(value, list) else set()
    return found
