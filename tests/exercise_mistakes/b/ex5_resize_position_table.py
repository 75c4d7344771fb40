"""Mistake: rows flattened column by column ([w, h] order), not in the row-major order of the patches."""

import torch
import torch.nn.functional as F


def resize_position_table(table, height, width):
    x = table.permute(2, 0, 1)[None].double()  # [1, D, G, G]
    y = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    return y[0].permute(2, 1, 0).reshape(height * width, -1).to(table.dtype)
