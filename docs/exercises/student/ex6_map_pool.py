"""Exercise 6: multihead attention pooling, the MAP head (docs/exercises/ex6_map_pool.md).

Check your solution with:  pytest docs/exercises/checks/test_ex6_map_pool.py
"""

import torch
import torch.nn.functional as F


def map_pool(x, mask, params, num_heads, eps=1e-6):
    """Pool the patch tokens of each image into one vector with a learned probe.

    Args:
        x: [B, N, D] patch tokens (after the vision tower's post LayerNorm).
        mask: [B, N], 1 for real patches, 0 for padding (padding must not influence the result).
        params: dict of the MAP head's weights, keyed as in the checkpoint under `vision_model.head.`:
            "probe" [1, 1, D], "attention.in_proj_weight" [3D, D] and "attention.in_proj_bias" [3D] (query, key,
            value stacked in that order), "attention.out_proj.weight" [D, D], "attention.out_proj.bias" [D],
            "layernorm.weight" [D], "layernorm.bias" [D], "mlp.fc1.weight" [M, D], "mlp.fc1.bias" [M],
            "mlp.fc2.weight" [D, M], "mlp.fc2.bias" [D].
        num_heads: H; each head has width D / H.
        eps: the LayerNorm epsilon (1e-6 in SigLIP2).

    Returns:
        [B, D]: a = out_proj(attention of the probe over the valid patches), then a + fc2(gelu_tanh(fc1(ln(a)))).
        Write the attention yourself (no nn.MultiheadAttention).
    """
    raise NotImplementedError("write MAP pooling")
