"""siglip2-min: a compact, readable PyTorch implementation of Google's SigLIP2 image-text encoders.

    import siglip2_min
    model = siglip2_min.load_model(path)          # HF-layout folder; None = the bundled tiny model
    out = model(input_ids=..., pixel_values=..., pixel_attention_mask=..., spatial_shapes=...)
"""

from .config import PRESETS, SigLIP2Config, TextConfig, VisionConfig, from_hf_config, param_count
from .loss import sigmoid_loss
from .model import ImageClassifier, SigLIP2, SigLIP2Output
from .weights import CheckpointError, load_model

__all__ = [
    "PRESETS", "SigLIP2Config", "TextConfig", "VisionConfig", "from_hf_config", "param_count",
    "sigmoid_loss", "ImageClassifier", "SigLIP2", "SigLIP2Output", "CheckpointError", "load_model",
]
