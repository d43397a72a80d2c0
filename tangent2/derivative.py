"""Derivative objects: a transformation of a function, generated lazily and cached.

A :class:`Derivative` is callable, shows its generated ``source``, and can be
transformed again (``grad(grad(f))``).  Generated functions take and return
flat leaves; the Derivative flattens tree arguments on the way in and
rebuilds trees on the way out.  One function is generated per pattern of
argument structures (a dict of arrays and an array give different code).
"""
import functools
import inspect
import threading
import types

import gast
import numpy as np

from tangent2 import codegen, config, ir
from tangent2.errors import NonDifferentiableInput, ShapeMismatch, TangentError
from tangent2.frontend.activity import analyze
from tangent2.frontend.aliasing import check_aliasing, is_generated
from tangent2.frontend.normalize import StaticDict, StaticSeq, check_signature, normalize, parsed
from tangent2.rules import registry
from tangent2.transforms.forward import forward
from tangent2.transforms.nested import batched_jacobian_wrapper, hvp_wrapper, jacobian_wrapper
from tangent2.transforms.vmap import example_expression, vmap_wrapper, write_rows_in_place
from tangent2.transforms.reverse import reverse
from tangent2.transforms.simplify import simplify
import tangent2.rules  # noqa: F401  (fills the rule tables)

_LOCK = threading.RLock()


def python_function(target):
    """The plain Python function behind ``target`` (a function, Derivative or @differentiate)."""
    inner = getattr(target, "__tangent2_function__", None)
    if inner is not None:
        return inner
    if isinstance(target, types.FunctionType):
        return target
    if registry.lookup(registry.VJP_RULES, target) is not None or hasattr(target, "defvjp"):
        return _primitive_wrapper(target)
    if callable(target) and isinstance(getattr(target, "__call__", None), types.MethodType):
        raise TangentError(f"{target!r} is a callable object; tangent2 differentiates functions (def or lambda)")
    raise TangentError(f"{target!r} is not a Python function tangent2 can read")


@functools.lru_cache(maxsize=None)
def _primitive_wrapper(primitive):
    """A Python function calling ``primitive`` (np.sin -> def sin(x): return np.sin(x)), with a real source file."""
    if hasattr(primitive, "defvjp"):  # a function with custom rules
        params = primitive.params
    else:
        rule = registry.lookup(registry.VJP_RULES, primitive)
        signature = inspect.signature(rule).parameters
        params = [p for p in list(signature)[2:] if signature[p].default is inspect.Parameter.empty]
    name = getattr(primitive, "__name__", "primitive")
    node = gast.parse(f"def {name}({', '.join(params)}):\n    return primitive({', '.join(params)})\n").body[0]
    node.namespace = {"primitive": primitive}
    node.filename = None
    return codegen.emit(node)


