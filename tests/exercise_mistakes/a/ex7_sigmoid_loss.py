"""Mistake: the mean over all n*n pairs instead of the sum over images averaged over texts."""

import torch
import torch.nn.functional as F


def sigmoid_loss(image_embeds, text_embeds, logit_scale, logit_bias):
    if image_embeds.shape != text_embeds.shape:
        raise ValueError("shapes differ")
    img, txt = F.normalize(image_embeds, dim=-1), F.normalize(text_embeds, dim=-1)
    logits = txt @ img.T * logit_scale.exp() + logit_bias
    z = 2 * torch.eye(len(logits)) - 1
    return -F.logsigmoid(z * logits).mean()
