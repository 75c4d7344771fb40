"""Mistake: no antialiasing, the triangle is never widened when shrinking."""

import torch


def resize_weights(in_size, out_size):
    if in_size < 1 or out_size < 1:
        raise ValueError("sizes must be >= 1")
    scale = in_size / out_size
    centres = (torch.arange(out_size, dtype=torch.float64) + 0.5) * scale - 0.5
    w = (1 - (torch.arange(in_size, dtype=torch.float64)[None, :] - centres[:, None]).abs()).clamp(min=0)
    return w / w.sum(dim=1, keepdim=True)
