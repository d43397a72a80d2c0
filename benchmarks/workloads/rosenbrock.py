"""Hessian and Hessian-vector product of the Rosenbrock function, n = 100.

``f(x) = sum(100 (x[1:] - x[:-1]**2)**2 + (1 - x[:-1])**2)``.  The Hessian is
``tg.hessian`` (forward over reverse, ``jacfwd(grad f)``) against
``jax.hessian``, ``torch.func.hessian``, ``autograd.hessian`` and the
tridiagonal matrix written out; the HVP is ``tg.hvp`` (never forms H) against
``jvp(grad f)`` in JAX and torch.func, ``autograd.hessian_vector_product`` and
the product written out.
"""
import numpy as np

import tangent2 as tg
from benchmarks import peers
from benchmarks.harness import Case, Impl
from benchmarks.tools import jax_call, need, tangent2_jit, tangent2_jit_primal, tangent2_python, torch_call


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def setup(quick):
    rng = np.random.default_rng(0)
    n = 10 if quick else 100
    return {"x": rng.uniform(-1.0, 1.5, size=n), "v": rng.normal(size=n)}


def hand_hessian_parts(x):
    """Diagonal and off-diagonal of the tridiagonal Hessian."""
    n = x.size
    diag = np.zeros(n)
    diag[:-1] += 1200.0 * x[:-1] ** 2 - 400.0 * x[1:] + 2.0
    diag[1:] += 200.0
    off = -400.0 * x[:-1]
    return diag, off


def hand_hessian(x):
    diag, off = hand_hessian_parts(x)
    H = np.diag(diag)
    i = np.arange(x.size - 1)
    H[i, i + 1] = off
    H[i + 1, i] = off
    return H


def hand_hvp(x, v):
    diag, off = hand_hessian_parts(x)
    out = diag * v
    out[:-1] += off * v[1:]
    out[1:] += off * v[:-1]
    return out


def torch_rosenbrock(x):
    return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()


def _jax_hessian(data):
    jax = need("jax")
    return jax_call(jax.jit(jax.hessian(peers.for_jax(rosenbrock))), data["x"])


def _jax_hvp(data):
    jax = need("jax")
    f = peers.for_jax(rosenbrock)

    def hvp(x, v):
        return jax.jvp(jax.grad(f), (x,), (v,))[1]
    return jax_call(jax.jit(hvp), data["x"], data["v"])


def _jax_primal(data):
    jax = need("jax")
    return jax_call(jax.jit(peers.for_jax(rosenbrock)), data["x"])


def _torch_hessian(data):
    need("torch")
    from torch.func import hessian
    return torch_call(hessian(torch_rosenbrock), data["x"])


def _torch_hvp(data):
    need("torch")
    from torch.func import grad, jvp
    return torch_call(lambda x, v: jvp(grad(torch_rosenbrock), (x,), (v,))[1], data["x"], data["v"])


def _autograd_hessian(data):
    autograd = need("autograd")
    h = autograd.hessian(peers.for_autograd(rosenbrock))
    x = data["x"]
    return lambda: h(x)


def _autograd_hvp(data):
    autograd = need("autograd")
    h = autograd.hessian_vector_product(peers.for_autograd(rosenbrock))
    x, v = data["x"], data["v"]
    return lambda: h(x, v)


def cases():
    primal = [Impl("tangent2.jit", lambda d: tangent2_jit_primal(rosenbrock, d["x"]), kind="primal",
                   quick=False),
              Impl("jax", _jax_primal, kind="primal"),
              Impl("numpy", lambda d: (lambda x=d["x"]: rosenbrock(x)), kind="primal")]
    hessian = [
        Impl("tangent2", lambda d: tangent2_python(tg.hessian(rosenbrock), d["x"])),
        Impl("tangent2.jit", lambda d: tangent2_jit(tg.hessian(rosenbrock), d["x"]), cache_load=True,
             quick=False),
        Impl("jax", _jax_hessian),
        Impl("torch", _torch_hessian),
        Impl("autograd", _autograd_hessian),
        Impl("numpy", lambda d: (lambda x=d["x"]: hand_hessian(x))),
    ] + primal
    hvp = [
        Impl("tangent2", lambda d: tangent2_python(tg.hvp(rosenbrock), d["x"], d["v"])),
        Impl("tangent2.jit", lambda d: tangent2_jit(tg.hvp(rosenbrock), d["x"], d["v"]), cache_load=True,
             quick=False),
        Impl("jax", _jax_hvp),
        Impl("torch", _torch_hvp),
        Impl("autograd", _autograd_hvp),
        Impl("numpy", lambda d: (lambda x=d["x"], v=d["v"]: hand_hvp(x, v))),
    ] + primal
    size = lambda quick: f"n = {10 if quick else 100}"  # noqa: E731
    return [Case("rosenbrock_hessian", "Hessian of the Rosenbrock function", "rosenbrock", setup, hessian, size),
            Case("rosenbrock_hvp", "Hessian-vector product of the Rosenbrock function", "rosenbrock", setup, hvp,
                 size)]
