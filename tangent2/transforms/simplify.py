"""Simplify: remove dead code and needless copies from a generated function.

Dead-code elimination keeps what the result needs: starting from the return
value, statements kept for their effect and control flow, it marks the
assignments whose values are read (a write into an array is needed when the
array, or any name that may share its memory, is); the rest are dropped.
Copy propagation replaces ``a = b`` by ``b`` where both are assigned once
outside loops, so the value can never differ.  ``zeros_like(a)`` of an array
``a = zeros_like(b)`` (only ever written element-wise) becomes
``zeros_like(b)``, so the zero no longer keeps ``a`` alive.

With ``hoist=True`` (the basis loops of ``jacfwd``/``jacrev`` wrappers, in
which the inner JVP or VJP is inlined), assignments at the top of a
top-level loop whose operands do not change in the loop are moved before
it: the primal part of each column's JVP is computed once, not once per
column (a name the loop body assigns more than once is first renamed per
assignment, so that its invariant values can move too).

``unbroadcast(ct, x)`` and ``broadcast_like(ct, x)`` between arrays whose
shapes are provably equal (slices of one array and element-wise results of
them) become ``ct``, which they return in that case anyway.

Finally, a temporary holding an element-wise operation that is read once,
by the next element-wise operation, is folded into it (``_t = a * b;
c = _t + d`` becomes ``c = a * b + d``): one statement, and under Numba one
fused loop instead of a temporary array.
"""
import types

import gast
import numpy as np

from tangent2 import ir, runtime
from tangent2.frontend.resolve import lookup


def simplify(node, hoist=False):
    """Simplify the FunctionDef ``node`` in place and return it."""
    while _propagate_copies(node) | _forward_zero_shapes(node) | _remove_dead_code(node) | \
            (hoist and _hoist_invariants(node)) | _drop_equal_shape_unbroadcasts(node):
        pass
    _fold_temporaries(node)
    return node


# --------------------------------------------------------------------------- what may share memory
# Calls whose result is a new object (or an immutable one): it shares no memory with the arguments.
_FRESH = {np.zeros, np.ones, np.empty, np.full, np.zeros_like, np.ones_like, np.empty_like, np.full_like,
          np.copy, np.array, np.dot, np.vdot, np.matmul, np.outer, np.inner, np.sum, np.mean, np.prod,
          np.shape, np.size, np.ndim, np.arange, np.linspace, np.eye, np.identity, len, float, int, abs,
          runtime.zeros_like, runtime.saved, runtime.basis_vector, runtime.jacobian_buffer, runtime.batched_basis,
          runtime.batched_jacobian_buffer, runtime.reduce_sum}
# Fresh results that may be lists (an element write can store an array in them): zeros_like of a tuple.
_MAYBE_LIST = {runtime.zeros_like}
# Calls whose result is their first argument or a view of it, never of the others.
_ALIAS_FIRST = {runtime.unbroadcast, runtime.broadcast_like, runtime.unreduce}
# Calls that write into their first argument.
_MUTATING = {runtime.add_at, np.copyto, np.put, np.place, np.putmask, np.fill_diagonal}
_ARITHMETIC = (gast.BinOp, gast.UnaryOp, gast.Compare, gast.BoolOp, gast.Constant)


def _callee(node, call):
    try:
        return lookup(call.func, getattr(node, "namespace", {}))
    except Exception:  # noqa: BLE001  (an attribute lookup on an arbitrary object)
        return None


def _is_known(obj, table):
    try:
        return obj in table
    except TypeError:  # unhashable
        return False


def _is_fresh(node, value):
    if isinstance(value, _ARITHMETIC):
        return True
    if isinstance(value, gast.Call):
        callee = _callee(node, value)
        return isinstance(callee, np.ufunc) or _is_known(callee, _FRESH)
    return False


