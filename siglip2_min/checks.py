"""What a user hands in, checked once where it comes in.

Tensors, at the model's entry points (`SigLIP2.encode_image` / `encode_text` / `forward`, `ImageClassifier.forward`),
and config values (`check_fields`, run when a config is built, e.g. from a `config.json`).

The towers are pure math: they trust their inputs and never read a value back to the host, so they compile as one
graph and export. These checks run once where a user hands inputs in, read the values they need on the host, and
return the inputs in the form the towers take. A caller that built its inputs itself (the exporter, a compiled
training loop) passes `check=False` to skip them. The numpy twin has the same checks in `reference_numpy/checks.py`.

Every check here prevents a silently wrong result, not just a traceback: a mask that disagrees with the grids
would misplace every position embedding; a text that is not 64 tokens long pools the wrong position.

Numbers, in Python calls and as `argparse` types on command lines:

    check_int(batch_size, "batch_size")             # an int >= 1, else TypeError/ValueError naming it
    parser.add_argument("--steps", type=arg_int(0))  # an int >= 0, else argparse's one-line usage error
    parser.add_argument("--lr", type=arg_float(0, strict=True))  # a finite float > 0
"""

import argparse
import math
import numbers
from dataclasses import fields

import torch

# Bounds on every integer field: far above every published checkpoint, low enough that a typo or a hostile
# config.json (num_hidden_layers = 1e9) fails at once instead of allocating for hours.
LIMITS = dict(
    hidden_size=65536, intermediate_size=262144, num_hidden_layers=1024, num_attention_heads=1024, num_channels=16,
    patch_size=1024, num_patches=1 << 20, image_size=1 << 16, vocab_size=1 << 22, max_position_embeddings=1 << 16,
    projection_size=65536,
)


def check_fields(config, prefix):
    """Types and ranges of a tower config's values; errors name the config.json key (`vision_config.patch_size`)."""
    for f in fields(config):
        value = getattr(config, f.name)
        if f.name in LIMITS and not (value is None and f.name == "image_size"):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= LIMITS[f.name]:
                raise ValueError(f"{prefix}.{f.name} is {value!r}: expected an integer in [1, {LIMITS[f.name]}]")
    eps = config.layer_norm_eps
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps < 1:
        raise ValueError(f"{prefix}.layer_norm_eps is {eps!r}: expected a number in (0, 1), 1e-6 for SigLIP2")
    if config.hidden_size % config.num_attention_heads:
        raise ValueError(f"{prefix}.hidden_size {config.hidden_size} is not divisible by num_attention_heads "
                         f"{config.num_attention_heads}")


