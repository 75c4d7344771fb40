"""Model configuration: one frozen dataclass per tower, and the table of presets (`hf_config.py` reads and writes
them as HF `config.json` files).

Upstream: HF `configuration_siglip2.py` / `configuration_siglip.py`, big_vision `models/vit.py` variant table
("B/16", "So400m/14", ...). Both checkpoint families share one architecture (docs/model/embeddings.md); they
differ only in how patches get their position embedding:

- NaFlex (`model_type: "siglip2"`): a `G x G` table (G = 16) resized per image to its (h, w) patch grid.
- FixRes (`model_type: "siglip"`): a fixed `(S/p) x (S/p)` table for square images of side S, added as is.

Every value is checked when a config is built (`checks.check_fields`: type, range, heads dividing the width).
"""

import math
from dataclasses import dataclass, field

from .checks import check_fields

MODEL_TYPES = ("siglip2", "siglip")  # NaFlex, FixRes: the `model_type` of an HF config.json


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
