"""Normalize: a resolved function -> core form (see tangent2/ir.py).

One operation per statement, operands atoms; method calls and attributes
become NumPy calls; augmented assignment, tuple packing and unpacking,
comprehensions over static sequences, lambdas, nested functions and calls to
user functions are desugared (user functions and lambdas are inlined); tuples,
lists, dicts and namedtuples whose structure is known while compiling are
tracked statically; ``return``, ``break`` and ``continue`` are lowered to flags
so that every function and loop body has a single exit.
"""
import builtins
import functools
import math
import types

import gast
import numpy as np

from tangent2 import ir, runtime
from tangent2.errors import UnsupportedSyntax
from tangent2.frontend.aliasing import is_generated
from tangent2.frontend.parse import parse
from tangent2.frontend.resolve import local_names, location, resolve

_UNSUPPORTED_STATEMENTS = {
    gast.ClassDef: "class definition", gast.Try: "try statement", gast.With: "with statement",
    gast.AsyncWith: "async with statement", gast.Global: "global statement",
    gast.Nonlocal: "nonlocal statement", gast.Raise: "raise statement", gast.Delete: "del statement",
    gast.Import: "import statement", gast.ImportFrom: "import statement",
    gast.AsyncFunctionDef: "async function", gast.AsyncFor: "async for loop",
}
_UNSUPPORTED_EXPRESSIONS = {
    gast.Yield: "yield", gast.YieldFrom: "yield from", gast.Await: "await",
    gast.Starred: "starred argument (*args)", gast.JoinedStr: "f-string", gast.SetComp: "set comprehension",
    gast.Set: "set literal", gast.NamedExpr: "assignment expression (:=)",
}
if hasattr(gast, "Match"):
    _UNSUPPORTED_STATEMENTS[gast.Match] = "match statement"

# Array methods and attributes, spelled as the NumPy functions they are.
_METHODS = {
    "sum": np.sum, "mean": np.mean, "prod": np.prod, "max": np.max, "min": np.min,
    "cumsum": np.cumsum, "dot": np.dot, "transpose": np.transpose, "ravel": np.ravel,
    "flatten": np.ravel, "squeeze": np.squeeze, "clip": np.clip, "copy": np.copy,
    "argmax": np.argmax, "argmin": np.argmin, "all": np.all, "any": np.any,
    "reshape": np.reshape, "trace": np.trace, "round": np.round,
}
_ATTRIBUTES = {"T": np.transpose, "shape": np.shape, "ndim": np.ndim, "size": np.size, "real": np.real,
               "imag": np.imag}
_NUMBERS = (bool, int, float, complex, np.number, np.bool_)
_UNROLL_LIMIT = 256


class Static:
    """A value whose structure is known while compiling."""


class StaticSeq(Static):
    def __init__(self, items, kind=tuple):
        self.items = list(items)
        self.kind = kind  # tuple, list, or a namedtuple class


class StaticDict(Static):
    def __init__(self, keys, values):
        self.keys = list(keys)
        self.values = list(values)

    def get(self, key):
        return self.values[self.keys.index(key)]


class StaticObject(Static):
    """A global that is not data: a module, a function, a class; ``ref`` is how code names it."""

    def __init__(self, value, ref):
        self.value = value
        self.ref = ref


class LocalFunction(Static):
    """A lambda or nested def, inlined where it is called, seeing its defining frame."""

    def __init__(self, node, frame):
        self.node = node
        self.frame = frame


class Transformed(Static):
    """``tg.grad(f, ...)`` (or another transformation) evaluated while compiling.

    ``derivative`` is the Derivative object; ``extra`` are the values of the
    closure variables its target was lifted over, passed after the call's
    own arguments.
    """

    def __init__(self, derivative, extra):
        self.derivative = derivative
        self.extra = extra

    def call(self, normalizer, node, frame):
        args, _ = normalizer._call_arguments(node, frame, materialize=False)
        return normalizer._call_derivative(self.derivative, list(args), self.extra, node, frame)


class Unmergeable(Static):
    """A name the branches of an if bound to values of different structures: an error if it is read later."""

    def __init__(self, error):
        self.error = error


class Pullback(Static):
    """The pullback returned by ``tg.vjp`` inside differentiated code."""

    def __init__(self, derivative, primals, extra):
        self.derivative = derivative
        self.primals = primals
        self.extra = extra

    def call(self, normalizer, node, frame):
        args, _ = normalizer._call_arguments(node, frame, materialize=False)
        cotangent = args[0]
        if len(self.primals) == 1 and not isinstance(self.primals[0], Static) \
                and not isinstance(cotangent, Static) and not hasattr(self.derivative.target, "kind"):
            # A VJP is the gradient of <cotangent, f>: differentiated again, by forward over reverse.
            from tangent2.derivative import Derivative
            objective = _vjp_objective(self.derivative.target, len(self.extra))
            gradient = Derivative(objective, "grad", 0)
            args = [self.primals[0]] + list(self.extra) + [cotangent]
            example = tuple(_example(a) for a in args)
            if normalizer.switches(gradient, example):
                return StaticSeq([normalizer._switched_gradient(gradient, example, args, frame, node)])
        return normalizer._call_derivative(self.derivative, self.primals, self.extra, node, frame, seed=cotangent)


@functools.lru_cache(maxsize=None)
def _vjp_objective(target, extra_count):
    """``def f_vjp_objective(x, *extra, cotangent): return np.sum(cotangent * f(x, *extra))``."""
    from tangent2 import codegen
    extra = [f"extra_{i}" for i in range(extra_count)]
    params = ", ".join(["x"] + extra + ["cotangent"])
    call = ", ".join(["x"] + extra)
    name = getattr(target, "__name__", "f")
    name = name if name.isidentifier() else "f"
    node = gast.parse(f"def {name}_vjp_objective({params}):\n"
                      f"    return np.sum(cotangent * target({call}))\n").body[0]
    node.namespace = {"np": np, "target": target}
    node.filename = None
    return codegen.emit(node)


class Frame:
    """The naming context of one function body being normalized (the user's or an inlined one)."""

    def __init__(self, node, namespace, parent=None, prefix=""):
        self.node = node
        self.namespace = namespace
        self.parent = parent
        self.locals = local_names(node)
        self.rename = {}
        self.static = {}
        self.prefix = prefix


def normalize(node, arg_trees=None, mode_switching="auto"):
    """Normalize the resolved FunctionDef ``node``.

    ``arg_trees`` maps a parameter name to ``(treedef, leaf_names)`` when that
    argument is a tree: the parameter is replaced by one parameter per leaf.
    The result carries ``namespace`` (emitted global name -> object),
    ``params`` (the flat parameter names) and ``output`` (the returned atoms
    as a static structure).
    """
    return _Normalizer(node, mode_switching).run(arg_trees or {})


# Calls that may return a view of their first argument (writing into the result writes into it).
_VIEWS = {"transpose", "reshape", "ravel", "squeeze", "expand_dims", "swapaxes", "moveaxis", "broadcast_to",
          "asarray", "diagonal", "T", "real", "imag", "flat", "view"}


def resolve_aliases(node):
    """Make writes through a second name for an array exact, or reject them.

    ``z = y`` followed by ``z[i] = v`` writes into ``y`` as well.  When both
    names are assigned once, ``z`` is renamed ``y``; otherwise, and for
    writes into views (slices, ``.T``, ``reshape``, loop rows), tangent2 would
    track the two names separately and differentiate wrongly, so it raises
    UnsupportedSyntax asking for a ``.copy()``.
    """
    if is_generated(node):
        return node  # generated code copies before it writes
    written = _written_names(node)
    if not written:
        return node
    counts = _assignment_counts(node)
    renames = {}
    for child in gast.walk(node):
        if isinstance(child, gast.Assign) and len(child.targets) == 1 and isinstance(child.targets[0], gast.Name):
            target, value = child.targets[0].id, child.value
            if isinstance(value, gast.Name) and (target in written or value.id in written):
                if counts.get(target, 0) == 1 and counts.get(value.id, 0) <= 1:
                    renames[target] = value.id
                    continue
                raise UnsupportedSyntax(
                    f"'{target}' and '{value.id}' name the same array, which is written into, and one of them is "
                    f"assigned again: tangent2 cannot follow the aliasing; write {target} = {value.id}.copy()",
                    location(node, child))
            if target in written and _is_view(value):
                raise UnsupportedSyntax(
                    f"'{target}' may be a view of another array (a slice, .T, reshape, ...), and it is written "
                    f"into: tangent2 would differentiate the two separately; take a copy first "
                    f"({target} = ....copy())", location(node, child))
        elif isinstance(child, gast.For) and isinstance(child.target, gast.Name) and child.target.id in written \
                and not _is_range(child.iter):
            raise UnsupportedSyntax(f"'{child.target.id}' is a row of the array being iterated over and it is "
                                    f"written into; copy it first ({child.target.id} = {child.target.id}.copy())",
                                    location(node, child))
    if not renames:
        return node
    import copy as copying
    renamed = copying.deepcopy(node, {id(v): v for k, v in vars(node).items() if k not in gast.FunctionDef._fields})

    def final(name):
        while name in renames:
            name = renames[name]
        return name

    class Rename(gast.NodeTransformer):
        def visit_Assign(self, assign):
            self.generic_visit(assign)
            target = assign.targets[0]
            if isinstance(target, gast.Name) and isinstance(assign.value, gast.Name) \
                    and final(target.id) == assign.value.id:
                return None  # the alias itself
            return assign

        def visit_Name(self, name):
            if name.id in renames:
                name.id = final(name.id)
            return name

    return Rename().visit(renamed)


