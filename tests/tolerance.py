"""`assert_close`: |a - b| <= atol + rtol * |ref| elementwise, failing with the max errors and where they occur."""

import numpy as np
import torch


def _np(x):
    return x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)


def assert_close(name, actual, ref, atol, rtol=0.0):
    actual, ref = _np(actual), _np(ref)
    assert actual.shape == ref.shape, f"{name}: shape {actual.shape} != reference shape {ref.shape}"
    err = np.abs(actual - ref)
    bound = atol + rtol * np.abs(ref)
    if not (err <= bound).all():
        worst = np.unravel_index(np.argmax(err - bound), err.shape)
        rel = err / np.maximum(np.abs(ref), 1e-30)
        raise AssertionError(
            f"{name}: {(err > bound).sum()} of {err.size} elements exceed atol={atol:g} + rtol={rtol:g}*|ref|; "
            f"max abs err {err.max():.3e}, max rel err {rel.max():.3e}; worst at index {tuple(map(int, worst))}: "
            f"{actual[worst]!r} vs reference {ref[worst]!r}"
        )
