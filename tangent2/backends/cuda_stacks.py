"""Device stacks: rewrite the list stacks of a generated function into a per-thread tape in device memory.

Reverse-mode loops save the values they overwrite on Python lists
(``_y_stack = []``, ``_y_stack.append(y)``, ``y = _y_stack.pop()``), which
CUDA device code cannot hold.  :func:`with_device_stacks` rewrites the
generated source of a function so that every such list becomes a region of
a 2-d array in global memory, one column per thread::

    _y_stack.append(y)            if _y_stack < _y_stack_room:
                                      _tape_float64[_y_stack_at + _y_stack, _thread] = y
                                  _y_stack += 1
                                  if _y_stack > _y_stack_peak:
                                      _y_stack_peak = _y_stack

    y = _y_stack.pop()            _y_stack -= 1
                                  y = _tape_float64[_y_stack_at + (_y_stack if _y_stack < _y_stack_room
                                                                   else _y_stack_room - 1), _thread]

The stack's name now holds its depth.  Entry ``j`` of stack ``s`` of thread
``t`` is ``_tape_<dtype>[_slots[s, 0] + j, t]``: slot-major, so the threads
of a warp pushing the same entry write neighbouring words.  ``_slots[s, 1]``
is the room the host gave the stack.  A push beyond the room is not stored
but still counted, and the function returns ``(result, peaks)``, the deepest
each stack got; the host compares the peaks with the rooms and, where a
stack ran out, launches again with more room, so a result computed from
missing entries is never returned.  Pops past the room read the last stored
entry of the same stack (a value this thread pushed), which keeps loop trip
counts popped from the tape bounded until the host retries.

Each stack's element type is what Numba infers for the list in the original
function (for the argument types of the call); one tape per dtype.  Lists
that are used otherwise (indexed, passed to calls) are left alone, and the
CUDA compiler reports them.  The rewritten text keeps every other line and
comment of the generated file, so errors still name the user's source line.
"""
import ast
import re
import warnings

import numpy as np
from numba.core import types

from tangent2.errors import TangentError


class DeviceStacks:
    """A function rewritten by :func:`with_device_stacks` and what the host needs to launch it.

    ``function``: the rewritten Python function, taking the original
    parameters (no defaults), then one tape per dtype in ``dtypes``, then
    ``_slots`` and ``_thread``; it returns ``(result, peaks)``.  Without
    stacks (only ``np.shape`` rewritten) it takes and returns what the
    original does.  ``stacks``: the stack names, in the order of ``_slots`` rows and peaks;
    ``stack_dtypes``: each stack's NumPy dtype; ``source``: the rewritten text.
    """

    def __init__(self, function, stacks, stack_dtypes, dtypes, source):
        self.function = function
        self.stacks = stacks
        self.stack_dtypes = stack_dtypes
        self.dtypes = dtypes
        self.source = source

    def layout(self, rooms):
        """``_slots`` (rows ``(first entry in its tape, room)``) and the number of entries of each tape."""
        slots = np.zeros((len(self.stacks), 2), dtype=np.int64)
        sizes = dict.fromkeys(self.dtypes, 0)
        for row, (dtype, room) in enumerate(zip(self.stack_dtypes, rooms)):
            slots[row] = (sizes[dtype], room)
            sizes[dtype] += int(room)
        return slots, [sizes[d] for d in self.dtypes]


