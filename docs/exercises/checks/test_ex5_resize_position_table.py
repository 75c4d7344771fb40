"""Checks for exercise 5, the position-table resize: run
`pytest docs/exercises/checks/test_ex5_resize_position_table.py`."""

import pytest
import torch
import torch.nn.functional as F
from _exercise import implementation


resize_position_table = implementation("ex5_resize_position_table", "resize_position_table")


def _table(G=16, D=6, dtype=torch.float64, seed=0):
    return torch.randn(G, G, D, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _torch_resize(table, h, w):
    """HF's resize: F.interpolate on [1, D, G, G], then rows in patch order. Right unless h or w is 1."""
    x = table.permute(2, 0, 1)[None]  # [G, G, D] -> [1, D, G, G]
    y = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=True)  # [1, D, h, w]
    return y[0].permute(1, 2, 0).reshape(h * w, -1)  # [h*w, D]


def _triangle(n_in, n_out):
    """The antialiased bilinear weights written out in float64, for the grids where torch cannot be the oracle."""
    scale = n_in / n_out
    j = torch.arange(n_in, dtype=torch.float64)
    rows = []
    for i in range(n_out):
        w = (1 - (j - ((i + 0.5) * scale - 0.5)).abs() / max(scale, 1.0)).clamp(min=0)
        rows.append(w / w.sum())
    return torch.stack(rows)  # [out, in]


@pytest.mark.parametrize("h, w", [(16, 16), (7, 32), (32, 8), (4, 4), (53, 19), (2, 3), (20, 12)])
def test_equals_torch_where_torch_is_right(h, w):
    table = _table()
    got = resize_position_table(table, h, w)
    want = _torch_resize(table, h, w)
    assert got.shape == want.shape, f"shape {tuple(got.shape)}, expected {tuple(want.shape)} (rows in patch order)"
    err = (got - want).abs().max().item()
    assert err <= 1e-12, f"{h}x{w}: max abs err {err:.3e} (float64 on both sides: rounding only)"


@pytest.mark.parametrize("h, w", [(1, 12), (9, 1), (1, 1), (1, 256)])
def test_grids_one_patch_wide_or_high(h, w):
    table = _table()
    got = resize_position_table(table, h, w)
    want = torch.einsum("hi,ijd,wj->hwd", _triangle(16, h), table, _triangle(16, w)).reshape(h * w, -1)
    err = (got - want).abs().max().item()
    assert err <= 1e-12, f"{h}x{w}: max abs err {err:.3e}"


def test_the_same_grid_gives_the_table_back():
    table = _table()
    got = resize_position_table(table, 16, 16)
    assert torch.allclose(got, table.reshape(256, -1), atol=1e-12), "16 x 16 -> 16 x 16 must be the identity"


def test_a_constant_table_stays_constant():
    table = torch.full((16, 16, 3), 0.25, dtype=torch.float64)
    got = resize_position_table(table, 5, 40)
    assert torch.allclose(got, torch.full((200, 3), 0.25, dtype=torch.float64), atol=1e-12)


def test_keeps_the_dtype_and_float32_matches_float64():
    table = _table(dtype=torch.float64)
    got = resize_position_table(table.float(), 7, 32)
    assert got.dtype == torch.float32
    # float32 sums of 16 x 16 weighted terms of size ~1: a few ulps
    err = (got.double() - _torch_resize(table, 7, 32)).abs().max().item()
    assert err <= 1e-5, f"max abs err {err:.3e}"