class Derivative:
    """A generated derivative of ``target``.

    ``kind`` is one of ``"grad"`` (gradient of a scalar output, seed 1),
    ``"value_and_grad"``, ``"vjp"`` (output and input cotangents for a given
    output cotangent), ``"pullback"`` (input cotangents only), ``"jvp"``
    (output and tangent for given input tangents), ``"jacfwd"``,
    ``"jacrev"`` and ``"hvp"``.
    """

    __tangent2_derivative__ = True

    def __init__(self, target, kind, wrt=0, has_aux=False, mode_switching=None, **options):
        self.target = target
        self.options = options
        self.mode_switching = mode_switching
        self.kind = kind
        self.wrt = wrt
        self.has_aux = has_aux
        self._generated = {}
        self._last = None
        functools.update_wrapper(self, _user_function(target), updated=())

    # --------------------------------------------------------------- calling
    def __call__(self, *args):
        if self.kind == "hvp":
            args, v = args[:-1], args[-1]
        if self.kind != "vmap":  # a batch loop calls its target as the user would
            args = complete_arguments(self.target, args)
        plan = self._plan(args)
        leaves = _flatten_args(args)
        if self.kind == "grad" and not self.has_aux:
            return plan.unflatten_grads(plan.function(*leaves), args)
        if self.kind in ("grad", "value_and_grad"):
            value, grads = plan.function(*leaves, 1.0)
            value = plan.unflatten_output(value)
            grads = plan.unflatten_grads(grads, args)
            if self.kind == "grad":
                return grads, value[1]
            return value, grads
        if self.kind in ("jacfwd", "jacrev", "batched_jacobian"):
            return _cast_like(plan.function(*leaves), args[plan.wrt_positions[0]])
        if self.kind == "vmap":
            plan.check_batch_sizes(leaves)
            return plan.unflatten_output(plan.function(*leaves))
        if self.kind == "hvp":
            return _cast_like(plan.function(*leaves, v), args[plan.wrt_positions[0]])
        raise TangentError(f"call {self.kind} derivatives through tangent2.{self.kind}")

    def _plan(self, args, specialize=True):
        """The generated function for ``args`` (specialized to the leaves' ndims, unless not asked: which are
        scalars, and which elements of arrays are, as ``x0[0]`` of a 1-d ``x0``)."""
        ndims = tuple(np.ndim(v) for v in _flatten_args(args)) if specialize else None
        scalars = tuple(n == 0 for n in ndims) if specialize else None
        switching = config.mode_switching if self.mode_switching is None else self.mode_switching
        key = (_structure_key(args), ndims, switching)
        with _LOCK:
            plan = self._generated.get(key)
            if plan is None:
                plan = _Plan(self, args, scalars)
                self._generated[key] = plan
            self._last = plan
            return plan

    # ------------------------------------------------------------ inspecting
    @property
    def function(self):
        """The generated Python function of the last call (generic leaf arguments if none yet)."""
        return self._default_plan().function

    @property
    def __tangent2_function__(self):
        """What a caller inlines: the generated function, not specialized to scalar arguments."""
        return self._plan(self._default_arguments(), specialize=False).function

    @property
    def source(self):
        return self._default_plan().source

    def _default_plan(self):
        if self._last is not None:
            return self._last
        return self._plan(self._default_arguments(), specialize=False)

    def _default_arguments(self):
        function = python_function(self.target)
        return complete_arguments(self.target, tuple(0.0 for _ in range(_required_count(function))))

    def __repr__(self):
        name = getattr(python_function(self.target), "__name__", "?")
        return f"<tangent2 {self.kind} of {name} wrt {self.wrt!r}>"

    # -------------------------------------------------------- composing again
    def grad(self, wrt=0, has_aux=False):
        from tangent2 import api
        return api.grad(self, wrt, has_aux=has_aux)

    def value_and_grad(self, wrt=0, has_aux=False):
        from tangent2 import api
        return api.value_and_grad(self, wrt, has_aux=has_aux)

    def jit(self, target="cpu", cache=True, fallback=None):
        """This derivative compiled with Numba (see tangent2.jit)."""
        from tangent2.jit import jit
        return jit(self, target=target, cache=cache, fallback=fallback)


def target_function(target, args, scalars):
    """The Python function to differentiate for ``args``: a Derivative's own generated function for them."""
    if isinstance(target, Derivative):
        inner = python_function(target.target)
        own = args[:inner.__code__.co_argcount]
        if any(_structure_key((a,))[0] != "leaf" for a in own):
            return _calling_wrapper(target, inner)
        # The generated function takes extra trailing parameters (d_out, tangents) its own target does not.
        # A vmap's specialized loop writes rows with helpers that have no rules: differentiate the plain one.
        return target._plan(own, specialize=scalars is not None and target.kind != "vmap").function
    return python_function(target)


