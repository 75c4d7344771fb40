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


def resize_weights(in_size, out_size, dtype=torch.float64):
    """The [out_size, in_size] matrix of antialiased bilinear interpolation with half-pixel centres.

    Equals `F.interpolate(..., mode="bilinear", antialias=True, align_corners=False)` along one axis (and
    big_vision's `jax.image.scale_and_translate(method="bilinear", antialias=True)`): output pixel i is centred at
    input coordinate (i + 0.5) * in/out; input pixel j at j + 0.5 gets the weight of a triangle of half-width
    max(in/out, 1) (widened when downsampling, which is the antialiasing), and each row is renormalised so the
    border rows, whose triangle falls partly outside the input, still sum to one.

    Written as a dense matrix rather than calling `F.interpolate` because torch 2.13's CPU kernel is wrong for an
    output size of 1 (docs/model/embeddings.md): it returns about 0.714 * row 0 instead of the mean. Here that case is row i = 0
    with centre in/2 and half-width in, which weighs every input pixel, as it should.
    """
    if in_size < 1 or out_size < 1:
        raise ValueError(f"resize sizes must be >= 1, got {in_size} -> {out_size}")
    scale = in_size / out_size
    centres = (torch.arange(out_size, dtype=dtype) + 0.5) * scale  # [out]
    distance = (torch.arange(in_size, dtype=dtype) + 0.5)[None, :] - centres[:, None]  # [out, in]
    weights = (1 - distance.abs() / max(scale, 1.0)).clamp(min=0)  # [out, in] triangle filter
    return weights / weights.sum(dim=1, keepdim=True)  # [out, in], rows sum to 1


def resize_position_table(table, height, width):
    """Resize a [G, G, D] position table to [height * width, D] (row-major), separably: Wh @ table @ Ww^T."""
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
        """[B, N, D] position embeddings: each image's resized table, padding rows filled with row 0 (as HF)."""
        table = self.position_embedding.weight  # [G*G, D]
        if not self.config.naflex:
            return table.expand(len(spatial_shapes), -1, -1)  # FixRes: the one grid the table was trained for
        G = self.config.grid_size
        # HF upcasts to fp32 on CPU only; resizing in (at least) fp32 everywhere keeps bf16/fp16 runs
        # device-independent, and float64 models resize in float64 (the numpy twin's parity at 1e-10).
        table = table.to(torch.promote_types(table.dtype, torch.float32)).reshape(G, G, -1)  # [G*G, D] -> [G, G, D]
        out = table.new_empty(len(spatial_shapes), num_slots, table.shape[-1])  # [B, N, D]
        resized = {}  # one resize per distinct grid in the batch
        for i, (h, w) in enumerate(spatial_shapes.tolist()):
            if (h, w) not in resized:
                resized[h, w] = resize_position_table(table, h, w)  # [h*w, D]
            out[i, : h * w] = resized[h, w]
            out[i, h * w :] = resized[h, w][0]  # padding rows: never attended to, filled as HF does
        return out.to(self.position_embedding.weight.dtype)

    def forward(self, pixel_values, spatial_shapes):
        patches = self.patch_embedding(pixel_values.to(self.patch_embedding.weight.dtype))  # [B, N, P] -> [B, N, D]
        return patches + self.position_embeddings(spatial_shapes, pixel_values.shape[1])  # [B, N, D]


