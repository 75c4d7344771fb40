"""Mistake: the probe attends to every slot, padding included (no mask)."""

import torch
import torch.nn.functional as F


def map_pool(x, mask, params, num_heads, eps=1e-6):
    B, N, D = x.shape
    wq, wk, wv = params["attention.in_proj_weight"].chunk(3)
    bq, bk, bv = params["attention.in_proj_bias"].chunk(3)
    q = F.linear(params["probe"].expand(B, -1, -1), wq, bq).view(B, 1, num_heads, -1).transpose(1, 2)
    k = F.linear(x, wk, bk).view(B, N, num_heads, -1).transpose(1, 2)
    v = F.linear(x, wv, bv).view(B, N, num_heads, -1).transpose(1, 2)
    a = ((q @ k.transpose(-2, -1)) * (D // num_heads) ** -0.5).softmax(-1) @ v
    a = F.linear(a.transpose(1, 2).reshape(B, 1, D), params["attention.out_proj.weight"], params["attention.out_proj.bias"])
    y = F.layer_norm(a, (D,), params["layernorm.weight"], params["layernorm.bias"], eps)
    y = F.linear(F.gelu(F.linear(y, params["mlp.fc1.weight"], params["mlp.fc1.bias"]), approximate="tanh"),
                 params["mlp.fc2.weight"], params["mlp.fc2.bias"])
    return (a + y)[:, 0]
