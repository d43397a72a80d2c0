"""CUDA device code from a generated function: stacks on per-thread tapes, scalar NumPy calls as ``math``.

:func:`device_function` rewrites the generated source of a function for
``numba.cuda.jit(device=True)``.

**Stacks.** Reverse-mode loops save the values they overwrite on Python
lists (``_y_stack = []``, ``_y_stack.append(y)``, ``y = _y_stack.pop()``),
which CUDA device code cannot hold.  Every such list becomes a region of a
2-d array in global memory, one column per thread::

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
counts popped from the tape bounded until the host retries.  Each stack's
element type is what Numba infers for the list in the original function
(for the argument types of the call); one tape per dtype.  Lists used
otherwise (indexed, passed to calls) are left alone, and the CUDA compiler
reports them.

**Calls Numba's CUDA target cannot compile** (numba 0.68, numba-cuda
0.30.4), replaced where their arguments are scalars: NumPy ufuncs such as
``np.exp``, ``np.sqrt``, ``np.power``, ``np.abs``, ``np.sign``,
``np.where`` (by ``math`` functions and operators, see ``_SCALAR_CALLS``),
the builtins ``max``/``min`` of two values (their varargs overload fails),
and ``np.shape(a)`` of an array (through ``np.asarray``'s optional argument)
by ``a.shape``.

The rewritten text keeps every other line and comment of the generated
file, so errors still name the user's source line.
"""
import ast
import builtins
import math
import re
import warnings

import numpy as np
from numba.core import types

from tangent2.errors import TangentError


