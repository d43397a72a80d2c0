"""Aliasing: writes NumPy would make visible through another name, which tangent2 cannot follow.

tangent2 gives every variable of the core form its own value (and its own
derivative).  NumPy does not: after ``z = y[1:]`` or ``v = y``, a write into
``y`` (``y[1] = 5.0``, ``y += 1.0`` in place, a helper writing into its
parameter) changes what ``z`` and ``v`` hold too.  This pass follows which
pairs of variables may hold the same array at once (a flow-sensitive may-alias
relation over the core form: a relation between names rather than the set of
arrays each may hold, so that two names swapped in a loop, each holding both
arrays in turn but never the same one, share nothing) and finds every read of
a variable whose array was written through another name since it was bound:
tangent2 would read the old value there.  Such a read is rejected with UnsupportedSyntax, naming the
write and the read.

Whether two names share memory sometimes depends on shapes, which are known
only when the function runs:

* a subscript with integer indices (``r = y[0]``, and the rows of ``for row
  in m``) is a view of an array with more dimensions than indices and a copied
  scalar otherwise;
* ``v += 1.0`` writes into the array ``v`` holds but rebinds a scalar
  (``v`` certainly holding an array parameter is rejected at once).

Where a read depends on such a link, a check is inserted that raises
UnsupportedSyntax when the function runs: before the write,
``check_not_shared(y, r, message)`` (the names share memory) when the stale
name is certainly bound there; otherwise at the one link, after ``r = y[0]``
(``check_not_shared(r, y, ...)``) or before ``v += ...``
(``check_not_array(v, ...)``); with several links and no such place, the read
is rejected while compiling.  Names known to hold scalars
(tangent2.frontend.shapes) share nothing.  Writes inside inlined generated
code (tangent2's own derivatives, which copy before they write) are not
checked.
"""
import gast
import numpy as np

from tangent2 import ir, runtime
from tangent2.errors import UnsupportedSyntax
from tangent2.frontend.resolve import lookup
from tangent2.frontend.shapes import infer_scalars
from tangent2.rules import registry

# Calls whose result may be a view of their first argument.
_VIEWS = {np.transpose, np.reshape, np.ravel, np.squeeze, np.expand_dims, np.swapaxes, np.moveaxis,
          np.broadcast_to, np.asarray, np.asanyarray, np.real, np.diagonal, np.atleast_1d, np.atleast_2d,
          np.atleast_3d, np.flip, np.fliplr, np.flipud, np.rot90, runtime.matrix_transpose}


def check_aliasing(node, specialized):
    """Reject reads through aliases of arrays written since (see the module docstring) and insert the run-time
    checks the others depend on.  ``node``: a normalized FunctionDef of user code with ``scalar_params``;
    ``specialized``: whether its parameters outside ``scalar_params`` are known to be arrays."""
    scalar_params = getattr(node, "scalar_params", ())
    scalars = infer_scalars(node, scalar_params).scalars
    analysis = _Analysis(node, scalars, specialized, scalar_params)
    analysis.run(node.body)
    _insert_checks(node, list(analysis.checks.values()))
    return node


def is_generated(node):
    """Whether the parsed FunctionDef ``node`` is tangent2's own generated code."""
    return getattr(getattr(node, "source_function", None), "__module__", None) == "tangent2.generated"


def _merge_tags(a, b):
    """The run-time checks a sharing reached two ways depends on: none (certain) when either way is certain."""
    return frozenset() if not a or not b else a | b


class _Stale:
    """A variable whose array was written through another name, one entry per writing statement: id(write) ->
    (write, the name written through, tags: the links of the sharing known only at run time (empty:
    certain), whether the variable was certainly bound at the write)."""

    def __init__(self, entries):
        self.entries = entries

    def join(self, other):
        if other is None or other is self:
            return self
        entries = dict(self.entries)
        for key, (write, writer, tags, bound) in other.entries.items():
            if key in entries:
                _, _, tags_before, bound_before = entries[key]
                entries[key] = (write, writer, _merge_tags(tags, tags_before), bound and bound_before)
            else:
                entries[key] = (write, writer, tags, bound)
        return _Stale(entries)

    def key(self):
        return {k: (tags, bound) for k, (_, _, tags, bound) in self.entries.items()}


