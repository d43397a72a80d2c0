"""Resolve: bind every free name of a function to the object it refers to.

The result is recorded on the FunctionDef as ``namespace`` (free name ->
object: globals, closure cells, builtins); later passes look calls up in it
with :func:`lookup`.
"""
import builtins

import gast

from tangent2.errors import SourceLocation, UnsupportedSyntax


def resolve(node, fn):
    """Attach ``node.namespace`` for the function object ``fn`` and return ``node``."""
    scope = dict(vars(builtins))
    scope.update(fn.__globals__)
    if fn.__closure__:
        for name, cell in zip(fn.__code__.co_freevars, fn.__closure__):
            try:
                scope[name] = cell.cell_contents
            except ValueError:  # a cell not filled yet: a local defined after the def
                pass
    local = local_names(node)
    namespace = {}
    for child in gast.walk(node):
        if isinstance(child, gast.Name) and isinstance(child.ctx, gast.Load) and child.id not in local:
            if child.id not in scope:
                raise UnsupportedSyntax(f"name '{child.id}' is not defined", location(node, child))
            namespace[child.id] = scope[child.id]
    node.namespace = namespace
    return node


def local_names(node):
    """Names bound anywhere inside the function: parameters, assignment targets, defs."""
    names = set()
    for child in gast.walk(node):
        if isinstance(child, gast.Name) and isinstance(child.ctx, (gast.Store, gast.Param, gast.Del)):
            names.add(child.id)
        elif isinstance(child, gast.FunctionDef) and child is not node:
            names.add(child.name)
        elif isinstance(child, (gast.Import, gast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in child.names)
    return names


def lookup(expr, namespace):
    """The object a Name or Attribute chain refers to, or None if it is not static."""
    if isinstance(expr, gast.Name):
        return namespace.get(expr.id)
    if isinstance(expr, gast.Attribute):
        base = lookup(expr.value, namespace)
        return None if base is None else getattr(base, expr.attr, None)
    return None


def location(function_node, node):
    """The user's file and line of ``node`` inside ``function_node``."""
    lineno = getattr(node, "lineno", None) or getattr(function_node, "lineno", 0)
    lines = getattr(function_node, "source_lines", {})
    return SourceLocation(getattr(function_node, "filename", "<unknown>"), lineno,
                          getattr(function_node, "name", None), lines.get(lineno))
