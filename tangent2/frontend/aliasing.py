"""Aliasing: writes NumPy would make visible through another name, which tangent2 cannot follow.

tangent2 gives every variable of the core form its own value (and its own
derivative).  NumPy does not: after ``z = y[1:]`` or ``v = y``, a write into
``y`` (``y[1] = 5.0``, ``y += 1.0`` in place, a helper writing into its
parameter) changes what ``z`` and ``v`` hold too.  This pass follows which
arrays each variable may share memory with (a flow-sensitive points-to
analysis over the core form) and finds every read of a variable whose array
was written through another name since it was bound: tangent2 would read the
old value there.  Such a read is rejected with UnsupportedSyntax, naming the
write and the read.

Whether two names share memory sometimes depends on shapes, which are known
only when the function runs:

* a subscript with integer indices (``r = y[0]``, and the rows of ``for row
  in m``) is a view of an array with more dimensions than indices and a copied
  scalar otherwise: ``check_not_view(r, y, message)`` after the binding raises
  when ``r`` shares ``y``'s memory;
* ``v += 1.0`` writes into the array ``v`` holds but rebinds a scalar:
  ``check_not_array(v, message)`` before it raises when ``v`` is an array
  (unless ``v`` certainly holds an array parameter, which is rejected at once).

Those checks are inserted only where a read depends on them.  Names known to
hold scalars (tangent2.frontend.shapes) share nothing.  Writes inside inlined
generated code (tangent2's own derivatives, which copy before they write) are
not checked.
"""
import gast
import numpy as np

from tangent2 import ir, runtime
from tangent2.errors import UnsupportedSyntax
from tangent2.frontend.resolve import lookup
from tangent2.frontend.shapes import infer_scalars

# Calls whose result may be a view of their first argument.
_VIEWS = {np.transpose, np.reshape, np.ravel, np.squeeze, np.expand_dims, np.swapaxes, np.moveaxis,
          np.broadcast_to, np.asarray, np.asanyarray, np.real, np.diagonal, np.atleast_1d, np.atleast_2d,
          np.atleast_3d, np.flip, np.fliplr, np.flipud, np.rot90, runtime.matrix_transpose}
_MAX_PASSES = 8


def check_aliasing(node, specialized):
    """Reject reads through aliases of arrays written since (see the module docstring) and insert the run-time
    checks the others depend on.  ``node``: a normalized FunctionDef of user code with ``scalar_params``;
    ``specialized``: whether its parameters outside ``scalar_params`` are known to be arrays."""
    scalars = infer_scalars(node, getattr(node, "scalar_params", ())).scalars
    analysis = _Analysis(node, scalars, specialized)
    analysis.block(node.body, {}, {})
    _insert_checks(node, analysis.sites)
    return node


def is_generated(node):
    """Whether the parsed FunctionDef ``node`` is tangent2's own generated code."""
    return getattr(getattr(node, "source_function", None), "__module__", None) == "tangent2.generated"


def _merge_tags(a, b):
    """The run-time checks a sharing reached two ways depends on: none (certain) when either way is certain."""
    return frozenset() if not a or not b else a | b


class _Stale:
    """A variable whose array was written through another name: ``tags`` name the run-time checks the sharing
    depends on (empty: certain), ``write`` is the writing statement and ``writer`` the name it wrote through."""

    def __init__(self, tags, write, writer):
        self.tags = tags
        self.write = write
        self.writer = writer

    def join(self, other):
        if other is None or other is self:
            return self
        first = self if not self.tags or other.tags else other  # report a certain write
        return _Stale(_merge_tags(self.tags, other.tags), first.write, first.writer)


class _Site:
    """A possible run-time check: ``kind`` "view" (after ``stmt``, ``target = base[integer indices]``) or
    "array" (before ``stmt``, ``target += ...``); ``conflict`` is (write, read statement, name read) once a read
    depends on it."""

    def __init__(self, kind, stmt, target, base=None):
        self.kind = kind
        self.stmt = stmt
        self.target = target
        self.base = base
        self.conflict = None


