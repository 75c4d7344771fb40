"""The two-tower SigLIP2 model in numpy: both towers, the pair logits and the sigmoid loss.

Mirrors `siglip2_min/model.py` (SigLIP2) and `siglip2_min/loss.py` (pair_logits, sigmoid_loss). Paper: SigLIP
(arXiv 2303.15343) section 3.1 and Algorithm 1. Upstream: big_vision `models/proj/image_text/two_towers.py`,
`trainers/proj/image_text/siglip.py`; HF `Siglip2Model.forward`.

Letters: B images, N patch slots, P embedding width, T texts, L tokens per text.
"""

import numpy as np

from .text import text_transformer
from .vision import vision_transformer


def l2_normalize(x):
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)  # [n, P] rows of unit length


def pair_logits(image_embeds, text_embeds, logit_scale, logit_bias):
    """logits_per_text [T, B]: cosine of every (text, image) pair times exp(logit_scale), plus logit_bias.

    Checkpoints store the log of the temperature, so the model multiplies by its exp.
    """
    image_embeds = l2_normalize(image_embeds)  # [B, P]
    text_embeds = l2_normalize(text_embeds)  # [T, P]
    return text_embeds @ image_embeds.T * np.exp(logit_scale) + logit_bias  # [T, P] @ [P, B] -> [T, B]


def log_sigmoid(x):
    return -np.logaddexp(0.0, -x)  # log(1 / (1 + e^-x)), finite for any |x| (a naive log(sigmoid) gives -inf)


def sigmoid_loss(image_embeds, text_embeds, logit_scale, logit_bias):
    """Mean over texts of the summed binary log-loss over all images: diagonal pairs positive, the rest negative."""
    if image_embeds.ndim != 2 or image_embeds.shape != text_embeds.shape:
        raise ValueError("sigmoid_loss needs image and text embeddings of the same shape [n, P], got "
                         f"{image_embeds.shape} and {text_embeds.shape}")
    logits = pair_logits(image_embeds, text_embeds, logit_scale, logit_bias)  # [n, n]
    z = 2 * np.eye(len(logits), dtype=logits.dtype) - 1  # [n, n] +1 positives, -1 negatives
    return -log_sigmoid(z * logits).sum(axis=-1).mean()  # [n, n] -> [n] -> scalar


class SigLIP2:
    """Holds the parameters and config; every computation is one of the pure functions of this package."""

    def __init__(self, params, config, dtype):
        self.params, self.config, self.dtype = params, config, np.dtype(dtype)

    def encode_image(self, pixel_values, pixel_attention_mask, spatial_shapes, return_intermediates=False):
        """[B, N, p*p*C] patches, [B, N] mask (1 = real), [B, 2] (h, w) grids -> [B, P] (not normalised)."""
        pixel_values, mask, shapes = self._check_image_inputs(pixel_values, pixel_attention_mask, spatial_shapes)
        v = self.config["vision"]
        pooled, out = vision_transformer(pixel_values, mask, shapes, self.params["vision_model"], v["num_heads"],
                                         v["eps"], resize=self.config["family"] == "naflex")
        return (pooled, out) if return_intermediates else pooled

    def encode_text(self, input_ids, return_intermediates=False):
        """[T, L] token ids (L = 64 as trained) -> [T, P] (not normalised)."""
        input_ids = self._check_input_ids(input_ids)
        t = self.config["text"]
        pooled, out = text_transformer(input_ids, self.params["text_model"], t["num_heads"], t["eps"])
        return (pooled, out) if return_intermediates else pooled

    def __call__(self, input_ids, pixel_values, pixel_attention_mask, spatial_shapes, return_loss=False):
        image = self.encode_image(pixel_values, pixel_attention_mask, spatial_shapes)  # [B, P]
        text = self.encode_text(input_ids)  # [T, P]
        if image.shape[1] != text.shape[1]:
            raise ValueError(f"image embeddings are {image.shape[1]} wide but text embeddings {text.shape[1]}")
        scale, bias = self.params["logit_scale"][0], self.params["logit_bias"][0]
        logits_per_text = pair_logits(image, text, scale, bias)  # [T, B]
        out = dict(logits_per_image=logits_per_text.T, logits_per_text=logits_per_text,
                   image_embeds=l2_normalize(image), text_embeds=l2_normalize(text))
        if return_loss:
            out["loss"] = sigmoid_loss(image, text, scale, bias)
        return out

    def _check_image_inputs(self, pixel_values, pixel_attention_mask, spatial_shapes):
        v = self.config["vision"]
        pixel_values = np.asarray(pixel_values)
        mask = np.asarray(pixel_attention_mask)
        shapes = np.asarray(spatial_shapes)
        P = v["patch_size"] ** 2 * v["num_channels"]
        if pixel_values.ndim != 3 or pixel_values.shape[2] != P:
            raise ValueError(f"pixel_values must be patches [B, N, {P}] (patch {v['patch_size']}, "
                             f"(py, px, c) order), got shape {pixel_values.shape}")
        if not np.issubdtype(pixel_values.dtype, np.floating):
            raise TypeError(f"pixel_values must be floating point, got {pixel_values.dtype}")
        B, N, _ = pixel_values.shape
        if mask.shape != (B, N):
            raise ValueError(f"pixel_attention_mask must have shape {(B, N)}, got {mask.shape}")
        if shapes.shape != (B, 2) or not np.issubdtype(shapes.dtype, np.integer):
            raise ValueError(f"spatial_shapes must be integers of shape {(B, 2)}, got {shapes.dtype} {shapes.shape}")
        G = int(round(self.params["vision_model"]["embeddings"]["position_embedding"]["weight"].shape[0] ** 0.5))
        for i, (h, w) in enumerate(shapes.tolist()):
            if h < 1 or w < 1 or h * w > N:
                raise ValueError(f"image {i}: spatial shape {(h, w)} must be positive and fit in {N} patch slots")
            if self.config["family"] == "fixres" and (h, w) != (G, G):
                raise ValueError(f"image {i}: a FixRes checkpoint takes a {G}x{G} patch grid, got {(h, w)}")
            if not np.array_equal(mask[i], np.arange(N) < h * w):
                raise ValueError(f"image {i}: pixel_attention_mask must be {h * w} ones (h*w of spatial shape "
                                 f"{(h, w)}) followed by zeros")
        return pixel_values.astype(self.dtype, copy=False), mask.astype(bool), [tuple(s) for s in shapes.tolist()]

    def _check_input_ids(self, input_ids):
        input_ids = np.asarray(input_ids)
        V, L = (self.params["text_model"]["embeddings"][k]["weight"].shape[0]
                for k in ("token_embedding", "position_embedding"))
        if input_ids.ndim != 2 or not np.issubdtype(input_ids.dtype, np.integer):
            raise ValueError(f"input_ids must be integer token ids [T, {L}], got {input_ids.dtype} {input_ids.shape}")
        if input_ids.shape[1] > L:
            raise ValueError(f"input_ids has {input_ids.shape[1]} tokens per text, the model has {L} positions")
        if input_ids.size and (input_ids.min() < 0 or input_ids.max() >= V):
            raise ValueError(f"input_ids must be in [0, {V}), got values in [{input_ids.min()}, {input_ids.max()}]")
        return input_ids
