"""Random-program fuzzing of tangent2: forward, reverse, second order and finite differences must agree.

A generator writes small random NumPy functions in tangent2's differentiable
subset (arithmetic, NumPy calls, broadcasting, loops over ``range``,
``while`` loops with counters, branches, subscript reads and writes,
augmented assignment, tuple unpacking, calls to generated helper functions
with keyword arguments, lambdas, nested functions), each into a real ``.py``
file (tangent2 reads source), imports it and checks that

* ``tangent2.jvp`` along a random direction, the reverse mode (``grad`` of a
  scalar output, the ``vjp`` pullback of a random cotangent otherwise) and
  central finite differences agree;
* the Hessian-vector product by forward over reverse
  (``jvp(grad(f), x, v)``) equals reverse over reverse (``grad`` of
  ``<grad f, v>`` with mode switching off, and with it on) and finite
  differences of the gradient;
* for scalar-only programs, ``grad(grad(f))`` equals the forward-over-reverse
  second derivative;
* optionally (``--jit``), ``tangent2.jit(grad(f))`` equals the Python gradient;
* every derivative has exactly the shape of what it is the derivative of
  (a tangent the output's, a gradient or Hessian-vector product its
  argument's): one broadcast to a larger shape fails even when its values
  repeat the right ones.

Programs where finite differences are not trustworthy (a non-finite value, a
branch boundary or a kink within a step of the point: two step sizes and the
one-sided differences disagree) are skipped, not failed.

The generator is built on an abstract *chooser*: :class:`RandomChooser` (a
seeded ``random.Random``, used by campaigns: program ``i`` of seed ``s`` is
reproducible on its own) or :class:`HypothesisChooser` (every choice a
Hypothesis draw, so failures shrink: see :func:`programs`).

Campaign::

    python -m tests.fuzz --n 10000 --seed 0 [--jit] [--out fuzz_failures] [--allow-known-bugs]
    python -m tests.fuzz --reduce fuzz_failures/PROGRAM.py      # shrink a failing program

prints progress and a summary (programs run, agreements, skipped, known,
failures by kind), and writes every failing program (its source, which is
self-contained and runnable, plus a ``.txt`` with the mismatch) to ``--out``.
Constructs that trigger known tangent2 bugs (see ``KNOWN_BUGS``) are avoided
unless ``--allow-known-bugs`` is given, and crashes with the signature of a
known bug are counted as ``known``; ``tests/test_fuzz.py`` keeps a minimized
reproduction of each as a strict xfail.  Outcomes: ``agree``, ``skip``
(finite differences unreliable), ``known``, ``unsupported``
(UnsupportedSyntax / NotDifferentiable: a generator problem unless the
construct is in the subset), ``invalid`` (the generator wrote a program
Python rejects), ``fail`` (a tangent2 bug, or a harness problem).
"""
import argparse
import collections
import hashlib
import importlib.util
import os
import random
import re
import sys
import tempfile
import time
import traceback

import numpy as np

# Known tangent2 bugs, by key.  The generator avoids the constructs of each key in its ``avoid`` set (all of
# them unless --allow-known-bugs); failures that cannot be avoided by construction are recognised by their
# signature (``known_bug``) and counted as "known".  Each has minimized strict-xfail regressions in
# tests/test_fuzz.py and an entry in docs/limitations.md.  None is known now.
KNOWN_BUGS = {}

# ---------------------------------------------------------------------------------------------- shapes
S = ()
V2 = (2,)
V3 = (3,)
C3 = (3, 1)
R3 = (1, 3)
R4 = (1, 4)
M23 = (2, 3)
M33 = (3, 3)
M34 = (3, 4)
SHAPES = [S, V3, V2, C3, R3, R4, M23, M33, M34]

# target shape -> operand shape pairs that broadcast to it (beyond (T, T), (T, S), (S, T))
BROADCASTS = {
    M33: [(C3, R3), (R3, C3), (C3, V3), (V3, C3), (M33, V3), (V3, M33), (M33, C3), (M33, R3)],
    M23: [(M23, V3), (V3, M23), (M23, R3)],
    M34: [(C3, R4), (R4, C3), (M34, C3), (M34, R4)],
}

CONSTANTS = [0.5, 1.5, 0.3, 2.0, -0.7, 0.1, 1.2, -1.3, 0.25, 0.8, -0.4, 3.0]


def _fmt(c):
    return repr(float(c))


# --------------------------------------------------------------------------------------------- choosers
class RandomChooser:
    """Choices from a seeded ``random.Random``."""

    def __init__(self, seed):
        self.rng = random.Random(seed)

    def choice(self, options):
        return options[self.rng.randrange(len(options))]

    def weighted(self, options):
        """``options``: list of (weight, value); weights > 0."""
        total = sum(w for w, _ in options)
        r = self.rng.uniform(0, total)
        for w, v in options:
            r -= w
            if r <= 0:
                return v
        return options[-1][1]

    def integer(self, lo, hi):
        return self.rng.randint(lo, hi)

    def chance(self, p):
        return self.rng.random() < p


class HypothesisChooser:
    """Every choice a Hypothesis draw (shrinks towards the first option, fewer statements, smaller numbers)."""

    def __init__(self, draw):
        from hypothesis import strategies as st
        self.draw = draw
        self.st = st

    def choice(self, options):
        return options[self.draw(self.st.integers(0, len(options) - 1))]

    def weighted(self, options):
        # Hypothesis has no weighted draw; expand weights into a table of 0.5-units.
        table = []
        for w, v in options:
            table.extend([v] * max(1, int(round(2 * w))))
        return table[self.draw(self.st.integers(0, len(table) - 1))]

    def integer(self, lo, hi):
        return self.draw(self.st.integers(lo, hi))

    def chance(self, p):
        # shrinks towards False (the simpler program)
        return self.draw(self.st.integers(0, 999)) >= 1000 * (1 - p)


# -------------------------------------------------------------------------------------------- programs
class Program:
    """A generated program: its source text and metadata.  The source is self-contained and runnable."""

    def __init__(self, source, params, shapes, out_kind, features, label=""):
        self.source = source
        self.params = params          # differentiable parameter names of f, in order
        self.shapes = shapes          # their shapes
        self.out_kind = out_kind      # "scalar", "array" or "tuple"
        self.features = features      # set of construct names used
        self.label = label

    @property
    def digest(self):
        return hashlib.sha1(self.source.encode()).hexdigest()[:16]


class Func:
    """A generated helper (module level), lambda or nested function: typed parameters and result."""

    def __init__(self, name, params, defaults, out_shape, kind):
        self.name = name
        self.params = params          # [(name, shape)]
        self.defaults = defaults      # {name: constant text} for trailing scalar parameters
        self.out_shape = out_shape    # a shape, or a tuple of shapes (tuple-returning helper)
        self.kind = kind              # "helper", "lambda", "nested"
        self.active = False           # lambdas / nested functions: whether they close over an active variable


class Env:
    """Variables in scope: float variables with shapes, integer counters with bounds, aliasing."""

    def __init__(self):
        self.vars = {}       # name -> shape
        self.ints = {}       # name -> (lo, hi): the values it takes are in range(lo, hi)
        self.base = {}       # name -> name of the array it may alias or view
        self.funcs = []      # callable Funcs (helpers, lambdas, nested functions)
        self.frozen = set()  # names that must not be reassigned (loop variables, counters)
        self.active = set()  # names whose value depends on the inputs
        self.zeros = set()   # arrays made by np.zeros / np.ones / np.zeros_like and not rebound since

    def copy(self):
        e = Env()
        e.active = set(self.active)
        e.zeros = set(self.zeros)
        e.vars = dict(self.vars)
        e.ints = dict(self.ints)
        e.base = dict(self.base)
        e.funcs = list(self.funcs)
        e.frozen = set(self.frozen)
        return e

    def of_shape(self, shape):
        return [n for n, s in self.vars.items() if s == shape]

    @staticmethod
    def with_active(names):
        e = Env()
        e.active = set(names)
        return e

    def aliased(self, name):
        """Whether a write into ``name`` could be seen through (or come from) another live name."""
        if name in self.base and (self.base[name] in self.vars or self.base[name] == "_caller"):
            return True  # "_caller": a parameter of a helper is the caller's array
        return any(b == name and n in self.vars for n, b in self.base.items())


class Context:
    """Where a statement is generated: loop nesting, what the function returns."""

    def __init__(self, out_shape=None, loop=None, depth=0, in_helper=False):
        self.out_shape = out_shape    # for early returns (None: no early returns here)
        self.loop = loop              # None, "for" or "while"
        self.depth = depth
        self.in_helper = in_helper

    in_tuple_loop = False  # break/continue/return inside a loop over a tuple are a documented limitation

    def inner(self, loop):
        ctx = Context(self.out_shape, loop, self.depth + 1, self.in_helper)
        ctx.in_tuple_loop = self.in_tuple_loop or loop == "tuple"
        return ctx


class GeneratorError(Exception):
    pass


