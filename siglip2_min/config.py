"""Model configuration: one frozen dataclass per tower, read from an HF `config.json`, and the table of presets.

Upstream: HF `configuration_siglip2.py` / `configuration_siglip.py` (the `config.json` schema), big_vision
`models/vit.py` variant table ("B/16", "So400m/14", ...). Both checkpoint families share one architecture
(docs/model/embeddings.md); they differ only in how patches get their position embedding:

- NaFlex (`model_type: "siglip2"`): a `G x G` table (G = 16) resized per image to its (h, w) patch grid.
- FixRes (`model_type: "siglip"`): a fixed `(S/p) x (S/p)` table for square images of side S, added as is.

Every value is checked when a config is built (`checks.check_fields`: type, range, heads dividing the width), so a
bad `config.json` fails at once with the key named, before any tensor is allocated.
"""

import math
from dataclasses import dataclass, field, replace

from .checks import LIMITS, check_fields

MODEL_TYPES = ("siglip2", "siglip")  # NaFlex, FixRes: the `model_type` of an HF config.json
# HF's one-tower classes (`Siglip2VisionModel`, `SiglipTextModel`, ...): their config.json is that tower's config
# at the top level, not under vision_config / text_config. model_type -> (family, tower).
TOWER_TYPES = {"siglip2_vision_model": ("siglip2", "vision"), "siglip_vision_model": ("siglip", "vision"),
               "siglip2_text_model": ("siglip2", "text"), "siglip_text_model": ("siglip", "text")}
TOWERS = ("both", "vision", "text")


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

    def __post_init__(self):
        check_fields(self, "vision_config")
        if not isinstance(self.naflex, bool) or not isinstance(self.use_head, bool):
            raise ValueError(f"vision_config: naflex and vision_use_head must be true or false, got "
                             f"{self.naflex!r} and {self.use_head!r}")
        if self.grid_size**2 != self.num_patches:
            raise ValueError(f"vision_config.num_patches = {self.num_patches} is not a square number")

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

    def __post_init__(self):
        check_fields(self, "text_config")


@dataclass(frozen=True)
class SigLIP2Config:
    # None for a one-tower model (docs/features.md): `load_model(path, towers="vision")`, or an HF
    # `Siglip2VisionModel` / `SiglipTextModel` folder.
    text: TextConfig | None = field(default_factory=TextConfig)
    vision: VisionConfig | None = field(default_factory=VisionConfig)
    model_type: str = "siglip2"  # "siglip2" (NaFlex) or "siglip" (FixRes), as in the HF config.json
    num_labels: int = 0  # > 0 only for image-classification checkpoints

    def __post_init__(self):
        if self.text is None and self.vision is None:
            raise ValueError("a SigLIP2 config needs at least one tower (text or vision)")
        if self.model_type not in MODEL_TYPES or (self.vision is not None
                                                  and self.vision.naflex != (self.model_type == "siglip2")):
            raise ValueError(f"model_type {self.model_type!r} does not match the vision config (naflex="
                             f"{self.vision.naflex}): 'siglip2' is NaFlex, 'siglip' FixRes")
        labels = self.num_labels
        if isinstance(labels, bool) or not isinstance(labels, int) or not 0 <= labels < 1 << 20:
            raise ValueError(f"num_labels (the length of id2label) is {self.num_labels!r}")

    @property
    def towers(self) -> str:
        """"both", "vision" or "text": the towers a model built from this config has."""
        return "both" if self.text and self.vision else "vision" if self.vision else "text"

    def keep(self, towers):
        """This config with only `towers` ("both", "vision", "text"); a ValueError when it lacks one of them."""
        if towers not in TOWERS:
            raise ValueError(f"towers must be one of {TOWERS}, got {towers!r}")
        missing = [t for t in ("vision", "text") if towers in ("both", t) and getattr(self, t) is None]
        if missing:
            raise ValueError(f"the checkpoint has no {missing[0]} tower (it holds the {self.towers} tower only); "
                             f"load it with towers={self.towers!r}")
        if self.num_labels and towers != "vision":
            raise ValueError("an image-classification checkpoint has no text tower; load it with towers='vision' "
                             "(or leave towers out)")
        return replace(self, text=self.text if towers != "vision" else None,
                       vision=self.vision if towers != "text" else None)


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


