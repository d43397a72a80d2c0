"""Jacobians and Hessian-vector products as generated wrapper functions.

``jacfwd`` loops over input basis directions calling a generated JVP;
``jacrev`` loops over output basis cotangents calling a generated VJP;
``hvp`` pushes one tangent through a generated gradient (forward over
reverse).  The wrappers are ordinary code in the differentiable subset, so
they can be differentiated again and inlined into a caller.
"""
import gast

from tangent2 import runtime

_JACFWD = '''
def {name}(PARAMS):
    _out = PRIMAL(ARGS)
    _columns = jacobian_buffer(_out, {x})
    for _i in range(np.size({x})):
        _direction = basis_vector({x}, _i)
        _value, _tangent = JVP(ARGS, _direction)
        _columns[:, _i] = np.ravel(_tangent)
    return np.reshape(_columns, np.shape(_out) + np.shape({x}))
'''

_JACREV = '''
def {name}(PARAMS):
    _out = PRIMAL(ARGS)
    _rows = jacobian_buffer(_out, {x})
    for _i in range(np.size(_out)):
        _cotangent = basis_vector(_out, _i)
        _gradient = PULLBACK(ARGS, _cotangent)
        _rows[_i, :] = np.ravel(_gradient)
    return np.reshape(_rows, np.shape(_out) + np.shape({x}))
'''

_BATCHED_FORWARD = '''
def {name}(PARAMS):
    _out = PRIMAL(ARGS)
    _jacobian = batched_jacobian_buffer(_out, {x})
    for _j in range(np.shape({x})[1]):
        _direction = batched_basis({x}, _j)
        _value, _tangent = JVP(ARGS, _direction)
        _jacobian[:, :, _j] = _tangent
    return _jacobian
'''

_BATCHED_REVERSE = '''
def {name}(PARAMS):
    _out = PRIMAL(ARGS)
    _jacobian = batched_jacobian_buffer(_out, {x})
    for _j in range(np.shape(_out)[1]):
        _cotangent = batched_basis(_out, _j)
        _gradient = PULLBACK(ARGS, _cotangent)
        _jacobian[:, _j, :] = _gradient
    return _jacobian
'''

_HVP = '''
def {name}(PARAMS, _v):
    _gradient, _hv = GRAD_JVP(ARGS, 1.0, _v)
    return _hv
'''


def jacobian_wrapper(kind, name, params, x, primal, inner):
    """The FunctionDef of ``jacfwd`` or ``jacrev`` with respect to the parameter ``x``.

    ``primal`` computes the function; ``inner`` is its generated JVP (taking
    the parameters and one tangent) or pullback (the parameters and one
    cotangent); all take the same flat parameters.
    """
    template = _JACFWD if kind == "jacfwd" else _JACREV
    text = _fill(template, name, params, x)
    namespace = {"PRIMAL": primal, "JVP": inner, "PULLBACK": inner}
    return _function(text, namespace, primal, inner)


def batched_jacobian_wrapper(mode, name, params, x, primal, inner):
    """Per-example Jacobians (batch, out, in) of a function mapping (batch, in) to (batch, out).

    Examples must not interact (no batch statistics): one forward pass per
    input feature (``mode="forward"``) or one reverse pass per output feature
    (``"reverse"``) then serves every example at once.
    """
    template = _BATCHED_FORWARD if mode == "forward" else _BATCHED_REVERSE
    text = _fill(template, name, params, x)
    return _function(text, {"PRIMAL": primal, "JVP": inner, "PULLBACK": inner}, primal, inner)


def hvp_wrapper(name, params, grad_jvp, seeded):
    """The FunctionDef of ``hvp``: ``(*params, v) -> H v`` from the JVP of a generated gradient.

    ``seeded``: the gradient takes the output cotangent ``d_out`` (1.0) after the parameters.
    """
    text = _fill(_HVP if seeded else _HVP.replace("ARGS, 1.0, _v", "ARGS, _v"), name, params, None)
    return _function(text, {"GRAD_JVP": grad_jvp}, grad_jvp)


def _fill(template, name, params, x):
    text = template.replace("PARAMS", ", ".join(params)).replace("ARGS", ", ".join(params))
    return text.format(name=name, x=x)


def _function(text, namespace, *inner_functions):
    import numpy as np
    node = gast.parse(text).body[0]
    replacements = {placeholder: _name(function) for placeholder, function in namespace.items()}
    for child in gast.walk(node):
        if isinstance(child, gast.Name) and child.id in replacements:
            child.id = replacements[child.id]
    node.namespace = {_name(f): f for f in inner_functions}
    node.namespace.update(np=np, jacobian_buffer=runtime.jacobian_buffer, basis_vector=runtime.basis_vector,
                          batched_jacobian_buffer=runtime.batched_jacobian_buffer,
                          batched_basis=runtime.batched_basis, range=range)
    node.filename = None
    return node


def _name(function):
    name = function.__name__
    return name if name.isidentifier() else "lambda_"
