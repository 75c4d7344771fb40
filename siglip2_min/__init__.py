"""siglip2-min: a compact, readable PyTorch implementation of Google's SigLIP2 image-text encoders.

    import siglip2_min
    model = siglip2_min.load_model(path)          # HF-layout folder; None = the bundled tiny model
    out = model(input_ids=..., pixel_values=..., pixel_attention_mask=..., spatial_shapes=...)
"""

from .api import ImageReadError, LabelScore, embed_images, embed_texts, image_text_logits, zero_shot
from .features import AttentionMap, attention_map, patch_features
from .config import PRESETS, SigLIP2Config, TextConfig, VisionConfig
from .hf_config import from_hf_config
from .export import export_onnx
from .fileio import OutputError
from .loss import chunked_sigmoid_loss, distributed_sigmoid_loss, sigmoid_loss
from .model import ImageClassifier, SigLIP2, SigLIP2Output, param_count
from .processor import Processor, load_processor
from .tokenizer import Tokenizer
from .hub import resolve_model
from .weights import CheckpointError, load_model

__all__ = [
    "PRESETS", "SigLIP2Config", "TextConfig", "VisionConfig", "from_hf_config", "param_count",
    "sigmoid_loss", "chunked_sigmoid_loss", "distributed_sigmoid_loss",
    "SigLIP2", "SigLIP2Output", "ImageClassifier", "CheckpointError", "load_model",
    "Processor", "load_processor", "Tokenizer",
    "zero_shot", "embed_images", "embed_texts", "image_text_logits", "LabelScore", "resolve_model", "export_onnx",
    "patch_features", "attention_map", "AttentionMap", "ImageReadError", "OutputError",
]
