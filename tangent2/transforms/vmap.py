"""vmap: a readable loop over the batch axis, as a generated function.

``vmap(f)`` becomes

    def f_vmap(x, w):
        _n = np.shape(x)[0]
        _out = f(x[0], w)
        _stacked = batch_buffer(_out, _n, 0)
        _stacked[0] = _out
        for _batch in range(1, _n):
            _out = f(x[_batch], w)
            _stacked[_batch] = _out
        return _stacked

which is then normalized like any user function (``f`` is inlined), so it
can be read, differentiated, nested and compiled; ``jit(..., target="parallel")``
runs the ``_batch`` loop with ``prange``.

Called directly (not inlined into code differentiated further), the loop
then computes each per-example result straight into its row when the last
operation has a destination-passing form (``write_rows_in_place``):

        _misfits = 0
        for _batch in range(1, _n):
            ...
            _misfits = _misfits + dot_vjp_a_into(_stacked_0, _batch, dv, theta, _t_8)
        check_rows_fit(_misfits)

instead of ``dtheta = dot_vjp_a(dv, theta, _t_8); _out = dtheta; _stacked_0[_batch] = _out``
(``_misfits``: examples whose result does not fit the row; see runtime.py).
"""
from collections import Counter

import gast
import numpy as np

from tangent2 import ir, runtime
from tangent2.frontend.resolve import lookup

_BATCH = "_batch"


def vmap_wrapper(name, leaf_names, leaf_axes, call_args, output_paths, out_axes, target):
    """The FunctionDef of a vmap loop.

    ``leaf_names``/``leaf_axes``: the wrapper's flat parameters and the axis
    each is batched along (None: not batched).  ``call_args`` builds the
    per-example argument expressions from a function of (leaf name, index).
    ``output_paths``: source expressions selecting each output leaf from
    ``_out``; ``out_axes``: the axis each is stacked along.
    """
    batched = [(n, a) for n, a in zip(leaf_names, leaf_axes) if a is not None]
    first_name, first_axis = batched[0]
    lines = [f"def {name}({', '.join(leaf_names)}):",
             f"    _n = np.shape({first_name})[{first_axis}]",
             f"    _out = TARGET({call_args('0')})"]
    for k, (path, axis) in enumerate(zip(output_paths, out_axes)):
        lines.append(f"    _stacked_{k} = batch_buffer({path}, _n, {axis})")
        lines.append(f"    _stacked_{k}[{_index('0', axis)}] = {path}")
    lines.append(f"    for {_BATCH} in range(1, _n):")
    lines.append(f"        _out = TARGET({call_args(_BATCH)})")
    for k, (path, axis) in enumerate(zip(output_paths, out_axes)):
        lines.append(f"        _stacked_{k}[{_index(_BATCH, axis)}] = {path}")
    results = [f"_stacked_{k}" for k in range(len(output_paths))]
    lines.append(f"    return {results[0] if len(results) == 1 else '(' + ', '.join(results) + ',)'}")
    node = gast.parse("\n".join(lines) + "\n").body[0]
    node.namespace = {"TARGET": target, "np": np, "batch_buffer": runtime.batch_buffer, "range": range}
    node.filename = None
    return node


def example_expression(leaf, axis, index):
    """``x[i]``, ``x[:, i]``, ... : one example of a leaf batched along ``axis`` (itself if not batched)."""
    if axis is None:
        return leaf
    return f"{leaf}[{_index(index, axis)}]"


def _index(index, axis):
    return ", ".join([":"] * axis + [index])


# What computes a per-example result, and the form of it that writes the result into ``out[index]`` instead.
_INTO_CALLS = {runtime.dot_vjp_a: runtime.dot_vjp_a_into, runtime.dot_vjp_b: runtime.dot_vjp_b_into,
               runtime.matmul_vjp_a: runtime.matmul_vjp_a_into, runtime.matmul_vjp_b: runtime.matmul_vjp_b_into}
