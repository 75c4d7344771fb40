"""One-tower models: `load_model(path, towers=...)`, and HF's one-tower folders against transformers' own classes.

transformers 5.23's `Siglip2VisionModel.save_pretrained` (and `SiglipVisionModel`, `Siglip2TextModel`,
`SiglipTextModel`) writes a flat config.json (model_type `siglip2_vision_model`, ...) and tensor names without the
`vision_model.` / `text_model.` prefix; transformers 4 wrote them with it, and 5.23 still reads both. Both layouts
are made here from one random model, and both must give transformers' numbers.
"""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

import hf_fixtures
import siglip2_min
from hf_fixtures import naflex_inputs, text_inputs
from siglip2_min.__main__ import main
from siglip2_min.config import PRESETS
from siglip2_min.hf_config import from_hf_config, to_hf_config
from siglip2_min.weights import keep_towers
from test_model import patchify
from tiny_folder import make_model_folder
from tolerance import assert_close

# float32 on both sides, the same operations in another order (fused SDPA here, HF's eager softmax there): the
# bound test_model.py uses for the same tower outputs of the two-tower models.
ATOL = 2e-5
SHAPES = [(4, 4), (2, 7), (1, 3)]  # NaFlex grids with padding in all but the first image: N = 16 slots


def one_tower(kind):
    """A random HF one-tower model of `kind` (the fixtures' tower sizes), in eval mode."""
    import transformers

    torch.manual_seed(0)
    if kind.endswith("vision"):
        size = {"num_patches": 16} if kind.startswith("siglip2") else {"image_size": 16}
        config = hf_fixtures.VISION | size
    else:
        config = {**hf_fixtures.TEXT, "max_position_embeddings": 64}
    family = "Siglip2" if kind.startswith("siglip2") else "Siglip"
    tower = "Vision" if kind.endswith("vision") else "Text"
    config = getattr(transformers, f"{family}{tower}Config")(**config)
    return getattr(transformers, f"{family}{tower}Model")(config).eval()


def save(model, folder, prefixed):
    """`save_pretrained`, then, for the transformers 4 layout, the tensors renamed with the tower's prefix."""
    model.save_pretrained(folder)
    if prefixed:
        file = folder / "model.safetensors"
        prefix = "vision_model." if "vision" in model.config.model_type else "text_model."
        save_file({prefix + k: v for k, v in load_file(file).items()}, file, metadata={"format": "pt"})
    return folder


def hf_outputs(model, kind):
    """(inputs for our tower, HF's (pooled, last hidden state, valid-slot mask)) for a fixed batch."""
    with torch.no_grad():
        if kind == "siglip2_vision":
            pv, mask, ss = naflex_inputs(SHAPES, 16)
            ref = model(pixel_values=pv, pixel_attention_mask=mask, spatial_shapes=ss)
            return (pv, mask, ss), (ref.pooler_output, ref.last_hidden_state, mask.bool())
        if kind == "siglip_vision":
            images = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1  # [B, 3, S, S]
            ref = model(pixel_values=images)
            return (patchify(images, 4),), (ref.pooler_output, ref.last_hidden_state, None)
        ids = text_inputs(3)
        ref = model(input_ids=ids)
        return (ids,), (ref.pooler_output, ref.last_hidden_state, None)


