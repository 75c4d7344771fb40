"""Golden outputs (tests/golden/*.json, written by tests/golden/make_golden.py).

(a) The bundled tiny model on fixed generated inputs: processor integers exactly, then logits and embeddings of
    the torch model (float64 and float32) and of the numpy twin, each within the file's stated tolerance.
(b) Published NaFlex checkpoints on HF's integration-test inputs: the inputs are regenerated and hashed (always),
    the logits are checked whenever the weights are on disk (SIGLIP2_CHECKPOINTS or the HF cache).
"""

import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import siglip2_min
from siglip2_min import hub
from tolerance import assert_close

GOLDEN = Path(__file__).resolve().parent / "golden"
HINT = "re-run `python tests/golden/make_golden.py` if the change is intended"


def _make_golden():
    spec = importlib.util.spec_from_file_location("make_golden", GOLDEN / "make_golden.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_golden = _make_golden()


def _load(path):
    assert path.is_file(), f"{path} is missing: {HINT}"
    data = json.loads(path.read_text())
    assert data["format_version"] == make_golden.FORMAT_VERSION, f"{path.name} has an old format: {HINT}"
    return data


# --------------------------------------------------------------------------------------------- (a) bundled model

needs_bundled = pytest.mark.skipif(
    not (hub.BUNDLED / "config.json").is_file(),
    reason=f"the bundled model is not built ({hub.BUNDLED} has no config.json): run "
           "`python -m siglip2_min.train --out siglip2_min/assets/tiny --overwrite`, then `python tests/golden/make_golden.py`",
)


@pytest.fixture(scope="module")
def bundled():
    """(golden data, processor, images, texts); fails (not skips) when the file is stale."""
    from siglip2_min.processor import load_processor

    data = _load(make_golden.BUNDLED_FILE)
    assert data["source"] == make_golden.bundled_source(), (
        f"the bundled model files changed since {make_golden.BUNDLED_FILE.name} was written: {HINT}")
    images, texts = make_golden.bundled_inputs()
    assert data["inputs"]["texts"] == texts, f"the golden inputs changed: {HINT}"
    return data, load_processor(hub.BUNDLED), images, texts


def _check_outputs(name, outs, expected, tol):
    for key in ("logits_per_image", "image_embeds", "text_embeds"):
        assert_close(f"{name} {key} ({HINT})", outs[key], np.array(expected[key]), atol=tol["atol"], rtol=tol["rtol"])


@needs_bundled
def test_bundled_processor_integers_and_pixels_match_golden(bundled):
    data, processor, images, texts = bundled
    _, ints, sums = make_golden.processor_outputs(processor, images, texts)
    expected = data["expected"]
    for key in ("input_ids", "spatial_shapes", "num_valid_patches"):  # integers: exactly
        assert ints[key] == expected[key], f"{key} differs from the golden file: {HINT}"
    tol = data["tolerance"]["pixel_sums"]
    assert_close(f"pixel sums ({HINT})", sums, expected["pixel_sums"], atol=tol["atol"], rtol=tol["rtol"])


@needs_bundled
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_bundled_torch_model_matches_golden(bundled, dtype):
    data, processor, images, texts = bundled
    model = siglip2_min.load_model(hub.BUNDLED, dtype=dtype)
    inputs, _, _ = make_golden.processor_outputs(processor, images, texts)
    outs = make_golden.model_outputs(model, inputs)
    tol = data["tolerance"]["torch_float64" if dtype == torch.float64 else "torch_float32"]
    _check_outputs(f"torch {dtype}", outs, data["expected"], tol)


@needs_bundled
def test_bundled_numpy_twin_matches_golden(bundled):
    import reference_numpy

    data, processor, images, texts = bundled
    twin = reference_numpy.load_model(hub.BUNDLED)  # float64
    inputs, _, _ = make_golden.processor_outputs(processor, images, texts)
    outs = make_golden.model_outputs(twin, inputs, backend="numpy")
    _check_outputs("numpy twin", outs, data["expected"], data["tolerance"]["numpy_float64"])


# ------------------------------------------------------------------------------------------ (b) published models


@pytest.fixture(scope="module")
def published():
    return _load(make_golden.PUBLISHED_FILE)


def test_published_inputs_are_regenerated_exactly(published):
    """The drawn images are byte-identical to those of the file and give docs/parity.md's patch grids."""
    from siglip2_min.naflex import preprocess

    images = make_golden.published_images()
    inputs = published["inputs"]
    assert [list(im.size[::-1]) for im in images] == inputs["shapes_hw"]
    hashes = [hashlib.sha256(im.tobytes()).hexdigest() for im in images]
    assert hashes == inputs["sha256_rgb_bytes"], f"Pillow draws the test images differently now: {HINT}"
    assert inputs["texts"] == make_golden.PUBLISHED_TEXTS
    _, _, grids = preprocess(images, patch_size=16, max_num_patches=256)
    assert np.asarray(grids).tolist() == inputs["spatial_shapes"] == [[16, 16], [16, 16], [7, 32]]
    for hf_id, logits in published["expected"].items():
        assert np.array(logits).shape == (7, 3), hf_id


def test_published_file_records_the_resize_evidence(published):
    """The tolerance's argument: Pillow equals torch's uint8 antialiased resize on these inputs (recomputed)."""
    images = make_golden.published_images()
    sizes = [(16 * h, 16 * w) for h, w in published["inputs"]["spatial_shapes"]]
    rows = make_golden.resize_comparison(images, sizes)
    assert rows == published["resize_comparison"], f"the resize comparison changed: {HINT}"
    assert all(r["uint8_kernel_differing"] == 0 for r in rows)


@pytest.mark.checkpoint
@pytest.mark.parametrize("hf_id", list(make_golden.PUBLISHED_LOGITS))
def test_published_checkpoint_logits(published, hf_id):
    folder = hub.find_local(hf_id)
    if folder is None:
        name = hf_id.split("/")[1]
        pytest.skip(
            f"{hf_id} is not on disk. To run this test, put {', '.join(hub.REQUIRED_FILES)} from "
            f"https://huggingface.co/{hf_id} in $SIGLIP2_CHECKPOINTS/{name}/ (and set SIGLIP2_CHECKPOINTS), or "
            f"download it into the HF cache ({hub.hf_cache_dir()}) with `hf download {hf_id}`; "
            "then `pytest tests/test_golden.py -k published`"
        )
    check_published(folder, hf_id, published)


def check_published(folder, hf_id, published):
    """Our processor (256 patches) and model on the regenerated inputs vs HF's logits: ranking, then values."""
    from siglip2_min.processor import load_processor

    model = siglip2_min.load_model(folder)
    processor = load_processor(folder)
    inputs = processor(images=make_golden.published_images(), text=make_golden.PUBLISHED_TEXTS, max_num_patches=256)
    assert inputs["spatial_shapes"].tolist() == published["inputs"]["spatial_shapes"]
    with torch.no_grad():
        logits = model(**inputs).logits_per_text  # [7, 3]
    expected = np.array(published["expected"][hf_id])  # [7, 3]
    # Which text fits each image best, second best, ...: the order must be HF's exactly.
    assert (np.argsort(-logits.numpy(), axis=0) == np.argsort(-expected, axis=0)).all(), (
        f"text ranking per image differs from HF's:\n{logits.numpy().round(4)}\nvs\n{expected}")
    tol = published["tolerance"]
    assert_close(f"{hf_id} logits_per_text vs HF", logits, expected, atol=tol["atol"], rtol=tol["rtol"])


def test_published_check_runs_and_fails_on_other_weights(published, tmp_path, monkeypatch):
    """The checkpoint test is not vacuous: random weights laid out as the checkpoint are found and rejected."""
    from tiny_folder import make_model_folder

    hf_id = "google/siglip2-base-patch16-naflex"
    folder, _ = make_model_folder(tmp_path / "ckpts" / "siglip2-base-patch16-naflex", patch_size=16,
                                  max_num_patches=256)
    monkeypatch.setenv("SIGLIP2_CHECKPOINTS", str(tmp_path / "ckpts"))
    assert hub.find_local(hf_id) == folder
    with pytest.raises(AssertionError, match="differs from HF|logits_per_text vs HF"):
        check_published(folder, hf_id, published)
