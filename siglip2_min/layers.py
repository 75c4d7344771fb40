"""The transformer pieces both towers share: multi-head attention, the MLP and the pre-LN encoder block.

Upstream: HF `modeling_siglip.py` (`SiglipAttention`, `SiglipMLP`, `SiglipEncoderLayer`, `SiglipEncoder`);
big_vision `models/vit.py` (`MlpBlock`, `Encoder1DBlock`, `Encoder`). This is the ViT encoder of Dosovitskiy et
al. (arXiv 2010.11929, section 3.1) with the SigLIP settings: LayerNorm eps 1e-6 and the tanh approximation of GELU.

Attention has two paths that compute the same thing: `"sdpa"` (torch's fused `scaled_dot_product_attention`, the
fast path) and `"eager"` (the formula written out, which doubles as the specification).

Modules take their tower's config (`VisionConfig` or `TextConfig`: hidden_size, intermediate_size,
num_attention_heads, num_hidden_layers, layer_norm_eps).

Shapes: B = batch, N = tokens (keys), M = queries (N, or 1 for the pooling probe), D = width, H = heads,
Dh = D / H head width, F = MLP width.
"""

import torch
import torch.nn.functional as F
from torch import nn

ATTENTION_IMPLEMENTATIONS = ("sdpa", "eager")


def check_attn(attn):
    if attn not in ATTENTION_IMPLEMENTATIONS:
        raise ValueError(f"attn must be one of {ATTENTION_IMPLEMENTATIONS}, got {attn!r}")
    return attn


def multi_head_attention(q, k, v, num_heads, key_mask=None, attn="sdpa"):
    """softmax(q k^T / sqrt(Dh)) v per head, over projected inputs. `key_mask` [B, N] bool, True = attend.

    Masking keys only is enough: a padded query row still sees the valid keys, so no row is all -inf, and no
    valid row ever reads a padded one. That is all the vision tower needs; the text tower uses no mask at all.
    """
    B, M, D = q.shape
    N = k.shape[1]
    q = q.view(B, M, num_heads, D // num_heads).transpose(1, 2)  # [B, M, D] -> [B, H, M, Dh]
    k = k.view(B, N, num_heads, D // num_heads).transpose(1, 2)  # [B, N, D] -> [B, H, N, Dh]
    v = v.view(B, N, num_heads, D // num_heads).transpose(1, 2)  # [B, N, D] -> [B, H, N, Dh]
    mask = None if key_mask is None else key_mask[:, None, None, :]  # [B, N] -> [B, 1, 1, N]
    if attn == "sdpa":
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # [B, H, M, Dh]
    else:
        scores = q @ k.transpose(-2, -1) * (D // num_heads) ** -0.5  # [B, H, M, N]
        if mask is not None:
            scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        # softmax in fp32: bf16/fp16 exponentials of 256 scores lose too much
        out = scores.float().softmax(dim=-1).to(v.dtype) @ v  # [B, H, M, N] @ [B, H, N, Dh] -> [B, H, M, Dh]
    return out.transpose(1, 2).reshape(B, M, D)  # [B, H, M, Dh] -> [B, M, D]


class Attention(nn.Module):
    """Self-attention with separate q/k/v/out projections, each with a bias (HF `SiglipAttention`)."""

    def __init__(self, config, attn="sdpa"):
        super().__init__()
        D, self.num_heads, self.attn = config.hidden_size, config.num_attention_heads, check_attn(attn)
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(D, D) for _ in range(4))

    def forward(self, x, key_mask=None):
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)  # 3 x [B, N, D]
        return self.out_proj(multi_head_attention(q, k, v, self.num_heads, key_mask, self.attn))  # [B, N, D]


class MLP(nn.Module):
    """fc1 -> GELU (tanh approximation, HF `gelu_pytorch_tanh`) -> fc2."""

    def __init__(self, config):
        super().__init__()
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)

    def forward(self, x):
        # tanh GELU, as in big_vision's flax `nn.gelu` default: the exact erf GELU differs by ~1e-3
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))  # [B, N, D] -> [B, N, F] -> [B, N, D]


class EncoderLayer(nn.Module):
    """Pre-LN block: x + attn(ln1(x)), then x + mlp(ln2(x))."""

    def __init__(self, config, attn="sdpa"):
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.self_attn = Attention(config, attn)
        self.layer_norm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = MLP(config)

    def forward(self, x, key_mask=None):
        # x + f(x), added into f's fresh output (`add_`): one [B, N, D] allocation fewer per residual, same sums;
        # autograd allows it because a Linear's backward never reads its own output (docs/performance.md)
        x = self.self_attn(self.layer_norm1(x), key_mask).add_(x)  # [B, N, D]
        return self.mlp(self.layer_norm2(x)).add_(x)  # [B, N, D]


class Encoder(nn.Module):
    """A stack of encoder layers; records the output of each as `{prefix}.blockNN` when asked."""

    def __init__(self, config, attn="sdpa"):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(config, attn) for _ in range(config.num_hidden_layers))

    def forward(self, x, key_mask=None, intermediates=None, prefix=""):
        for i, layer in enumerate(self.layers):
            x = layer(x, key_mask)  # [B, N, D]
            if intermediates is not None:
                intermediates[f"{prefix}.block{i:02d}"] = x
        return x
