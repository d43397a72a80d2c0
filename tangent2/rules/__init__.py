"""Derivative rules, one module per library.

Importing this package registers every rule in the tables of
``tangent2.rules.registry``.
"""
from tangent2.rules import builtins, math, numpy, runtime, scipy  # noqa: F401  (registration)
from tangent2.rules.registry import JVP_RULES, VJP_RULES, ZERO_DERIVATIVE, lookup  # noqa: F401
