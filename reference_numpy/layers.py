"""The transformer layers both SigLIP2 towers share, in numpy: LayerNorm, attention, MLP, encoder layer, encoder.

Mirrors `siglip2_min/layers.py` function for function (Attention, MLP, EncoderLayer, Encoder). Paper: SigLIP2
(arXiv 2502.14786) section 2 builds on the ViT of Dosovitskiy et al. (arXiv 2010.11929) section 3.1: pre-LN blocks
`x = x + attn(ln1(x)); x = x + mlp(ln2(x))`. Upstream: big_vision `models/vit.py`, HF `modeling_siglip2.py`.

Weights arrive from `weights.to_twin` with Linear weights already [in, out]. Every function is pure: arguments are
the checkpoint's leaf names (`q_proj`, `fc1`, `layer_norm1`, ...), so a call is `f(x, **params[...])`.

Letters: B batch, N query length (patches or tokens), M key length, D width, H heads, Dh = D / H, F MLP width.
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
    # temporary: [B, H, N, M] scores are the largest arrays of the forward, and every extra copy costs time.
    e = x - x.max(axis=-1, keepdims=True)  # [..., M]
    np.exp(e, out=e)  # [..., M]
    e /= e.sum(axis=-1, keepdims=True)  # [..., M]
    return e


def attention(x, q_proj, k_proj, v_proj, out_proj, num_heads, key_mask=None, context=None):
    """Multi-head scaled dot-product attention of the queries in `x` over `context` (defaults to `x` itself).

    key_mask [B, M] bool, True = real key: padded patches are masked as keys only, so every valid row is
    independent of what the pad rows hold. A pad query still attends to the valid keys; its output is ignored.
    """
    context = x if context is None else context  # [B, M, D]
    B, N, D = x.shape
    M, Dh = context.shape[1], D // num_heads
    q = linear(x, **q_proj) * Dh**-0.5  # [B, N, D], scaled before the product (head_dim^-0.5)
    k = linear(context, **k_proj)  # [B, M, D]
    v = linear(context, **v_proj)  # [B, M, D]
    q = q.reshape(B, N, num_heads, Dh).transpose(0, 2, 1, 3)  # [B, N, D] -> [B, H, N, Dh]
    k = k.reshape(B, M, num_heads, Dh).transpose(0, 2, 3, 1)  # [B, M, D] -> [B, H, Dh, M]
    v = v.reshape(B, M, num_heads, Dh).transpose(0, 2, 1, 3)  # [B, M, D] -> [B, H, M, Dh]
    scores = q @ k  # [B, H, N, Dh] @ [B, H, Dh, M] -> [B, H, N, M]
    if key_mask is not None:
        scores += np.where(key_mask, 0.0, -np.inf).astype(x.dtype)[:, None, None, :]  # [B, 1, 1, M] pad keys -> -inf
    y = softmax(scores) @ v  # [B, H, N, M] @ [B, H, M, Dh] -> [B, H, N, Dh]
    y = y.transpose(0, 2, 1, 3).reshape(B, N, D)  # [B, H, N, Dh] -> [B, N, H, Dh] -> [B, N, D]
    return linear(y, **out_proj)  # [B, N, D]


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