@pytest.mark.parametrize("prefixed", [False, True], ids=["transformers5-layout", "prefixed-layout"])
@pytest.mark.parametrize("kind", ["siglip2_vision", "siglip_vision", "siglip2_text", "siglip_text"])
def test_hf_one_tower_folders_match_transformers_one_tower_classes(kind, prefixed, tmp_path):
    hf = one_tower(kind)
    folder = save(hf, tmp_path, prefixed)
    assert json.loads((folder / "config.json").read_text())["model_type"] == f"{kind}_model"
    reloaded = type(hf).from_pretrained(folder).eval()  # transformers reads this layout too, to the same numbers
    ours = siglip2_min.load_model(folder)
    tower = kind.split("_")[1]
    assert ours.config.towers == tower and ours.logit_scale is None
    assert getattr(ours, "text_model" if tower == "vision" else "vision_model") is None
    inputs, (pooled, last, valid) = hf_outputs(hf, kind)
    _, (pooled_again, _, _) = hf_outputs(reloaded, kind)
    assert torch.equal(pooled, pooled_again)
    with torch.no_grad():
        out = ours.get_image_features(*inputs) if tower == "vision" else ours.get_text_features(*inputs)
    valid = torch.ones(last.shape[:2], dtype=torch.bool) if valid is None else valid  # padded slots: no meaning
    assert_close(f"{kind}.pooled", out.pooler_output, pooled, ATOL)
    assert_close(f"{kind}.last_hidden_state", out.last_hidden_state[valid], last[valid], ATOL)


@pytest.mark.parametrize("tower", ["vision", "text"])
def test_one_tower_of_a_two_tower_checkpoint_is_that_tower_exactly(naflex_checkpoint, tower):
    folder, _ = naflex_checkpoint
    both, one = siglip2_min.load_model(folder), siglip2_min.load_model(folder, towers=tower)
    prefix = f"{tower}_model."
    assert one.state_dict().keys() == {k for k in both.state_dict() if k.startswith(prefix)}
    with torch.no_grad():
        if tower == "vision":
            pv, mask, ss = naflex_inputs(SHAPES, 16)
            assert torch.equal(one.encode_image(pv, mask, ss), both.encode_image(pv, mask, ss))
        else:
            assert torch.equal(one.encode_text(text_inputs(3)), both.encode_text(text_inputs(3)))


def test_loading_the_vision_tower_never_reads_the_text_tower(naflex_checkpoint, tmp_path):
    # The text tensors and the pair's logit_scale / logit_bias removed from the file: the vision tower still loads.
    folder, _ = naflex_checkpoint
    shutil.copy(folder / "config.json", tmp_path / "config.json")
    state = load_file(folder / "model.safetensors")
    save_file({k: v for k, v in state.items() if k.startswith("vision_model.")}, tmp_path / "model.safetensors")
    assert siglip2_min.load_model(tmp_path, towers="vision").config.towers == "vision"
    with pytest.raises(siglip2_min.CheckpointError, match="missing tensor 'logit_scale'"):
        siglip2_min.load_model(tmp_path)


def test_a_missing_tower_is_named_on_load_and_on_use(tmp_path, classifier_checkpoint):
    folder = save(one_tower("siglip2_vision"), tmp_path, prefixed=False)
    for towers in ("text", "both"):
        with pytest.raises(siglip2_min.CheckpointError, match="no text tower .*towers='vision'"):
            siglip2_min.load_model(folder, towers=towers)
    with pytest.raises(ValueError, match="towers must be"):
        siglip2_min.load_model(folder, towers="image")
    with pytest.raises(siglip2_min.CheckpointError, match="image-classification checkpoint has no text tower"):
        siglip2_min.load_model(classifier_checkpoint[0], towers="text")
    classifier = siglip2_min.load_model(classifier_checkpoint[0], towers="vision")  # all a classifier has
    assert isinstance(classifier, siglip2_min.ImageClassifier) and classifier.config.towers == "vision"
    vision = siglip2_min.load_model(folder)
    with pytest.raises(ValueError, match="no text tower .*towers='text'"):
        vision(input_ids=text_inputs(2))
    text = siglip2_min.load_model(None, towers="text")
    with pytest.raises(ValueError, match="no vision tower"):
        text.encode_image(*naflex_inputs([(2, 2)], 4, patch_size=8))