def _mutated_argument(node, value):
    """The Name a call writes into (``add_at(dx, i, v)``: ``dx``), or None."""
    if not isinstance(value, gast.Call) or not value.args or not isinstance(value.args[0], gast.Name):
        return None
    callee = _callee(node, value)
    if _is_known(callee, _MUTATING) or (isinstance(value.func, gast.Attribute) and value.func.attr == "at"):
        return value.args[0].id
    return None


def _pop_object(value):
    """``S`` for ``S.pop()`` (and other method calls with effects on their object), or None."""
    for child in gast.walk(value):
        if isinstance(child, gast.Call) and isinstance(child.func, gast.Attribute) \
                and child.func.attr in ("pop", "append") and isinstance(child.func.value, gast.Name):
            return child.func.value.id
    return None


class _Classes:
    """Union-find over variable names: names in one class may share memory."""

    def __init__(self):
        self.parent = {}

    def find(self, name):
        parent = self.parent.setdefault(name, name)
        while parent != name:
            grand = self.parent.setdefault(parent, parent)
            self.parent[name] = grand
            name, parent = parent, grand
        return name

    def union(self, names):
        names = list(names)
        for other in names[1:]:
            a, b = self.find(names[0]), self.find(other)
            if a != b:
                self.parent[b] = a


def _numeric_arrays(node):
    """Names every definition of which is a new array or number (not a list): an element write into one
    copies the value in, so the array shares nothing with it."""
    kinds = {}
    for stmt in ir.walk_statements(node.body):
        if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name):
            value = stmt.value
            numeric = _is_fresh(node, value) and not (
                isinstance(value, gast.Call) and _is_known(_callee(node, value), _MAYBE_LIST))
            name = stmt.targets[0].id
            kinds[name] = kinds.get(name, True) and numeric
        elif isinstance(stmt, gast.For):
            for name in ir.assigned_names(stmt.target):
                kinds[name] = False
    params = {a.id for a in node.args.args}
    return {name for name, numeric in kinds.items() if numeric and name not in params}


def alias_classes(node):
    """Union-find of the names of ``node`` that may share memory (see :class:`_Classes`)."""
    classes = _Classes()
    numeric = _numeric_arrays(node)
    # A module (``np`` in ``np.ravel(a)``) holds no array data: joining it would put every array passed to a
    # NumPy function into one class.
    modules = {name for name, value in getattr(node, "namespace", {}).items()
               if isinstance(value, types.ModuleType)} - ir.assigned_names(node.body)

    def operands(value):
        return sorted(ir.names_in(value) - modules)

    for stmt in ir.walk_statements(node.body):
        if isinstance(stmt, gast.Assign):
            target, value = stmt.targets[0], stmt.value
            base = ir.target_name(stmt) if isinstance(target, (gast.Name, gast.Subscript)) else None
            if base is None:
                classes.union(operands(stmt))
            elif isinstance(target, gast.Subscript):
                if base not in numeric:
                    classes.union([base] + operands(value))  # a list item may be an array
            elif _mutated_argument(node, value) is not None:
                classes.union([base, _mutated_argument(node, value)])
            elif isinstance(value, gast.Call) and _is_known(_callee(node, value), _ALIAS_FIRST):
                classes.union([base] + operands(value.args[0]))
            elif not _is_fresh(node, value):
                classes.union([base] + operands(value))
        elif isinstance(stmt, gast.Expr):
            classes.union(operands(stmt.value))
    return classes


