"""``tangent2.jit``: compile derivatives (or plain functions) with Numba.

``jit(f, target="cpu", cache=True, fallback=None)`` returns a callable with
``f``'s calling convention:

* ``f`` a :class:`~tangent2.Derivative` (``grad``, ``value_and_grad``,
  ``jacfwd``, ``jacrev``, ``hvp``, ``vmap``, ...): each call runs
  ``Derivative.__call__`` itself on a view of the Derivative whose generated
  functions are Numba dispatchers, so trees, defaults and dtypes are handled
  exactly as in Python; each generated function (one per pattern of argument
  structures) is compiled once with ``numba.njit`` in nopython mode.  A
  ``"jvp"`` Derivative is called like :func:`tangent2.jvp`:
  ``(primals, tangents)``.
* ``f`` a plain Python function (or a generated one): compiled directly; if
  Numba cannot compile it as written (it calls other user functions, takes a
  dict), tangent2's generated primal of it (calls inlined, trees flattened)
  is compiled instead.

Later calls take fast paths: when every argument is a scalar or an array the
argument types select a cached entry (for a gradient with respect to Python
floats, the Numba dispatcher itself); tree arguments of a known structure
skip the plan lookup.  Each JitFunction snapshots the generated code per
argument structure on its first call with it (a later change of
``tangent2.config`` needs a new JitFunction).

``target="parallel"`` compiles with ``parallel=True``; ``target="cuda"``
maps a scalar derivative (loops included) over arrays, or over the examples
of a ``vmap``, with an explicit CUDA kernel, one thread each (see
:mod:`tangent2.backends.numba_cuda`).

When Numba cannot compile, a :class:`CompilationError` names the generated
line and the user's line it came from; with ``fallback="python"`` the
uncompiled derivative runs instead, with a warning.
"""
import functools
import threading
import warnings
import weakref

import numpy as np

from tangent2.backends.numba_cpu import CompilationError, compile_function, explain, numba_errors
from tangent2.errors import TangentError

__all__ = ["CompilationError", "JitFunction", "jit"]

_TARGETS = ("cpu", "parallel", "cuda")
_SCALAR_TYPES = frozenset([float, int, bool, np.float64, np.float32, np.float16, np.int64, np.int32, np.int16,
                           np.int8, np.uint8, np.uint16, np.uint32, np.uint64, np.bool_, complex, np.complex128,
                           np.complex64])
_LEAF_TYPES = _SCALAR_TYPES | {np.ndarray}
_UNCALLABLE = ("vjp", "pullback")


def jit(f, target="cpu", cache=True, fallback=None):
    """Compile ``f`` (a Derivative, a ``@differentiate`` function or a plain function) with Numba.

    ``target``: ``"cpu"`` (``numba.njit``), ``"parallel"`` (``njit(parallel=True)``) or
    ``"cuda"`` (a kernel around the scalar derivative: elementwise, or per example for ``vmap``).  ``cache``:
    use Numba's on-disk cache (next to the generated file in ``TANGENT2_CACHE_DIR``),
    so a second process skips compilation.  ``fallback``: None (raise
    :class:`CompilationError` when Numba cannot compile) or ``"python"`` (warn and run
    the uncompiled function).
    """
    if target not in _TARGETS:
        raise TangentError(f"tangent2.jit: target must be one of {', '.join(map(repr, _TARGETS))}, not {target!r}")
    if fallback not in (None, "python"):
        raise TangentError(f"tangent2.jit: fallback must be None or 'python', not {fallback!r}")
    if isinstance(f, JitFunction):
        f = f.target
    if target == "cuda":
        from tangent2.backends.numba_cuda import CudaElementwise
        return CudaElementwise(f, cache=cache, fallback=fallback)
    return JitFunction(f, target=target, cache=cache, fallback=fallback)


jit.CompilationError = CompilationError


