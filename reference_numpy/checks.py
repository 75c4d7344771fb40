"""Input checks at the twin's entry points (`SigLIP2.encode_image` / `encode_text` / `__call__`, `ImageClassifier`).

Mirrors `siglip2_min/checks.py`: the tower functions trust their inputs; these checks run once where a user hands
inputs in, and return them in the form the towers take.
"""

import numpy as np


def check_image_inputs(config, pixel_values, pixel_attention_mask, spatial_shapes):
    """Validate the patch inputs; returns (mask [B, N] or None when no slot is padding, spatial_shapes [B, 2]).

    The mask must be exactly the first h*w slots of each row: the resized position table is laid over those
    slots, so a mask that disagrees with `spatial_shapes` would silently misplace every position embedding.
    """
    P, G = config["patch_size"] ** 2 * config["num_channels"], config["grid_size"]
    if not isinstance(pixel_values, np.ndarray) or pixel_values.ndim != 3 or pixel_values.shape[2] != P:
        raise ValueError(f"pixel_values must be patches [B, N, {P}] (patch size {config['patch_size']}, flattened "
                         f"in (py, px, c) order), got {getattr(pixel_values, 'shape', type(pixel_values).__name__)}")
    B, N, _ = pixel_values.shape
    if spatial_shapes is None:
        if config["naflex"]:
            raise ValueError("spatial_shapes [B, 2] is required for a NaFlex model: the (h, w) patch grid of each "
                             "image (the processor returns it)")
        spatial_shapes = np.full((B, 2), G)
    spatial_shapes = np.asarray(spatial_shapes)
    if spatial_shapes.shape != (B, 2) or not np.issubdtype(spatial_shapes.dtype, np.integer):
        raise ValueError(f"spatial_shapes must be integers [B, 2] = [{B}, 2], got {spatial_shapes.dtype} "
                         f"{spatial_shapes.shape}")
    if (spatial_shapes < 1).any():
        raise ValueError(f"spatial_shapes must be >= 1 patch per side, got {spatial_shapes.tolist()}")
    sizes = spatial_shapes.prod(axis=1)  # [B] valid patches per image
    if (sizes > N).any():
        raise ValueError(f"spatial_shapes {spatial_shapes.tolist()} need more than the N = {N} patch slots given")
    if not config["naflex"] and ((spatial_shapes != G).any() or N != G * G):
        raise ValueError(f"this FixRes model has a fixed {G}x{G} patch grid ({G * G} patches, no padding); got "
                         f"spatial_shapes {spatial_shapes.tolist()} in {N} patch slots")
    expected = np.arange(N)[None, :] < sizes[:, None]  # [B, N] the first h*w slots of each row
    if pixel_attention_mask is not None:
        given = np.asarray(pixel_attention_mask)
        if given.shape != (B, N):
            raise ValueError(f"pixel_attention_mask must be [B, N] = [{B}, {N}], got {given.shape}")
        if not np.array_equal(given.astype(bool), expected):
            bad = np.flatnonzero((given.astype(bool) != expected).any(axis=1)).tolist()
            raise ValueError(f"pixel_attention_mask disagrees with spatial_shapes for images {bad}: each row must "
                             "be 1 on exactly its first h*w patches and 0 after")
    return (None if expected.all() else expected), spatial_shapes


def check_text_inputs(config, input_ids):
    """Validate token ids [T, 64]: integers in [0, vocab_size), exactly the length the model was trained at."""
    L, V = config["max_position_embeddings"], config["vocab_size"]
    if not isinstance(input_ids, np.ndarray) or input_ids.ndim != 2:
        raise ValueError(f"input_ids must be integer token ids [T, {L}], got "
                         f"{getattr(input_ids, 'shape', type(input_ids).__name__)}")
    if not np.issubdtype(input_ids.dtype, np.integer):
        raise TypeError(f"input_ids must be integer token ids, got dtype {input_ids.dtype}")
    if input_ids.shape[1] != L:
        raise ValueError(f"input_ids must have exactly {L} tokens per text (EOS then 0-padding to {L}: the model "
                         f"pools the last position and was trained at this length), got {input_ids.shape[1]}")
    if input_ids.size and (input_ids.min() < 0 or input_ids.max() >= V):
        raise ValueError(f"input_ids must lie in [0, {V}), got values in [{input_ids.min()}, {input_ids.max()}]")
