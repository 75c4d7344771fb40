"""The tiny SigLIP2 bundled in `siglip2_min/assets/tiny/` (trained by `python -m siglip2_min.train`).

It must be small, load with no path, load in transformers too, and actually work: zero-shot colour and shape on
held-out procedural images, and on shapes drawn here with plain Pillow calls that share no code with the
training-data generator.
"""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

import siglip2_min
from siglip2_min import data
from siglip2_min.processor import load_processor
from tolerance import assert_close

FOLDER = Path(siglip2_min.__file__).parent / "assets" / "tiny"
FILES = ("config.json", "model.safetensors", "tokenizer.model", "tokenizer_config.json", "preprocessor_config.json")
TEMPLATE = "This is a photo of {}."
COLOURS = ("red", "green", "blue", "yellow", "purple", "orange", "black")
SHAPES = ("circle", "square", "triangle", "star", "cross")
PAIRS = [(c, s) for c in COLOURS for s in SHAPES]
PROMPTS = [TEMPLATE.format(f"a {c} {s}") for c, s in PAIRS]


@pytest.fixture(scope="module")
def bundled():
    return siglip2_min.load_model(), load_processor(FOLDER)


def _zero_shot(model, processor, images):
    """The best of the 35 "a {colour} {shape}" prompts for each image, as (colour, shape)."""
    with torch.no_grad():
        out = model(**processor(images=images, text=PROMPTS))
    return [PAIRS[i] for i in out.logits_per_image.argmax(dim=-1).tolist()]  # [B]


def test_bundled_folder_has_the_hf_layout_and_is_at_most_10_mb():
    missing = [name for name in FILES if not (FOLDER / name).is_file()]
    assert not missing, f"missing from {FOLDER}: {missing}"
    total = sum(f.stat().st_size for f in FOLDER.iterdir() if f.is_file())
    assert total <= 10 * 2**20, f"bundled model is {total / 2**20:.2f} MiB, over the 10 MiB budget"


def test_load_model_without_a_path_is_the_bundled_model(bundled):
    model, _ = bundled
    explicit = siglip2_min.load_model(FOLDER)
    for (name, a), b in zip(model.state_dict().items(), explicit.state_dict().values()):
        assert torch.equal(a, b), name


ATTRIBUTES = ["colour", "shape"]  # the target is 90% for each (assets/tiny/training.json has the 500-image figures)


@pytest.mark.parametrize("attribute", ATTRIBUTES)
def test_zero_shot_on_held_out_generated_images(bundled, attribute):
    # Samples of the "test" split come from a generator stream the training never draws from (data.py).
    samples = data.samples(0, 200, "test", seed=0)
    guesses = _zero_shot(*bundled, [s.image for s in samples])
    k = 0 if attribute == "colour" else 1
    accuracy = np.mean([g[k] == getattr(s, attribute) for g, s in zip(guesses, samples)])
    assert accuracy >= 0.9, f"zero-shot {attribute} on 200 held-out images: {accuracy:.1%}"


def _hand_drawn(colour, shape, size=(96, 96)):
    """A filled shape in a Pillow colour name, centred on white: the way a user would test the model by hand."""
    w, h = size
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    cx, cy, r = w / 2, h / 2, min(w, h) * 0.3
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    elif shape == "square":
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=colour)
    elif shape == "triangle":
        draw.polygon([(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)], fill=colour)
    elif shape == "star":
        corners = [(r if k % 2 == 0 else r * 0.4, math.pi * k / 5) for k in range(10)]
        draw.polygon([(cx + d * math.sin(a), cy - d * math.cos(a)) for d, a in corners], fill=colour)
    elif shape == "cross":
        t = r / 3
        draw.rectangle([cx - t, cy - r, cx + t, cy + r], fill=colour)
        draw.rectangle([cx - r, cy - t, cx + r, cy + t], fill=colour)
    return image


@pytest.mark.parametrize("attribute", ATTRIBUTES)
@pytest.mark.parametrize("size", [(96, 96), (160, 64)], ids=["square", "wide"])
def test_zero_shot_on_hand_drawn_shapes(bundled, size, attribute):
    images = [_hand_drawn(c, s, size) for c, s in PAIRS]
    guesses = _zero_shot(*bundled, images)
    k = 0 if attribute == "colour" else 1
    accuracy = np.mean([g[k] == pair[k] for g, pair in zip(guesses, PAIRS)])
    wrong = [f"{c} {s} -> {g[0]} {g[1]}" for g, (c, s) in zip(guesses, PAIRS) if g[k] != (c, s)[k]]
    assert accuracy >= 0.9, f"hand-drawn {size}: {attribute} {accuracy:.1%}; wrong: {wrong}"


def test_bundled_model_loads_in_transformers_with_the_same_logits(bundled):
    transformers = pytest.importorskip("transformers")
    model, processor = bundled
    hf, info = transformers.Siglip2Model.from_pretrained(FOLDER, output_loading_info=True)
    assert not any(info.values()), f"transformers loading info: {info}"
    hf_tok = transformers.Siglip2Tokenizer.from_pretrained(FOLDER)
    hf_images = transformers.Siglip2ImageProcessor.from_pretrained(FOLDER)

    images = [_hand_drawn("red", "circle"), _hand_drawn("blue", "star", (64, 160))]
    texts = PROMPTS[:7]
    ours = processor(images=images, text=texts)
    ids = hf_tok(texts, padding="max_length", max_length=64, truncation=True, return_tensors="pt")["input_ids"]
    assert torch.equal(ours["input_ids"], ids), "token ids differ from transformers' Siglip2Tokenizer"
    theirs = hf_images(images, return_tensors="pt")
    assert torch.equal(ours["spatial_shapes"], theirs["spatial_shapes"])
    with torch.no_grad():
        ref = hf.eval()(input_ids=ids, **theirs).logits_per_image
        got = model(**ours).logits_per_image
    # float32 through 5 layers with the same weights and pixels (to <= 1/255 if HF's resize differs): logits
    # are O(10), so 1e-3 absolute is ~1e-4 relative, well above rounding and far below a real mismatch.
    assert_close("logits_per_image vs transformers", got, ref, atol=1e-3, rtol=1e-4)
