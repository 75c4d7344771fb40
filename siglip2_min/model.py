"""The two-tower SigLIP2 model, its logits and loss hook, and the image classifier built on the vision tower.

Paper: Zhai et al., "Sigmoid Loss for Language Image Pre-Training" (arXiv 2303.15343), section 3; Tschannen et
al., "SigLIP 2" (arXiv 2502.14786). Upstream: HF `modeling_siglip2.py` (`Siglip2Model`,
`Siglip2ForImageClassification`); big_vision `models/proj/image_text/two_towers.py`.

logits_per_text[t, i] = cos(text_t, image_i) * exp(logit_scale) + logit_bias. The checkpoint stores the LOG of the
temperature (`logit_scale`), and a learned bias; probabilities are sigmoid(logits), not a softmax over labels,
so each (image, text) pair gets its own independent probability.

A one-tower model (`load_model(path, towers="vision")`, or an HF `Siglip2VisionModel` folder) is a `SigLIP2` whose
config has `text=None` (or `vision=None`): that tower is None, and so are the pair's logit_scale and logit_bias.

Shapes: B = images, N = patch slots, P = p*p*3, T = texts, L = 64 tokens, E = embedding width, C = classes.
"""

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_image_inputs, check_text_inputs
from .config import SigLIP2Config
from .loss import INIT_LOGIT_BIAS, INIT_LOGIT_SCALE, pair_logits, sigmoid_loss
from .text import TextTransformer
from .vision import VisionTransformer


@dataclass
class SigLIP2Output:
    """Field names as HF's `Siglip2Output`. Fields of a tower that was not run are None."""

    logits_per_image: torch.Tensor | None = None  # [B, T]
    logits_per_text: torch.Tensor | None = None  # [T, B]
    image_embeds: torch.Tensor | None = None  # [B, E], L2-normalised
    text_embeds: torch.Tensor | None = None  # [T, E], L2-normalised
    loss: torch.Tensor | None = None  # scalar, with return_loss=True (needs B == T pairs)


class SigLIP2(nn.Module):
    def __init__(self, config: SigLIP2Config, attn="sdpa"):
        super().__init__()
        if config.towers == "both" and config.vision.hidden_size != config.text.projection_size:
            raise ValueError(f"vision width {config.vision.hidden_size} != text projection_size "
                             f"{config.text.projection_size}: the embeddings would not be comparable")
        self.config = config
        # A one-tower model (config.text or config.vision None) has None for the other tower, and no logit_scale /
        # logit_bias: those score (image, text) pairs, so they belong to the two towers together.
        self.text_model = TextTransformer(config.text, attn) if config.text else None
        self.vision_model = VisionTransformer(config.vision, attn) if config.vision else None
        # Paper init for training from scratch (loss.py); loading a checkpoint overwrites both.
        both = config.towers == "both"
        self.logit_scale = nn.Parameter(torch.tensor([INIT_LOGIT_SCALE])) if both else None
        self.logit_bias = nn.Parameter(torch.tensor([INIT_LOGIT_BIAS])) if both else None

    def require(self, tower):
        """A ValueError naming the missing tower, when this one-tower model lacks `tower` ("vision" or "text")."""
        if getattr(self.config, tower) is None:
            raise ValueError(f"this model has no {tower} tower (it was loaded with the {self.config.towers} tower "
                             f"only): load_model(path, towers={tower!r}) or towers='both' for "
                             f"{'images' if tower == 'vision' else 'texts'}")

    def encode_image(self, pixel_values, pixel_attention_mask=None, spatial_shapes=None, return_intermediates=False,
                     check=True):
        """Pooled image embeddings [B, E], before normalisation; with intermediates, (pooled, dict).

        check=False skips `checks.check_image_inputs` (no host sync): the caller then passes the mask (None for no
        padding) and, for NaFlex, `spatial_shapes` on the model's device.
        """
        self.require("vision")
        if self.vision_model.head is None:
            raise ValueError("this vision tower has no MAP head (vision_use_head=False), so it has no pooled output")
        if check:
            pixel_attention_mask, spatial_shapes = check_image_inputs(
                self.config.vision, pixel_values, pixel_attention_mask, spatial_shapes)  # [B, N] or None, [B, 2]
        intermediates = {} if return_intermediates else None
        _, pooled = self.vision_model(pixel_values, pixel_attention_mask, spatial_shapes, intermediates)  # [B, E]
        return (pooled, intermediates) if return_intermediates else pooled

    def encode_text(self, input_ids, return_intermediates=False, check=True):
        """Pooled text embeddings [T, E], before normalisation; with intermediates, (pooled, dict)."""
        self.require("text")
        if check:
            check_text_inputs(self.config.text, input_ids)
        intermediates = {} if return_intermediates else None
        pooled = self.text_model(input_ids, intermediates)  # [T, E]
        return (pooled, intermediates) if return_intermediates else pooled

    def forward(self, input_ids=None, pixel_values=None, pixel_attention_mask=None, spatial_shapes=None,
                return_loss=False, check=True):
        """Either tower alone, or both with their logits (and the sigmoid loss on B == T matching pairs)."""
        out = SigLIP2Output()
        if pixel_values is not None:
            image = self.encode_image(pixel_values, pixel_attention_mask, spatial_shapes, check=check)  # [B, E]
            out.image_embeds = F.normalize(image, dim=-1)  # [B, E]
        if input_ids is not None:
            text = self.encode_text(input_ids, check=check)  # [T, E]
            out.text_embeds = F.normalize(text, dim=-1)  # [T, E]
        if out.image_embeds is None or out.text_embeds is None:
            if return_loss:
                raise ValueError("return_loss=True needs both input_ids and pixel_values")
            return out
        out.logits_per_text = pair_logits(image, text, self.logit_scale, self.logit_bias)  # [T, B]
        out.logits_per_image = out.logits_per_text.T  # [B, T]
        if return_loss:
            out.loss = sigmoid_loss(image, text, self.logit_scale, self.logit_bias)
        return out

    # HF's names, for code written against transformers 5 (`Siglip2Model.get_image_features` / `get_text_features`):
    # the tower's last hidden states and its pooled output before normalisation, as `BaseModelOutputWithPooling`.
    def get_image_features(self, pixel_values, pixel_attention_mask=None, spatial_shapes=None,
                           output_hidden_states=False):
        """`TowerOutput`: last_hidden_state [B, N, D] after the post-LN, pooler_output [B, E] (not normalised)."""
        pooled, inter = self.encode_image(pixel_values, pixel_attention_mask, spatial_shapes, return_intermediates=True)
        depth = self.config.vision.num_hidden_layers
        return TowerOutput(inter["vision.post_layernorm"], pooled,
                           _hidden_states(inter, "vision", depth) if output_hidden_states else None)

    def get_text_features(self, input_ids, attention_mask=None, output_hidden_states=False):
        """`TowerOutput`: last_hidden_state [T, L, Dt] after the final LN, pooler_output [T, E] (not normalised)."""
        if attention_mask is not None:
            raise ValueError("attention_mask: SigLIP text towers are trained and run without one (they pool the last "
                             "of 64 positions, padding included); pass input_ids only")
        pooled, inter = self.encode_text(input_ids, return_intermediates=True)
        depth = self.config.text.num_hidden_layers
        return TowerOutput(inter["text.final_layer_norm"], pooled,
                           _hidden_states(inter, "text", depth) if output_hidden_states else None)