def with_device_stacks(function, argument_types):
    """``function`` with its list stacks moved to device tapes (a :class:`DeviceStacks`), or None if unchanged.

    ``argument_types``: the Numba types of the arguments it will be called
    with (to infer the element type of each stack).  Reads of ``np.shape(a)``
    of an array become ``a.shape`` as well: Numba's CUDA target cannot compile
    its ``np.shape`` (it goes through ``np.asarray``'s optional argument).
    """
    text = function.__tangent2_source__
    tree = ast.parse(text)
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function.__name__)
    stacks = _stack_names(node)
    shapes = [n for n in ast.walk(node) if _shape_call(n, function)]
    if not stacks and not shapes:
        return None
    typemap = _infer_types(function, argument_types)
    types_ = _element_types(typemap, stacks, function)
    arrays = {_SSA.match(v).group(1) for v, t in typemap.items() if isinstance(t, types.Array)}
    stack_dtypes = [_dtype_of(types_[name], name, function) for name in stacks]
    dtypes = sorted(set(stack_dtypes), key=str)
    taken = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | {a.arg for a in node.args.args}
    names = _Names(taken)
    tapes = {dtype: names.fresh(f"_tape_{dtype}") for dtype in dtypes}
    slots, thread = (names.fresh("_slots"), names.fresh("_thread")) if stacks else (None, None)
    per_stack = {name: (names.fresh(f"{name}_at"), names.fresh(f"{name}_room"), names.fresh(f"{name}_peak"),
                        tapes[dtype], dtype) for name, dtype in zip(stacks, stack_dtypes)}
    rewriter = _Rewriter(per_stack, thread, names, function, arrays)
    lines = text.split("\n")
    replacements = {}  # first line (1-based) -> (last line, new lines)
    rewriter.block(node.body, replacements)
    params = [a.arg for a in node.args.args]
    prologue = []
    if stacks:
        peaks = ", ".join(per_stack[s][2] for s in stacks) + ("," if len(stacks) == 1 else "")
        for ret in rewriter.returns:
            indent = " " * ret.col_offset
            value = ast.unparse(ret.value) if ret.value is not None else "None"
            replacements[ret.lineno] = (ret.end_lineno, [f"{indent}return ({value}, ({peaks}))"])
        params += [tapes[d] for d in dtypes] + [slots, thread]
        indent = " " * node.body[0].col_offset
        prologue = [f"{indent}# stacks in device memory: entry j of stack s is {' / '.join(tapes.values())}"
                    f"[{slots}[s, 0] + j, {thread}], room for {slots}[s, 1] entries"]
        for row, name in enumerate(stacks):
            at, room, peak, _, _ = per_stack[name]
            prologue += [f"{indent}{at} = {slots}[{row}, 0]", f"{indent}{room} = {slots}[{row}, 1]",
                         f"{indent}{peak} = 0"]
    # no defaults: the kernel passes every argument
    replacements[node.lineno] = (node.lineno, [f"{' ' * node.col_offset}def {node.name}({', '.join(params)}):"] +
                                 prologue)
    out = []
    number = 1
    while number <= len(lines):
        if number in replacements:
            last, new = replacements[number]
            out.extend(new)
            number = last + 1
        else:
            out.append(lines[number - 1])
            number += 1
    source = "\n".join(out)
    if not source.endswith("\n"):
        source += "\n"
    return DeviceStacks(_load(source, function), stacks, stack_dtypes, dtypes, source)


def _shape_call(node, function):
    """``np.shape(name)``, with ``np`` the generated module's NumPy."""
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "shape" and \
        isinstance(node.func.value, ast.Name) and function.__globals__.get(node.func.value.id) is np and \
        len(node.args) == 1 and isinstance(node.args[0], ast.Name) and not node.keywords


def _load(source, function):
    from tangent2 import codegen
    path = codegen.write_source(source)
    namespace = dict(function.__globals__)
    namespace.pop("__name__", None)  # a module name of its own (give_module), not the original's
    exec(compile(source, path, "exec"), namespace)
    rewritten = namespace[function.__name__]
    rewritten.__tangent2_source__ = source
    rewritten.__tangent2_original__ = function
    return rewritten


class _Names:
    def __init__(self, taken):
        self.taken = set(taken)

    def fresh(self, base):
        name, k = base, 1
        while name in self.taken:
            name, k = f"{base}_{k}", k + 1
        self.taken.add(name)
        return name


def _is_empty_list(value):
    return isinstance(value, ast.List) and not value.elts


