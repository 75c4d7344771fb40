"""The reference solutions: the project's own functions, wrapped to each exercise's signature.

`_exercise.implementation` calls the function named after the exercise when SIGLIP2_EXERCISE_SOLUTIONS=1. This
file stays out of the students' handout (`python -m siglip2_min.exercises handout`), which is how the handout
holds no solution.
"""

import torch


def ex1_target_size():
    from siglip2_min.naflex import target_size

    return target_size


def ex2_patchify():
    from siglip2_min.naflex import patchify

    return patchify


def ex3_pad_tokens():
    # The project's Tokenizer does this in `encode` (truncate, then EOS) and `__call__` (pad to `length`). Here its
    # SentencePiece step is replaced by a stand-in that returns the given pieces, so the rest runs unchanged.
    from siglip2_min.tokenizer import Tokenizer

    class GivenPieces:
        def __init__(self, pieces):
            self.pieces = pieces

        def encode(self, texts):
            return [list(self.pieces) for _ in texts]

    def pad_ids(pieces, length=64):
        # the check `Tokenizer.__init__` makes on `length`; __init__ itself would need a tokenizer.model file
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ValueError(f"length must be an int >= 1, got {length!r}")
        tokenizer = Tokenizer.__new__(Tokenizer)
        tokenizer.length, tokenizer.sp = length, GivenPieces(pieces)
        return tokenizer(["unused: the pieces are given"])[0].tolist()

    return pad_ids


def ex4_resize_weights():
    from siglip2_min.vision import resize_weights

    return resize_weights


def ex5_resize_position_table():
    from siglip2_min.vision import resize_position_table

    return resize_position_table


def ex6_map_pool():
    from siglip2_min.config import VisionConfig
    from siglip2_min.vision import MAPHead

    def map_pool(x, mask, params, num_heads, eps=1e-6):
        D, M = x.shape[-1], params["mlp.fc1.weight"].shape[0]
        head = MAPHead(VisionConfig(hidden_size=D, intermediate_size=M, num_attention_heads=num_heads,
                                    layer_norm_eps=eps)).to(x.dtype)
        head.load_state_dict(params)  # the checkpoint's names, loaded as is
        with torch.no_grad():
            return head(x, mask.bool())

    return map_pool


def ex7_sigmoid_loss():
    from siglip2_min.loss import sigmoid_loss

    return sigmoid_loss


def ex8_masked_attention():
    from siglip2_min.layers import multi_head_attention

    def attention(q, k, v, num_heads, key_mask=None):
        # the fused path: the eager one takes its softmax in float32, ~1e-7 off the float64 formula
        return multi_head_attention(q, k, v, num_heads, key_mask=key_mask, attn="sdpa")

    return attention


def ex9_loss_backward():
    from siglip2_min.loss import chunked_sigmoid_loss

    def chunked_loss_grads(image_embeds, text_embeds, logit_scale, logit_bias, chunk_size):
        # the project's loss has its own chunked backward (an autograd.Function); autograd only calls it
        inputs = [x.detach().requires_grad_() for x in (image_embeds, text_embeds, logit_scale, logit_bias)]
        with torch.enable_grad():
            loss = chunked_sigmoid_loss(*inputs, chunk_size)
        return torch.autograd.grad(loss, inputs)

    return chunked_loss_grads


def ex10_finetune():
    # The reference is written here from public calls (model(..., return_loss=True), torch's AdamW): the project's
    # own trainer (siglip2_min.train) adds schedules and groups this exercise does not ask for.
    def finetune(model, processor, images, captions, steps, lr=1e-3):
        inputs = processor(images=images, text=captions)
        model.requires_grad_(True).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
        losses = []
        for _ in range(steps):
            loss = model(**inputs, return_loss=True).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        model.requires_grad_(False).eval()
        return losses

    def top1(model, processor, images, labels):
        with torch.no_grad():
            logits = model(**processor(images=images, text=labels)).logits_per_image  # [images, labels]
        return [labels[i] for i in logits.argmax(dim=-1).tolist()]

    return {"finetune": finetune, "top1": top1}
