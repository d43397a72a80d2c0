"""CUDA backend: scalar derivatives mapped over arrays (elementwise) or over a batch (``vmap``), one thread each.

``jit(d, target="cuda")`` returns a :class:`CudaElementwise`.  ``d`` is

* ``grad`` / ``value_and_grad`` / ``jacfwd`` (``hessian``) of a scalar
  function, a ``Derivative(f, "jvp", wrt)`` (called like ``tangent2.jvp``:
  ``(primals, tangents)``), or a plain scalar function: mapped
  elementwise over its broadcast array arguments, or
* ``vmap`` of one of those, ``in_axes`` saying which arguments are batched
  (1-d arrays: one scalar per example) and which are shared by every
  example (``None``: scalars, or arrays the function reads).

A call

1. takes the generated function of the derivative for *scalar* arguments
   (the one ``grad(f)(x, n)`` uses for a float and an int),
2. rewrites its stacks (reverse-mode loops save overwritten values on
   Python lists) into per-thread tapes in device memory
   (:mod:`tangent2.backends.cuda_device`, which also replaces
   NumPy calls on scalars that Numba's CUDA target cannot compile),
3. compiles that as a device function, ``numba.cuda.jit(device=True)``,
   and writes and compiles an explicit kernel, one thread per element, that
   calls it and stores each output in its own array,
4. launches the kernel; where a stack outgrew the room its tape gave it,
   the kernel reports the depth it needed and the same examples are run
   again with more room (never a result computed from missing entries),
5. returns arrays in the structure the derivative returns.

NumPy inputs give NumPy outputs (copied to and from the device); device
arrays give device arrays.  Explicit kernels are used because, with
numba-cuda 0.30.4, ``vectorize(target="cuda")`` fails under the simulator.

Tests run this under Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, set
before ``numba.cuda`` is imported), where kernels and device functions run
as Python.
"""
import contextlib
import math
import threading
import warnings
from types import SimpleNamespace

import numpy as np

from tangent2.backends.numba_cpu import CompilationError, explain, give_module, numba_errors
from tangent2.errors import ShapeMismatch, TangentError

THREADS_PER_BLOCK = 128
INITIAL_ROOM = 64          # entries per stack and example on a kernel's first launch
TAPE_BYTES = 256 << 20     # device memory for the tapes of one launch; more examples run in several launches

_ELEMENTWISE = ("grad", "value_and_grad", "jvp", "jacfwd")
_PER_EXAMPLE = ("grad", "value_and_grad", "jacfwd")


