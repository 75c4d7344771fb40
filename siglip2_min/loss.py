"""The pairwise sigmoid loss of SigLIP: on one device, in chunks, and spread over torch.distributed ranks.

Paper: Zhai et al., "Sigmoid Loss for Language Image Pre-Training" (arXiv 2303.15343), section 3.1,
Algorithm 1 and section 3.3 (the "chunked" multi-device implementation). Upstream: big_vision
`trainers/proj/image_text/siglip.py`; HF `Siglip2Model.forward(return_loss=True)` (single device only).

Every image-text pair is an independent binary classification: the n matching pairs (the diagonal) are
positives, the n*(n-1) others negatives. Unlike the softmax (InfoNCE) loss of CLIP there is no normalisation
over the batch, so the loss is a plain sum over blocks of the logit matrix: it can be computed a block of rows
at a time (`chunked_sigmoid_loss`) or with each device holding its own pairs and seeing the other devices'
texts one neighbour exchange at a time (`distributed_sigmoid_loss`). All three return the same number.

Shapes: n = number of image-text pairs (global), b = pairs on one rank, c = chunk size, D = embedding width,
W = world size (number of ranks).
"""

import math

import torch
import torch.distributed as dist
import torch.nn.functional as F

from .checks import check_int

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


def _check_pairs(name, image_embeds, text_embeds):
    if image_embeds.ndim != 2 or text_embeds.ndim != 2 or image_embeds.shape != text_embeds.shape:
        raise ValueError(
            f"{name} needs image and text embeddings of the same shape [n, D], got "
            f"{tuple(image_embeds.shape)} and {tuple(text_embeds.shape)}"
        )


def sigmoid_loss(image_embeds, text_embeds, logit_scale, logit_bias):
    """Mean over texts of the summed binary log-loss over all images.

    `-log sigmoid(z * logit)` with z = +1 on the diagonal and -1 elsewhere, computed by `logsigmoid`, which is
    stable for large |logit|. Embeddings need not be normalised: this normalises them, as the model does.
    Materialises the n x n logits several times over (forward and backward); see `chunked_sigmoid_loss`.
    """
    _check_pairs("sigmoid_loss", image_embeds, text_embeds)
    logits = pair_logits(image_embeds, text_embeds, logit_scale, logit_bias)  # [n, n]
    n = logits.shape[0]
    z = 2 * torch.eye(n, device=logits.device, dtype=logits.dtype) - 1  # [n, n] +1 positives, -1 negatives
    return -F.logsigmoid(z * logits).sum(dim=-1).mean()


