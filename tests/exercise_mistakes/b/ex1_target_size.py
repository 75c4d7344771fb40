"""Mistake: a closed-form scale from the area, sqrt(N p^2 / (H W)), then rounding up: can overshoot the budget."""

import math


def target_size(height, width, patch_size=16, max_num_patches=256):
    s = math.sqrt(max_num_patches * patch_size**2 / (height * width))
    return (max(patch_size, math.ceil(height * s / patch_size) * patch_size),
            max(patch_size, math.ceil(width * s / patch_size) * patch_size))