def _written_names(node):
    names = set()
    for child in gast.walk(node):
        targets = child.targets if isinstance(child, gast.Assign) else [child.target] \
            if isinstance(child, (gast.AugAssign, gast.AnnAssign)) else []
        for target in targets:
            if isinstance(target, gast.Subscript):
                while isinstance(target, gast.Subscript):
                    target = target.value
                if isinstance(target, gast.Name):
                    names.add(target.id)
    return names


def _assignment_counts(node):
    counts = {a.id: 1 for a in node.args.args}
    for child in gast.walk(node):
        if isinstance(child, gast.Name) and isinstance(child.ctx, gast.Store):
            counts[child.id] = counts.get(child.id, 0) + 1
    return counts


def _is_view(value):
    if isinstance(value, gast.Subscript):
        return True
    if isinstance(value, gast.Attribute):
        return value.attr in _VIEWS
    if isinstance(value, gast.Call):
        func = value.func
        return isinstance(func, gast.Attribute) and func.attr in _VIEWS or \
            isinstance(func, gast.Name) and func.id in _VIEWS
    return False


def _is_range(iterable):
    return isinstance(iterable, gast.Call) and isinstance(iterable.func, gast.Name) and iterable.func.id == "range"


def check_signature(node):
    """Raise UnsupportedSyntax for parameters tangent2 cannot bind (*args, **kwargs, ...)."""
    args = node.args
    if args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs:
        raise UnsupportedSyntax("*args, **kwargs, keyword-only and positional-only parameters are not supported",
                                location(node, node))


