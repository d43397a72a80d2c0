"""The JAX seed's first example: a cubic and its derivatives of every order.

    python -m tangent2 samples/polynomial.py:f            # reverse-mode source of f'
    python -m tangent2 samples/polynomial.py:f --order 2  # source of f''
    python samples/polynomial.py                           # checks f', f'', f''', f'''' at 1.0
"""
import sys

import tangent2 as tg


def f(x):
    return x**3 + 2*x**2 - 3*x + 1


def main():
    dfdx = tg.grad(f)
    d2fdx = tg.grad(dfdx)
    d3fdx = tg.grad(d2fdx)
    d4fdx = tg.grad(d3fdx)
    expected = [4.0, 10.0, 6.0, 0.0]  # 3x^2 + 4x - 3, 6x + 4, 6, 0 at x = 1
    got = [dfdx(1.0), d2fdx(1.0), d3fdx(1.0), d4fdx(1.0)]
    for order, (value, want) in enumerate(zip(got, expected), start=1):
        status = "ok" if abs(value - want) < 1e-12 else "MISMATCH"
        print(f"order {order} derivative of f at 1.0: {value} (expected {want}) {status}")
    return 0 if all(abs(v - w) < 1e-12 for v, w in zip(got, expected)) else 1


if __name__ == "__main__":
    sys.exit(main())
