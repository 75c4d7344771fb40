"""Configs: reading HF config.json, the preset table against the published parameter counts."""

import dataclasses
import inspect
import json

import pytest

import siglip2_min
import siglip2_min.config as config_module
from siglip2_min.config import PRESETS
from siglip2_min.hf_config import from_hf_config, to_hf_config
from siglip2_min.model import param_count

# docs/index.md: whole-model parameter counts of the published checkpoints, in millions (one decimal).
PUBLISHED = {
    "siglip2-base-patch16-naflex": 375.2,
    "siglip2-base-patch16-224": 375.2,
    "siglip2-large-patch16-256": 881.5,
    "siglip2-so400m-patch16-naflex": 1135.7,
    "siglip2-so400m-patch16-256": 1135.7,
    "siglip2-giant-opt-patch16-256": 1871.4,
}


@pytest.mark.parametrize("name", PUBLISHED)
def test_preset_parameter_counts_match_the_published_models(name):
    assert round(param_count(PRESETS[name]) / 1e6, 1) == PUBLISHED[name]


def test_param_count_equals_the_built_models_parameters(naflex_checkpoint, fixres_checkpoint):
    for folder, hf in (naflex_checkpoint, fixres_checkpoint):
        model = siglip2_min.load_model(folder)
        assert param_count(model.config) == sum(p.numel() for p in model.parameters())
        assert param_count(model.config) == sum(p.numel() for p in hf.parameters())


def test_preset_comments_state_the_built_models_parameter_counts():
    # The table's comments ("# 16x16; 375.2M") are read by people: each must equal the model built on meta.
    source = inspect.getsource(config_module)
    for name, config in PRESETS.items():
        line = source[source.index(f'"{name}"'):].split("\n")[0]
        if "#" in line:
            assert f"{param_count(config) / 1e6:.1f}M" in line, f"{name}: {line}"


def test_presets_cover_the_published_checkpoints():
    assert len(PRESETS) == 18  # 17 published + the bundled tiny model
    assert PRESETS["siglip2-so400m-patch14-384"].vision.grid_size == 27  # 384 // 14: last 6 pixels dropped
    assert PRESETS["siglip2-giant-opt-patch16-256"].text.projection_size == 1536


def test_config_round_trips_through_transformers(tmp_path):
    import transformers

    for name in ("siglip2-base-patch16-naflex", "siglip2-base-patch16-224"):
        config = PRESETS[name]
        hf_dict = to_hf_config(config)
        cls = transformers.Siglip2Config if config.model_type == "siglip2" else transformers.SiglipConfig
        hf = cls(text_config=hf_dict["text_config"], vision_config=hf_dict["vision_config"])
        hf.save_pretrained(tmp_path / name)
        assert from_hf_config(json.loads((tmp_path / name / "config.json").read_text())) == config


def test_config_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown model_type None"):
        from_hf_config({})
    with pytest.raises(ValueError, match="tanh GELU"):
        from_hf_config({"model_type": "siglip2", "vision_config": {"hidden_act": "gelu"}})
    with pytest.raises(ValueError, match="not a square number"):
        from_hf_config({"model_type": "siglip2", "vision_config": {"num_patches": 200}})
    with pytest.raises(ValueError, match="patch_size 32 is larger than image_size 16"):
        from_hf_config({"model_type": "siglip", "vision_config": {"image_size": 16, "patch_size": 32}})
    with pytest.raises(ValueError, match="text_config must be a JSON object"):
        from_hf_config({"model_type": "siglip2", "text_config": [1]})
    with pytest.raises(ValueError, match="projection_size"):
        siglip2_min.SigLIP2(siglip2_min.SigLIP2Config(text=siglip2_min.TextConfig(projection_size=10)))


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        PRESETS["siglip2-base-patch16-naflex"].vision.hidden_size = 1