# --------------------------------------------------------------------------- dead code
def _remove_dead_code(node):
    classes = alias_classes(node)
    assigned = ir.assigned_names(node.body)
    # Writes into arrays the caller can see (parameters, globals) are effects.
    outside = {n for n in ir.names_in(node.body) if n not in assigned} | {a.id for a in node.args.args}
    escaping = {classes.find(n) for n in outside}
    needed = set()
    needed_classes = set()

    def need(names):
        for name in names:
            if name not in needed:
                needed.add(name)
                needed_classes.add(classes.find(name))

    writes = []        # (stmt, the name written into)
    plain = {}         # target name -> its pure assignments
    for stmt in ir.walk_statements(node.body):
        if isinstance(stmt, gast.Assign):
            target = stmt.targets[0]
            if not isinstance(target, (gast.Name, gast.Subscript)) or _pop_object(stmt.value) is not None:
                need(ir.names_in(stmt))
            elif isinstance(target, gast.Subscript):
                writes.append((stmt, ir.target_name(stmt)))
            elif _mutated_argument(node, stmt.value) is not None:
                writes.append((stmt, _mutated_argument(node, stmt.value)))
                plain.setdefault(target.id, []).append(stmt)
            else:
                plain.setdefault(target.id, []).append(stmt)
        elif isinstance(stmt, (gast.If, gast.While)):
            need(ir.names_in(stmt.test))
        elif isinstance(stmt, gast.For):
            need(ir.names_in(stmt.iter))
        elif not isinstance(stmt, gast.Pass) and \
                not (isinstance(stmt, gast.Expr) and isinstance(stmt.value, gast.Constant)):
            need(ir.names_in(stmt))
    kept = set()
    changed = True
    while changed:
        changed = False
        for stmt, name in writes:
            root = classes.find(name)
            if id(stmt) not in kept and (root in needed_classes or root in escaping):
                kept.add(id(stmt))
                need(ir.names_in(stmt))
                changed = True
        for name in list(needed):
            for stmt in plain.pop(name, ()):
                kept.add(id(stmt))
                need(ir.names_in(stmt.value))
                changed = True
    removed = False

    def prune(stmts):
        nonlocal removed
        out = []
        for stmt in stmts:
            if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], (gast.Name, gast.Subscript)) \
                    and _pop_object(stmt.value) is None and id(stmt) not in kept:
                removed = True
                continue
            if isinstance(stmt, gast.Pass) or isinstance(stmt, gast.Expr) and isinstance(stmt.value, gast.Constant):
                removed = True
                continue
            for field in ("body", "orelse"):
                if getattr(stmt, field, None):
                    setattr(stmt, field, prune(getattr(stmt, field)))
            if isinstance(stmt, (gast.If, gast.For)) and not stmt.body and not stmt.orelse:
                removed = True
                continue
            if isinstance(stmt, gast.If) and not stmt.body:
                stmt.body, stmt.orelse = stmt.orelse, []
                stmt.test = gast.UnaryOp(op=gast.Not(), operand=stmt.test)
            out.append(stmt)
        return out

    node.body = prune(node.body)
    return removed


# --------------------------------------------------------------------------- zeros of the same shape
def _definitions(node):
    """name -> list of (statement, loop depth) assigning it (For loops define their target)."""
    found = {}

    def record(stmts, depth):
        for stmt in stmts:
            if isinstance(stmt, gast.Assign) and not ir.is_subscript_write(stmt):
                for name in ir.assigned_names(stmt.targets):
                    found.setdefault(name, []).append((stmt, depth))
            elif isinstance(stmt, gast.For):
                for name in ir.assigned_names(stmt.target):
                    found.setdefault(name, []).append((stmt, depth + 1))
            inner = depth + isinstance(stmt, (gast.For, gast.While))
            for field in ("body", "orelse"):
                record(getattr(stmt, field, []) or [], inner)

    record(node.body, 0)
    return found


def _forward_zero_shapes(node):
    """``zeros_like(a)`` -> ``zeros_like(b)`` where ``a = zeros_like(b)`` is ``a``'s only definition and ``b``
    never changes: element writes into ``a`` keep its shape and dtype, and ``a`` may then be dead."""
    definitions = _definitions(node)
    params = {p.id for p in node.args.args}

    def source_of(name):
        defs = definitions.get(name, [])
        if len(defs) != 1 or name in params:
            return None
        stmt = defs[0][0]
        value = stmt.value
        if not (isinstance(stmt, gast.Assign) and isinstance(value, gast.Call) and len(value.args) == 1 and
                not value.keywords and isinstance(value.args[0], gast.Name) and
                _callee(node, value) is runtime.zeros_like):
            return None
        source = value.args[0].id
        source_defs = definitions.get(source, [])
        if not source_defs or len(source_defs) == 1 and source_defs[0][1] == 0 and source not in params:
            return source
        return None

    changed = False
    for child in gast.walk(node):
        if isinstance(child, gast.Call) and len(child.args) == 1 and isinstance(child.args[0], gast.Name) \
                and _callee(node, child) is runtime.zeros_like:
            source = source_of(child.args[0].id)
            if source is not None:
                child.args[0] = ir.load(source)
                changed = True
    return changed


