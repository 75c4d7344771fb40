"""Mistake: align_corners=True centres, c_i = i * (in - 1) / (out - 1), instead of half-pixel centres."""

import torch


def resize_weights(in_size, out_size):
    if in_size < 1 or out_size < 1:
        raise ValueError("sizes must be >= 1")
    step = (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
    centres = torch.arange(out_size, dtype=torch.float64) * step
    width = max(in_size / out_size, 1.0)
    w = (1 - (torch.arange(in_size, dtype=torch.float64)[None, :] - centres[:, None]).abs() / width).clamp(min=0)
    return w / w.sum(dim=1, keepdim=True)
