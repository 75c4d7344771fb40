"""The checkpoint loader: safetensors only, shards, dtypes, and one clear error for every way a folder can be wrong."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

import siglip2_min
from siglip2_min import CheckpointError
from siglip2_min.weights import hf_state_dict
from hf_fixtures import naflex_inputs, text_inputs


@pytest.fixture
def folder(naflex_checkpoint, tmp_path):
    """A private, editable copy of the random NaFlex checkpoint."""
    dst = tmp_path / "ckpt"
    shutil.copytree(naflex_checkpoint[0], dst)
    return dst


def edit_tensors(folder, fn):
    tensors = load_file(folder / "model.safetensors")
    fn(tensors)
    save_file(tensors, folder / "model.safetensors")


def test_loads_as_inference_model_in_eval_mode(folder):
    model = siglip2_min.load_model(folder)
    assert not model.training
    assert all(not p.requires_grad and p.device.type == "cpu" for p in model.parameters())
    assert not any(p.is_meta for p in model.parameters())


def test_sharded_checkpoint_loads_the_same_numbers(folder, tmp_path):
    tensors = load_file(folder / "model.safetensors")
    names = sorted(tensors)
    shards = tmp_path / "sharded"
    shards.mkdir()
    shutil.copy(folder / "config.json", shards)
    weight_map = {}
    for k, part in enumerate((names[: len(names) // 2], names[len(names) // 2 :])):
        file = f"model-{k + 1:05d}-of-00002.safetensors"
        save_file({n: tensors[n] for n in part}, shards / file)
        weight_map.update({n: file for n in part})
    (shards / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    a, b = siglip2_min.load_model(folder), siglip2_min.load_model(shards)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name


def test_dtype_and_attn_arguments(folder):
    model = siglip2_min.load_model(folder, dtype=torch.bfloat16, attn="eager")
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    assert model.vision_model.encoder.layers[0].self_attn.attn == "eager"
    with pytest.raises(ValueError, match="attn must be one of"):
        siglip2_min.load_model(folder, attn="flash")
    with pytest.raises(TypeError, match="floating torch.dtype"):
        siglip2_min.load_model(folder, dtype="float32")


def test_missing_tensor_is_named(folder):
    edit_tensors(folder, lambda t: t.pop("vision_model.head.probe"))
    with pytest.raises(CheckpointError, match=r"missing tensor 'vision_model.head.probe' \(shape \(1, 1, 48\)\)"):
        siglip2_min.load_model(folder)


def test_unexpected_tensor_is_named(folder):
    edit_tensors(folder, lambda t: t.update(extra_weight=torch.zeros(2)))
    with pytest.raises(CheckpointError, match="unexpected tensor 'extra_weight' in model.safetensors"):
        siglip2_min.load_model(folder)


def test_wrong_shape_is_named_with_both_shapes(folder):
    edit_tensors(folder, lambda t: t.update({"text_model.head.weight": torch.zeros(48, 31)}))
    with pytest.raises(CheckpointError, match=r"'text_model.head.weight' has shape \(48, 31\) .* needs \(48, 32\)"):
        siglip2_min.load_model(folder)


def test_unknown_model_type(folder):
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_type": "clip"}))
    with pytest.raises(ValueError, match="unknown model_type 'clip'"):
        siglip2_min.load_model(folder)


def test_truncated_safetensors_file(folder):
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="model.safetensors"):
        siglip2_min.load_model(folder)


def test_garbage_header(folder):
    (folder / "model.safetensors").write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        siglip2_min.load_model(folder)


def test_invalid_config_json(folder):
    (folder / "config.json").write_text("{")
    with pytest.raises(CheckpointError, match="config.json is not valid JSON"):
        siglip2_min.load_model(folder)


def test_pickle_checkpoints_are_refused_not_loaded(folder):
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(FileNotFoundError, match="pickle files can run arbitrary code"):
        siglip2_min.load_model(folder)


def test_missing_folder_and_missing_config(folder, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        siglip2_min.load_model(tmp_path / "nowhere")
    (folder / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match="lacks config.json"):
        siglip2_min.load_model(folder)


def test_missing_shard_is_named(folder):
    names = list(load_file(folder / "model.safetensors"))
    index = {"weight_map": {n: "model-00001-of-00001.safetensors" for n in names}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(FileNotFoundError, match="model-00001-of-00001.safetensors is missing"):
        siglip2_min.load_model(folder)


def test_classifier_checkpoint_skips_only_the_unused_map_head(classifier_checkpoint):
    model = siglip2_min.load_model(classifier_checkpoint[0])
    assert model.vision_model.head is None and model.classifier.out_features == 5
    pv, mask, ss = naflex_inputs([(4, 4)], 16)
    assert model(pv, mask, ss).shape == (1, 5)


def test_fixres_conv_weight_becomes_the_linear_patch_embedding(fixres_checkpoint):
    folder, hf = fixres_checkpoint
    conv = hf.vision_model.embeddings.patch_embedding.weight  # [D, 3, p, p]
    linear = siglip2_min.load_model(folder).vision_model.embeddings.patch_embedding.weight  # [D, p*p*3]
    p = conv.shape[-1]
    # weight for (py, px, c) at column (py*p + px)*3 + c
    assert torch.equal(linear[:, (2 * p + 1) * 3 + 2], conv[:, 2, 2, 1])
    assert linear.shape == (conv.shape[0], p * p * 3)


@pytest.mark.parametrize("which", ["naflex_checkpoint", "fixres_checkpoint", "classifier_checkpoint"])
def test_hf_state_dict_gives_back_the_files_tensors_bit_for_bit(which, request):
    folder, _ = request.getfixturevalue(which)
    saved = load_file(folder / "model.safetensors")
    if which == "classifier_checkpoint":  # the unused MAP head is dropped on load, so it cannot come back
        saved = {k: v for k, v in saved.items() if not k.startswith("vision_model.head.")}
    state = hf_state_dict(siglip2_min.load_model(folder))
    assert state.keys() == saved.keys()
    assert all(torch.equal(state[k], saved[k]) and state[k].shape == saved[k].shape for k in saved)


@pytest.mark.parametrize("which", ["naflex_checkpoint", "fixres_checkpoint"])
def test_hf_state_dict_saved_loads_in_transformers(which, request, tmp_path):
    folder, hf = request.getfixturevalue(which)
    shutil.copyfile(folder / "config.json", tmp_path / "config.json")
    save_file(hf_state_dict(siglip2_min.load_model(folder)), tmp_path / "model.safetensors", metadata={"format": "pt"})
    reloaded = type(hf).from_pretrained(tmp_path).state_dict()
    assert all(torch.equal(reloaded[k], v) for k, v in hf.state_dict().items())


def test_model_runs_after_loading(folder):
    model = siglip2_min.load_model(folder)
    pv, mask, ss = naflex_inputs([(3, 5)], 16)
    out = model(input_ids=text_inputs(1), pixel_values=pv, pixel_attention_mask=mask, spatial_shapes=ss)
    assert torch.isfinite(out.logits_per_image).all()


@pytest.mark.parametrize("key, value, message", [
    ("num_hidden_layers", 10**9, r"vision_config.num_hidden_layers is 1000000000: expected an integer in \[1, 1024\]"),
    ("hidden_size", "48", r"vision_config.hidden_size is '48'"),
    ("num_attention_heads", 5, "vision_config.hidden_size 48 is not divisible by num_attention_heads 5"),
    ("patch_size", 0, r"vision_config.patch_size is 0"),
    ("layer_norm_eps", -1, r"vision_config.layer_norm_eps is -1"),
    ("num_patches", True, r"vision_config.num_patches is True"),
])
def test_config_values_are_checked_on_load_naming_file_and_key(folder, key, value, message):
    # A value from a file never hangs the loader (1e9 layers would allocate for hours) or builds a wrong model.
    config = json.loads((folder / "config.json").read_text())
    config["vision_config"][key] = value
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=f"config.json: {message}"):
        siglip2_min.load_model(folder)


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool])
def test_integer_or_bool_weights_are_refused_naming_the_key(folder, dtype):
    edit_tensors(folder, lambda t: t.update({"text_model.head.bias": t["text_model.head.bias"].to(dtype)}))
    with pytest.raises(CheckpointError, match=f"'text_model.head.bias' is stored as {dtype}"):
        siglip2_min.load_model(folder)