class _Normalizer:
    def __init__(self, node, mode_switching):
        self.root = node
        self.mode_switching = mode_switching
        self.namer = ir.Namer(ir.all_names(node) | set(node.namespace))
        self.namespace_out = {}
        self.global_names = {}  # (frame id, global name) -> emitted name
        self.blocks = []
        self.origin = None
        self.inlining = [node.source_function] if hasattr(node, "source_function") else []
        self.runtime_lists = set()  # names bound to lists built at run time (stacks of generated code)
        self.list_receivers = set()  # ids of the Name nodes receiving .append() / .pop(): the uses lists allow
        self.static_reads = []  # one record per runtime loop being normalized (see _track_static_reads)
        self.carried = {}  # (id(frame), name) -> the static tree a runtime loop carries in variables (_carry_statics)
        self.loop_depth = 0

    # ----------------------------------------------------------------- driver
    def run(self, arg_trees):
        node = self.root = resolve_aliases(self.root)
        self._check_arguments(node)
        frame = Frame(node, node.namespace)
        params = []
        for arg in node.args.args:
            self.namer.reserve([arg.id])
            frame.rename[arg.id] = arg.id
            if arg.id in arg_trees:
                structure = arg_trees[arg.id]
                frame.static[arg.id] = structure
                params.extend(_leaf_names(structure))
            else:
                params.append(arg.id)
        defaults = self._defaults(node)
        body = self._block(node.body, frame, _mutated_params(node))
        result, body = self._lower_function_returns(body, frame, node, at_top=True)
        new = gast.FunctionDef(name=node.name, args=_arguments(params, defaults), body=body,
                               decorator_list=[], returns=None, type_comment=None, type_params=[])
        gast.copy_location(new, node)
        new.filename = node.filename
        new.source_lines = node.source_lines
        new.namespace = self.namespace_out
        new.params = params
        new.output = result
        return new

    def _check_arguments(self, node):
        check_signature(node)

    def _defaults(self, node):
        values = []
        for default in node.args.defaults:
            value = self._static_value(default, node)
            values.append(ir.const(value))
        return values

    def _static_value(self, expr, node):
        try:
            value = eval(compile(gast.gast_to_ast(gast.Expression(body=expr)), "<default>", "eval"),
                         dict(node.namespace))
        except Exception:
            raise UnsupportedSyntax("default values must be constants", location(node, expr)) from None
        if not isinstance(value, _NUMBERS + (str, type(None))):
            raise UnsupportedSyntax("default values must be numbers, strings or None", location(node, expr))
        return value

    # ---------------------------------------------------------------- emitting
    def emit(self, stmt):
        stmt.origin = getattr(stmt, "origin", None) or self.origin
        self.blocks[-1].append(stmt)

    def _block(self, stmts, frame, mutated_params=()):
        self.blocks.append([])
        for name in mutated_params:
            # Writing into an argument must not change the caller's array; a number stays a number (np.copy
            # would make it a 0-d array, which v = s; v -= ... would then change in place).
            self.origin = location(frame.node, frame.node)
            local = self._local_name(name, frame)  # an inlined function's parameter is renamed
            self.emit(ir.assign(local, ir.call(self._global_ref(runtime.saved, frame), [ir.load(local)])))
        for stmt in stmts:
            self.origin = location(frame.node, stmt)
            self._statement(stmt, frame)
        return self.blocks.pop()

    def error(self, message, node, frame):
        return UnsupportedSyntax(message, location(frame.node, node))

    def fresh(self, base="_t"):
        return self.namer.fresh(base)

    def to_atom(self, value, frame, base="_t"):
        """Make ``value`` an atom (or static), emitting a temporary for an operation."""
        if isinstance(value, Static) or ir.is_atom(value):
            return value
        name = self.fresh(base)
        self.emit(ir.assign(name, value))
        return ir.load(name)

    def materialize(self, value, frame, node):
        """A runtime atom for ``value``: static sequences become tuple literals."""
        if isinstance(value, StaticSeq):
            return ir.tuple_([self.materialize(v, frame, node) for v in value.items])
        if isinstance(value, StaticObject):
            if isinstance(value.value, (type, np.dtype)) or value.value is None:
                return value.ref
            raise self.error(f"{_describe(value.value)} cannot be used as a value here", node, frame)
        if isinstance(value, Static):
            raise self.error("a dict or function cannot be used as an array value here", node, frame)
        return value

    def atom(self, node, frame):
        value = self.expr(node, frame)
        if isinstance(value, Static):
            return value
        return self.to_atom(value, frame)

    def runtime_atom(self, node, frame):
        return self.materialize(self.atom(node, frame), frame, node)

    # -------------------------------------------------------------- statements
    def _statement(self, stmt, frame):
        kind = type(stmt)
        if kind in _UNSUPPORTED_STATEMENTS:
            raise self.error(f"{_UNSUPPORTED_STATEMENTS[kind]} is not supported in differentiated code", stmt, frame)
        handler = getattr(self, "_stmt_" + kind.__name__, None)
        if handler is None:
            raise self.error(f"{kind.__name__} statement is not supported in differentiated code", stmt, frame)
        handler(stmt, frame)

    def _stmt_Pass(self, stmt, frame):
        pass

    def _stmt_Break(self, stmt, frame):
        if not self.loop_depth:
            raise self.error("break outside a loop", stmt, frame)
        self.emit(gast.Break())

    def _stmt_Continue(self, stmt, frame):
        if not self.loop_depth:
            raise self.error("continue outside a loop", stmt, frame)
        self.emit(gast.Continue())

    def _stmt_Assert(self, stmt, frame):
        pass  # assertions check inputs; they have no derivative

    def _stmt_Expr(self, stmt, frame):
        if isinstance(stmt.value, gast.Constant):
            return  # docstring
        value = self.expr(stmt.value, frame)
        if value is not None and not isinstance(value, Static) and not ir.is_atom(value):
            self.emit(ir.expr_stmt(value))

    def _stmt_FunctionDef(self, stmt, frame):
        if stmt.decorator_list:
            raise self.error("decorated nested functions are not supported", stmt, frame)
        frame.static[stmt.name] = LocalFunction(stmt, frame)

    def _stmt_Assign(self, stmt, frame):
        value = self.expr(stmt.value, frame)
        if len(stmt.targets) > 1:
            value = self.to_atom(value, frame)
        for target in stmt.targets:
            self._bind(target, value, frame)

    def _stmt_AnnAssign(self, stmt, frame):
        if stmt.value is not None:
            self._bind(stmt.target, self.expr(stmt.value, frame), frame)

    def _stmt_AugAssign(self, stmt, frame):
        target = stmt.target
        if isinstance(target, gast.Name):
            current = self.expr(gast.copy_location(ir.load(target.id), target), frame)
            if isinstance(current, Static):
                raise self.error("augmented assignment to a tuple, list or dict is not supported", stmt, frame)
            operand = self.runtime_atom(stmt.value, frame)
            self._bind(target, gast.BinOp(left=current, op=stmt.op, right=operand), frame)
            self.blocks[-1][-1].in_place = True  # on an array, NumPy writes into it (see aliasing.py)
        elif isinstance(target, gast.Subscript):
            array = self._subscript_base(target, frame)
            index = self._index(target.slice, frame)
            old = self.to_atom(gast.Subscript(value=array, slice=index, ctx=gast.Load()), frame)
            operand = self.runtime_atom(stmt.value, frame)
            new = self.to_atom(gast.BinOp(left=old, op=stmt.op, right=operand), frame)
            self.emit(ir.assign(gast.Subscript(value=array, slice=_copy_index(index), ctx=gast.Store()), new))
        else:
            raise self.error("augmented assignment to an attribute is not supported", stmt, frame)

    def _bind(self, target, value, frame):
        """Assign ``value`` (operation, atom or static) to ``target``."""
        if isinstance(target, gast.Name):
            if isinstance(value, Static):
                if not self._rebind_carried(target.id, value, frame):
                    frame.static[target.id] = self._snapshot(value, frame)
                return
            frame.static.pop(target.id, None)
            name = self._local_name(target.id, frame)
            if isinstance(value, gast.List):
                self.runtime_lists.add(name)
            else:
                self.runtime_lists.discard(name)
            self.emit(ir.assign(name, value))
        elif isinstance(target, (gast.Tuple, gast.List)):
            self._unpack(target, value, frame)
        elif isinstance(target, gast.Subscript):
            array = self._subscript_base(target, frame)
            index = self._index(target.slice, frame)
            value = self.materialize(self.to_atom(value, frame), frame, target)
            self.emit(ir.assign(gast.Subscript(value=array, slice=index, ctx=gast.Store()), value))
        else:
            raise self.error(f"assignment to {type(target).__name__} is not supported", target, frame)

    def _bind_item(self, target, item, frame):
        """Bind an item of a loop or comprehension that is unrolled: a constant (a dict key, an index of
        enumerate) stays known while compiling, so that it can index tuples and dicts (d[k], t[i])."""
        if isinstance(target, gast.Name) and isinstance(item, gast.Constant):
            frame.static[target.id] = item
        elif isinstance(target, (gast.Tuple, gast.List)) and isinstance(item, StaticSeq) \
                and len(item.items) == len(target.elts) and not any(isinstance(t, gast.Starred) for t in target.elts):
            for sub_target, sub_item in zip(target.elts, item.items):
                self._bind_item(sub_target, sub_item, frame)
        else:
            self._bind(target, item, frame)

    def _subscript_base(self, target, frame):
        base = target.value
        if not isinstance(base, gast.Name) or base.id not in frame.locals:
            raise self.error("only local arrays can be assigned into (x[i] = ...)", target, frame)
        if base.id in frame.static:
            raise self.error("assigning into a tuple, list or dict element is not supported", target, frame)
        return ir.load(self._local_name(base.id, frame))

    def _unpack(self, target, value, frame):
        count = len(target.elts)
        if any(isinstance(t, gast.Starred) for t in target.elts):
            raise self.error("starred unpacking (a, *b = ...) is not supported", target, frame)
        if isinstance(value, StaticSeq):
            if len(value.items) != count:
                raise self.error(f"cannot unpack {len(value.items)} values into {count} names", target, frame)
            items = [self._snapshot(v, frame) for v in value.items]
        elif isinstance(value, Static):
            raise self.error("cannot unpack this value", target, frame)
        else:
            whole = self.to_atom(value, frame)
            items = [self.to_atom(gast.Subscript(value=whole, slice=ir.const(i), ctx=gast.Load()), frame)
                     for i in range(count)]
        for sub_target, item in zip(target.elts, items):
            self._bind(sub_target, item, frame)

    def _snapshot(self, value, frame):
        """Copy the local variables a static structure refers to, so later assignments cannot change it."""
        if isinstance(value, gast.Name) and self._is_local_variable(value.id):
            name = self.fresh("_" + value.id.lstrip("_"))
            self.emit(ir.assign(name, value))
            return ir.load(name)
        if isinstance(value, StaticSeq):
            return StaticSeq([self._snapshot(v, frame) for v in value.items], value.kind)
        if isinstance(value, StaticDict):
            return StaticDict(value.keys, [self._snapshot(v, frame) for v in value.values])
        return value

    def _is_local_variable(self, name):
        return name not in self.namespace_out

    def _local_name(self, name, frame):
        if name not in frame.rename:
            frame.rename[name] = name if not frame.prefix else self.fresh(name)
        return frame.rename[name]

    def _stmt_If(self, stmt, frame):
        test = self.expr(stmt.test, frame)
        if isinstance(test, Static) or isinstance(test, gast.Constant):
            truth = _static_truth(test)
            for s in (stmt.body if truth else stmt.orelse):
                self.origin = location(frame.node, s)
                self._statement(s, frame)
            return
        test = self.to_atom(test, frame)
        before = dict(frame.static)
        body = self._block(stmt.body, frame)
        after_body, frame.static = frame.static, dict(before)
        orelse = self._block(stmt.orelse, frame)
        frame.static = self._merge_static(after_body, frame.static, stmt, frame)
        self.origin = location(frame.node, stmt)
        self.emit(ir.if_(test, body, orelse))

    def _merge_static(self, left, right, stmt, frame):
        merged = {}
        for name in set(left) | set(right):
            if left.get(name) is right.get(name):
                merged[name] = left[name]
            elif name in left and name in right and _same_structure(left[name], right[name]):
                merged[name] = self._join_static(left[name], right[name], stmt, frame)
            else:
                merged[name] = Unmergeable(self.error(
                    f"'{name}' is bound to differently structured values in the branches of this if, and read "
                    f"after it", stmt, frame))
        return merged

    def _join_static(self, left, right, stmt, frame):
        return Unmergeable(self.error(
            "tuples assigned in both branches of an if are not supported; assign their elements", stmt, frame))

    def _stmt_For(self, stmt, frame):
        if stmt.orelse:
            raise self.error("for ... else is not supported", stmt, frame)
        iterable = stmt.iter
        if _is_call_to(iterable, frame, self, builtins.range):
            self._range_loop(stmt, frame)
            return
        # Python iterates over the values bound before the loop, whatever the body rebinds.
        value = self._snapshot(self.expr(iterable, frame), frame)
        if isinstance(value, StaticSeq):
            self._unrolled_loop(stmt, value.items, frame)
        elif isinstance(value, StaticDict):
            self._unrolled_loop(stmt, [ir.const(k) for k in value.keys], frame)
        elif isinstance(value, Static):
            raise self.error("cannot iterate over this value", stmt, frame)
        else:
            array = self.to_atom(value, frame)
            length = self.to_atom(ir.call(self._global_ref(len, frame), [array]), frame, "_n")
            index = self.fresh("_i")
            element = gast.Subscript(value=array, slice=ir.load(index), ctx=gast.Load())
            self._loop_over_range(stmt, frame, index, [length],
                                  lambda: self._bind(stmt.target, element, frame))

    def _range_loop(self, stmt, frame):
        args = [self.runtime_atom(a, frame) for a in stmt.iter.args]
        if not isinstance(stmt.target, gast.Name):
            raise self.error("a range loop must have a single loop variable", stmt, frame)
        if stmt.target.id in frame.static:
            del frame.static[stmt.target.id]
        index = self._local_name(stmt.target.id, frame)
        self._loop_over_range(stmt, frame, index, args, None)

    def _loop_over_range(self, stmt, frame, index, range_args, bind_target):
        carried = self._carry_statics(stmt, frame)
        self.loop_depth += 1
        self.blocks.append([])
        reads = self._track_static_reads(frame)
        if bind_target:
            bind_target()
        body = self._block(stmt.body, frame)
        self._check_loop_carried_statics(reads, stmt, frame)
        self._release_statics(carried)
        body = self.blocks.pop() + body
        self.loop_depth -= 1
        self.origin = location(frame.node, stmt)
        loop = ir.for_range(index, range_args, [], origin=self.origin)
        self._finish_loop(loop, body, stmt, frame)

    def _carry_statics(self, stmt, frame):
        """Tuples, lists and dicts of arrays and numbers bound before a runtime loop and rebound in its body
        (params = tuple(p - lr * g for ...)) become one variable per leaf, carried from one iteration to the
        next (params_0, params_1, ...): the body is normalized once, and while each rebinding keeps the
        structure it assigns these variables (_rebind_carried).  Returns the keys of self.carried added."""
        added = []
        for name in sorted(ir.assigned_names(stmt.body)):
            key = (id(frame), name)
            value = frame.static.get(name)
            if key in self.carried or not _is_runtime_tree(value):
                continue
            tree = self._carried_tree(value, name)
            for variable, leaf in zip(_leaves(tree), _leaves(value)):
                self.emit(ir.assign(variable.id, _atom_copy(leaf)))
            frame.static[name] = self.carried[key] = tree
            added.append(key)
        return added

    def _carried_tree(self, value, base):
        if isinstance(value, StaticSeq):
            return StaticSeq([self._carried_tree(v, f"{base}_{i}") for i, v in enumerate(value.items)], value.kind)
        if isinstance(value, StaticDict):
            return StaticDict(value.keys, [self._carried_tree(v, f"{base}_{k}" if str(k).isidentifier() else
                                                              f"{base}_{i}")
                                           for i, (k, v) in enumerate(zip(value.keys, value.values))])
        return ir.load(self.fresh(base))

    def _rebind_carried(self, name, value, frame):
        """``name = value`` inside a loop carrying ``name`` (_carry_statics): assign its variables and return
        True when ``value`` has the same structure; otherwise the loop stops carrying it (False), and a read
        of it in the loop is rejected (_check_loop_carried_statics)."""
        key = (id(frame), name)
        tree = self.carried.get(key)
        if tree is None:
            return False
        if not (_is_runtime_tree(value) and _same_structure(value, tree)):
            del self.carried[key]
            return False
        variables = [leaf.id for leaf in _leaves(tree)]
        leaves = []
        for position, leaf in enumerate(_leaves(value)):
            if isinstance(leaf, gast.Name) and leaf.id in variables[:position]:
                leaf = self._snapshot(leaf, frame)  # params = (params[1], params[0]): assigned before it is read
            leaves.append(leaf)
        for variable, leaf in zip(variables, leaves):
            if not (isinstance(leaf, gast.Name) and leaf.id == variable):
                self.emit(ir.assign(variable, _atom_copy(leaf)))
        frame.static[name] = tree
        return True

    def _release_statics(self, keys):
        for key in keys:
            self.carried.pop(key, None)

    def _track_static_reads(self, frame):
        """Start recording which static values bound before a loop (tuples, lists, dicts, functions) its
        body reads: (frame, the bindings before the loop, the names read)."""
        reads = (frame, dict(frame.static), set())
        self.static_reads.append(reads)
        return reads

    def _stop_tracking_static_reads(self, reads):
        # by identity: the records of nested loops compare equal while they hold the same bindings and names
        self.static_reads[:] = [record for record in self.static_reads if record is not reads]

    def _check_loop_carried_statics(self, reads, stmt, frame):
        """A loop body is normalized once, so a static value it reads must be the same in every iteration."""
        self._stop_tracking_static_reads(reads)
        _, before, names = reads
        carried = sorted(name for name in names if frame.static.get(name) is not before[name])
        if carried:
            raise self.error(
                f"'{carried[0]}' (a tuple, list, dict or function) is read in this loop and rebound in it: its "
                f"structure is fixed while compiling, so it cannot change from one iteration to the next; use an "
                f"array (out = np.zeros((n,) + x.shape); out[i] = ...) or separate variables", stmt, frame)

    def _unrolled_loop(self, stmt, items, frame):
        if any(isinstance(n, (gast.Break, gast.Continue, gast.Return)) for n in gast.walk(stmt)):
            raise self.error("break, continue and return inside a loop over a tuple or list are not supported",
                             stmt, frame)
        for item in items:
            self.origin = location(frame.node, stmt)
            self._bind_item(stmt.target, item, frame)
            for s in stmt.body:
                self.origin = location(frame.node, s)
                self._statement(s, frame)

    def _stmt_While(self, stmt, frame):
        if stmt.orelse:
            raise self.error("while ... else is not supported", stmt, frame)
        carried = self._carry_statics(stmt, frame)
        self.blocks.append([])
        reads = self._track_static_reads(frame)
        test = self.materialize(self.atom(stmt.test, frame), frame, stmt)
        recompute = self.blocks.pop()
        if isinstance(test, gast.Constant) and not test.value:
            self._stop_tracking_static_reads(reads)
            self._release_statics(carried)
            return
        for s in recompute:
            self.emit(s)
        self.loop_depth += 1
        body = self._block(stmt.body, frame)
        self._check_loop_carried_statics(reads, stmt, frame)
        self._release_statics(carried)
        self.loop_depth -= 1
        self.origin = location(frame.node, stmt)
        for s in _fresh_copies(recompute):
            s.origin = self.origin
            body.append(s)
        loop = ir.while_(test, [], origin=self.origin)
        self._finish_loop(loop, body, stmt, frame, condition_tail=len(recompute))

    def _finish_loop(self, loop, body, stmt, frame, condition_tail=0):
        tail = body[len(body) - condition_tail:] if condition_tail else []
        main = body[: len(body) - condition_tail] if condition_tail else body
        if _contains_jump(main, (gast.Break, gast.Continue, gast.Return)):
            live = self.fresh("_live")
            stop = self.fresh("_stop")
            main = _lower_jumps(main, live, stop, self.origin)
            main.insert(0, ir.assign(live, ir.const(True), self.origin))
            tail.append(ir.if_(ir.load(stop), [gast.Break()], origin=self.origin))
            self.emit(ir.assign(stop, ir.const(False)))
        loop.body = main + tail
        self.emit(loop)

    def _stmt_Return(self, stmt, frame):
        value = ir.const(None) if stmt.value is None else self.expr(stmt.value, frame)
        if not isinstance(value, Static):
            value = self.to_atom(value, frame)
        else:
            value = self._snapshot(value, frame)
        node = ir.return_(None)
        node.result = value
        self.emit(node)

    # ------------------------------------------------------------- returns
    def _lower_function_returns(self, body, frame, node, at_top):
        """Give the body a single exit; return (static result, body)."""
        returns = [s for s in ir.walk_statements(body) if isinstance(s, gast.Return)]
        if not returns:
            raise self.error("a differentiated function must return a value", node, frame)
        last = body[-1] if body else None
        if len(returns) == 1 and last is returns[0]:
            body.pop()
            result = last.result
        else:
            result = self._result_variables(returns[0].result, frame)
            for ret in returns:
                if not _same_structure(ret.result, returns[0].result):
                    raise self.error("all return statements must return the same structure", node, frame)
                ret.assignments = [ir.assign(t.id, v, ret.origin)
                                   for t, v in zip(_leaves(result), _leaves(ret.result))]
            live = self.fresh("_live")
            body = _lower_jumps(body, live, None, location(frame.node, node))
            body.insert(0, ir.assign(live, ir.const(True), location(frame.node, node)))
        if at_top:
            origin = returns[-1].origin if len(returns) == 1 else location(frame.node, node)
            body.append(ir.return_(self.materialize_output(result, frame, node), origin))
        return result, body

    def _result_variables(self, template, frame):
        if isinstance(template, StaticSeq):
            return StaticSeq([self._result_variables(v, frame) for v in template.items], template.kind)
        if isinstance(template, StaticDict):
            return StaticDict(template.keys, [self._result_variables(v, frame) for v in template.values])
        return ir.load(self.fresh("_result"))

    def materialize_output(self, result, frame, node):
        leaves = _leaves(result)
        if isinstance(result, Static):
            return ir.tuple_([self.materialize(v, frame, node) for v in leaves])
        return result

    # ------------------------------------------------------------ expressions
    def expr(self, node, frame):
        kind = type(node)
        if kind in _UNSUPPORTED_EXPRESSIONS:
            raise self.error(f"{_UNSUPPORTED_EXPRESSIONS[kind]} is not supported in differentiated code", node, frame)
        handler = getattr(self, "_expr_" + kind.__name__, None)
        if handler is None:
            raise self.error(f"{kind.__name__} expressions are not supported in differentiated code", node, frame)
        return handler(node, frame)

    def _expr_Constant(self, node, frame):
        return ir.const(node.value)

    def _expr_Name(self, node, frame):
        scope = frame
        while scope is not None:
            if node.id in scope.static:
                value = scope.static[node.id]
                if isinstance(value, Unmergeable):
                    raise value.error
                for loop_frame, before, names in self.static_reads:
                    if loop_frame is scope and before.get(node.id) is value:
                        names.add(node.id)
                return value
            if node.id in scope.locals:
                name = self._local_name(node.id, scope)
                if name in self.runtime_lists and id(node) not in self.list_receivers:
                    raise self.error(
                        f"'{node.id}' is a list built at run time (with .append()): it can only be appended to "
                        f"and popped from, not used as a value; preallocate an array (out = np.zeros((n,) + "
                        f"x.shape); out[i] = ...), accumulate a sum (total = total + ...), or build the list "
                        f"with a comprehension over a constant range ([... for i in range(n)])", node, frame)
                return ir.load(name)
            scope = scope.parent
        if node.id not in frame.namespace:
            raise self.error(f"name '{node.id}' is not defined", node, frame)
        return self._global(node.id, frame.namespace[node.id], frame)

    def _global(self, name, value, frame):
        if isinstance(value, _NUMBERS) or value is None:
            return ir.const(value.item() if isinstance(value, np.generic) else value)
        if isinstance(value, (tuple, list)) and _is_data_tree(value):
            return StaticSeq([self._global(f"{name}_{i}", v, frame) for i, v in enumerate(value)], type(value))
        if isinstance(value, dict) and _is_data_tree(value):
            return StaticDict(list(value), [self._global(f"{name}_{k}", v, frame) for k, v in value.items()])
        if isinstance(value, np.ndarray):
            return ir.load(self._bind_global(name, value))
        return StaticObject(value, ir.load(self._bind_global(name, value)))

    def _bind_global(self, name, value):
        for emitted, existing in self.namespace_out.items():
            if existing is value and (emitted == name or not isinstance(value, np.ndarray)):
                return emitted
        if self.namespace_out.get(name, value) is not value:
            name = self.namer.fresh(name)
        self.namer.reserve([name])
        self.namespace_out[name] = value
        return name

    def _global_ref(self, value, frame):
        """An expression naming the global object ``value`` (np.copy -> np.copy)."""
        module = _home_module(value)
        if module is not None:
            return ir.attr(ir.load(self._bind_global(module[0], module[1])), value.__name__)
        return ir.load(self._bind_global(getattr(value, "__name__", "_f"), value))

    def _expr_Attribute(self, node, frame):
        base = self.atom(node.value, frame)
        if isinstance(base, StaticObject):
            value = getattr(base.value, node.attr, _MISSING)
            if value is _MISSING:
                raise self.error(f"{_describe(base.value)} has no attribute '{node.attr}'", node, frame)
            if isinstance(value, _NUMBERS):
                return ir.const(value.item() if isinstance(value, np.generic) else value)
            if isinstance(value, np.ndarray):
                return ir.load(self._bind_global(node.attr, value))
            return StaticObject(value, ir.attr(base.ref, node.attr))
        if isinstance(base, StaticSeq) and _is_namedtuple(base.kind):
            return base.items[base.kind._fields.index(node.attr)]
        if isinstance(base, Static):
            raise self.error(f"attribute '{node.attr}' of this value is not supported", node, frame)
        if node.attr in _ATTRIBUTES:
            return ir.call(self._global_ref(_ATTRIBUTES[node.attr], frame), [base])
        if node.attr == "dtype":
            return gast.Attribute(value=base, attr=node.attr, ctx=gast.Load())
        raise self.error(f"array attribute '.{node.attr}' is not supported", node, frame)

    def _expr_BinOp(self, node, frame):
        left = self.atom(node.left, frame)
        right = self.atom(node.right, frame)
        if isinstance(left, StaticSeq) and isinstance(right, StaticSeq) and isinstance(node.op, gast.Add):
            return StaticSeq(left.items + right.items, left.kind)
        if isinstance(node.op, gast.Mult) and isinstance(left, StaticSeq) and isinstance(right, gast.Constant):
            return StaticSeq(left.items * right.value, left.kind)
        left = self.materialize(left, frame, node)
        right = self.materialize(right, frame, node)
        if isinstance(left, gast.Constant) and isinstance(right, gast.Constant):
            return ir.const(_fold(node.op, left.value, right.value))
        return gast.BinOp(left=left, op=node.op, right=right)

    def _expr_UnaryOp(self, node, frame):
        operand = self.runtime_atom(node.operand, frame)
        if isinstance(operand, gast.Constant) and isinstance(operand.value, _NUMBERS):
            return ir.const({gast.USub: lambda v: -v, gast.UAdd: lambda v: +v,
                             gast.Not: lambda v: not v, gast.Invert: lambda v: ~v}[type(node.op)](operand.value))
        return gast.UnaryOp(op=node.op, operand=operand)

    def _expr_BoolOp(self, node, frame):
        values = [self.runtime_atom(v, frame) for v in node.values]
        return gast.BoolOp(op=node.op, values=values)

    def _expr_Compare(self, node, frame):
        left = self.runtime_atom(node.left, frame)
        parts = []
        for op, comparator in zip(node.ops, node.comparators):
            right = self.runtime_atom(comparator, frame)
            if isinstance(op, (gast.Is, gast.IsNot)) and isinstance(left, gast.Constant) \
                    and isinstance(right, gast.Constant):
                parts.append(ir.const((left.value is right.value) == isinstance(op, gast.Is)))
            else:
                parts.append(gast.Compare(left=left, ops=[op], comparators=[right]))
            left = right
        if len(parts) == 1:
            return parts[0]
        return gast.BoolOp(op=gast.And(), values=[self.to_atom(p, frame) for p in parts])

    def _expr_IfExp(self, node, frame):
        test = self.expr(node.test, frame)
        if isinstance(test, (Static, gast.Constant)):
            return self.expr(node.body if _static_truth(test) else node.orelse, frame)
        test = self.to_atom(test, frame)
        result = self.fresh("_choice")
        self.blocks.append([])
        self.emit(ir.assign(result, self.materialize(self.expr(node.body, frame), frame, node)))
        body = self.blocks.pop()
        self.blocks.append([])
        self.emit(ir.assign(result, self.materialize(self.expr(node.orelse, frame), frame, node)))
        orelse = self.blocks.pop()
        self.emit(ir.if_(test, body, orelse))
        return ir.load(result)

    def _expr_Tuple(self, node, frame):
        return StaticSeq([self.atom(e, frame) for e in node.elts], tuple)

    def _expr_List(self, node, frame):
        if not node.elts:
            return gast.List(elts=[], ctx=gast.Load())  # a runtime list used as a stack
        return StaticSeq([self.atom(e, frame) for e in node.elts], list)

    def _expr_Dict(self, node, frame):
        keys = []
        for key in node.keys:
            key_value = self.expr(key, frame) if key is not None else None
            if not isinstance(key_value, gast.Constant):
                raise self.error("dict keys must be constants", node, frame)
            keys.append(key_value.value)
        return StaticDict(keys, [self.atom(v, frame) for v in node.values])

    def _expr_Lambda(self, node, frame):
        body = ir.return_(node.body)
        gast.copy_location(body, node)
        fn = gast.FunctionDef(name="lambda_", args=node.args, body=[body], decorator_list=[], returns=None,
                              type_comment=None, type_params=[])
        gast.copy_location(fn, node)
        return LocalFunction(fn, frame)

    def _expr_Subscript(self, node, frame):
        base = self.expr(node.value, frame)
        if isinstance(base, (StaticSeq, StaticDict)):
            return self._static_subscript(base, node, frame)
        if isinstance(base, Static):
            raise self.error("cannot subscript this value", node, frame)
        base = self.to_atom(base, frame)
        return gast.Subscript(value=base, slice=self._index(node.slice, frame), ctx=gast.Load())

    def _static_subscript(self, base, node, frame):
        if isinstance(node.slice, gast.Slice) and isinstance(base, StaticSeq):
            bounds = [self.expr(b, frame) if b is not None else None
                      for b in (node.slice.lower, node.slice.upper, node.slice.step)]
            if not all(b is None or isinstance(b, gast.Constant) for b in bounds):
                raise self.error("tuples and lists can only be sliced with constant bounds", node, frame)
            return StaticSeq(base.items[slice(*[b.value if b is not None else None for b in bounds])], base.kind)
        index = self.expr(node.slice, frame)
        if isinstance(base, StaticDict):
            if not isinstance(index, gast.Constant) or index.value not in base.keys:
                raise self.error("dict lookups need a constant key present in the dict", node, frame)
            return base.get(index.value)
        if isinstance(index, gast.Constant) and isinstance(index.value, int):
            return base.items[index.value]
        raise self.error("tuples and lists can only be indexed by constants (they are unrolled while compiling)",
                         node, frame)

    def _index(self, index, frame):
        if isinstance(index, gast.Slice):
            return gast.Slice(*[None if b is None else self.runtime_atom(b, frame)
                                for b in (index.lower, index.upper, index.step)])
        if isinstance(index, gast.Tuple):
            return ir.tuple_([self._index(e, frame) for e in index.elts])
        return self.runtime_atom(index, frame)

    def _expr_ListComp(self, node, frame):
        return self._comprehension(node, frame)

    def _expr_GeneratorExp(self, node, frame):
        return self._comprehension(node, frame)

    def _expr_DictComp(self, node, frame):
        return self._comprehension(node, frame)

    def _comprehension(self, node, frame):
        """Comprehensions over static sequences or constant ranges are unrolled."""
        results = []  # the elements (for a dict comprehension, (key, value) pairs)
        inner = Frame(frame.node, frame.namespace, parent=frame)
        inner.locals = set()
        for generator in node.generators:
            inner.locals |= ir.assigned_names(generator.target)
        inner.prefix = "comprehension"

        def loop(generators):
            if not generators:
                if isinstance(node, gast.DictComp):
                    key = self.expr(node.key, inner)
                    if not isinstance(key, gast.Constant):
                        raise self.error("dict comprehension keys must be constants while compiling (a key of a "
                                         "dict, an item of a tuple of strings, ...)", node, frame)
                    results.append((key.value, self.atom(node.value, inner)))
                else:
                    results.append(self.atom(node.elt, inner))
                return
            generator = generators[0]
            if generator.is_async:
                raise self.error("async comprehensions are not supported", node, frame)
            for item in self._static_items(generator.iter, frame, node):
                self._bind_item(generator.target, item, inner)
                if all(_static_truth(self.expr(cond, inner)) for cond in generator.ifs):
                    loop(generators[1:])

        loop(node.generators)
        if isinstance(node, gast.DictComp):
            items = dict(results)  # a repeated key keeps its first place and its last value, as in Python
            return StaticDict(list(items), list(items.values()))
        return StaticSeq(results, list)

    def _static_items(self, iterable, frame, node):
        value = self.expr(iterable, frame)
        if isinstance(value, StaticSeq):
            return value.items
        if isinstance(value, StaticDict):
            return [ir.const(k) for k in value.keys]
        raise self.error("comprehensions must iterate over a tuple, list, zip/enumerate of them, or a range with "
                         "constant bounds (they are unrolled while compiling)", node, frame)

    # ------------------------------------------------------------------ calls
    def _expr_Call(self, node, frame):
        if isinstance(node.func, gast.Attribute):
            if node.func.attr in ("append", "pop") and isinstance(node.func.value, gast.Name):
                self.list_receivers.add(id(node.func.value))
            receiver = self.expr(node.func.value, frame)
            if not isinstance(receiver, StaticObject):
                return self._method_call(node, receiver, frame)
        func = self.expr(node.func, frame)
        if isinstance(func, LocalFunction):
            return self._inline(func.node, func.frame, node, frame, closure=True, identity=id(func.node))
        if isinstance(func, (Transformed, Pullback)):
            return func.call(self, node, frame)
        if not isinstance(func, StaticObject):
            raise self.error("only functions can be called", node, frame)
        value = func.value
        transform = getattr(value, "__tangent2_transform__", None)
        if transform is not None:
            return _call_transformation(self, value, transform, node, frame)
        if getattr(value, "__tangent2_derivative__", False):
            return Transformed(value, []).call(self, node, frame)
        special = _SPECIAL_CALLS.get(_safe_key(value))
        if special is not None:
            result = special(self, node, frame)
            if result is not NotImplemented:
                return result
        inline_target = _inlinable(value)
        if inline_target is not None:
            return self._inline(parsed(inline_target), None, node, frame, closure=False, identity=inline_target)
        if isinstance(value, type) and _is_namedtuple(value):
            args, keywords = self._call_arguments(node, frame, materialize=False)
            fields = list(args) + [None] * (len(value._fields) - len(args))
            for k in keywords:
                fields[value._fields.index(k.arg)] = k.value
            return StaticSeq(fields, value)
        args, keywords = self._call_arguments(node, frame)
        return self._primitive_call(func.ref, args, keywords, node, frame)

    def _primitive_call(self, func, args, keywords, node, frame):
        if any(k.arg == "out" for k in keywords):
            raise self.error("out= arguments are not supported (the call writes into an array tangent2 "
                             "follows separately); assign the result instead (y = np.multiply(a, b))", node, frame)
        return ir.call(func, args, keywords)

    def _call_arguments(self, node, frame, materialize=True):
        for arg in node.args:
            if isinstance(arg, gast.Starred):
                raise self.error("starred arguments (*args) are not supported", node, frame)
        args = [self.atom(a, frame) for a in node.args]
        keywords = []
        for k in node.keywords:
            if k.arg is None:
                raise self.error("**kwargs in a call is not supported", node, frame)
            value = self.atom(k.value, frame)
            if k.arg == "dtype":
                value = self._dtype(value, frame)
            keywords.append(gast.keyword(arg=k.arg, value=self.materialize(value, frame, node) if materialize
                                         else value))
        if materialize:
            args = [self.materialize(a, frame, node) for a in args]
        return args, keywords

    def _dtype(self, value, frame):
        """A dtype argument: Python's int, float, bool and complex as the NumPy types they stand for (which
        Numba accepts as dtypes)."""
        if isinstance(value, StaticObject) and value.value in (int, float, bool, complex):
            numpy_type = np.dtype(value.value).type
            return StaticObject(numpy_type, self._global_ref(numpy_type, frame))
        return value

    def _method_call(self, node, receiver, frame):
        method = node.func.attr
        if isinstance(receiver, gast.List) or method in ("append", "pop") and isinstance(receiver, gast.Name):
            receiver = self.to_atom(receiver, frame)
            args = [self.runtime_atom(a, frame) for a in node.args]
            value = ir.method_call(receiver, method, args)
            return value
        if isinstance(receiver, StaticDict) and method in ("keys", "values", "items"):
            if method == "keys":
                return StaticSeq([ir.const(k) for k in receiver.keys])
            if method == "values":
                return StaticSeq(receiver.values)
            return StaticSeq([StaticSeq([ir.const(k), v]) for k, v in zip(receiver.keys, receiver.values)])
        if isinstance(receiver, Static):
            raise self.error(f"method '.{method}()' of this value is not supported", node, frame)
        receiver = self.to_atom(receiver, frame)
        if method == "astype":
            args, keywords = self._call_arguments(node, frame, materialize=False)
            dtype = self._dtype(args[0], frame) if args else next((k.value for k in keywords if k.arg == "dtype"),
                                                                  None)
            dtype = self.materialize(dtype, frame, node) if dtype is not None else None
            copy = next((k.value for k in keywords if k.arg == "copy"), None)
            if dtype is None or len(args) > 1 or any(k.arg not in ("dtype", "copy") for k in keywords) \
                    or not (copy is None or isinstance(copy, gast.Constant)):
                raise self.error("only .astype(dtype) and .astype(dtype, copy=False) are supported", node, frame)
            # astype copies unless told not to: np.asarray would return the array itself for its own dtype
            copies = not (isinstance(copy, gast.Constant) and copy.value is False)
            return ir.call(self._global_ref(np.array if copies else np.asarray, frame), [receiver],
                           [gast.keyword(arg="dtype", value=dtype)])
        if method == "item":
            return ir.call(self._global_ref(float, frame), [receiver])
        if method not in _METHODS:
            raise self.error(f"array method '.{method}()' is not supported", node, frame)
        args, keywords = self._call_arguments(node, frame)
        if method == "reshape" and len(args) != 1:
            args = [ir.tuple_(args)]
        if method == "transpose" and len(args) > 1:
            args = [ir.tuple_(args)]
        return self._primitive_call(self._global_ref(_METHODS[method], frame), [receiver] + args, keywords, node,
                                    frame)

    def _inline(self, callee, defining_frame, call_node, frame, closure, identity):
        """Inline a call to a user function; returns its result (atom or static)."""
        if any(isinstance(a, gast.Starred) for a in call_node.args):
            raise self.error("starred arguments (*args) are not supported", call_node, frame)
        if any(k.arg is None for k in call_node.keywords):
            raise self.error("**kwargs in a call is not supported", call_node, frame)
        args = [self.atom(a, frame) for a in call_node.args]
        keywords = {k.arg: self.atom(k.value, frame) for k in call_node.keywords}
        return self._inline_values(callee, defining_frame, args, keywords, call_node, frame, closure, identity)

    def _inline_values(self, callee, defining_frame, args, keywords, call_node, frame, closure, identity):
        """Inline ``callee`` called with evaluated ``args`` and ``keywords``."""
        name = callee.name
        key = identity
        if key in self.inlining:
            raise self.error(f"recursive call to {name}() is not supported", call_node, frame)
        self._check_arguments(callee)
        if not closure:
            callee = resolve_aliases(callee)
        namespace = defining_frame.namespace if closure else callee.namespace
        inner = Frame(callee, namespace, parent=defining_frame, prefix=name)
        self.namer.reserve(ir.all_names(callee) - inner.locals)
        params = [a.id for a in callee.args.args]
        defaults = dict(zip(params[len(params) - len(callee.args.defaults):], callee.args.defaults))
        if len(args) > len(params):
            raise self.error(f"{name}() takes {len(params)} arguments but {len(args)} were given", call_node, frame)
        bound = dict(zip(params, args))
        for key_name, value in keywords.items():
            if key_name not in params:
                raise self.error(f"{name}() got an unexpected keyword argument '{key_name}'", call_node, frame)
            bound[key_name] = value
        self.inlining.append(key)
        saved_origin = self.origin
        try:
            for p in params:
                if p in bound:
                    value = bound[p]
                elif p in defaults:
                    value = self.expr(defaults[p], defining_frame or inner)
                else:
                    raise self.error(f"{name}() missing argument '{p}'", call_node, frame)
                self.origin = location(callee, callee)
                self._bind(ir.store(p), self._snapshot(value, frame) if isinstance(value, Static) else value, inner)
            mutated = _mutated_params(callee)
            body = self._block(callee.body, inner, mutated)
            if is_generated(callee):
                for stmt in ir.walk_statements(body):
                    stmt.generated = True  # tangent2's own code: it copies before it writes
            else:
                for stmt in body[:len(mutated)]:
                    stmt.shares_caller_array = True  # Python writes into the caller's array (see aliasing.py)
            result, body = self._lower_function_returns(body, inner, callee, at_top=False)
        finally:
            self.inlining.pop()
            self.origin = saved_origin
        for stmt in body:
            self.blocks[-1].append(stmt)
        return result


    # ------------------------------------------------ transformations inside code
    def _call_derivative(self, derivative, args, extra, node, frame, seed=None):
        """Inline the generated function of ``derivative`` for ``args`` (statics and atoms).

        The function is generated while compiling for the arguments'
        structures, not specialized to scalars, and its result is rebuilt into
        the structures a Derivative call would return.
        """
        from tangent2 import derivative as derivatives
        kind = derivative.kind
        vector = None
        if kind == "hvp":
            args, vector = args[:-1], args[-1]
        everything = list(args) + list(extra)
        example = tuple(_example(a) for a in everything)
        completed = example if kind == "vmap" else derivatives.complete_arguments(derivative.target, example)
        everything += [ir.const(default) for default in completed[len(example):]]
        if kind == "grad" and not derivative.has_aux and seed is None \
                and isinstance(derivative.wrt, (int, str)) \
                and not isinstance(args[_wrt_index(derivative, args)], Static) \
                and self.switches(derivative, completed):
            return self._switched_gradient(derivative, completed, everything, frame, node)
        plan = derivative._plan(completed, specialize=False)
        leaves = [leaf for a in everything for leaf in _flat_static(a)]
        if seed is not None:
            leaves += _flat_static(seed)
        if vector is not None:
            leaves.append(self.materialize(vector, frame, node))
        callee = parsed(plan.function)
        leaves = [self.materialize(leaf, frame, node) for leaf in leaves]
        result = self._inline_values(callee, None, leaves, {}, node, frame, False, plan.function)
        if kind in ("jacfwd", "jacrev", "hvp", "batched_jacobian"):
            return result
        if kind == "vmap":
            return _restructure(plan.output, _leaves(result))
        if kind == "jvp":
            return StaticSeq([_restructure(plan.output, _leaves(result.items[0])),
                              _restructure(plan.output, _leaves(result.items[1]))])
        if kind == "pullback":
            return self._rebuild_grads(plan, _leaves(result), everything)
        output, grads = (result.items[0], result.items[1]) if kind in ("value_and_grad",) or \
            derivative.has_aux else (None, result)
        grads = self._rebuild_grads(plan, _leaves(grads), everything)
        if kind == "grad" and not derivative.has_aux:
            return grads
        output = _restructure(plan.output, _leaves(output))
        if kind == "grad":
            return StaticSeq([grads, output.items[1]])
        return StaticSeq([output, grads])

    def switches(self, derivative, example):
        """Whether an inner gradient is differentiated forward over reverse (see tangent2.config)."""
        if self.mode_switching != "auto":
            return bool(self.mode_switching)
        # Reverse over reverse would tape the inner gradient's loops a second time; without loops it is cheaper.
        inner = parsed(derivative._plan(example, specialize=False).function)
        return any(isinstance(n, (gast.For, gast.While)) for n in gast.walk(inner))

    def _switched_gradient(self, derivative, example, args, frame, node):
        """The inner gradient as one primitive call, differentiated by forward over reverse."""
        from tangent2.custom import switched_gradient
        primitive = switched_gradient(derivative, example)
        reference = ir.load(self._bind_global(primitive.__name__, primitive))
        leaves = [self.materialize(leaf, frame, node) for a in args for leaf in _flat_static(a)]
        return ir.call(reference, leaves)

    def _rebuild_grads(self, plan, leaves, args):
        rebuilt = []
        start = 0
        for position, count in zip(plan.wrt_positions, plan.wrt_leaf_counts):
            part = leaves[start:start + count]
            start += count
            rebuilt.append(part[0] if not isinstance(args[position], Static) else
                           _restructure(_sorted_static(args[position]), part))
        return rebuilt[0] if plan.single_wrt else StaticSeq(rebuilt)

    def _lift(self, function, frame):
        """A LocalFunction as a module-level function taking its closure variables as extra parameters."""
        from tangent2 import codegen
        node = function.node
        definitions = []
        free = []
        pending = [node]
        seen = set()
        while pending:
            current = pending.pop()
            own = local_names(current)
            for name in sorted(ir.names_in(current.body) - own - seen):
                value = self._lookup_local(name, function.frame)
                if value is None:
                    continue
                seen.add(name)
                if isinstance(value, LocalFunction):
                    definitions.append((name, value.node))
                    pending.append(value.node)
                else:
                    free.append((name, value))
        import copy
        lifted = copy.deepcopy(node, {id(v): v for v in vars(node).values() if not isinstance(v, gast.AST)
                                      and not isinstance(v, list)})
        lifted.name = "lifted_" + node.name.strip("_")
        lifted.args = _arguments([a.id for a in node.args.args] + [name for name, _ in free],
                                 list(node.args.defaults) if not free else [])
        lifted.body = [_renamed_def(d, name) for name, d in definitions] + lifted.body
        lifted.namespace = function.frame.namespace
        lifted.filename = function.frame.node.filename
        return codegen.emit(lifted), [value for _, value in free]

    def _lookup_local(self, name, frame):
        scope = frame
        while scope is not None:
            if name in scope.static:
                if isinstance(scope.static[name], Unmergeable):
                    raise scope.static[name].error
                return scope.static[name]
            if name in scope.locals:
                return ir.load(self._local_name(name, scope))
            scope = scope.parent
        return None


