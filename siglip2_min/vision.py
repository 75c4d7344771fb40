"""The vision tower: patch embedding, NaFlex position-embedding resize, encoder, post-LN and the MAP head.

Paper: Tschannen et al., "SigLIP 2" (arXiv 2502.14786), section 2.4 (NaFlex); the MAP head is from Zhai et al.,
"Scaling Vision Transformers" (arXiv 2106.04560). Upstream: HF `modeling_siglip2.py` (`Siglip2VisionEmbeddings`,
`Siglip2VisionTransformer`, `Siglip2MultiheadAttentionPoolingHead`); big_vision `models/proj/image_text/naflex_vit.py`.

Differences to a plain ViT, where they bite:
- Input is already patchified, `[B, N, p*p*3]` in (py, px, c) order, so the patch embedding is a Linear. A FixRes
  checkpoint's Conv2d(stride = kernel = p) is the same map; weights.py reshapes it on load.
- NaFlex keeps each image's aspect ratio, so images have different (h, w) patch grids padded to one length N.
  The learned G x G position table (G = 16) is resized to each grid with antialiased bilinear interpolation, and
  padded patches are masked out as attention keys, including in the pooling head.
- No class token: a learned probe attends over the patches (multihead attention pooling, "MAP").

Shapes: B = images, N = patch slots (valid + padding), D = width, P = p*p*3, G = position-table side,
(h, w) = an image's grid in patches, H = heads.
"""

import torch
import torch.nn.functional as F
from torch import nn

from .layers import MLP, Encoder, check_attn, multi_head_attention


def interpolation_weights(in_size, out_size, index):
    """Row `index` of the [out_size, in_size] antialiased bilinear resize matrix: [..., in_size].

    `out_size` and `index` are float tensors of broadcastable shapes: every row at once for `resize_weights`, one
    row per patch slot (each with its own image's size) in `VisionEmbeddings.position_embeddings`. This equals
    `F.interpolate(..., mode="bilinear", antialias=True, align_corners=False)` along one axis (and big_vision's
    `jax.image.scale_and_translate(method="bilinear", antialias=True)`): output pixel i is centred at input
    coordinate (i + 0.5) * in/out; input pixel j at j + 0.5 gets the weight of a triangle of half-width
    max(in/out, 1) (widened when downsampling, which is the antialiasing), and each row is renormalised so the
    border rows, whose triangle falls partly outside the input, still sum to one.

    Written out rather than calling `F.interpolate` because torch 2.13's CPU kernel is wrong for an output width
    of 1 (docs/model/embeddings.md): it returns about 0.714 * row 0 instead of the mean. Here that case is row
    i = 0 with centre in/2 and half-width in, which weighs every input pixel, as it should.
    """
    scale = in_size / out_size  # [...] input pixels per output pixel
    centres = (index + 0.5) * scale  # [...] output pixel centres in input coordinates
    inputs = torch.arange(in_size, dtype=index.dtype, device=index.device) + 0.5  # [in] input pixel centres
    weights = (1 - (inputs - centres[..., None]).abs() / scale.clamp(min=1)[..., None]).clamp(min=0)  # [..., in]
    return weights / weights.sum(dim=-1, keepdim=True)  # [..., in], rows sum to 1


def resize_weights(in_size, out_size, dtype=torch.float64):
    """The [out_size, in_size] matrix of antialiased bilinear interpolation with half-pixel centres."""
    if in_size < 1 or out_size < 1:
        raise ValueError(f"resize sizes must be >= 1, got {in_size} -> {out_size}")
    return interpolation_weights(in_size, torch.tensor(out_size, dtype=dtype), torch.arange(out_size, dtype=dtype))


def resize_position_table(table, height, width):
    """Resize a [G, G, D] position table to [height * width, D] (row-major), separably: Wh @ table @ Ww^T.

    One grid at a time, as a reader would write it; the forward does every slot of a batch at once
    (`VisionEmbeddings.position_embeddings`), and tests check that both agree.
    """
    G, _, D = table.shape
    wh = resize_weights(G, height).to(table)  # [h, G] in the table's dtype, on its device
    ww = resize_weights(G, width).to(table)  # [w, G]
    rows = (wh @ table.reshape(G, G * D)).reshape(height, G, D)  # [h, G] @ [G, G*D] -> [h, G, D]
    return (ww @ rows).reshape(height * width, D)  # [w, G] @ [h, G, D] -> [h, w, D] -> [h*w, D]