class PoolingAttention(nn.Module):
    """The probe's cross-attention, with `nn.MultiheadAttention`'s parameter names (fused q,k,v in_proj)."""

    def __init__(self, width, num_heads, attn="sdpa"):
        super().__init__()
        self.num_heads, self.attn = num_heads, check_attn(attn)
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))  # rows: q, then k, then v
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)
        nn.init.xavier_uniform_(self.in_proj_weight)

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
        self.attention = PoolingAttention(D, config.num_attention_heads, attn)
        self.layernorm = nn.LayerNorm(D, eps=config.layer_norm_eps)
        self.mlp = MLP(D, config.intermediate_size)

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
        self.encoder = Encoder(config.hidden_size, config.intermediate_size, config.num_attention_heads,
                               config.num_hidden_layers, config.layer_norm_eps, attn)
        self.post_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.head = MAPHead(config, attn) if config.use_head else None

    def forward(self, pixel_values, pixel_attention_mask=None, spatial_shapes=None, intermediates=None):
        """Returns (hidden states [B, N, D] after post-LN, pooled [B, D] or None without a head)."""
        pixel_attention_mask, spatial_shapes = check_image_inputs(
            self.config, pixel_values, pixel_attention_mask, spatial_shapes)
        key_mask = pixel_attention_mask.bool()  # [B, N]
        if key_mask.all():
            key_mask = None  # nothing to mask: lets SDPA take its unmasked kernel
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


def check_image_inputs(config, pixel_values, pixel_attention_mask, spatial_shapes):
    """Validate the patch inputs and fill defaults; returns (mask [B, N], spatial_shapes [B, 2] on CPU).

    The mask must be exactly the first h*w slots of each row: the resized position table is laid over those
    slots, so a mask that disagrees with `spatial_shapes` would silently misplace every position embedding.
    """
    if not isinstance(pixel_values, torch.Tensor) or pixel_values.ndim != 3:
        raise ValueError(f"pixel_values must be a tensor of patches [B, N, {config.patch_dim}], got "
                         f"{getattr(pixel_values, 'shape', type(pixel_values).__name__)}")
    B, N, P = pixel_values.shape
    if P != config.patch_dim:
        raise ValueError(f"pixel_values has patches of length {P}, but this model takes p*p*3 = {config.patch_dim} "
                         f"(patch size {config.patch_size}, flattened in (py, px, c) order)")
    if spatial_shapes is None:
        if config.naflex:
            raise ValueError("spatial_shapes [B, 2] is required for a NaFlex model: the (h, w) patch grid of each "
                             "image (the processor returns it)")
        G = config.grid_size
        spatial_shapes = torch.tensor([[G, G]] * B)
    spatial_shapes = torch.as_tensor(spatial_shapes).cpu().long()
    if spatial_shapes.shape != (B, 2):
        raise ValueError(f"spatial_shapes must be [B, 2] = [{B}, 2], got {tuple(spatial_shapes.shape)}")
    if (spatial_shapes < 1).any():
        raise ValueError(f"spatial_shapes must be >= 1 patch per side, got {spatial_shapes.tolist()}")
    sizes = spatial_shapes.prod(dim=1)  # [B] valid patches per image
    if (sizes > N).any():
        raise ValueError(f"spatial_shapes {spatial_shapes.tolist()} need more than the N = {N} patch slots given")
    if not config.naflex and N != config.num_patches:
        raise ValueError(f"this FixRes model takes exactly {config.num_patches} patches per image "
                         f"({config.grid_size}x{config.grid_size}), got N = {N}")
    if not config.naflex and (spatial_shapes != config.grid_size).any():
        raise ValueError(f"this FixRes model has a fixed {config.grid_size}x{config.grid_size} patch grid "
                         f"({config.image_size}px images); got spatial_shapes {spatial_shapes.tolist()}")
    expected = torch.arange(N)[None, :] < sizes[:, None]  # [B, N] the first h*w slots of each row
    if pixel_attention_mask is None:
        return expected.to(pixel_values.device), spatial_shapes
    if pixel_attention_mask.shape != (B, N):
        raise ValueError(f"pixel_attention_mask must be [B, N] = [{B}, {N}], got {tuple(pixel_attention_mask.shape)}")
    if not torch.equal(pixel_attention_mask.bool().cpu(), expected):
        bad = (pixel_attention_mask.bool().cpu() != expected).any(dim=1).nonzero()[:, 0].tolist()
        raise ValueError(f"pixel_attention_mask disagrees with spatial_shapes for images {bad}: each row must be 1 "
                         "on exactly its first h*w patches and 0 after")
    return pixel_attention_mask, spatial_shapes