_MISSING = object()


@functools.lru_cache(maxsize=512)
def parsed(function):
    """The resolved FunctionDef of ``function`` (parsed once)."""
    return resolve(parse(function), function)


def _call_transformation(self, transform, kind, node, frame):
    """``tg.grad(f, wrt)`` and friends inside differentiated code, evaluated while compiling."""
    if not node.args:
        raise self.error(f"{kind}() needs a function", node, frame)
    target = self.expr(node.args[0], frame)
    target, extra = _callable(self, target, node, frame)
    options = {}
    for arg, name in zip(node.args[1:], _TRANSFORM_PARAMS[kind][1:]):
        options[name] = _constant(self, arg, frame, node)
    for keyword in node.keywords:
        options[keyword.arg] = _constant(self, keyword.value, frame, node)
    if kind in ("jvp", "vjp"):
        return _call_mode(self, transform, kind, target, extra, node, frame)
    return Transformed(transform(target, **options), extra)


def _call_mode(self, transform, kind, target, extra, node, frame):
    """``tg.jvp(f, primals, tangents)`` and ``tg.vjp(f, *primals)`` inside differentiated code."""
    from tangent2.derivative import Derivative
    if kind == "jvp":
        primals = self.expr(node.args[1], frame)
        tangents = self.expr(node.args[2], frame)
        if not isinstance(primals, StaticSeq) or not isinstance(tangents, StaticSeq):
            raise self.error("jvp() inside differentiated code needs literal tuples of primals and tangents",
                             node, frame)
        derivative = Derivative(target, "jvp", tuple(range(len(primals.items))))
        return self._call_derivative(derivative, primals.items, extra, node, frame,
                                     seed=StaticSeq(tangents.items))
    primals = [self.atom(a, frame) for a in node.args[1:]]
    out = _call_plain(self, target, primals, extra, node, frame)
    pullback = Derivative(target, "pullback", tuple(range(len(primals))))
    return StaticSeq([out, Pullback(pullback, primals, extra)])