def _calling_wrapper(derivative, inner):
    """``def f_grad(x, params): return derivative(x, params)``: a Derivative over tree arguments as a function.

    Its generated function takes flat leaves; this wrapper takes the trees and
    returns what the Derivative returns, and is differentiated like any
    function calling a Derivative.
    """
    cached = getattr(derivative, "_calling_wrapper", None)
    if cached is None:
        params = list(inner.__code__.co_varnames[:inner.__code__.co_argcount])
        if derivative.kind == "hvp":
            params.append("vector")
        name = f"{parsed(inner).name}_{derivative.kind}"
        node = gast.parse(f"def {name}({', '.join(params)}):\n    return derivative({', '.join(params)})\n").body[0]
        node.namespace = {"derivative": derivative}
        node.filename = None
        cached = derivative._calling_wrapper = codegen.emit(node)
        cached.__tangent2_mode_switching__ = False  # it is the inner gradient being differentiated
    return cached


def _user_function(target):
    """The function whose parameters a user passes to ``target`` (a Derivative takes its target's)."""
    while isinstance(target, Derivative) and target.kind != "hvp":
        target = target.target
    return python_function(target)


def complete_arguments(target, args):
    """``args`` with the defaults of the trailing parameters filled in.

    Over tree arguments a Derivative is called through a wrapper taking just
    its target's arguments, so nothing is added then.
    """
    if isinstance(target, Derivative):
        own = args[:python_function(target.target).__code__.co_argcount]
        if any(_value_key(a) != "leaf" for a in own):
            return tuple(args)
    function = python_function(target)
    defaults = function.__defaults__ or ()
    count = function.__code__.co_argcount
    missing = count - len(args)
    if 0 < missing <= len(defaults):
        return tuple(args) + tuple(defaults[len(defaults) - missing:])
    return tuple(args)


def _required_count(function):
    return function.__code__.co_argcount - len(function.__defaults__ or ())


