"""Exercise 7: the pairwise sigmoid loss of SigLIP (docs/exercises/ex7_sigmoid_loss.md).

Check your solution with:  pytest docs/exercises/checks/test_ex7_sigmoid_loss.py
"""

import torch


def sigmoid_loss(image_embeds, text_embeds, logit_scale, logit_bias):
    """The SigLIP loss of n matching image-text pairs.

    Args:
        image_embeds: `[n, D]` image embeddings, not necessarily normalised (normalise them).
        text_embeds: `[n, D]` text embeddings; text i describes image i.
        logit_scale: 1-element tensor, the LOG of the temperature.
        logit_bias: 1-element tensor, the bias b.

    Returns:
        A scalar tensor: minus the mean over texts of the sum over images of log sigmoid(z * logit), where
        logit[i, j] = cos(text_i, image_j) * exp(logit_scale) + logit_bias and z = +1 on the diagonal, -1 elsewhere.
        It must stay finite for large logits, and gradients must flow to all four inputs.
        Embeddings of different shapes raise ValueError.
    """
    raise NotImplementedError("write the sigmoid loss")