class VisionEmbeddings(nn.Module):
    """Patch embedding plus position embedding (resized per grid for NaFlex, fixed for FixRes)."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.patch_embedding = nn.Linear(config.patch_dim, config.hidden_size)
        self.position_embedding = nn.Embedding(config.num_patches, config.hidden_size)

    def position_embeddings(self, spatial_shapes, num_slots):
        """[B, N, D]: slot n of image b gets row n of its table resized to (h_b, w_b); padding slots get row 0 (as HF).

        Every slot's embedding is a weighted sum of the G x G table entries, with the outer product of one row of
        the height and one row of the width resize matrices as weights: static shapes, no loop over grids.
        """
        table = self.position_embedding.weight  # [G*G, D]
        if not self.config.naflex:
            return table[None]  # [1, G*G, D]: FixRes adds the one grid its table was trained for to every image
        # HF upcasts to fp32 on CPU only; resizing in (at least) fp32 everywhere keeps bf16/fp16 runs
        # device-independent, and float64 models resize in float64 (the numpy twin's parity at 1e-10).
        dtype = torch.promote_types(table.dtype, torch.float32)
        h, w = spatial_shapes[:, :1], spatial_shapes[:, 1:]  # [B, 1] each
        slot = torch.arange(num_slots, device=table.device)[None, :]  # [1, N]
        slot = torch.where(slot < h * w, slot, 0)  # [B, N] padding slots take slot 0's position
        wy = interpolation_weights(self.config.grid_size, h.to(dtype), (slot // w).to(dtype))  # [B, N, G] rows
        wx = interpolation_weights(self.config.grid_size, w.to(dtype), (slot % w).to(dtype))  # [B, N, G] columns
        weights = (wy[..., :, None] * wx[..., None, :]).flatten(2)  # [B, N, G, G] -> [B, N, G*G]
        return (weights @ table.to(dtype)).to(table.dtype)  # [B, N, G*G] @ [G*G, D] -> [B, N, D]

    def forward(self, pixel_values, spatial_shapes):
        patches = self.patch_embedding(pixel_values.to(self.patch_embedding.weight.dtype))  # [B, N, P] -> [B, N, D]
        return patches + self.position_embeddings(spatial_shapes, pixel_values.shape[1])  # [B, N, D]


class PoolingAttention(nn.Module):
    """The probe's cross-attention, with `nn.MultiheadAttention`'s parameter names (fused q,k,v in_proj)."""

    def __init__(self, config, attn="sdpa"):
        super().__init__()
        D, self.num_heads, self.attn = config.hidden_size, config.num_attention_heads, check_attn(attn)
        self.in_proj_weight = nn.Parameter(nn.init.xavier_uniform_(torch.empty(3 * D, D)))  # rows: q, k, v
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * D))
        self.out_proj = nn.Linear(D, D)

    def forward(self, query, x, key_mask=None):
        wq, wk, wv = self.in_proj_weight.chunk(3)  # 3 x [D, D]
        bq, bk, bv = self.in_proj_bias.chunk(3)  # 3 x [D]
        q, k, v = F.linear(query, wq, bq), F.linear(x, wk, bk), F.linear(x, wv, bv)  # [B, 1, D], 2 x [B, N, D]
        return self.out_proj(multi_head_attention(q, k, v, self.num_heads, key_mask, self.attn))  # [B, 1, D]


class MAPHead(nn.Module):
    """Multihead attention pooling: a learned probe attends over the valid patches, then a residual MLP."""

    def __init__(self, config, attn="sdpa"):
        super().__init__()
        D = config.hidden_size
        self.probe = nn.Parameter(torch.randn(1, 1, D) * D**-0.5)
        self.attention = PoolingAttention(config, attn)
        self.layernorm = nn.LayerNorm(D, eps=config.layer_norm_eps)
        self.mlp = MLP(config)

    def forward(self, x, key_mask=None):
        x = self.attention(self.probe.expand(x.shape[0], -1, -1), x, key_mask)  # [B, 1, D]
        x = x + self.mlp(self.layernorm(x))  # [B, 1, D]
        return x[:, 0]  # [B, 1, D] -> [B, D]


class VisionTransformer(nn.Module):
    """Embeddings -> encoder (padding masked as keys) -> post LayerNorm -> MAP head (when the config has one)."""

    def __init__(self, config, attn="sdpa"):
        super().__init__()
        self.config = config
        self.embeddings = VisionEmbeddings(config)
        self.encoder = Encoder(config, attn)
        self.post_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.head = MAPHead(config, attn) if config.use_head else None

    def forward(self, pixel_values, pixel_attention_mask=None, spatial_shapes=None, intermediates=None):
        """Returns (hidden states [B, N, D] after post-LN, pooled [B, D] or None without a head).

        Inputs as `checks.check_image_inputs` returns them: a mask of None attends to every slot (no padding);
        `spatial_shapes` [B, 2] on the model's device (NaFlex only).
        """
        key_mask = None if pixel_attention_mask is None else pixel_attention_mask.bool()  # [B, N] True = real
        x = self.embeddings(pixel_values, spatial_shapes)  # [B, N, D]
        record = intermediates is not None
        if record:
            intermediates["vision.embeddings"] = x
        x = self.encoder(x, key_mask, intermediates, "vision")  # [B, N, D]
        x = self.post_layernorm(x)  # [B, N, D]
        pooled = self.head(x, key_mask) if self.head is not None else None  # [B, D]
        if record:
            intermediates["vision.post_layernorm"] = x
            if pooled is not None:
                intermediates["vision.pooled"] = pooled
        return x, pooled
