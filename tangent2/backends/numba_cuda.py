"""CUDA backend: map an elementwise scalar derivative over arrays with an explicit kernel.

``jit(grad(f), target="cuda")`` returns a :class:`CudaElementwise`.  Called
with arrays (NumPy arrays, CUDA device arrays) and scalars, it:

1. takes the generated function of the derivative for *scalar* arguments
   (the one ``grad(f)(x, y)`` uses for floats),
2. compiles it as a device function, ``numba.cuda.jit(device=True)``,
3. writes and compiles an explicit kernel, one thread per element, that
   calls the device function on ``x[i], y[i], ...`` (scalar arguments are
   passed through) and stores each output in its own array,
4. broadcasts the inputs, launches the kernel and returns arrays shaped like
   the broadcast inputs, in the structure the derivative returns (an array,
   a tuple of arrays for ``wrt=(0, 1)``, ``(value, grads)`` for
   ``value_and_grad``).

NumPy inputs give NumPy outputs (copied to and from the device); device
arrays give device arrays.  Explicit kernels are used because, with
numba-cuda 0.30.4, ``vectorize(target="cuda")`` fails under the simulator.

Tests run this under Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, set
before ``numba.cuda`` is imported), where kernels and device functions run
as Python.
"""
import math
import threading
import warnings

import numpy as np

from tangent2.backends.numba_cpu import CompilationError, explain, give_module, numba_errors
from tangent2.errors import TangentError

THREADS_PER_BLOCK = 128


