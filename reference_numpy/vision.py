"""The SigLIP2 vision tower in numpy: patch embedding, resized position table, encoder, MAP head.

Mirrors `siglip2_min/vision.py` function for function (resize_weights, resize_position_table, VisionEmbeddings,
MAPHead, VisionTransformer). Paper: SigLIP2 (arXiv 2502.14786) section 2.4 (NaFlex); MAP head from Zhai et al.,
"Scaling Vision Transformers" (arXiv 2106.04560). Upstream: big_vision `models/proj/image_text/naflex_vit.py`,
HF `modeling_siglip2.py` (Siglip2VisionEmbeddings, Siglip2MultiheadAttentionPoolingHead).

One tower serves both families (FACTS section 1): patches always arrive flattened in (py, px, c) order, the
FixRes Conv2d already became a Linear in `weights.to_twin`. NaFlex resizes its 16x16 position table to each
image's (h, w) patch grid; FixRes adds its fixed table as is.

Letters: B images, N patch slots (valid + padding), P = p*p*C, D width, G side of the position table,
h, w patch grid of one image.
"""

import numpy as np

from .layers import attention, encoder, layer_norm, linear, mlp


def resize_weights(in_size, out_size):
    """[out, in] matrix of antialiased bilinear resizing, as torch's `interpolate(..., antialias=True)`.

    Half-pixel centres (align_corners=False); a triangle filter whose support widens by in/out when shrinking
    (that widening is the antialiasing); each row renormalised so that clipped borders still sum to 1. Built
    explicitly because torch's kernel is wrong for an output size of 1 (FACTS section 4): here that row is the
    triangle of width in_size around the centre, as jax `scale_and_translate` gives.
    """
    if in_size < 1 or out_size < 1:
        raise ValueError(f"resize sizes must be positive, got {in_size} -> {out_size}")
    scale = in_size / out_size
    stretch = max(scale, 1.0)  # filter widening: only when downsampling
    centres = (np.arange(out_size) + 0.5) * scale  # [out] output pixel centres in input coordinates
    offsets = (np.arange(in_size) + 0.5)[None, :] - centres[:, None]  # [out, in] input centre - output centre
    weights = np.maximum(0.0, 1.0 - np.abs(offsets) / stretch)  # [out, in] triangle filter
    return weights / weights.sum(axis=1, keepdims=True)  # [out, in] rows sum to 1


def resize_position_table(table, height, width):
    """[G, G, D] table -> [h, w, D]: `Wh @ table @ Ww^T` for every channel (the filter is separable)."""
    G, _, D = table.shape
    Wh = resize_weights(G, height).astype(table.dtype)  # [h, G]
    Ww = resize_weights(G, width).astype(table.dtype)  # [w, G]
    rows = (Wh @ table.reshape(G, G * D)).reshape(height, G, D)  # [h, G] @ [G, G*D] -> [h, G, D]
    return Ww @ rows  # [w, G] @ [h, G, D] -> [h, w, D]


def vision_embeddings(pixel_values, spatial_shapes, patch_embedding, position_embedding, resize=True):
    """Patch embeddings plus each image's position table; pad slots get no position (their rows are ignored)."""
    B, N, _ = pixel_values.shape
    table = position_embedding["weight"]  # [G*G, D]
    G = int(round(table.shape[0] ** 0.5))
    x = linear(pixel_values, **patch_embedding)  # [B, N, P] -> [B, N, D]
    positions = np.zeros_like(x)  # [B, N, D]
    for i, (h, w) in enumerate(spatial_shapes):
        if resize:  # NaFlex: the 16x16 table is stretched to this image's grid (big_vision: bilinear, antialias)
            grid = resize_position_table(table.reshape(G, G, -1), h, w)  # [G*G, D] -> [G, G, D] -> [h, w, D]
            positions[i, : h * w] = grid.reshape(h * w, -1)  # [h, w, D] -> [h*w, D], row-major like the patches
        else:  # FixRes: the grid is always G x G (checked by the model), the table is used as trained
            positions[i, : h * w] = table  # [G*G, D]
    return x + positions  # [B, N, D]


def map_head(x, head, num_heads, eps, key_mask=None):
    """Multihead attention pooling: a learned probe attends over the valid patches, then a residual MLP.

    `head` holds probe, attention (q/k/v_proj split from nn.MultiheadAttention's fused in_proj), layernorm, mlp.
    No LayerNorm before the attention: x is already post-LayerNormed.
    """
    probe = np.broadcast_to(head["probe"], (x.shape[0], 1, x.shape[2]))  # [1, 1, D] -> [B, 1, D]
    y = attention(probe, **head["attention"], num_heads=num_heads, key_mask=key_mask, context=x)  # [B, 1, D]
    y = y + mlp(layer_norm(y, **head["layernorm"], eps=eps), **head["mlp"])  # [B, 1, D]
    return y[:, 0]  # [B, 1, D] -> [B, D]


def vision_transformer(pixel_values, pixel_attention_mask, spatial_shapes, params, num_heads, eps, resize=True):
    """Patches -> pooled image embedding [B, D] (before normalisation) and the named intermediates.

    `params` is the checkpoint's `vision_model` subtree.
    """
    key_mask = np.asarray(pixel_attention_mask).astype(bool)  # [B, N] True = real patch
    out = {}
    x = vision_embeddings(pixel_values, spatial_shapes, **params["embeddings"], resize=resize)  # [B, N, D]
    out["vision.embeddings"] = x
    x, hidden = encoder(x, params["encoder"]["layers"], num_heads, eps, key_mask)  # [B, N, D]
    out.update({f"vision.block{i:02d}": h for i, h in enumerate(hidden)})
    x = layer_norm(x, **params["post_layernorm"], eps=eps)  # [B, N, D]
    out["vision.post_layernorm"] = x
    pooled = map_head(x, params["head"], num_heads, eps, key_mask)  # [B, D]
    out["vision.pooled"] = pooled
    return pooled, out
