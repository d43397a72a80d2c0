"""Per-example gradients of the JAX seed's TD(0) loss, batch 2 and 10,000.

``value_fn(theta, s) = dot(theta, s)``; ``td_loss = (stop_gradient(r + v(s_t)) -
v(s_tm1))**2``; per-example gradients with ``theta`` shared:
``tg.vmap(tg.grad(td_loss), in_axes=(None, 0, 0, 0))`` (and its ``tg.jit``)
against ``jax.jit(jax.vmap(jax.grad(td_loss), in_axes=(None, 0, 0, 0)))``,
``torch.func.vmap(grad(...), in_dims=(None, 0, 0, 0))``, autograd's gradient in
a loop over the examples (autograd has no vmap), and the closed form
``-2 (r + s_t.theta - s_tm1.theta) s_tm1``.
"""
import os

import numpy as np

import tangent2 as tg
from benchmarks import peers
from benchmarks.harness import Case, Impl
from benchmarks.tools import jax_call, need, tangent2_jit_vmap, tangent2_python, torch_call

value_fn = lambda theta, state: np.dot(theta, state)  # noqa: E731  (the seed's lambda)


def td_loss(theta, s_tm1, r_t, s_t):
    v_tm1 = value_fn(theta, s_tm1)
    target = r_t + value_fn(theta, s_t)
    return (tg.stop_gradient(target) - v_tm1) ** 2


IN_AXES = (None, 0, 0, 0)


def setup_for(batch):
    def setup(quick):
        rng = np.random.default_rng(0)
        b = min(batch, 100) if quick else batch
        return {"theta": np.array([0.1, -0.1, 0.0]), "s_tm1": rng.normal(size=(b, 3)), "r_t": rng.normal(size=b),
                "s_t": rng.normal(size=(b, 3))}
    return setup


def args(d):
    return d["theta"], d["s_tm1"], d["r_t"], d["s_t"]


def hand(theta, s_tm1, r_t, s_t):
    delta = r_t + s_t @ theta - s_tm1 @ theta
    return -2.0 * delta[:, None] * s_tm1


def torch_td_loss(theta, s_tm1, r_t, s_t):
    import torch
    v_tm1 = torch.dot(theta, s_tm1)
    target = r_t + torch.dot(theta, s_t)
    return (target.detach() - v_tm1) ** 2


def _jax(data):
    jax = need("jax")
    return jax_call(jax.jit(jax.vmap(jax.grad(peers.for_jax(td_loss)), in_axes=IN_AXES)), *args(data))


def _jax_primal(data):
    jax = need("jax")
    return jax_call(jax.jit(jax.vmap(peers.for_jax(td_loss), in_axes=IN_AXES)), *args(data))


def _torch(data):
    need("torch")
    from torch.func import grad, vmap
    return torch_call(vmap(grad(torch_td_loss), in_dims=IN_AXES), *args(data))


def _autograd(data):
    autograd = need("autograd")
    g = autograd.grad(peers.for_autograd(td_loss))
    theta, s_tm1, r_t, s_t = args(data)
    return lambda: np.stack([g(theta, s_tm1[i], r_t[i], s_t[i]) for i in range(len(r_t))])


def cases():
    out = []
    threads = int(os.environ.get("TANGENT2_BENCH_THREADS", "1") or 1)
    for batch in (2, 10_000):
        impls = [
            Impl("tangent2", lambda d: tangent2_python(tg.vmap(tg.grad(td_loss), in_axes=IN_AXES), *args(d))),
            Impl("tangent2.jit", lambda d: tangent2_jit_vmap(tg.vmap(tg.grad(td_loss), in_axes=IN_AXES), *args(d)),
                 cache_load=True, quick=False),
            Impl("tangent2.jit", lambda d: tangent2_jit_vmap(tg.vmap(td_loss, in_axes=IN_AXES), *args(d)),
                 kind="primal", quick=False),
            Impl("jax", _jax),
            Impl("jax", _jax_primal, kind="primal"),
            Impl("torch", _torch),
            Impl("autograd", _autograd),
            Impl("numpy", lambda d: (lambda a=args(d): hand(*a))),
        ]
        if threads > 1 and batch > 2:
            impls.insert(2, Impl("tangent2.jit", lambda d: tangent2_jit_vmap(
                tg.vmap(tg.grad(td_loss), in_axes=IN_AXES), *args(d), target="parallel"),
                variant=f"target='parallel', {threads} threads", quick=False))
        notes = [] if batch == 2 else [
            "Its tangent2.jit first call reuses the code compiled for td_perex_2 (same generated function and "
            "argument types), so it is no compile time."]
        out.append(Case(f"td_perex_{batch}", "per-example gradients of the TD(0) loss (vmap of grad)", "td",
                        setup_for(batch), impls,
                        size=lambda quick, batch=batch: f"batch {min(batch, 100) if quick else batch}", notes=notes))
    return out
