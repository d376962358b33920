"""Self-checking cells: compare a result built in a notebook with the library's (or a
reference) and say how close it is, Karpathy-style: exact / close / max difference.

>>> check_close("attention weights", mine, library_version)
attention weights: close (max |diff| 3.0e-08) ✓
"""

from __future__ import annotations

import numpy as np


def _array(x):
    try:
        import torch

        if isinstance(x, torch.Tensor):
            return x.detach().cpu().numpy()
    except ImportError:
        pass
    return np.asarray(x)


def check_close(name: str, actual, expected, atol: float = 1e-5, rtol: float = 1e-4,
                raise_on_fail: bool = True) -> bool:
    """Print whether two arrays are exactly equal, close, or how far apart; raise if not close."""
    a, e = _array(actual), _array(expected)
    if a.shape != e.shape:
        message = f"{name}: shape {a.shape} differs from the expected {e.shape} ✗"
        print(message)
        if raise_on_fail:
            raise AssertionError(message)
        return False
    exact = bool(np.array_equal(a, e))
    diff = float(np.max(np.abs(a.astype(np.float64) - e.astype(np.float64)))) if a.size else 0.0
    ok = exact or bool(np.allclose(a, e, atol=atol, rtol=rtol))
    verdict = "exact" if exact else ("close" if ok else "NOT close")
    print(f"{name}: {verdict} (max |diff| {diff:.1e}) {'✓' if ok else '✗'}")
    if not ok and raise_on_fail:
        raise AssertionError(f"{name}: max |diff| {diff:.3g} exceeds atol={atol}, rtol={rtol}")
    return ok


def check_exact(name: str, actual, expected, raise_on_fail: bool = True) -> bool:
    """Equality check for non-array values (answers, counts, strings)."""
    ok = actual == expected
    print(f"{name}: {'exact ✓' if ok else f'got {actual!r}, expected {expected!r} ✗'}")
    if not ok and raise_on_fail:
        raise AssertionError(f"{name}: got {actual!r}, expected {expected!r}")
    return ok
