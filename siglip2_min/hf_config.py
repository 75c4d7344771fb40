"""HF's `config.json` to `SigLIP2Config` and back, for both families and the one-tower classes.

Upstream: HF `configuration_siglip2.py` / `configuration_siglip.py` (the schema). Unknown HF keys (dropout,
attention implementation, ...) are ignored; every value that is kept is checked when the dataclass is built
(`checks.check_fields`), so a bad `config.json` fails at once with the key named.
"""

from .checks import LIMITS
from .config import MODEL_TYPES, SigLIP2Config, TextConfig, VisionConfig

# HF's one-tower classes (`Siglip2VisionModel`, `SiglipTextModel`, ...): their config.json is that tower's config
# at the top level, not under vision_config / text_config. model_type -> (family, tower).
TOWER_TYPES = {"siglip2_vision_model": ("siglip2", "vision"), "siglip_vision_model": ("siglip", "vision"),
               "siglip2_text_model": ("siglip2", "text"), "siglip_text_model": ("siglip", "text")}


def _pick(cls, hf: dict, **overrides):
    """Keep the keys of `hf` that `cls` knows, then apply overrides: unknown HF keys (dropout, act) are ignored."""
    names = cls.__dataclass_fields__.keys()
    return cls(**{**{k: v for k, v in hf.items() if k in names}, **overrides})


def from_hf_config(hf: dict) -> SigLIP2Config:
    """Build the config from the dict of an HF `config.json`: `Siglip2Config` or `SiglipConfig` (both towers), or
    a one-tower `Siglip2VisionConfig`, `SiglipVisionConfig`, `Siglip2TextConfig`, `SiglipTextConfig`.

    Every value is checked (type, range, heads dividing the width): a ValueError names the key.
    """
    if not isinstance(hf, dict):
        raise ValueError(f"config.json must hold a JSON object, got {type(hf).__name__}")
    model_type = hf.get("model_type")
    if model_type in TOWER_TYPES:  # one tower: its keys at the top level
        model_type, tower = TOWER_TYPES[model_type]
        text, vision = (hf, None) if tower == "text" else (None, hf)
    elif model_type in MODEL_TYPES:
        text, vision = hf.get("text_config", {}), hf.get("vision_config", {})
        text, vision = {} if text is None else text, {} if vision is None else vision
    else:
        raise ValueError(f"unknown model_type {model_type!r} in config.json: expected 'siglip2' (NaFlex) or "
                         f"'siglip' (FixRes), or a one-tower {' / '.join(map(repr, TOWER_TYPES))}")
    for name, sub in (("text_config", text), ("vision_config", vision)):
        if sub is not None and not isinstance(sub, dict):
            raise ValueError(f"{name} must be a JSON object, got {type(sub).__name__}")
        if sub is not None and sub.get("hidden_act") not in (None, "gelu_pytorch_tanh"):
            raise ValueError(f"{name}.hidden_act is {sub['hidden_act']!r}; SigLIP2 uses the tanh GELU "
                             "'gelu_pytorch_tanh'")
    try:
        text_cfg = text if text is None else _pick(
            TextConfig, text, projection_size=text.get("projection_size") or text.get("hidden_size", 768))
        vision_cfg = vision if vision is None else _vision_config(vision, model_type)
    except ValueError as e:
        if text is not None and vision is not None:
            raise
        one_tower = hf["model_type"]
        raise ValueError(f"{e} (a one-tower {one_tower!r} config.json holds these keys at its top level)") from None
    architectures = hf.get("architectures") or []
    if not (isinstance(architectures, list) and all(isinstance(a, str) for a in architectures)):
        raise ValueError(f"architectures must be a list of class names, got {architectures!r:.60}")
    classifier = {"Siglip2ForImageClassification", "SiglipForImageClassification"} & set(architectures)
    labels = hf.get("id2label") if classifier else {}
    if classifier and not (isinstance(labels, dict) and labels):
        raise ValueError(f"id2label must be a JSON object naming at least one class ({sorted(classifier)[0]} is an "
                         f"image classifier), got {labels!r:.60}")
    return SigLIP2Config(text=text_cfg, vision=vision_cfg, model_type=model_type, num_labels=len(labels))


def _vision_config(vision: dict, model_type: str) -> VisionConfig:
    use_head = vision.get("vision_use_head", True)
    if model_type == "siglip2":
        return _pick(VisionConfig, vision, naflex=True, use_head=use_head)
    image_size, patch = vision.get("image_size", 224), vision.get("patch_size", 16)
    for key, value in (("image_size", image_size), ("patch_size", patch)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= LIMITS[key]:
            raise ValueError(f"vision_config.{key} is {value!r}: FixRes takes square images, an integer side "
                             f"in [1, {LIMITS[key]}]")
    if patch > image_size:
        raise ValueError(f"vision_config.patch_size {patch} is larger than image_size {image_size}")
    return _pick(VisionConfig, vision, naflex=False, image_size=image_size, patch_size=patch,
                 num_patches=(image_size // patch) ** 2,  # So400m/14 at 384: 27 x 27, 6 pixels dropped
                 use_head=use_head)


def to_hf_config(config: SigLIP2Config) -> dict:
    """The inverse of `from_hf_config`: a `config.json` dict that transformers and `load_model` both read (a
    one-tower config gives the one-tower classes' flat layout)."""
    t, v = config.text, config.vision
    text = t and dict(
        vocab_size=t.vocab_size, hidden_size=t.hidden_size, intermediate_size=t.intermediate_size,
        num_hidden_layers=t.num_hidden_layers, num_attention_heads=t.num_attention_heads,
        max_position_embeddings=t.max_position_embeddings, projection_size=t.projection_size,
        layer_norm_eps=t.layer_norm_eps, hidden_act="gelu_pytorch_tanh",
        # Gemma ids (docs/tokenizer-contract.md), not HF's CLIP defaults
        pad_token_id=0, eos_token_id=1, bos_token_id=2,
    )
    vision = v and dict(
        hidden_size=v.hidden_size, intermediate_size=v.intermediate_size, num_hidden_layers=v.num_hidden_layers,
        num_attention_heads=v.num_attention_heads, num_channels=v.num_channels, patch_size=v.patch_size,
        layer_norm_eps=v.layer_norm_eps, hidden_act="gelu_pytorch_tanh", vision_use_head=v.use_head,
        **({"num_patches": v.num_patches} if v.naflex else {"image_size": v.image_size}),
    )
    family = "Siglip2" if config.model_type == "siglip2" else "Siglip"
    if config.towers != "both":
        tower = config.towers
        return dict(architectures=[f"{family}{tower.title()}Model"], model_type=f"{config.model_type}_{tower}_model",
                    **(vision or text))
    return dict(architectures=[f"{family}Model"], model_type=config.model_type, text_config=text, vision_config=vision)