# --------------------------------------------------------------------------- arrays of equal shape
_SHAPE_OF_SECOND = (runtime.unbroadcast, runtime.broadcast_like)
_SHAPE_OF_FIRST = (runtime.basis_vector, runtime.zeros_like)


def _drop_equal_shape_unbroadcasts(node):
    """``d = unbroadcast(ct, x)`` -> ``d = ct`` (and ``broadcast_like`` likewise) where ``ct`` and ``x`` provably
    have one shape and are arrays of at least one dimension: both helpers then return ``ct`` itself (no copy,
    no dtype change), and the element-wise operations on either side of them can be folded into one.

    Shapes are tracked in statement order, per statement list, for names assigned once (and parameters never
    assigned): each gets a key, equal keys meaning equal shapes.  ``unbroadcast(c, a)``, ``broadcast_like(c, a)``,
    ``basis_vector(a, i)`` and ``zeros_like(a)`` have the key of ``a``; a slice ``a[1:]`` has the key (``a``'s
    key, the slice), ``a[1:]`` and ``a[:-1]`` sharing one; an element-wise operation whose operands all have one
    key (the rest number constants) has it.  Arrays are what a slice gives (a slice of a number fails) and what
    operations on arrays of that shape give.  A nested block starts from what its parent knows there and hands
    nothing back; a name is known only after its assignment was seen, so a loop-carried read never meets a later
    iteration's shape.
    """
    definitions = _definitions(node)
    params = {p.id for p in node.args.args}
    once = {name for name, defs in definitions.items()
            if len(defs) == 1 and isinstance(defs[0][0], gast.Assign) and name not in params}
    changed = False

    def describe(name, value, shapes, arrays):
        """(key, is an array of >= 1 dimension) of ``name = value``, or (None, False)."""
        if isinstance(value, gast.Name):
            return shapes.get(value.id), value.id in arrays
        if isinstance(value, gast.Subscript) and isinstance(value.value, gast.Name) and \
                isinstance(value.slice, gast.Slice):
            base = shapes.get(value.value.id)
            return (name if base is None else (base, _slice_key(value.slice))), True
        if isinstance(value, gast.Call) and not value.keywords and value.args and \
                all(isinstance(a, gast.Name) for a in value.args):
            callee = _callee(node, value)
            like = value.args[1] if len(value.args) == 2 and _is_known(callee, _SHAPE_OF_SECOND) else \
                value.args[0] if _is_known(callee, _SHAPE_OF_FIRST) and len(value.args) <= 2 else None
            if like is not None:
                return shapes.get(like.id), like.id in arrays
        if isinstance(value, (gast.BinOp, gast.UnaryOp)) and _elementwise(value):
            leaves = [child for child in gast.walk(value) if isinstance(child, (gast.Name, gast.Constant))]
            if any(isinstance(c, gast.Constant) and not _is_number(c.value) for c in leaves):
                return None, False
            names = [c.id for c in leaves if isinstance(c, gast.Name)]
            keys = {shapes.get(n) for n in names}
            if len(keys) == 1 and None not in keys and any(n in arrays for n in names):
                return keys.pop(), True  # NumPy arithmetic on arrays of one shape (no sequence + or *)
        return None, False

    def scan(stmts, shapes, arrays):
        nonlocal changed
        shapes, arrays = dict(shapes), set(arrays)
        for stmt in stmts:
            if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name):
                value = stmt.value
                if isinstance(value, gast.Call) and _is_known(_callee(node, value), _SHAPE_OF_SECOND) and \
                        len(value.args) == 2 and not value.keywords and \
                        all(isinstance(a, gast.Name) and a.id in arrays for a in value.args) and \
                        shapes.get(value.args[0].id) == shapes.get(value.args[1].id) is not None:
                    stmt.value = value = ir.load(value.args[0].id)
                    changed = True
                name = stmt.targets[0].id
                key, is_array = describe(name, value, shapes, arrays) if name in once else (None, False)
                shapes.pop(name, None)
                arrays.discard(name)
                if key is not None:
                    shapes[name] = key
                    if is_array:
                        arrays.add(name)
            for field in ("body", "orelse"):
                if getattr(stmt, field, None):
                    scan(getattr(stmt, field), shapes, arrays)

    unassigned = {p: p for p in params if p not in definitions}
    scan(node.body, unassigned, set())
    return changed


