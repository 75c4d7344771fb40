"""Exercise 4: antialiased bilinear resize weights (docs/exercises/ex4_resize_weights.md).

Check your solution with:  pytest docs/exercises/checks/test_ex4_resize_weights.py
"""

import torch


def resize_weights(in_size, out_size):
    """The [out_size, in_size] float64 matrix W of a 1-D antialiased bilinear resize with half-pixel centres.

    `W @ x` resizes a signal x of length in_size to out_size. Output i is centred at source coordinate
    c_i = (i + 0.5) * in_size / out_size - 0.5; source j gets weight max(0, 1 - |j - c_i| / s) with
    s = max(1, in_size / out_size) (the widening when shrinking is the antialiasing); each row is divided by its
    sum. Sizes below 1 raise ValueError.
    """
    raise NotImplementedError("write the resize weights")
