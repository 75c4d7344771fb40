"""The SigLIP2 vision tower in numpy: patch embedding, resized position table, encoder, MAP head.

Mirrors `siglip2_min/vision.py` function for function (interpolation_weights, resize_weights, resize_position_table,
VisionEmbeddings with its position_embeddings, PoolingAttention, MAPHead, VisionTransformer). Paper: SigLIP2
(arXiv 2502.14786) section 2.4 (NaFlex); MAP head from Zhai et al., "Scaling Vision Transformers" (arXiv
2106.04560). Upstream: big_vision `models/proj/image_text/naflex_vit.py`,
HF `modeling_siglip2.py` (Siglip2VisionEmbeddings, Siglip2MultiheadAttentionPoolingHead).

One tower serves both families (docs/model/embeddings.md): patches always arrive flattened in (py, px, c) order, the
FixRes Conv2d already became a Linear in `weights.to_twin`, which also transposed the MAP head's fused
`in_proj_weight` to [D, 3D]. NaFlex resizes its 16x16 position table to each
image's (h, w) patch grid; FixRes adds its fixed table as is.

Letters (docs/model/index.md): B images, N patch slots (valid + padding), P = p*p*3, D width, G side of the
position table, h, w patch grid of one image.
"""

import numpy as np

from .layers import encoder, layer_norm, linear, mlp, multi_head_attention


def interpolation_weights(in_size, out_size, index):
    """Row `index` of the [out_size, in_size] antialiased bilinear resize matrix: [..., in_size], as torch's
    `interpolate(..., antialias=True)` along one axis; `out_size` and `index` broadcast against each other.

    Half-pixel centres (align_corners=False); a triangle filter whose support widens by in/out when shrinking
    (that widening is the antialiasing); each row renormalised so that clipped borders still sum to 1. Built
    explicitly because torch's kernel is wrong for an output size of 1 (docs/model/embeddings.md): here that row is
    the triangle of width in_size around the centre, as jax `scale_and_translate` gives.
    """
    scale = in_size / np.asarray(out_size, dtype=np.float64)  # [...] input pixels per output pixel
    centres = (np.asarray(index) + 0.5) * scale  # [...] output pixel centres in input coordinates
    offsets = (np.arange(in_size) + 0.5) - centres[..., None]  # [..., in] input centre - output centre
    weights = np.maximum(0.0, 1.0 - np.abs(offsets) / np.maximum(scale, 1.0)[..., None])  # [..., in] triangle
    return weights / weights.sum(axis=-1, keepdims=True)  # [..., in] rows sum to 1


def resize_weights(in_size, out_size):
    """[out, in] matrix of antialiased bilinear resizing: every row of `interpolation_weights`."""
    if in_size < 1 or out_size < 1:
        raise ValueError(f"resize sizes must be positive, got {in_size} -> {out_size}")
    return interpolation_weights(in_size, out_size, np.arange(out_size))  # [out, in]


def resize_position_table(table, height, width):
    """Resize a [G, G, D] position table to [height * width, D] (row-major), separably: Wh @ table @ Ww^T."""
    G, _, D = table.shape
    Wh = resize_weights(G, height).astype(table.dtype)  # [h, G]
    Ww = resize_weights(G, width).astype(table.dtype)  # [w, G]
    rows = (Wh @ table.reshape(G, G * D)).reshape(height, G, D)  # [h, G] @ [G, G*D] -> [h, G, D]
    return (Ww @ rows).reshape(height * width, D)  # [w, G] @ [h, G, D] -> [h, w, D] -> [h*w, D]


