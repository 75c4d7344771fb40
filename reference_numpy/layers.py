"""The transformer layers both SigLIP2 towers share, in numpy: LayerNorm, attention, MLP, encoder layer, encoder.

Mirrors `siglip2_min/layers.py` function for function (multi_head_attention, Attention, MLP, EncoderLayer,
Encoder); linear, layer_norm, gelu_tanh and softmax stand in for torch's nn.Linear, nn.LayerNorm, F.gelu and
softmax. Paper: SigLIP2 (arXiv 2502.14786) section 2 builds on the ViT of Dosovitskiy et al. (arXiv 2010.11929)
section 3.1: pre-LN blocks `x = x + attn(ln1(x)); x = x + mlp(ln2(x))`. Upstream: big_vision `models/vit.py`,
HF `modeling_siglip.py` (SiglipAttention, SiglipMLP, SiglipEncoderLayer, SiglipEncoder).

Weights arrive from `weights.to_twin` with Linear weights already [in, out]. Every function is pure: arguments are
the checkpoint's leaf names (`q_proj`, `fc1`, `layer_norm1`, ...), so a call is `f(x, **params[...])`.

Letters: B batch, N tokens (keys), M queries (N, or 1 for the pooling probe), D width, H heads, Dh = D / H,
F MLP width.
"""

import math

import numpy as np


def linear(x, weight, bias):
    # One 2-D product: numpy multiplies a stack [B, N, D_in] @ [D_in, D_out] matrix by matrix, several times slower.
    y = x.reshape(-1, x.shape[-1]) @ weight  # [..., D_in] -> [B*N, D_in] @ [D_in, D_out] -> [B*N, D_out]
    return (y + bias).reshape(*x.shape[:-1], weight.shape[1])  # [B*N, D_out] -> [..., D_out]


def layer_norm(x, weight, bias, eps):
    # eps is 1e-6 in every SigLIP(2) config (torch's default is 1e-5: the difference shows at 1e-10 parity).
    mean = x.mean(axis=-1, keepdims=True)  # [..., D] -> [..., 1]
    var = np.square(x - mean).mean(axis=-1, keepdims=True)  # [..., 1] biased variance, as torch
    return (x - mean) / np.sqrt(var + eps) * weight + bias  # [..., D]


def gelu_tanh(x):
    # SigLIP uses the tanh approximation ("gelu_pytorch_tanh"), not the exact erf GELU: they differ by ~1e-3.
    # math.sqrt, not np.sqrt: a numpy float64 scalar would silently promote a float32 forward to float64.
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * (x * x * x))))  # [...] -> [...]


def softmax(x):
    # Subtracting the row max keeps exp() finite; a masked key holds -inf and gets exactly 0. In place on one
    # temporary: [B, H, M, N] scores are the largest arrays of the forward, and every extra copy costs time.
    e = x - x.max(axis=-1, keepdims=True)  # [..., N]
    np.exp(e, out=e)  # [..., N]
    e /= e.sum(axis=-1, keepdims=True)  # [..., N]
    return e


def multi_head_attention(q, k, v, num_heads, key_mask=None):
    """softmax(q k^T / sqrt(Dh)) v per head, over projected inputs. `key_mask` [B, N] bool, True = attend.

    Padded patches are masked as keys only: a pad query row still sees the valid keys (so no row is all -inf),
    and no valid row ever reads a padded one. Its output is ignored.
    """
    B, M, D = q.shape
    N, Dh = k.shape[1], D // num_heads
    q = q.reshape(B, M, num_heads, Dh).transpose(0, 2, 1, 3) * Dh**-0.5  # [B, M, D] -> [B, H, M, Dh], scaled
    k = k.reshape(B, N, num_heads, Dh).transpose(0, 2, 3, 1)  # [B, N, D] -> [B, H, Dh, N]
    v = v.reshape(B, N, num_heads, Dh).transpose(0, 2, 1, 3)  # [B, N, D] -> [B, H, N, Dh]
    scores = q @ k  # [B, H, M, Dh] @ [B, H, Dh, N] -> [B, H, M, N]
    if key_mask is not None:
        scores += np.where(key_mask, 0.0, -np.inf).astype(q.dtype)[:, None, None, :]  # [B, 1, 1, N] pad -> -inf
    out = softmax(scores) @ v  # [B, H, M, N] @ [B, H, N, Dh] -> [B, H, M, Dh]
    return out.transpose(0, 2, 1, 3).reshape(B, M, D)  # [B, H, M, Dh] -> [B, M, H, Dh] -> [B, M, D]


def attention(x, q_proj, k_proj, v_proj, out_proj, num_heads, key_mask=None):
    """Self-attention with separate q/k/v/out projections, each with a bias."""
    q, k, v = linear(x, **q_proj), linear(x, **k_proj), linear(x, **v_proj)  # 3 x [B, N, D]
    return linear(multi_head_attention(q, k, v, num_heads, key_mask), **out_proj)  # [B, N, D]


def mlp(x, fc1, fc2):
    return linear(gelu_tanh(linear(x, **fc1)), **fc2)  # [..., D] -> [..., F] -> [..., D]


def encoder_layer(x, layer, num_heads, eps, key_mask=None):
    """One pre-LN block; `layer` holds layer_norm1, self_attn, layer_norm2, mlp."""
    h = layer_norm(x, **layer["layer_norm1"], eps=eps)  # [B, N, D]
    x = x + attention(h, **layer["self_attn"], num_heads=num_heads, key_mask=key_mask)  # [B, N, D]
    h = layer_norm(x, **layer["layer_norm2"], eps=eps)  # [B, N, D]
    return x + mlp(h, **layer["mlp"])  # [B, N, D]


def encoder(x, layers, num_heads, eps, key_mask=None):
    """All blocks in order; returns the output and the hidden state after each block (`blockNN` intermediates)."""
    hidden = []
    for layer in layers:
        x = encoder_layer(x, layer, num_heads, eps, key_mask)  # [B, N, D]
        hidden.append(x)
    return x, hidden
