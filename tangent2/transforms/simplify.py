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