def _method(node, attr):
    """The list name of ``name.attr(...)``, or None."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == attr and \
            isinstance(node.func.value, ast.Name) and not node.keywords:
        return node.func.value.id
    return None


def _stack_names(node):
    """Locals assigned only ``[]`` and used only as ``s.append(v)`` statements and ``s.pop()`` calls."""
    params = {a.arg for a in node.args.args}
    candidates = {t.id for n in ast.walk(node) if isinstance(n, ast.Assign) and _is_empty_list(n.value)
                  for t in n.targets if isinstance(t, ast.Name)} - params
    allowed = set()  # ids of the Name nodes in those uses
    for n in ast.walk(node):
        if isinstance(n, ast.Assign) and _is_empty_list(n.value) and len(n.targets) == 1 and \
                isinstance(n.targets[0], ast.Name):
            allowed.add(id(n.targets[0]))
        elif isinstance(n, ast.Expr) and _method(n.value, "append") and len(n.value.args) == 1:
            allowed.add(id(n.value.func.value))
        elif _method(n, "pop") and not n.args:
            allowed.add(id(n.func.value))
    used_otherwise = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and id(n) not in allowed}
    order = []
    for n in ast.walk(node):  # first appearance order, for a stable layout
        if isinstance(n, ast.Name) and n.id in candidates and n.id not in used_otherwise and n.id not in order:
            order.append(n.id)
    return order


class _Rewriter:
    """Replacement lines for the statements that touch stacks; collects the return statements."""

    def __init__(self, per_stack, thread, names, function, arrays):
        self.per_stack = per_stack
        self.thread = thread
        self.names = names
        self.function = function
        self.arrays = arrays
        self.returns = []

    def block(self, stmts, replacements):
        for stmt in stmts:
            if isinstance(stmt, ast.Return):
                if self._pops(stmt):
                    self._unsupported(stmt)
                self.returns.append(stmt)
                continue
            compound = [getattr(stmt, f) for f in ("body", "orelse", "finalbody") if getattr(stmt, f, None)]
            if compound:
                for header in _header_expressions(stmt):
                    if self._pops(header) or self._pushes(header):
                        self._unsupported(stmt)
                for body in compound:
                    self.block(body, replacements)
                for handler in getattr(stmt, "handlers", []):
                    self.block(handler.body, replacements)
                continue
            new = self.statement(stmt)
            if new is not None:
                replacements[stmt.lineno] = (stmt.end_lineno, [" " * stmt.col_offset + line for line in new])

    def statement(self, stmt):
        if isinstance(stmt, ast.Assign) and _is_empty_list(stmt.value) and len(stmt.targets) == 1 and \
                isinstance(stmt.targets[0], ast.Name) and stmt.targets[0].id in self.per_stack:
            return [f"{stmt.targets[0].id} = 0"]
        if isinstance(stmt, ast.Expr) and _method(stmt.value, "pop") in self.per_stack and not stmt.value.args:
            name = stmt.value.func.value.id
            return [f"{name} -= 1"]
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name) and \
                _method(stmt.value, "pop") in self.per_stack and not stmt.value.args:
            return self.pop(stmt.value.func.value.id, stmt.targets[0].id)
        lines = []
        pops = self._pops(stmt)
        for call in pops:  # pops inside an expression are taken first, in evaluation order, into temporaries
            temporary = self.names.fresh("_popped")
            lines += self.pop(call.func.value.id, temporary)
            call.__tangent2_popped__ = temporary
        shapes = [n for n in ast.walk(stmt) if _shape_call(n, self.function) and n.args[0].id in self.arrays]
        for call in shapes:
            call.__tangent2_shape__ = True
        if pops or shapes:
            stmt = _ReplaceCalls().visit(stmt)
        if isinstance(stmt, ast.Expr) and _method(stmt.value, "append") in self.per_stack:
            return lines + self.push(stmt.value.func.value.id, ast.unparse(stmt.value.args[0]))
        if self._pushes(stmt):
            self._unsupported(stmt)
        return lines + [ast.unparse(stmt)] if pops or shapes else None

    def push(self, name, value):
        at, room, peak, tape, _ = self.per_stack[name]
        return [f"if {name} < {room}:",
                f"    {tape}[{at} + {name}, {self.thread}] = {value}",
                f"{name} += 1",
                f"if {name} > {peak}:",
                f"    {peak} = {name}"]

    def pop(self, name, target):
        at, room, _, tape, _ = self.per_stack[name]
        return [f"{name} -= 1",
                f"{target} = {tape}[{at} + ({name} if {name} < {room} else {room} - 1), {self.thread}]"]

    def _pops(self, node):
        return [n for n in _evaluation_order(node) if _method(n, "pop") in self.per_stack and not n.args]

    def _pushes(self, node):
        return [n for n in ast.walk(node) if _method(n, "append") in self.per_stack]

    def _unsupported(self, stmt):
        raise TangentError(f"tangent2.jit(target='cuda'): line {stmt.lineno} of the generated "
                           f"{self.function.__name__} ({self.function.__code__.co_filename}) uses a stack in a "
                           f"way the device rewrite does not handle: {ast.unparse(stmt).splitlines()[0]}")


class _ReplaceCalls(ast.NodeTransformer):
    """Pops by the temporaries they were taken into, ``np.shape(a)`` by ``a.shape``."""

    def visit_Call(self, node):
        popped = getattr(node, "__tangent2_popped__", None)
        if popped is not None:
            return ast.Name(id=popped, ctx=ast.Load())
        if getattr(node, "__tangent2_shape__", False):
            return ast.Attribute(value=node.args[0], attr="shape", ctx=ast.Load())
        return self.generic_visit(node)


def _header_expressions(stmt):
    if isinstance(stmt, (ast.If, ast.While)):
        return [stmt.test]
    if isinstance(stmt, ast.For):
        return [stmt.target, stmt.iter]
    return []


def _evaluation_order(node):
    """The nodes under ``node`` in Python's evaluation order (children before the call that uses them)."""
    out = []

    def visit(n):
        for child in ast.iter_child_nodes(n):
            visit(child)
        out.append(n)
    if isinstance(node, ast.Assign):
        visit(node.value)
    elif isinstance(node, ast.AugAssign):
        visit(node.value)
    else:
        visit(node)
    return out