def _slice_key(index):
    """A key for the extent a slice leaves: ``k:`` and ``:-k`` (k a non-negative int) both drop k elements."""
    def number(n):
        if isinstance(n, gast.UnaryOp) and isinstance(n.op, gast.USub) and isinstance(n.operand, gast.Constant):
            value = n.operand.value
            return -value if type(value) is int else None
        return n.value if isinstance(n, gast.Constant) and type(n.value) is int else None

    if index.step is None:
        lower = number(index.lower) if index.lower is not None else 0
        upper = number(index.upper) if index.upper is not None else None
        if index.upper is None and lower is not None and lower >= 0:
            return ("drop", lower)
        if index.lower is None and upper is not None and upper < 0:
            return ("drop", -upper)
    return gast.dump(index)


def _is_number(value):
    return isinstance(value, (int, float, complex)) and not isinstance(value, bool)


# --------------------------------------------------------------------------- loop invariants
_HOISTABLE_MODULES = ("tangent2.runtime", "tangent2.rules.runtime", "builtins", "math", "scipy.special")


def _hoistable_call(node, call):
    """Whether the call is to a function of NumPy or tangent2's runtime (no effects, same result each time)."""
    callee = _callee(node, call)
    if isinstance(callee, np.ufunc):
        return True
    module = getattr(callee, "__module__", None) or ""
    if "random" in module:
        return False
    return module == "numpy" or module.startswith("numpy.") or module in _HOISTABLE_MODULES


def _hoist_invariants(node):
    changed = False
    body = []
    for stmt in node.body:
        if isinstance(stmt, gast.For) and not stmt.orelse:
            changed |= _rename_redefinitions(node, stmt)
            hoisted = _hoist_from(node, stmt)
            body.extend(hoisted)
            changed |= bool(hoisted)
        body.append(stmt)
    node.body = body
    return changed


def _rename_redefinitions(node, loop):
    """Give each assignment but the last of a name assigned more than once in ``loop``'s body a fresh name,
    up to the next assignment (``h = tanh(a); b = f(h); h = g(b)`` becomes ``h_1 = tanh(a); b = f(h_1);
    h = g(b)``), so that a value that does not change in the loop can be hoisted although its name is reused.

    Only names assigned by plain ``name = value`` statements directly in the body: a read before the first
    assignment (the value of the previous iteration) and reads after the loop still see the last one.
    """
    body = loop.body
    counts = {}
    for stmt in body:
        if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name):
            counts[stmt.targets[0].id] = counts.get(stmt.targets[0].id, 0) + 1
    nested = set()  # names assigned (or read by a nested scope) anywhere else in the loop
    for stmt in body:
        if not (isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name)):
            nested |= ir.assigned_names(stmt.targets if isinstance(stmt, gast.Assign) else stmt)
        for child in gast.walk(stmt):
            if isinstance(child, (gast.Lambda, gast.ListComp, gast.GeneratorExp, gast.DictComp, gast.SetComp)):
                nested |= ir.names_in(child)
    nested |= ir.assigned_names(loop.target)
    renamed = {name for name, count in counts.items() if count > 1 and name not in nested}
    if not renamed:
        return False
    namer = ir.Namer(ir.all_names(node) | set(getattr(node, "namespace", {})))
    remaining = dict(counts)
    current = {}  # name -> the fresh name its reads refer to from here on

    class Rename(gast.NodeTransformer):
        def visit_Name(self, n):
            if isinstance(n.ctx, gast.Load) and n.id in current:
                return ir.load(current[n.id])
            return n

    for stmt in body:
        Rename().visit(stmt)  # the value is read before the target is bound
        if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name) and \
                stmt.targets[0].id in renamed:
            name = stmt.targets[0].id
            remaining[name] -= 1
            if remaining[name]:
                current[name] = namer.fresh(name)
                stmt.targets[0] = ir.store(current[name])
            else:
                current.pop(name, None)
    return True


