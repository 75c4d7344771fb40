"""ONNX export: the exported towers run in onnxruntime and equal the torch model on mixed-aspect batches.

The bundled model is exported through the command (`siglip2-min export --out DIR`), so the onnxruntime tests below
check what a user of the command gets; the FixRes test calls `export_onnx` itself.

Exporting traces the whole model through torch.export and writes ONNX; it takes about a minute on a 2-core
machine for the two families together, hence `slow`. Tolerance 1e-4 (the issue's bound): onnxruntime runs the
same fp32 operations with its own kernels and fusions; unit-length embeddings and logits of order 1-10.
"""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

import siglip2_min
from siglip2_min import export
from siglip2_min.__main__ import main
from siglip2_min.export import export_onnx
from siglip2_min.fileio import OutputError
from siglip2_min.hub import BUNDLED
from spm_fixture import train_tiny_spm
from tolerance import assert_close

ort = pytest.importorskip("onnxruntime", reason='needs the [export] extra: pip install -e ".[export]"')
pytest.importorskip("onnxscript", reason='needs the [export] extra: pip install -e ".[export]"')
pytestmark = pytest.mark.slow
ATOL = 1e-4
IMAGES = [Image.new("RGB", size, colour) for size, colour in
          (((64, 32), "red"), ((30, 90), "blue"), ((200, 20), "green"), ((48, 48), "white"))]  # 1:2 .. 10:1


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx") / "bundled"
    assert main(["export", "--out", str(out)]) == 0
    return siglip2_min.load_model(), siglip2_min.load_processor(), out


def run(folder, name, feeds):
    session = ort.InferenceSession(str(folder / name), providers=["CPUExecutionProvider"])
    return session.run(None, {k: np.ascontiguousarray(v) for k, v in feeds.items()})[0]


@pytest.mark.parametrize("budget", [16, 64])  # two NaFlex budgets: the graph has no fixed N
def test_naflex_onnx_equals_torch_on_mixed_aspect_batches(bundled, budget):
    model, processor, folder = bundled
    texts = ["a red square", "a blue star", "a green circle"]
    inputs = processor(images=IMAGES, text=texts, max_num_patches=budget)
    images = run(folder, "vision.onnx", {
        "pixel_values": inputs["pixel_values"].numpy().astype(np.float32),
        "pixel_attention_mask": inputs["pixel_attention_mask"].numpy().astype(np.int64),
        "spatial_shapes": inputs["spatial_shapes"].numpy().astype(np.int64)})  # [B, E]
    texts = run(folder, "text.onnx", {"input_ids": inputs["input_ids"].numpy().astype(np.int64)})  # [T, E]
    with torch.no_grad():
        out = model(**{k: torch.as_tensor(v) for k, v in inputs.items()})
    assert_close(f"image embeddings at {budget} patches", images, out.image_embeds, ATOL)
    assert_close("text embeddings", texts, out.text_embeds, ATOL)
    scale = json.loads((folder / "logits.json").read_text())
    logits = scale["scale"] * images @ texts.T + scale["bias"]  # [B, T], as logits.json documents
    assert_close("logits", logits, out.logits_per_image, ATOL)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "logits.json", "preprocessor_config.json",
                                                         "text.onnx", "tokenizer.model", "vision.onnx"]


def test_fixres_onnx_equals_torch(fixres_checkpoint, tmp_path):
    folder = tmp_path / "fixres"
    shutil.copytree(fixres_checkpoint[0], folder)
    train_tiny_spm(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps({"image_processor_type": "SiglipImageProcessor",
                                                                 "size": {"height": 16, "width": 16}}))
    model = siglip2_min.load_model(folder)
    out = export_onnx(model, tmp_path / "onnx", folder)
    pv = torch.randn(3, model.config.vision.num_patches, model.config.vision.patch_dim)  # [B, G*G, P], no padding
    feeds = {"pixel_values": pv.numpy(), "pixel_attention_mask": np.ones(pv.shape[:2], dtype=np.int64),
             "spatial_shapes": np.full((3, 2), model.config.vision.grid_size, dtype=np.int64)}
    session = ort.InferenceSession(str(out / "vision.onnx"), providers=["CPUExecutionProvider"])
    images = session.run(None, {i.name: feeds[i.name] for i in session.get_inputs()})[0]  # a FixRes graph
    with torch.no_grad():  # may leave spatial_shapes out: it does not read it
        ref = torch.nn.functional.normalize(model.encode_image(pv), dim=-1)
    assert_close("FixRes image embeddings", images, ref, ATOL)


def test_export_refuses_to_overwrite_and_a_folder_of_another_model(bundled, tmp_path):
    model, _, folder = bundled
    with pytest.raises(OutputError):
        export_onnx(model, folder)  # exists: nothing is replaced without overwrite=True
    other = tmp_path / "other"
    shutil.copytree(BUNDLED, other)
    config = json.loads((other / "config.json").read_text())
    config["text_config"]["num_hidden_layers"] = 1
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="config differs"):  # its config.json would be copied beside our graphs
        export_onnx(model, tmp_path / "x", other)


def test_export_command_refuses_an_existing_out_a_bad_model_and_a_missing_extra(bundled, tmp_path, capsys,
                                                                                monkeypatch):
    _, _, folder = bundled
    before = (folder / "vision.onnx").stat().st_mtime_ns
    assert main(["export", "--out", str(folder)]) == 2  # exists, no --overwrite: refused before any work
    assert "already exists" in capsys.readouterr().err
    assert (folder / "vision.onnx").stat().st_mtime_ns == before
    assert main(["export", str(tmp_path / "nowhere"), "--out", str(tmp_path / "a")]) == 2
    assert "does not exist" in capsys.readouterr().err
    broken = tmp_path / "broken"
    shutil.copytree(BUNDLED, broken)
    weights = (broken / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(weights[: len(weights) // 2])  # a download cut short
    assert main(["export", str(broken), "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model.safetensors" in err, err
    monkeypatch.setattr(export, "missing_packages", lambda: ["onnx", "onnxscript"])  # as if without the extra
    assert main(["export", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "onnx and onnxscript" in err and "siglip2-min[export]" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken"]  # nothing written by any of the refusals
