"""Mistake: patches in column-major order (x outer), so the grid is read down the columns."""

import numpy as np


def patchify(image, patch_size):
    H, W, C = image.shape
    if H % patch_size or W % patch_size:
        raise ValueError("sides must be multiples of the patch size")
    h, w = H // patch_size, W // patch_size
    x = image.reshape(h, patch_size, w, patch_size, C).transpose(2, 0, 1, 3, 4)  # [w, h, p, p, C]
    return x.reshape(h * w, -1)
