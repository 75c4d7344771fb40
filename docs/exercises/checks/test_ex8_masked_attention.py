"""Checks for exercise 8, attention with a key mask: run `pytest docs/exercises/checks/test_ex8_masked_attention.py`."""

import math

import pytest
import torch
from _exercise import implementation

attention = implementation("ex8_masked_attention", "attention")


def _inputs(B=2, M=5, N=7, D=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(B, n, D, generator=g, dtype=torch.float64) for n in (M, N, N))
    return q, k, v


def _by_hand(q, k, v, num_heads, key_mask=None):
    """The formula one head, one query and one key at a time in float64 Python: an independent oracle."""
    B, M, D = q.shape
    N, Dh = k.shape[1], D // num_heads
    out = torch.zeros(B, M, D, dtype=torch.float64)
    for b in range(B):
        for h in range(num_heads):
            cols = slice(h * Dh, (h + 1) * Dh)
            for i in range(M):
                keys = [j for j in range(N) if key_mask is None or bool(key_mask[b, j])]
                scores = [float(q[b, i, cols] @ k[b, j, cols]) / math.sqrt(Dh) for j in keys]
                top = max(scores)
                weights = [math.exp(s - top) for s in scores]
                for w, j in zip(weights, keys):
                    out[b, i, cols] += w / sum(weights) * v[b, j, cols]
    return out


def _mask(B=2, N=7, valid=(7, 3)):
    return torch.arange(N)[None, :] < torch.tensor(valid)[:, None]  # [B, N] True for the first `valid` keys


@pytest.mark.parametrize("num_heads", [1, 3, 4])
def test_matches_the_formula_without_a_mask(num_heads):
    q, k, v = _inputs()
    got = attention(q, k, v, num_heads)
    assert tuple(got.shape) == (2, 5, 12)
    # float64 throughout: only rounding differs (~1e-16 per operation)
    torch.testing.assert_close(got, _by_hand(q, k, v, num_heads), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("num_heads", [1, 4])
def test_matches_the_formula_with_a_key_mask(num_heads):
    q, k, v = _inputs()
    mask = _mask()
    torch.testing.assert_close(attention(q, k, v, num_heads, mask), _by_hand(q, k, v, num_heads, mask),
                               rtol=1e-10, atol=1e-10)


def test_masked_keys_have_no_influence():
    q, k, v = _inputs(seed=1)
    mask = _mask()
    k2, v2 = k.clone(), v.clone()
    k2[1, 3:] = 1e3 * torch.randn_like(k2[1, 3:])  # huge scores at the masked keys: any leak dominates
    v2[1, 3:] = 1e3
    torch.testing.assert_close(attention(q, k2, v2, 4, mask), attention(q, k, v, 4, mask), rtol=1e-10, atol=1e-10)


def test_an_all_true_mask_is_no_mask():
    q, k, v = _inputs(seed=2)
    torch.testing.assert_close(attention(q, k, v, 3, torch.ones(2, 7, dtype=torch.bool)), attention(q, k, v, 3),
                               rtol=1e-10, atol=1e-10)


def test_one_query_the_pooling_probe():
    q, k, v = _inputs(M=1, seed=3)
    mask = _mask(valid=(1, 5))
    got = attention(q, k, v, 4, mask)
    assert tuple(got.shape) == (2, 1, 12)
    # with a single valid key, softmax gives it weight 1: the output is that key's value
    torch.testing.assert_close(got[0, 0], v[0, 0], rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(got, _by_hand(q, k, v, 4, mask), rtol=1e-10, atol=1e-10)


def test_float32_inputs_give_float32_and_no_nan():
    q, k, v = (x.float() * 30 for x in _inputs(seed=4))  # large scores: exp overflows without the max shift
    got = attention(q, k, v, 4, _mask())
    assert got.dtype == torch.float32 and torch.isfinite(got).all()
    # float32 softmax of scores ~1e3: relative rounding ~1e-6 on each weight
    torch.testing.assert_close(got.double(), _by_hand(q.double(), k.double(), v.double(), 4, _mask()),
                               rtol=1e-4, atol=1e-4)