class _State:
    """``points``: name -> the arrays it may hold (a frozenset of objects: ("param", name) for an argument's
    array, (id(statement),) for the arrays a statement makes); ``shared``: frozenset({a, b}) -> {object: tags},
    the arrays names a and b may hold *both at once*, with the run-time links each sharing depends on (a
    relation between names, so that names swapped in a loop, holding two arrays in turn, never share);
    ``stale``: name -> _Stale; ``bound``: the names certainly bound."""

    def __init__(self, points, shared, stale, bound):
        self.points = points
        self.shared = shared
        self.stale = stale
        self.bound = bound

    def copy(self):
        return _State(dict(self.points), dict(self.shared), dict(self.stale), self.bound)

    def join(self, other):
        points = {name: self.points.get(name, frozenset()) | other.points.get(name, frozenset())
                  for name in set(self.points) | set(other.points)}
        shared = {pair: _union(self.shared.get(pair, {}), other.shared.get(pair, {}))
                  for pair in set(self.shared) | set(other.shared)}
        stale = {}
        for name in set(self.stale) | set(other.stale):
            mark = self.stale.get(name)
            stale[name] = mark.join(other.stale.get(name)) if mark is not None else other.stale[name]
        return _State(points, shared, stale, self.bound & other.bound)

    def same(self, other):
        return self.points == other.points and self.shared == other.shared and self.bound == other.bound \
            and set(self.stale) == set(other.stale) \
            and all(self.stale[n].key() == other.stale[n].key() for n in self.stale)

    def partners(self, name):
        """The names that may share an array with ``name``: other name -> {object: tags}."""
        return {next(iter(pair - {name})): objects for pair, objects in self.shared.items() if name in pair}

    def rebind(self, name, points, partners):
        """``name`` now holds ``points``, sharing them with ``partners`` (other name -> {object: tags})."""
        self.shared = {pair: objects for pair, objects in self.shared.items() if name not in pair}
        for other, objects in partners.items():
            if other != name and objects:
                self.shared[frozenset((name, other))] = objects
        self.points[name] = points


class _Check:
    """A run-time check to insert: ``kind`` "view" (after ``stmt``: ``target = base[integer indices]`` must be a
    copy), "array" (before ``stmt``: ``target`` of ``target += ...`` must be a scalar) or "shared" (before the
    write ``stmt``: ``target``, written, and ``base``, read again, must not share memory); ``read`` is where
    the value would be read stale."""

    def __init__(self, kind, stmt, target, base, read):
        self.kind = kind
        self.stmt = stmt
        self.target = target
        self.base = base
        self.read = read


