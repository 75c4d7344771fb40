"""Exercise 10: fine-tune the bundled tiny model, then read what it learned (docs/exercises/ex10_finetune.md).

Check your solution with:  pytest docs/exercises/checks/test_ex10_finetune.py
"""

import torch


def finetune(model, processor, images, captions, steps, lr=1e-3):
    """Train `model` in place on the pairs (images[i], captions[i]) with the sigmoid loss.

    Args:
        model: a `siglip2_min.SigLIP2`, as `siglip2_min.load_model()` returns it (eval mode, gradients off).
        processor: its `siglip2_min.load_processor()`.
        images: n PIL images; captions: n strings, caption i describes image i.
        steps: the number of optimiser steps, all n pairs in one batch each time.
        lr: the learning rate of torch.optim.AdamW (other settings at their defaults).

    Returns:
        list of `steps` floats: the loss of the batch before each step (the first is the untouched model's).
        Leave the model in eval mode.
    """
    raise NotImplementedError("write finetune")


def top1(model, processor, images, labels):
    """The best label for each image: the label whose text scores highest with it (labels used as given).

    Returns:
        list of len(images) strings, each one of `labels`.
    """
    raise NotImplementedError("write top1")
