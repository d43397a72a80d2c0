"""tangent2: source-to-source automatic differentiation for NumPy Python."""
from tangent2 import config, errors
from tangent2.api import (batched_jacobian, differentiate, grad, hessian, hvp, jacfwd, jacrev, jvp, show, source,
                          value_and_grad, vjp, vmap)
from tangent2.custom import custom_jvp, custom_vjp
from tangent2.derivative import Derivative
from tangent2.runtime import stop_gradient
from tangent2.testing import check_grads
from tangent2.jit import jit  # noqa: E402  (tangent2.jit is the function; the module stays importable)
from tangent2.tree import ravel

__all__ = ["Derivative", "batched_jacobian", "check_grads", "config", "custom_jvp", "custom_vjp", "differentiate",
           "errors", "grad", "hessian", "hvp", "jacfwd", "jacrev", "jit", "jvp", "ravel", "show", "source",
           "stop_gradient", "value_and_grad", "vjp", "vmap"]