class _Analysis:
    def __init__(self, node, scalars, specialized, scalar_params):
        self.scalars = scalars
        self.specialized = specialized
        self.namespace = node.namespace
        # the parameters whose arguments may be arrays (a scalar argument shares nothing)
        self.params = [a.id for a in node.args.args if a.id not in scalar_params and a.id not in scalars]
        self.bound = frozenset(a.id for a in node.args.args)
        self.links = {}   # id(statement) -> ("view", target, base) | ("array", target): run-time links
        self.checks = {}  # (kind, id(statement), target, base) -> _Check
        # names that may hold an element of an array (a scalar) rather than the array itself: r = y[0], t = r
        self.maybe_elements = set()

    def run(self, body):
        points = {name: frozenset({("param", name)}) for name in self.params}
        self.block(body, _State(points, {}, {}, self.bound))

    def block(self, stmts, state):
        for stmt in stmts:
            state = self.statement(stmt, state)
        return state

    def statement(self, stmt, state):
        if isinstance(stmt, gast.If):
            self.read(stmt.test, state, stmt)
            return self.block(stmt.body, state.copy()).join(self.block(stmt.orelse, state.copy()))
        if isinstance(stmt, (gast.For, gast.While)):
            return self.loop(stmt, state)
        if isinstance(stmt, gast.Assign):
            return self.assign(stmt, state.copy())
        if isinstance(stmt, gast.Expr):
            self.read(stmt.value, state, stmt)
            value = stmt.value
            if isinstance(value, gast.Call) and value.args and isinstance(value.args[0], gast.Name) \
                    and registry.writes_into(lookup(value.func, self.namespace)) \
                    and not getattr(stmt, "generated", False):
                state = state.copy()
                self.write(value.args[0].id, stmt, state, in_place=False)  # np.copyto(y, v), np.add.at(y, ...)
            elif _method(value, "append") and isinstance(value.args[0], gast.Name):
                state = state.copy()
                self.append(value.func.value.id, value.args[0].id, state)
            return state
        if isinstance(stmt, gast.Return) and stmt.value is not None:
            self.read(stmt.value, state, stmt)
        return state

    def loop(self, stmt, state):
        if isinstance(stmt, gast.For):
            self.read(stmt.iter, state, stmt)
        # A range with constant bounds that is not empty runs its body at least once: what the body binds is
        # bound after the loop (no path skips it).
        skippable = not self._runs_at_least_once(stmt)
        while True:  # a fixpoint: the state only grows, over finitely many names, objects and checks
            if isinstance(stmt, gast.While):
                self.read(stmt.test, state, stmt)
            inner = state.copy()
            if isinstance(stmt, gast.For):
                inner.rebind(stmt.target.id, frozenset(), {})  # the range index
                inner.stale.pop(stmt.target.id, None)
                inner.bound = inner.bound | {stmt.target.id}
            body = self.block(stmt.body, inner)
            after = state.join(body) if skippable else body
            skippable = True
            if after.same(state):
                break
            state = after
        return state

    def _runs_at_least_once(self, stmt):
        if not isinstance(stmt, gast.For):  # the core form's for loops are range loops
            return False
        bounds = stmt.iter.args
        if not bounds or not all(isinstance(b, gast.Constant) and type(b.value) is int for b in bounds):
            return False
        return len(range(*(b.value for b in bounds))) > 0

    def assign(self, stmt, state):
        generated = getattr(stmt, "generated", False)
        target = stmt.targets[0]
        self.read(stmt.value, state, stmt)
        if isinstance(target, gast.Subscript):
            self.read(target, state, stmt)
            if not generated:
                self.write(ir.target_name(stmt), stmt, state, in_place=False)
            return state
        name = target.id
        if getattr(stmt, "in_place", False) and name not in self.scalars:
            if not generated:
                self.write(name, stmt, state, in_place=True)
            return state
        if getattr(stmt, "shares_caller_array", False):
            return state  # an inlined function's copy of its parameter: Python would share the array
        state.stale.pop(name, None)
        self.bind(stmt, name, stmt.value, state)
        state.bound = state.bound | {name}
        return state

    def bind(self, stmt, name, value, state):
        """``name = value``: the arrays ``name`` now holds, and the names it shares them with."""
        if name in self.scalars:
            state.rebind(name, frozenset(), {})
            return
        source, link = None, frozenset()
        if isinstance(value, gast.Name):
            source = value.id
            if source in self.maybe_elements:
                self.maybe_elements.add(name)
        elif isinstance(value, gast.Subscript) and isinstance(value.value, gast.Name):
            source = value.value.id
            if not _contains_slice(value.slice) and state.points.get(source):
                self.links[id(stmt)] = ("view", stmt, name, source)
                link = frozenset({id(stmt)})  # a view of a matrix, a copied element of a vector
                self.maybe_elements.add(name)
        elif isinstance(value, gast.Call):
            if _method(value, "pop"):
                source = value.func.value.id
            elif _hashable_in(lookup(value.func, self.namespace), _VIEWS) and value.args \
                    and isinstance(value.args[0], gast.Name):
                source = value.args[0].id
        if source is None:
            state.rebind(name, frozenset({(id(stmt),)}), {})  # a new array
            return
        points = state.points.get(source, frozenset())
        partners = {other: _linked(objects, link) for other, objects in state.partners(source).items()}
        partners[source] = _linked({obj: frozenset() for obj in points}, link)
        state.rebind(name, points, partners)

    def append(self, stack, item, state):
        """``stack.append(item)``: the stack holds the arrays ``item`` holds, besides its own."""
        partners = state.partners(stack)
        for other, objects in state.partners(item).items():
            partners[other] = _union(partners.get(other, {}), objects)
        partners[item] = _union(partners.get(item, {}), {obj: frozenset() for obj in state.points.get(item, ())})
        state.rebind(stack, state.points.get(stack, frozenset()) | state.points.get(item, frozenset()), partners)

    def write(self, name, stmt, state, in_place):
        """A write into the array ``name`` holds: every other name sharing it now holds a stale value."""
        for other, objects in state.partners(name).items():
            if other in self.scalars:
                continue
            tags = None
            for obj, link in objects.items():
                if in_place and not (self.specialized and obj[0] == "param" and name not in self.maybe_elements):
                    # v += ... rebinds a scalar: whether v holds an array is known when it runs
                    self.links[id(stmt)] = ("array", stmt, name, None)
                    link = link | {id(stmt)}
                tags = link if tags is None else _merge_tags(tags, link)
            if tags is not None:
                mark = _Stale({id(stmt): (stmt, name, tags, other in state.bound)})
                state.stale[other] = mark.join(state.stale.get(other))

    def read(self, value, state, stmt):
        for name in sorted(ir.names_in(value)):
            mark = state.stale.get(name)
            if mark is None:
                continue
            for write, writer, tags, bound in mark.entries.values():
                if tags and bound:
                    # whether they share memory is known at the write: check it there
                    self.request("shared", write, writer, name, stmt)
                elif len(tags) == 1:
                    kind, site, target, base = self.links[next(iter(tags))]
                    self.request(kind, site, target, base, stmt)
                else:
                    what = f"'{name}' is" if not name.startswith("_") else "a value"
                    through = f"'{writer}'" if not writer.startswith("_") else "a temporary view of it"
                    raise UnsupportedSyntax(
                        f"{what} read here, but the array it holds was written through {through} at "
                        f"{_where(write)} (NumPy changes both names; tangent2 gives them separate values and "
                        f"derivatives): take a copy where they start sharing the array (... = ....copy()), or "
                        f"assign a new array instead of writing into it", stmt.origin)

    def request(self, kind, stmt, target, base, read):
        self.checks.setdefault((kind, id(stmt), target, base), _Check(kind, stmt, target, base, read))