class _Analysis:
    """The state is ``points`` (name -> {object: tags}: the arrays it may hold, and the checks each sharing
    depends on) and ``stale`` (name -> _Stale).  Objects are ("param", name), (id(statement),) for the newest
    array a statement made and (id(statement), "old") for the ones it made before."""

    def __init__(self, node, scalars, specialized):
        self.scalars = scalars
        self.specialized = specialized
        self.namespace = node.namespace
        self.params = [a.id for a in node.args.args]
        self.sites = {}  # tag (id of its statement) -> _Site

    def points_of(self, points, name):
        if name in points:
            return points[name]
        if name in self.params and name not in self.scalars:
            return {("param", name): frozenset()}
        return {}

    def block(self, stmts, points, stale):
        for stmt in stmts:
            points, stale = self.statement(stmt, points, stale)
        return points, stale

    def statement(self, stmt, points, stale):
        if isinstance(stmt, gast.If):
            self.read(stmt.test, stale, stmt)
            return _join(self.block(stmt.body, dict(points), dict(stale)),
                         self.block(stmt.orelse, dict(points), dict(stale)))
        if isinstance(stmt, (gast.For, gast.While)):
            return self.loop(stmt, points, stale)
        if isinstance(stmt, gast.Assign):
            return self.assign(stmt, points, stale)
        if isinstance(stmt, gast.Expr):
            self.read(stmt.value, stale, stmt)
            value = stmt.value
            if _method(value, "append") and isinstance(value.args[0], gast.Name):
                stack = value.func.value.id
                points = dict(points)
                points[stack] = _union(self.points_of(points, stack), self.points_of(points, value.args[0].id))
            return points, stale
        if isinstance(stmt, gast.Return) and stmt.value is not None:
            self.read(stmt.value, stale, stmt)
        return points, stale

    def loop(self, stmt, points, stale):
        if isinstance(stmt, gast.For):
            self.read(stmt.iter, stale, stmt)
        state = (points, stale)
        for _ in range(_MAX_PASSES):
            if isinstance(stmt, gast.While):
                self.read(stmt.test, state[1], stmt)
            inner_points, inner_stale = dict(state[0]), dict(state[1])
            if isinstance(stmt, gast.For):
                inner_points.pop(stmt.target.id, None)
                inner_stale.pop(stmt.target.id, None)
            after = _join(state, self.block(stmt.body, inner_points, inner_stale))
            if _same(after, state):
                break
            state = after
        return state

    def assign(self, stmt, points, stale):
        generated = getattr(stmt, "generated", False)
        target = stmt.targets[0]
        self.read(stmt.value, stale, stmt)
        points, stale = dict(points), dict(stale)
        if isinstance(target, gast.Subscript):
            self.read(target, stale, stmt)
            if not generated:
                self.write(ir.target_name(stmt), stmt, points, stale, in_place=False)
            return points, stale
        name = target.id
        if getattr(stmt, "in_place", False) and name not in self.scalars:
            if not generated:
                self.write(name, stmt, points, stale, in_place=True)
            return points, stale
        if getattr(stmt, "shares_caller_array", False):
            return points, stale  # an inlined function's copy of its parameter: Python would share the array
        stale.pop(name, None)
        points[name] = self.points_of_value(stmt, name, stmt.value, points)
        return points, stale

    def points_of_value(self, stmt, name, value, points):
        if name in self.scalars:
            return {}
        if isinstance(value, gast.Name):
            return dict(self.points_of(points, value.id))
        if isinstance(value, gast.Subscript) and isinstance(value.value, gast.Name):
            base = self.points_of(points, value.value.id)
            if _contains_slice(value.slice):
                return dict(base)
            if not base:
                return {}
            self.sites.setdefault(id(stmt), _Site("view", stmt, name, value.value.id))
            return {obj: tags | {id(stmt)} for obj, tags in base.items()}
        if isinstance(value, gast.Call):
            if _method(value, "pop"):
                return dict(self.points_of(points, value.func.value.id))
            function = lookup(value.func, self.namespace)
            if _hashable_in(function, _VIEWS) and value.args and isinstance(value.args[0], gast.Name):
                return dict(self.points_of(points, value.args[0].id))
        return self.allocate(stmt, points)

    def allocate(self, stmt, points):
        """A new array made by ``stmt``: the ones it made before, still held by other names, are others."""
        new, old = (id(stmt),), (id(stmt), "old")
        for other, objects in list(points.items()):
            if new in objects:
                objects = dict(objects)
                tags = objects.pop(new)
                objects[old] = _merge_tags(objects[old], tags) if old in objects else tags
                points[other] = objects
        return {new: frozenset()}

    def write(self, name, stmt, points, stale, in_place):
        """A write into the array ``name`` holds: every other name sharing it now holds a stale value."""
        written = self.points_of(points, name)
        for other in set(points) | set(self.params):
            if other == name or other in self.scalars:
                continue
            shared = self.points_of(points, other)
            tags = None
            for obj in written:
                if obj not in shared:
                    continue
                link = written[obj] | shared[obj]
                if in_place and not (self.specialized and obj[0] == "param"):
                    # v += ... rebinds a scalar: whether v holds an array is checked when it runs
                    self.sites.setdefault(id(stmt), _Site("array", stmt, name))
                    link = link | {id(stmt)}
                tags = link if tags is None else _merge_tags(tags, link)
            if tags is not None:
                stale[other] = _Stale(tags, stmt, name).join(stale.get(other))

    def read(self, value, stale, stmt):
        if not stale:
            return
        for name in sorted(ir.names_in(value)):
            mark = stale.get(name)
            if mark is None:
                continue
            if not mark.tags:
                what = f"'{name}' is" if not name.startswith("_") else "a value"
                raise UnsupportedSyntax(
                    f"{what} read here, but the array it holds was written through '{mark.writer}' at "
                    f"{_where(mark.write)} (NumPy changes both names; tangent2 gives them separate values and "
                    f"derivatives): take a copy where they start sharing the array (... = ....copy()), or assign "
                    f"a new array instead of writing into it", stmt.origin)
            for tag in mark.tags:
                site = self.sites[tag]
                if site.conflict is None:
                    site.conflict = (mark.write, stmt, name)