def test_api_embeds_images_with_the_vision_tower_alone():
    both, vision = siglip2_min.load_model(), siglip2_min.load_model(towers="vision")
    processor = siglip2_min.load_processor()
    images = [np.full((20, 30, 3), c, dtype=np.uint8) for c in (0, 128, 255)]
    assert torch.equal(siglip2_min.embed_images(vision, processor, images),
                       siglip2_min.embed_images(both, processor, images))
    assert siglip2_min.embed_images(vision, processor, []).shape == (0, both.config.vision.hidden_size)
    with pytest.raises(ValueError, match="no text tower"):
        siglip2_min.embed_texts(vision, processor, ["a cat"])
    with pytest.raises(ValueError, match="no text tower"):
        siglip2_min.zero_shot(vision, processor, images, ["cat", "dog"])
    text = siglip2_min.load_model(towers="text")
    with pytest.raises(ValueError, match="no vision tower"):
        siglip2_min.embed_images(text, processor, images)
    embeds = siglip2_min.embed_images(both, processor, images)
    with pytest.raises(ValueError, match="no logit_scale"):
        siglip2_min.image_text_logits(text, embeds, embeds)


@pytest.mark.parametrize("tower", ["vision", "text"])
def test_one_tower_config_round_trips_through_transformers(tower, tmp_path):
    import transformers

    config = keep_towers(PRESETS["siglip2-min-tiny"], tower)
    hf_dict = to_hf_config(config)
    cls = getattr(transformers, hf_dict["architectures"][0].replace("Model", "Config"))
    cls(**{k: v for k, v in hf_dict.items() if k not in ("architectures", "model_type")}).save_pretrained(tmp_path)
    assert from_hf_config(json.loads((tmp_path / "config.json").read_text())) == config


def test_cli_embed_takes_a_vision_only_folder_and_classify_refuses_it(tmp_path, capsys):
    # A vision-only folder as a user makes one: the vision tower of a full model folder, saved by transformers'
    # one-tower class, with the image processor's file and no tokenizer.
    import transformers

    full, _ = make_model_folder(tmp_path / "full")
    vision = tmp_path / "vision"
    transformers.Siglip2VisionModel.from_pretrained(full).save_pretrained(vision)
    shutil.copy(full / "preprocessor_config.json", vision)
    image = tmp_path / "red.png"
    Image.new("RGB", (24, 16), (200, 30, 30)).save(image)
    assert main(["embed", str(image), "--model", str(vision), "--out", str(tmp_path / "v.npz")]) == 0
    assert main(["embed", str(image), "--model", str(full), "--out", str(tmp_path / "f.npz")]) == 0
    with np.load(tmp_path / "v.npz") as v, np.load(tmp_path / "f.npz") as f:
        # The same weights through the same code; float32 kernels may still round differently on buffers laid
        # out differently (seen: 1e-8), far below any real difference in the weights.
        assert_close("embeddings", v["embeddings"], f["embeddings"], 1e-6)
    for name in ("tokenizer.model", "tokenizer_config.json"):
        shutil.copy(full / name, vision)
    assert main(["classify", str(image), "--model", str(vision), "--labels", "red"]) == 2  # a usage error: one line
    assert "holds the vision tower only; `classify` needs" in capsys.readouterr().err


def test_the_processor_reads_a_one_tower_config_json(tmp_path):
    # No preprocessor_config.json: patch size and image size come from the flat config.json, not HF's defaults.
    fixres = save(one_tower("siglip_vision"), tmp_path / "fixres", prefixed=False)
    processor = siglip2_min.load_processor(fixres)
    assert (processor.naflex, processor.patch_size, processor.image_size) == (False, 4, (16, 16))
    naflex = save(one_tower("siglip2_vision"), tmp_path / "naflex", prefixed=False)
    processor = siglip2_min.load_processor(naflex)
    assert (processor.naflex, processor.patch_size, processor.max_num_patches) == (True, 4, 16)


def test_a_bad_value_in_a_one_tower_config_json_names_its_top_level_key(tmp_path):
    folder = save(one_tower("siglip2_vision"), tmp_path, prefixed=False)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "patch_size": 0}))
    with pytest.raises(siglip2_min.CheckpointError,
                       match=r"config.json: vision_config.patch_size is 0.*'siglip2_vision_model' config.json holds "
                             "these keys at its top level"):
        siglip2_min.load_model(folder)