def _call_plain(self, target, args, extra, node, frame):
    """Inline a call of ``target`` (a Python function or a Derivative) on ``args`` + ``extra``."""
    from tangent2.derivative import Derivative
    if isinstance(target, Derivative):
        return self._call_derivative(target, list(args), extra, node, frame)
    function = target
    everything = list(args) + list(extra)
    return self._inline_values(parsed(function), None, everything, {}, node, frame, False, function)


def _callable(self, value, node, frame):
    """(function or Derivative, extra arguments) for the first argument of a transformation."""
    if isinstance(value, Transformed):
        return value.derivative, value.extra
    if isinstance(value, LocalFunction):
        return self._lift(value, frame)
    if isinstance(value, StaticObject) and callable(value.value):
        return value.value, []
    raise self.error("the first argument of a tangent2 transformation must be a function", node, frame)


def _constant(self, arg, frame, node):
    value = self.expr(arg, frame)
    if isinstance(value, gast.Constant):
        return value.value
    if isinstance(value, StaticSeq) and all(isinstance(v, gast.Constant) for v in value.items):
        return tuple(v.value for v in value.items)
    raise self.error("options of tangent2 transformations (wrt, has_aux) must be constants", node, frame)


_TRANSFORM_PARAMS = {
    "grad": ("f", "wrt"), "value_and_grad": ("f", "wrt"), "jacfwd": ("f", "wrt"), "jacrev": ("f", "wrt"),
    "hessian": ("f", "wrt"), "hvp": ("f", "wrt"), "jvp": ("f",), "vjp": ("f",),
    "vmap": ("f", "in_axes", "out_axes"), "batched_jacobian": ("f", "mode", "wrt"),
}


