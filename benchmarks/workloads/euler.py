"""A loop-heavy workload: explicit Euler integration of the Lorenz system over 1,000 steps.

``euler_loss(p, x0, steps)`` integrates ``x' = sigma (y - x)``,
``y' = x (rho - z) - y``, ``z' = x y - beta z`` with step 0.001 in a Python
``for`` loop over scalars and returns ``|state|^2`` at the end; the gradient is
taken with respect to ``p = (sigma, rho, beta)``.  tangent2 saves the
overwritten scalars on stacks and replays them backwards; JAX runs
``jax.lax.fori_loop`` (a ``scan`` under reverse mode); torch.func and autograd
trace the Python loop; the hand-written version stores the trajectory and runs
the adjoint recursion backwards in Python floats.
"""
import numpy as np

import tangent2 as tg
from benchmarks import peers
from benchmarks.harness import Case, Impl
from benchmarks.tools import jax_call, need, tangent2_jit, tangent2_jit_primal, tangent2_python, torch_call

DT = 0.001


def euler_loss(p, x0, steps):
    sigma = p[0]
    rho = p[1]
    beta = p[2]
    x = x0[0]
    y = x0[1]
    z = x0[2]
    for i in range(steps):
        dx = sigma * (y - x)
        dy = x * (rho - z) - y
        dz = x * y - beta * z
        x = x + 0.001 * dx
        y = y + 0.001 * dy
        z = z + 0.001 * dz
    return x * x + y * y + z * z


def euler_loss_jax(p, x0, steps):
    import jax

    def body(i, state):
        x, y, z = state
        return (x + DT * (p[0] * (y - x)), y + DT * (x * (p[1] - z) - y), z + DT * (x * y - p[2] * z))
    x, y, z = jax.lax.fori_loop(0, steps, body, (x0[0], x0[1], x0[2]))
    return x * x + y * y + z * z


def hand_gradient(p, x0, steps):
    sigma, rho, beta = float(p[0]), float(p[1]), float(p[2])
    x, y, z = float(x0[0]), float(x0[1]), float(x0[2])
    xs, ys, zs = [0.0] * steps, [0.0] * steps, [0.0] * steps
    for i in range(steps):
        xs[i], ys[i], zs[i] = x, y, z
        x, y, z = x + DT * (sigma * (y - x)), y + DT * (x * (rho - z) - y), z + DT * (x * y - beta * z)
    a1, a2, a3 = 2.0 * x, 2.0 * y, 2.0 * z
    g1 = g2 = g3 = 0.0
    for i in range(steps - 1, -1, -1):
        x, y, z = xs[i], ys[i], zs[i]
        g1 += DT * (y - x) * a1
        g2 += DT * x * a2
        g3 -= DT * z * a3
        a1, a2, a3 = (a1 + DT * (-sigma * a1 + (rho - z) * a2 + y * a3),
                      a2 + DT * (sigma * a1 - a2 + x * a3),
                      a3 + DT * (-x * a2 - beta * a3))
    return np.array([g1, g2, g3])


def setup(quick):
    return {"args": (np.array([10.0, 28.0, 8.0 / 3.0]), np.array([1.0, 1.0, 1.0]), 50 if quick else 1000)}


def _jax(d):
    jax = need("jax")
    return jax_call(jax.jit(jax.grad(euler_loss_jax), static_argnums=2), *d["args"])


def _jax_primal(d):
    jax = need("jax")
    return jax_call(jax.jit(euler_loss_jax, static_argnums=2), *d["args"])


def _torch(d):
    need("torch")
    from torch.func import grad
    return torch_call(grad(euler_loss), *d["args"])


def _autograd(d):
    autograd = need("autograd")
    g = autograd.grad(peers.for_autograd(euler_loss))
    a = d["args"]
    return lambda: g(*a)


def cases():
    impls = [
        Impl("tangent2", lambda d: tangent2_python(tg.grad(euler_loss), *d["args"])),
        Impl("tangent2.jit", lambda d: tangent2_jit(tg.grad(euler_loss), *d["args"]), cache_load=True),
        Impl("tangent2.jit", lambda d: tangent2_jit_primal(euler_loss, *d["args"]), kind="primal"),
        Impl("jax", _jax),
        Impl("jax", _jax_primal, kind="primal"),
        Impl("torch", _torch),
        Impl("autograd", _autograd),
        Impl("numpy", lambda d: (lambda a=d["args"]: hand_gradient(*a)), variant="adjoint loop in Python floats"),
        Impl("numpy", lambda d: (lambda a=d["args"]: euler_loss(*a)), kind="primal", variant="the Python loop"),
    ]
    return [Case("euler_ode", "gradient through 1,000 explicit Euler steps of the Lorenz system (Python for loop)",
                 "euler", setup, impls, size=lambda quick: f"{50 if quick else 1000} steps, 3 states")]
