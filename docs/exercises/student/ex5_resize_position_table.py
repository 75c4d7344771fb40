"""Exercise 5: resizing the position table to a patch grid (docs/exercises/ex5_resize_position_table.md).

Check your solution with:  pytest docs/exercises/checks/test_ex5_resize_position_table.py
"""

import torch


def resize_position_table(table, height, width):
    """Resize a [G, G, D] position table to a (height, width) patch grid.

    Returns [height * width, D], rows in patch order (row-major over the grid), in the table's dtype: per channel
    d, Wh @ table[:, :, d] @ Ww^T with Wh = resize_weights(G, height), Ww = resize_weights(G, width), the
    antialiased bilinear weights of exercise 4 (copy your solution, or use siglip2_min.vision.resize_weights).
    """
    raise NotImplementedError("write the position-table resize")