class JitFunction:
    """The compiled version of a Derivative or a function; call it like the original."""

    def __init__(self, f, target="cpu", cache=True, fallback=None):
        from tangent2.derivative import Derivative, python_function
        self.target = f
        self.options = {"target": target, "cache": cache, "fallback": fallback}
        self._parallel = target == "parallel"
        self._cache = cache
        self._fallback = fallback
        self._fast = {}            # tuple of argument types -> callable(*args)
        self._fast1 = {}           # the same for one-argument calls, keyed by the argument's type
        self._primal = None        # for a plain function Numba cannot compile: tangent2's generated primal of it
        self._trees = {}           # structure signature of tree arguments -> callable(args, leaves)
        self._compiled = {}        # generated function -> dispatcher (or the Python function, on fallback)
        self._lock = threading.RLock()
        if isinstance(f, Derivative):
            self._derivative = f
            self._function = None
            self._view = _CompiledView(f, self)
            if f.kind in _UNCALLABLE:
                raise TangentError(f"tangent2.jit cannot compile a {f.kind!r} Derivative (it is not called "
                                   "directly); jit the generated function (tangent2.api.generated_function) instead")
        else:
            self._derivative = None
            self._function = python_function(f) if not callable(getattr(f, "py_func", None)) else f.py_func
        self.__name__ = getattr(f, "__name__", "jitted")
        self.__doc__ = getattr(f, "__doc__", None)

    def __repr__(self):
        return f"<tangent2.jit({self.target!r}, target={self.options['target']!r})>"

    # -------------------------------------------------------------- inspecting
    @property
    def dispatchers(self):
        """The Numba dispatchers compiled so far (one per generated function)."""
        return [d for f, d in self._compiled.items() if d is not f]

    def stats(self):
        """Numba's on-disk cache statistics, summed over the dispatchers: ``cache_hits``, ``cache_misses``
        (signatures compiled in this process), and ``signatures``."""
        hits = misses = signatures = 0
        for dispatcher in self.dispatchers:
            stats = dispatcher.stats
            hits += sum(stats.cache_hits.values())
            misses += sum(stats.cache_misses.values())
            signatures += len(dispatcher.signatures)
        return {"cache_hits": hits, "cache_misses": misses, "signatures": signatures}

    # ------------------------------------------------------------------ calls
    def __call__(self, *args):
        if len(args) == 1:
            entry = self._fast1.get(type(args[0]))
        else:
            entry = self._fast.get(tuple(map(type, args)))
        if entry is not None:
            try:
                return entry(*args)
            except numba_errors():
                pass  # new dtypes/ndims made Numba compile again, and that failed: explained below
        return self._call_slow(args)

    def _call_slow(self, args):
        if self._derivative is None:
            if self._primal is not None:
                return self._call_primal(args)
            dispatcher = self._dispatcher(self._function)
            key = tuple(map(type, args))
            try:
                result = dispatcher(*args)
            except numba_errors() as error:
                if self._use_primal(args):
                    return self._call_primal(args)
                self._failed(error, self._function)
                return self._function(*args)
            if all(t in _LEAF_TYPES for t in key):
                self._remember(key, dispatcher)
            return result
        kind = self._derivative.kind
        if kind == "jvp":
            return self._call_jvp(*args)
        if kind in ("grad", "value_and_grad"):
            leaves = []
            signature = _signature(args, leaves)
            entry = self._trees.get(signature) if signature is not None else None
            if entry is not None:
                try:
                    return entry(args, leaves)
                except numba_errors():
                    pass
            result = self._call_derivative(args)
            if signature is not None and signature not in self._trees:
                entry = self._tree_entry(args, leaves)
                if entry is not None:
                    self._trees[signature] = entry
                key = tuple(map(type, args))
                if entry is not None and key not in self._fast:
                    fast = self._unrolled_tree_entry(args)
                    if fast is not None:
                        self._remember(key, fast)
            return result
        return self._call_derivative(args)

    def _use_primal(self, args):
        """Whether tangent2's generated primal of the function (user calls inlined, trees flattened) can stand in
        for it, when Numba cannot compile the function as it is written."""
        from tangent2 import api
        from tangent2.derivative import Derivative
        if not getattr(self._function, "__code__", None) or getattr(self._function, "__tangent2_source__", None):
            return False  # generated functions are compiled as they are
        complete = _complete(self._function, args)
        positions = [i for i, a in enumerate(complete) if api._has_float_leaves(a)]
        if not positions:
            return False
        try:
            primal = Derivative(self._function, "primal", positions[0])
            primal._plan(complete)
        except TangentError:
            return False
        self._primal = primal
        return True

    def _call_primal(self, args):
        from tangent2 import derivative as dv
        complete = _complete(self._function, args)
        plan = self._primal._plan(complete)
        dispatcher = self._dispatcher(plan.function)
        leaves = dv._flatten_args(complete)
        try:
            result = dispatcher(*leaves)
        except numba_errors() as error:
            self._failed(error, plan.function)
            result = plan.function(*leaves)
        return plan.unflatten_output(result)

    def _tree_entry(self, raw, leaves):
        """A callable ``(args, leaves)`` for later calls with tree arguments of the same structure."""
        derivative = self._derivative
        args = _complete(derivative.target, raw)
        plan = derivative._plan(args)
        dispatcher = self._compiled.get(plan.function)
        if dispatcher is None or dispatcher is plan.function:
            return None
        completed = args[len(raw):]
        extra = tuple(completed) + _seed(derivative)

        def entry(raw, leaves):
            return _rebuild(derivative, plan, dispatcher(*leaves, *extra), raw + completed)
        return entry

    def _unrolled_tree_entry(self, raw):
        """For ``grad``: a generated Python function that takes the arguments of ``raw``'s structure apart,
        calls the dispatcher and builds the gradient trees in straight-line code (one pass, no recursion); it
        hands any other structure to the slow path.  None where it does not apply."""
        derivative = self._derivative
        if derivative.kind != "grad" or derivative.has_aux:
            return None
        args = _complete(derivative.target, raw)
        plan = derivative._plan(args)
        dispatcher = self._compiled.get(plan.function)
        if dispatcher is None or dispatcher is plan.function or any(p >= len(raw) for p in plan.wrt_positions):
            return None
        try:
            return _unrolled_grad_entry(plan, dispatcher, raw, tuple(args[len(raw):]) + _seed(derivative),
                                        self._call_slow)
        except _NotUnrolled:
            return None

    def _run(self, dispatcher, function, args):
        try:
            return dispatcher(*args)
        except numba_errors() as error:
            self._failed(error, function)
            return function(*args)

    def _failed(self, error, function):
        """Raise a CompilationError for ``error`` or, with fallback="python", warn and use ``function`` from now on."""
        from numba.core.errors import TypingError
        if not isinstance(error, TypingError) and not _is_compile_error(error):
            raise error
        explained = explain(error, function, what=self._what(function))
        if self._fallback != "python":
            raise explained from None
        warnings.warn(f"tangent2.jit: running the uncompiled Python version.\n{explained}", RuntimeWarning,
                      stacklevel=5)
        with self._lock:
            self._compiled[function] = function
            self._fast.clear()
            self._fast1.clear()
            self._trees.clear()

    def _remember(self, key, entry):
        self._fast[key] = entry
        if len(key) == 1:
            self._fast1[key[0]] = entry

    def _what(self, function):
        if self._derivative is not None:
            return f"{function.__name__} (the generated {self._derivative.kind} of " \
                   f"{getattr(self._derivative, '__name__', '?')})"
        return function.__name__

    def _dispatcher(self, function):
        dispatcher = self._compiled.get(function)
        if dispatcher is None:
            with self._lock:
                dispatcher = self._compiled.get(function)
                if dispatcher is None:
                    dispatcher = _shared_dispatcher(function, self._parallel, self._cache)
                    self._compiled[function] = dispatcher
        return dispatcher

    # ------------------------------------------------------------ derivatives
    def _call_derivative(self, args):
        """``Derivative.__call__`` itself, run on a view of the Derivative whose generated functions are compiled."""
        from tangent2.derivative import Derivative
        derivative = self._derivative
        view = self._view
        try:
            result = Derivative.__call__(view, *args)
        except numba_errors() as error:
            self._failed(error, view.last_function)
            return derivative(*args)
        key = tuple(map(type, args))
        if all(t in _LEAF_TYPES for t in key) and not any(type(a) is np.ndarray and a.ndim == 0 for a in args):
            entry = self._entry(args)
            if entry is not None:
                self._remember(key, entry if np.ndarray not in key else _guard_ndims(entry, args, self))
        return result

    def _entry(self, raw):
        """A callable for later calls with arguments of the types of ``raw`` (all leaves), or None."""
        derivative = self._derivative
        kind = derivative.kind
        if kind == "vmap" and hasattr(derivative, "_plan"):
            # Derivative.__call__ for vmap, minus the plan lookup: the leaves are the arguments
            plan = derivative._plan(raw)
            dispatcher = self._compiled.get(plan.function)
            if dispatcher is None or dispatcher is plan.function or not hasattr(plan, "check_batch_sizes"):
                return None

            def vmapped(*args):
                plan.check_batch_sizes(args)
                return plan.unflatten_output(dispatcher(*args))
            return vmapped
        if kind not in ("grad", "value_and_grad"):
            return functools.partial(_DERIVATIVE_CALL, self._view)
        args = _complete(derivative.target, raw)
        plan = derivative._plan(args)
        dispatcher = self._compiled.get(plan.function)
        if dispatcher is None or dispatcher is plan.function:
            return None
        return _entry(derivative, plan, dispatcher, raw, args)

    def _call_jvp(self, primals, tangents):
        from tangent2 import derivative as dv
        from tangent2.api import _check_matching
        derivative = self._derivative
        tangents = tuple(tangents)
        primals = _complete(derivative.target, tuple(primals))  # defaults, as tangent2.jvp fills them in
        plan = derivative._plan(primals)
        for i in plan.wrt_positions:
            _check_matching(primals[i], tangents[i], f"tangent of argument {i}")
        leaves = dv._flatten_args(primals)
        tangent_leaves = [t for i in plan.wrt_positions for t in dv._flatten_value(tangents[i])]
        dispatcher = self._dispatcher(plan.function)
        flat = (*leaves, *tangent_leaves)
        out, out_dot = _scalar_dtypes_restored(dispatcher, flat, self._run(dispatcher, plan.function, flat))
        out_dot = _tangent_dtypes(out, out_dot)
        return plan.unflatten_output(out), plan.unflatten_output(out_dot)


