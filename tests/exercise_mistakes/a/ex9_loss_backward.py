"""Mistake: the gradient with respect to the normalised rows, handed back as if it were the raw embeddings'
(the normalisation's own backward is left out)."""

import torch
import torch.nn.functional as F


def chunked_loss_grads(image_embeds, text_embeds, logit_scale, logit_bias, chunk_size):
    n = len(text_embeds)
    img, txt = F.normalize(image_embeds, dim=-1), F.normalize(text_embeds, dim=-1)
    scale = logit_scale.exp()
    g_img, g_txt = torch.zeros_like(img), torch.zeros_like(txt)
    g_scale, g_bias = torch.zeros_like(logit_scale), torch.zeros_like(logit_bias)
    for i0 in range(0, n, chunk_size):
        t = txt[i0:i0 + chunk_size]
        cos = t @ img.T
        z = -torch.ones_like(cos)
        z.diagonal(i0).fill_(1)
        g = -z * torch.sigmoid(-z * (cos * scale + logit_bias)) / n  # d loss / d logit
        g_txt[i0:i0 + chunk_size] = g @ img * scale
        g_img += g.T @ t * scale
        g_scale += (g * cos).sum() * scale
        g_bias += g.sum()
    return g_img, g_txt, g_scale, g_bias