def check_image_inputs(config, pixel_values, pixel_attention_mask, spatial_shapes):
    """Validate the patch inputs; returns (mask [B, N] or None when no slot is padding, spatial_shapes [B, 2]).

    Both come back on the device of `pixel_values`. The mask must be exactly the first h*w slots of each row: the
    resized position table is laid over those slots. With no padding at all the mask is dropped (None), which
    lets SDPA take its unmasked kernel.
    """
    if not isinstance(pixel_values, torch.Tensor) or pixel_values.ndim != 3:
        raise ValueError(f"pixel_values must be a tensor of patches [B, N, {config.patch_dim}], got "
                         f"{getattr(pixel_values, 'shape', type(pixel_values).__name__)}")
    B, N, P = pixel_values.shape
    if P != config.patch_dim:
        raise ValueError(f"pixel_values has patches of length {P}, but this model takes p*p*3 = {config.patch_dim} "
                         f"(patch size {config.patch_size}, flattened in (py, px, c) order)")
    if spatial_shapes is None:
        if config.naflex:
            raise ValueError("spatial_shapes [B, 2] is required for a NaFlex model: the (h, w) patch grid of each "
                             "image (the processor returns it)")
        spatial_shapes = torch.full((B, 2), config.grid_size)
    shapes = torch.as_tensor(spatial_shapes).cpu().long()  # [B, 2] on the host, read once
    if shapes.shape != (B, 2):
        raise ValueError(f"spatial_shapes must be [B, 2] = [{B}, 2], got {tuple(shapes.shape)}")
    if (shapes < 1).any():
        raise ValueError(f"spatial_shapes must be >= 1 patch per side, got {shapes.tolist()}")
    sizes = shapes.prod(dim=1)  # [B] valid patches per image
    if (sizes > N).any():
        raise ValueError(f"spatial_shapes {shapes.tolist()} need more than the N = {N} patch slots given")
    if not config.naflex and N != config.num_patches:
        raise ValueError(f"this FixRes model takes exactly {config.num_patches} patches per image "
                         f"({config.grid_size}x{config.grid_size}), got N = {N}")
    if not config.naflex and (shapes != config.grid_size).any():
        raise ValueError(f"this FixRes model has a fixed {config.grid_size}x{config.grid_size} patch grid "
                         f"({config.image_size}px images); got spatial_shapes {shapes.tolist()}")
    expected = torch.arange(N)[None, :] < sizes[:, None]  # [B, N] the first h*w slots of each row
    if pixel_attention_mask is not None:
        if tuple(pixel_attention_mask.shape) != (B, N):
            raise ValueError(f"pixel_attention_mask must be [B, N] = [{B}, {N}], got "
                             f"{tuple(pixel_attention_mask.shape)}")
        given = torch.as_tensor(pixel_attention_mask).bool().cpu()  # [B, N]
        if not torch.equal(given, expected):
            bad = (given != expected).any(dim=1).nonzero()[:, 0].tolist()
            raise ValueError(f"pixel_attention_mask disagrees with spatial_shapes for images {bad}: each row must "
                             "be 1 on exactly its first h*w patches and 0 after")
    mask = None if expected.all() else expected.to(pixel_values.device)  # [B, N]
    return mask, shapes.to(pixel_values.device)


def check_text_inputs(config, input_ids):
    """Validate token ids [T, 64]: integers in [0, vocab_size), exactly the length the model was trained at."""
    L = config.max_position_embeddings
    if not isinstance(input_ids, torch.Tensor) or input_ids.ndim != 2:
        raise ValueError(f"input_ids must be an integer tensor [T, {L}], got "
                         f"{getattr(input_ids, 'shape', type(input_ids).__name__)}")
    if input_ids.dtype.is_floating_point or input_ids.dtype == torch.bool:
        raise TypeError(f"input_ids must be integer token ids, got dtype {input_ids.dtype}")
    if input_ids.shape[1] != L:
        raise ValueError(f"input_ids must have exactly {L} tokens per text (EOS then 0-padding to {L}: the model "
                         f"pools the last position and was trained at this length), got {input_ids.shape[1]}")
    if input_ids.numel() and (input_ids.min() < 0 or input_ids.max() >= config.vocab_size):
        raise ValueError(f"input_ids must lie in [0, {config.vocab_size}), got values in "
                         f"[{int(input_ids.min())}, {int(input_ids.max())}]")


def check_int(value, name, minimum=1):
    """`value` as an int if it is an integer >= `minimum` (bools refused), else TypeError or ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def arg_int(minimum=1):
    """An argparse `type` for an integer >= `minimum`: a bad value is a usage error (exit 2), not a traceback."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"  # argparse names the type in "invalid <type> value"
    return parse


def arg_float(minimum=0.0, strict=False):
    """An argparse `type` for a finite float >= `minimum` (> with `strict`): nan and inf are usage errors."""
    relation = ">" if strict else ">="

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number {relation} {minimum:g}, got {text!r}") from None
        if not math.isfinite(value) or value < minimum or (strict and value == minimum):
            raise argparse.ArgumentTypeError(f"expected a finite number {relation} {minimum:g}, got {text}")
        return value

    parse.__name__ = f"number {relation} {minimum:g}"
    return parse
