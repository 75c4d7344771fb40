"""The numpy twin (`reference_numpy`) against the torch model, HF transformers and the position-resize facts.

Checkpoints are random-weight HF models saved with `save_pretrained` (tests/hf_fixtures.py): unequal text (32)
and vision (48) widths with a text head projecting to 48, so the logits exist. Inputs come from
`reference_numpy.compare.make_inputs`: NaFlex grids (3, 5), (4, 1), (1, 6), (2, 2) in 18 slots (padding
everywhere, one image a single patch wide), texts from empty to full length.
"""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.numpy import load_file, save_file

import hf_fixtures
import reference_numpy
from reference_numpy import compare
from reference_numpy.vision import resize_position_table, resize_weights
from tolerance import assert_close

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """{family: (folder, HF model)} for a NaFlex Siglip2Model and a FixRes SiglipModel with random weights."""
    out = {}
    for family, build in (("naflex", hf_fixtures.hf_naflex_model), ("fixres", hf_fixtures.hf_fixres_model)):
        model = build(seed=1)
        folder = tmp_path_factory.mktemp(f"twin_{family}")
        model.save_pretrained(folder)
        out[family] = (folder, model)
    return out


def test_import_does_not_load_torch(checkpoints):
    # A fresh interpreter: import, load a checkpoint and run a full forward with loss; torch must never appear.
    folder = checkpoints["naflex"][0]
    code = (
        "import sys, numpy as np, reference_numpy\n"
        f"m = reference_numpy.load_model({str(folder)!r})\n"
        "ids = np.zeros((2, 64), dtype=np.int64); ids[:, 0] = 1\n"
        "pv = np.zeros((2, 4, 48)); mask = np.ones((2, 4), dtype=np.int64); ss = np.array([[2, 2], [4, 1]])\n"
        "out = m(input_ids=ids, pixel_values=pv, pixel_attention_mask=mask, spatial_shapes=ss, return_loss=True)\n"
        "assert np.isfinite(out['loss'])\n"
        "print(sorted({k.split('.')[0] for k in sys.modules} & {'torch', 'siglip2_min', 'transformers'}\n"
        "             | {'reference_numpy.compare'} & set(sys.modules)))\n"
    )
    env = {**os.environ, "PYTHONPATH": ROOT}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"importing and running reference_numpy loaded {result.stdout.strip()}"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("family", ["naflex", "fixres"])
def test_twin_matches_torch_model_at_every_intermediate(checkpoints, family, dtype):
    # Tolerances: compare.TOLERANCES (1e-10 abs + rel in float64, 1e-5 in float32), with the reasons there.
    rows, first = compare.compare(checkpoints[family][0], dtype, file=open(os.devnull, "w"))
    names = [row.name for row in rows]
    assert "vision.block01" in names and "text.final_layer_norm" in names and "loss" in names, names
    assert first is None, f"{family} {dtype}: first divergence at {first}\n{compare.format_table(rows)}"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_classifier_twin_matches_torch_model(classifier_checkpoint, dtype):
    # Siglip2ForImageClassification: vision intermediates and the class logits (mean pooling over valid patches).
    rows, first = compare.compare(classifier_checkpoint[0], dtype, file=open(os.devnull, "w"))
    assert [row.name for row in rows][-2:] == ["vision.post_layernorm", "logits"], rows
    assert first is None, f"classifier {dtype}: first divergence at {first}\n{compare.format_table(rows)}"


def test_compare_names_the_first_diverging_intermediate(checkpoints, tmp_path, monkeypatch):
    # The twin reads a copy with one weight of vision block 1 perturbed by 1e-3, torch reads the original:
    # embeddings and block 0 still agree (to float32's 1e-5), so block 1 must be reported as the first divergence.
    folder = checkpoints["naflex"][0]
    shutil.copy(folder / "config.json", tmp_path / "config.json")
    state = load_file(folder / "model.safetensors")
    state["vision_model.encoder.layers.1.mlp.fc2.bias"] = state["vision_model.encoder.layers.1.mlp.fc2.bias"] + 1e-3
    save_file(state, tmp_path / "model.safetensors")
    load_original = reference_numpy.load_model
    monkeypatch.setattr(reference_numpy, "load_model", lambda path, dtype: load_original(tmp_path, dtype))
    rows, first = compare.compare(folder, "float32", file=open(os.devnull, "w"))
    assert first == "vision.block01", rows


