"""The two-tower SigLIP2 model in numpy: both towers, the pair logits and the sigmoid loss.

Mirrors `siglip2_min/model.py` (SigLIP2, ImageClassifier) and `siglip2_min/loss.py` (pair_logits,
sigmoid_loss). Paper: SigLIP
(arXiv 2303.15343) section 3.1 and Algorithm 1. Upstream: big_vision `models/proj/image_text/two_towers.py`,
`trainers/proj/image_text/siglip.py`; HF `Siglip2Model.forward`.

Letters (docs/model/index.md): B images, N patch slots, D vision width, E embedding width, T texts, L tokens per
text, C classes.
"""

import numpy as np

from .checks import check_image_inputs, check_text_inputs
from .layers import linear
from .text import text_transformer
from .vision import vision_transformer


def l2_normalize(x):
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)  # [n, E] rows of unit length


def pair_logits(image_embeds, text_embeds, logit_scale, logit_bias):
    """logits_per_text [T, B]: cosine of every (text, image) pair times exp(logit_scale), plus logit_bias.

    Checkpoints store the log of the temperature, so the model multiplies by its exp.
    """
    image_embeds = l2_normalize(image_embeds)  # [B, E]
    text_embeds = l2_normalize(text_embeds)  # [T, E]
    return text_embeds @ image_embeds.T * np.exp(logit_scale) + logit_bias  # [T, E] @ [E, B] -> [T, B]


def log_sigmoid(x):
    return -np.logaddexp(0.0, -x)  # log(1 / (1 + e^-x)), finite for any |x| (a naive log(sigmoid) gives -inf)


def sigmoid_loss(image_embeds, text_embeds, logit_scale, logit_bias):
    """Mean over texts of the summed binary log-loss over all images: diagonal pairs positive, the rest negative."""
    if image_embeds.ndim != 2 or image_embeds.shape != text_embeds.shape:
        raise ValueError("sigmoid_loss needs image and text embeddings of the same shape [n, E], got "
                         f"{image_embeds.shape} and {text_embeds.shape}")
    logits = pair_logits(image_embeds, text_embeds, logit_scale, logit_bias)  # [n, n]
    z = 2 * np.eye(len(logits), dtype=logits.dtype) - 1  # [n, n] +1 positives, -1 negatives
    return -log_sigmoid(z * logits).sum(axis=-1).mean()  # [n, n] -> [n] -> scalar


class SigLIP2:
    """Holds the parameters and config; every computation is one of the pure functions of this package."""

    def __init__(self, params, config, dtype):
        self.params, self.config, self.dtype = params, config, np.dtype(dtype)

    def encode_image(self, pixel_values, pixel_attention_mask=None, spatial_shapes=None, return_intermediates=False):
        """Pooled image embeddings [B, E], before normalisation; with intermediates, (pooled, dict).

        Inputs: patches [B, N, p*p*C] in (py, px, c) order, mask [B, N] (1 = real patch), grids [B, 2] (h, w).
        A FixRes model may omit the last two (its one grid, no padding).
        """
        pixel_values = as_float(pixel_values, "pixel_values", self.dtype)
        mask, spatial_shapes = check_image_inputs(self.config["vision"], pixel_values, pixel_attention_mask,
                                                  spatial_shapes)  # [B, N] or None, [B, 2]
        _, pooled, out = vision_transformer(pixel_values, mask, spatial_shapes, self.params["vision_model"],
                                            self.config["vision"])  # [B, E]
        return (pooled, out) if return_intermediates else pooled

    def encode_text(self, input_ids, return_intermediates=False):
        """Pooled text embeddings [T, E] from token ids [T, 64], before normalisation; with intermediates,
        (pooled, dict)."""
        input_ids = np.asarray(input_ids)
        check_text_inputs(self.config["text"], input_ids)
        pooled, out = text_transformer(input_ids, self.params["text_model"], self.config["text"])  # [T, E]
        return (pooled, out) if return_intermediates else pooled

    def __call__(self, input_ids=None, pixel_values=None, pixel_attention_mask=None, spatial_shapes=None,
                 return_loss=False):
        """Either tower alone, or both with their logits (and the sigmoid loss on B == T matching pairs).

        Returns a dict: image_embeds [B, E], text_embeds [T, E] (L2-normalised), logits_per_image [B, T],
        logits_per_text [T, B], and loss with return_loss=True; entries of a tower that was not run are absent.
        """
        out = {}
        if pixel_values is not None:
            image = self.encode_image(pixel_values, pixel_attention_mask, spatial_shapes)  # [B, E]
            out["image_embeds"] = l2_normalize(image)  # [B, E]
        if input_ids is not None:
            text = self.encode_text(input_ids)  # [T, E]
            out["text_embeds"] = l2_normalize(text)  # [T, E]
        if len(out) < 2:
            if return_loss:
                raise ValueError("return_loss=True needs both input_ids and pixel_values")
            return out
        if image.shape[1] != text.shape[1]:
            raise ValueError(f"image embeddings are {image.shape[1]} wide but text embeddings {text.shape[1]}")
        scale, bias = self.params["logit_scale"][0], self.params["logit_bias"][0]  # [1] -> scalars
        out["logits_per_text"] = pair_logits(image, text, scale, bias)  # [T, B]
        out["logits_per_image"] = out["logits_per_text"].T  # [B, T]
        if return_loss:
            out["loss"] = sigmoid_loss(image, text, scale, bias)  # scalar
        return out


class ImageClassifier:
    """HF `Siglip2ForImageClassification`: the vision tower, mean-pooled over valid patches, then a Linear.

    The MAP head is not used (HF keeps its weights in the checkpoint but averages instead; weights.py skips them).
    """

    def __init__(self, params, config, dtype):
        self.params, self.config, self.dtype = params, config, np.dtype(dtype)

    def __call__(self, pixel_values, pixel_attention_mask=None, spatial_shapes=None, return_intermediates=False):
        """Class logits [B, C]; with intermediates, (logits, dict)."""
        pixel_values = as_float(pixel_values, "pixel_values", self.dtype)
        mask, spatial_shapes = check_image_inputs(self.config["vision"], pixel_values, pixel_attention_mask,
                                                  spatial_shapes)  # [B, N] or None, [B, 2]
        x, _, out = vision_transformer(pixel_values, mask, spatial_shapes, self.params["vision_model"],
                                       self.config["vision"])  # [B, N, D]
        m = (np.ones(x.shape[:2]) if mask is None else mask).astype(x.dtype)[..., None]  # [B, N, 1] 1 = patch
        pooled = (x * m).sum(axis=1) / m.sum(axis=1)  # [B, N, D] -> [B, D], mean over valid patches only
        logits = linear(pooled, **self.params["classifier"])  # [B, C]
        return (logits, out) if return_intermediates else logits


def as_float(array, name, dtype):
    array = np.asarray(array)
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(f"{name} must be floating point, got dtype {array.dtype}")
    return array.astype(dtype, copy=False)