class Generator:
    """Writes one random program.  ``avoid``: KNOWN_BUGS keys whose constructs are not generated."""

    def __init__(self, chooser, avoid=frozenset(KNOWN_BUGS), max_depth=2, size=1.0):
        self.c = chooser
        self.avoid = set(avoid)
        self.max_depth = max_depth
        self.size = size
        self.counter = 0
        self.features = set()
        self.lines = []
        self.data_seed = 0
        self.conditions = set()  # condition texts (ignored when deciding whether an expression is active)
        self.param_names = set()  # the parameters of f
        # Writes into an array another live name shares are outside the subset (UnsupportedSyntax; see
        # tangent2/frontend/aliasing.py), and so is, wherever it happens in the function, a write into a name
        # bound to a view, or into either name of an alias z = y when one is bound twice: names bound to a view
        # or alias are never written into, and names written into are not bound to one.
        self.aliasing = set()
        self.ever_written = set()

    # ------------------------------------------------------------------ helpers
    def fresh(self, base="v"):
        self.counter += 1
        return f"{base}{self.counter}"

    def const(self):
        return _fmt(self.c.choice(CONSTANTS))

    def pos_const(self):
        return _fmt(self.c.choice([0.5, 1.5, 0.3, 2.0, 0.7, 1.2]))

    def feature(self, name):
        self.features.add(name)

    # ---------------------------------------------------------------- constants
    def const_array(self, shape):
        if shape == S:
            return self.const()
        kind = self.c.integer(0, 2)
        if kind == 0 and len(shape) == 1:
            return "np.array([" + ", ".join(self.const() for _ in range(shape[0])) + "])"
        if kind == 0 and shape == R4:
            return "np.array([[" + ", ".join(self.const() for _ in range(4)) + "]])"
        if kind == 1:
            size = int(np.prod(shape))
            return f"(np.arange({size}.0).reshape{shape} * {self.const()})" if len(shape) > 1 else \
                f"(np.arange({size}.0) * {self.const()})"
        return f"np.full({shape}, {self.const()})" if self.c.chance(0.5) else f"({self.const()} * np.ones({shape}))"

    # ---------------------------------------------------------------- indices
    def index_for(self, env, length):
        """An index expression valid for an axis of ``length``: a constant or a bounded counter."""
        counters = [n for n, (lo, hi) in env.ints.items() if lo >= 0 and hi <= length]
        if counters and self.c.chance(0.6):
            i = self.c.choice(counters)
            self.feature("index_by_counter")
            form = self.c.integer(0, 2)
            if form == 0:
                return i
            if form == 1:
                return f"{length - 1} - {i}"
            return f"-1 - {i}"
        anycounter = [n for n in env.ints if n not in env.frozen or True]
        if anycounter and self.c.chance(0.2):
            self.feature("index_by_counter")
            return f"{self.c.choice(anycounter)} % {length}"
        return str(self.c.integer(-length, length - 1) if self.c.chance(0.2) else self.c.integer(0, length - 1))

    # ---------------------------------------------------------------- terminals
    def terminal(self, shape, env):
        """(code, base): a variable, a part of one, or a constant of ``shape``; base: the variable it may view."""
        options = []
        same = env.of_shape(shape)
        if same:
            options.append((8, "var"))
        views = self.view_sources(shape, env)
        if views:
            options.append((4, "view"))
        if shape == S:
            if any(s != S for s in env.vars.values()):
                options.append((3, "reduce_var"))
            if env.ints:
                options.append((1, "counter"))
        options.append((1, "const"))
        kind = self.c.weighted(options)
        if kind == "var":
            name = self.c.choice(same)
            return name, (name if shape != S else None)
        if kind == "view":
            code, base = self.c.choice(views)
            return code(), base
        if kind == "reduce_var":
            name = self.c.choice([n for n, s in env.vars.items() if s != S])
            return self.reduction_of(name, env.vars[name], S, env), None
        if kind == "counter":
            i = self.c.choice(list(env.ints))
            self.feature("counter_arith")
            return f"({self.const()} * {i})", None
        return self.const_array(shape), None

    def view_sources(self, shape, env):
        """[(thunk -> code, base name)] for parts of variables that have ``shape``."""
        out = []
        for n, s in env.vars.items():
            def add(make, n=n):
                out.append((make, n if shape != S else None))
            if shape == S:
                if s == V3:
                    add(lambda n=n: f"{n}[{self.index_for(env, 3)}]")
                elif s == V2:
                    add(lambda n=n: f"{n}[{self.index_for(env, 2)}]")
                elif s == C3:
                    add(lambda n=n: f"{n}[{self.index_for(env, 3)}, 0]")
                elif s == R3:
                    add(lambda n=n: f"{n}[0, {self.index_for(env, 3)}]")
                elif len(s) == 2:
                    add(lambda n=n, s=s: (f"{n}[{self.index_for(env, s[0])}, {self.index_for(env, s[1])}]"
                                          if self.c.chance(0.8) else
                                          f"{n}[{self.index_for(env, s[0])}][{self.index_for(env, s[1])}]"))
            elif shape == V2:
                if s == V3:
                    add(lambda n=n: f"{n}[{self.c.choice(['1:', ':2', '::2', '-2:', '0:2'])}]")
                elif s == M23:
                    add(lambda n=n: f"{n}[:, {self.index_for(env, 3)}]")
            elif shape == V3:
                if s == M33:
                    add(lambda n=n: self.c.choice([f"{n}[{self.index_for(env, 3)}]",
                                                   f"{n}[:, {self.index_for(env, 3)}]",
                                                   f"{n}[{self.index_for(env, 3)}, :]"]))
                elif s == M23:
                    add(lambda n=n: f"{n}[{self.index_for(env, 2)}]")
                elif s == M34:
                    add(lambda n=n: f"{n}[:, {self.index_for(env, 4)}]")
                elif s == C3:
                    add(lambda n=n: self.c.choice([f"{n}[:, 0]", f"np.ravel({n})", f"{n}.reshape(3)"]))
                elif s == R3:
                    add(lambda n=n: self.c.choice([f"{n}[0]", f"{n}.ravel()"]))
            elif shape == C3:
                if s == V3:
                    add(lambda n=n: self.c.choice([f"{n}[:, None]", f"{n}.reshape(3, 1)", f"np.reshape({n}, (3, 1))",
                                                   f"{n}.reshape((3, 1))"]))
                elif s == M33:
                    add(lambda n=n: f"{n}[:, {self.c.integer(0, 2)}:{self.c.integer(0, 2) + 1}]" if False else
                        (lambda k: f"{n}[:, {k}:{k + 1}]")(self.c.integer(0, 2)))
                elif s == R3:
                    add(lambda n=n: f"{n}.T")
            elif shape == R3:
                if s == V3:
                    add(lambda n=n: self.c.choice([f"{n}[None, :]", f"{n}.reshape(1, 3)", f"np.reshape({n}, (1, 3))"]))
                elif s == C3:
                    add(lambda n=n: self.c.choice([f"{n}.T", f"np.transpose({n})"]))
                elif s == M33:
                    add(lambda n=n: (lambda k: f"{n}[{k}:{k + 1}]")(self.c.integer(0, 2)))
                elif s == M23:
                    add(lambda n=n: (lambda k: f"{n}[{k}:{k + 1}, :]")(self.c.integer(0, 1)))
            elif shape == M33:
                if s == M33:
                    add(lambda n=n: self.c.choice([f"{n}.T", f"np.transpose({n})"]))
            elif shape == M23:
                if s == M33:
                    add(lambda n=n: self.c.choice([f"{n}[:2]", f"{n}[1:]", f"{n}[::2]"]))
                elif s == M34:
                    add(lambda n=n: f"{n}[:2, 1:]")
            elif shape == R4:
                if s == M34:
                    add(lambda n=n: (lambda k: f"{n}[{k}:{k + 1}]")(self.c.integer(0, 2)))
        return out

    # --------------------------------------------------------------- reductions
    def reduction_of(self, name, shape, target, env):
        assert target == S
        op = self.c.choice(["np.sum({})", "np.mean({})", "np.sum({} ** 2)", "np.max({})", "np.min({})",
                            "{}.sum()", "np.prod({})", "{}.mean()", "np.sum(np.sin({}))"])
        if "max" in op or "min" in op:
            self.feature("max_min")
        if "prod" in op:
            return op.format(self.prod_factor(name))
        return op.format(name)

    # --------------------------------------------------------------- expressions
    def expr(self, shape, env, depth):
        """Code of an expression of ``shape``."""
        return self.expr_b(shape, env, depth)[0]

    def expr_b(self, shape, env, depth):
        """(code, base) where base names the variable the value may alias (a bare name or a view), else None."""
        if depth <= 0:
            return self.terminal(shape, env)
        options = [(3, "terminal"), (5, "unary"), (6, "binary"), (1.5, "division"), (2, "structural")]
        if shape == S:
            options += [(1.2, "scalar_special"), (0.6, "cond_expr")]
        else:
            options += [(0.8, "where"), (0.4, "cond_expr")]
        calls = [f for f in env.funcs if f.out_shape == shape]
        if calls:
            options.append((3, "call"))
        kind = self.c.weighted(options)
        if kind == "terminal":
            return self.terminal(shape, env)
        if kind == "unary":
            return self.unary(shape, env, depth), None
        if kind == "binary":
            return self.binary(shape, env, depth), None
        if kind == "division":
            return self.division(shape, env, depth), None
        if kind == "structural":
            code = self.structural(shape, env, depth)
            if code is None:
                return self.binary(shape, env, depth), None
            return code, None
        if kind == "scalar_special":
            return self.scalar_special(env, depth), None
        if kind == "where":
            return self.where(shape, env, depth), None
        if kind == "cond_expr":
            self.feature("conditional_expression")
            (a, base_a), cond, (b, base_b) = (self.expr_b(shape, env, depth - 1), self.condition(env, depth - 1),
                                              self.expr_b(shape, env, depth - 1))
            return f"({a} if {cond} else {b})", (base_a or base_b)  # either branch may be a name (an alias)
        if kind == "call":
            return self.call(self.c.choice(calls), env, depth), None
        raise AssertionError(kind)

    UNARY = [
        "np.sin({})", "np.cos({})", "np.tanh({})", "np.exp(np.tanh({}))", "np.exp(-({}) ** 2)",
        "np.exp(0.5 * np.sin({}))", "np.log(1.0 + ({}) ** 2)", "np.sqrt(1.0 + ({}) ** 2)",
        "np.sqrt(({}) ** 2 + 0.5)", "({}) ** 2", "({}) ** 3", "(-({}))", "(1.0 + ({}) ** 2) ** 0.5",
        "(1.5 + np.sin({})) ** -1.5", "(2.0 + np.cos({})) ** 0.7", "np.clip({}, -0.8, 0.8)",
        "np.maximum({}, 0.2)", "np.minimum({}, -0.1)", "({}) ** 2.0", "np.square({})", "np.arctan({})",
        "np.sinh(np.tanh({}))", "np.log(np.cosh({}))", "np.exp(np.sin({})) - 1.0",
    ]

    def unary(self, shape, env, depth):
        form = self.c.choice(self.UNARY)
        if "clip" in form or "maximum" in form or "minimum" in form:
            self.feature("clip_maximum")
        if form.startswith("np.log(1.0") or "sqrt" in form:
            self.feature("log_sqrt")
        if "** 3" in form or "** 2)" in form or "** 0.5" in form or "** -1.5" in form or "** 0.7" in form:
            self.feature("power")
        return "(" + form.format(self.expr(shape, env, depth - 1)) + ")"

    def operand_shapes(self, shape):
        pairs = [(shape, shape)] * 3 + [(shape, S), (S, shape)] if shape != S else [(S, S)]
        pairs = pairs + BROADCASTS.get(shape, []) * 2
        a, b = self.c.choice(pairs)
        if a != b:
            self.feature("broadcasting")
        return a, b

    def binary(self, shape, env, depth):
        a, b = self.operand_shapes(shape)
        op = self.c.weighted([(3, "+"), (2, "-"), (3, "*"), (0.6, "max"), (0.3, "min"), (0.5, "pow")])
        left, right = self.expr(a, env, depth - 1), self.expr(b, env, depth - 1)
        if op == "max":
            self.feature("clip_maximum")
            return f"np.maximum({left}, {right})"
        if op == "min":
            self.feature("clip_maximum")
            return f"np.minimum({left}, {right})"
        if op == "pow":
            self.feature("variable_power")
            return f"(1.0 + ({left}) ** 2) ** (0.5 * np.tanh({right}))"
        return f"({left} {op} {right})"

    def division(self, shape, env, depth):
        a, b = self.operand_shapes(shape)
        left, right = self.expr(a, env, depth - 1), self.expr(b, env, depth - 1)
        self.feature("division")
        form = self.c.integer(0, 4)
        if form == 0:
            return f"({left} / (1.5 + ({right}) ** 2))"
        if form == 1:
            return f"({left} / (2.0 + np.cos({right})))"
        if form == 2:
            return f"({self.expr(shape, env, depth - 1)} / {self.pos_const()})"
        if form == 3:
            return f"({left} * {self.pos_const()} / (1.0 + ({right}) ** 2))"
        return f"(({left}) * ({right}) / (1.0 + np.exp(np.tanh({right}))))"

    def where(self, shape, env, depth):
        self.feature("where")
        cond = f"{self.expr(shape, env, depth - 1)} > {self.const()}"
        self.conditions.add(cond)
        return (f"np.where({cond}, {self.expr(shape, env, depth - 1)}, "
                f"{self.expr(shape, env, depth - 1)})")

    def scalar_special(self, env, depth):
        d = depth - 1
        kind = self.c.integer(0, 6)
        if kind == 0:
            self.feature("math_module")
            f = self.c.choice(["math.sin({})", "math.cos({})", "math.tanh({})", "math.exp(math.sin({}))",
                               "math.log(1.0 + ({}) ** 2)", "math.sqrt(2.0 + math.cos({}))", "math.atan({})"])
            return f.format(self.expr(S, env, d))
        if kind == 1:
            self.feature("builtin_sum_generator")
            items = ", ".join(self.expr(S, env, d) for _ in range(self.c.integer(2, 3)))
            form = self.c.choice(["sum(t ** 2 for t in ({}))", "sum([np.sin(t) for t in ({})])",
                                  "sum(t * {c} for t in ({}))"])
            return form.replace("{c}", self.const()).format(items + ",")
        if kind == 2:
            self.feature("builtin_max_abs")
            f = self.c.choice(["max({}, {})", "min({}, {})", "abs({}) + 0.0 * {}", "float({}) + {}",
                               "pow({}, 2) + {}"])
            return "(" + f.format(self.expr(S, env, d), self.expr(S, env, d)) + ")"
        if kind == 3:
            self.feature("dot")
            v = self.c.choice([V3, V3, V2])
            f = self.c.choice(["np.dot({}, {})", "({} @ {})", "np.inner({}, {})", "np.sum({} * {})"])
            return f.format(self.expr(v, env, d), self.expr(v, env, d))
        # reduction of an expression of another shape
        src = self.c.choice([V3, V3, V2, C3, R3, M23, M33, M34])
        f = self.c.choice(["np.sum({})", "np.mean({})", "np.max({})", "np.prod({})", "{}.sum()", "np.min({})",
                           "np.sum({} ** 2)"])
        if "max" in f or "min" in f:
            self.feature("max_min")
        inner = self.expr(src, env, d)
        if "prod" in f:
            inner = self.prod_factor(inner)
        self.feature("reduction")
        return f.format(inner if f.startswith("np") else f"({inner})")

    def structural(self, shape, env, depth):
        """Reductions with axis, products, outer, reshapes producing ``shape``; None when there is none."""
        d = depth - 1
        e = lambda s: self.expr(s, env, d)  # noqa: E731
        options = []
        if shape == V3:
            options += [
                lambda: f"np.sum({e(M23)}, axis=0)", lambda: f"np.mean({e(M33)}, axis={self.c.integer(0, 1)})",
                lambda: f"np.max({e(M34)}, axis=1)", lambda: f"{self.paren(e(M33))}.sum(axis=1)",
                lambda: f"np.prod({self.prod_factor(e(M23))}, axis=0)", lambda: f"np.sum({e(C3)}, axis=1)",
                lambda: f"({e(M33)} @ {e(V3)})", lambda: f"np.dot({e(V3)}, {e(M33)})",
                lambda: f"np.matmul({self.transpose(e(M23))}, {e(V2)})",
                lambda: f"np.cumsum({e(V3)})", lambda: f"np.sum({e(M34)}, axis=-1)",
            ]
        elif shape == V2:
            options += [lambda: f"np.sum({e(M23)}, axis=1)", lambda: f"({e(M23)} @ {e(V3)})",
                        lambda: f"np.dot({e(M23)}, {e(V3)})", lambda: f"np.max({e(M23)}, axis=1)"]
        elif shape == C3:
            options += [lambda: f"np.sum({e(M34)}, axis=1, keepdims=True)", lambda: f"({e(M33)} @ {e(C3)})",
                        lambda: f"np.mean({e(M33)}, axis=1, keepdims=True)"]
        elif shape == R3:
            options += [lambda: f"({e(R3)} @ {e(M33)})", lambda: f"np.sum({e(M33)}, axis=0, keepdims=True)"]
        elif shape == M33:
            options += [lambda: f"np.outer({e(V3)}, {e(V3)})", lambda: f"({e(C3)} @ {e(R3)})",
                        lambda: f"({e(M33)} @ {e(M33)})", lambda: f"({self.transpose(e(M23))} @ {e(M23)})",
                        lambda: f"np.matmul({e(M33)}, {e(M33)})"]
        elif shape == M23:
            options += [lambda: f"({e(M23)} @ {e(M33)})", lambda: f"np.stack(({e(V3)}, {e(V3)}))",
                        lambda: f"np.outer({e(V2)}, {e(V3)})"]
        elif shape == M34:
            options += [lambda: f"({e(M33)} @ {e(M34)})", lambda: f"({e(C3)} @ {e(R4)})"]
        elif shape == R4:
            options += [lambda: f"({e(R3)} @ {e(M34)})"]
        elif shape == S:
            options += [lambda: self.scalar_special(env, depth)]
        if not options:
            return None
        self.feature("structural")
        return self.c.choice(options)()

    def prod_factor(self, code):
        """The factors of a product: bounded (zeros among them are fine)."""
        self.feature("prod")
        return f"np.tanh({code})"

    def transpose(self, code):
        return f"{self.paren(code)}.T"

    @staticmethod
    def paren(code):
        return code if code.isidentifier() else f"({code})"

    def condition(self, env, depth):
        cond = self._condition(env, depth)
        self.conditions.add(cond)
        return cond

    def _condition(self, env, depth):
        """A Python bool: data comparisons (thresholds far from typical values are not needed: FD detects
        boundaries) or integer counter tests."""
        if env.ints and self.c.chance(0.4):
            i = self.c.choice(list(env.ints))
            lo, hi = env.ints[i]
            self.feature("branch_on_counter")
            k = self.c.integer(lo, max(lo, hi - 1))
            return self.c.choice([f"{i} == {k}", f"{i} % 2 == 0", f"{i} > {k}", f"{i} <= {k}", f"{i} != {k}"])
        self.feature("branch_on_data")
        a = self.expr(S, env, max(0, min(depth, 1)))
        form = self.c.integer(0, 5)
        if form == 4:
            b = self.expr(S, env, 0)
            return f"{a} > {b} and {a} < {self.const()} + 5.0"
        if form == 5:
            return f"not ({a} > {self.const()})"
        return f"{a} {self.c.choice(['>', '<', '>=', '<='])} {self.const()}"

    def call(self, func, env, depth):
        """A call to a generated helper, lambda or nested function, positional or by keyword."""
        self.feature(f"call_{func.kind}")
        parts = []
        keyword = False
        for name, shape in func.params:
            if name in func.defaults and self.c.chance(0.3):
                keyword = True  # later arguments must be keywords
                continue
            value = self.expr(shape, env, depth - 1)
            if func.kind == "helper" and (keyword or self.c.chance(0.3)):
                keyword = True
                self.feature("keyword_argument")
                parts.append(f"{name}={value}")
            else:
                parts.append(value)
        return f"{func.name}({', '.join(parts)})"

    # ----------------------------------------------------------------- statements
    def emit(self, indent, text):
        self.lines.append("    " * indent + text)

    def block(self, env, ctx, indent, count):
        """Emit ``count`` statements; returns the environment after them."""
        for _ in range(count):
            env = self.statement(env, ctx, indent)
        return env

    def pick_shape(self):
        return self.c.weighted([(5, V3), (5, S), (1.5, M33), (1, C3), (1, V2), (1, M23), (0.7, R3), (0.7, M34),
                                (0.3, R4)])

    def assign_value(self, env, shape, depth, target=None):
        """Expression text for an assignment to ``target``; a view or alias of a live array becomes a copy
        where aliasing is avoided (or would be rejected: see ``self.aliasing``), and is recorded otherwise."""
        code, base = self.expr_b(shape, env, depth)
        if base is not None and shape != S:
            bare = code == base
            if target in self.ever_written or (bare and base in self.ever_written):
                # a fresh array: copying keeps the generated program free of aliasing
                return f"{self.paren(code)}.copy()" if self.c.chance(0.5) else f"np.copy({code})", None
            self.aliasing.update([target, base] if bare else [target])
            return code, base
        return code, None

    def bind(self, env, name, shape, base, active=True):
        env.vars[name] = shape
        env.base.pop(name, None)
        env.zeros.discard(name)
        if active:
            env.active.add(name)
        else:
            env.active.discard(name)
        if base is not None:
            env.base[name] = base
            self.feature("alias")

    _NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

    def is_active(self, code, env):
        """Whether an expression (text) may depend on the inputs: it names an active variable or calls a
        lambda / nested function closing over one."""
        for cond in sorted(self.conditions, key=len, reverse=True):
            code = code.replace(cond, "")  # a condition selects a value; it does not make it active
        names = set(self._NAME.findall(code))
        if names & env.active:
            return True
        return any(f.name in names and f.active for f in env.funcs)

    def statement(self, env, ctx, indent):
        depth = self.max_depth
        options = [(6, "assign"), (4, "overwrite"), (2.5, "augassign"), (1, "unpack"), (2, "array_write"),
                   (1.5, "make_array")]
        if ctx.depth < 2:
            options += [(2.2, "for"), (0.8, "while"), (1.8, "if"), (0.4, "for_tuple")]
            if any(s in (M23, M33) for s in env.vars.values()):
                options.append((0.3, "for_rows"))
        if ctx.loop == "for" and not ctx.in_tuple_loop:  # (even a nested range loop: documented limitation)
            options.append((0.8, "break_continue"))
        if ctx.out_shape is not None and ctx.depth >= 1 and not ctx.in_tuple_loop:
            options.append((0.3, "early_return"))
        if ctx.depth == 0 and not ctx.in_helper:
            options += [(0.7, "lambda"), (0.4, "nested_def")]
        if any(isinstance(f.out_shape, tuple) and f.out_shape and isinstance(f.out_shape[0], tuple)
               for f in env.funcs):
            options.append((1, "call_unpack"))
        kind = self.c.weighted(options)
        handler = getattr(self, "stmt_" + kind)
        result = handler(env, ctx, indent, depth)
        return env if result is None else result

    def stmt_assign(self, env, ctx, indent, depth):
        shape = self.pick_shape()
        name = self.fresh()
        code, base = self.assign_value(env, shape, depth, name)
        self.emit(indent, f"{name} = {code}")
        self.bind(env, name, shape, base, self.is_active(code, env))

    def writable(self, env):
        return [n for n in env.vars if n not in env.frozen]

    def stmt_overwrite(self, env, ctx, indent, depth):
        names = self.writable(env)
        if not names:
            return self.stmt_assign(env, ctx, indent, depth)
        name = self.c.choice(names)
        shape = env.vars[name]
        # overwriting in terms of itself is the interesting case (loop-carried values, stacks in reverse mode)
        form = self.c.integer(0, 3)
        code, base = self.assign_value(env, shape, depth, name)
        if form == 0 and base is None:
            code = f"0.5 * {name} + 0.5 * {self.paren(code)}"
        elif form == 1 and base is None:
            code = f"np.tanh({name} * {self.paren(code)})"
        active = self.is_active(code, env)
        self.feature("overwrite")
        self.emit(indent, f"{name} = {code}")
        self.bind(env, name, shape, base, active)

    def stmt_augassign(self, env, ctx, indent, depth):
        names = self.writable(env)
        if not names:
            return self.stmt_assign(env, ctx, indent, depth)
        name = self.c.choice(names)
        shape = env.vars[name]
        if shape != S and (env.aliased(name) or name in self.aliasing):
            return self.stmt_assign(env, ctx, indent, depth)
        if shape != S:
            self.ever_written.add(name)
        rhs_shape = shape if self.c.chance(0.6) else S
        op = self.c.weighted([(3, "+="), (2, "-="), (2, "*="), (1, "/=")])
        rhs = self.expr(rhs_shape, env, depth - 1)
        if op == "/=":
            rhs = f"(1.5 + ({rhs}) ** 2)"
        if op == "*=":
            rhs = f"np.tanh({rhs})"  # keeps loop-carried products bounded
        self.feature("augassign")
        self.emit(indent, f"{name} {op} {rhs}")
        if self.is_active(rhs, env):
            env.active.add(name)
        env.zeros.discard(name)

    def stmt_unpack(self, env, ctx, indent, depth):
        names = self.writable(env)
        same = collections.defaultdict(list)
        for n in names:
            same[env.vars[n]].append(n)
        pairs = [v for v in same.values() if len(v) >= 2]
        self.feature("tuple_unpack")
        if pairs and self.c.chance(0.4):
            a, b = self.c.choice(pairs)[:2] if self.c.chance(0.5) else self.c.choice(pairs)[-2:]
            self.emit(indent, f"{a}, {b} = {b}, {a}")  # swap
            aa, ab = a in env.active, b in env.active
            env.active.discard(a)
            env.active.discard(b)
            if ab:
                env.active.add(a)
            if aa:
                env.active.add(b)
            za, zb = a in env.zeros, b in env.zeros
            env.zeros.discard(a)
            env.zeros.discard(b)
            if zb:
                env.zeros.add(a)
            if za:
                env.zeros.add(b)
            ba, bb = env.base.pop(a, None), env.base.pop(b, None)
            if bb is not None:
                env.base[a] = bb
            if ba is not None:
                env.base[b] = ba
            return
        count = self.c.integer(2, 3)
        targets, values = [], []
        for _ in range(count):
            if names and self.c.chance(0.3):
                t = self.c.choice(names)
                shape = env.vars[t]
                if t in [x for x, _, _, _ in targets]:
                    t, shape = self.fresh(), self.pick_shape()
            else:
                t, shape = self.fresh(), self.pick_shape()
            code, base = self.assign_value(env, shape, depth - 1, t)
            active = self.is_active(code, env)
            targets.append((t, shape, base, active))
            values.append(code)
        if ctx.depth == 0 and self.c.chance(0.3):  # (a tuple bound inside a branch is a documented limitation)
            packed = self.fresh("pack")
            self.emit(indent, f"{packed} = ({', '.join(values)},)" if count == 1 else f"{packed} = {', '.join(values)}")
            self.emit(indent, f"{', '.join(t for t, _, _, _ in targets)} = {packed}")
        else:
            self.emit(indent, f"{', '.join(t for t, _, _, _ in targets)} = {', '.join(values)}")
        for t, shape, base, active in targets:
            self.bind(env, t, shape, base, active)

    def stmt_make_array(self, env, ctx, indent, depth):
        shape = self.c.weighted([(4, V3), (2, M33), (1, M23), (1, M34), (1, C3)])
        name = self.fresh("a")
        sources = [n for n in env.of_shape(shape)]
        form = self.c.integer(0, 4)
        zeros = False
        if form == 0 or not sources:
            code = self.c.choice([f"np.zeros({shape})", f"np.ones({shape})", f"np.full({shape}, {self.const()})"])
            if shape == V3 and self.c.chance(0.3):
                code = "np.zeros(3)"
            zeros = not code.startswith("np.full")
        elif form == 1:
            code = f"{self.c.choice(sources)}.copy()"
        elif form == 2:
            code = f"np.copy({self.c.choice(sources)})"
        elif form == 3:
            code = f"np.zeros_like({self.c.choice(sources)})"
            zeros = True
        else:
            code = f"{self.c.choice(sources)} * 1.0"
        self.feature("make_array")
        self.emit(indent, f"{name} = {code}")
        self.bind(env, name, shape, None, not zeros and self.is_active(code, env))
        if zeros:
            env.zeros.add(name)

    def stmt_array_write(self, env, ctx, indent, depth):
        arrays = [n for n in self.writable(env) if env.vars[n] != S and not env.aliased(n) and n not in self.aliasing]
        if not arrays:
            return self.stmt_make_array(env, ctx, indent, depth)
        name = self.c.choice(arrays)
        shape = env.vars[name]
        self.ever_written.add(name)
        self.feature("subscript_write")
        aug = self.c.chance(0.25)
        if len(shape) == 1:
            n = shape[0]
            form = self.c.integer(0, 3)
            if form <= 1:
                target, value_shape = f"{name}[{self.index_for(env, n)}]", S
            elif n == 3:
                target, value_shape = f"{name}[{self.c.choice(['1:', ':2', '-2:', '::2'])}]", V2
            else:
                target, value_shape = f"{name}[:]", shape
        else:
            rows, cols = shape
            form = self.c.integer(0, 3)
            if form == 0:
                target, value_shape = f"{name}[{self.index_for(env, rows)}, {self.index_for(env, cols)}]", S
            elif form == 1 and rows in (2, 3):
                target = f"{name}[:, {self.index_for(env, cols)}]"
                value_shape = {3: V3, 2: V2}[rows]
            elif form == 2 and cols in (2, 3):
                target = f"{name}[{self.index_for(env, rows)}]"
                value_shape = {3: V3, 2: V2}[cols]
            else:
                target, value_shape = f"{name}[{self.index_for(env, rows)}, {self.index_for(env, cols)}]", S
        rhs_shape = value_shape if self.c.chance(0.7) else S
        value = self.expr(rhs_shape, env, depth - 1)
        if self.is_active(value, env) or self.is_active(target, env):
            env.active.add(name)
        if aug:
            self.feature("augassign_subscript")
            self.emit(indent, f"{target} {self.c.choice(['+=', '-=', '*='])} {value}")
        else:
            self.emit(indent, f"{target} = {value}")

    # -------------------------------------------------------------- control flow
    def merge_after(self, env, inner, keep_new):
        """The environment after a block: variables new in ``inner`` survive only when ``keep_new``."""
        out = env.copy()
        for n, s in inner.vars.items():
            if n in env.vars:
                if env.vars[n] != s:
                    raise GeneratorError(f"{n} changed shape in a block")
                # aliasing: what may hold on some path holds after the block (conservative)
                if n in inner.base:
                    out.base[n] = inner.base[n]
            elif keep_new:
                out.vars[n] = s
                if n in inner.base:
                    out.base[n] = inner.base[n]
        # aliasing recorded anywhere in the block stays (conservative)
        for n, b in inner.base.items():
            if n in out.vars:
                out.base.setdefault(n, b)
        out.active |= {n for n in inner.active if n in out.vars}
        out.zeros = {n for n in out.zeros if n in inner.zeros or n not in inner.vars}
        out.zeros -= {n for n in inner.active}
        return out

    def body_count(self):
        return self.c.integer(1, 3)

    def stmt_for(self, env, ctx, indent, depth):
        i = self.fresh("i")
        form = self.c.integer(0, 3)
        if form == 0:
            lo, hi = 0, self.c.integer(1, 4)
            header = f"range({hi})"
        elif form == 1:
            lo, hi = self.c.integer(0, 1), self.c.integer(2, 4)
            header = f"range({lo}, {hi})"
        elif form == 2 and "n" in env.ints:
            lo, hi = 0, 3
            header = "range(n)"
            self.feature("int_default_argument")
        else:
            lo, hi = 0, self.c.integer(2, 3)
            header = f"range({hi})"
        self.feature("for_range")
        self.emit(indent, f"for {i} in {header}:")
        inner = env.copy()
        inner.ints[i] = (lo, hi)
        inner.frozen.add(i)
        inner = self.block(inner, ctx.inner("for"), indent + 1, self.body_count())
        self.has_jump = False
        keep = hi > lo and not self.jumps_in(indent + 1)
        out = self.merge_after(env, inner, keep_new=keep)
        if keep and any(n not in env.vars for n in inner.vars):
            self.feature("loop_defined")
        return out

    def jumps_in(self, indent):
        """Whether the block just emitted at ``indent`` has break/continue/return at its loop level (scan)."""
        for line in reversed(self.lines):
            stripped = line.lstrip()
            level = (len(line) - len(stripped)) // 4
            if level < indent:
                return False
            if stripped.split(" ")[0] in ("break", "continue", "return"):
                return True
        return False

    def stmt_while(self, env, ctx, indent, depth):
        k = self.fresh("k")
        bound = self.c.integer(1, 4)
        self.emit(indent, f"{k} = 0")
        data_cond = ""
        if self.c.chance(0.3):
            data_cond = f" and {self.expr(S, env, 1)} < {self.c.choice(['5.0', '10.0', '50.0'])}"
            self.feature("while_data_condition")
        self.emit(indent, f"while {k} < {bound}{data_cond}:")
        self.feature("while")
        inner = env.copy()
        inner.ints[k] = (0, bound)
        inner.frozen.add(k)
        first = self.c.chance(0.5)
        if first:
            self.emit(indent + 1, f"{k} += 1" if self.c.chance(0.5) else f"{k} = {k} + 1")
            inner.ints[k] = (1, bound + 1)
            inner = self.block(inner, ctx.inner("while_inc_first"), indent + 1, self.body_count())
        else:
            inner = self.block(inner, ctx.inner("while"), indent + 1, self.body_count())
            self.emit(indent + 1, f"{k} += 1" if self.c.chance(0.5) else f"{k} = {k} + 1")
        out = self.merge_after(env, inner, keep_new=False)
        out.ints[k] = (0, bound + 1)  # usable after the loop as an integer
        out.frozen.add(k)
        return out

    def stmt_if(self, env, ctx, indent, depth):
        cond = self.condition(env, 1)
        self.emit(indent, f"if {cond}:")
        then = self.block(env.copy(), ctx.inner(ctx.loop), indent + 1, self.body_count())
        then_jump = self.jumps_in(indent + 1)
        result = self.merge_after(env, then, keep_new=False)
        if self.c.chance(0.6):
            if self.c.chance(0.25):
                self.emit(indent, f"elif {self.condition(env, 1)}:")
                mid = self.block(env.copy(), ctx.inner(ctx.loop), indent + 1, self.body_count())
                result = self.merge_after(result, mid, keep_new=False)
                self.feature("elif")
            self.emit(indent, "else:")
            other = self.block(env.copy(), ctx.inner(ctx.loop), indent + 1, self.body_count())
            other_jump = self.jumps_in(indent + 1)
            result = self.merge_after(result, other, keep_new=False)
            # variables bound with the same shape in both branches survive
            if not then_jump and not other_jump and not self.lines[-1].lstrip().startswith("elif"):
                for n, s in then.vars.items():
                    if n not in env.vars and other.vars.get(n) == s and "elif" not in self.features:
                        result.vars[n] = s
                        self.feature("defined_in_both_branches")
                        for src in (then, other):
                            if n in src.base:
                                result.base[n] = src.base[n]
        return result

    def stmt_for_tuple(self, env, ctx, indent, depth):
        shape = self.c.choice([S, V3, S])
        t = self.fresh("t")
        items = [self.expr(shape, env, 1) for _ in range(self.c.integer(2, 3))]
        self.emit(indent, f"for {t} in ({', '.join(items)}):" if self.c.chance(0.5)
                  else f"for {t} in [{', '.join(items)}]:")
        self.feature("for_tuple")
        inner = env.copy()
        inner.vars[t] = shape
        inner.frozen.add(t)
        if any(self.is_active(item, env) for item in items):
            inner.active.add(t)
        inner = self.block(inner, ctx.inner("tuple"), indent + 1, self.body_count())
        out = self.merge_after(env, inner, keep_new=False)
        return out

    def stmt_for_rows(self, env, ctx, indent, depth):
        mats = [n for n, s in env.vars.items() if s in (M23, M33)]
        m = self.c.choice(mats)
        row = self.fresh("row")
        self.emit(indent, f"for {row} in {m}:")
        self.feature("for_rows")
        inner = env.copy()
        inner.vars[row] = V3
        inner.frozen.add(row)
        inner.base[row] = m
        self.aliasing.add(row)
        if m in env.active:
            inner.active.add(row)
        inner = self.block(inner, ctx.inner("rows"), indent + 1, self.body_count())
        out = self.merge_after(env, inner, keep_new=False)
        out.base.pop(row, None)
        return out

    def stmt_break_continue(self, env, ctx, indent, depth):
        cond = self.condition(env, 1)
        word = self.c.choice(["break", "continue"])
        self.feature(word)
        self.emit(indent, f"if {cond}:")
        self.emit(indent + 1, word)

    def stmt_early_return(self, env, ctx, indent, depth):
        cond = self.condition(env, 1)
        self.emit(indent, f"if {cond}:")
        self.emit(indent + 1, f"return {self.output_expr(env, ctx.out_shape)}")
        self.feature("early_return")

    def stmt_lambda(self, env, ctx, indent, depth):
        shape = self.c.choice([S, V3, S, M33])
        name = self.fresh("lam")
        inner = Env()
        inner.vars = {"t": shape}
        # closures: scalars and arrays of f visible when the lambda is called
        captured = [n for n, s in env.vars.items() if s in (S, shape) and not n.startswith(("t", "row"))]
        for n in captured:
            inner.vars[n] = env.vars[n]
        inner.active = {"t"} | {n for n in captured if n in env.active}
        body = self.fresh_return(inner, shape)
        if "t" not in body:
            body = f"({body}) * t"
        self.emit(indent, f"{name} = lambda t: {body}")
        self.feature("lambda")
        func = Func(name, [("t", shape)], {}, shape, "lambda")
        func.active = self.is_active(body, Env.with_active(set(captured) & env.active))
        env.funcs.append(func)

    def stmt_nested_def(self, env, ctx, indent, depth):
        shape = self.c.choice([S, V3])
        name = self.fresh("inner")
        self.emit(indent, f"def {name}(u, w={self.const()}):")
        inner = Env()
        inner.vars = {"u": shape, "w": S}
        inner.base = {"u": "_caller"} if shape != S else {}
        captured = [n for n, s in env.vars.items() if s in (S, V3) and not n.startswith(("t", "row"))]
        for n in captured:
            inner.vars[n] = env.vars[n]
        inner.frozen.update(captured)  # assigning would make them local to the nested function
        inner.active = {"u", "w"} | (set(captured) & env.active)
        inner.funcs = [f for f in env.funcs if f.kind == "helper"]
        inner = self.block(inner, Context(None, None, 1, True), indent + 1, self.c.integer(0, 2))
        self.emit(indent + 1, f"return {self.fresh_return(inner, shape)}")
        self.feature("nested_function")
        func = Func(name, [("u", shape), ("w", S)], {"w": None}, shape, "nested")
        func.active = bool(set(captured) & env.active)
        env.funcs.append(func)

    def stmt_call_unpack(self, env, ctx, indent, depth):
        funcs = [f for f in env.funcs if isinstance(f.out_shape, tuple) and f.out_shape
                 and isinstance(f.out_shape[0], tuple)]
        func = self.c.choice(funcs)
        targets = [self.fresh() for _ in func.out_shape]
        call = self.call(func, env, depth)
        self.emit(indent, f"{', '.join(targets)} = {call}")
        self.feature("tuple_return")
        for t, s in zip(targets, func.out_shape):
            self.bind(env, t, s, None, self.is_active(call, env))

    # -------------------------------------------------------------------- output
    def output_expr(self, env, out_shape):
        if isinstance(out_shape, list):
            return ", ".join(self.output_expr(env, s) for s in out_shape)
        if out_shape == S:
            live = [n for n in env.vars if not n.startswith(("t", "row"))]
            chosen = [n for n in live if self.c.chance(0.6)] or live[-1:]
            terms = []
            for n in chosen:
                s = env.vars[n]
                if s == S:
                    terms.append(self.c.choice([n, f"{n} ** 2", f"np.sin({n})", f"{self.const()} * {n}"]))
                else:
                    terms.append(self.c.choice([f"np.sum({n})", f"np.sum({n} ** 2)", f"np.mean(np.sin({n}))",
                                                f"np.sum({n} * {self.const_array(s)})"]))
            return " + ".join(terms)
        # an array output: combine the live variables that broadcast to it
        live = [n for n, s in env.vars.items() if s == out_shape or s == S]
        terms = [n for n in live if self.c.chance(0.5)] or [self.expr(out_shape, env, 1)]
        if all(env.vars.get(t) == S for t in terms):
            terms.append(self.expr(out_shape, env, 1))
        return " + ".join(f"{self.const()} * {t}" if self.c.chance(0.3) else t for t in terms)

    # ------------------------------------------------------------------- helpers
    def helper(self, index, funcs):
        """A module-level helper: typed parameters (trailing scalars with defaults), typed result."""
        name = f"h{index}"
        kind = self.c.weighted([(3, "elementwise"), (2, "typed"), (1, "tuple")])
        if kind == "elementwise":
            shape = self.c.choice([S, V3, S, V3, M33])
            params = [("a", shape), ("k", S)]
            out = shape
        elif kind == "typed":
            params = [("a", self.c.choice([V3, S, M33])), ("b", self.c.choice([V3, S])), ("k", S)]
            out = self.c.choice([S, V3, S])
        else:
            shape = self.c.choice([S, V3])
            params = [("a", shape), ("k", S)]
            out = (shape, self.c.choice([S, V3]))
        defaults = {"k": self.const()} if self.c.chance(0.7) else {}
        sig = ", ".join(f"{p}={defaults[p]}" if p in defaults else p for p, _ in params)
        self.emit(0, f"def {name}({sig}):")
        env = Env()
        env.vars = dict(params)
        env.active = {p for p, _ in params}
        env.base = {p: "_caller" for p, s in params if s != S}
        env.funcs = list(funcs)
        env = self.block(env, Context(None, None, 0, True), 1, self.c.integer(0, 3))
        if isinstance(out, tuple) and out and isinstance(out[0], tuple):
            parts = [self.fresh_return(env, s) for s in out]
            self.emit(1, f"return {', '.join(parts)}")
        else:
            self.emit(1, f"return {self.fresh_return(env, out)}")
        self.emit(0, "")
        self.emit(0, "")
        self.feature(f"helper_{kind}")
        return Func(name, params, defaults, out, "helper")

    def fresh_return(self, env, shape):
        code, base = self.expr_b(shape, env, 2)
        if base is not None:
            code = f"{self.paren(code)} * 1.0"  # callers take the result for a new array
        return code

    # ------------------------------------------------------------------- program
    def program(self):
        signature = self.c.weighted([(5, "xs"), (2, "xsc"), (2, "xsm"), (1.5, "st")])
        if signature == "xs":
            params = [("x", V3), ("s", S)]
        elif signature == "xsc":
            params = [("x", V3), ("s", S), ("m", C3)]
        elif signature == "xsm":
            params = [("x", V3), ("s", S), ("m", M23)]
        else:
            params = [("s", S), ("t0", S)]
        scalar_only = signature == "st"
        self.feature(f"signature_{signature}")
        out_shape = self.c.weighted([(7, S), (2, V3), (1, [S, V3])]) if not scalar_only else \
            self.c.weighted([(8, S), (1, [S, S])])
        self.emit(0, "import math")
        self.emit(0, "")
        self.emit(0, "import numpy as np")
        self.emit(0, "")
        self.emit(0, "")
        funcs = []
        for index in range(self.c.weighted([(4, 0), (3, 1), (2, 2)])):
            funcs.append(self.helper(index, funcs))
        if scalar_only:
            funcs = [f for f in funcs if all(s == S for _, s in f.params) and f.out_shape == S]
        extra = ""
        env = Env()
        env.vars = dict(params)
        env.active = {p for p, _ in params}
        env.base = {p: "_param" for p, s in params if s != S}
        env.funcs = funcs
        if self.c.chance(0.15):
            extra = ", n=3"
            env.ints["n"] = (3, 4)  # n == 3
            env.frozen.add("n")
        self.emit(0, f"def f({', '.join(p for p, _ in params)}{extra}):")
        body = self.block(env, Context(out_shape, None, 0, False), 1, max(1, int(self.c.integer(2, 6) * self.size)))
        self.emit(1, f"return {self.output_expr(body, out_shape)}")
        out_kind = "scalar" if out_shape == S else ("tuple" if isinstance(out_shape, list) else "array")
        self.out_count = len(out_shape) if isinstance(out_shape, list) else 1
        self.data_seed = self.c.integer(0, 2 ** 31 - 1)
        return params, out_kind


