"""Mistake: channels first inside a patch, (c, py, px), the layout of a Conv2d weight rather than of the patches."""

import numpy as np


def patchify(image, patch_size):
    H, W, C = image.shape
    if H % patch_size or W % patch_size:
        raise ValueError("sides must be multiples of the patch size")
    h, w = H // patch_size, W // patch_size
    x = image.reshape(h, patch_size, w, patch_size, C).transpose(0, 2, 4, 1, 3)  # [h, w, C, p, p]
    return x.reshape(h * w, -1)
