"""The pairwise sigmoid loss of SigLIP.

Paper: Zhai et al., "Sigmoid Loss for Language Image Pre-Training" (arXiv 2303.15343), section 3.1 and
Algorithm 1. Upstream: big_vision `trainers/proj/image_text/siglip.py`; HF `Siglip2Model.forward(return_loss=True)`.

Every image-text pair is an independent binary classification: the n matching pairs (the diagonal) are
positives, the n*(n-1) others negatives. Unlike the softmax (InfoNCE) loss of CLIP there is no normalisation
over the batch, so no global view of the logits is needed.

Shapes: n = number of image-text pairs, D = embedding width.
"""

import math

import torch
import torch.nn.functional as F

# Initial values for training from scratch (paper section 3.1, big_vision `siglip.py`): t' = log 10 and b = -10.
# The bias starts strongly negative because n-1 of every n pairs are negatives. HF initialises both to 0,
# which is fine for loading checkpoints but wrong for training.
INIT_LOGIT_SCALE = math.log(10.0)
INIT_LOGIT_BIAS = -10.0


def pair_logits(image_embeds, text_embeds, logit_scale, logit_bias):
    """Logits of every (text, image) pair: normalised embeddings, cosine times exp(logit_scale) plus bias.

    `logit_scale` is the log of the temperature: checkpoints store log(t), and the model multiplies by exp.
    """
    image_embeds = F.normalize(image_embeds, dim=-1)  # [n, D]
    text_embeds = F.normalize(text_embeds, dim=-1)  # [n, D]
    return text_embeds @ image_embeds.T * logit_scale.exp() + logit_bias  # [n_text, n_image]


def sigmoid_loss(image_embeds, text_embeds, logit_scale, logit_bias):
    """Mean over texts of the summed binary log-loss over all images.

    `-log sigmoid(z * logit)` with z = +1 on the diagonal and -1 elsewhere, computed by `logsigmoid`, which is
    stable for large |logit|. Embeddings need not be normalised: this normalises them, as the model does.
    """
    if image_embeds.ndim != 2 or text_embeds.ndim != 2 or image_embeds.shape != text_embeds.shape:
        raise ValueError(
            "sigmoid_loss needs image and text embeddings of the same shape [n, D], got "
            f"{tuple(image_embeds.shape)} and {tuple(text_embeds.shape)}"
        )
    logits = pair_logits(image_embeds, text_embeds, logit_scale, logit_bias)  # [n, n]
    n = logits.shape[0]
    z = 2 * torch.eye(n, device=logits.device, dtype=logits.dtype) - 1  # [n, n] +1 positives, -1 negatives
    return -F.logsigmoid(z * logits).sum(dim=-1).mean()