class ScalarGenerator(Generator):
    """Scalar-only programs (every variable a float): exercises tangent2's scalar specialization."""

    def pick_shape(self):
        return S

    def stmt_make_array(self, env, ctx, indent, depth):
        return self.stmt_assign(env, ctx, indent, depth)

    def stmt_array_write(self, env, ctx, indent, depth):
        return self.stmt_augassign(env, ctx, indent, depth)

    def stmt_for_rows(self, env, ctx, indent, depth):
        return self.stmt_assign(env, ctx, indent, depth)

    def expr_b(self, shape, env, depth):
        if shape != S:
            raise GeneratorError("array expression in a scalar program")
        if depth <= 0:
            return self.terminal(S, env)
        kind = self.c.weighted([(3, "terminal"), (5, "unary"), (6, "binary"), (1.5, "division"),
                                (0.8, "special"), (0.6, "cond")] +
                               ([(3, "call")] if [f for f in env.funcs if f.out_shape == S] else []))
        if kind == "terminal":
            return self.terminal(S, env)
        if kind == "unary":
            return self.unary(S, env, depth), None
        if kind == "binary":
            return self.binary(S, env, depth), None
        if kind == "division":
            return self.division(S, env, depth), None
        if kind == "special":
            d = depth - 1
            k = self.c.integer(0, 2)
            if k == 0:
                self.feature("math_module")
                f = self.c.choice(["math.sin({})", "math.cos({})", "math.tanh({})", "math.exp(math.sin({}))",
                                   "math.log(1.0 + ({}) ** 2)", "math.sqrt(2.0 + math.cos({}))"])
                return f.format(self.expr(S, env, d)), None
            if k == 1:
                self.feature("builtin_max_abs")
                f = self.c.choice(["max({}, {})", "min({}, {})", "abs({}) + 0.0 * {}", "pow({}, 2) + {}"])
                return "(" + f.format(self.expr(S, env, d), self.expr(S, env, d)) + ")", None
            self.feature("builtin_sum_generator")
            items = ", ".join(self.expr(S, env, d) for _ in range(2))
            return f"sum(q ** 2 for q in ({items},))", None
        if kind == "cond":
            self.feature("conditional_expression")
            return (f"({self.expr(S, env, depth - 1)} if {self.condition(env, depth - 1)} "
                    f"else {self.expr(S, env, depth - 1)})"), None
        return self.call(self.c.choice([f for f in env.funcs if f.out_shape == S]), env, depth), None

    def terminal(self, shape, env):
        names = env.of_shape(S)
        options = [(8, "var")] if names else []
        if env.ints:
            options.append((1, "counter"))
        options.append((1, "const"))
        kind = self.c.weighted(options)
        if kind == "var":
            return self.c.choice(names), None
        if kind == "counter":
            self.feature("counter_arith")
            return f"({self.const()} * {self.c.choice(list(env.ints))})", None
        return self.const(), None

    def stmt_lambda(self, env, ctx, indent, depth):
        name = self.fresh("lam")
        inner = Env()
        inner.vars = {"t": S}
        for n, s in env.vars.items():
            if not n.startswith(("t", "row")):
                inner.vars[n] = s
        body = self.expr(S, inner, 2)
        if "t" not in body:
            body = f"({body}) * t"
        self.emit(indent, f"{name} = lambda t: {body}")
        self.feature("lambda")
        func = Func(name, [("t", S)], {}, S, "lambda")
        func.active = True
        env.funcs.append(func)

    def stmt_nested_def(self, env, ctx, indent, depth):
        name = self.fresh("inner")
        self.emit(indent, f"def {name}(u, w={self.const()}):")
        inner = Env()
        inner.vars = {"u": S, "w": S}
        captured = [n for n, s in env.vars.items() if not n.startswith(("t", "row"))]
        for n in captured:
            inner.vars[n] = S
        inner.frozen.update(captured)
        inner.active = {"u", "w"} | (set(captured) & env.active)
        inner.funcs = [f for f in env.funcs if f.kind == "helper"]
        inner = self.block(inner, Context(None, None, 1, True), indent + 1, self.c.integer(0, 2))
        self.emit(indent + 1, f"return {self.expr(S, inner, 2)}")
        self.feature("nested_function")
        func = Func(name, [("u", S), ("w", S)], {"w": None}, S, "nested")
        func.active = bool(set(captured) & env.active)
        env.funcs.append(func)

    def stmt_for_tuple(self, env, ctx, indent, depth):
        t = self.fresh("t")
        items = [self.expr(S, env, 1) for _ in range(self.c.integer(2, 3))]
        self.emit(indent, f"for {t} in ({', '.join(items)}):")
        self.feature("for_tuple")
        inner = env.copy()
        inner.vars[t] = S
        inner.frozen.add(t)
        inner = self.block(inner, ctx.inner("tuple"), indent + 1, self.body_count())
        return self.merge_after(env, inner, keep_new=False)

    def helper(self, index, funcs):
        name = f"h{index}"
        params = [("a", S), ("k", S)]
        defaults = {"k": self.const()} if self.c.chance(0.7) else {}
        sig = ", ".join(f"{p}={defaults[p]}" if p in defaults else p for p, _ in params)
        self.emit(0, f"def {name}({sig}):")
        env = Env()
        env.vars = dict(params)
        env.active = {p for p, _ in params}
        env.funcs = list(funcs)
        env = self.block(env, Context(None, None, 0, True), 1, self.c.integer(0, 3))
        self.emit(1, f"return {self.expr(S, env, 2)}")
        self.emit(0, "")
        self.emit(0, "")
        self.feature("helper_scalar")
        return Func(name, params, defaults, S, "helper")

    def program(self):
        params = [("s", S), ("t0", S)]
        self.feature("signature_st")
        out_shape = self.c.weighted([(8, S), (1, [S, S])])
        self.emit(0, "import math")
        self.emit(0, "")
        self.emit(0, "import numpy as np")
        self.emit(0, "")
        self.emit(0, "")
        funcs = []
        for index in range(self.c.weighted([(4, 0), (3, 1), (2, 2)])):
            funcs.append(self.helper(index, funcs))
        env = Env()
        env.vars = dict(params)
        env.active = {p for p, _ in params}
        env.base = {p: "_param" for p, s in params if s != S}
        env.funcs = funcs
        self.emit(0, "def f(s, t0):")
        body = self.block(env, Context(out_shape, None, 0, False), 1, max(1, int(self.c.integer(2, 6) * self.size)))
        self.emit(1, f"return {self.output_expr(body, out_shape)}")
        out_kind = "scalar" if out_shape == S else "tuple"
        self.out_count = len(out_shape) if isinstance(out_shape, list) else 1
        self.data_seed = self.c.integer(0, 2 ** 31 - 1)
        return params, out_kind