@dataclass
class TowerOutput:
    """HF's `BaseModelOutputWithPooling` fields for one tower."""

    last_hidden_state: torch.Tensor  # [B, N, D] image patches, or [T, L, Dt] text tokens
    pooler_output: torch.Tensor  # [B, E] or [T, E], before L2 normalisation
    hidden_states: tuple | None = None  # embeddings, then each block's output (HF's order), when asked for


def _hidden_states(intermediates, tower, depth):
    return (intermediates[f"{tower}.embeddings"],) + tuple(intermediates[f"{tower}.block{i:02d}"] for i in range(depth))


class ImageClassifier(nn.Module):
    """HF `Siglip2ForImageClassification`: the vision tower, mean-pooled over valid patches, then a Linear.

    The MAP head is not used (HF keeps its weights in the checkpoint but pools by averaging; weights.py skips them).
    """

    def __init__(self, config: SigLIP2Config, attn="sdpa"):
        super().__init__()
        if config.vision is None:
            raise ValueError("ImageClassifier needs a vision config")
        if config.num_labels < 1:
            raise ValueError("ImageClassifier needs config.num_labels >= 1 (an id2label in config.json)")
        self.config = config
        self.vision_model = VisionTransformer(replace(config.vision, use_head=False), attn)
        self.classifier = nn.Linear(config.vision.hidden_size, config.num_labels)

    def forward(self, pixel_values, pixel_attention_mask=None, spatial_shapes=None, check=True):
        """Class logits [B, C]. check=False: as `SigLIP2.encode_image`."""
        if check:
            pixel_attention_mask, spatial_shapes = check_image_inputs(
                self.config.vision, pixel_values, pixel_attention_mask, spatial_shapes)  # [B, N] or None, [B, 2]
        x, _ = self.vision_model(pixel_values, pixel_attention_mask, spatial_shapes)  # [B, N, D]
        mask = torch.ones_like(x[..., 0]) if pixel_attention_mask is None else pixel_attention_mask  # [B, N]
        m = mask.to(x.dtype)[..., None]  # [B, N, 1] 1 = patch
        pooled = (x * m).sum(dim=1) / m.sum(dim=1)  # [B, N, D] -> [B, D], mean over valid patches only
        return self.classifier(pooled)  # [B, C]


def param_count(config: SigLIP2Config) -> int:
    """Number of parameters of the two-tower model, counted on a model built on the meta device (no memory)."""
    with torch.device("meta"):
        return sum(p.numel() for p in SigLIP2(config).parameters())
