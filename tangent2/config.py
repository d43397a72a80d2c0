"""Global settings.

``mode_switching``: when a function differentiated in reverse mode computes
a gradient inside (``tg.grad(f)(x)``), differentiate that gradient by forward
mode over reverse instead of reverse over reverse (the Lux seed's automatic
nested-AD switching).  A transformation's ``mode_switching=`` argument
overrides it for one derivative.
"""
mode_switching = True