def _insert_checks(node, checks):
    """The run-time checks conflicting reads depend on (see the module docstring)."""
    if not checks:
        return
    for check in checks:
        name = _RUNTIME[check.kind]
        node.namespace[name] = getattr(runtime, name)
    before, after = {}, {}
    for check in checks:
        (after if check.kind == "view" else before).setdefault(id(check.stmt), []).append(_check(check))

    def insert(stmts):
        out = []
        for stmt in stmts:
            for field in ("body", "orelse"):
                if getattr(stmt, field, None):
                    setattr(stmt, field, insert(getattr(stmt, field)))
            out += before.get(id(stmt), []) + [stmt] + after.get(id(stmt), [])
        return out

    node.body = insert(node.body)


def _check(check):
    target, base, read = check.target, check.base, check.read
    named = {name: name if not name.startswith("_") else "a temporary" for name in (target, base) if name}
    if check.kind == "view":
        message = (f"{named[target]} is a view of {named[base]} (a row or sub-array), which is written while "
                   f"{named[target]} is read again at {_where(read)} (NumPy changes both, tangent2 would not); take a "
                   f"copy: {target} = {base}[...].copy()")
        args = [ir.load(target), ir.load(base)]
    elif check.kind == "shared":
        message = (f"{named[base]} shares its array with {named[target]}, written here while {named[base]} is read "
                   f"again at {_where(read)} (NumPy changes both, tangent2 would not); take a copy where they start "
                   f"sharing it, or assign a new array instead of writing into it")
        args = [ir.load(target), ir.load(base)]
    else:
        operator = _operator(check.stmt)
        message = (f"{target} {operator}= ... writes into the array {target} holds, read again through another name "
                   f"at {_where(read)} (NumPy changes both, tangent2 would not); write {target} = {target} "
                   f"{operator} ... instead")
        args = [ir.load(target)]
    message += f"\n  {check.stmt.origin}"  # the user's file and line, as errors end
    return ir.expr_stmt(ir.call(_RUNTIME[check.kind], args + [ir.const(message)]), check.stmt.origin)


_RUNTIME = {"view": "check_not_shared", "shared": "check_not_shared", "array": "check_not_array"}


_OPERATORS = {gast.Add: "+", gast.Sub: "-", gast.Mult: "*", gast.Div: "/", gast.FloorDiv: "//", gast.Mod: "%",
              gast.Pow: "**", gast.MatMult: "@"}


def _operator(stmt):
    return _OPERATORS.get(type(getattr(stmt.value, "op", None)), "+")


def _where(stmt):
    origin = getattr(stmt, "origin", None)
    return f"line {origin.lineno}" if origin is not None else "an earlier line"


def _contains_slice(index):
    """Whether ``index`` certainly makes a view: it contains a slice (x[1:], m[:, 0])."""
    parts = index.elts if isinstance(index, gast.Tuple) else [index]
    return any(isinstance(part, gast.Slice) for part in parts)


def _method(value, name):
    return isinstance(value, gast.Call) and isinstance(value.func, gast.Attribute) and value.func.attr == name \
        and isinstance(value.func.value, gast.Name)


def _hashable_in(value, table):
    try:
        return value in table
    except TypeError:
        return False


def _linked(objects, link):
    """A sharing ``objects`` (object -> tags) reached through one more run-time link (none: empty)."""
    return {obj: tags | link for obj, tags in objects.items()}


def _union(a, b):
    merged = dict(a)
    for obj, tags in b.items():
        merged[obj] = _merge_tags(merged[obj], tags) if obj in merged else tags
    return merged
