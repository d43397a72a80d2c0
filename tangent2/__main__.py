"""Command line: print the derivative source tangent2 generates for a function.

    python -m tangent2 path/to/file.py:function [--mode reverse|forward] [--wrt NAME ...] [--order N]
    python -m tangent2 package.module:function
"""
import argparse
import importlib
import importlib.util
import os
import sys

import tangent2
from tangent2 import api
from tangent2.derivative import Derivative
from tangent2.errors import TangentError


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tangent2",
                                     description="Print the derivative source tangent2 generates for a function.")
    parser.add_argument("target", help="FILE.py:FUNCTION or MODULE:FUNCTION")
    parser.add_argument("--mode", choices=("reverse", "forward"), default="reverse",
                        help="reverse mode (gradient, the default) or forward mode (JVP)")
    parser.add_argument("--wrt", nargs="+", metavar="NAME",
                        help="arguments to differentiate with respect to (default: the first)")
    parser.add_argument("--order", type=int, default=1, help="derivative order (default 1)")
    options = parser.parse_args(argv)
    try:
        function = load(options.target)
        print(derivative_source(function, options.mode, options.wrt, options.order), end="")
    except (TangentError, LookupError, ImportError, OSError, ValueError) as error:
        print(f"tangent2: {error}", file=sys.stderr)
        return 1
    return 0


def load(target):
    """The function named by ``FILE.py:NAME`` or ``MODULE:NAME``."""
    location, _, name = target.rpartition(":")
    if not location or not name:
        raise ValueError(f"expected FILE.py:FUNCTION or MODULE:FUNCTION, got {target!r}")
    if location.endswith(".py") or os.path.sep in location:
        path = os.path.abspath(location)
        if not os.path.exists(path):
            raise OSError(f"no such file: {location}")
        sys.path.insert(0, os.path.dirname(path))
        spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(location)
    function = module
    for part in name.split("."):
        if not hasattr(function, part):
            raise LookupError(f"{location} has no function {name!r}")
        function = getattr(function, part)
    return function


def derivative_source(function, mode, wrt, order):
    """The source of the ``order``-th derivative of ``function``."""
    if order < 1:
        raise ValueError("--order must be at least 1")
    wrt = tuple(wrt) if wrt and len(wrt) > 1 else (wrt[0] if wrt else 0)
    current = function
    for _ in range(order):
        if mode == "reverse":
            current = tangent2.grad(current, wrt)
            wrt = 0
            text = current.source
        else:
            count = api.python_function(current).__code__.co_argcount
            positions = _positions(current, wrt)
            current = Derivative(current, "jvp", tuple(positions))._plan(tuple(1.0 for _ in range(count))).function
            text = tangent2.source(current)
    return text


def _positions(function, wrt):
    params = list(api.python_function(function).__code__.co_varnames[
        :api.python_function(function).__code__.co_argcount])
    items = wrt if isinstance(wrt, tuple) else (wrt,)
    return [params.index(w) if isinstance(w, str) else int(w) for w in items]


if __name__ == "__main__":
    sys.exit(main())
