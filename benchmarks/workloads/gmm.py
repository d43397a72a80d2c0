"""The ADBench Gaussian mixture model objective and its gradient (d = 2, K = 5, n = 1,000).

The standard formulation (ADBench's ``gmm_objective``): mixture weights
``alphas`` (K), means (K, d), and ``icf`` (K, d + d(d-1)/2) holding the log of
the diagonal ``q`` and the strictly lower triangle ``l`` of each inverse
covariance factor ``Q = diag(exp(q)) + L``; the log-likelihood is a
log-sum-exp over components of ``alpha_k + sum(q_k) - |Q_k (x_i - mu_k)|^2 / 2``,
minus ``n logsumexp(alphas)``, plus a Wishart prior on the ``Q`` (gamma = 1,
m = 0).  Written vectorized over components with 3-d matmuls (``L`` is
unpacked from ``l`` by a constant 0/1 matrix in ADBench's column-major order).
Gradient with respect to ``(alphas, means, icf)``; data from a fixed seed.
"""
import math

import numpy as np

import tangent2 as tg
from benchmarks import peers
from benchmarks.harness import Case, Impl
from benchmarks.tools import jax_call, need, tangent2_jit, tangent2_jit_primal, tangent2_python, torch_call


def gmm_objective(alphas, means, icf, x, ltri, gamma, m, const):
    n, d = x.shape
    K = alphas.shape[0]
    q = icf[:, :d]
    l = icf[:, d:]
    sum_qs = np.sum(q, axis=1)
    Qdiags = np.exp(q)
    Qs = (l @ ltri).reshape(K, d, d) + np.eye(d) * Qdiags.reshape(K, 1, d)
    xc = x.reshape(1, n, d) - means.reshape(K, 1, d)
    Qx = xc @ np.transpose(Qs, (0, 2, 1))
    main = alphas.reshape(K, 1) + sum_qs.reshape(K, 1) - 0.5 * np.sum(Qx ** 2, axis=2)
    mx = np.max(main, axis=0)
    lse = mx + np.log(np.sum(np.exp(main - mx), axis=0))
    amax = np.max(alphas)
    lse_alphas = amax + np.log(np.sum(np.exp(alphas - amax)))
    frobenius = np.sum(Qdiags ** 2) + np.sum(l ** 2)
    prior = 0.5 * gamma * gamma * frobenius - m * np.sum(sum_qs)
    return const + np.sum(lse) - n * lse_alphas + prior


def torch_gmm_objective(alphas, means, icf, x, ltri, gamma, m, const):
    import torch
    n, d = x.shape
    K = alphas.shape[0]
    q = icf[:, :d]
    l = icf[:, d:]
    sum_qs = q.sum(dim=1)
    Qdiags = q.exp()
    Qs = (l @ ltri).reshape(K, d, d) + torch.eye(d, dtype=x.dtype) * Qdiags.reshape(K, 1, d)
    xc = x.reshape(1, n, d) - means.reshape(K, 1, d)
    Qx = xc @ Qs.permute(0, 2, 1)
    main = alphas.reshape(K, 1) + sum_qs.reshape(K, 1) - 0.5 * (Qx ** 2).sum(dim=2)
    lse = torch.logsumexp(main, dim=0)
    frobenius = (Qdiags ** 2).sum() + (l ** 2).sum()
    prior = 0.5 * gamma * gamma * frobenius - m * sum_qs.sum()
    return const + lse.sum() - n * torch.logsumexp(alphas, dim=0) + prior


