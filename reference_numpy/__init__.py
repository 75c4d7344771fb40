"""reference_numpy: the SigLIP2 forward pass of both towers in plain numpy, the yardstick for `siglip2_min`.

A second, independent statement of the model, function for function with the torch code (same names, same
order), as pure functions over a nested dict of arrays keyed by the checkpoint's names. It never imports torch:
`python -m reference_numpy.compare FOLDER` is the one tool that runs both side by side.

    import reference_numpy
    model = reference_numpy.load_model("path/to/checkpoint")           # float64 by default
    out = model(input_ids=ids, pixel_values=pv, pixel_attention_mask=mask, spatial_shapes=ss)
    out["logits_per_image"]                                             # [B, T] numpy array
"""

import numpy as np

from .model import ImageClassifier, SigLIP2, pair_logits, sigmoid_loss
from .weights import check_state, read_config, read_safetensors, to_twin

__all__ = ["load_model", "SigLIP2", "ImageClassifier", "pair_logits", "sigmoid_loss"]


def load_model(path, dtype=np.float64):
    """Read an HF-format SigLIP2 (NaFlex, model_type "siglip2") or SigLIP (FixRes, "siglip") checkpoint folder.

    Returns a `SigLIP2`, or an `ImageClassifier` for a Siglip2ForImageClassification checkpoint.

    float64 by default (the twin is a reference: rounding stays ~1e-15 relative), float32 on request.
    """
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be numpy float32 or float64, got {dtype}")
    config = read_config(path)
    state = read_safetensors(path)
    params = to_twin(check_state(state, config), dtype)
    return (ImageClassifier if config["num_labels"] else SigLIP2)(params, config, dtype)
