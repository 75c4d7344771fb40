"""Exercise 9: the backward pass of the chunked sigmoid loss (docs/exercises/ex9_loss_backward.md).

Check your solution with:  pytest docs/exercises/checks/test_ex9_loss_backward.py
"""

import torch


def chunked_loss_grads(image_embeds, text_embeds, logit_scale, logit_bias, chunk_size):
    """The gradients of the sigmoid loss with respect to its four inputs, without autograd and without n x n.

    The loss is exercise 7's: L = -(1/n) sum_i sum_j log sigmoid(z_ij * logit_ij), with
    logit_ij = cos(text_i, image_j) * exp(logit_scale) + logit_bias and z = +1 on the diagonal, -1 elsewhere.

    Args:
        image_embeds, text_embeds: [n, D] matching pairs (row i of each), not normalised.
        logit_scale, logit_bias: tensors of shape [1].
        chunk_size: c; work on c texts (rows of the logits) at a time, so that no tensor of n x n values is
            ever made (at most c x n).

    Returns:
        (dL/d image_embeds [n, D], dL/d text_embeds [n, D], dL/d logit_scale [1], dL/d logit_bias [1]), each in
        its input's dtype. Autograd is not available: the checks call this under torch.no_grad().
    """
    raise NotImplementedError("write the chunked backward")