def position_embeddings(position_embedding, spatial_shapes, num_slots, naflex):
    """[B, N, D]: slot n of image b gets row n of its table resized to (h_b, w_b); padding slots get row 0 (as HF).

    Every slot's embedding is a weighted sum of the G x G table entries, the weights the outer product of one row
    of the height and one row of the width resize matrices (the torch code does the same, with no loop).
    """
    table = position_embedding["weight"]  # [G*G, D]
    if not naflex:
        return table[None]  # [1, G*G, D]: FixRes adds the one grid its table was trained for to every image
    G = int(round(table.shape[0] ** 0.5))
    h, w = spatial_shapes[:, :1], spatial_shapes[:, 1:]  # [B, 1] each
    slot = np.arange(num_slots)[None, :]  # [1, N]
    slot = np.where(slot < h * w, slot, 0)  # [B, N] padding slots take slot 0's position
    wy = interpolation_weights(G, h, slot // w).astype(table.dtype)  # [B, N, G] rows
    wx = interpolation_weights(G, w, slot % w).astype(table.dtype)  # [B, N, G] columns
    weights = (wy[..., :, None] * wx[..., None, :]).reshape(*slot.shape, G * G)  # [B, N, G, G] -> [B, N, G*G]
    return weights @ table  # [B, N, G*G] @ [G*G, D] -> [B, N, D]


def vision_embeddings(pixel_values, spatial_shapes, patch_embedding, position_embedding, naflex):
    patches = linear(pixel_values, **patch_embedding)  # [B, N, P] -> [B, N, D]
    positions = position_embeddings(position_embedding, spatial_shapes, pixel_values.shape[1], naflex)  # [B, N, D]
    return patches + positions  # [B, N, D]


def pooling_attention(query, x, in_proj_weight, in_proj_bias, out_proj, num_heads, key_mask=None):
    """The probe's cross-attention with nn.MultiheadAttention's fused in_proj (q, k, v stacked, here [D, 3D])."""
    wq, wk, wv = np.split(in_proj_weight, 3, axis=1)  # [D, 3D] -> 3 x [D, D]
    bq, bk, bv = np.split(in_proj_bias, 3)  # [3D] -> 3 x [D]
    q, k, v = query @ wq + bq, linear(x, wk, bk), linear(x, wv, bv)  # [B, 1, D], 2 x [B, N, D]
    return linear(multi_head_attention(q, k, v, num_heads, key_mask), **out_proj)  # [B, 1, D]


def map_head(x, head, num_heads, eps, key_mask=None):
    """Multihead attention pooling: a learned probe attends over the valid patches, then a residual MLP.

    `head` holds probe, attention, layernorm, mlp. No LayerNorm before the attention: x is post-LayerNormed.
    """
    probe = np.broadcast_to(head["probe"], (x.shape[0], 1, x.shape[2]))  # [1, 1, D] -> [B, 1, D]
    y = pooling_attention(probe, x, **head["attention"], num_heads=num_heads, key_mask=key_mask)  # [B, 1, D]
    y = y + mlp(layer_norm(y, **head["layernorm"], eps=eps), **head["mlp"])  # [B, 1, D]
    return y[:, 0]  # [B, 1, D] -> [B, D]


def vision_transformer(pixel_values, pixel_attention_mask, spatial_shapes, params, config):
    """Embeddings -> encoder (padding masked as keys) -> post LayerNorm -> MAP head (when the config has one).

    `params` is the checkpoint's `vision_model` subtree; inputs as `checks.check_image_inputs` returns them
    (a mask of None attends to every slot). Returns (hidden states [B, N, D] after post-LN,
    pooled [B, D] before normalisation or None without a head, named intermediates).
    """
    key_mask = None if pixel_attention_mask is None else pixel_attention_mask.astype(bool)  # [B, N] True = real
    eps, heads = config["eps"], config["num_heads"]
    out = {}
    x = vision_embeddings(pixel_values, spatial_shapes, **params["embeddings"], naflex=config["naflex"])  # [B, N, D]
    out["vision.embeddings"] = x
    x, hidden = encoder(x, params["encoder"]["layers"], heads, eps, key_mask)  # [B, N, D]
    out.update({f"vision.block{i:02d}": h for i, h in enumerate(hidden)})
    x = layer_norm(x, **params["post_layernorm"], eps=eps)  # [B, N, D]
    out["vision.post_layernorm"] = x
    if not config["use_head"]:
        return x, None, out
    pooled = map_head(x, params["head"], heads, eps, key_mask)  # [B, D]
    out["vision.pooled"] = pooled
    return x, pooled, out

