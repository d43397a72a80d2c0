"""Functions with hand-written derivative rules, and generated gradients used as primitives.

``custom_vjp`` / ``custom_jvp`` give a function its own rule, written in
tangent2's rule format (``(g, ans, *params)`` for a VJP, ``(*param_dots, ans,
*params)`` for a JVP).  The rule is an ordinary Python function, called from
the generated code and inlined when that code is differentiated again, so a
Hessian of a function with a custom VJP works.  ``tangent2.jit`` compiles the
function and its rules with Numba as they are written (:func:`compiled_callee`).

Mode switching uses the same machinery: a gradient computed inside a function
that is itself differentiated in reverse mode becomes a primitive whose VJP is
a forward-mode derivative of the full gradient (forward over reverse), which
needs no second tape.
"""
import functools
import inspect
import types
import weakref

import gast

from tangent2 import codegen
from tangent2.rules import registry


class CustomRule:
    """A function with hand-written derivative rules (see :func:`custom_vjp`)."""

    def __init__(self, function, decorator="custom_vjp"):
        self.function = function
        self.decorator = decorator
        self.params = list(inspect.signature(function).parameters)
        self.vjp = None
        self.jvp = None
        functools.update_wrapper(self, function)
        registry.JVP_RULES[self] = _jvp_from_function(self)

    def __call__(self, *args, **kwargs):
        return self.function(*args, **kwargs)

    def __hash__(self):
        return id(self)

    def defvjp(self, rule):
        """Use ``rule(g, ans, *params)`` -> one cotangent per parameter (a single value for one) in reverse mode."""
        self.vjp = rule
        registry.VJP_RULES[self] = _calling_rule("vjp", self.params, rule, len(self.params))
        _remember_rule(rule, f"the VJP rule of {self.__name__} (defvjp)")
        return rule

    def defjvp(self, rule):
        """Use ``rule(*param_dots, ans, *params)`` -> the output tangent in forward mode."""
        self.jvp = rule
        registry.JVP_RULES[self] = _calling_rule("jvp", self.params, rule, None)
        _remember_rule(rule, f"the JVP rule of {self.__name__} (defjvp)")
        return rule


def custom_vjp(function):
    """Decorator: give ``function`` a hand-written VJP with ``@function.defvjp``.

    Forward mode differentiates ``function`` itself unless ``defjvp`` gives a rule too.
    """
    return CustomRule(function)


def custom_jvp(function):
    """Decorator: give ``function`` a hand-written JVP with ``@function.defjvp`` (and a VJP with ``defvjp``)."""
    return CustomRule(function, "custom_jvp")


_RULE_FUNCTIONS = weakref.WeakKeyDictionary()   # the user's rule function -> what it is (for tangent2.jit)


def _remember_rule(rule, description):
    if isinstance(rule, types.FunctionType):  # a Numba dispatcher given as a rule is called as it is
        _RULE_FUNCTIONS[rule] = description


def compiled_callee(value):
    """For tangent2.jit: what to compile with Numba for ``value``, a global that generated code calls.

    ``(function, None)`` for a generated function behind a primitive (a mode-switched inner gradient, the lazily
    generated JVP of a custom-VJP function), whose own callees are compiled in turn; ``(function, description)``
    for a user's function (a custom_vjp/custom_jvp function, a rule), compiled as it is written; None otherwise.
    """
    if isinstance(value, CustomRule):
        return value.function, f"a {value.decorator} function"
    if isinstance(value, _GradientPrimitive):
        return value.function, None
    if isinstance(value, _LazyJVP):
        return value.resolve(), None
    if isinstance(value, types.FunctionType):
        description = _RULE_FUNCTIONS.get(value)
        if description is not None:
            return value, description
    return None


def _calling_rule(mode, params, rule, count):
    """A rule in tangent2's format whose body calls the user's ``rule`` function."""
    name = getattr(rule, "__name__", "rule")
    name = name if name.isidentifier() else "rule"
    if mode == "vjp":
        header = ["g", "ans"] + params
        call = f"{name}({', '.join(header)})"
        if count == 1:
            body = f"    return {call}\n"
        else:
            parts = ", ".join(f"_parts[{i}]" for i in range(count))
            body = f"    _parts = {call}\n    return {parts}\n"
    else:
        header = [f"{p}_dot" for p in params] + ["ans"] + params
        body = f"    return {name}({', '.join(header)})\n"
    return _emit_rule(f"def {name}_{mode}_rule({', '.join(header)}):\n{body}", {name: rule})


