"""The Lux seed's nested-AD workloads: a transformation inside the loss, differentiated again.

* ``lux_jacobian_loss``: ``loss = sum((model(x) - y)**2) + sum((0.01 J)**2)`` with
  ``J = tg.jacfwd(model)(x)`` (model ``Dense(2=>4, tanh), BatchNorm(4), Dense(4=>2)``,
  x of shape (10, 2)); gradient w.r.t. x and the parameters.
* ``lux_pinn``: ``sum((tg.grad(sum(model(t)**2))(t) - cos(t))**2)``, model
  ``1 => 12 => 12 => 12 => 1`` (tanh), 16 points; gradient w.r.t. t and the parameters.
* ``lux_hutchinson``: Hutchinson's trace estimate ``v . (v^T J)`` by ``tg.vjp``,
  model ``4 => 12 => 12 => 12 => 4``, x of shape (12, 4); gradient w.r.t. x and the parameters.

The peers run the same NumPy source with ``np``/``tg`` bound to their own
module and transformations (:func:`benchmarks.peers.rebind`): ``jax.jacfwd``,
``torch.func.jacfwd``, ``autograd.jacobian`` (reverse mode: autograd has no
forward-mode Jacobian) and so on.  Everything is float64 (the seed uses float32).
"""
import numpy as np

import tangent2 as tg
from benchmarks import peers
from benchmarks.harness import Case, Impl
from benchmarks.tools import jax_call, need, tangent2_jit, tangent2_jit_primal, tangent2_python, torch_call


# ------------------------------------------------------------------ models (as in samples/lux_*.py)
def dense(p, x):
    return x @ p["weight"].T + p["bias"]


def batchnorm(p, x, epsilon=1e-5):
    mean = np.mean(x, axis=0)
    centered = x - mean
    var = np.mean(centered ** 2, axis=0)
    return p["scale"] * centered / np.sqrt(var + epsilon) + p["bias"]


def model(ps, x):
    h = np.tanh(dense(ps["layer_1"], x))
    h = batchnorm(ps["layer_2"], h)
    return dense(ps["layer_3"], h)


def mlp(params, x):
    h = x
    for W, b in params["hidden"]:
        h = np.tanh(h @ W.T + b)
    W, b = params["out"]
    return h @ W.T + b


# ------------------------------------------------------------------ losses (the seed's)
def loss_function1(x, ps, y):
    smodel = lambda z: model(ps, z)          # noqa: E731  the seed's StatefulLuxLayer
    y_hat = smodel(x)
    loss_emp = np.sum((y_hat - y) ** 2)
    J = tg.jacfwd(smodel)(x)
    loss_reg = np.sum((J * 0.01) ** 2)
    return loss_emp + loss_reg


def loss_function2(t, ps):
    smodel = lambda z: mlp(ps, z)                           # noqa: E731
    y_hat = tg.grad(lambda z: np.sum(smodel(z) ** 2))(t)
    return np.sum((y_hat - np.cos(t)) ** 2)


def hutchinson_trace_vjp(x, ps, v):
    smodel = lambda z: mlp(ps, z)                   # noqa: E731
    _, pullback = tg.vjp(smodel, x)
    (vjp,) = pullback(v)
    n, d = vjp.shape
    return np.sum(vjp.reshape(n, 1, d) @ v.reshape(n, d, 1))


# ------------------------------------------------------------------ data
def _dense(rng, n_in, n_out):
    limit = np.sqrt(6.0 / (n_in + n_out))
    return {"weight": rng.uniform(-limit, limit, size=(n_out, n_in)), "bias": rng.uniform(-1, 1, size=n_out)
            / np.sqrt(n_in)}


def _mlp_params(rng, sizes):
    layers = [tuple(_dense(rng, a, b).values()) for a, b in zip(sizes[:-1], sizes[1:])]
    return {"hidden": layers[:-1], "out": layers[-1]}


def setup_jacobian(quick):
    rng = np.random.default_rng(0)
    ps = {"layer_1": _dense(rng, 2, 4),
          "layer_2": {"scale": 1 + 0.1 * rng.normal(size=4), "bias": 0.1 * rng.normal(size=4)},
          "layer_3": _dense(rng, 4, 2)}
    return {"args": (rng.normal(size=(10, 2)), ps, np.random.default_rng(11).normal(size=(10, 2)))}


def setup_pinn(quick):
    rng = np.random.default_rng(0)
    ps = _mlp_params(rng, [1, 12, 12, 12, 1])
    return {"args": (rng.uniform(size=(16, 1)), ps)}


def setup_hutchinson(quick):
    rng = np.random.default_rng(0)
    ps = _mlp_params(rng, [4, 12, 12, 12, 4])
    x = rng.uniform(size=(12, 4))
    v = (np.random.default_rng(12).uniform(size=(12, 4)) > 0.5).astype(np.float64) * 2 - 1
    return {"args": (x, ps, v)}


CASES = (
    ("lux_jacobian_loss", loss_function1, setup_jacobian,
     "gradient of a loss containing tg.jacfwd of the model (BatchNorm in training mode)", "x (10, 2)"),
    ("lux_pinn", loss_function2, setup_pinn, "gradient of the PINN loss (tg.grad inside the loss)", "t (16, 1)"),
    ("lux_hutchinson", hutchinson_trace_vjp, setup_hutchinson,
     "gradient of Hutchinson's trace estimate by tg.vjp", "x (12, 4)"),
)


def cases():
    out = []
    for name, loss, setup, title, size in CASES:
        def jax_grad(d, loss=loss):
            jax = need("jax")
            return jax_call(jax.jit(jax.grad(peers.for_jax(loss), argnums=(0, 1))), *d["args"])

        def jax_primal(d, loss=loss):
            jax = need("jax")
            return jax_call(jax.jit(peers.for_jax(loss)), *d["args"])

        def torch_grad(d, loss=loss):
            need("torch")
            from torch.func import grad
            return torch_call(grad(peers.for_torch(loss), argnums=(0, 1)), *d["args"])

        def autograd_grad(d, loss=loss):
            autograd = need("autograd")
            g = autograd.grad(peers.for_autograd(loss), argnum=(0, 1))
            a = d["args"]
            return lambda: g(*a)

        impls = [
            Impl("tangent2", lambda d, loss=loss: tangent2_python(tg.grad(loss, wrt=(0, 1)), *d["args"])),
            Impl("tangent2.jit", lambda d, loss=loss: tangent2_jit(tg.grad(loss, wrt=(0, 1)), *d["args"]),
                 quick=False, cache_load=True),
            Impl("tangent2.jit", lambda d, loss=loss: tangent2_jit_primal(loss, *d["args"]), kind="primal",
                 quick=False),
            Impl("jax", jax_grad),
            Impl("jax", jax_primal, kind="primal"),
            Impl("torch", torch_grad),
            Impl("autograd", autograd_grad),
        ]
        out.append(Case(name, title, "lux", setup, impls, size=lambda quick, size=size: size, rtol=1e-8))
    return out
