"""Random-weight Hugging Face checkpoints written into a temp dir, the oracle for parity tests.

Nothing here downloads anything: transformers builds each model from a config with random weights and
`save_pretrained` writes it in the same layout as the published checkpoints (`config.json` + safetensors).
"""

import torch

# Unequal text and vision widths, several heads and layers: small enough for seconds on a CPU, big enough that
# a transposed weight or a wrong head split shows.
TEXT = dict(vocab_size=300, hidden_size=32, intermediate_size=72, num_hidden_layers=2, num_attention_heads=4,
            projection_size=48)  # the head projects the 32-wide text tower into the 48-wide vision space
VISION = dict(hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, patch_size=4)


def hf_naflex_model(seed=0, num_patches=16, text=None, vision=None):
    """An HF `Siglip2Model` (NaFlex family) with random weights, in eval mode."""
    import transformers

    torch.manual_seed(seed)
    config = transformers.Siglip2Config(
        text_config={**TEXT, **(text or {})},
        vision_config={**VISION, "num_patches": num_patches, **(vision or {})},
    )
    model = transformers.Siglip2Model(config).eval()
    _randomise_logit_params(model)
    return model


def hf_fixres_model(seed=0, image_size=16, text=None, vision=None):
    """An HF `SiglipModel` (FixRes family: Conv2d patch embedding, fixed position table)."""
    import transformers

    torch.manual_seed(seed)
    config = transformers.SiglipConfig(
        text_config={**TEXT, **(text or {})},
        vision_config={**VISION, "image_size": image_size, **(vision or {})},
    )
    model = transformers.SiglipModel(config).eval()
    _randomise_logit_params(model)
    return model


def hf_classifier_model(seed=0, num_patches=16, num_labels=5):
    """An HF `Siglip2ForImageClassification`: the vision tower, mean pooling, a linear classifier."""
    import transformers

    torch.manual_seed(seed)
    config = transformers.Siglip2Config(
        text_config=TEXT, vision_config={**VISION, "num_patches": num_patches}, num_labels=num_labels
    )
    return transformers.Siglip2ForImageClassification(config).eval()


def _randomise_logit_params(model):
    # HF initialises logit_scale and logit_bias to 0, which would hide a missing exp() or a dropped bias.
    with torch.no_grad():
        model.logit_scale.fill_(2.3)
        model.logit_bias.fill_(-1.7)


def naflex_inputs(shapes, max_patches, patch_size=4, channels=3, seed=0, dtype=torch.float32):
    """Random patch inputs for a batch of images with the given (h, w) patch grids, zero-padded to max_patches."""
    g = torch.Generator().manual_seed(seed)
    batch = len(shapes)
    pixel_values = torch.zeros(batch, max_patches, patch_size * patch_size * channels, dtype=dtype)
    mask = torch.zeros(batch, max_patches, dtype=torch.long)
    for i, (h, w) in enumerate(shapes):
        pixel_values[i, : h * w] = torch.rand(h * w, pixel_values.shape[-1], generator=g, dtype=dtype) * 2 - 1
        mask[i, : h * w] = 1
    spatial_shapes = torch.tensor(shapes, dtype=torch.long)
    return pixel_values, mask, spatial_shapes


def text_inputs(batch, vocab_size=TEXT["vocab_size"], length=64, seed=0):
    """Random token ids [batch, 64], each row ending in EOS (1) then padding (0), as the tokenizer makes them."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.zeros(batch, length, dtype=torch.long)
    for i in range(batch):
        n = int(torch.randint(0, length, (1,), generator=g))
        ids[i, :n] = torch.randint(5, vocab_size, (n,), generator=g)
        ids[i, n] = 1
    return ids