def _jvp_from_function(custom):
    """Forward mode of a custom-VJP function: the JVP of the function itself."""
    params = custom.params

    def build():
        from tangent2.derivative import Derivative
        return Derivative(custom.function, "jvp", tuple(range(len(params))))

    return _lazy_rule("jvp", params, build)


def _lazy_rule(mode, params, build):
    """A JVP rule calling the generated JVP function of the original function, generated on first use."""
    header = [f"{p}_dot" for p in params] + ["ans"] + params
    text = (f"def function_jvp_rule({', '.join(header)}):\n"
            f"    _pair = generated_jvp({', '.join(params + [f'{p}_dot' for p in params])})\n"
            f"    return _pair[1]\n")
    return _emit_rule(text, {"generated_jvp": _LazyJVP(build)})


class _LazyJVP:
    """Stands for the generated JVP function until a call needs it; then it is that function."""

    def __init__(self, build):
        self.build = build
        self.function = None

    def __call__(self, *args):
        return self.resolve()(*args)

    def resolve(self):
        if self.function is None:
            derivative = self.build()
            count = len(derivative.wrt)
            self.function = derivative._plan(tuple(0.0 for _ in range(count)), specialize=False).function
        return self.function

    @property
    def __tangent2_function__(self):
        return self.resolve()


def switched_gradient(derivative, example):
    """``derivative`` (a gradient with respect to one leaf argument) as a primitive with forward-over-reverse rules.

    ``example`` holds placeholder arguments with the structures of the real
    ones; the primitive takes their flat leaves.

    The VJP of ``grad(f)`` with cotangent ``g`` is the JVP of the full
    gradient of ``f`` along ``g`` in the differentiated slot (the Hessian is
    symmetric), so reverse over the inner gradient needs no second tape.
    """
    from tangent2.derivative import Derivative, _flatten_args
    plan = derivative._plan(example, specialize=False)
    position = plan.wrt_positions[0]
    count = len(_flatten_args(example))
    everything = tuple(range(len(example)))
    full = Derivative(derivative.target, "grad", everything)
    # Over tree arguments a gradient is differentiated through a wrapper taking the trees (no d_out).
    seeded = example if count != len(example) else example + (1.0,)
    # Only the differentiated argument has a tangent: the others' are symbolic zeros, not arrays of them.
    full_jvp = Derivative(full, "jvp", (position,))._plan(seeded, specialize=False).function
    grad_jvp = Derivative(derivative, "jvp", everything)._plan(seeded, specialize=False).function
    params = [f"p{i}" for i in range(count)]
    dots = [f"{p}_dot" for p in params]
    directions = "g"
    if count == 1:
        returned = "_pair[1]"
    else:
        returned = ", ".join(f"_parts[{i}]" for i in range(count))
    seed = ["1.0"] if count == len(example) else []  # a gradient over trees is called without d_out
    vjp_text = (f"def switched_vjp_rule(g, ans, {', '.join(params)}):\n"
                f"    _pair = full_gradient_jvp({', '.join(params + seed)}, {directions})\n"
                + ("" if count == 1 else "    _parts = _pair[1]\n")
                + f"    return {returned}\n")
    jvp_text = (f"def switched_jvp_rule({', '.join(dots)}, ans, {', '.join(params)}):\n"
                f"    _pair = gradient_jvp({', '.join(params + seed + dots)})\n"
                f"    return _pair[1]\n")
    primitive = _GradientPrimitive(plan.function)
    registry.VJP_RULES[primitive] = _emit_rule(vjp_text, {"full_gradient_jvp": full_jvp})
    registry.JVP_RULES[primitive] = _emit_rule(jvp_text, {"gradient_jvp": grad_jvp})
    return primitive


class _GradientPrimitive:
    """Calls a generated gradient function; differentiated through its registered rules, never inlined."""

    def __init__(self, function):
        self.function = function
        self.__name__ = function.__name__

    def __call__(self, *args):
        return self.function(*args)


def _emit_rule(text, namespace):
    node = gast.parse(text).body[0]
    node.namespace = dict(namespace)
    node.filename = None
    return codegen.emit(node)
