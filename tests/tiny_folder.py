"""A complete model folder with random weights, for tests of the API and the command line.

The same files as a published NaFlex checkpoint: `config.json` + `model.safetensors` (a random HF `Siglip2Model`
from `hf_fixtures`, written by `save_pretrained`), `tokenizer.model` + `tokenizer_config.json` (a tiny
Gemma-shaped SentencePiece model from `spm_fixture`) and `preprocessor_config.json` (HF's keys). Patch size 4 and
16 patches keep every forward pass in milliseconds, and the tests do not depend on the bundled model.
"""

import json

import hf_fixtures
from PIL import Image, ImageDraw
from spm_fixture import train_tiny_spm

PATCH_SIZE = 4
MAX_NUM_PATCHES = 16


def make_model_folder(folder, seed=0, patch_size=PATCH_SIZE, max_num_patches=MAX_NUM_PATCHES):
    """Write the folder; returns (folder, hf_model), the HF model being the oracle for the same weights."""
    hf_model = hf_fixtures.hf_naflex_model(seed=seed, num_patches=max_num_patches,
                                           vision={"patch_size": patch_size})
    hf_model.save_pretrained(folder)
    train_tiny_spm(folder)  # vocab 300, as the text tower of hf_fixtures
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "Siglip2ImageProcessor",
        "processor_class": "Siglip2Processor",
        "do_resize": True,
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
        "resample": 2,
        "patch_size": patch_size,
        "max_num_patches": max_num_patches,
    }, indent=2))
    return folder, hf_model


def drawn_images():
    """Four small RGB images of different sizes and aspect ratios, so their NaFlex grids (and padding) differ."""
    out = []
    for i, (w, h) in enumerate([(32, 32), (48, 16), (12, 40), (25, 25)]):
        image = Image.new("RGB", (w, h), (255, 255 - 60 * i, 60 * i))
        ImageDraw.Draw(image).ellipse([w // 4, h // 4, 3 * w // 4, 3 * h // 4], fill=(20 * i, 0, 200))
        out.append(image)
    return out