def _insert_checks(node, sites):
    """The run-time checks a conflicting read depends on (see the module docstring)."""
    needed = {tag: site for tag, site in sites.items() if site.conflict is not None}
    if not needed:
        return
    for kind in ("view", "array"):
        if any(site.kind == kind for site in needed.values()):
            name = f"check_not_{kind}"
            node.namespace[name] = getattr(runtime, name)

    def insert(stmts):
        out = []
        for stmt in stmts:
            for field in ("body", "orelse"):
                if getattr(stmt, field, None):
                    setattr(stmt, field, insert(getattr(stmt, field)))
            site = needed.get(id(stmt))
            if site is not None and site.kind == "array":
                out.append(_check(site))
            out.append(stmt)
            if site is not None and site.kind == "view":
                out.append(_check(site))
        return out

    node.body = insert(node.body)


def _check(site):
    write, read, name = site.conflict
    target = site.target
    if site.kind == "view":
        message = (f"'{target}' is a view of '{site.base}' (a row or a sub-array), and '{site.base}' is written at "
                   f"{_where(write)} while '{target}' is read again at {_where(read)}: tangent2 would give them "
                   f"separate values; take a copy at {_where(site.stmt)} ({target} = {site.base}[...].copy())")
        args = [ir.load(target), ir.load(site.base), ir.const(message)]
    else:
        message = (f"'{target} {_operator(site.stmt)}= ...' at {_where(site.stmt)} writes into the array '{target}' "
                   f"holds, which is read again through another name at {_where(read)}: tangent2 would give them "
                   f"separate values; write {target} = {target} {_operator(site.stmt)} ... (a new array), or take a "
                   f"copy where they start sharing it")
        args = [ir.load(target), ir.const(message)]
    return ir.expr_stmt(ir.call(f"check_not_{site.kind}", args), site.stmt.origin)


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


def _union(a, b):
    merged = dict(a)
    for obj, tags in b.items():
        merged[obj] = _merge_tags(merged[obj], tags) if obj in merged else tags
    return merged


def _join(left, right):
    points = {}
    for name in set(left[0]) | set(right[0]):
        if name in left[0] and name in right[0]:
            points[name] = _union(left[0][name], right[0][name])
        else:
            points[name] = dict(left[0][name] if name in left[0] else right[0][name])
    stale = {}
    for name in set(left[1]) | set(right[1]):
        mark = left[1].get(name)
        stale[name] = mark.join(right[1].get(name)) if mark is not None else right[1][name]
    return points, stale


def _same(a, b):
    if set(a[0]) != set(b[0]) or set(a[1]) != set(b[1]):
        return False
    return all(a[0][n] == b[0][n] for n in a[0]) and all(a[1][n].tags == b[1][n].tags for n in a[1])
