"""Model configuration: one frozen dataclass per tower, read from an HF `config.json`, and the published presets.

Upstream: HF `configuration_siglip2.py` / `configuration_siglip.py` (the `config.json` schema), big_vision
`models/vit.py` variant table ("B/16", "So400m/14", ...). Both checkpoint families share one architecture
(docs/model/embeddings.md); they differ only in how patches get their position embedding:

- NaFlex (`model_type: "siglip2"`): a `G x G` table (G = 16) resized per image to its (h, w) patch grid.
- FixRes (`model_type: "siglip"`): a fixed `(S/p) x (S/p)` table for square images of side S, added as is.
"""

import math
from dataclasses import dataclass, field

MODEL_TYPES = {"siglip2": "naflex", "siglip": "fixres"}


@dataclass(frozen=True)
class VisionConfig:
    hidden_size: int = 768  # D, the width of every vision token
    intermediate_size: int = 3072  # MLP hidden width
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    num_channels: int = 3
    patch_size: int = 16  # p: each token is a p x p x 3 patch, flattened (py, px, c)
    num_patches: int = 256  # rows of the position table; a square number, G = sqrt(num_patches)
    naflex: bool = True  # resize the G x G table to each image's grid (NaFlex); else a fixed grid (FixRes)
    image_size: int | None = None  # FixRes only: the side S the table was trained for
    layer_norm_eps: float = 1e-6  # 1e-6, not torch's 1e-5 (big_vision's flax default)
    use_head: bool = True  # the MAP head (HF `vision_use_head`)

    @property
    def grid_size(self) -> int:
        """G: the side of the square position table."""
        return math.isqrt(self.num_patches)

    @property
    def patch_dim(self) -> int:
        """p*p*3: the length of one flattened patch."""
        return self.patch_size * self.patch_size * self.num_channels


@dataclass(frozen=True)
class TextConfig:
    vocab_size: int = 256000  # Gemma tokenizer; HF's default 32000 is a CLIP leftover
    hidden_size: int = 768
    intermediate_size: int = 3072
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    max_position_embeddings: int = 64  # the text length: every input is padded to exactly 64 tokens
    projection_size: int = 768  # output width of the `head` Linear (giant-opt: 1152 -> 1536)
    layer_norm_eps: float = 1e-6


@dataclass(frozen=True)
class SigLIP2Config:
    text: TextConfig = field(default_factory=TextConfig)
    vision: VisionConfig = field(default_factory=VisionConfig)
    model_type: str = "siglip2"  # "siglip2" (NaFlex) or "siglip" (FixRes), as in the HF config.json
    num_labels: int = 0  # > 0 only for image-classification checkpoints

    @property
    def family(self) -> str:
        return MODEL_TYPES[self.model_type]


def _pick(cls, hf: dict, **overrides):
    """Keep the keys of `hf` that `cls` knows, then apply overrides: unknown HF keys (dropout, act) are ignored."""
    names = cls.__dataclass_fields__.keys()
    return cls(**{**{k: v for k, v in hf.items() if k in names}, **overrides})


