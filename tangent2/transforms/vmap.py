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
"""
import gast
import numpy as np

from tangent2 import runtime

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
