"""Mistake: scaling the scores by 1/sqrt(D), the full width, instead of 1/sqrt(Dh), the head width."""

import torch


def attention(q, k, v, num_heads, key_mask=None):
    B, M, D = q.shape
    N, Dh = k.shape[1], D // num_heads
    q, k, v = (x.view(B, -1, num_heads, Dh).transpose(1, 2) for x in (q, k, v))
    scores = q @ k.transpose(-2, -1) / D**0.5
    if key_mask is not None:
        scores = scores.masked_fill(~key_mask[:, None, None, :], float("-inf"))
    return (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, M, D)