class _Plan:
    """One generated function of a Derivative, for one pattern of argument structures."""

    def __init__(self, derivative, args, scalars):
        kind = derivative.kind
        if kind == "vmap":
            function = _user_function(derivative.target)
        else:
            function = target_function(derivative.target, args, scalars)
        node = parsed(function)
        check_signature(node)
        params = [a.id for a in node.args.args]
        if len(args) != len(params):
            raise TangentError(f"{function.__name__}() takes {len(params)} arguments but {len(args)} were given")
        arg_trees = {}
        self.arg_structures = []
        for name, value in zip(params, args):
            structure = _structure_of(value, name)
            self.arg_structures.append(structure)
            if structure is not None:
                arg_trees[name] = structure
        self.kind = kind
        self.has_aux = derivative.has_aux
        if kind == "vmap":
            self.function = codegen.emit(self._vmap(derivative, node, params, args, in_place=scalars is not None))
            self.source = self.function.__tangent2_source__
            return
        self.wrt_positions = _wrt_positions(derivative.wrt, params, function)
        self.single_wrt = not isinstance(derivative.wrt, (tuple, list))
        for position in self.wrt_positions:
            _check_differentiable(args[position], params[position], function)
        if kind in ("jacfwd", "jacrev", "hvp", "batched_jacobian"):
            generated = self._wrapper(derivative, function, node, params, args, scalars)
            self.output = None
        else:
            generated = self._transform(derivative, node, params, args, arg_trees, scalars)
        self.function = codegen.emit(generated)
        self.source = self.function.__tangent2_source__

    def _transform(self, derivative, node, params, args, arg_trees, scalars):
        switching = config.mode_switching if derivative.mode_switching is None else derivative.mode_switching
        if not getattr(node.source_function, "__tangent2_mode_switching__", True):
            switching = False
        normalized = normalize(node, arg_trees, mode_switching=switching)
        normalized.scalar_params = set() if scalars is None else {
            name for name, scalar in zip(normalized.params, scalars) if scalar}
        normalized.param_ndims = {} if scalars is None else {
            name: np.ndim(value) for name, value in zip(normalized.params, _flatten_args(args))}
        if not is_generated(node):
            check_aliasing(normalized, specialized=scalars is not None)
        self.output = normalized.output
        wrt_leaves = [leaf for position in self.wrt_positions
                      for leaf in _param_leaves(params[position], self.arg_structures[position])]
        self.wrt_leaf_counts = [len(_param_leaves(params[p], self.arg_structures[p])) for p in self.wrt_positions]
        kind = self.kind
        if kind == "primal":
            return simplify(normalized)
        if kind == "jvp":
            generated = forward(analyze(normalized, wrt_leaves), wrt_leaves)
        else:
            seeded = _value_leaf_count(self.output, derivative.has_aux)
            generated = reverse(normalized, wrt_leaves,
                                return_value=kind in ("vjp", "value_and_grad") or derivative.has_aux,
                                seed_default=1.0 if kind in ("grad", "value_and_grad") else None,
                                seeded_outputs=seeded)
        return simplify(generated)

    def _wrapper(self, derivative, function, node, params, args, scalars):
        if len(self.wrt_positions) != 1 or self.arg_structures[self.wrt_positions[0]] is not None:
            raise TangentError(f"{self.kind} takes one argument (index or name) in wrt, holding an array or a "
                               "scalar; for a tree of parameters, differentiate with respect to "
                               "tangent2.ravel(tree)[0]")
        position = self.wrt_positions[0]
        self.wrt_leaf_counts = [1]
        specialize = scalars is not None
        # The wrapper takes the flat leaves of the arguments, like the functions it calls.
        leaves = [leaf for name, structure in zip(params, self.arg_structures) for leaf in _param_leaves(name, structure)]
        x = leaves[sum(len(_param_leaves(n, s)) for n, s in zip(params[:position], self.arg_structures[:position]))]
        if self.kind == "hvp":
            gradient = Derivative(derivative.target, "grad", position)
            completed = complete_arguments(gradient, args)
            grad_jvp = Derivative(gradient, "jvp", position)._plan(completed, specialize).function
            return hvp_wrapper(f"{node.name}_hvp", leaves, grad_jvp, seeded=len(completed) > len(args))
        forward = self.kind == "jacfwd" or self.kind == "batched_jacobian" and \
            derivative.options.get("mode", "forward") == "forward"
        inner = Derivative(derivative.target, "jvp" if forward else "pullback", position)._plan(args, specialize)
        primal = Derivative(derivative.target, "primal", position)._plan(args, specialize).function
        if self.kind == "batched_jacobian":
            wrapper = batched_jacobian_wrapper("forward" if forward else "reverse", f"{node.name}_batched_jacobian",
                                               leaves, x, primal, inner.function)
        else:
            wrapper = jacobian_wrapper(self.kind, f"{node.name}_{self.kind}", leaves, x, primal, inner.function)
        # The JVP (or VJP) is inlined into the basis loop, so that what does not depend on the basis direction
        # (the primal, and the tangent of the constant seed) is hoisted out of it: computed once, not once per
        # column.  A caller that inlines the wrapper and differentiates it further then saves none of it per
        # column either.
        wrapper.source_lines = {}
        return simplify(check_aliasing(normalize(wrapper, mode_switching=False), specialized=False), hoist=True)

    def _vmap(self, derivative, node, params, args, in_place):
        """Normalize a generated batch loop around the target (see transforms/vmap.py); ``in_place``: write
        per-example results straight into their rows (for a vmap called directly, not inlined)."""
        leaf_names = [leaf for name, structure in zip(params, self.arg_structures)
                      for leaf in _param_leaves(name, structure)]
        self.leaf_axes = _leaf_axes(derivative.options.get("in_axes", 0), args, params)
        if all(axis is None for axis in self.leaf_axes):
            raise TangentError("vmap needs at least one batched argument (in_axes are all None)")
        self.leaf_names = leaf_names
        namespace = {}
        leaves = iter(zip(leaf_names, self.leaf_axes))
        templates = [_example_text(structure, name, leaves, namespace) for name, structure in
                     zip(params, self.arg_structures)]

        def call_args(index):
            return ", ".join(t.format(i=index) for t in templates)

        probe_text = f"def probe({', '.join(leaf_names)}):\n    return TARGET({call_args('0')})\n"
        probe = gast.parse(probe_text).body[0]
        target = _per_example_target(derivative.target, args, self.leaf_axes) if in_place else derivative.target
        probe.namespace = dict(namespace, TARGET=target)
        probe.filename = None
        probe.source_lines = {}
        self.output = normalize(probe).output
        paths = _output_paths(self.output, "_out")
        out_axes = _output_axes(derivative.options.get("out_axes", 0), self.output, len(paths))
        wrapper = vmap_wrapper(f"{node.name}_vmap", leaf_names, self.leaf_axes, call_args, paths, out_axes, target)
        wrapper.namespace.update(namespace)
        wrapper.source_lines = {}
        # Inner gradients are inlined rather than switched, so the loop compiles as one function.
        loop = simplify(check_aliasing(normalize(wrapper, mode_switching=False), specialized=False))
        return write_rows_in_place(loop) if in_place else loop

    def check_batch_sizes(self, leaves):
        sizes = {}
        for name, axis, value in zip(self.leaf_names, self.leaf_axes, leaves):
            if axis is not None:
                if np.ndim(value) <= axis:
                    raise ShapeMismatch(f"vmap: argument '{name}' has {np.ndim(value)} dimensions, so it has no "
                                        f"axis {axis} to map over")
                sizes[name] = np.shape(value)[axis]
        if len(set(sizes.values())) > 1:
            described = ", ".join(f"'{n}' has {s}" for n, s in sizes.items())
            raise ShapeMismatch(f"vmap: inconsistent batch sizes along the mapped axes: {described}")

    def unflatten_grads(self, grads, args):
        """Rebuild the gradients into the structures of the ``wrt`` arguments, with their dtypes."""
        flat = list(grads) if sum(self.wrt_leaf_counts) > 1 else [grads]
        rebuilt = []
        start = 0
        for position, count in zip(self.wrt_positions, self.wrt_leaf_counts):
            leaves = [_cast_like(g, x) for g, x in zip(flat[start:start + count], _flatten_value(args[position]))]
            start += count
            structure = self.arg_structures[position]
            rebuilt.append(leaves[0] if structure is None else _rebuild(structure, iter(leaves)))
        return rebuilt[0] if self.single_wrt else tuple(rebuilt)

    def unflatten_output(self, value):
        if isinstance(self.output, (StaticSeq, StaticDict)):
            from tangent2.frontend.normalize import _leaves
            return _rebuild(self.output, iter(value if len(_leaves(self.output)) != 1 else [value]))
        return value