def generate(chooser, avoid=frozenset(KNOWN_BUGS), size=1.0, label=""):
    """One Program from ``chooser``."""
    scalar = chooser.chance(0.15)
    gen = (ScalarGenerator if scalar else Generator)(chooser, avoid=avoid, size=size)
    params, out_kind = gen.program()
    return finish(gen, params, out_kind, label)


def _array_text(a):
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        return repr(float(a))
    return f"np.array({a.tolist()!r})"


def finish(gen, params, out_kind, label=""):
    """Append the harness (arguments, directions, scalarization, reverse over reverse) to the source.

    ``fs`` is ``f`` made scalar (``<f, cotangent>``; the cotangent constants ``C0``, ... are set by the
    harness from the output's shapes); ``ror`` is ``<grad fs, v>`` with ``v = TANGENTS``."""
    rng = np.random.default_rng(gen.data_seed)
    names = [p for p, _ in params]
    shapes = [s for _, s in params]

    def draw(shape, lo, hi):
        value = rng.uniform(lo, hi, size=shape)
        # keep away from 0 (a natural kink and branch location)
        value = np.where(np.abs(value) < 0.1, value + np.sign(value + 1e-12) * 0.1, value)
        return float(value) if shape == S else value

    args = [draw(s, -1.5, 1.5) for s in shapes]
    tangents = [draw(s, -1.0, 1.0) for s in shapes]
    return with_harness(gen.lines, names, args, tangents, out_kind, gen.out_count, label, gen.features)