_DISPATCHERS = weakref.WeakKeyDictionary()   # generated function -> {(parallel, cache): dispatcher}


def _shared_dispatcher(function, parallel, cache):
    """One Numba dispatcher per function and options in the process, shared by every JitFunction."""
    with _SHARED_LOCK:
        try:
            per_function = _DISPATCHERS.setdefault(function, {})
        except TypeError:  # not weakly referenceable
            return compile_function(function, parallel=parallel, cache=cache)
        dispatcher = per_function.get((parallel, cache))
        if dispatcher is None:
            dispatcher = per_function[(parallel, cache)] = compile_function(function, parallel=parallel, cache=cache)
        return dispatcher


_SHARED_LOCK = threading.RLock()


def _signature(value, leaves):
    """A hashable description of a tree of arguments (containers, key names, leaf types and array ndims),
    appending its leaves to ``leaves`` in the order tangent2 flattens them; None for what it does not know."""
    kind = type(value)
    if kind is np.ndarray:
        leaves.append(value)
        return value.ndim
    if kind in _SCALAR_TYPES:
        leaves.append(value)
        return kind
    if kind is tuple or kind is list or (isinstance(value, tuple) and hasattr(kind, "_fields")):
        items = []
        for item in value:
            signature = _signature(item, leaves)
            if signature is None:
                return None
            items.append(signature)
        return (kind, tuple(items))
    if kind is dict:
        keys = sorted(value) if all(type(k) is str for k in value) else None
        if keys is None:
            return None
        items = []
        for key in keys:
            signature = _signature(value[key], leaves)
            if signature is None:
                return None
            items.append(signature)
        return (dict, tuple(keys), tuple(items))
    if value is None:
        return None
    return None