# ------------------------------------------------------------------- trees
def _structure_of(value, name):
    """A static structure of Names for a tree argument, or None for a leaf."""
    if isinstance(value, tuple) and hasattr(type(value), "_fields"):
        return StaticSeq([_structure_or_leaf(v, f"{name}_{field}") for field, v in zip(value._fields, value)],
                         type(value))
    if isinstance(value, (tuple, list)):
        return StaticSeq([_structure_or_leaf(v, f"{name}_{i}") for i, v in enumerate(value)], type(value))
    if isinstance(value, dict):
        keys = sorted(value, key=repr) if not all(isinstance(k, str) for k in value) else sorted(value)
        return StaticDict(keys, [_structure_or_leaf(value[k], f"{name}_{_identifier(k)}") for k in keys])
    if value is None:
        return StaticSeq([], tuple)
    return None


def _structure_or_leaf(value, name):
    structure = _structure_of(value, name)
    return ir.load(name) if structure is None else structure


def _identifier(key):
    text = "".join(c if c.isalnum() else "_" for c in str(key))
    return text if text and not text[0].isdigit() else f"k{text}"


def _param_leaves(name, structure):
    from tangent2.frontend.normalize import _leaves
    return [name] if structure is None else [leaf.id for leaf in _leaves(structure)]


