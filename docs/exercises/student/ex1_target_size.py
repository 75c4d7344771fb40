"""Exercise 1: the NaFlex target size (docs/exercises/ex1_target_size.md).

Check your solution with:  pytest docs/exercises/checks/test_ex1_target_size.py
"""

import math


def target_size(height, width, patch_size=16, max_num_patches=256):
    """The (target_height, target_width) in pixels to which NaFlex resizes a `height x width` image.

    Both are multiples of `patch_size`. Bisect a scale s on [1e-6, 100] until the interval is shorter than 1e-5;
    for a scale, each side becomes max(p, ceil(side * s / p) * p); a scale is feasible when
    (target_height / p) * (target_width / p) <= max_num_patches. Return the sides at the largest feasible scale
    found (the lower end of the final interval).
    """
    raise NotImplementedError("write the NaFlex target size")