def _renamed_def(node, name):
    """A copy of a nested def (or lambda) under the name the enclosing code calls it by."""
    import copy as copying
    renamed = copying.deepcopy(node, {id(v): v for k, v in vars(node).items() if k not in gast.FunctionDef._fields})
    renamed.name = name
    return renamed


def _wrt_index(derivative, args):
    """The position of a Derivative's single ``wrt`` argument."""
    from tangent2.derivative import python_function
    if isinstance(derivative.wrt, str):
        function = python_function(derivative.target)
        return function.__code__.co_varnames.index(derivative.wrt)
    return derivative.wrt % len(args)


def _example(value):
    """A placeholder value with the structure of a static (0.0 for every leaf)."""
    if isinstance(value, StaticSeq):
        items = [_example(v) for v in value.items]
        return value.kind(*items) if _is_namedtuple(value.kind) else value.kind(items)
    if isinstance(value, StaticDict):
        return {k: _example(v) for k, v in zip(value.keys, value.values)}
    return 0.0


def _flat_static(value):
    """The leaves of a static in the order Derivative calls flatten trees (dict keys sorted)."""
    if isinstance(value, StaticSeq):
        return [leaf for item in value.items for leaf in _flat_static(item)]
    if isinstance(value, StaticDict):
        ordered = _sorted_static(value)
        return [leaf for item in ordered.values for leaf in _flat_static(item)]
    return [value]