class DeviceFunction:
    """A function rewritten by :func:`device_function` and what the host needs to launch it.

    ``function``: the rewritten Python function, taking the original
    parameters (no defaults), then one tape per dtype in ``dtypes``, then
    ``_slots`` and ``_thread``; it returns ``(result, peaks)``.  Without
    stacks (only calls rewritten) it takes and returns what the original
    does.  ``stacks``: the stack names, in the order of ``_slots`` rows and peaks;
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


def device_function(function, argument_types):
    """``function`` rewritten for the device (a :class:`DeviceFunction`), or None if it needs no change.

    ``argument_types``: the Numba types of the arguments it will be called
    with (to type the stacks and know which names hold scalars or arrays).
    """
    text = function.__tangent2_source__
    tree = ast.parse(text)
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function.__name__)
    stacks = _stack_names(node)
    if not stacks and not any(_replaceable(n, function) for n in ast.walk(node)):
        return None
    typemap = _infer_types(function, argument_types)
    types_ = _element_types(typemap, stacks, function)
    kinds = _kinds(typemap)
    stack_dtypes = [_dtype_of(types_[name], name, function) for name in stacks]
    dtypes = sorted(set(stack_dtypes), key=str)
    taken = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | {a.arg for a in node.args.args}
    names = _Names(taken | set(function.__globals__))
    tapes = {dtype: names.fresh(f"_tape_{dtype}") for dtype in dtypes}
    slots, thread = (names.fresh("_slots"), names.fresh("_thread")) if stacks else (None, None)
    per_stack = {name: (names.fresh(f"{name}_at"), names.fresh(f"{name}_room"), names.fresh(f"{name}_peak"),
                        tapes[dtype], dtype) for name, dtype in zip(stacks, stack_dtypes)}
    math_name = "math" if function.__globals__.get("math", math) is math else names.fresh("_math")
    calls = _DeviceCalls(function, kinds, math_name)
    rewriter = _Rewriter(per_stack, thread, names, function, calls)
    lines = text.split("\n")
    replacements = {}  # first line (1-based) -> (last line, new lines)
    rewriter.block(node.body, replacements)
    params = [a.arg for a in node.args.args]
    prologue = []
    peaks = ", ".join(per_stack[s][2] for s in stacks) + ("," if len(stacks) == 1 else "")
    for ret in rewriter.returns:
        value, changed = calls.rewrite(ret.value) if ret.value is not None else (ast.Constant(value=None), False)
        if stacks:
            text_ = f"return ({ast.unparse(value)}, ({peaks}))"
        elif changed:
            text_ = f"return {ast.unparse(value)}"
        else:
            continue
        replacements[ret.lineno] = (ret.end_lineno, [" " * ret.col_offset + text_])
    if stacks:
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
    extra = {math_name: math} if calls.used_math else {}
    return DeviceFunction(_load(source, function, extra), stacks, stack_dtypes, dtypes, source)


# NumPy calls on scalars that Numba's CUDA target does not compile -> the device expression ({m}: math)
_SCALAR_CALLS = {
    "exp": "{m}.exp({0})", "sqrt": "{m}.sqrt({0})", "log1p": "{m}.log1p({0})", "expm1": "{m}.expm1({0})",
    "abs": "abs({0})", "absolute": "abs({0})", "fabs": "abs({0})", "negative": "(-{0})", "square": "({0} * {0})",
    "exp2": "(2.0 ** {0})", "power": "({0} ** {1})", "divide": "({0} / {1})", "true_divide": "({0} / {1})",
    "isnan": "{m}.isnan({0})", "isinf": "{m}.isinf({0})", "isfinite": "{m}.isfinite({0})",
    "reciprocal": "(1.0 / {0})",
    "sign": "(1.0 if {0} > 0 else (-1.0 if {0} < 0 else {0}))",
    "cbrt": "{m}.copysign(abs({0}) ** (1.0 / 3.0), {0})", "positive": "(+{0})",
    "add": "({0} + {1})", "subtract": "({0} - {1})", "multiply": "({0} * {1})", "mod": "({0} % {1})",
    "fmod": "{m}.fmod({0}, {1})",
    "logaddexp": "(({0} if {0} > {1} else {1}) + {m}.log1p({m}.exp(-abs({0} - {1}))))",
    "logaddexp2": "(({0} if {0} > {1} else {1}) + {m}.log1p(2.0 ** -abs({0} - {1})) / {m}.log(2.0))",
    "floor": "float({m}.floor({0}))", "ceil": "float({m}.ceil({0}))", "trunc": "float({m}.trunc({0}))",
    "rint": "float(round({0}))",  # both round half to even
    "clip": "({2} if {2} < ({1} if {1} > {0} else {0}) else ({1} if {1} > {0} else {0}))",  # min(max(x, lo), hi)
}
_MATH_CALLS = {"cbrt": _SCALAR_CALLS["cbrt"], "exp2": _SCALAR_CALLS["exp2"]}  # math functions the target lacks
_FLOAT_ONLY = {"reciprocal", "sign", "cbrt", "mod"}   # their integer versions differ from these expressions
_BUILTINS = {"max": "({1} if {1} > {0} else {0})", "min": "({1} if {1} < {0} else {0})"}  # Python's choice on ties


def _numpy_call(node, function):
    """The NumPy function name of ``np.name(...)`` (with ``np`` the generated module's NumPy), or None."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
            isinstance(node.func.value, ast.Name) and function.__globals__.get(node.func.value.id) is np and \
            not node.keywords:
        return node.func.attr
    return None


def _math_call(node, function):
    """The name of ``math.name(...)`` for a math function the CUDA target lacks, or None."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
            isinstance(node.func.value, ast.Name) and function.__globals__.get(node.func.value.id) is math and \
            node.func.attr in _MATH_CALLS and not node.keywords:
        return node.func.attr
    return None


def _replaceable(node, function):
    name = _numpy_call(node, function)
    if name == "shape" or name in _SCALAR_CALLS or _math_call(node, function):
        return True
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _BUILTINS and \
        function.__globals__.get(node.func.id, getattr(builtins, node.func.id)) is getattr(builtins, node.func.id)


def _kinds(typemap):
    """Variable -> "float", "int", "bool" or "array" (or "other"), over all its SSA versions."""
    kinds = {}
    for variable, type_ in typemap.items():
        base = _SSA.match(variable).group(1)
        if isinstance(type_, types.Boolean):
            kind = "bool"
        elif isinstance(type_, types.Integer):
            kind = "int"
        elif isinstance(type_, types.Float):
            kind = "float"
        elif isinstance(type_, types.Array):
            kind = "array"
        else:
            kind = "other"
        if kinds.get(base, kind) != kind:
            kind = "other" if "array" in (kind, kinds[base]) or "other" in (kind, kinds[base]) else "float"
        kinds[base] = kind
    return kinds


class _DeviceCalls(ast.NodeTransformer):
    """Replaces, in an expression, the calls the CUDA target cannot compile (and pops taken into temporaries)."""

    def __init__(self, function, kinds, math_name):
        self.function = function
        self.kinds = kinds
        self.math_name = math_name
        self.used_math = False
        self.replaced = 0

    def rewrite(self, node):
        """``node`` with its calls replaced, and whether any was."""
        before = self.replaced
        node = self.visit(node)
        return node, self.replaced != before

    def visit_Call(self, node):
        popped = getattr(node, "__tangent2_popped__", None)
        if popped is not None:
            return ast.Name(id=popped, ctx=ast.Load())
        self.generic_visit(node)
        name = _numpy_call(node, self.function)
        replaced = None
        if name == "shape" and len(node.args) == 1 and self._kind(node.args[0]) == "array":
            replaced = ast.Attribute(value=node.args[0], attr="shape", ctx=ast.Load())
        elif name in _SCALAR_CALLS and self._scalars(node.args, name in _FLOAT_ONLY):
            replaced = self._expression(_SCALAR_CALLS[name], node.args)
        elif _math_call(node, self.function) and self._scalars(node.args, False):
            replaced = self._expression(_MATH_CALLS[node.func.attr], node.args)
        elif isinstance(node.func, ast.Name) and node.func.id in _BUILTINS and len(node.args) == 2 and \
                _replaceable(node, self.function) and self._scalars(node.args, False):
            replaced = self._expression(_BUILTINS[node.func.id], node.args)
        if replaced is None:
            return node
        self.replaced += 1
        return ast.copy_location(replaced, node)

    def _expression(self, template, args):
        if len(args) != len(set(re.findall(r"\{(\d)\}", template))):
            return None
        if "{m}" in template:
            self.used_math = True
        text = template.format(*[ast.unparse(a) if isinstance(a, (ast.Name, ast.Constant)) else f"({ast.unparse(a)})"
                                 for a in args], m=self.math_name)
        return ast.parse(text, mode="eval").body

    def _scalars(self, args, floats_only):
        kinds = [self._kind(a) for a in args]
        return all(k == "float" for k in kinds) if floats_only else all(k in ("float", "int", "bool") for k in kinds)

    def _kind(self, node):
        """What an expression holds, as far as its names' types and its form tell."""
        if isinstance(node, ast.Name):
            return self.kinds.get(node.id, "other")
        if isinstance(node, ast.Constant):
            value = node.value
            return "bool" if isinstance(value, bool) else "int" if isinstance(value, int) else \
                "float" if isinstance(value, float) else "other"
        if isinstance(node, ast.UnaryOp):
            return "bool" if isinstance(node.op, ast.Not) else self._kind(node.operand)
        if isinstance(node, ast.BinOp):
            kinds = {self._kind(node.left), self._kind(node.right)}
            if kinds <= {"int", "bool"}:
                return "float" if isinstance(node.op, ast.Div) else "int"
            return "float" if kinds <= {"float", "int", "bool"} else "other"
        if isinstance(node, (ast.Compare, ast.BoolOp)):
            return "bool" if all(self._kind(n) != "array" and self._kind(n) != "other"
                                 for n in ast.walk(node) if isinstance(n, ast.Name)) else "other"
        if isinstance(node, ast.IfExp):
            kinds = {self._kind(node.body), self._kind(node.orelse)}
            return kinds.pop() if len(kinds) == 1 else "float" if kinds <= {"float", "int"} else "other"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "abs" and node.args:
            return self._kind(node.args[0])
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                isinstance(node.func.value, ast.Name) and node.func.value.id == self.math_name:
            return "bool" if node.func.attr.startswith("is") else "float"
        return "other"


def _load(source, function, extra):
    from tangent2 import codegen
    path = codegen.write_source(source)
    namespace = dict(function.__globals__)
    namespace.pop("__name__", None)  # a module name of its own (give_module), not the original's
    namespace.update(extra)
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
    """Replacement lines for the statements that touch stacks or make such calls; collects the returns."""

    def __init__(self, per_stack, thread, names, function, calls):
        self.per_stack = per_stack
        self.thread = thread
        self.names = names
        self.function = function
        self.calls = calls
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
        if isinstance(stmt, ast.Expr) and _method(stmt.value, "append") in self.per_stack:
            value, _ = self.calls.rewrite(stmt.value.args[0])
            return lines + self.push(stmt.value.func.value.id, ast.unparse(value))
        if self._pushes(stmt):
            self._unsupported(stmt)
        stmt, changed = self.calls.rewrite(stmt)
        return lines + [ast.unparse(stmt)] if pops or changed else None

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


__all__ = ["DeviceFunction", "device_function"]