def with_harness(lines, names, args, tangents, out_kind, out_count=1, label="", features=()):
    """The Program of ``lines`` (a module defining ``f`` with parameters ``names``) and the harness checking it
    at ``args`` along ``tangents``; ``out_kind``: "scalar", "array" or "tuple" (of ``out_count`` arrays)."""
    shapes = [tuple(np.shape(a)) for a in args]
    sig = ", ".join(names)
    wrt = tuple(range(len(names)))
    lines = list(lines)
    lines += ["", "", "# ---- fuzz harness (generated): arguments, directions, scalarization ----",
              "import tangent2 as TG  # noqa: E402", "",
              f"ARGS = ({', '.join(_array_text(a) for a in args)},)",
              f"TANGENTS = ({', '.join(_array_text(t) for t in tangents)},)"]
    lines += [f"V{k} = TANGENTS[{k}]" for k in range(len(names))]
    if out_kind == "scalar":
        lines += ["", "", f"def fs({sig}):", f"    return f({sig})"]
    elif out_kind == "array":
        lines += ["C0 = None  # the cotangent, set by the harness", "", "",
                  f"def fs({sig}):", f"    return np.sum(f({sig}) * C0)"]
    else:
        count = out_count
        lines += [f"C{k} = None  # a cotangent, set by the harness" for k in range(count)]
        lines += ["", "", f"def fs({sig}):", f"    out = f({sig})",
                  "    return " + " + ".join(f"np.sum(out[{k}] * C{k})" for k in range(count))]
    lines += ["", "", f"def ror({sig}):", f"    g = TG.grad(fs, wrt={wrt!r})({sig})",
              "    return " + " + ".join(f"np.sum(g[{k}] * V{k})" for k in range(len(names)))]
    source = "\n".join(lines) + "\n"
    header = f"# tangent2 fuzz program {label}\n" if label else ""
    return Program(header + source, names, shapes, out_kind, set(features), label)


