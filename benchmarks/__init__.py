"""Benchmarks of tangent2 against JAX, torch.func, HIPS autograd and hand-written NumPy.

Run ``python -m benchmarks`` (``--quick`` for a smoke test, ``--only NAME`` for
one workload, ``--list`` to see them); see ``benchmarks/run.py``.
"""
