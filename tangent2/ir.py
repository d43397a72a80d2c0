"""Small constructors and queries on gast nodes shared by every pass.

The core form the passes exchange is a gast FunctionDef whose statements are
``Assign`` (one operation on atoms), subscript ``Assign``, ``If``, ``For``
over ``range``, ``While``, ``Break`` (only as ``if flag: break``), ``Expr``
(calls kept for their effect) and one final ``Return``.  An *atom* is a Name,
a Constant, or a Tuple of atoms.  Each statement carries ``origin``: the
user's source location it came from.
"""
import itertools

import gast


def load(name):
    return gast.Name(id=name, ctx=gast.Load(), annotation=None, type_comment=None)


def store(name):
    return gast.Name(id=name, ctx=gast.Store(), annotation=None, type_comment=None)


def param(name):
    return gast.Name(id=name, ctx=gast.Param(), annotation=None, type_comment=None)


def const(value):
    return gast.Constant(value=value, kind=None)


def tuple_(items, ctx=None):
    return gast.Tuple(elts=list(items), ctx=ctx or gast.Load())


def assign(target, value, origin=None):
    if isinstance(target, str):
        target = store(target)
    node = gast.Assign(targets=[target], value=value, type_comment=None)
    node.origin = origin
    return node


def call(func, args=(), keywords=()):
    if isinstance(func, str):
        func = load(func)
    return gast.Call(func=func, args=list(args), keywords=list(keywords))


def attr(value, name):
    if isinstance(value, str):
        value = load(value)
    return gast.Attribute(value=value, attr=name, ctx=gast.Load())


def method_call(obj, method, args=()):
    return call(attr(obj, method), args)


def expr_stmt(value, origin=None):
    node = gast.Expr(value=value)
    node.origin = origin
    return node


def if_(test, body, orelse=(), origin=None):
    node = gast.If(test=test, body=list(body), orelse=list(orelse))
    node.origin = origin
    return node


def for_range(index, range_args, body, origin=None):
    node = gast.For(target=store(index), iter=call("range", range_args), body=list(body),
                    orelse=[], type_comment=None)
    node.origin = origin
    return node


def while_(test, body, origin=None):
    node = gast.While(test=test, body=list(body), orelse=[])
    node.origin = origin
    return node


def return_(value, origin=None):
    node = gast.Return(value=value)
    node.origin = origin
    return node


def is_atom(node):
    if isinstance(node, (gast.Name, gast.Constant)):
        return True
    return isinstance(node, gast.Tuple) and all(is_atom(e) for e in node.elts)


def names_in(node):
    """Names read anywhere inside ``node`` (a node or a list of nodes)."""
    nodes = node if isinstance(node, list) else [node]
    found = set()
    for root in nodes:
        for child in gast.walk(root):
            if isinstance(child, gast.Name) and isinstance(child.ctx, gast.Load):
                found.add(child.id)
    return found


def assigned_names(node):
    """Names stored anywhere inside ``node`` (a node or a list of nodes)."""
    nodes = node if isinstance(node, list) else [node]
    found = set()
    for root in nodes:
        for child in gast.walk(root):
            if isinstance(child, gast.Name) and isinstance(child.ctx, gast.Store):
                found.add(child.id)
    return found


def target_name(stmt):
    """The variable an Assign writes: its Name, or the array of a subscript write."""
    target = stmt.targets[0]
    while isinstance(target, gast.Subscript):
        target = target.value
    return target.id


def is_subscript_write(stmt):
    return isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Subscript)


class Namer:
    """Hands out fresh, readable names that collide with nothing already used."""

    def __init__(self, taken=()):
        self.taken = set(taken)

    def fresh(self, base):
        base = base.rstrip("_") or "_t"
        if base not in self.taken:
            self.taken.add(base)
            return base
        for i in itertools.count(1):
            name = f"{base}_{i}"
            if name not in self.taken:
                self.taken.add(name)
                return name

    def reserve(self, names):
        self.taken.update(names)


def all_names(node):
    found = set()
    for child in gast.walk(node):
        if isinstance(child, gast.Name):
            found.add(child.id)
        elif isinstance(child, gast.FunctionDef):
            found.add(child.name)
    return found


def walk_statements(stmts):
    """Every statement in ``stmts``, nested blocks included, in source order."""
    for stmt in stmts:
        yield stmt
        for field in ("body", "orelse"):
            yield from walk_statements(getattr(stmt, field, []) or [])


def copy_function(node):
    """A deep copy of a FunctionDef that shares its (uncopyable) namespace and metadata."""
    import copy
    shared = {id(value): value for key, value in vars(node).items()
              if key not in gast.FunctionDef._fields and key not in ("lineno", "col_offset")}
    return copy.deepcopy(node, shared)