class _CompiledView:
    """Looks like the Derivative to ``Derivative.__call__``, but its plans call compiled functions."""

    def __init__(self, derivative, owner):
        self._derivative = derivative
        self._owner = owner
        self.last_function = None

    def __getattr__(self, name):
        return getattr(self._derivative, name)

    def _plan(self, args, *rest, **options):
        plan = self._derivative._plan(args, *rest, **options)
        self.last_function = plan.function
        return _CompiledPlan(plan, self._owner._dispatcher(plan.function))


class _CompiledPlan:
    """A plan whose ``function`` is the Numba dispatcher; everything else is the plan's."""

    def __init__(self, plan, dispatcher):
        self._plan = plan
        self.function = dispatcher

    def __getattr__(self, name):
        return getattr(self._plan, name)


def _derivative_call(view, *args):
    from tangent2.derivative import Derivative
    return Derivative.__call__(view, *args)


_DERIVATIVE_CALL = _derivative_call


class _NotUnrolled(Exception):
    pass


def _unrolled_grad_entry(plan, dispatcher, raw, extra, slow):
    """See ``JitFunction._unrolled_tree_entry``; the leaves are taken in the order tangent2 flattens trees."""
    from tangent2.derivative import _cast_like
    namespace = {"_ndarray": np.ndarray, "_dispatcher": dispatcher, "_slow": slow, "_cast": _cast_like,
                 "_extra": extra}
    checks, names = [], []

    def constant(value):
        name = f"_k{len(namespace)}"
        namespace[name] = value
        return name

    def visit(expr, value):
        """Lines checking and unpacking ``expr`` (shaped like ``value``); returns its tree of leaf names."""
        kind = type(value)
        name = f"_a{len(names)}"
        names.append(name)
        checks.append(f"{name} = {expr}")
        if kind is np.ndarray:
            checks.append(f"if type({name}) is not _ndarray or {name}.ndim != {value.ndim}:")
            checks.append("    return _slow(args)")
            return ("leaf", name, True)
        if kind in _SCALAR_TYPES:
            checks.append(f"if type({name}) is not {constant(kind)}:")
            checks.append("    return _slow(args)")
            return ("leaf", name, False)
        if kind is tuple or kind is list or (isinstance(value, tuple) and hasattr(kind, "_fields")):
            checks.append(f"if type({name}) is not {constant(kind)} or len({name}) != {len(value)}:")
            checks.append("    return _slow(args)")
            return (kind, [visit(f"{name}[{i}]", item) for i, item in enumerate(value)])
        if kind is dict and all(type(k) is str for k in value):
            checks.append(f"if type({name}) is not dict or len({name}) != {len(value)}:")
            checks.append("    return _slow(args)")
            return (dict, [(key, visit(f"{name}[{key!r}]", value[key])) for key in sorted(value)])
        raise _NotUnrolled

    trees = [visit(f"args[{i}]", value) for i, value in enumerate(raw)]
    leaves = []

    def leaf_names(tree):
        if tree[0] == "leaf":
            leaves.append(tree[1])
        elif tree[0] is dict:
            for _, item in tree[1]:
                leaf_names(item)
        else:
            for item in tree[1]:
                leaf_names(item)

    for tree in trees:
        leaf_names(tree)
    gradients = iter(f"_g{i}" for i in range(sum(plan.wrt_leaf_counts)))

    def build(tree):
        """The expression of the gradient tree shaped like ``tree``, cast to its leaves' dtypes."""
        if tree[0] == "leaf":
            g, x = next(gradients), tree[1]
            if not tree[2]:
                return f"_cast({g}, {x})"
            return f"({g} if type({g}) is _ndarray and {g}.dtype is {x}.dtype else _cast({g}, {x}))"
        if tree[0] is dict:
            return "{" + ", ".join(f"{key!r}: {build(item)}" for key, item in tree[1]) + "}"
        items = ", ".join(build(item) for item in tree[1])
        kind = tree[0]
        if kind is tuple:
            return f"({items},)" if tree[1] else "()"
        if kind is list:
            return f"[{items}]"
        return f"{constant(kind)}({items})"

    results = [build(trees[p]) for p in plan.wrt_positions]
    count = sum(plan.wrt_leaf_counts)
    unpack = f"{', '.join(f'_g{i}' for i in range(count))}, = _r" if count > 1 else "_g0 = _r"
    returned = results[0] if plan.single_wrt else f"({', '.join(results)},)"
    body = ["if len(args) != %d:" % len(raw), "    return _slow(args)", "try:"]
    body += ["    " + line for line in checks]
    body += ["except (KeyError, IndexError):", "    return _slow(args)",
             f"_r = _dispatcher({''.join(f'{leaf}, ' for leaf in leaves)}*_extra)", unpack, f"return {returned}"]
    text = "def _unrolled(*args):\n" + "".join(f"    {line}\n" for line in body)
    exec(compile(text, "<tangent2.jit tree entry>", "exec"), namespace)
    return namespace["_unrolled"]


