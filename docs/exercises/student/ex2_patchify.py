"""Exercise 2: patchify (docs/exercises/ex2_patchify.md).

Check your solution with:  pytest docs/exercises/checks/test_ex2_patchify.py
"""

import numpy as np


def patchify(image, patch_size):
    """Cut an image into the patch rows the model reads.

    Args:
        image: numpy array [H, W, C], H and W multiples of `patch_size` (p).
        patch_size: p.

    Returns:
        numpy array [h*w, p*p*C] with h = H/p, w = W/p: patches row-major over the grid (the whole top row of
        patches first), the values inside a patch in (py, px, c) order (pixel row, pixel column, channel).
        A side that is not a multiple of p raises ValueError.
    """
    raise NotImplementedError("write patchify")
