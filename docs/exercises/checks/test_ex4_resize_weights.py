"""Checks for exercise 4, the resize weights: run `pytest docs/exercises/checks/test_ex4_resize_weights.py`."""

import pytest
import torch
import torch.nn.functional as F
from _exercise import implementation


resize_weights = implementation("ex4_resize_weights", "resize_weights")

SIZES = [(16, 16), (16, 8), (16, 7), (16, 3), (16, 2), (16, 20), (16, 32), (16, 53), (5, 12), (12, 5), (3, 4)]


def _torch_resize_rows(n_in, n_out):
    """torch's antialiased bilinear resize of the identity along one axis, in float64: its weight matrix.

    Resizing along the height only (width kept at 2, so torch's width-1 bug does not apply)."""
    eye = torch.eye(n_in, dtype=torch.float64)  # [in, in]: column k is the unit signal at k
    x = eye[None, :, :, None].expand(1, n_in, n_in, 2)  # [1, C=in, H=in, W=2]
    y = F.interpolate(x, size=(n_out, 2), mode="bilinear", align_corners=False, antialias=True)  # [1, in, out, 2]
    return y[0, :, :, 0].T  # [out, in]


@pytest.mark.parametrize("n_in, n_out", SIZES)
def test_equals_torch_antialiased_bilinear(n_in, n_out):
    got = torch.as_tensor(resize_weights(n_in, n_out), dtype=torch.float64)
    want = _torch_resize_rows(n_in, n_out)
    assert got.shape == (n_out, n_in), f"shape {tuple(got.shape)}, expected ({n_out}, {n_in})"
    err = (got - want).abs().max().item()
    # both in float64: only rounding differences
    assert err <= 1e-12, f"{n_in} -> {n_out}: max abs err {err:.3e} at row {(got - want).abs().amax(1).argmax().item()}"


@pytest.mark.parametrize("n_in, n_out", SIZES + [(16, 1), (7, 1)])
def test_rows_are_convex_weights(n_in, n_out):
    got = torch.as_tensor(resize_weights(n_in, n_out), dtype=torch.float64)
    assert (got >= 0).all(), "negative weights: the triangle filter never goes below 0"
    assert torch.allclose(got.sum(dim=1), torch.ones(n_out, dtype=torch.float64), atol=1e-12), "rows must sum to 1"


def test_identity_when_the_size_does_not_change():
    got = torch.as_tensor(resize_weights(9, 9), dtype=torch.float64)
    assert torch.allclose(got, torch.eye(9, dtype=torch.float64), atol=1e-12)


def test_output_of_size_one_averages_with_a_triangle_where_torch_is_wrong():
    ramp = torch.arange(16, dtype=torch.float64)
    # 16 -> 1: centre 7.5, half-width 16: weights 1 - |j - 7.5| / 16, symmetric about 7.5, so the mean is 7.5
    got = torch.as_tensor(resize_weights(16, 1), dtype=torch.float64) @ ramp
    assert abs(got.item() - 7.5) <= 1e-12, f"16 -> 1 of a ramp 0..15 gave {got.item()}, expected 7.5"
    tri = 1 - (torch.arange(16, dtype=torch.float64) - 7.5).abs() / 16
    want_row = tri / tri.sum()
    assert torch.allclose(torch.as_tensor(resize_weights(16, 1), dtype=torch.float64)[0], want_row, atol=1e-12)
    # 16 -> 8 of the ramp: row 0 weighs 0, 1, 2 by 0.75, 0.75, 0.25 -> 1.25 / 1.75 = 5/7, the rest by symmetry
    # and linearity; torch's width-1 kernel gives 0.714 in every row
    got8 = torch.as_tensor(resize_weights(16, 8), dtype=torch.float64) @ ramp
    want8 = torch.tensor([5 / 7, 2.5, 4.5, 6.5, 8.5, 10.5, 12.5, 100 / 7], dtype=torch.float64)
    assert torch.allclose(got8, want8, atol=1e-12), f"got {got8.tolist()}"


@pytest.mark.parametrize("sizes", [(0, 4), (4, 0), (-1, 3)])
def test_rejects_empty_sizes(sizes):
    with pytest.raises(ValueError):
        resize_weights(*sizes)
