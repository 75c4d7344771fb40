"""Mistake: masking by setting the padded keys' scores to 0 instead of -inf (they still get weight exp(0))."""

import torch


def attention(q, k, v, num_heads, key_mask=None):
    B, M, D = q.shape
    N, Dh = k.shape[1], D // num_heads
    q, k, v = (x.view(B, -1, num_heads, Dh).transpose(1, 2) for x in (q, k, v))
    scores = q @ k.transpose(-2, -1) / Dh**0.5
    if key_mask is not None:
        scores = scores * key_mask[:, None, None, :]
    return (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, M, D)
