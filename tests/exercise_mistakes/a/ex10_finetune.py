"""Mistake: the loss recorded after the optimiser step (so the first one is not the untouched model's)."""

import torch


def finetune(model, processor, images, captions, steps, lr=1e-3):
    inputs = processor(images=images, text=captions)
    model.requires_grad_(True).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        model(**inputs, return_loss=True).loss.backward()
        optimizer.step()
        with torch.no_grad():
            losses.append(model(**inputs, return_loss=True).loss.item())
    model.eval()
    return losses


def top1(model, processor, images, labels):
    with torch.no_grad():
        logits = model(**processor(images=images, text=labels)).logits_per_image
    return [labels[i] for i in logits.argmax(dim=-1).tolist()]
