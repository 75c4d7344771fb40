"""The SigLIP2 vision tower in numpy: patch embedding, resized position table, encoder, MAP head.

Mirrors `siglip2_min/vision.py` function for function (resize_weights, resize_position_table, VisionEmbeddings
with its position_embeddings, PoolingAttention, MAPHead, VisionTransformer, check_image_inputs). Paper: SigLIP2
(arXiv 2502.14786) section 2.4 (NaFlex); MAP head from Zhai et al., "Scaling Vision Transformers" (arXiv
2106.04560). Upstream: big_vision `models/proj/image_text/naflex_vit.py`,
HF `modeling_siglip2.py` (Siglip2VisionEmbeddings, Siglip2MultiheadAttentionPoolingHead).

One tower serves both families (docs/model/embeddings.md): patches always arrive flattened in (py, px, c) order, the
FixRes Conv2d already became a Linear in `weights.to_twin`, which also transposed the MAP head's fused
`in_proj_weight` to [D, 3D]. NaFlex resizes its 16x16 position table to each
image's (h, w) patch grid; FixRes adds its fixed table as is.

Letters: B images, N patch slots (valid + padding), P = p*p*C, D width, G side of the position table,
h, w patch grid of one image.
"""

import numpy as np

from .layers import encoder, layer_norm, linear, mlp, multi_head_attention


def resize_weights(in_size, out_size):
    """[out, in] matrix of antialiased bilinear resizing, as torch's `interpolate(..., antialias=True)`.

    Half-pixel centres (align_corners=False); a triangle filter whose support widens by in/out when shrinking
    (that widening is the antialiasing); each row renormalised so that clipped borders still sum to 1. Built
    explicitly because torch's kernel is wrong for an output size of 1 (docs/model/embeddings.md): here that row is the
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
    """Resize a [G, G, D] position table to [height * width, D] (row-major), separably: Wh @ table @ Ww^T."""
    G, _, D = table.shape
    Wh = resize_weights(G, height).astype(table.dtype)  # [h, G]
    Ww = resize_weights(G, width).astype(table.dtype)  # [w, G]
    rows = (Wh @ table.reshape(G, G * D)).reshape(height, G, D)  # [h, G] @ [G, G*D] -> [h, G, D]
    return (Ww @ rows).reshape(height * width, D)  # [w, G] @ [h, G, D] -> [h, w, D] -> [h*w, D]


def position_embeddings(position_embedding, spatial_shapes, num_slots, naflex):
    """[B, N, D]: each image's position table; padding rows hold row 0 (as HF; they are never attended to)."""
    table = position_embedding["weight"]  # [G*G, D]
    if not naflex:  # FixRes: the one G x G grid the table was trained for, added as is
        return np.broadcast_to(table, (len(spatial_shapes), *table.shape))  # [G*G, D] -> [B, G*G, D]
    G = int(round(table.shape[0] ** 0.5))
    out = np.empty((len(spatial_shapes), num_slots, table.shape[1]), dtype=table.dtype)  # [B, N, D]
    resized = {}  # one resize per distinct grid in the batch
    for i, (h, w) in enumerate(spatial_shapes):
        # NaFlex: the 16x16 table is stretched to this image's grid (bilinear, antialiased: big_vision, HF).
        # Computed in the model's dtype: float64 stays float64, so the twin is exact where it is the yardstick.
        if (h, w) not in resized:
            resized[h, w] = resize_position_table(table.reshape(G, G, -1), h, w)  # [G*G, D] -> [G, G, D] -> [h*w, D]
        out[i, : h * w] = resized[h, w]
        out[i, h * w :] = resized[h, w][0]
    return out


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

    `params` is the checkpoint's `vision_model` subtree. Returns (hidden states [B, N, D] after post-LN,
    pooled [B, D] before normalisation or None without a head, named intermediates).
    """
    pixel_attention_mask, spatial_shapes = check_image_inputs(config, pixel_values, pixel_attention_mask,
                                                              spatial_shapes)
    key_mask = pixel_attention_mask.astype(bool)  # [B, N] True = real patch
    if key_mask.all():
        key_mask = None  # nothing to mask
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


def check_image_inputs(config, pixel_values, pixel_attention_mask, spatial_shapes):
    """Validate the patch inputs and fill defaults; returns (mask [B, N], spatial shapes as a list of (h, w)).

    The mask must be exactly the first h*w slots of each row: the resized position table is laid over those
    slots, so a mask that disagrees with `spatial_shapes` would silently misplace every position embedding.
    """
    P, G = config["patch_size"] ** 2 * config["num_channels"], config["grid_size"]
    if not isinstance(pixel_values, np.ndarray) or pixel_values.ndim != 3 or pixel_values.shape[2] != P:
        raise ValueError(f"pixel_values must be patches [B, N, {P}] (patch size {config['patch_size']}, flattened "
                         f"in (py, px, c) order), got {getattr(pixel_values, 'shape', type(pixel_values).__name__)}")
    B, N, _ = pixel_values.shape
    if spatial_shapes is None:
        if config["naflex"]:
            raise ValueError("spatial_shapes [B, 2] is required for a NaFlex model: the (h, w) patch grid of each "
                             "image (the processor returns it)")
        spatial_shapes = [(G, G)] * B
    spatial_shapes = np.asarray(spatial_shapes)
    if spatial_shapes.shape != (B, 2) or not np.issubdtype(spatial_shapes.dtype, np.integer):
        raise ValueError(f"spatial_shapes must be integers [B, 2] = [{B}, 2], got {spatial_shapes.dtype} "
                         f"{spatial_shapes.shape}")
    if (spatial_shapes < 1).any():
        raise ValueError(f"spatial_shapes must be >= 1 patch per side, got {spatial_shapes.tolist()}")
    sizes = spatial_shapes.prod(axis=1)  # [B] valid patches per image
    if (sizes > N).any():
        raise ValueError(f"spatial_shapes {spatial_shapes.tolist()} need more than the N = {N} patch slots given")
    if not config["naflex"] and ((spatial_shapes != G).any() or N != G * G):
        raise ValueError(f"this FixRes model has a fixed {G}x{G} patch grid ({G * G} patches, no padding); got "
                         f"spatial_shapes {spatial_shapes.tolist()} in {N} patch slots")
    expected = np.arange(N)[None, :] < sizes[:, None]  # [B, N] the first h*w slots of each row
    if pixel_attention_mask is None:
        return expected, [tuple(s) for s in spatial_shapes.tolist()]
    pixel_attention_mask = np.asarray(pixel_attention_mask)
    if pixel_attention_mask.shape != (B, N):
        raise ValueError(f"pixel_attention_mask must be [B, N] = [{B}, {N}], got {pixel_attention_mask.shape}")
    if not np.array_equal(pixel_attention_mask.astype(bool), expected):
        bad = np.flatnonzero((pixel_attention_mask.astype(bool) != expected).any(axis=1)).tolist()
        raise ValueError(f"pixel_attention_mask disagrees with spatial_shapes for images {bad}: each row must be 1 "
                         "on exactly its first h*w patches and 0 after")
    return pixel_attention_mask, [tuple(s) for s in spatial_shapes.tolist()]