def test_compare_command_line_exits_zero_and_prints_every_name(checkpoints):
    env = {**os.environ, "PYTHONPATH": ROOT}
    command = [sys.executable, "-m", "reference_numpy.compare", str(checkpoints["naflex"][0]), "--dtype", "float64"]
    result = subprocess.run(command,
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("vision.embeddings", "vision.block01", "vision.pooled", "text.pooled", "logits_per_text", "loss"):
        assert name in result.stdout
    assert "all within tolerance" in result.stdout


@pytest.mark.parametrize("family", ["naflex", "fixres"])
def test_twin_float64_matches_hf_transformers(checkpoints, family):
    # An oracle independent of siglip2_min. HF's NaFlex resize runs in float32 even for a float64 model (it upcasts
    # on CPU "to float32"), which puts ~1e-7 into the embeddings, so NaFlex is held to 1e-6; FixRes has no resize
    # and is held to 1e-10. HF's resize is wrong for images one patch wide (docs/model/embeddings.md): leave that one out.
    folder, hf = checkpoints[family]
    twin = reference_numpy.load_model(folder)
    inputs = compare.make_inputs(twin)
    if family == "naflex":
        keep = [i for i, (h, w) in enumerate(inputs["spatial_shapes"]) if w > 1]
        inputs = {k: v[keep] for k, v in inputs.items()}
    t = {k: torch.as_tensor(v) for k, v in inputs.items()}
    with torch.no_grad():
        if family == "naflex":
            ref = hf.double()(**t, return_loss=True)
        else:  # SiglipModel takes images: patches [B, G*G, p*p*3] in (py, px, c) order -> [B, 3, G*p, G*p]
            B, (G, _), p = len(inputs["pixel_values"]), inputs["spatial_shapes"][0], hf.config.vision_config.patch_size
            images = t["pixel_values"].reshape(B, G, G, p, p, 3).permute(0, 5, 1, 3, 2, 4).reshape(B, 3, G * p, G * p)
            ref = hf.double()(input_ids=t["input_ids"], pixel_values=images, return_loss=True)
    out = twin(**inputs, return_loss=True)
    tol = 1e-6 if family == "naflex" else 1e-10
    for name in ("image_embeds", "text_embeds", "logits_per_image", "logits_per_text", "loss"):
        assert_close(f"{family} {name} vs HF", out[name], getattr(ref, name), tol, tol)


@pytest.mark.parametrize("height, width", [(16, 16), (7, 32), (32, 7), (5, 3), (1, 8), (1, 1), (24, 2)])
def test_resize_equals_torch_antialiased_bilinear_where_torch_is_right(height, width):
    # torch's antialiased bilinear is the reference everywhere except output width 1 (next test).
    table = np.random.default_rng(0).standard_normal((16, 16, 6))  # [G, G, D]
    ref = F.interpolate(torch.from_numpy(table).permute(2, 0, 1)[None], size=(height, width), mode="bilinear",
                        align_corners=False, antialias=True)[0].permute(1, 2, 0).numpy()  # [h, w, D]
    ours = resize_position_table(table, height, width).reshape(height, width, -1)  # [h*w, D] -> [h, w, D]
    assert_close(f"resize to {(height, width)}", ours, ref, 1e-12, 1e-12)


@pytest.mark.parametrize("height", [1, 3, 8, 20])
def test_width_1_resize_equals_height_1_resize_transposed(height):
    # torch is wrong for output width 1 but right for height 1 (checked above for (1, 8)); the filter is separable
    # and symmetric in its axes, so resizing to (h, 1) must equal resizing the transposed table to (1, h).
    table = np.random.default_rng(1).standard_normal((16, 16, 4))  # [G, G, D]
    transposed = torch.from_numpy(table.transpose(1, 0, 2)).permute(2, 0, 1)[None]  # [1, D, G, G] axes swapped
    ref = F.interpolate(transposed, size=(1, height), mode="bilinear", align_corners=False, antialias=True)
    ref = ref[0].permute(2, 1, 0).numpy()  # [1, D, 1, h] -> [h, 1, D]
    ours = resize_position_table(table, height, 1).reshape(height, 1, -1)  # [h*1, D] -> [h, 1, D]
    assert_close(f"resize to {(height, 1)}", ours, ref, 1e-12, 1e-12)


def test_width_1_resize_weights_match_the_facts():
    # docs/model/embeddings.md: 0..15 resized to 8 rows gives about [0.71, 2.5, 4.5, ..., 12.5, 14.29]; to 1 row, the
    # centre of a symmetric triangle, 7.5. Interior rows are exact averages of two neighbours.
    ramp = np.arange(16.0)
    assert_close("16 -> 8", resize_weights(16, 8) @ ramp, [5 / 7, 2.5, 4.5, 6.5, 8.5, 10.5, 12.5, 100 / 7], 1e-12)
    assert_close("16 -> 1", resize_weights(16, 1) @ ramp, [7.5], 1e-12)
    assert np.array_equal(resize_weights(16, 16), np.eye(16)), "16 -> 16 must be exactly the identity"


def test_float32_model_computes_in_float32(checkpoints):
    # A float64 scalar anywhere in the forward (np.sqrt(2/pi), say) silently promotes everything after it.
    twin = reference_numpy.load_model(checkpoints["naflex"][0], dtype=np.float32)
    inputs = compare.make_inputs(twin)
    _, vision = twin.encode_image(*[inputs[k] for k in ("pixel_values", "pixel_attention_mask", "spatial_shapes")],
                                  return_intermediates=True)
    _, text = twin.encode_text(inputs["input_ids"], return_intermediates=True)
    out = twin(**inputs, return_loss=True)
    dtypes = {name: np.asarray(v).dtype for name, v in {**vision, **text, **out}.items()}
    assert set(dtypes.values()) == {np.dtype(np.float32)}, dtypes


def test_bad_inputs_raise_clear_errors(checkpoints, classifier_checkpoint, tmp_path):
    twin = reference_numpy.load_model(checkpoints["naflex"][0])
    good = compare.make_inputs(twin)
    image = [good[k] for k in ("pixel_values", "pixel_attention_mask", "spatial_shapes")]
    with pytest.raises(ValueError, match="pixel_values must be patches"):
        twin.encode_image(image[0][..., :-1], *image[1:])
    with pytest.raises(ValueError, match="pixel_attention_mask disagrees with spatial_shapes"):
        twin.encode_image(image[0], np.roll(image[1], 1, axis=1), image[2])
    with pytest.raises(ValueError, match="more than the N = 18 patch slots"):
        twin.encode_image(image[0], image[1], image[2] * 4)
    with pytest.raises(ValueError, match=r"input_ids must lie in \[0, 300\)"):
        twin.encode_text(good["input_ids"] + 300)
    with pytest.raises(ValueError, match="exactly 64 tokens"):
        twin.encode_text(np.zeros((1, 65), dtype=np.int64))
    fixres = reference_numpy.load_model(checkpoints["fixres"][0])
    with pytest.raises(ValueError, match="fixed 4x4 patch grid"):
        fixres.encode_image(image[0][:, :16], np.ones((4, 16), dtype=np.int64), np.array([[2, 8]] * 4))
    with pytest.raises(ValueError, match=r"fixed 4x4 patch grid \(16 patches, no padding\)"):
        fixres.encode_image(image[0], (np.arange(18) < 16)[None].repeat(4, 0), np.array([[4, 4]] * 4))
    with pytest.raises(TypeError, match="float32 or float64"):
        reference_numpy.load_model(checkpoints["naflex"][0], dtype=np.float16)
    # A checkpoint with one tensor missing names it.
    shutil.copy(checkpoints["naflex"][0] / "config.json", tmp_path / "config.json")
    state = load_file(checkpoints["naflex"][0] / "model.safetensors")
    del state["vision_model.head.probe"]
    save_file(state, tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match="vision_model.head.probe"):
        reference_numpy.load_model(tmp_path)
    # Classifier weights under a two-tower config.json, and a bfloat16 checkpoint, are refused with the reason.
    shutil.copy(checkpoints["naflex"][0] / "config.json", tmp_path / "config.json")
    shutil.copy(classifier_checkpoint[0] / "model.safetensors", tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match="not a SigLIP two-tower checkpoint: text_model.head.weight is missing"):
        reference_numpy.load_model(tmp_path)
    hf_fixtures.hf_naflex_model().to(torch.bfloat16).save_pretrained(tmp_path / "bf16")
    with pytest.raises(ValueError, match="convert the checkpoint to float32"):
        reference_numpy.load_model(tmp_path / "bf16")
