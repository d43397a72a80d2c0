"""Scalar polynomial derivatives of orders 1-4, evaluated elementwise over 10^6 points.

``f(x) = x**3 + 2*x**2 - 3*x + 1`` (the JAX seed's cubic).  Each tool computes
``f^(k)(x_i)`` for every point:

* tangent2 (Python): the array form, ``tg.grad`` of ``sum(f(x))`` nested ``k``
  times (an elementwise function's gradient of the sum is its derivative);
* tangent2.jit: ``tg.jit`` of the same array form, and ``tg.jit(tg.vmap(d))``
  of the *scalar* derivative ``d = tg.grad(...tg.grad(f))`` (a compiled loop of
  scalar code);
* JAX: ``jax.jit(jax.vmap(grad^k(f)))``; torch.func: ``vmap(grad^k(f))``;
  autograd: ``elementwise_grad`` nested ``k`` times; NumPy: the derivative
  written out.
"""
import numpy as np

import tangent2 as tg
from benchmarks import peers
from benchmarks.harness import Case, Impl
from benchmarks.tools import jax_call, need, tangent2_jit, tangent2_jit_vmap, tangent2_python, torch_call


def f(x):
    return x**3 + 2*x**2 - 3*x + 1


# The array form: the gradient of the sum of an elementwise function is its elementwise derivative.
def sum_f(x):
    return np.sum(f(x))


d1 = tg.grad(sum_f)


def sum_d1(x):
    return np.sum(d1(x))


d2 = tg.grad(sum_d1)


def sum_d2(x):
    return np.sum(d2(x))


d3 = tg.grad(sum_d2)


def sum_d3(x):
    return np.sum(d3(x))


d4 = tg.grad(sum_d3)
ARRAY_FORM = {1: d1, 2: d2, 3: d3, 4: d4}


def scalar_derivative(order):
    d = f
    for _ in range(order):
        d = tg.grad(d)
    return d


HAND = {
    1: lambda x: 3 * x**2 + 4 * x - 3,
    2: lambda x: 6 * x + 4,
    3: lambda x: np.full_like(x, 6.0),
    4: lambda x: np.zeros_like(x),
}


def setup(quick):
    return {"x": np.linspace(-2.0, 2.0, 1000 if quick else 10**6)}


def _jax(order):
    def build(data):
        jax = need("jax")
        d = peers.for_jax(f)
        for _ in range(order):
            d = jax.grad(d)
        return jax_call(jax.jit(jax.vmap(d)), data["x"])
    return build


def _jax_primal(data):
    jax = need("jax")
    return jax_call(jax.jit(f), data["x"])


def _torch(order):
    def build(data):
        need("torch")
        from torch.func import grad, vmap
        d = f
        for _ in range(order):
            d = grad(d)
        return torch_call(vmap(d), data["x"])
    return build


def _autograd(order):
    def build(data):
        autograd = need("autograd")
        d = peers.for_autograd(f)
        for _ in range(order):
            d = autograd.elementwise_grad(d)
        x = data["x"]
        return lambda: d(x)
    return build


def cases():
    out = []
    for order in (1, 2, 3, 4):
        impls = [
            Impl("tangent2", lambda data, o=order: tangent2_python(ARRAY_FORM[o], data["x"]),
                 variant="grad of sum, array code"),
            Impl("tangent2.jit", lambda data, o=order: tangent2_jit_vmap(tg.vmap(scalar_derivative(o)), data["x"]),
                 variant="vmap of the scalar derivative", cache_load=True, quick=order == 1),
            Impl("tangent2.jit", lambda data, o=order: tangent2_jit(ARRAY_FORM[o], data["x"]),
                 variant="grad of sum, array code", quick=False),
            Impl("tangent2.jit", lambda data: tangent2_jit(f, data["x"]), kind="primal"),
            Impl("jax", _jax(order)),
            Impl("jax", _jax_primal, kind="primal"),
            Impl("torch", _torch(order)),
            Impl("autograd", _autograd(order)),
            Impl("numpy", lambda data, o=order: (lambda x=data["x"]: HAND[o](x))),
            Impl("numpy", lambda data: (lambda x=data["x"]: f(x)), kind="primal"),
        ]
        out.append(Case(name=f"poly_d{order}", title=f"cubic, derivative of order {order}, elementwise",
                        group="poly", setup=setup, impls=impls,
                        size=lambda quick: f"{1000 if quick else 10**6} points"))
    return out