def _sorted_static(value):
    if isinstance(value, StaticDict):
        keys = sorted(value.keys, key=repr) if not all(isinstance(k, str) for k in value.keys) else sorted(value.keys)
        return StaticDict(keys, [_sorted_static(value.get(k)) for k in keys])
    if isinstance(value, StaticSeq):
        return StaticSeq([_sorted_static(v) for v in value.items], value.kind)
    return value


def _restructure(template, leaves):
    """``leaves`` arranged in the structure of the static ``template``."""
    leaves = iter(leaves)

    def build(node):
        if isinstance(node, StaticSeq):
            return StaticSeq([build(v) for v in node.items], node.kind)
        if isinstance(node, StaticDict):
            return StaticDict(node.keys, [build(v) for v in node.values])
        return next(leaves)

    return build(template)


# --------------------------------------------------------------- special calls
def _call_range(self, node, frame):
    args = [self.expr(a, frame) for a in node.args]
    if all(isinstance(a, gast.Constant) for a in args):
        values = list(range(*[a.value for a in args]))
        if len(values) <= _UNROLL_LIMIT:
            return StaticSeq([ir.const(v) for v in values])
    raise self.error("range() is only supported as the iterable of a for loop or with small constant bounds",
                     node, frame)


def _call_len(self, node, frame):
    value = self.expr(node.args[0], frame)
    if isinstance(value, StaticSeq):
        return ir.const(len(value.items))
    if isinstance(value, StaticDict):
        return ir.const(len(value.keys))
    return NotImplemented


def _call_zip(self, node, frame):
    sequences = [self._static_items(a, frame, node) for a in node.args]
    return StaticSeq([StaticSeq(items) for items in zip(*sequences)])


def _call_enumerate(self, node, frame):
    items = self._static_items(node.args[0], frame, node)
    return StaticSeq([StaticSeq([ir.const(i), item]) for i, item in enumerate(items)])


def _call_sum(self, node, frame):
    value = self.expr(node.args[0], frame)
    if isinstance(value, StaticSeq):
        items = [self.materialize(v, frame, node) for v in value.items]
        total = self.atom(node.args[1], frame) if len(node.args) > 1 else None
        for item in items:
            total = item if total is None else self.to_atom(gast.BinOp(left=total, op=gast.Add(), right=item), frame)
        return total if total is not None else ir.const(0)
    array = self.to_atom(value, frame)
    return ir.call(self._global_ref(np.sum, frame), [array], [gast.keyword(arg="axis", value=ir.const(0))])


def _call_tuple_or_list(self, node, frame):
    if not node.args:
        return StaticSeq([])
    value = self.expr(node.args[0], frame)
    if isinstance(value, StaticSeq):
        return StaticSeq(value.items, tuple if _is_call_to(node, frame, self, tuple) else list)
    return NotImplemented


def _call_isinstance(self, node, frame):
    raise self.error("isinstance() is not supported in differentiated code", node, frame)