def hand_gradient(alphas, means, icf, x, ltri, gamma, m, const):
    """The gradient written out (softmax responsibilities, chain rule through Q)."""
    n, d = x.shape
    K = alphas.shape[0]
    q, l = icf[:, :d], icf[:, d:]
    Qdiags = np.exp(q)
    Qs = (l @ ltri).reshape(K, d, d) + np.eye(d) * Qdiags.reshape(K, 1, d)
    xc = x.reshape(1, n, d) - means.reshape(K, 1, d)
    Qx = xc @ np.transpose(Qs, (0, 2, 1))
    main = alphas.reshape(K, 1) + q.sum(axis=1).reshape(K, 1) - 0.5 * np.sum(Qx ** 2, axis=2)
    w = np.exp(main - main.max(axis=0))
    w /= w.sum(axis=0)                                        # (K, n) responsibilities
    wa = np.exp(alphas - alphas.max())
    d_alphas = w.sum(axis=1) - n * wa / wa.sum()
    wQx = w[:, :, None] * Qx                                  # (K, n, d)
    d_means = np.einsum("kni,kij->kj", wQx, Qs)               # sum_n w Q^T Q (x - mu)
    dQ = -np.einsum("kni,knj->kij", wQx, xc)                  # d main / d Q, weighted
    d_q = w.sum(axis=1)[:, None] + np.einsum("kii->ki", dQ) * Qdiags + gamma * gamma * Qdiags ** 2 - m
    d_l = dQ.reshape(K, d * d) @ ltri.T + gamma * gamma * l
    return d_alphas, d_means, np.concatenate([d_q, d_l], axis=1)


def lower_triangle_unpacker(d):
    """(d(d-1)/2, d*d) 0/1 matrix: ``(l @ it).reshape(d, d)`` is ADBench's strictly lower L (column-major)."""
    out = np.zeros((d * (d - 1) // 2, d * d))
    r = 0
    for j in range(d):
        for i in range(j + 1, d):
            out[r, i * d + j] = 1.0
            r += 1
    return out


def setup(quick):
    d, K, n = 2, 5, (50 if quick else 1000)
    rng = np.random.default_rng(0)
    alphas = rng.normal(size=K)
    means = rng.uniform(size=(K, d))
    icf = rng.normal(size=(K, d + d * (d - 1) // 2))
    x = rng.normal(size=(n, d))
    gamma, m = 1.0, 0.0
    n_w = d + m + 1
    log_gamma_distrib = 0.25 * d * (d - 1) * math.log(math.pi) + sum(
        math.lgamma(0.5 * n_w + 0.5 * (1 - j)) for j in range(1, d + 1))
    C = n_w * d * (math.log(gamma) - 0.5 * math.log(2)) - log_gamma_distrib
    const = -n * d * 0.5 * math.log(2 * math.pi) - K * C
    return {"args": (alphas, means, icf, x, lower_triangle_unpacker(d), gamma, m, const)}


WRT = (0, 1, 2)


def _jax(d):
    jax = need("jax")
    return jax_call(jax.jit(jax.grad(peers.for_jax(gmm_objective), argnums=WRT)), *d["args"])


def _jax_primal(d):
    jax = need("jax")
    return jax_call(jax.jit(peers.for_jax(gmm_objective)), *d["args"])


def _torch(d):
    need("torch")
    from torch.func import grad
    return torch_call(grad(torch_gmm_objective, argnums=WRT), *d["args"])


def _autograd(d):
    autograd = need("autograd")
    g = autograd.grad(peers.for_autograd(gmm_objective), argnum=WRT)
    a = d["args"]
    return lambda: g(*a)


def cases():
    impls = [
        Impl("tangent2", lambda d: tangent2_python(tg.grad(gmm_objective, wrt=WRT), *d["args"])),
        Impl("tangent2.jit", lambda d: tangent2_jit(tg.grad(gmm_objective, wrt=WRT), *d["args"]), quick=False,
             cache_load=True),
        Impl("tangent2.jit", lambda d: tangent2_jit_primal(gmm_objective, *d["args"]), kind="primal", quick=False),
        Impl("jax", _jax),
        Impl("jax", _jax_primal, kind="primal"),
        Impl("torch", _torch),
        Impl("autograd", _autograd),
        Impl("numpy", lambda d: (lambda a=d["args"]: hand_gradient(*a))),
        Impl("numpy", lambda d: (lambda a=d["args"]: gmm_objective(*a)), kind="primal"),
    ]
    return [Case("gmm_adbench", "ADBench GMM objective, gradient w.r.t. (alphas, means, icf)", "gmm", setup, impls,
                 size=lambda quick: f"d = 2, K = 5, n = {50 if quick else 1000}", rtol=1e-8)]
