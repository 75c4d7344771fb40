"""Checks for exercise 2, patchify: run `pytest docs/exercises/checks/test_ex2_patchify.py`."""

import numpy as np
import pytest
import torch
from _exercise import implementation


patchify = implementation("ex2_patchify", "patchify")


def _by_loops(image, p):
    """The layout spelled out: patch index = gy * w + gx; inside a patch, index = (py * p + px) * C + c."""
    H, W, C = image.shape
    h, w = H // p, W // p
    out = np.zeros((h * w, p * p * C), dtype=image.dtype)
    for gy in range(h):
        for gx in range(w):
            for py in range(p):
                for px in range(p):
                    for c in range(C):
                        out[gy * w + gx, (py * p + px) * C + c] = image[gy * p + py, gx * p + px, c]
    return out


@pytest.mark.parametrize("H, W, C, p", [(8, 12, 3, 4), (6, 2, 1, 2), (4, 4, 3, 4), (9, 3, 3, 3)])
def test_equals_the_layout_spelled_out(H, W, C, p):
    image = np.random.default_rng(H * W).integers(0, 256, (H, W, C)).astype(np.uint8)
    got = np.asarray(patchify(image, p))
    want = _by_loops(image, p)
    assert got.shape == want.shape, f"shape {got.shape}, expected {want.shape}"
    assert (got == want).all(), f"first wrong patch row: {np.argwhere((got != want).any(axis=1))[0, 0]}"


def test_conv2d_equals_linear_on_patches():
    # A Conv2d with stride = kernel = p is a Linear on (py, px, c)-flattened patches, once its weight
    # [D, C, p, p] is permuted to [D, p, p, C]: the transform the FixRes loader applies.
    g = torch.Generator().manual_seed(0)
    H, W, C, p, D = 8, 12, 3, 4, 5
    image = torch.randn(H, W, C, generator=g, dtype=torch.float64)
    conv = torch.nn.Conv2d(C, D, kernel_size=p, stride=p, dtype=torch.float64)
    want = conv(image.permute(2, 0, 1)[None])[0]  # [D, h, w]
    want = want.permute(1, 2, 0).reshape(-1, D)  # [h*w, D], row-major over the grid
    patches = torch.as_tensor(np.asarray(patchify(image.numpy(), p)))  # [h*w, p*p*C]
    w_lin = conv.weight.permute(0, 2, 3, 1).reshape(D, -1)  # [D, p*p*C]
    got = patches @ w_lin.T + conv.bias
    assert torch.allclose(got, want, atol=1e-12), f"max abs err {(got - want).abs().max():.3e}"


def test_rejects_sides_that_are_not_patch_multiples():
    with pytest.raises(ValueError):
        patchify(np.zeros((10, 8, 3), dtype=np.uint8), 4)