class CudaElementwise:
    """An elementwise derivative (or scalar function) compiled to a CUDA kernel; call it with arrays."""

    def __init__(self, f, cache=True, fallback=None):
        from tangent2.derivative import Derivative, python_function
        self.target = f
        self.cache = cache
        self.fallback = fallback
        self._lock = threading.RLock()
        self._kernels = {}
        self._devices = {}
        self._python = set()
        self._layouts = {}
        if isinstance(f, Derivative):
            if f.kind not in ("grad", "value_and_grad"):
                raise TangentError(f"tangent2.jit(target='cuda') maps grad and value_and_grad derivatives over "
                                   f"arrays, not {f.kind!r}")
            self._derivative = f
        else:
            self._derivative = None
            self._function = python_function(f)
        self.__name__ = getattr(f, "__name__", "kernel")

    def __repr__(self):
        return f"<tangent2.jit({self.target!r}, target='cuda')>"

    # ------------------------------------------------------------------ calls
    def __call__(self, *args):
        from numba import cuda
        if not args:
            raise TangentError("a CUDA elementwise derivative needs at least one argument")
        on_device = [_on_device(a) for a in args]
        arrays = [a for a, d in zip(args, on_device) if d or isinstance(a, np.ndarray)]
        if not arrays:
            raise TangentError("tangent2.jit(target='cuda') maps over arrays: pass at least one array "
                               "(use target='cpu' for scalars)")
        shape = np.broadcast_shapes(*[tuple(a.shape) for a in arrays])
        n = int(np.prod(shape)) if shape else 1
        dtype = _result_dtype(args, on_device)
        samples = tuple(_sample(a, d, dtype) for a, d in zip(args, on_device))
        function = self._scalar_function(samples)
        is_array = tuple(bool(d or isinstance(a, np.ndarray)) for a, d in zip(args, on_device))
        layout = self._layouts.get((function, is_array))
        if layout is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                example = _structure(function(*samples))  # which outputs, in which tuples
            layout = self._layouts[(function, is_array)] = (example, _paths(example))
        example, paths = layout
        if function in self._python:
            return self._run_python(function, args, is_array, shape, n, dtype, paths, example)
        inputs = []
        for a, d, array in zip(args, on_device, is_array):
            if not array:
                inputs.append(dtype.type(a) if isinstance(a, (float, int, np.floating, np.integer)) else a)
            elif d:
                if tuple(a.shape) != shape:
                    raise TangentError(f"device arrays must all have the broadcast shape {shape}, got {a.shape}; "
                                       "broadcast them on the device first")
                inputs.append(a.reshape(n) if len(shape) != 1 else a)
            else:
                flat = np.ascontiguousarray(np.broadcast_to(np.asarray(a, dtype=dtype), shape)).reshape(n)
                inputs.append(cuda.to_device(flat))
        outputs = [cuda.device_array(n, dtype=dtype) for _ in paths]
        kernel = self._kernel(function, is_array, paths)
        blocks = max(1, math.ceil(n / THREADS_PER_BLOCK))
        try:
            kernel[blocks, THREADS_PER_BLOCK](n, *inputs, *outputs)
        except numba_errors() as error:
            compiled = explain(error, function, what=f"the CUDA kernel of {function.__name__}")
            if self.fallback != "python":
                raise compiled from None
            warnings.warn(f"tangent2.jit(target='cuda'): running the uncompiled Python version.\n{compiled}",
                          RuntimeWarning, stacklevel=2)
            self._python.add(function)
            return self._run_python(function, args, is_array, shape, n, dtype, paths, example)
        if any(on_device):
            results = [o.reshape(shape) if len(shape) != 1 else o for o in outputs]
        else:
            results = [o.copy_to_host().reshape(shape) for o in outputs]
        return _rebuild(example, iter(results))

    def _scalar_function(self, samples):
        if self._derivative is None:
            return self._function
        from tangent2.jit import _complete
        args = _complete(self._derivative.target, samples)
        plan = self._derivative._plan(args)
        return plan.function

    def _device(self, function):
        device = self._devices.get(function)
        if device is None:
            from numba import cuda
            from tangent2.backends import numba_runtime  # noqa: F401  (registers the overloads)
            give_module(function)
            device = self._devices[function] = cuda.jit(device=True)(function)
        return device

    def _kernel(self, function, is_array, paths):
        key = (function, is_array, tuple(paths))
        with self._lock:
            kernel = self._kernels.get(key)
            if kernel is None:
                kernel = self._kernels[key] = self._build_kernel(function, is_array, paths)
            return kernel

    def _build_kernel(self, function, is_array, paths):
        from numba import cuda
        params = [f"a{i}" for i in range(len(is_array))]
        outs = [f"o{j}" for j in range(len(paths))]
        call = [f"{p}[i]" if array else p for p, array in zip(params, is_array)]
        # trailing parameters (seeds such as d_out=1.0) are passed explicitly: their defaults
        defaults = function.__defaults__ or ()
        missing = function.__code__.co_argcount - len(call)
        if missing > 0:
            call += [repr(v) for v in defaults[len(defaults) - missing:]]
        lines = [f"def {function.__name__}_kernel(n, {', '.join(params + outs)}):",
                 "    i = cuda.grid(1)",
                 "    if i < n:",
                 f"        r = device({', '.join(call)})"]
        for out, path in zip(outs, paths):
            lines.append(f"        {out}[i] = r{''.join(f'[{k}]' for k in path)}")
        text = "\n".join(lines) + "\n"
        namespace = {"cuda": cuda, "device": self._device(function)}
        exec(compile(text, f"<tangent2 CUDA kernel of {function.__name__}>", "exec"), namespace)
        kernel = namespace[f"{function.__name__}_kernel"]
        kernel.__tangent2_source__ = text
        return cuda.jit(kernel)

    def kernel_source(self, *args):
        """The source of the kernel a call with ``args`` launches (for reading)."""
        for (function, is_array, paths), kernel in self._kernels.items():
            return getattr(kernel, "py_func", kernel).__tangent2_source__
        return None

    def _run_python(self, function, args, is_array, shape, n, dtype, paths, example):
        flats = [np.broadcast_to(np.asarray(a, dtype=dtype), shape).reshape(n) if array else a
                 for a, array in zip(args, is_array)]
        outputs = [np.empty(n, dtype=dtype) for _ in paths]
        for i in range(n):
            r = function(*[f[i] if array else f for f, array in zip(flats, is_array)])
            for out, path in zip(outputs, paths):
                value = r
                for k in path:
                    value = value[k]
                out[i] = value
        return _rebuild(example, iter(o.reshape(shape) for o in outputs))


def _on_device(value):
    """Whether ``value`` is a CUDA device array (also the simulator's stand-ins, which lack is_cuda_array)."""
    return not isinstance(value, np.ndarray) and (
        hasattr(value, "__cuda_array_interface__") or hasattr(value, "copy_to_host"))


def _result_dtype(args, on_device):
    dtypes = [np.dtype(a.dtype) for a, d in zip(args, on_device) if d or isinstance(a, (np.ndarray, np.generic))]
    floats = [d for d in dtypes if np.issubdtype(d, np.floating)]
    if not floats:
        return np.dtype(np.float64)
    return np.result_type(*floats)


def _sample(value, on_device, dtype):
    """One element of ``value`` as a scalar (to pick the generated function and learn its outputs)."""
    if on_device:
        first = value.reshape(value.size)[0:1].copy_to_host()[0] if value.size else 1.0
    elif isinstance(value, np.ndarray):
        first = value.flat[0] if value.size else 1.0
    else:
        return value
    return float(first) if dtype == np.float64 else dtype.type(first)


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


__all__ = ["CompilationError", "CudaElementwise", "THREADS_PER_BLOCK"]