class CudaElementwise:
    """A scalar derivative (or function) compiled to a CUDA kernel mapped over arrays or a vmap batch."""

    def __init__(self, f, cache=True, fallback=None):
        from tangent2.derivative import Derivative, python_function
        self.target = f
        self.cache = cache
        self.fallback = fallback
        self.tape_bytes = TAPE_BYTES
        self._lock = threading.RLock()
        self._kernels = {}
        self._devices = {}
        self._python = set()
        self._compiled = set()  # kernel keys compiled ahead of their first launch
        self._layouts = {}
        self._rooms = {}        # kernel key -> room of each stack (grown where a launch ran out, kept)
        self._counts = {"launches": 0, "retries": 0}
        self._last = None       # (kernel key, device stacks) of the last launch
        self._vmap = isinstance(f, Derivative) and f.kind == "vmap"
        element = f.target if self._vmap else f
        if isinstance(element, Derivative):
            allowed = _PER_EXAMPLE if self._vmap else _ELEMENTWISE
            if element.kind not in allowed:
                what = "vmap of" if self._vmap else "maps"
                raise TangentError(f"tangent2.jit(target='cuda') {what} {', '.join(allowed)} derivatives of "
                                   f"scalar functions (and plain scalar functions), not {element.kind!r}")
            if element.has_aux:
                raise TangentError("tangent2.jit(target='cuda') does not map has_aux derivatives; return the "
                                   "auxiliary value from a separate function")
        else:
            python_function(element)  # a clear error for what tangent2 cannot read
        self._element = element
        self.__name__ = getattr(f, "__name__", "kernel")

    def __repr__(self):
        return f"<tangent2.jit({self.target!r}, target='cuda')>"

    # ------------------------------------------------------------------ calls
    def __call__(self, *args):
        call = self._prepare(args)
        if call.function not in self._python:
            try:
                self._compile(call)
                inputs = [_to_device(v, m, d, call.shape, call.n)
                          for v, m, d in zip(call.values, call.modes, call.on_device)]
                outputs = [self._cuda().device_array(call.n, dtype=call.dtype) for _ in call.paths]
                try:
                    self._launch(call, inputs, outputs)
                except numba_errors() as error:  # compiled again at launch, for argument types of its own
                    raise self._explain(error, call) from None
            except CompilationError as compiled:
                if self.fallback != "python":
                    raise
                warnings.warn(f"tangent2.jit(target='cuda'): running the uncompiled Python version.\n{compiled}",
                              RuntimeWarning, stacklevel=2)
                self._python.add(call.function)
        if call.function in self._python:
            return self._run_python(call)
        if any(call.on_device):
            results = [o.reshape(call.shape) if len(call.shape) != 1 else o for o in outputs]
        else:
            results = [o.copy_to_host().reshape(call.shape) for o in outputs]
        return _rebuild(call.example, iter(results))

    def ptx(self, *args, cc=None):
        """The PTX of the kernel a call with ``args`` launches, for compute capability ``cc`` (default: the GPU's).

        Compiles only: no launch, so without a GPU (given ``cc`` and CUDA's NVVM library) it still checks
        that the generated code compiles for the device.
        """
        cuda = self._cuda()
        call = self._prepare(args)
        kernel, stacks = self._kernel(call)
        cc = cc or cuda.get_current_device().compute_capability
        try:
            with _compute_capability(cc):
                ptx, _ = cuda.compile_ptx(kernel.py_func, self._signature(call, stacks), cc=cc)
        except _compile_errors() as error:
            raise self._explain(error, call) from None
        return ptx

    def _compile(self, call):
        """Compile the call's kernel before launching it (on a GPU; the simulator runs Python)."""
        kernel, stacks = self._kernel(call)
        if call.key in self._compiled or not hasattr(kernel, "compile"):
            return
        try:
            kernel.compile(self._signature(call, stacks))
        except _compile_errors() as error:
            raise self._explain(error, call) from None
        self._compiled.add(call.key)

    def _signature(self, call, stacks):
        """The kernel's argument types: the sizes, the arguments, the outputs, then tapes, slots and peaks."""
        from numba.core import types
        signature = [types.int64, types.int64]
        for value, mode in zip(call.values, call.modes):
            signature.append(_numba_type(value if mode == "pass" else np.empty(1, dtype=value.dtype), layout="C"))
        signature += [types.Array(_numba_dtype(call.dtype), 1, "C")] * len(call.paths)
        if stacks is not None:
            signature += [types.Array(_numba_dtype(d), 2, "C") for d in stacks.dtypes]
            signature += [types.Array(types.int64, 2, "C"), types.Array(types.int64, 1, "C")]
        return tuple(signature)

    def _explain(self, error, call):
        """A CompilationError naming the line of the device function (so the user's line) that failed."""
        entry = self._devices.get(call.key[:2])
        source = getattr(entry[0], "py_func", call.function) if entry is not None else call.function
        described = error
        if isinstance(error, TypeError):
            described = RuntimeError(f"{error}: Numba's CUDA target cannot compile a NumPy call there (device "
                                     "code creates no arrays, and NumPy calls with omitted optional arguments "
                                     "fail)" + _typing_location(error, source))
        compiled = explain(described, source, what=f"the CUDA kernel of {call.function.__name__}")
        compiled.numba_error = error
        return compiled

    def _prepare(self, args):
        """What a call with ``args`` maps, with which element function (a :class:`_Call`)."""
        if self._vmap:
            values, modes, shape, on_device = self._batch(args)
        else:
            if getattr(self._element, "kind", None) == "jvp":
                if len(args) != 2:
                    raise TangentError("a CUDA jvp kernel is called like tangent2.jvp: kernel(primals, tangents)")
                args = tuple(args[0]) + tuple(args[1])  # the tangents of the wrt arguments follow the primals
            values, modes, shape, on_device = self._broadcast(args)
        call = _Call()
        call.shape = shape
        call.n = int(np.prod(shape)) if shape else 1
        call.dtype = dtype = _result_dtype(values, on_device)
        values = [_converted(v, m, d, dtype) for v, m, d in zip(values, modes, on_device)]
        samples = [_sample(v, m, d) for v, m, d in zip(values, modes, on_device)]
        function, extra, select = self._element_call(samples)
        call.function, call.select = function, select
        call.values = values + list(extra)
        call.samples = samples + list(extra)
        call.modes = tuple(modes) + ("pass",) * len(extra)
        call.on_device = list(on_device) + [False] * len(extra)
        layout = self._layouts.get((function, call.modes, select))
        if layout is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                example = _structure(_pick(function(*call.samples), select))  # which outputs, in which tuples
            layout = self._layouts[(function, call.modes, select)] = (example, _paths(example))
        call.example, call.paths = layout
        call.key = (function, _types_key(call.samples, call.modes), call.modes, select, tuple(call.paths))
        return call

    def _broadcast(self, args):
        """Elementwise: every array is mapped, broadcast against the others; scalars go to every thread."""
        if not args:
            raise TangentError("a CUDA elementwise derivative needs at least one argument")
        on_device = [_on_device(a) for a in args]
        arrays = [a for a, d in zip(args, on_device) if d or isinstance(a, np.ndarray)]
        if not arrays:
            raise TangentError("tangent2.jit(target='cuda') maps over arrays: pass at least one array "
                               "(use target='cpu' for scalars)")
        shape = np.broadcast_shapes(*[tuple(a.shape) for a in arrays])
        for a, d in zip(args, on_device):
            if d and tuple(a.shape) != shape:
                raise TangentError(f"device arrays must all have the broadcast shape {shape}, got {a.shape}; "
                                   "broadcast them on the device first")
        modes = ["map" if d or isinstance(a, np.ndarray) else "pass" for a, d in zip(args, on_device)]
        return list(args), modes, shape, on_device

    def _batch(self, args):
        """vmap: arguments with an in_axes entry are 1-d batches (a scalar per example); None: shared."""
        options = self.target.options
        in_axes = options.get("in_axes", 0)
        axes = list(in_axes) if isinstance(in_axes, (tuple, list)) else [in_axes] * len(args)
        if len(axes) != len(args) or not all(a is None or isinstance(a, int) for a in axes):
            raise TangentError(f"tangent2.jit(target='cuda'): in_axes={in_axes!r} must be None, an int, or one "
                               f"None or int per argument ({len(args)} arguments)")
        out_axes = options.get("out_axes", 0)
        if not all(a in (0, -1) for a in (out_axes if isinstance(out_axes, (tuple, list)) else [out_axes])):
            raise TangentError(f"tangent2.jit(target='cuda'): out_axes={out_axes!r}: each example gives scalars, "
                               "stacked along axis 0")
        on_device = [_on_device(a) for a in args]
        sizes = {}
        for k, (a, axis) in enumerate(zip(args, axes)):
            if axis is None:
                continue
            ndim = len(a.shape) if on_device[k] or isinstance(a, np.ndarray) else 0
            if ndim != 1 or axis not in (0, -1):
                raise TangentError(f"tangent2.jit(target='cuda') maps scalar code: the batched argument {k} "
                                   f"(in_axes {axis}) must be a 1-d array, one scalar per example, not of shape "
                                   f"{tuple(np.shape(a)) if not on_device[k] else a.shape}; use "
                                   "target='parallel' for examples that are arrays")
            sizes[k] = a.shape[0]
        if not sizes:
            raise TangentError("vmap needs at least one batched argument (in_axes are all None)")
        if len(set(sizes.values())) > 1:
            described = ", ".join(f"argument {k} has {s}" for k, s in sizes.items())
            raise ShapeMismatch(f"vmap: inconsistent batch sizes along the mapped axes: {described}")
        modes = ["pass" if axis is None else "map" for axis in axes]
        return list(args), modes, (next(iter(sizes.values())),), on_device

    def _element_call(self, samples):
        """The generated function for one element, the constants to pass after the arguments, the output path."""
        from tangent2 import api
        from tangent2.derivative import Derivative, complete_arguments, python_function
        target = self._element
        if not isinstance(target, Derivative):
            function = python_function(target)
            return function, _defaults(function, len(samples)), ()
        if target.kind == "jvp":
            function = target._plan(tuple(samples[:len(samples) - _tangent_count(target)])).function
            return function, (), ()
        args = complete_arguments(target.target, tuple(samples))
        completed = args[len(samples):]
        if target.kind == "jacfwd":
            jvp = api._derivative(target.target, "jvp", target.wrt)
            plan = jvp._plan(args)
            if len(plan.wrt_positions) != 1:
                raise TangentError("tangent2.jit(target='cuda'): jacfwd of one scalar argument")
            unit = type(args[plan.wrt_positions[0]])(1.0)  # d/dx is the tangent for x_dot = 1
            return plan.function, completed + (unit,), (1,)
        function = target._plan(args).function
        return function, completed + _defaults(function, len(args)), ()

    # --------------------------------------------------------------- kernels
    @staticmethod
    def _cuda():
        from numba import cuda
        return cuda

    def _launch(self, call, inputs, outputs):
        kernel, stacks = self._kernel(call)
        self._last = (call.key, stacks)
        cuda = self._cuda()
        n = call.n
        if stacks is None:
            self._counts["launches"] += 1
            kernel[_grid(n)](n, 0, *inputs, *outputs)
            return
        key = call.key
        rooms = self._rooms.setdefault(key, np.full(len(stacks.stacks), INITIAL_ROOM, dtype=np.int64))
        offset = 0
        while offset < n:
            slots, sizes = stacks.layout(rooms)
            per_example = sum(size * dtype.itemsize for size, dtype in zip(sizes, stacks.dtypes))
            if per_example > self.tape_bytes:
                raise TangentError(
                    f"tangent2.jit(target='cuda'): one example of {call.function.__name__} needs {per_example} "
                    f"bytes of stack tape (stacks {', '.join(f'{s}: {r}' for s, r in zip(stacks.stacks, rooms))} "
                    f"entries), more than the kernel's tape_bytes = {self.tape_bytes}; raise tape_bytes")
            count = int(min(n - offset, self.tape_bytes // per_example))
            tapes = [cuda.device_array((size, count), dtype=dtype) for size, dtype in zip(sizes, stacks.dtypes)]
            peaks = cuda.to_device(np.zeros(len(stacks.stacks), dtype=np.int64))
            self._counts["launches"] += 1
            kernel[_grid(count)](count, offset, *inputs, *outputs, *tapes, cuda.to_device(slots), peaks)
            needed = peaks.copy_to_host()
            short = needed > rooms
            if short.any():
                # entries were dropped: run the same examples again with room for what was asked, at least twice
                # as much (a thread that ran out pops stale entries, so its count may be short too)
                rooms = self._rooms[key] = np.where(short, np.maximum(needed, 2 * rooms), rooms)
                self._counts["retries"] += 1
                continue
            offset += count

    def _kernel(self, call):
        with self._lock:
            entry = self._kernels.get(call.key)
            if entry is None:
                entry = self._kernels[call.key] = self._build_kernel(call)
            return entry

    def _device(self, call):
        """The device function for the call's function and argument types, and its device stacks (or None)."""
        key = call.key[:2]
        entry = self._devices.get(key)
        if entry is None:
            from tangent2.backends import numba_runtime  # noqa: F401  (registers the overloads)
            from tangent2.backends.cuda_device import device_function
            function = call.function
            rewritten = device_function(function, [_numba_type(s) for s in call.samples]) \
                if getattr(function, "__tangent2_source__", None) else None
            source = rewritten.function if rewritten is not None else function
            give_module(source)
            stacks = rewritten if rewritten is not None and rewritten.stacks else None
            entry = self._devices[key] = (self._cuda().jit(device=True)(source), stacks, rewritten)
        return entry

    def _build_kernel(self, call):
        cuda = self._cuda()
        device, stacks, _ = self._device(call)
        name = call.function.__name__
        params = [f"a{i}" for i in range(len(call.modes))]
        outs = [f"o{j}" for j in range(len(call.paths))]
        arguments = [f"{p}[e]" if mode == "map" else p for p, mode in zip(params, call.modes)]
        tail = []
        if stacks is not None:
            tail = [f"tape_{dtype}" for dtype in stacks.dtypes] + ["slots", "peaks"]
            arguments += tail[:-1] + ["i"]
        lines = [f"def {name}_kernel(n, offset, {', '.join(params + outs + tail)}):",
                 "    i = cuda.grid(1)",
                 "    if i < n:",
                 "        e = offset + i",
                 f"        {'r' if stacks is None else 'r, p'} = device({', '.join(arguments)})"]
        result = "r" + "".join(f"[{k}]" for k in call.select)
        for out, path in zip(outs, call.paths):
            lines.append(f"        {out}[e] = {result}{''.join(f'[{k}]' for k in path)}")
        if stacks is not None:
            lines += [f"        cuda.atomic.max(peaks, {k}, p[{k}])" for k in range(len(stacks.stacks))]
        text = "\n".join(lines) + "\n"
        namespace = {"cuda": cuda, "device": device}
        exec(compile(text, f"<tangent2 CUDA kernel of {name}>", "exec"), namespace)
        kernel = namespace[f"{name}_kernel"]
        kernel.__tangent2_source__ = text
        return cuda.jit(kernel), stacks

    # ------------------------------------------------------------ inspecting
    def kernel_source(self):
        """The source of the kernel the last call launched (for reading)."""
        if self._last is None:
            return None
        kernel, _ = self._kernels[self._last[0]]
        return getattr(kernel, "py_func", kernel).__tangent2_source__

    def device_source(self):
        """The source of the device function the last call ran: the generated code, stacks on device tapes."""
        if self._last is None:
            return None
        device, _, rewritten = self._devices[self._last[0][:2]]
        return rewritten.source if rewritten is not None else getattr(device, "py_func", device).__tangent2_source__

    def stats(self):
        """``launches`` and ``retries`` (launches repeated with more stack room) so far, and ``rooms``: the
        entries per example each stack of the last call's kernel has now."""
        rooms = {}
        if self._last is not None and self._last[1] is not None:
            rooms = dict(zip(self._last[1].stacks, map(int, self._rooms.get(self._last[0], ()))))
        return dict(self._counts, rooms=rooms)

    def _run_python(self, call):
        n, shape, modes = call.n, call.shape, call.modes
        flats = [np.broadcast_to(v, shape).reshape(n) if m == "map" and not d else v
                 for v, m, d in zip(call.values, modes, call.on_device)]
        flats = [f.copy_to_host().reshape(n) if _on_device(f) else f for f in flats]
        outputs = [np.empty(n, dtype=call.dtype) for _ in call.paths]
        for i in range(n):
            r = _pick(call.function(*[_item(f[i]) if m == "map" else f for f, m in zip(flats, modes)]), call.select)
            for out, path in zip(outputs, call.paths):
                out[i] = _pick(r, path)
        return _rebuild(call.example, iter(o.reshape(shape) for o in outputs))


class _Call:
    """One call's plan: ``function`` (the element's generated function), ``values`` and ``modes`` ("map": one
    element per thread, "pass": the same for all), ``samples`` (what the first element gets), ``shape``, ``n``,
    ``dtype``, ``select`` (the path of the outputs in the function's result), ``paths``, ``example``, ``key``."""


_NO_GPU_LOCK = threading.Lock()


@contextlib.contextmanager
def _compute_capability(cc):
    """Without a GPU, let Numba compile device functions for ``cc``.

    ``compile_ptx`` takes the compute capability, but the device functions a
    kernel calls are compiled by their dispatchers for the current device,
    which Numba asks the driver for (and fails without one).
    """
    from numba import cuda
    from numba.cuda import dispatcher
    if cuda.is_available() or not hasattr(dispatcher, "get_current_device"):
        yield
        return
    with _NO_GPU_LOCK:
        original = dispatcher.get_current_device
        dispatcher.get_current_device = lambda: SimpleNamespace(compute_capability=tuple(cc))
        try:
            yield
        finally:
            dispatcher.get_current_device = original


def _compile_errors():
    """What compiling a kernel raises when Numba cannot compile it: its errors and, from Numba's CUDA target on
    NumPy calls with omitted optional arguments (np.zeros(2)), a TypeError ("Signature mismatch")."""
    return numba_errors() + (TypeError,)


def _typing_location(error, function):
    """``File "...", line N`` of the innermost statement of ``function`` Numba was typing when ``error`` rose."""
    filename = function.__code__.co_filename
    found = ""
    frame = error.__traceback__
    while frame is not None:
        loc = frame.tb_frame.f_locals.get("loc") if frame.tb_frame.f_code.co_name == "propagate" else None
        if getattr(loc, "filename", None) == filename:
            found = f'\nFile "{loc.filename}", line {loc.line}'
        frame = frame.tb_next
    return found


def _grid(n):
    """Blocks and threads per block for ``n`` threads (whole warps, at most THREADS_PER_BLOCK a block)."""
    threads = min(THREADS_PER_BLOCK, 32 * math.ceil(max(n, 1) / 32))
    return max(1, math.ceil(n / threads)), threads


def _on_device(value):
    """Whether ``value`` is a CUDA device array (also the simulator's stand-ins, which lack is_cuda_array)."""
    return not isinstance(value, np.ndarray) and (
        hasattr(value, "__cuda_array_interface__") or hasattr(value, "copy_to_host"))


def _is_float(dtype):
    return np.issubdtype(dtype, np.floating)


def _result_dtype(values, on_device):
    dtypes = [np.dtype(v.dtype) for v, d in zip(values, on_device) if d or isinstance(v, (np.ndarray, np.generic))]
    floats = [d for d in dtypes if _is_float(d)]
    if not floats:
        return np.dtype(np.float64)
    return np.result_type(*floats)


def _converted(value, mode, on_device, dtype):
    """Floats in the computation's dtype (arrays and scalars); integers and booleans as they are."""
    if on_device:
        return value
    if isinstance(value, np.ndarray):
        return value.astype(dtype) if _is_float(value.dtype) and value.dtype != dtype else value
    if isinstance(value, (bool, np.bool_, int, np.integer)):
        return value
    if isinstance(value, (float, np.floating)):
        return dtype.type(value)
    return value


def _item(value):
    """A NumPy scalar as the Python function gets it from a user: float64 as float, integers as int."""
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.float64):
        return float(value)
    return value


def _sample(value, mode, on_device):
    """What one element gets: to pick the generated function, learn its outputs and type its stacks."""
    if mode == "pass":
        if on_device:
            return value.copy_to_host()
        return float(value) if isinstance(value, np.float64) else value
    if on_device:
        first = value.reshape(value.size)[0:1].copy_to_host()[0] if value.size else value.dtype.type(1)
    else:
        first = value.flat[0] if value.size else value.dtype.type(1)
    return _item(first)


def _to_device(value, mode, on_device, shape, n):
    cuda = CudaElementwise._cuda()
    if mode == "pass":
        if isinstance(value, np.ndarray):
            return cuda.to_device(np.ascontiguousarray(value))
        return value
    if on_device:
        return value.reshape(n) if len(shape) != 1 else value
    return cuda.to_device(np.ascontiguousarray(np.broadcast_to(value, shape)).reshape(n))


def _numba_type(value, layout="A"):
    import numba
    from numba.core import types
    if isinstance(value, np.ndarray):
        return types.Array(_numba_dtype(value.dtype), value.ndim, layout)
    return numba.typeof(value)


def _numba_dtype(dtype):
    import numba
    return numba.from_dtype(np.dtype(dtype))


def _types_key(samples, modes):
    return tuple((type(s), getattr(s, "dtype", None), np.ndim(s), m) for s, m in zip(samples, modes))


def _defaults(function, given):
    """The values of ``function``'s trailing parameters after the ``given`` first ones (seeds such as d_out=1.0)."""
    defaults = function.__defaults__ or ()
    missing = function.__code__.co_argcount - given
    return tuple(defaults[len(defaults) - missing:]) if missing > 0 else ()


def _tangent_count(derivative):
    """How many of a jvp kernel's arguments (primals then tangents) are tangents: one per wrt argument."""
    wrt = derivative.wrt if isinstance(derivative.wrt, (tuple, list)) else (derivative.wrt,)
    return len(wrt)


def _pick(result, select):
    for k in select:
        result = result[k]
    return result


def _structure(example):
    """``example`` with each scalar replaced by None (only its tuple structure matters)."""
    if isinstance(example, tuple):
        return tuple(_structure(item) for item in example)
    return None


def _paths(example, prefix=()):
    if isinstance(example, tuple):
        return [p for k, item in enumerate(example) for p in _paths(item, prefix + (k,))]
    return [prefix]


def _rebuild(example, results):
    if isinstance(example, tuple):
        return tuple(_rebuild(item, results) for item in example)
    return next(results)


__all__ = ["CompilationError", "CudaElementwise", "INITIAL_ROOM", "TAPE_BYTES", "THREADS_PER_BLOCK"]