def _complete(target, args):
    """``args`` with defaults of trailing parameters filled in, as ``Derivative.__call__`` does."""
    from tangent2 import derivative as dv
    complete = getattr(dv, "complete_arguments", None)
    return complete(target, args) if complete is not None else tuple(args)


def _seed(derivative):
    if derivative.kind in ("value_and_grad",) or (derivative.kind == "grad" and derivative.has_aux):
        return (1.0,)
    return ()


def _rebuild(derivative, plan, result, args):
    """What ``Derivative.__call__`` returns, from the generated function's ``result``."""
    kind = derivative.kind
    if kind == "grad" and not derivative.has_aux:
        return plan.unflatten_grads(result, args)
    if kind in ("grad", "value_and_grad"):
        value, grads = result
        value = plan.unflatten_output(value)
        grads = plan.unflatten_grads(grads, args)
        if kind == "grad":
            return grads, value[1]
        return value, grads
    raise AssertionError(kind)


def _entry(derivative, plan, dispatcher, raw, args):
    """The fastest callable mapping leaf arguments (typed like ``raw``) to a grad/value_and_grad result."""
    completed = args[len(raw):]
    simple = derivative.kind == "grad" and not derivative.has_aux and all(
        type(args[p]) in (float, int) for p in plan.wrt_positions) and all(
        s is None for s in plan.arg_structures)
    if simple and _defaults_cover(plan.function, len(raw), completed):
        # Python-float gradients come back from Numba as they are: nothing to rebuild
        return dispatcher
    seed = _seed(derivative)

    def entry(*raw):
        full = raw + completed
        return _rebuild(derivative, plan, dispatcher(*full, *seed), full)
    return entry