def program_from_function(function, args, tangents):
    """The Program checking the Python ``function`` (a module-level function of ``np`` and its parameters only,
    renamed ``f``) at ``args`` along ``tangents``: a minimized finding gets every check of a random program."""
    import inspect
    source = inspect.getsource(function).replace(f"def {function.__name__}(", "def f(", 1)
    names = list(inspect.signature(function).parameters)
    out = function(*_copies(args))
    out_kind = "tuple" if isinstance(out, tuple) else "scalar" if np.ndim(out) == 0 else "array"
    lines = ["import numpy as np", "", ""] + source.rstrip().splitlines()
    return with_harness(lines, names, args, tangents, out_kind, len(out) if out_kind == "tuple" else 1,
                        f"function {function.__name__}")


def programs(avoid=frozenset(KNOWN_BUGS), size=1.0):
    """A Hypothesis strategy of Programs (every generator choice a draw, so failures shrink)."""
    from hypothesis import strategies as st

    @st.composite
    def strategy(draw):
        while True:
            try:
                return generate(HypothesisChooser(draw), avoid=avoid, size=size)
            except GeneratorError:
                from hypothesis import reject
                reject()

    return strategy()


# ----------------------------------------------------------------------------------------------- loading
_PROGRAM_DIR = None


def program_dir():
    global _PROGRAM_DIR
    if _PROGRAM_DIR is None:
        _PROGRAM_DIR = os.environ.get("TANGENT2_FUZZ_DIR") or os.path.join(tempfile.gettempdir(),
                                                                           f"tangent2_fuzz_{os.getpid()}")
        os.makedirs(_PROGRAM_DIR, exist_ok=True)
        if not os.environ.get("TANGENT2_FUZZ_DIR"):
            import atexit
            import shutil
            atexit.register(shutil.rmtree, _PROGRAM_DIR, True)  # the programs are throwaway files
    return _PROGRAM_DIR


def load(program):
    """Write the program to a .py file named by its content hash and import it as a fresh module."""
    name = f"fuzz_{program.digest}"
    path = os.path.join(program_dir(), name + ".py")
    if not os.path.exists(path):
        with open(path + ".tmp", "w") as handle:
            handle.write(program.source)
        os.replace(path + ".tmp", path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module, path


def unload(module):
    sys.modules.pop(module.__name__, None)


# ---------------------------------------------------------------------------------------------- checking
class Outcome:
    """status: "agree" | "skip" | "fail" | "unsupported" | "invalid"; kind: what (e.g. "mismatch:jvp-vs-fd")."""

    def __init__(self, status, kind="", message="", checks=(), notes=()):
        self.status = status
        self.kind = kind
        self.message = message
        self.checks = list(checks)     # names of the comparisons that passed
        self.notes = list(notes)       # secondary counts: jit failures, second-order FD skipped, ...

    def __repr__(self):
        return f"Outcome({self.status!r}, {self.kind!r})"


class Mismatch(Exception):
    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind
        self.message = message


def _leaves(value):
    if isinstance(value, (tuple, list)):
        out = []
        for v in value:
            out.extend(_leaves(v))
        return out
    return [np.asarray(value, dtype=np.float64)]


def _flat(value):
    leaves = _leaves(value)
    return np.concatenate([leaf.ravel() for leaf in leaves]) if leaves else np.zeros(0)


def _copies(args):
    return tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)


def _axpy(args, tangents, h):
    return tuple(a + h * t if isinstance(a, np.ndarray) else float(a + h * t) for a, t in zip(args, tangents))


def _check_shapes(kind, value, reference, what, what_reference):
    """Raise Mismatch unless the leaves of ``value`` have exactly the shapes of ``reference``'s: a derivative
    has its argument's (or output's) shape, never a broadcast of it."""
    got, expected = [leaf.shape for leaf in _leaves(value)], [leaf.shape for leaf in _leaves(reference)]
    if got != expected:
        raise Mismatch(kind, f"{what} has shapes {got}, {what_reference} {expected}:\n  {what}: {value!r}")


def _dot(a, b):
    return float(np.dot(_flat(a), _flat(b)))