def _hoist_from(node, loop):
    """Remove and return the assignments at the top of ``loop``'s body that compute the same value in
    every iteration: their operands are assigned nowhere in the loop (or by an earlier hoisted one) and share
    no memory with an array the loop writes into."""
    classes = alias_classes(node)
    definitions = _definitions(node)
    params = {p.id for p in node.args.args}
    variant = ir.assigned_names(loop.body) | ir.assigned_names(loop.target)
    mutated = written_names(node, loop.body)
    mutated_classes = {classes.find(n) for n in mutated}
    hoisted, kept = [], []
    for stmt in loop.body:
        if _invariant(node, stmt, variant, mutated_classes, classes, definitions, params):
            hoisted.append(stmt)
            variant.discard(stmt.targets[0].id)
        else:
            kept.append(stmt)
    if hoisted:
        loop.body = kept or [gast.Pass()]
    return hoisted


def written_names(node, stmts):
    """Names whose value the statements may change in place: element writes, in-place calls, method calls."""
    written = set()
    for stmt in ir.walk_statements(stmts):
        if ir.is_subscript_write(stmt):
            written.add(ir.target_name(stmt))
        elif isinstance(stmt, gast.Expr):
            written |= ir.names_in(stmt.value)
        elif isinstance(stmt, gast.Assign):
            for name in (_pop_object(stmt.value), _mutated_argument(node, stmt.value)):
                if name is not None:
                    written.add(name)
    return written


def _invariant(node, stmt, variant, mutated_classes, classes, definitions, params):
    if not (isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name)):
        return False
    name = stmt.targets[0].id
    if len(definitions.get(name, ())) != 1 or name in params or classes.find(name) in mutated_classes:
        return False
    if _pop_object(stmt.value) is not None or _mutated_argument(node, stmt.value) is not None:
        return False
    for child in gast.walk(stmt.value):
        if isinstance(child, gast.Call) and not _hoistable_call(node, child):
            return False
        if isinstance(child, (gast.Lambda, gast.ListComp, gast.GeneratorExp)):
            return False
    reads = ir.names_in(stmt.value)
    return not reads & variant and not any(classes.find(r) in mutated_classes for r in reads)


# --------------------------------------------------------------------------- element-wise temporaries
def _fold_temporaries(node):
    """Fold ``_t = <arithmetic>`` into the next statement when that is its only reader and also arithmetic."""
    reads = {}
    for child in gast.walk(node):
        if isinstance(child, gast.Name) and isinstance(child.ctx, gast.Load):
            reads[child.id] = reads.get(child.id, 0) + 1
    definitions = _definitions(node)
    params = {p.id for p in node.args.args}

    def fold(stmts):
        out = []
        for stmt in stmts:
            for field in ("body", "orelse"):
                if getattr(stmt, field, None):
                    setattr(stmt, field, fold(getattr(stmt, field)))
            previous = out[-1] if out else None
            while previous is not None and _foldable(previous, stmt, reads, definitions, params):
                name = previous.targets[0].id
                stmt.value = _Substitute(name, previous.value).visit(stmt.value)
                out.pop()
                previous = out[-1] if out else None
            out.append(stmt)
        return out

    node.body = fold(node.body)