class _ChunkedSigmoidLoss(torch.autograd.Function):
    """Sum over all pairs of softplus(-z * logit), a block of c text rows at a time, forward and backward.

    Plain autograd over a loop of chunks would keep every chunk's [c, n] logits alive until the backward,
    i.e. the full n x n again. Here the forward keeps only the (normalised) embeddings, and the backward
    recomputes each chunk's logits, so the peak extra memory is two [c, n] buffers.
    -log sigmoid(z x) = softplus(-z x): softplus(x) for negatives, softplus(-x) for positives. The chunk at i0 covers
    texts i0..i0+c, whose positives sit on the diagonal of columns i0..i0+c: `logits.diagonal(i0)`.
    """

    @staticmethod
    def forward(ctx, image, text, logit_scale, logit_bias, chunk_size):
        ctx.save_for_backward(image, text, logit_scale, logit_bias)
        ctx.chunk_size = chunk_size
        dt, scale, bias = _logit_dtype(image, logit_scale, logit_bias)
        total = torch.zeros((), dtype=torch.promote_types(dt, torch.float32), device=image.device)
        for i0 in range(0, text.shape[0], chunk_size):
            u = (text[i0 : i0 + chunk_size] @ image.T).to(dt)  # [c, D] @ [D, n] -> [c, n] cosines
            u.mul_(scale).add_(bias)  # [c, n] logits
            u.diagonal(i0).neg_()  # [c, n] -z * logits: positives flipped
            # softplus(u) = max(u, 0) + log1p(exp(-|u|)), in place. Not F.softplus: it returns u itself above
            # u = 20, an error of e^-20 ~ 2e-9 per term, visible in float64.
            total += F.relu(u).sum()
            total += u.abs_().neg_().exp_().log1p_().sum()
        return (total / text.shape[0]).to(dt)  # mean over texts, as in sigmoid_loss

    @staticmethod
    def backward(ctx, grad_out):
        image, text, logit_scale, logit_bias = ctx.saved_tensors
        dt, scale, bias = _logit_dtype(image, logit_scale, logit_bias)
        g_scale = grad_out.to(dt) / text.shape[0]  # d(loss)/d(sum of the terms)
        grad_image = torch.zeros_like(image)  # [n, D]
        grad_text = torch.empty_like(text)  # [n, D]
        acc = dict(dtype=torch.promote_types(dt, torch.float32), device=image.device)
        grad_cos_dot = torch.zeros((), **acc)  # sum of dterm/dlogit * cosine, for logit_scale
        grad_bias = torch.zeros((), **acc)  # sum of dterm/dlogit, for logit_bias
        for i0 in range(0, text.shape[0], ctx.chunk_size):
            t = text[i0 : i0 + ctx.chunk_size]  # [c, D]
            cos = (t @ image.T).to(dt)  # [c, n]
            g = cos * scale + bias  # [c, n] logits
            # d softplus(-z x)/dx = -z * sigmoid(-z x): flip the diagonal, sigmoid, flip back.
            g.diagonal(i0).neg_()
            g.sigmoid_()
            g.diagonal(i0).neg_()  # [c, n] dterm/dlogit
            grad_cos_dot += torch.vdot(g.reshape(-1), cos.reshape(-1))
            grad_bias += g.sum()
            g = g.to(image.dtype)  # a no-op unless the logit parameters are wider than the embeddings
            grad_text[i0 : i0 + ctx.chunk_size] = g @ image * (scale * g_scale)  # [c, n] @ [n, D] -> [c, D]
            grad_image += g.T @ t * (scale * g_scale)  # [n, c] @ [c, D] -> [n, D]
        # logit = cos * exp(logit_scale) + logit_bias, so dlogit/dlogit_scale = cos * exp(logit_scale).
        grad_logit_scale = (grad_cos_dot * scale * g_scale).reshape(logit_scale.shape).to(logit_scale.dtype)
        grad_logit_bias = (grad_bias * g_scale).reshape(logit_bias.shape).to(logit_bias.dtype)
        return grad_image, grad_text, grad_logit_scale, grad_logit_bias, None


def _logit_dtype(image, logit_scale, logit_bias):
    """The dtype `sigmoid_loss` computes the logits in (e.g. float32 for bfloat16 embeddings and float32
    logit parameters), with exp(logit_scale) and logit_bias as 0-d tensors of that dtype."""
    dt = torch.promote_types(torch.promote_types(image.dtype, logit_scale.dtype), logit_bias.dtype)
    return dt, logit_scale.to(dt).exp().reshape(()), logit_bias.to(dt).reshape(())


def chunked_sigmoid_loss(image_embeds, text_embeds, logit_scale, logit_bias, chunk_size):
    """`sigmoid_loss` (same value, same gradients) without the n x n logits: peak extra memory O(n * chunk_size).

    The texts are processed `chunk_size` rows at a time; `chunk_size` need not divide n. Differentiable in
    all four inputs (first order only: no double backward).
    """
    _check_pairs("chunked_sigmoid_loss", image_embeds, text_embeds)
    chunk_size = check_int(chunk_size, "chunk_size")
    image = F.normalize(image_embeds, dim=-1)  # [n, D]
    text = F.normalize(text_embeds, dim=-1)  # [n, D]
    return _ChunkedSigmoidLoss.apply(image, text, logit_scale, logit_bias, chunk_size)


class _RingShift(torch.autograd.Function):
    """Send a tensor to the next rank and receive the previous rank's; the backward sends gradients back.

    Forward: rank r sends x to r+1 and receives y from r-1 (mod W). Backward: dL/dy belongs to rank r-1's x,
    so it goes back to r-1, while rank r receives dL/dx from r+1. Every rank must run both passes.
    """

    @staticmethod
    def forward(ctx, x, recv_rows, group):
        ctx.group, ctx.x_shape = group, x.shape
        rank, world = dist.get_rank(group), dist.get_world_size(group)
        nxt = dist.get_global_rank(group, (rank + 1) % world) if group is not None else (rank + 1) % world
        prv = dist.get_global_rank(group, (rank - 1) % world) if group is not None else (rank - 1) % world
        ctx.nxt, ctx.prv = nxt, prv
        y = x.new_empty((recv_rows, x.shape[1]))  # [b_prev, D]
        _send_recv(x.contiguous(), nxt, y, prv, group)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        grad_x = grad_y.new_empty(ctx.x_shape)  # [b, D]
        _send_recv(grad_y.contiguous(), ctx.prv, grad_x, ctx.nxt, ctx.group)
        return grad_x, None, None


