"""Checks for exercise 6, MAP pooling: run `pytest docs/exercises/checks/test_ex6_map_pool.py`."""

import pytest
import torch
import torch.nn.functional as F
from _exercise import implementation


map_pool = implementation("ex6_map_pool", "map_pool")

B, N, D, H, M = 3, 10, 16, 4, 24


def _params(seed=0):
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=0.3):
        return torch.randn(*shape, generator=g, dtype=torch.float64) * scale

    return {
        "probe": r(1, 1, D, scale=1.0),
        "attention.in_proj_weight": r(3 * D, D), "attention.in_proj_bias": r(3 * D),
        "attention.out_proj.weight": r(D, D), "attention.out_proj.bias": r(D),
        "layernorm.weight": 1 + r(D), "layernorm.bias": r(D),
        "mlp.fc1.weight": r(M, D), "mlp.fc1.bias": r(M),
        "mlp.fc2.weight": r(D, M), "mlp.fc2.bias": r(D),
    }


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, N, D, generator=g, dtype=torch.float64)
    valid = torch.tensor([10, 6, 1])  # a full image, a padded one, a single patch
    mask = (torch.arange(N)[None, :] < valid[:, None]).long()  # [B, N]
    return x, mask


def _torch_layers(x, mask, p, heads=H):
    """The same head from torch's own layers: nn.MultiheadAttention with key_padding_mask, LayerNorm, Linear."""
    mha = torch.nn.MultiheadAttention(D, heads, batch_first=True, dtype=torch.float64)
    ln = torch.nn.LayerNorm(D, eps=1e-6, dtype=torch.float64)
    fc1, fc2 = torch.nn.Linear(D, M, dtype=torch.float64), torch.nn.Linear(M, D, dtype=torch.float64)
    with torch.no_grad():
        mha.in_proj_weight.copy_(p["attention.in_proj_weight"])
        mha.in_proj_bias.copy_(p["attention.in_proj_bias"])
        mha.out_proj.weight.copy_(p["attention.out_proj.weight"])
        mha.out_proj.bias.copy_(p["attention.out_proj.bias"])
        ln.weight.copy_(p["layernorm.weight"]), ln.bias.copy_(p["layernorm.bias"])
        fc1.weight.copy_(p["mlp.fc1.weight"]), fc1.bias.copy_(p["mlp.fc1.bias"])
        fc2.weight.copy_(p["mlp.fc2.weight"]), fc2.bias.copy_(p["mlp.fc2.bias"])
        probe = p["probe"].expand(len(x), -1, -1)  # [B, 1, D]
        a = mha(probe, x, x, key_padding_mask=~mask.bool(), need_weights=False)[0]  # [B, 1, D]
        a = a + fc2(F.gelu(fc1(ln(a)), approximate="tanh"))
    return a[:, 0]  # [B, D]


def _check(got, want, what):
    got = torch.as_tensor(got).double()
    assert got.shape == want.shape, f"{what}: shape {tuple(got.shape)}, expected {tuple(want.shape)}"
    err = (got - want).abs()
    # float64 on both sides, different order of operations: rounding only
    assert err.max() <= 1e-10, f"{what}: max abs err {err.max():.3e} in image {err.amax(1).argmax().item()}"


def test_equals_torch_multihead_attention_layers():
    x, mask = _inputs()
    p = _params()
    _check(map_pool(x, mask, p, H), _torch_layers(x, mask, p), "pooled")


def test_padding_does_not_leak_into_the_result():
    x, mask = _inputs()
    p = _params()
    garbage = torch.where(mask.bool()[..., None], x, torch.full_like(x, 1e3))
    _check(map_pool(garbage, mask, p, H), _torch_layers(x, mask, p), "pooled with garbage in the padding")


def test_each_image_is_pooled_on_its_own():
    x, mask = _inputs()
    p = _params(seed=1)
    together = torch.as_tensor(map_pool(x, mask, p, H)).double()
    for i in range(B):
        alone = torch.as_tensor(map_pool(x[i:i + 1], mask[i:i + 1], p, H)).double()
        _check(alone[0:1], together[i:i + 1], f"image {i} alone vs in the batch")


@pytest.mark.parametrize("heads", [1, 2, 8])
def test_any_number_of_heads(heads):
    x, mask = _inputs(seed=2)
    p = _params(seed=2)
    _check(map_pool(x, mask, p, heads), _torch_layers(x, mask, p, heads), f"{heads} heads")
