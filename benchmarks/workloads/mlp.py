"""Gradient of an MLP loss with respect to its parameters, at two sizes.

* ``mlp_small``: the Lux seed's ``2 => 4 => 2`` tanh MLP, batch 10, mean squared error;
* ``mlp_mnist``: ``784 => 256 => 10`` tanh MLP, batch 128, softmax cross-entropy
  (log-sum-exp shifted by the row maximum).

Parameters are a tuple ``(W1, b1, W2, b2)`` with Lux's ``(out, in)`` weights.
"""
import numpy as np

import tangent2 as tg
from benchmarks import peers
from benchmarks.harness import Case, Impl
from benchmarks.tools import jax_call, need, tangent2_jit, tangent2_jit_primal, tangent2_python, torch_call


def mlp(params, x):
    W1, b1, W2, b2 = params
    h = np.tanh(x @ W1.T + b1)
    return h @ W2.T + b2


def mse_loss(params, x, y):
    return np.mean((mlp(params, x) - y) ** 2)


def cross_entropy_loss(params, x, onehot):
    logits = mlp(params, x)
    z = logits - np.max(logits, axis=1, keepdims=True)
    logp = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return -np.sum(logp * onehot) / x.shape[0]


SIZES = {"mlp_small": (2, 4, 2, 10, mse_loss), "mlp_mnist": (784, 256, 10, 128, cross_entropy_loss)}


def setup_for(name):
    n_in, n_hidden, n_out, batch, loss = SIZES[name]

    def setup(quick):
        rng = np.random.default_rng(0)
        b = batch if not quick else min(batch, 8)
        params = tuple(a for n_i, n_o in ((n_in, n_hidden), (n_hidden, n_out))
                       for a in (rng.uniform(-1, 1, size=(n_o, n_i)) * np.sqrt(6.0 / (n_i + n_o)),
                                 rng.uniform(-1, 1, size=n_o) / np.sqrt(n_i)))
        x = rng.normal(size=(b, n_in))
        if loss is mse_loss:
            target = rng.normal(size=(b, n_out))
        else:
            target = np.eye(n_out)[rng.integers(0, n_out, size=b)]
        return {"params": params, "x": x, "target": target}
    return setup


# ----------------------------------------------------------------------- hand-written backpropagation
def hand_mse(params, x, y):
    W1, b1, W2, b2 = params
    h = np.tanh(x @ W1.T + b1)
    out = h @ W2.T + b2
    d_out = 2.0 * (out - y) / out.size
    return _backprop(W2, x, h, d_out)


def hand_cross_entropy(params, x, onehot):
    W1, b1, W2, b2 = params
    h = np.tanh(x @ W1.T + b1)
    logits = h @ W2.T + b2
    z = logits - np.max(logits, axis=1, keepdims=True)
    e = np.exp(z)
    d_out = (e / np.sum(e, axis=1, keepdims=True) - onehot) / x.shape[0]
    return _backprop(W2, x, h, d_out)


def _backprop(W2, x, h, d_out):
    dW2 = d_out.T @ h
    db2 = d_out.sum(axis=0)
    dh = (d_out @ W2) * (1.0 - h * h)
    return dh.T @ x, dh.sum(axis=0), dW2, db2


# ----------------------------------------------------------------------- torch
def torch_mlp(params, x):
    W1, b1, W2, b2 = params
    h = (x @ W1.T + b1).tanh()
    return h @ W2.T + b2


def torch_mse(params, x, y):
    return ((torch_mlp(params, x) - y) ** 2).mean()


def torch_cross_entropy(params, x, onehot):
    import torch
    logp = torch.log_softmax(torch_mlp(params, x), dim=1)
    return -(logp * onehot).sum() / x.shape[0]


def cases():
    out = []
    for name, (n_in, n_hidden, n_out, batch, loss) in SIZES.items():
        setup = setup_for(name)
        args = lambda d: (d["params"], d["x"], d["target"])  # noqa: E731
        hand = hand_mse if loss is mse_loss else hand_cross_entropy
        tloss = torch_mse if loss is mse_loss else torch_cross_entropy

        def jax_grad(data, loss=loss):
            jax = need("jax")
            return jax_call(jax.jit(jax.grad(peers.for_jax(loss))), *args(data))

        def jax_primal(data, loss=loss):
            jax = need("jax")
            return jax_call(jax.jit(peers.for_jax(loss)), *args(data))

        def torch_grad(data, tloss=tloss):
            need("torch")
            from torch.func import grad
            return torch_call(grad(tloss), *args(data))

        def autograd_grad(data, loss=loss):
            autograd = need("autograd")
            g = autograd.grad(peers.for_autograd(loss))
            a = args(data)
            return lambda: g(*a)

        impls = [
            Impl("tangent2", lambda d, loss=loss: tangent2_python(tg.grad(loss), *args(d))),
            Impl("tangent2.jit", lambda d, loss=loss: tangent2_jit(tg.grad(loss), *args(d)),
                 quick=False, cache_load=True),
            Impl("tangent2.jit", lambda d, loss=loss: tangent2_jit_primal(loss, *args(d)), kind="primal",
                 quick=False),
            Impl("jax", jax_grad),
            Impl("jax", jax_primal, kind="primal"),
            Impl("torch", torch_grad),
            Impl("autograd", autograd_grad),
            Impl("numpy", lambda d, hand=hand: (lambda a=args(d): hand(*a))),
            Impl("numpy", lambda d, loss=loss: (lambda a=args(d): loss(*a)), kind="primal"),
        ]
        title = ("Lux seed's 2-4-2 tanh MLP, MSE loss, gradient w.r.t. the parameters" if loss is mse_loss else
                 "784-256-10 tanh MLP, softmax cross-entropy, gradient w.r.t. the parameters")
        out.append(Case(name=name, title=title, group="mlp", setup=setup, impls=impls,
                        size=lambda quick, batch=batch: f"batch {min(batch, 8) if quick else batch}"))
    return out