def _compare(kind, got, expected, rtol, atol, what_got, what_expected, structured=True):
    """Raise Mismatch unless ``got`` and ``expected`` agree; ``structured``: leaf by leaf (both trees from
    tangent2 or the function), else as flat vectors (finite differences are flat)."""
    got_leaves, expected_leaves = _leaves(got), _leaves(expected)
    if structured and len(got_leaves) == len(expected_leaves):
        for g, e in zip(got_leaves, expected_leaves):
            if g.shape != e.shape:
                raise Mismatch("shape:" + kind.split(":", 1)[-1],
                               f"{what_got} has shape {g.shape} where {what_expected} has {e.shape}:\n"
                               f"  {what_got}: {got!r}\n  {what_expected}: {expected!r}")
    got_f, expected_f = _flat(got), _flat(expected)
    if got_f.shape != expected_f.shape:
        raise Mismatch(kind, f"{what_got} has {got_f.size} values, {what_expected} {expected_f.size}:\n"
                             f"  {what_got}: {got!r}\n  {what_expected}: {expected!r}")
    if not np.all(np.isfinite(got_f)):
        raise Mismatch(kind, f"{what_got} is not finite: {got!r} ({what_expected}: {expected!r})")
    scale = max(np.max(np.abs(got_f), initial=0.0), np.max(np.abs(expected_f), initial=0.0))
    err = np.max(np.abs(got_f - expected_f), initial=0.0)
    if err > atol + rtol * scale:
        raise Mismatch(kind, f"{what_got} != {what_expected} (max abs error {err:.3g}, scale {scale:.3g}):\n"
                             f"  {what_got}:      {np.array2string(got_f, precision=12)}\n"
                             f"  {what_expected}: {np.array2string(expected_f, precision=12)}")


class FDUnreliable(Exception):
    pass


def directional_fd(fun, args, tangents, scale_hint=1.0):
    """Central differences of ``fun`` along ``tangents`` (Richardson-extrapolated), or FDUnreliable.

    Two step sizes must agree (no branch boundary or kink within ~1e-3), and the one-sided differences must
    agree at the point itself (no kink exactly there, e.g. a tie in max)."""
    def at(h):
        with np.errstate(all="ignore"):
            return _flat(fun(*_copies(_axpy(args, tangents, h))))

    with np.errstate(all="ignore"):
        f0 = _flat(fun(*_copies(args)))
    if not np.all(np.isfinite(f0)):
        raise FDUnreliable("f is not finite at the point")

    def central(h):
        return (at(h) - at(-h)) / (2 * h)

    def richardson(h):
        return (4 * central(h / 2) - central(h)) / 3

    r1, r2 = richardson(1e-3), richardson(1e-4)
    if not (np.all(np.isfinite(r1)) and np.all(np.isfinite(r2))):
        raise FDUnreliable("non-finite finite differences")
    scale = max(np.max(np.abs(r2), initial=0.0), 1e-300)
    magnitude = max(np.max(np.abs(f0), initial=0.0), scale_hint, 1.0)
    if np.max(np.abs(r1 - r2), initial=0.0) > 1e-6 * scale + 1e-9 * magnitude:
        raise FDUnreliable(f"step sizes disagree ({np.max(np.abs(r1 - r2)):.3g}): a branch boundary or kink nearby")
    # one-sided differences at the point: smooth -> difference O(h), kink -> O(1)
    d1 = (at(1e-4) - f0) / 1e-4 - (f0 - at(-1e-4)) / 1e-4
    d2 = (at(1e-5) - f0) / 1e-5 - (f0 - at(-1e-5)) / 1e-5
    n1, n2 = np.max(np.abs(d1), initial=0.0), np.max(np.abs(d2), initial=0.0)
    if n2 > 0.5 * n1 and n2 > 1e-8 * (scale + magnitude) + 1e-9:
        raise FDUnreliable("one-sided differences disagree: a kink at the point")
    return r2, magnitude


RTOL_AD = 1e-8    # two automatic derivatives of the same quantity
RTOL_FD = 1e-5    # automatic vs finite differences


def check_program(program, jit=False, second_order=True, ror_switching=True, first_order=True):
    """Run every check on ``program``; an Outcome (never raises for tangent2 errors).

    ``first_order=False`` skips jvp / grad / vjp (used when shrinking a second-order failure)."""
    import tangent2 as tg
    from tangent2.errors import NotDifferentiable, UnsupportedSyntax
    checks, notes = [], []
    try:
        module, path = load(program)
    except Exception as error:  # the generator wrote something Python rejects
        return Outcome("invalid", "invalid:load", f"{type(error).__name__}: {error}")
    try:
        f = module.f
        args = tuple(module.ARGS)
        tangents = tuple(module.TANGENTS)
        names = program.params
        wrt = tuple(range(len(names)))
        # 1. the program itself
        try:
            with np.errstate(all="ignore"):
                out = f(*_copies(args))
        except Exception as error:
            return Outcome("invalid", "invalid:run", f"{type(error).__name__}: {error}")
        if not np.all(np.isfinite(_flat(out))) or np.max(np.abs(_flat(out)), initial=0.0) > 1e8:
            return Outcome("skip", "skip:non-finite-or-huge", "")
        if program.out_kind != "scalar":
            rng = np.random.default_rng(int(program.digest[:8], 16))
            parts = out if isinstance(out, tuple) else (out,)
            cotangent = tuple(rng.uniform(-1, 1, np.shape(o)) if np.ndim(o) else float(rng.uniform(-1, 1))
                              for o in parts)
            for k, c in enumerate(cotangent):
                setattr(module, f"C{k}", c)
            module.COTANGENT = cotangent if isinstance(out, tuple) else cotangent[0]
        fs = module.fs
        # finite differences first: a program they cannot check is skipped before tangent2 runs
        try:
            fd, magnitude = directional_fd(f, args, tangents)
        except FDUnreliable as why:
            return Outcome("skip", "skip:fd-unreliable", str(why))
        atol = 1e-7 * magnitude

        def guarded(kind, thunk):
            try:
                with np.errstate(all="ignore"):
                    return thunk()
            except (UnsupportedSyntax, NotDifferentiable):
                raise
            except Mismatch:
                raise
            except Exception as error:
                raise Mismatch(f"crash:{kind}", f"{kind} raised {type(error).__name__}: {error}\n"
                                                f"{traceback.format_exc(limit=-6)}")

        g = None
        if not first_order:
            jit = False
        # 2. forward mode
        if first_order:
            out_j, tan_j = guarded("jvp", lambda: tg.jvp(f, _copies(args), _copies(tangents)))
            _compare("mismatch:jvp-primal", out_j, out, RTOL_AD, atol * 1e-2, "jvp primal", "f(*args)")
            _check_shapes("shape:jvp", tan_j, out, "jvp tangent", "f(*args)")
            _compare("mismatch:jvp-vs-fd", tan_j, fd, RTOL_FD, atol, "jvp tangent", "finite differences",
                     structured=False)
            checks.append("jvp-vs-fd")
        # 3. reverse mode
        if not first_order:
            pass
        elif program.out_kind == "scalar":
            g = guarded("grad", lambda: tg.grad(f, wrt=wrt)(*_copies(args)))
            _check_shapes("shape:grad", g, args, "grad", "the arguments")
            _compare("mismatch:grad-vs-jvp", tan_j, _dot(g, tangents),
                     RTOL_AD, atol * 1e-2, "jvp tangent", "<grad, v>", structured=False)
            checks.append("grad-vs-jvp")
            value, g2 = guarded("value_and_grad", lambda: tg.value_and_grad(f, wrt=wrt)(*_copies(args)))
            _compare("mismatch:value_and_grad", (value, g2), (out, g), RTOL_AD, atol * 1e-2,
                     "value_and_grad", "(f, grad)")
        else:
            cot = module.COTANGENT
            out_v, pullback = guarded("vjp", lambda: tg.vjp(f, *_copies(args)))
            cts = guarded("vjp-pullback", lambda: pullback(cot))
            _check_shapes("shape:vjp", cts, args, "vjp(ct)", "the arguments")
            _compare("mismatch:vjp-vs-jvp", _dot(cts, tangents), _dot(cot, tan_j), RTOL_AD,
                     atol * 1e-2 * (1 + np.max(np.abs(_flat(tan_j)), initial=0)), "<vjp(ct), v>", "<ct, jvp>",
                     structured=False)
            checks.append("vjp-vs-jvp")
            g = guarded("grad-of-scalarized", lambda: tg.grad(fs, wrt=wrt)(*_copies(args)))
            _compare("mismatch:grad-vs-vjp", g, cts, RTOL_AD, atol * 1e-2, "grad(<f, ct>)", "vjp(ct)")
            checks.append("grad-vs-vjp")
        # 4. second order: forward over reverse, reverse over reverse, finite differences of the gradient
        if second_order:
            grad_fs = tg.grad(fs, wrt=wrt)
            _, hv_for = guarded("jvp-of-grad", lambda: tg.jvp(grad_fs, _copies(args), _copies(tangents)))
            _check_shapes("shape:jvp-of-grad", hv_for, args, "forward-over-reverse Hv", "the arguments")
            hv_ror = guarded("grad-of-grad", lambda: tg.grad(module.ror, wrt=wrt, mode_switching=False)(
                *_copies(args)))
            scale2 = max(np.max(np.abs(_flat(hv_for)), initial=0.0), 1.0)
            _compare("mismatch:for-vs-ror", hv_ror, hv_for, 1e-7, 1e-9 * scale2 * magnitude,
                     "reverse-over-reverse Hv", "forward-over-reverse Hv")
            checks.append("for-vs-ror")
            if ror_switching:
                hv_sw = guarded("grad-of-grad-switched", lambda: tg.grad(module.ror, wrt=wrt, mode_switching=True)(
                    *_copies(args)))
                _compare("mismatch:for-vs-ror-switched", hv_sw, hv_for, 1e-7, 1e-9 * scale2 * magnitude,
                         "reverse-over-reverse (mode switching) Hv", "forward-over-reverse Hv")
                checks.append("for-vs-ror-switched")
            try:
                fd2, mag2 = directional_fd(lambda *a: grad_fs(*a), args, tangents, scale_hint=magnitude)
            except FDUnreliable:
                notes.append("second-order-fd-unreliable")
            else:
                _compare("mismatch:hvp-vs-fd", hv_for, fd2, 1e-5, 1e-7 * mag2, "forward-over-reverse Hv",
                         "finite differences of grad",
                         structured=False)
                checks.append("hvp-vs-fd")
            if len(names) == 2 and program.shapes == [S, S] and program.out_kind == "scalar":
                d2 = guarded("grad-of-grad-scalar", lambda: tg.grad(tg.grad(f))(*args))
                _, h00 = guarded("jvp-of-grad-scalar", lambda: tg.jvp(tg.grad(f), args, (1.0, 0.0)))
                _compare("mismatch:grad-grad-vs-for", d2, h00, 1e-7, 1e-9 * magnitude * scale2,
                         "grad(grad(f))", "jvp(grad(f))")
                checks.append("grad-grad-vs-for")
        # 5. compiled
        if jit:
            note = _check_jit(tg, f, fs, wrt, args, g, program, atol)
            if note:
                notes.append(note)
            else:
                checks.append("jit")
        return Outcome("agree", "agree", "", checks, notes)
    except (UnsupportedSyntax, NotDifferentiable) as error:
        return Outcome("unsupported", f"unsupported:{type(error).__name__}", str(error))
    except Mismatch as error:
        known = known_bug(error)
        if known:
            return Outcome("known", f"known:{known}", error.message, checks, notes)
        if " is not finite: " in error.message and _meets_non_finite_values(module.f, tuple(module.ARGS)):
            # inf * 0 in the chain rule: every AD tool gives NaN there (a finite output after an overflow)
            return Outcome("skip", "skip:non-finite-intermediate", error.message, checks, notes)
        return Outcome("fail", error.kind, error.message, checks, notes)
    finally:
        unload(module)
        try:
            os.remove(path)
        except OSError:
            pass