def _elementwise(value):
    if isinstance(value, gast.BinOp):
        return not isinstance(value.op, gast.MatMult) and _elementwise(value.left) and _elementwise(value.right)
    if isinstance(value, gast.UnaryOp):
        return not isinstance(value.op, gast.Not) and _elementwise(value.operand)
    return isinstance(value, (gast.Name, gast.Constant))


def _foldable(previous, stmt, reads, definitions, params):
    if not (isinstance(previous, gast.Assign) and isinstance(previous.targets[0], gast.Name)):
        return False
    if not (isinstance(stmt, gast.Assign) and isinstance(stmt.value, (gast.BinOp, gast.UnaryOp))):
        return False
    name = previous.targets[0].id
    if reads.get(name) != 1 or len(definitions.get(name, ())) != 1 or name in params:
        return False
    if not (isinstance(previous.value, (gast.BinOp, gast.UnaryOp)) and _elementwise(previous.value)):
        return False
    if not _elementwise(stmt.value) or name not in ir.names_in(stmt.value):
        return False
    # The reader is the statement right after, so nothing the temporary read can have changed in between;
    # a subscript target (x[i] = ...) is evaluated after its value, as before.
    return name not in ir.names_in(stmt.targets)


class _Substitute(gast.NodeTransformer):
    def __init__(self, name, value):
        self.name = name
        self.value = value

    def visit_Name(self, n):
        if isinstance(n.ctx, gast.Load) and n.id == self.name:
            return self.value
        return n


# --------------------------------------------------------------------------- copies
def _propagate_copies(node):
    definitions = {}
    params = {a.id for a in node.args.args}

    def record(stmts, depth):
        for index, stmt in enumerate(stmts):
            if isinstance(stmt, gast.Assign):
                name = ir.target_name(stmt)
                definitions.setdefault(name, []).append((stmt, depth, id(stmts), index))
            elif isinstance(stmt, gast.For):
                definitions.setdefault(stmt.target.id, []).append((stmt, depth + 1, None, None))
            inner = depth + isinstance(stmt, (gast.For, gast.While))
            for field in ("body", "orelse"):
                record(getattr(stmt, field, []) or [], inner)

    record(node.body, 0)
    replace = {}
    for name, defs in definitions.items():
        if len(defs) != 1 or name in params:
            continue
        stmt, depth, block, index = defs[0]
        if not isinstance(stmt, gast.Assign) or ir.is_subscript_write(stmt) or not isinstance(stmt.value, gast.Name):
            continue
        source = stmt.value.id
        source_defs = definitions.get(source, [])
        if source in params and not source_defs or source in node.namespace and not source_defs:
            replace[name] = source  # a parameter or global that is never reassigned
        elif len(source_defs) == 1 and source not in params and isinstance(source_defs[0][0], gast.Assign):
            _, source_depth, source_block, source_index = source_defs[0]
            # Both assigned once: equal wherever the copy is visible, if both are outside loops or the
            # source comes first in the same statement list.
            if (depth == 0 and source_depth == 0) or (source_block == block and source_index < index):
                replace[name] = source
    if not replace:
        return False

    def final(name):
        while name in replace:
            name = replace[name]
        return name

    class Rename(gast.NodeTransformer):
        def visit_Name(self, n):
            if isinstance(n.ctx, gast.Load) and n.id in replace:
                return ir.load(final(n.id))
            return n

    dropped = {id(definitions[name][0][0]) for name in replace}

    def drop(stmts):
        kept = []
        for stmt in stmts:
            if id(stmt) in dropped:
                continue
            for field in ("body", "orelse"):
                if getattr(stmt, field, None):
                    setattr(stmt, field, drop(getattr(stmt, field)))
            kept.append(stmt)
        return kept

    node.body = drop(node.body)
    Rename().visit(node)
    return True
