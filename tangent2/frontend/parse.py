"""Parse: a Python function object -> its gast FunctionDef, with true file line numbers."""
import inspect
import textwrap
import types

import gast

from tangent2.errors import SourceUnavailable


def parse(fn):
    """Return the gast ``FunctionDef`` of ``fn`` (lambdas become a FunctionDef too).

    The node carries ``filename`` and ``source_lines`` so later passes can point
    at the user's code, and every node's ``lineno`` is the line in that file.
    """
    if not isinstance(fn, types.FunctionType):
        raise SourceUnavailable(f"{fn!r} is not a Python function; tangent2 can only read functions written in Python")
    try:
        lines, first_line = inspect.getsourcelines(fn)
    except (OSError, TypeError) as error:
        raise SourceUnavailable(
            f"cannot find the source of {fn.__qualname__} ({error}); functions defined by exec "
            "or typed at an interactive prompt have no source file. Define it in a .py file "
            "(or a Jupyter cell), or give it a rule with tangent2.custom_vjp."
        ) from None
    filename = inspect.getsourcefile(fn) or fn.__code__.co_filename
    source = textwrap.dedent("".join(lines))
    if fn.__name__ == "<lambda>":
        node = _find_lambda(fn, source, filename)
    else:
        module = _parse_text(source, fn, filename)
        node = module.body[0]
        if not isinstance(node, gast.FunctionDef):
            raise SourceUnavailable(f"the source of {fn.__qualname__} in {filename} is not a def statement")
        node.decorator_list = []
    _shift_lines(node, first_line - 1)
    node.source_function = fn
    node.filename = filename
    node.source_lines = _file_lines(filename, lines, first_line)
    return node


def _parse_text(source, fn, filename):
    try:
        return gast.parse(source)
    except SyntaxError as error:
        raise SourceUnavailable(f"cannot parse the source of {fn.__qualname__} in {filename}: {error}") from None


def _find_lambda(fn, source, filename):
    """Find the lambda node among the source lines that define ``fn``."""
    tree = None
    text = source.strip()
    # The lines hold the whole statement the lambda sits in; trim trailing
    # continuation until it parses (a lambda in the middle of a call).
    while text:
        try:
            tree = gast.parse(text)
            break
        except SyntaxError:
            text = text[:-1]
    if tree is None:
        raise SourceUnavailable(f"cannot parse the lambda defined in {filename}")
    params = fn.__code__.co_varnames[: fn.__code__.co_argcount]
    candidates = [n for n in gast.walk(tree) if isinstance(n, gast.Lambda)
                  and tuple(a.id for a in n.args.args) == params]
    if len(candidates) != 1:
        raise SourceUnavailable(
            f"cannot tell which lambda on line {fn.__code__.co_firstlineno} of {filename} to differentiate; "
            "give it its own line or use a def")
    lam = candidates[0]
    body = gast.Return(value=lam.body)
    gast.copy_location(body, lam.body)
    node = gast.FunctionDef(name="lambda_", args=lam.args, body=[body], decorator_list=[],
                            returns=None, type_comment=None, type_params=[])
    return gast.copy_location(node, lam)


def _shift_lines(node, offset):
    for child in gast.walk(node):
        if hasattr(child, "lineno"):
            child.lineno += offset
            if getattr(child, "end_lineno", None) is not None:
                child.end_lineno += offset


def _file_lines(filename, lines, first_line):
    """Map line number -> text for the function's own lines."""
    return {first_line + i: line.rstrip("\n") for i, line in enumerate(lines)}
