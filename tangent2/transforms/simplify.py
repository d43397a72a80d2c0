"""Simplify: remove dead code and needless copies from a generated function.

Dead-code elimination drops assignments whose results are never read (and
that do nothing else); copy propagation replaces ``a = b`` by ``b`` where
both are assigned once outside loops, so the value can never differ.
"""
import gast

from tangent2 import ir


def simplify(node):
    """Simplify the FunctionDef ``node`` in place and return it."""
    while _propagate_copies(node) | _remove_dead_code(node):
        pass
    return node


def _remove_dead_code(node):
    read = ir.names_in(node.body) | _read_by_subscript_targets(node.body)
    changed = False

    def prune(stmts):
        nonlocal changed
        kept = []
        for stmt in stmts:
            if isinstance(stmt, gast.Assign) and ir.target_name(stmt) not in read and _pure(stmt.value):
                changed = True
                continue
            if isinstance(stmt, gast.Pass) or isinstance(stmt, gast.Expr) and isinstance(stmt.value, gast.Constant):
                changed = True
                continue
            for field in ("body", "orelse"):
                if getattr(stmt, field, None):
                    setattr(stmt, field, prune(getattr(stmt, field)))
            if isinstance(stmt, (gast.If, gast.For)) and not stmt.body and not stmt.orelse:
                changed = True
                continue
            if isinstance(stmt, gast.If) and not stmt.body:
                stmt.body, stmt.orelse = stmt.orelse, []
                stmt.test = gast.UnaryOp(op=gast.Not(), operand=stmt.test)
            kept.append(stmt)
        return kept

    node.body = prune(node.body)
    return changed


def _read_by_subscript_targets(stmts):
    """Indices inside subscript targets are reads (x[i] = v reads i)."""
    found = set()
    for stmt in ir.walk_statements(stmts):
        if ir.is_subscript_write(stmt):
            found |= ir.names_in(stmt.targets[0].slice)
    return found


def _pure(value):
    """Whether evaluating ``value`` has no effect besides its result (list pops do)."""
    for child in gast.walk(value):
        if isinstance(child, gast.Call) and isinstance(child.func, gast.Attribute) \
                and child.func.attr in ("pop", "append"):
            return False
    return True


def _propagate_copies(node):
    definitions = {}
    params = {a.id for a in node.args.args}

    def record(stmts, depth):
        for stmt in stmts:
            if isinstance(stmt, gast.Assign):
                name = ir.target_name(stmt)
                definitions.setdefault(name, []).append((stmt, depth))
            elif isinstance(stmt, gast.For):
                definitions.setdefault(stmt.target.id, []).append((stmt, depth + 1))
            inner = depth + isinstance(stmt, (gast.For, gast.While))
            for field in ("body", "orelse"):
                record(getattr(stmt, field, []) or [], inner)

    record(node.body, 0)
    replace = {}
    for name, defs in definitions.items():
        if len(defs) != 1 or name in params:
            continue
        stmt, depth = defs[0]
        if depth or not isinstance(stmt, gast.Assign) or ir.is_subscript_write(stmt):
            continue
        source = stmt.value
        if not isinstance(source, gast.Name):
            continue
        source_defs = definitions.get(source.id, [])
        if source.id in params and source_defs or len(source_defs) > 1 or any(d for _, d in source_defs):
            continue
        if source.id in params or source_defs or source.id in node.namespace:
            replace[name] = source.id
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
