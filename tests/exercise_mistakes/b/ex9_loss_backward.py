"""Mistake: right numbers from the full n x n matrix of logits at once, which is what the chunks are there to avoid."""

import torch
import torch.nn.functional as F


def _unnormalise(grad, x):
    """Backward of x / |x|: remove the radial part, divide by the norm."""
    norm = x.norm(dim=-1, keepdim=True)
    unit = x / norm
    return (grad - (grad * unit).sum(-1, keepdim=True) * unit) / norm


def chunked_loss_grads(image_embeds, text_embeds, logit_scale, logit_bias, chunk_size):
    n = len(text_embeds)
    img, txt = F.normalize(image_embeds, dim=-1), F.normalize(text_embeds, dim=-1)
    scale = logit_scale.exp()
    cos = txt @ img.T
    z = 2 * torch.eye(n, dtype=cos.dtype) - 1
    g = -z * torch.sigmoid(-z * (cos * scale + logit_bias)) / n
    return (_unnormalise(g.T @ txt * scale, image_embeds), _unnormalise(g @ img * scale, text_embeds),
            ((g * cos).sum() * scale).reshape(1), g.sum().reshape(1))