# big_vision's variants, one tower each (width D, MLP width F, depth, heads).
B = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12)
L = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16)
SO400M = dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16)
GIANT = dict(hidden_size=1536, intermediate_size=6144, num_hidden_layers=40, num_attention_heads=16)


def naflex(tower, patch=16, num_patches=256, **text):
    """A NaFlex model: `tower` for both towers (text overrides apart), a sqrt(num_patches)^2 table."""
    return SigLIP2Config(text=TextConfig(**{**tower, "projection_size": tower["hidden_size"], **text}),
                         vision=VisionConfig(**tower, patch_size=patch, num_patches=num_patches))


def fixres(vision, patch, image_size, text=None, projection_size=None):
    """A FixRes model: square images of side image_size, a (image_size // patch)^2 grid."""
    text = text or vision
    return SigLIP2Config(text=TextConfig(**text, projection_size=projection_size or text["hidden_size"]),
                         vision=VisionConfig(**vision, naflex=False, patch_size=patch, image_size=image_size,
                                             num_patches=(image_size // patch) ** 2), model_type="siglip")


# The published checkpoints by HF id without "google/" (docs/index.md), and the tiny model bundled with this package.
# Parameter counts: whole model, from `model.param_count` (a test checks each); most of a text tower is its
# 256k-token embedding.
PRESETS: dict[str, SigLIP2Config] = {
    "siglip2-base-patch16-naflex": naflex(B),  # 16x16 table resized per image; 375.2M
    "siglip2-so400m-patch16-naflex": naflex(SO400M),  # 16x16 table; 1135.7M
    "siglip2-base-patch16-224": fixres(B, 16, 224),  # 14x14 grid; 375.2M
    "siglip2-base-patch16-256": fixres(B, 16, 256),  # 16x16; 375.2M
    "siglip2-base-patch16-384": fixres(B, 16, 384),  # 24x24; 375.5M
    "siglip2-base-patch16-512": fixres(B, 16, 512),  # 32x32; 375.8M
    "siglip2-base-patch32-256": fixres(B, 32, 256),  # 8x8; 376.9M (a 32*32*3 patch embedding)
    "siglip2-large-patch16-256": fixres(L, 16, 256),  # 16x16; 881.5M
    "siglip2-large-patch16-384": fixres(L, 16, 384),  # 24x24; 881.9M
    "siglip2-large-patch16-512": fixres(L, 16, 512),  # 32x32; 882.3M
    "siglip2-so400m-patch14-224": fixres(SO400M, 14, 224),  # 16x16; 1135.5M
    "siglip2-so400m-patch14-384": fixres(SO400M, 14, 384),  # 27x27, the last 6 pixels dropped; 1136.0M
    "siglip2-so400m-patch16-256": fixres(SO400M, 16, 256),  # 16x16; 1135.7M
    "siglip2-so400m-patch16-384": fixres(SO400M, 16, 384),  # 24x24; 1136.0M
    "siglip2-so400m-patch16-512": fixres(SO400M, 16, 512),  # 32x32; 1136.6M
    # giant-opt pairs its vision tower with the So400m text tower, whose head projects 1152 -> 1536
    "siglip2-giant-opt-patch16-256": fixres(GIANT, 16, 256, text=SO400M, projection_size=1536),  # 16x16; 1871.4M
    "siglip2-giant-opt-patch16-384": fixres(GIANT, 16, 384, text=SO400M, projection_size=1536),  # 24x24; 1871.9M
    # The bundled model (`python -m siglip2_min.train`): width 128, 3 vision and 2 text layers, a 512-piece
    # vocabulary, an 8x8 table resized per image as SigLIP2's 16x16 one is; 1.3M (5.3 MB in float32)
    "siglip2-min-tiny": naflex(dict(hidden_size=128, intermediate_size=512, num_hidden_layers=3, num_attention_heads=4),
                               patch=8, num_patches=64, vocab_size=512, num_hidden_layers=2),
}