_INTO_OPERATORS = {gast.Mult: runtime.multiply_into, gast.Add: runtime.add_into, gast.Sub: runtime.subtract_into,
                   gast.Div: runtime.divide_into}


def write_rows_in_place(node):
    """``node`` (a normalized vmap loop) with each per-example result written straight into its row.

    In the ``_batch`` loop, ``v = dot_vjp_a(ct, a, b)`` (or ``v = x * y``, ...), copies ``_out = v`` and
    the store ``_stacked_k[_batch] = _out`` become ``_misfits = _misfits + dot_vjp_a_into(_stacked_k,
    _batch, ct, a, b)``, when ``v`` and the copies are read nowhere else.  Compiled, the helper writes the
    row element by element: a small per-example array allocated and then copied costs more than the
    arithmetic.  The helpers have no derivative rules, so only a vmap that is called (not one inlined into
    differentiated code) is rewritten.
    """
    loop = next((s for s in node.body if isinstance(s, gast.For) and s.target.id == _BATCH), None)
    if loop is None:
        return node
    read_after = ir.names_in(node.body[node.body.index(loop) + 1:])
    reads = Counter(n.id for n in gast.walk(gast.Module(body=loop.body, type_ignores=[]))
                    if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load))
    writes = Counter(n.id for n in gast.walk(gast.Module(body=loop.body, type_ignores=[]))
                     if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store))
    body = loop.body
    misfits = None
    for store in [s for s in body if _is_row_store(s)]:
        chain = [store]
        name = store.value.id
        while True:
            definition = _only_definition(body, body.index(chain[-1]), name, reads, writes, read_after)
            if definition is None or not isinstance(definition.value, gast.Name):
                break
            chain.append(definition)
            name = definition.value.id
        into = definition is not None and _into_form(definition.value, node.namespace)
        if not into:
            continue
        helper, args = into
        node.namespace[helper.__name__] = helper
        misfits = misfits or ir.Namer(ir.all_names(node)).fresh("_misfits")
        call = ir.call(helper.__name__, [ir.load(store.targets[0].value.id), ir.load(_BATCH)] + args)
        write = ir.assign(misfits, gast.BinOp(left=ir.load(misfits), op=gast.Add(), right=call),
                          origin=definition.origin)
        write.adjoint = getattr(definition, "adjoint", False)
        body[body.index(definition)] = write
        for stmt in chain:
            body.remove(stmt)
    if misfits is not None:
        node.namespace["check_rows_fit"] = runtime.check_rows_fit
        at = node.body.index(loop)
        node.body[at:at + 1] = [ir.assign(misfits, ir.const(0)), loop,
                                ir.expr_stmt(ir.call("check_rows_fit", [ir.load(misfits)]))]
    return node


def _is_row_store(stmt):
    """``_stacked_k[_batch] = name``: a per-example result stacked along axis 0."""
    if not ir.is_subscript_write(stmt) or not isinstance(stmt.value, gast.Name):
        return False
    target = stmt.targets[0]
    return isinstance(target.value, gast.Name) and target.value.id.startswith("_stacked_") and \
        isinstance(target.slice, gast.Name) and target.slice.id == _BATCH


def _only_definition(body, before, name, reads, writes, read_after):
    """The statement of ``body`` (before index ``before``) that assigns ``name``, if ``name`` is assigned once in
    the loop, at its top level, and read once (by the statement at ``before``) and not after the loop."""
    if reads[name] != 1 or writes[name] != 1 or name in read_after:
        return None
    for stmt in reversed(body[:before]):
        if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name) and stmt.targets[0].id == name:
            return stmt
    return None


def _into_form(value, namespace):
    """(helper, arguments) writing ``value`` into a row, or None when it has no destination-passing form."""
    if isinstance(value, gast.BinOp) and type(value.op) in _INTO_OPERATORS:
        return _INTO_OPERATORS[type(value.op)], [value.left, value.right]
    if isinstance(value, gast.Call) and not value.keywords:
        function = lookup(value.func, namespace)
        for computes, helper in _INTO_CALLS.items():
            if function is computes:
                return helper, list(value.args)
    return None