_SPECIAL_CALLS = {
    builtins.range: _call_range, builtins.len: _call_len, builtins.zip: _call_zip,
    builtins.enumerate: _call_enumerate, builtins.sum: _call_sum, builtins.tuple: _call_tuple_or_list,
    builtins.list: _call_tuple_or_list, builtins.isinstance: _call_isinstance,
}


# ----------------------------------------------------------------- lowering
def _contains_jump(stmts, kinds, in_nested_loop=False):
    for stmt in stmts:
        if isinstance(stmt, gast.Return):
            return True
        if isinstance(stmt, kinds) and not in_nested_loop:
            return True
        if isinstance(stmt, (gast.For, gast.While)):
            if _contains_jump(stmt.body, kinds, True):
                return True
        elif isinstance(stmt, gast.If):
            if _contains_jump(stmt.body, kinds, in_nested_loop) or _contains_jump(stmt.orelse, kinds, in_nested_loop):
                return True
    return False


def _lower_jumps(stmts, live, stop, origin):
    """Replace jumps by flag assignments and guard what follows them with ``if live``.

    ``stop`` is the loop's exit flag (None at function level, where only
    ``return`` is lowered).  A ``return`` inside a loop also stops the loop; the
    Return node stays (marked) for the enclosing level to lower.
    """
    kinds = (gast.Break, gast.Continue) if stop else ()
    out = []
    for i, stmt in enumerate(stmts):
        if isinstance(stmt, gast.Return) or isinstance(stmt, kinds):
            out.extend(_jump_replacement(stmt, live, stop, origin))
            return out
        may_jump = _contains_jump([stmt], kinds)  # decided before lowering removes the jumps
        if isinstance(stmt, gast.If):
            stmt.body = _lower_jumps(stmt.body, live, stop, origin)
            stmt.orelse = _lower_jumps(stmt.orelse, live, stop, origin)
        elif isinstance(stmt, (gast.For, gast.While)) and _contains_jump(stmt.body, (), True):
            stmt.body = _lower_nested_returns(stmt.body, live, stop, origin)
        out.append(stmt)
        if may_jump and i + 1 < len(stmts):
            rest = _lower_jumps(stmts[i + 1:], live, stop, origin)
            if rest:
                out.append(ir.if_(ir.load(live), rest, origin=origin))
            return out
    return out


def _lower_nested_returns(stmts, live, stop, origin):
    """Inside an inner loop, a marked return must also clear this level's flags."""
    out = []
    for stmt in stmts:
        if isinstance(stmt, gast.Return):
            out.extend(_jump_replacement(stmt, live, stop, origin))
            continue
        for field in ("body", "orelse"):
            if getattr(stmt, field, None):
                setattr(stmt, field, _lower_nested_returns(getattr(stmt, field), live, stop, origin))
        out.append(stmt)
    return out


def _jump_replacement(stmt, live, stop, origin):
    flags = [ir.assign(live, ir.const(False), origin)]
    if isinstance(stmt, gast.Continue):
        return flags
    if stop:
        flags.append(ir.assign(stop, ir.const(True), origin))
    if isinstance(stmt, gast.Return):
        if stop is None:
            return list(stmt.assignments) + flags
        return [stmt] + flags
    return flags


# ------------------------------------------------------------------ helpers
def _arguments(params, defaults):
    return gast.arguments(args=[ir.param(p) for p in params], posonlyargs=[], vararg=None, kwonlyargs=[],
                          kw_defaults=[], kwarg=None, defaults=defaults)


def _leaf_names(structure):
    return [leaf.id for leaf in _leaves(structure)]


def _leaves(value):
    if isinstance(value, StaticSeq):
        return [leaf for item in value.items for leaf in _leaves(item)]
    if isinstance(value, StaticDict):
        return [leaf for item in value.values for leaf in _leaves(item)]
    return [value]


def _atom_copy(atom):
    return ir.load(atom.id) if isinstance(atom, gast.Name) else ir.const(atom.value)


def _is_runtime_tree(value):
    """Whether ``value`` is a tuple, list or dict (nested) of variables and numbers: what a loop can carry."""
    if isinstance(value, (StaticSeq, StaticDict)):
        return all(_is_runtime_tree(v) for v in (value.items if isinstance(value, StaticSeq) else value.values))
    return isinstance(value, gast.Name) or isinstance(value, gast.Constant) \
        and isinstance(value.value, _NUMBERS) and not isinstance(value.value, bool)


def _same_structure(a, b):
    if isinstance(a, StaticSeq) and isinstance(b, StaticSeq):
        return len(a.items) == len(b.items) and all(_same_structure(x, y) for x, y in zip(a.items, b.items))
    if isinstance(a, StaticDict) and isinstance(b, StaticDict):
        return a.keys == b.keys and all(_same_structure(x, y) for x, y in zip(a.values, b.values))
    return not isinstance(a, Static) and not isinstance(b, Static)


def _static_truth(value):
    if isinstance(value, gast.Constant):
        return bool(value.value)
    if isinstance(value, StaticSeq):
        return bool(value.items)
    if isinstance(value, StaticDict):
        return bool(value.keys)
    return value is not None


def _fold(op, a, b):
    import operator
    table = {gast.Add: operator.add, gast.Sub: operator.sub, gast.Mult: operator.mul, gast.Div: operator.truediv,
             gast.FloorDiv: operator.floordiv, gast.Mod: operator.mod, gast.Pow: operator.pow}
    fn = table.get(type(op))
    if fn is None or not isinstance(a, _NUMBERS) or not isinstance(b, _NUMBERS):
        return gast.BinOp(left=ir.const(a), op=op, right=ir.const(b))
    return fn(a, b)


def _copy_index(index):
    import copy
    return copy.deepcopy(index)


def _fresh_copies(stmts):
    import copy
    return [copy.deepcopy(s) for s in stmts]


def _mutated_params(node):
    """The parameters whose array is written into, directly or through another name bound to it
    (``x, y = y, x; y[1] = 5.0``)."""
    links = {}
    for child in gast.walk(node):
        if isinstance(child, gast.Assign):
            pairs = [pair for target in child.targets for pair in _binding_pairs(target, child.value)]
        elif isinstance(child, gast.For):
            pairs = _binding_pairs(child.target, child.iter)
        else:
            continue
        for a, b in pairs:
            links.setdefault(a, set()).add(b)
            links.setdefault(b, set()).add(a)
    reached = _written_names(node)
    pending = list(reached)
    while pending:
        for other in links.get(pending.pop(), ()):
            if other not in reached:
                reached.add(other)
                pending.append(other)
    return [a.id for a in node.args.args if a.id in reached]


def _binding_pairs(target, value):
    """(target name, value name) pairs for the names ``target = value`` may bind to an array a name of ``value``
    holds (over-approximated: a copy too many costs little, a missing one changes the caller's array)."""
    if isinstance(target, (gast.Tuple, gast.List)) and isinstance(value, (gast.Tuple, gast.List)) \
            and len(target.elts) == len(value.elts):
        return [pair for t, v in zip(target.elts, value.elts) for pair in _binding_pairs(t, v)]
    if isinstance(value, gast.IfExp):
        return _binding_pairs(target, value.body) + _binding_pairs(target, value.orelse)
    targets = [n.id for n in gast.walk(target) if isinstance(n, gast.Name)] \
        if isinstance(target, (gast.Name, gast.Tuple, gast.List)) else []
    values = [value.id] if isinstance(value, gast.Name) else \
        [n.id for e in value.elts for n in gast.walk(e) if isinstance(n, gast.Name)] \
        if isinstance(value, (gast.Tuple, gast.List)) else []
    return [(t, v) for t in targets for v in values]


def _is_call_to(node, frame, normalizer, target):
    """Whether ``node`` calls the global ``target`` (looked up without emitting code)."""
    if not isinstance(node, gast.Call) or not isinstance(node.func, gast.Name):
        return False
    scope = frame
    while scope is not None:
        if node.func.id in scope.static or node.func.id in scope.locals:
            return False
        scope = scope.parent
    return frame.namespace.get(node.func.id) is target


def _is_namedtuple(kind):
    return isinstance(kind, type) and issubclass(kind, tuple) and hasattr(kind, "_fields")


def _is_data_tree(value):
    if isinstance(value, (tuple, list)):
        return all(_is_data_tree(v) for v in value)
    if isinstance(value, dict):
        return all(_is_data_tree(v) for v in value.values())
    return isinstance(value, _NUMBERS + (np.ndarray,)) or value is None


def _safe_key(value):
    try:
        hash(value)
        return value
    except TypeError:
        return None


_RULE_MODULES = ("numpy", "scipy", "math", "builtins", "tangent2")


def _inlinable(value):
    """The Python function to inline for a call to ``value``, or None if it is a primitive."""
    from tangent2.rules import registry
    if registry.lookup(registry.VJP_RULES, value) or registry.lookup(registry.JVP_RULES, value) \
            or _safe_key(value) in registry.ZERO_DERIVATIVE:
        return None
    inner = getattr(value, "__tangent2_function__", None)
    if inner is not None:
        return inner
    if isinstance(value, types.FunctionType):
        module = (value.__module__ or "").split(".")[0]
        if module in _RULE_MODULES and module != "tangent2":
            return None
        return value
    return None


def _home_module(value):
    """(module name, module) for NumPy/math functions, so code reads np.sin rather than sin."""
    name = getattr(value, "__name__", None)
    if name is None:
        return None
    for module_name, module in (("np", np), ("math", math)):
        if getattr(module, name, None) is value:
            return module_name, module
    return None


def _describe(value):
    return getattr(value, "__name__", None) or type(value).__name__