# ------------------------------------------------------------------ element types
_SSA = re.compile(r"^(.*?)(\.\d+)?$")


def _element_types(typemap, stacks, function):
    """The Numba element type of each stack, from Numba's typemap of the original function."""
    found = {}
    for variable, type_ in typemap.items():
        base = _SSA.match(variable).group(1)
        if base in stacks and hasattr(type_, "dtype"):
            found.setdefault(base, type_.dtype)
    missing = [s for s in stacks if s not in found]
    if missing:
        raise TangentError(f"tangent2.jit(target='cuda'): Numba inferred no element type for the stacks "
                           f"{', '.join(missing)} of {function.__name__}")
    return found


def _dtype_of(numba_type, name, function):
    if isinstance(numba_type, types.Boolean):
        return np.dtype(np.bool_)
    if isinstance(numba_type, (types.Integer, types.Float, types.Complex)):
        return np.dtype(str(numba_type))
    raise TangentError(f"tangent2.jit(target='cuda'): {function.__name__} saves {numba_type} values on its stack "
                       f"{name}; the device tape holds numbers only (scalar code): the CUDA target maps scalar "
                       "derivatives, use target='cpu' or 'parallel' for array code")


_TYPE_ONLY = None


def _infer_types(function, argument_types):
    """Numba's typemap of ``function`` for ``argument_types``: its untyped passes and type inference, no lowering."""
    from numba.core.errors import NumbaError
    try:
        return _typemap(function, argument_types)
    except NumbaError as error:
        from tangent2.backends.numba_cpu import explain
        raise explain(error, function, what=f"{function.__name__} (typing it for the CUDA kernel)") from None


def _typemap(function, argument_types):
    global _TYPE_ONLY
    from numba.core import compiler
    from numba.core.registry import cpu_target
    from tangent2.backends import numba_runtime  # noqa: F401  (the overloads of the runtime helpers)
    if _TYPE_ONLY is None:
        _TYPE_ONLY = _type_only_pipeline()
    typing, target = cpu_target.typing_context, cpu_target.target_context
    typing.refresh()
    target.refresh()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compiler.compile_extra(typing, target, function, tuple(argument_types), None, compiler.Flags(), {},
                                      pipeline_class=_TYPE_ONLY)


def _type_only_pipeline():
    from numba.core.compiler import CompilerBase, DefaultPassBuilder
    from numba.core.compiler_machinery import FunctionPass, register_pass
    from numba.core.typed_passes import NopythonTypeInference

    @register_pass(mutates_CFG=False, analysis_only=True)
    class KeepTypemap(FunctionPass):
        """Ends the pipeline after type inference: the typemap is the result."""
        _name = "tangent2_keep_typemap"

        def __init__(self):
            FunctionPass.__init__(self)

        def run_pass(self, state):
            state.cr = dict(state.typemap)
            return False

    class TypeOnly(CompilerBase):
        def define_pipelines(self):
            manager = DefaultPassBuilder.define_untyped_pipeline(self.state)
            manager.add_pass(NopythonTypeInference, "nopython type inference")
            manager.add_pass(KeepTypemap, "keep the typemap")
            manager.finalize()
            return [manager]

    return TypeOnly


__all__ = ["DeviceStacks", "with_device_stacks"]
