"""ONNX export of the two towers: a self-contained folder that onnxruntime (or any ONNX runtime) can serve.

`export_onnx(model, out_dir, source)` writes:
- `vision.onnx`: `pixel_values [B, N, P] float32`, `pixel_attention_mask [B, N] int64`, `spatial_shapes [B, 2]
  int64` -> `image_embeds [B, E]`, L2-normalised. B and N are dynamic (N is fixed by a FixRes model's grid, whose
  graph does not read `spatial_shapes`).
- `text.onnx`: `input_ids [T, 64] int64` -> `text_embeds [T, E]`, L2-normalised; T is dynamic.
- `logits.json`: `{"scale": exp(logit_scale), "bias": logit_bias}`, so `logits = scale * text @ image.T + bias`.
- copies of `config.json`, `preprocessor_config.json` and `tokenizer.model` from the model's folder.
A model over 1.8 GB of fp32 weights (giant-opt) keeps its weights beside the graphs, in `*.onnx.data`.

The towers export as they are: no host syncs, no data-dependent shapes (docs/model/embeddings.md). Inputs are not
checked inside the graphs; the processor makes them right (`siglip2_min.checks` says what right is).
Needs the `[export]` extra: `pip install "siglip2-min[export]"` (onnx, onnxscript; onnxruntime to run the result).
"""

import copy
import json
import shutil

import torch
import torch.nn.functional as F
from torch import nn

from .fileio import check_output, output_folder
from .hub import PROCESSOR_FILES, resolve_model
from .weights import read_config


class ImageEmbedder(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values, pixel_attention_mask, spatial_shapes):
        pooled = self.model.encode_image(pixel_values, pixel_attention_mask, spatial_shapes, check=False)  # [B, E]
        return F.normalize(pooled, dim=-1)  # [B, E]


class TextEmbedder(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        return F.normalize(self.model.encode_text(input_ids, check=False), dim=-1)  # [T, 64] -> [T, E]


def export_onnx(model, out_dir, source=None, overwrite=False):
    """Write the ONNX folder described in the module docstring for `model`, loaded from `source` (a folder or HF
    id, None = the bundled model, as for `load_model`), whose processor files are copied. Returns the folder."""
    try:
        import onnxscript  # noqa: F401  (torch's ONNX exporter needs it)
    except ImportError:
        raise ImportError('ONNX export needs onnx and onnxscript: pip install "siglip2-min[export]"') from None
    if not hasattr(model, "encode_text"):
        raise TypeError("export_onnx takes a two-tower SigLIP2 model (load_model of an image-text checkpoint)")
    folder = resolve_model(source, files=("config.json",) + PROCESSOR_FILES)
    if read_config(folder) != model.config:
        raise ValueError(f"the model's config differs from {folder / 'config.json'}: pass the folder it came from")
    out_dir = check_output(out_dir, overwrite=overwrite, folder=True)  # before the minutes of work
    param = next(model.parameters())
    if param.dtype != torch.float32:  # fp32 graphs: the contract of the exported inputs and outputs
        model = copy.deepcopy(model).float()
    model, dev = model.eval(), param.device
    v = model.config.vision
    B, N = torch.export.Dim("B", min=1, max=4096), torch.export.Dim("N", min=1, max=1 << 16)
    n = 16 if v.naflex else v.num_patches  # example inputs: two images (B = 1 would be specialised away)
    side = min(v.grid_size, 4) if v.naflex else v.grid_size
    example = (torch.zeros(2, n, v.patch_dim, device=dev),
               (torch.arange(n, device=dev) < side * side).long().expand(2, n).contiguous(),
               torch.tensor([[side, side]] * 2, device=dev))
    image_shapes = ({0: B, 1: N}, {0: B, 1: N}, {0: B}) if v.naflex else ({0: B}, {0: B}, {0: B})
    text_shapes = ({0: torch.export.Dim("T", min=1, max=1 << 16)},)
    ids = torch.zeros(2, model.config.text.max_position_embeddings, dtype=torch.long, device=dev)
    # One file per tower, unless a tower's weights pass protobuf's 2 GB limit (giant-opt): then `*.onnx.data` beside it
    external = sum(p.numel() for p in model.parameters()) * 4 > 1.8e9
    with output_folder(out_dir, overwrite=overwrite) as tmp, torch.no_grad():
        options = dict(dynamo=True, optimize=False, external_data=external)
        torch.onnx.export(ImageEmbedder(model), example, tmp / "vision.onnx", dynamic_shapes=image_shapes,
                          input_names=["pixel_values", "pixel_attention_mask", "spatial_shapes"],
                          output_names=["image_embeds"], **options)
        torch.onnx.export(TextEmbedder(model), (ids,), tmp / "text.onnx", dynamic_shapes=text_shapes,
                          input_names=["input_ids"], output_names=["text_embeds"], **options)
        logits = {"scale": model.logit_scale.exp().item(), "bias": model.logit_bias.item()}
        (tmp / "logits.json").write_text(json.dumps(logits, indent=2) + "\n")
        for name in ("config.json",) + PROCESSOR_FILES:
            shutil.copyfile(folder / name, tmp / name)
    return out_dir
