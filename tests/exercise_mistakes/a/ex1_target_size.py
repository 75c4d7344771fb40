"""Mistake: rounding each side down to whole patches instead of up."""

import math


def target_size(height, width, patch_size=16, max_num_patches=256):
    def sides(s):
        return (max(patch_size, math.floor(height * s / patch_size) * patch_size),
                max(patch_size, math.floor(width * s / patch_size) * patch_size))

    lo, hi = 1e-6, 100.0
    while hi - lo >= 1e-5:
        mid = (lo + hi) / 2
        th, tw = sides(mid)
        if (th // patch_size) * (tw // patch_size) <= max_num_patches:
            lo = mid
        else:
            hi = mid
    return sides(lo)
