"""Global settings.

``mode_switching``: how a gradient or VJP computed inside a function that is
itself differentiated in reverse mode (``tg.grad(f)(x)`` in a loss) is
differentiated.  ``True``: always forward over reverse (the JVP of the full
gradient, by symmetry of the Hessian), which needs no second tape.
``False``: reverse over reverse.  ``"auto"`` (the default): forward over
reverse when the inner gradient has loops, whose tapes reverse over reverse
would record again; reverse over reverse otherwise, where it is cheaper
(measured in benchmarks/mode_switching.py).  A transformation's
``mode_switching=`` argument overrides it for one derivative.
"""
mode_switching = "auto"