def _per_example_target(target, args, leaf_axes):
    """What a directly called vmap inlines per example: a Derivative's generated function specialized to one
    example's ndims (``x[_batch]`` of a 1-d ``x`` is a scalar, so its ``unbroadcast`` calls and the primal work
    kept only for shapes go), when every argument is one array or number with a non-empty batch."""
    if not isinstance(target, Derivative) or target.kind == "vmap" or len(args) != len(leaf_axes):
        return target
    if any(isinstance(a, (tuple, list, dict)) or (axis is not None and np.shape(a)[axis] == 0)
           for a, axis in zip(args, leaf_axes)):
        return target
    example = tuple(a if axis is None else np.take(a, 0, axis) for a, axis in zip(args, leaf_axes))
    return target._plan(complete_arguments(target.target, example)).function


def _flatten_args(args):
    leaves = []
    for value in args:
        leaves.extend(_flatten_value(value))
    return leaves


def _flatten_value(value):
    if isinstance(value, (tuple, list)):
        return [leaf for item in value for leaf in _flatten_value(item)]
    if isinstance(value, dict):
        keys = sorted(value, key=repr) if not all(isinstance(k, str) for k in value) else sorted(value)
        return [leaf for k in keys for leaf in _flatten_value(value[k])]
    if value is None:
        return []
    return [value]


def _structure_key(args):
    return tuple(_value_key(v) for v in args)


def _value_key(value):
    if isinstance(value, tuple) and hasattr(type(value), "_fields"):
        return (type(value), tuple(_value_key(v) for v in value))
    if isinstance(value, (tuple, list)):
        return (type(value), tuple(_value_key(v) for v in value))
    if isinstance(value, dict):
        return (dict, tuple(sorted((repr(k), _value_key(v)) for k, v in value.items())))
    if value is None:
        return None
    return "leaf"


def _rebuild(structure, leaves):
    if isinstance(structure, StaticSeq):
        items = [_rebuild(item, leaves) for item in structure.items]
        kind = structure.kind
        if hasattr(kind, "_fields"):
            return kind(*items)
        return kind(items) if kind in (tuple, list) else tuple(items)
    if isinstance(structure, StaticDict):
        return {k: _rebuild(v, leaves) for k, v in zip(structure.keys, structure.values)}
    return next(leaves)


def _leaf_axes(in_axes, args, params):
    """The batch axis of every leaf of ``args`` (None: not batched), from an int, None, tuple or tree."""
    if in_axes is None or isinstance(in_axes, int):
        per_arg = [in_axes] * len(args)
    elif isinstance(in_axes, (tuple, list)) and len(in_axes) == len(args):
        per_arg = list(in_axes)
    else:
        raise TangentError(f"vmap: in_axes={in_axes!r} must be None, an int, or one entry per argument "
                           f"({len(args)} arguments: {', '.join(params)})")
    axes = []
    for name, axis, value in zip(params, per_arg, args):
        spread = _spread_axes(axis, value)
        if spread is None:
            raise TangentError(f"vmap: the in_axes entry for argument '{name}' must be None, an int, or a "
                               f"tree with the structure of the argument")
        axes += [a if a is None or a >= 0 else a + np.ndim(leaf) for a, leaf in zip(spread, _flatten_value(value))]
    return axes


def _spread_axes(axis, value):
    """One axis per leaf of ``value`` from an axis tree (None or an int applies to a whole subtree)."""
    if axis is None or isinstance(axis, int):
        return [axis] * len(_flatten_value(value))
    if isinstance(value, dict) and isinstance(axis, dict) and set(axis) == set(value):
        keys = sorted(value, key=repr) if not all(isinstance(k, str) for k in value) else sorted(value)
        parts = [_spread_axes(axis[k], value[k]) for k in keys]
    elif isinstance(value, (tuple, list)) and isinstance(axis, (tuple, list)) and len(axis) == len(value):
        parts = [_spread_axes(a, v) for a, v in zip(axis, value)]
    else:
        return None
    return None if any(p is None for p in parts) else [a for p in parts for a in p]


