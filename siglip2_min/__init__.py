"""siglip2-min: a compact, readable PyTorch implementation of Google's SigLIP2 image-text encoders."""

from .loss import sigmoid_loss

__all__ = ["sigmoid_loss"]