def _send_recv(send, dst, recv, src, group):
    ops = [dist.P2POp(dist.isend, send, dst, group), dist.P2POp(dist.irecv, recv, src, group)]
    for req in dist.batch_isend_irecv(ops):
        req.wait()


def _block_terms(image, text, logit_scale, logit_bias, positives):
    """Sum of the binary log-losses of one [b_text, b_image] block; `positives` only for the local block."""
    logits = text @ image.T * logit_scale.exp() + logit_bias  # [b_t, D] @ [D, b_i] -> [b_t, b_i]
    z_logits = -logits  # [b_t, b_i] z = -1: negatives
    if positives:
        z_logits = z_logits + 2 * torch.diag_embed(logits.diagonal())  # [b, b] z = +1 on the diagonal
    return -F.logsigmoid(z_logits).sum()


def distributed_sigmoid_loss(image_embeds, text_embeds, logit_scale, logit_bias, group=None):
    """The global-batch `sigmoid_loss`, with each rank holding only its own pairs (W-1 ring exchanges of texts).

    Rank r holds b_r pairs; the global batch is their concatenation in rank order (n = sum of b_r). Rank r
    computes every term whose *image* is local: its [b_r, b_r] block with the positives, then, as the
    other ranks' text embeddings travel round the ring one neighbour at a time, their all-negative blocks.
    Gradients flow back through the exchange to the ranks that own the texts. Local batch sizes may differ
    (they are gathered first); every rank needs at least one pair and the same D. Call it on every rank of
    `group`, in the forward and in the backward (it is collective).

    Normalisation (for DDP, which AVERAGES parameter gradients over ranks): rank r returns
    W * l_r, where l_r = (rank r's terms) / n, so that sum_r l_r = sigmoid_loss(global batch). Hence:
      - mean over ranks of the returned values == the global loss;
      - after backward on every rank, the mean over ranks of the gradient of any replicated parameter
        (logit_scale, logit_bias, or any DDP parameter) == its global-batch gradient: exactly what DDP applies;
      - the gradient w.r.t. rank r's own embeddings == W times the global gradient w.r.t. those rows
        (the factor W that DDP's averaging then divides out).
    """
    _check_pairs("distributed_sigmoid_loss", image_embeds, text_embeds)
    if not dist.is_available() or not dist.is_initialized():
        raise RuntimeError(
            "distributed_sigmoid_loss needs torch.distributed initialised; use sigmoid_loss on one process"
        )
    rank, world = dist.get_rank(group), dist.get_world_size(group)
    if rank < 0:
        raise ValueError(f"rank {dist.get_rank()} is not a member of the process group passed as `group`")
    # Gather (b_r, D) of every rank: the ring must know how many rows arrive at each step.
    shape = torch.tensor(image_embeds.shape, dtype=torch.int64, device=image_embeds.device)  # [2]
    shapes = [torch.empty_like(shape) for _ in range(world)]  # W x [2]
    dist.all_gather(shapes, shape, group=group)
    sizes = [int(s[0]) for s in shapes]
    widths = {int(s[1]) for s in shapes}
    if min(sizes) < 1 or len(widths) != 1:
        per_rank = [s.tolist() for s in shapes]
        raise ValueError(f"every rank needs >= 1 pair and the same width D; got [b, D] per rank: {per_rank}")

    image = F.normalize(image_embeds, dim=-1)  # [b_r, D]
    text = F.normalize(text_embeds, dim=-1)  # [b_r, D]
    total = _block_terms(image, text, logit_scale, logit_bias, positives=True)
    for step in range(1, world):
        # After `step` shifts, this rank holds the texts of rank r - step (mod W).
        text = _RingShift.apply(text, sizes[(rank - step) % world], group)  # [b_{r-step}, D]
        total = total + _block_terms(image, text, logit_scale, logit_bias, positives=False)
    return total * (world / sum(sizes))
