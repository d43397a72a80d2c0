"""The errors tangent2 users see.

Every error that concerns user code names the user's file and line, so that it
can be acted on without reading tangent2's source.
"""


class TangentError(Exception):
    """Base class of every error tangent2 raises on purpose."""


class SourceLocation:
    """Where in the user's code something was found: file, line, and the line's text."""

    def __init__(self, filename, lineno, function=None, text=None):
        self.filename = filename
        self.lineno = lineno
        self.function = function
        self.text = text

    def __str__(self):
        where = f'File "{self.filename}", line {self.lineno}'
        if self.function:
            where += f", in {self.function}"
        if self.text:
            where += f"\n    {self.text.strip()}"
        return where


class LocatedError(TangentError):
    """An error about a construct in user code; the message ends with its location."""

    def __init__(self, message, location=None):
        self.message = message
        self.location = location
        text = message if location is None else f"{message}\n  {location}"
        super().__init__(text)


class UnsupportedSyntax(LocatedError):
    """The function uses a construct outside tangent2's differentiable subset."""


class NotDifferentiable(LocatedError):
    """A call has no derivative rule (and is not a user function tangent2 can read)."""


class SourceUnavailable(TangentError):
    """The source of a function cannot be found (defined by exec, in a REPL, or builtin)."""


class NonDifferentiableInput(TangentError):
    """Differentiating with respect to an argument that cannot carry a derivative (int, str, ...)."""


class ShapeMismatch(TangentError):
    """A tangent or cotangent does not match the shape of the value it belongs to."""
