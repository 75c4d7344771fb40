"""Mistake: multiplying by logit_scale itself instead of exp(logit_scale) (it is the log of the temperature)."""

import torch
import torch.nn.functional as F


def sigmoid_loss(image_embeds, text_embeds, logit_scale, logit_bias):
    if image_embeds.shape != text_embeds.shape:
        raise ValueError("shapes differ")
    img, txt = F.normalize(image_embeds, dim=-1), F.normalize(text_embeds, dim=-1)
    logits = txt @ img.T * logit_scale + logit_bias
    z = 2 * torch.eye(len(logits)) - 1
    return -F.logsigmoid(z * logits).sum(dim=-1).mean()