def from_hf_config(hf: dict) -> SigLIP2Config:
    """Build the config from the dict of an HF `config.json` (`Siglip2Config` or `SiglipConfig`)."""
    model_type = hf.get("model_type")
    if model_type not in MODEL_TYPES:
        raise ValueError(
            f"unknown model_type {model_type!r} in config.json: expected 'siglip2' (NaFlex) or 'siglip' (FixRes)"
        )
    text, vision = hf.get("text_config") or {}, hf.get("vision_config") or {}
    for name, act in (("text_config", text.get("hidden_act")), ("vision_config", vision.get("hidden_act"))):
        if act not in (None, "gelu_pytorch_tanh"):
            raise ValueError(f"{name}.hidden_act is {act!r}; SigLIP2 uses the tanh GELU 'gelu_pytorch_tanh'")
    text_cfg = _pick(TextConfig, text, projection_size=text.get("projection_size") or text.get("hidden_size", 768))
    if model_type == "siglip2":
        vision_cfg = _pick(VisionConfig, vision, naflex=True, use_head=vision.get("vision_use_head", True))
        if vision_cfg.grid_size**2 != vision_cfg.num_patches:
            raise ValueError(f"vision_config.num_patches = {vision_cfg.num_patches} is not a square number")
    else:
        image_size, patch = vision.get("image_size", 224), vision.get("patch_size", 16)
        if not isinstance(image_size, int) or not isinstance(patch, int):
            raise ValueError(f"only square FixRes images are supported, got image_size={image_size!r}, patch_size={patch!r}")
        vision_cfg = _pick(
            VisionConfig, vision, naflex=False, image_size=image_size, patch_size=patch,
            num_patches=(image_size // patch) ** 2,  # So400m/14 at 384: 27 x 27, the last 6 pixels dropped
            use_head=vision.get("vision_use_head", True),
        )
    num_labels = len(hf["id2label"]) if "Siglip2ForImageClassification" in hf.get("architectures", []) or \
        "SiglipForImageClassification" in hf.get("architectures", []) else 0
    return SigLIP2Config(text=text_cfg, vision=vision_cfg, model_type=model_type, num_labels=num_labels)


def to_hf_config(config: SigLIP2Config) -> dict:
    """The inverse of `from_hf_config`: a `config.json` dict that transformers and `load_model` both read."""
    t, v = config.text, config.vision
    text = dict(
        vocab_size=t.vocab_size, hidden_size=t.hidden_size, intermediate_size=t.intermediate_size,
        num_hidden_layers=t.num_hidden_layers, num_attention_heads=t.num_attention_heads,
        max_position_embeddings=t.max_position_embeddings, projection_size=t.projection_size,
        layer_norm_eps=t.layer_norm_eps, hidden_act="gelu_pytorch_tanh",
        # Gemma ids (docs/tokenizer-contract.md), not HF's CLIP defaults
        pad_token_id=0, eos_token_id=1, bos_token_id=2,
    )
    vision = dict(
        hidden_size=v.hidden_size, intermediate_size=v.intermediate_size, num_hidden_layers=v.num_hidden_layers,
        num_attention_heads=v.num_attention_heads, num_channels=v.num_channels, patch_size=v.patch_size,
        layer_norm_eps=v.layer_norm_eps, hidden_act="gelu_pytorch_tanh", vision_use_head=v.use_head,
    )
    if v.naflex:
        vision["num_patches"] = v.num_patches
    else:
        vision["image_size"] = v.image_size
    arch = "Siglip2Model" if config.model_type == "siglip2" else "SiglipModel"
    return dict(architectures=[arch], model_type=config.model_type, text_config=text, vision_config=vision)


def param_count(config: SigLIP2Config) -> int:
    """Number of parameters of the two-tower model, from the config alone (nothing is allocated)."""
    def tower(width, depth, mlp):
        attn = 4 * (width * width + width)  # q, k, v, out projections with bias
        return depth * (attn + 2 * width * mlp + mlp + width + 4 * width)  # + MLP + two LayerNorms

    t, v = config.text, config.vision
    text = (t.vocab_size + t.max_position_embeddings) * t.hidden_size + tower(t.hidden_size, t.num_hidden_layers,
            t.intermediate_size) + 2 * t.hidden_size + t.hidden_size * t.projection_size + t.projection_size
    d = v.hidden_size
    head = d + 3 * d * d + 3 * d + d * d + d + 2 * d + 2 * d * v.intermediate_size + v.intermediate_size + d
    vision = (v.patch_dim + 1) * d + v.num_patches * d + tower(d, v.num_hidden_layers, v.intermediate_size) + 2 * d
    return text + vision + head * v.use_head + 2  # + logit_scale, logit_bias


def _preset(vision, text, projection=None, **kw):
    (vw, vd, vm, vh), (tw, td, tm, th) = vision, text
    return SigLIP2Config(
        text=TextConfig(hidden_size=tw, num_hidden_layers=td, intermediate_size=tm, num_attention_heads=th,
                        projection_size=projection or tw),
        vision=VisionConfig(hidden_size=vw, num_hidden_layers=vd, intermediate_size=vm, num_attention_heads=vh, **kw),
        model_type="siglip2" if kw.get("naflex", True) else "siglip",
    )


def _fixres(size, patch):
    return dict(naflex=False, image_size=size, patch_size=patch, num_patches=(size // patch) ** 2)


# (width, depth, MLP, heads) of the big_vision variants
_B, _L, _SO, _G = (768, 12, 3072, 12), (1024, 24, 4096, 16), (1152, 27, 4304, 16), (1536, 40, 6144, 16)

# The published checkpoints (docs/index.md), by HF id without "google/". Parameter counts (whole model, from
# `param_count`, checked by a test) are dominated by the 256k-token text embedding.
PRESETS: dict[str, SigLIP2Config] = {
    "siglip2-base-patch16-naflex": _preset(_B, _B),  # 375.2M
    "siglip2-so400m-patch16-naflex": _preset(_SO, _SO),  # 1135.7M
    **{f"siglip2-base-patch16-{s}": _preset(_B, _B, **_fixres(s, 16)) for s in (224, 256, 384, 512)},  # 375.2M at 224
    "siglip2-base-patch32-256": _preset(_B, _B, **_fixres(256, 32)),
    **{f"siglip2-large-patch16-{s}": _preset(_L, _L, **_fixres(s, 16)) for s in (256, 384, 512)},  # 881.5M at 256
    **{f"siglip2-so400m-patch14-{s}": _preset(_SO, _SO, **_fixres(s, 14)) for s in (224, 384)},
    **{f"siglip2-so400m-patch16-{s}": _preset(_SO, _SO, **_fixres(s, 16)) for s in (256, 384, 512)},  # 1135.7M at 256
    # giant-opt pairs its vision tower with the So400m text tower, whose head projects 1152 -> 1536
    **{f"siglip2-giant-opt-patch16-{s}": _preset(_G, _SO, projection=1536, **_fixres(s, 16)) for s in (256, 384)},  # 1871.4M at 256
}