def _meets_non_finite_values(f, args):
    """Whether running ``f`` overflows or computes NaN on the way, though its output is finite (tanh(inf))."""
    try:
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            f(*_copies(args))
    except FloatingPointError:
        return True
    return False


def known_bug(error):
    """The KNOWN_BUGS key a failure's signature matches (crashes whose cause is known), else None: none now,
    every crash is a failure."""
    return None


def _check_jit(tg, f, fs, wrt, args, g, program, atol):
    """None when tg.jit(grad) equals the Python gradient; a note string when jit is unavailable or fails to
    compile (not a correctness bug); raises Mismatch when the compiled result differs."""
    jit = getattr(tg, "jit", None)
    if jit is None:
        return "jit-unavailable"
    target = f if program.out_kind == "scalar" else fs
    try:
        with np.errstate(all="ignore"):
            compiled = jit(tg.grad(target, wrt=wrt))
            got = compiled(*_copies(args))
    except Exception as error:
        return f"jit-failed:{type(error).__name__}"
    _compare("mismatch:jit-vs-python", got, g, 1e-9, atol * 1e-2, "jit(grad)", "grad")
    return None


# ---------------------------------------------------------------------------------------------- reducing
HARNESS_MARK = "# ---- fuzz harness (generated)"


def program_from_source(source, label=""):
    """A Program from a written program's source (its harness names the parameters and output kind)."""
    import ast
    tree = ast.parse(source)
    f = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "f")
    names = [a.arg for a in f.args.args][:len(f.args.args) - len(f.args.defaults)]
    namespace = {"np": np}
    assign = next(node for node in tree.body if isinstance(node, ast.Assign)
                  and getattr(node.targets[0], "id", None) == "ARGS")
    args = eval(compile(ast.Expression(assign.value), "<ARGS>", "eval"), namespace)
    shapes = [tuple(np.shape(a)) for a in args]
    out_kind = "scalar" if "C0 = None" not in source else ("tuple" if "C1 = None" in source else "array")
    return Program(source, names, shapes, out_kind, set(), label)


def _blocks(lines, start, end):
    """Statement spans [i, j) of the code in lines[start:end] (a compound statement spans its body)."""
    spans = []
    i = start
    while i < end:
        line = lines[i]
        if not line.strip() or line.lstrip().startswith("#"):
            i += 1
            continue
        indent = len(line) - len(line.lstrip())
        j = i + 1
        while j < end and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > indent):
            j += 1
        spans.append((i, j, indent))
        i = j
    return spans


def reduce_program(source, same=None, log=print, max_rounds=200, progress=None):
    """Delta-debug ``source`` by removing statements and unwrapping blocks while the failure (same kind)
    persists; returns the smallest source found.  ``same(outcome)`` decides whether a candidate still fails."""
    reference = check_program(program_from_source(source))
    if reference.status != "fail":
        raise ValueError(f"the program does not fail ({reference.kind})")
    if same is None:
        def same(outcome):
            return outcome.kind == reference.kind
    log(f"reducing a {reference.kind} failure ({len(source.splitlines())} lines)")

    second = reference.kind.split(":")[-1] in ("for-vs-ror", "hvp-vs-fd", "jvp-of-grad", "grad-of-grad",
                                                "grad-grad-vs-for", "jvp-of-grad-scalar", "grad-of-grad-scalar")
    switched = "switched" in reference.kind

    def still_fails(candidate):
        try:
            program = program_from_source(candidate)
        except Exception:
            return False
        try:
            if second:
                return same(check_program(program, first_order=False, ror_switching=switched))
            return same(check_program(program, second_order=False))
        except Exception:
            return False

    def candidates(lines):
        source = "\n".join(lines)
        head = lines.index(next(line for line in lines if line.startswith(HARNESS_MARK)))
        body = [s for s in _all_spans(lines, 0, head)]
        for i, j, indent in sorted(body, key=lambda s: -(s[1] - s[0])):
            text = lines[i].strip()
            if text.startswith(("import", "def f(", "return")) and indent == 0:
                continue
            if text.startswith("def f("):
                continue
            # remove the statement (a block: all of it)
            yield lines[:i] + lines[j:]
            # replace a compound statement by its body
            if text.endswith(":") and j > i + 1:
                inner = [line[4:] if line.startswith(" " * (indent + 4)) else line for line in lines[i + 1:j]]
                if text.startswith(("else", "elif")):
                    continue
                yield lines[:i] + inner + lines[j:]
            # simplify a return of several terms: keep one
            if text.startswith("return ") and " + " in text and "C0 = None" not in source:
                for term in text[len("return "):].split(" + "):
                    yield lines[:i] + [" " * indent + "return " + term] + lines[j:]

    lines = source.splitlines()
    for _ in range(max_rounds):
        for candidate in candidates(lines):
            text = "\n".join(candidate) + "\n"
            if still_fails(text):
                lines = candidate
                log(f"  {len([x for x in lines if x.strip()])} lines")
                if progress:
                    progress(text)
                break
        else:
            break
    return "\n".join(lines) + "\n"


def _all_spans(lines, start, end):
    spans = []
    for i, j, indent in _blocks(lines, start, end):
        spans.append((i, j, indent))
        if j > i + 1:
            spans.extend(_all_spans(lines, i + 1, j))
    return spans


# ---------------------------------------------------------------------------------------------- campaign
def program_for(seed, index, avoid=frozenset(KNOWN_BUGS), size=1.0):
    """Program ``index`` of campaign ``seed`` (reproducible on its own)."""
    while True:
        chooser = RandomChooser(f"{seed}:{index}")
        try:
            return generate(chooser, avoid=avoid, size=size, label=f"seed={seed} index={index}")
        except GeneratorError:
            index = f"{index}'"


def write_failure(directory, program, outcome):
    os.makedirs(directory, exist_ok=True)
    kind = outcome.kind.replace(":", "_")
    stem = os.path.join(directory, f"{kind}__{program.digest}")
    with open(stem + ".py", "w") as handle:
        handle.write(program.source)
    with open(stem + ".txt", "w") as handle:
        handle.write(f"{outcome.kind}\nlabel: {program.label}\nfeatures: {sorted(program.features)}\n\n"
                     f"{outcome.message}\n")
    return stem + ".py"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="number of programs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=int, default=0, help="first program index")
    parser.add_argument("--out", default="fuzz_failures", help="directory for failing programs")
    parser.add_argument("--jit", action="store_true", help="also compare tangent2.jit(grad(f)) with grad(f)")
    parser.add_argument("--jit-every", type=int, default=1, help="with --jit, check every k-th program")
    parser.add_argument("--no-second-order", action="store_true")
    parser.add_argument("--no-switching", action="store_true",
                        help="skip reverse over reverse with mode switching (it runs forward over reverse again)")
    parser.add_argument("--allow-known-bugs", action="store_true",
                        help="also generate constructs of KNOWN_BUGS (" + ", ".join(KNOWN_BUGS) + ")")
    parser.add_argument("--size", type=float, default=1.0, help="scale the number of statements")
    parser.add_argument("--show", action="store_true", help="print each program's source")
    parser.add_argument("--save-unsupported", action="store_true", help="also write UnsupportedSyntax programs")
    parser.add_argument("--progress", type=int, default=100)
    parser.add_argument("--reduce", metavar="FILE", help="shrink a failing program file (writes FILE.min.py)")
    options = parser.parse_args(argv)
    if options.reduce:
        target = options.reduce[:-3] + ".min.py"

        def progress(text):
            with open(target, "w") as handle:
                handle.write(text)

        with open(options.reduce) as handle:
            smaller = reduce_program(handle.read(), progress=progress)
        with open(target, "w") as handle:
            handle.write(smaller)
        print(smaller)
        print(f"written to {target}")
        return 0
    own_cache = not os.environ.get("TANGENT2_CACHE_DIR")
    if own_cache:  # generated derivatives of thousands of throwaway programs: not the user's cache
        os.environ["TANGENT2_CACHE_DIR"] = os.path.join(tempfile.gettempdir(), f"tangent2_fuzz_cache_{os.getpid()}")
    avoid = frozenset() if options.allow_known_bugs else frozenset(KNOWN_BUGS)
    counts = collections.Counter()
    kinds = collections.Counter()
    notes = collections.Counter()
    checks = collections.Counter()
    features_failing = collections.Counter()
    written = []
    start = time.time()
    for i in range(options.start, options.start + options.n):
        program = program_for(options.seed, i, avoid, options.size)
        if options.show:
            print(program.source)
        do_jit = options.jit and (i % max(1, options.jit_every) == 0)
        try:
            outcome = check_program(program, jit=do_jit, second_order=not options.no_second_order,
                                    ror_switching=not options.no_switching)
        except Exception:  # the harness itself: report, keep going
            outcome = Outcome("fail", "harness-error", traceback.format_exc())
        counts[outcome.status] += 1
        kinds[outcome.kind] += 1
        notes.update(outcome.notes)
        checks.update(outcome.checks)
        if outcome.status in ("fail", "invalid") or (outcome.status == "unsupported" and options.save_unsupported):
            path = write_failure(options.out, program, outcome)
            written.append(path)
            features_failing.update(program.features)
            if outcome.status == "fail":
                print(f"[{i}] FAIL {outcome.kind}: {path}", flush=True)
        done = i - options.start + 1
        if done % options.progress == 0 or done == options.n:
            rate = done / (time.time() - start)
            print(f"{done}/{options.n} programs ({rate:.1f}/s): " +
                  ", ".join(f"{k} {v}" for k, v in sorted(counts.items())), flush=True)
    print()
    print(f"programs run: {sum(counts.values())} (seed {options.seed}, indices {options.start}.."
          f"{options.start + options.n - 1}) in {time.time() - start:.0f} s")
    print(f"agreements:   {counts['agree']}")
    print(f"skipped:      {counts['skip']} (" + ", ".join(f"{k.split(':', 1)[1]} {v}" for k, v in kinds.items()
                                                  if k.startswith("skip")) + ")")
    print(f"unsupported:  {counts['unsupported']} (UnsupportedSyntax / NotDifferentiable)")
    print(f"invalid:      {counts['invalid']} (generator wrote a program Python rejects)")
    print(f"failures:     {counts['fail']}")
    for kind, count in sorted(kinds.items()):
        if not kind.startswith(("agree", "skip")):
            print(f"    {kind}: {count}")
    print("checks passed: " + ", ".join(f"{k} {v}" for k, v in sorted(checks.items())))
    if notes:
        print("notes:         " + ", ".join(f"{k} {v}" for k, v in sorted(notes.items())))
    if written:
        print(f"failing programs written to {os.path.abspath(options.out)}/ ({len(written)} files)")
    import shutil
    if own_cache:
        shutil.rmtree(os.environ["TANGENT2_CACHE_DIR"], ignore_errors=True)
    shutil.rmtree(program_dir(), ignore_errors=True)
    return 1 if counts["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
