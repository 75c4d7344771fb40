"""The processor: loading HF-format folders of both families, exact parity with HF's processors, bad input, and
processor + model end to end against transformers' processor + model on random-weight checkpoints."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from siglip2_min import naflex
from siglip2_min.processor import load_processor
from spm_fixture import train_tiny_spm

transformers = pytest.importorskip("transformers")
from transformers import SiglipImageProcessorPil, Siglip2ImageProcessorPil, Siglip2Tokenizer  # noqa: E402

TEXTS = ["A Photo of a Cat.", "a blue dog with a GREEN border on a red background.", "", "dog " * 80]


def images(seed=0):
    rng = np.random.default_rng(seed)
    shapes = [(40, 40), (13, 91), (120, 7), (1, 1), (64, 48)]
    arrays = [rng.integers(0, 256, (*s, 3), dtype=np.uint8) for s in shapes]
    return [Image.fromarray(a) for a in arrays[:3]] + arrays[3:]  # Pillow images and numpy arrays


def hf_images(items):
    return [Image.fromarray(x) if isinstance(x, np.ndarray) else x for x in items]


def write_folder(folder, naflex=True, patch_size=4, budget=16, image_size=16, hf_processor=True):
    """A checkpoint folder as HF writes it: config.json, preprocessor_config.json, tokenizer.model."""
    train_tiny_spm(folder)
    vision = dict(patch_size=patch_size, hidden_size=8, intermediate_size=16, num_hidden_layers=1)
    if naflex:
        transformers.Siglip2Config(vision_config={**vision, "num_patches": budget}).save_pretrained(folder)
        if hf_processor:
            Siglip2ImageProcessorPil(patch_size=patch_size, max_num_patches=budget).save_pretrained(folder)
    else:
        transformers.SiglipConfig(vision_config={**vision, "image_size": image_size}).save_pretrained(folder)
        if hf_processor:
            size = {"height": image_size, "width": image_size}
            SiglipImageProcessorPil(size=size, resample=Image.Resampling.BILINEAR).save_pretrained(folder)
    return folder


def assert_close(ours, theirs, name, atol):
    err = (ours.double() - theirs.double()).abs()
    where = np.unravel_index(int(err.argmax()), err.shape)
    assert err.max() <= atol, f"{name}: max abs error {err.max():.3g} at {where}"


def patchify_reference(pixel_values, p):
    """HF FixRes pixel_values [B, 3, S, S] -> [B, (S//p)^2, p*p*3] via torch unfold, dropping the last S % p rows
    and columns as the stride-p convolution does. Independent of naflex.patchify."""
    B, C, S, _ = pixel_values.shape
    g = S // p
    x = pixel_values[:, :, : g * p, : g * p].unfold(2, p, p).unfold(3, p, p)  # [B, C, g, g, p, p]
    return x.permute(0, 2, 3, 4, 5, 1).reshape(B, g * g, p * p * C)  # (py, px, c) order


# --- loading and parity ------------------------------------------------------------------------------------------
def hf_naflex_inputs(folder, items, texts):
    """HF's image processor and tokenizer, each loaded from the folder.

    Not `Siglip2Processor`: its call defaults (`max_num_patches=256, patch_size=16`) override what the folder's
    preprocessor_config.json says, so it would ignore this 4-pixel, 16-patch test config.
    """
    pixels = Siglip2ImageProcessorPil.from_pretrained(folder)(hf_images(items), return_tensors="pt")
    ids = Siglip2Tokenizer.from_pretrained(folder)(
        texts, padding="max_length", truncation=True, max_length=64, return_tensors="pt"
    )
    return {**pixels, "input_ids": ids["input_ids"]}


def test_naflex_folder_equals_hf_image_processor_and_tokenizer(tmp_path):
    folder = write_folder(tmp_path)
    ours = load_processor(folder)(images=images(), text=TEXTS)
    hf = hf_naflex_inputs(folder, images(), TEXTS)
    assert set(ours) == set(hf) == {"pixel_values", "pixel_attention_mask", "spatial_shapes", "input_ids"}
    for key in ("pixel_attention_mask", "spatial_shapes", "input_ids"):
        assert torch.equal(ours[key], hf[key]), key  # integers: exactly, dtypes included
    # 1e-6: the bound; the pixels are computed with HF's own float arithmetic, so the error is 0 in practice.
    assert_close(ours["pixel_values"], hf["pixel_values"], "pixel_values", atol=1e-6)


@pytest.mark.parametrize("image_size, p", [(16, 4), (30, 4), (27, 9)])
def test_fixres_folder_equals_hf_siglip_image_processor_bilinear(tmp_path, image_size, p):
    folder = write_folder(tmp_path, naflex=False, patch_size=p, image_size=image_size)
    ours = load_processor(folder)(images=images())
    size = {"height": image_size, "width": image_size}
    hf = SiglipImageProcessorPil(size=size, resample=Image.Resampling.BILINEAR)(hf_images(images()), return_tensors="pt")
    g = image_size // p  # 30 // 4 = 7: the last 2 pixel rows and columns are dropped, as the conv does
    assert ours["spatial_shapes"].tolist() == [[g, g]] * 5
    assert ours["pixel_attention_mask"].shape == (5, g * g) and bool(ours["pixel_attention_mask"].all())
    assert_close(ours["pixel_values"], patchify_reference(hf["pixel_values"], p), "pixel_values", atol=1e-6)


def test_hub_style_config_files_of_both_families(tmp_path):
    # The files as published on the hub (`Siglip2ImageProcessor` / `SiglipImageProcessor`, resample 2), written by hand.
    common = dict(do_normalize=True, do_rescale=True, do_resize=True, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    common.update(resample=2, rescale_factor=0.00392156862745098)
    nf = write_folder(tmp_path / "naflex", hf_processor=False)
    pre = {**common, "image_processor_type": "Siglip2ImageProcessor", "max_num_patches": 16, "patch_size": 4}
    (nf / "preprocessor_config.json").write_text(json.dumps(pre))
    fx = write_folder(tmp_path / "fixres", naflex=False, hf_processor=False)
    pre = {**common, "image_processor_type": "SiglipImageProcessor", "size": {"height": 16, "width": 16}}
    (fx / "preprocessor_config.json").write_text(json.dumps(pre))

    p = load_processor(nf)
    assert (p.naflex, p.patch_size, p.max_num_patches) == (True, 4, 16)
    p = load_processor(fx)
    assert (p.naflex, p.patch_size, p.image_size) == (False, 4, (16, 16))


def test_folder_without_preprocessor_config_falls_back_to_config_json(tmp_path):
    with_pre = load_processor(write_folder(tmp_path / "a"))(images=images())
    without = load_processor(write_folder(tmp_path / "b", hf_processor=False))(images=images())
    for key in with_pre:
        assert torch.equal(with_pre[key], without[key]), key


def test_keys_only_for_what_was_given(tmp_path):
    proc = load_processor(write_folder(tmp_path))
    assert set(proc(text="a cat")) == {"input_ids"}
    assert set(proc(images=images()[0])) == {"pixel_values", "pixel_attention_mask", "spatial_shapes"}


def test_call_overrides_budget_and_patch_size(tmp_path):
    out = load_processor(write_folder(tmp_path))(images=images(), max_num_patches=9, patch_size=2)
    expected = naflex.preprocess(images(), 2, 9)
    for key, value in zip(("pixel_values", "pixel_attention_mask", "spatial_shapes"), expected):
        assert np.array_equal(out[key].numpy(), value), key


def test_text_is_lowercased_for_fixres_checkpoints_too(tmp_path):
    proc = load_processor(write_folder(tmp_path, naflex=False))
    assert torch.equal(proc(text="A PHOTO OF A CAT")["input_ids"], proc(text="a photo of a cat")["input_ids"])


# --- bad input ---------------------------------------------------------------------------------------------------
def test_nothing_to_process_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="nothing to process"):
        load_processor(write_folder(tmp_path))()


def test_fixres_refuses_a_patch_budget(tmp_path):
    with pytest.raises(ValueError, match="max_num_patches applies to NaFlex"):
        load_processor(write_folder(tmp_path, naflex=False))(images=images(), max_num_patches=9)


def test_bad_budget_and_patch_size_are_named(tmp_path):
    proc = load_processor(write_folder(tmp_path))
    with pytest.raises(ValueError, match="max_num_patches must be >= 1"):
        proc(images=images(), max_num_patches=0)
    with pytest.raises(ValueError, match="patch_size must be >= 1"):
        proc(images=images(), patch_size=0)


def test_missing_tokenizer_model_is_named_when_text_is_given(tmp_path):
    folder = write_folder(tmp_path)
    (folder / "tokenizer.model").unlink()
    proc = load_processor(folder)
    assert set(proc(images=images())) == {"pixel_values", "pixel_attention_mask", "spatial_shapes"}
    with pytest.raises(FileNotFoundError, match="tokenizer.model"):
        proc(text="a cat")


def test_no_path_and_no_bundled_model_is_a_clear_error(tmp_path, monkeypatch):
    import siglip2_min.hub

    monkeypatch.setattr(siglip2_min.hub, "BUNDLED", tmp_path / "assets")
    with pytest.raises(FileNotFoundError, match="the bundled model is missing"):
        load_processor()


def test_bad_folders_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_processor(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="neither config.json nor preprocessor_config.json"):
        load_processor(tmp_path)
    folder = write_folder(tmp_path / "a")
    pre = json.loads((folder / "preprocessor_config.json").read_text())
    (folder / "preprocessor_config.json").write_text(json.dumps({**pre, "patch_size": 8}))
    with pytest.raises(ValueError, match="patch_size 8 differs from the model's 4"):
        load_processor(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps({**pre, "image_processor_type": "CLIPImageProcessor"}))
    with pytest.raises(ValueError, match="not a SigLIP processor"):
        load_processor(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps({**pre, "image_processor_type": "SiglipImageProcessor"}))
    with pytest.raises(ValueError, match="does not match"):
        load_processor(folder)


# --- end to end --------------------------------------------------------------------------------------------------
def copy_checkpoint(src, dst, naflex, patch_size, budget=None, image_size=None):
    shutil.copytree(src, dst)
    train_tiny_spm(dst)  # vocab 300, the fixture checkpoints' text vocabulary
    if naflex:
        Siglip2ImageProcessorPil(patch_size=patch_size, max_num_patches=budget).save_pretrained(dst)
    else:
        size = {"height": image_size, "width": image_size}
        SiglipImageProcessorPil(size=size, resample=Image.Resampling.BILINEAR).save_pretrained(dst)
    return dst


def assert_logits_close(ours, theirs):
    # 1e-4 absolute + 1e-4 relative: the same fp32 maths summed in a different order in two libraries.
    for name in ("logits_per_image", "logits_per_text"):
        a, b = getattr(ours, name), getattr(theirs, name)
        err = (a - b).abs()
        assert (err <= 1e-4 + 1e-4 * b.abs()).all(), f"{name}: max abs error {err.max():.3g} at {err.argmax()}"


def test_naflex_processor_and_model_equal_transformers(naflex_checkpoint, tmp_path):
    import siglip2_min

    src, hf_model = naflex_checkpoint
    cfg = hf_model.config.vision_config
    folder = copy_checkpoint(src, tmp_path / "ckpt", True, cfg.patch_size, cfg.num_patches)
    # Leave out the 120x7 image: its grid is 16x1 patches, and HF's position-table resize to a width of 1 hits the
    # torch antialias bug (docs/model/embeddings.md) that our model avoids, so HF is the wrong oracle there.
    items = [im for i, im in enumerate(images()) if i != 2]
    inputs = load_processor(folder)(images=items, text=TEXTS)
    assert (inputs["spatial_shapes"] > 1).all(), inputs["spatial_shapes"]
    hf_inputs = hf_naflex_inputs(folder, items, TEXTS)
    for key in ("pixel_attention_mask", "spatial_shapes", "input_ids"):
        assert torch.equal(inputs[key], hf_inputs[key]), key
    with torch.no_grad():
        ours = siglip2_min.load_model(folder)(**inputs)
        theirs = hf_model(**hf_inputs)
    assert_logits_close(ours, theirs)


def test_fixres_processor_and_model_equal_transformers(fixres_checkpoint, tmp_path):
    import siglip2_min

    src, hf_model = fixres_checkpoint
    cfg = hf_model.config.vision_config
    folder = copy_checkpoint(src, tmp_path / "ckpt", False, cfg.patch_size, image_size=cfg.image_size)
    inputs = load_processor(folder)(images=images(), text=TEXTS)
    size = {"height": cfg.image_size, "width": cfg.image_size}
    hf_pixels = SiglipImageProcessorPil(size=size, resample=Image.Resampling.BILINEAR)(
        hf_images(images()), return_tensors="pt"
    )["pixel_values"]
    # HF's FixRes tokenizer (GemmaTokenizer) does not lowercase; its lowercasing Siglip2Tokenizer is the contract.
    hf_ids = Siglip2Tokenizer.from_pretrained(folder)(
        TEXTS, padding="max_length", truncation=True, max_length=64, return_tensors="pt"
    )["input_ids"]
    assert torch.equal(inputs["input_ids"], hf_ids)
    with torch.no_grad():
        ours = siglip2_min.load_model(folder)(**inputs)
        theirs = hf_model(input_ids=hf_ids, pixel_values=hf_pixels)
    assert_logits_close(ours, theirs)
