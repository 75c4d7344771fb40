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
From the command line: `siglip2-min export [MODEL] --out DIR [--overwrite]`; docs/export.md runs the result.
Needs the `[export]` extra: `pip install "siglip2-min[export]"` (onnx, onnxscript; onnxruntime to run the result).
"""

import copy
import importlib.util
import json
import logging
import shutil
import sys
import warnings
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from .fileio import check_output, output_folder
from .hub import PROCESSOR_FILES, resolve_model
from .weights import read_config


def missing_packages():
    """The packages of the `[export]` extra that torch's ONNX exporter needs and this Python lacks."""
    return [name for name in ("onnx", "onnxscript") if importlib.util.find_spec(name) is None]


def missing_message():
    return f'ONNX export needs {" and ".join(missing_packages())}: pip install "siglip2-min[export]"'


@contextmanager
def quiet_exporter():
    """Silence torch.onnx's notes that do not concern these graphs (torchvision's ops skipped, the B and N axis
    names merged, a pytree deprecation), so that `siglip2-min export` prints only what matters."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"# The axis name: \w+ will not be used")
        warnings.filterwarnings("ignore", message=r".*LeafSpec", category=FutureWarning)
        logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            logger.setLevel(level)


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
    if missing_packages():
        raise ImportError(missing_message())
    if not hasattr(model, "encode_text") or model.config.towers != "both":  # a classifier, or one tower loaded
        raise TypeError("export_onnx takes a two-tower SigLIP2 model (load_model of an image-text checkpoint, "
                        "with both towers)")
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
    with output_folder(out_dir, overwrite=overwrite) as tmp, torch.no_grad(), quiet_exporter():
        options = dict(dynamo=True, optimize=False, external_data=external, verbose=False)
        torch.onnx.export(ImageEmbedder(model).eval(), example, tmp / "vision.onnx", dynamic_shapes=image_shapes,
                          input_names=["pixel_values", "pixel_attention_mask", "spatial_shapes"],
                          output_names=["image_embeds"], **options)
        torch.onnx.export(TextEmbedder(model).eval(), (ids,), tmp / "text.onnx", dynamic_shapes=text_shapes,
                          input_names=["input_ids"], output_names=["text_embeds"], **options)
        logits = {"scale": model.logit_scale.exp().item(), "bias": model.logit_bias.item()}
        (tmp / "logits.json").write_text(json.dumps(logits, indent=2) + "\n")
        for name in ("config.json",) + PROCESSOR_FILES:
            shutil.copyfile(folder / name, tmp / name)
    return out_dir


# ------------------------------------------------------------------------------------- the `export` command


def add_parser(sub, common):
    """`siglip2-min export [MODEL] --out DIR [--overwrite]`. `common` is unused: batches, patch budgets and dtypes
    mean nothing here (the graphs are fp32, B and N dynamic)."""
    p = sub.add_parser("export", help="write the two towers as ONNX graphs, with logits.json and the processor "
                                      "files (docs/export.md)")
    p.add_argument("model", nargs="?", metavar="MODEL",
                   help="model folder or Hugging Face id (default: the bundled tiny model)")
    p.add_argument("--out", required=True, metavar="DIR", help="the folder to write (an existing one only with --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--device", default="cpu", help="torch device to trace on (default: cpu)")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    p.set_defaults(func=cmd_export, dtype="float32")


def cmd_export(args):
    from . import cli

    if missing_packages():  # usage errors first: a missing package or a bad --out costs no model load
        raise cli.UsageError(missing_message())
    check_output(args.out, args.overwrite, folder=True)
    model, _, folder = cli.load(args)
    out = export_onnx(model, args.out, folder, overwrite=args.overwrite)
    print(f"wrote {out}/: vision.onnx, text.onnx, logits.json and the model's processor files", file=sys.stderr)
    return 0