def _defaults_cover(function, start, values):
    """Whether ``function``'s defaults give parameters ``start, start + 1, ...`` exactly ``values``."""
    if not values:
        return True
    defaults = function.__defaults__ or ()
    first_default = function.__code__.co_argcount - len(defaults)
    if start < first_default:
        return False
    given = defaults[start - first_default:start - first_default + len(values)]
    return len(given) == len(values) and all(type(a) is type(b) and a == b for a, b in zip(given, values))


def _guard_ndims(entry, raw, owner):
    """``entry`` for arguments typed like ``raw`` with arrays, sent to the slow path when an array has another
    ndim (plans are specialized to ndims: which values are scalars)."""
    ndims = [(i, a.ndim) for i, a in enumerate(raw) if type(a) is np.ndarray]

    def guarded(*args):
        for i, ndim in ndims:
            if args[i].ndim != ndim:
                return owner._call_slow(args)
        return entry(*args)
    return guarded


def _scalar_dtypes_restored(dispatcher, args, result):
    """``result`` with the float32/complex64 scalars Numba boxed as Python floats/complexes made NumPy scalars
    again, as the Python derivative returns them (read from the compiled overload's return type)."""
    overloads = getattr(dispatcher, "overloads", None)
    if not overloads:
        return result  # the Python function, after fallback="python"
    try:
        signature = tuple(dispatcher.typeof_pyval(a) for a in args)
    except ValueError:
        return result
    overload = overloads.get(signature)
    return result if overload is None else _restore(result, overload.signature.return_type)


def _tangent_dtypes(out, out_dot):
    """Tangents with their outputs' float dtypes: Numba computes ``1.0 - x`` of a float32 ``x`` in float64
    (NumPy 2 keeps float32), so compiled tangents can come out wider than the outputs they belong to."""
    from tangent2.derivative import _cast_like
    if isinstance(out, tuple) and isinstance(out_dot, tuple):
        return tuple(_tangent_dtypes(o, t) for o, t in zip(out, out_dot))
    dtype = getattr(out, "dtype", None)
    if dtype is None or not np.issubdtype(dtype, np.inexact):
        return out_dot
    return _cast_like(out_dot, out)


def _restore(value, numba_type):
    from numba.core import types
    if isinstance(numba_type, types.BaseTuple) and isinstance(value, tuple):
        return tuple(_restore(v, t) for v, t in zip(value, numba_type))
    if type(value) is float and numba_type == types.float32:
        return np.float32(value)
    if type(value) is complex and numba_type == types.complex64:
        return np.complex64(value)
    return value


def _is_compile_error(error):
    from numba.core import errors
    return isinstance(error, (errors.TypingError, errors.UnsupportedError, errors.LoweringError,
                              errors.CompilerError, errors.NotDefinedError, errors.UntypedAttributeError,
                              errors.UnsupportedBytecodeError, errors.ConstantInferenceError))