def _example_text(structure, name, leaves, namespace):
    """Source text of one example of an argument: leaves indexed by ``{i}`` where batched, trees rebuilt."""
    if not isinstance(structure, (StaticSeq, StaticDict)):  # a leaf (None at the top, a Name inside)
        leaf, axis = next(leaves)
        return example_expression(leaf, axis, "{i}")
    if isinstance(structure, StaticDict):
        items = [f"{k!r}: {_example_text(v, name, leaves, namespace)}" for k, v in
                 zip(structure.keys, structure.values)]
        return "{{" + ", ".join(items) + "}}"
    items = [_example_text(v, name, leaves, namespace) for v in structure.items]
    if hasattr(structure.kind, "_fields"):
        label = f"_tree_{len(namespace)}"
        namespace[label] = structure.kind
        return f"{label}({', '.join(items)})"
    if structure.kind is list:
        return "[" + ", ".join(items) + "]"
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def _output_paths(output, base):
    if isinstance(output, StaticSeq):
        return [p for i, item in enumerate(output.items) for p in _output_paths(item, f"{base}[{i}]")]
    if isinstance(output, StaticDict):
        return [p for k, v in zip(output.keys, output.values) for p in _output_paths(v, f"{base}[{k!r}]")]
    return [base]


def _output_axes(out_axes, output, count):
    if isinstance(out_axes, int):
        return [out_axes] * count
    if isinstance(out_axes, (tuple, list)) and isinstance(output, StaticSeq) and len(out_axes) == len(output.items):
        from tangent2.frontend.normalize import _leaves
        return [axis for axis, item in zip(out_axes, output.items) for _ in _leaves(item)]
    raise TangentError(f"vmap: out_axes={out_axes!r} must be an int or one int per returned value")


def _cast_like(gradient, value):
    """A Python-float seed can widen a float32 gradient; give it the argument's dtype back."""
    dtype = getattr(value, "dtype", None)
    if dtype is None or getattr(gradient, "dtype", None) == dtype:
        return gradient
    if np.ndim(value) == 0:
        return dtype.type(gradient)
    return np.asarray(gradient, dtype=dtype)


def _value_leaf_count(output, has_aux):
    from tangent2.frontend.normalize import _leaves
    if not has_aux:
        return None
    if not isinstance(output, StaticSeq) or len(output.items) != 2:
        raise TangentError("has_aux=True needs the function to return a pair (value, aux)")
    return len(_leaves(output.items[0]))


def _wrt_positions(wrt, params, function):
    items = wrt if isinstance(wrt, (tuple, list)) else (wrt,)
    positions = []
    for item in items:
        if isinstance(item, str):
            if item not in params:
                raise TangentError(f"wrt={item!r}: {function.__name__}() has no argument named {item!r} "
                                   f"(its arguments are {', '.join(params)})")
            positions.append(params.index(item))
        elif isinstance(item, (int, np.integer)):
            if not -len(params) <= item < len(params):
                raise TangentError(f"wrt={item}: {function.__name__}() has only {len(params)} arguments")
            positions.append(int(item) % len(params))
        else:
            raise TangentError(f"wrt must be an argument index, an argument name, or a tuple of them, not {item!r}")
    return positions


def _check_differentiable(value, name, function):
    for leaf in _flatten_value(value):
        if isinstance(leaf, (bool, np.bool_)) or isinstance(leaf, (int, np.integer)) or isinstance(leaf, str) or (
                isinstance(leaf, np.ndarray) and not np.issubdtype(leaf.dtype, np.inexact)):
            kind = type(leaf).__name__ if not isinstance(leaf, np.ndarray) else f"array of {leaf.dtype}"
            raise NonDifferentiableInput(
                f"cannot differentiate {function.__name__}() with respect to argument '{name}': it holds a "
                f"{kind} value ({leaf!r:.60}). Derivatives need floating-point inputs: pass "
                f"float({leaf!r:.20}) or an array of floats, or choose another argument with wrt=")
