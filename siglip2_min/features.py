"""Patch features and the MAP probe's attention map: what the vision tower holds per patch, and where it pools from.

    feats = siglip2_min.patch_features(model, processor, images, layer=-2)   # [h, w, D] per image, penultimate block
    amap = siglip2_min.attention_map(model, processor, image)               # amap.heads [H, h, w], amap.mean [h, w]

`patch_features` is what VLM builders and dense tasks take from a SigLIP tower (LLaVA-style models read the
penultimate block): each image's valid patches only, laid out as its NaFlex grid `spatial_shapes[i] = (h, w)`,
row-major as the processor patchified it. `layer` counts encoder blocks as HF's `hidden_states[1:]` do (0 is the
first block, -1 the last, -2 the penultimate); `"post-LN"` is the final normed output the MAP head reads (HF's
`last_hidden_state`).

`attention_map` is the softmax of the pooling probe's query against the keys of the post-LN patches
(`vision.head.attention`, docs/model/map-head.md): per head, the weights with which the pooled embedding mixes the
patches' values. Padding is masked as a key in the model, so dropping it here gives the same softmax.

`siglip2-min attention IMAGE --out heat.png` draws the head mean over the image; `siglip2-min embed --patches`
writes patch features to a `.npz` (one array `[h, w, D]` per image).

Shapes: N patch slots, (h, w) an image's grid, n = h*w valid patches, D width, H heads, Dh = D / H.
"""

import argparse
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .api import _as_list, _device_dtype, check_tower, load_image
from .checks import check_int

POST_LN = "post-LN"


def layer_name(layer, depth):
    """The intermediate that `layer` names: `vision.blockNN` for an int (negative from the end), or
    `vision.post_layernorm` for "post-LN"."""
    if layer == POST_LN:
        return "vision.post_layernorm"
    if isinstance(layer, bool) or not isinstance(layer, int):
        raise TypeError(f"layer must be an int (a block, negative from the end) or {POST_LN!r}, got {layer!r}")
    if not -depth <= layer < depth:
        raise ValueError(f"layer {layer} does not exist: the vision tower has {depth} blocks, so layer is "
                         f"0..{depth - 1}, -1..-{depth} or {POST_LN!r}")
    return f"vision.block{layer % depth:02d}"


def _image_inputs(model, processor, images, max_num_patches):
    """Processor output for `images` as tensors on the model's device: (pixel_values, mask, spatial_shapes)."""
    device, dtype = _device_dtype(model)
    inputs = processor(images=[load_image(im) for im in images], max_num_patches=max_num_patches)
    return (inputs["pixel_values"].to(device, dtype),  # [B, N, P]
            inputs["pixel_attention_mask"].to(device),  # [B, N]
            inputs["spatial_shapes"])  # [B, 2] (h, w) per image


def grids(hidden, spatial_shapes):
    """Padded hidden states [B, N, D] -> one [h, w, D] per image: its first h*w slots, in the processor's
    row-major patch order."""
    return [hidden[i, : h * w].reshape(h, w, -1) for i, (h, w) in enumerate(spatial_shapes.tolist())]


@torch.inference_mode()
def patch_features(model, processor, images, layer=-1, *, batch_size=32, max_num_patches=None):
    """One float32 CPU tensor `[h, w, D]` per image: the valid patches' hidden states at `layer`, as the grid.

    `layer`: an encoder block (0 first, -1 last, -2 penultimate) or "post-LN" (the final normed output the MAP
    head reads). `max_num_patches` overrides the processor's NaFlex budget, and so the grids. Images: as for
    `embed_images` (Pillow images, uint8 arrays or paths, read one batch at a time).
    """
    check_tower(model, "vision")
    name = layer_name(layer, model.config.vision.num_hidden_layers)
    if isinstance(images, np.ndarray):  # [H, W] or [H, W, C] is one image, [N, H, W, C] a batch
        images = list(images) if images.ndim == 4 else [images]
    images = _as_list(images, "images", (Image.Image, str, Path))
    check_int(batch_size, "batch_size")
    out = []
    for start in range(0, len(images), batch_size):
        pixel_values, mask, shapes = _image_inputs(model, processor, images[start : start + batch_size],
                                                   max_num_patches)
        _, inter = model.encode_image(pixel_values, mask, shapes, return_intermediates=True)
        out += [grid.float().cpu() for grid in grids(inter[name], shapes)]  # [h, w, D] each
    return out


class AttentionMap(NamedTuple):
    """The MAP probe's attention over one image's valid patches; each map sums to one."""

    heads: torch.Tensor  # [H, h, w], one softmax per head
    mean: torch.Tensor  # [h, w], the mean over heads


def probe_attention(head, x):
    """Softmax weights [H, n] of the MAP head's probe over valid post-LN patches x [n, D], the formula written out
    (layers.multi_head_attention, eager path) with the softmax in fp32."""
    H = head.attention.num_heads
    wq, wk, _ = head.attention.in_proj_weight.chunk(3)  # 3 x [D, D]: q, k, v rows
    bq, bk, _ = head.attention.in_proj_bias.chunk(3)  # 3 x [D]
    q = F.linear(head.probe[0], wq, bq)  # [1, D]
    k = F.linear(x, wk, bk)  # [n, D]
    n, D = k.shape
    q = q.view(H, D // H)  # [1, D] -> [H, Dh]
    k = k.view(n, H, D // H).transpose(0, 1)  # [n, D] -> [H, n, Dh]
    scores = (k @ q[:, :, None])[..., 0] * (D // H) ** -0.5  # [H, n, Dh] @ [H, Dh, 1] -> [H, n]
    return scores.float().softmax(dim=-1)  # [H, n]


@torch.inference_mode()
def attention_map(model, processor, image, *, max_num_patches=None):
    """Where the pooled embedding of `image` comes from: the MAP probe's attention over its (h, w) patch grid.

    Returns `AttentionMap(heads [H, h, w], mean [h, w])`, float32 on CPU; every map sums to one over the grid.
    """
    check_tower(model, "vision")
    if model.vision_model.head is None:
        raise ValueError("this vision tower has no MAP head (vision_use_head=False), so there is no probe attention")
    pixel_values, mask, shapes = _image_inputs(model, processor, [image], max_num_patches)
    _, inter = model.encode_image(pixel_values, mask, shapes, return_intermediates=True)
    h, w = shapes[0].tolist()
    x = inter["vision.post_layernorm"][0, : h * w]  # [n, D] valid patches only: masked keys get weight 0
    heads = probe_attention(model.vision_model.head, x).reshape(-1, h, w).cpu()  # [H, n] -> [H, h, w]
    return AttentionMap(heads, heads.mean(dim=0))


def heat_colours(heat):
    """Values in [0, 1] [h, w] -> uint8 RGB [h, w, 3] on a dark-blue -> red -> yellow ramp."""
    stops = np.array([[0.0, 0, 0, 0.35], [0.4, 0.6, 0, 0.5], [0.7, 1, 0.3, 0], [1.0, 1, 1, 0.3]])  # value, r, g, b
    rgb = [np.interp(heat, stops[:, 0], stops[:, c]) for c in (1, 2, 3)]  # 3 x [h, w]
    return (np.stack(rgb, axis=-1) * 255).round().astype(np.uint8)  # [h, w, 3]


def overlay(image, grid, alpha=0.55):
    """`image` in grey with `grid` [h, w] drawn over it: scaled to its maximum, one block per patch, blended."""
    grid = np.asarray(grid, dtype=np.float64)
    heat = grid / grid.max() if grid.max() > 0 else grid  # [h, w] in [0, 1]
    # NEAREST keeps one block per patch, so the picture shows the resolution the probe really sees.
    colours = Image.fromarray(heat_colours(heat)).resize(image.size, Image.Resampling.NEAREST)
    # Grey underneath, so the image's own colours do not read as heat.
    return Image.blend(image.convert("L").convert("RGB"), colours, alpha)


# ------------------------------------------------------------------------------------------- command line


def parse_layer(text):
    """`--layer` value: an int, or "post-LN"."""
    if text == POST_LN:
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a block number (negative from the end) or {POST_LN!r}, "
                                         f"got {text!r}") from None


def add_embed_options(p):
    """`embed --patches [--layer L]`: patch features instead of pooled embeddings."""
    p.add_argument("--patches", action="store_true",
                   help="write each image's patch features [h, w, D] (arrays 'patches_00000', ... and 'paths') "
                        "instead of pooled embeddings")
    p.add_argument("--layer", type=parse_layer, default=None, metavar="L",
                   help=f"with --patches: encoder block L (-1 last, -2 penultimate) or {POST_LN!r} (default -1)")


def add_parser(sub, common):
    """`siglip2-min attention IMAGE --out heat.png`."""
    p = sub.add_parser("attention",
                       help="draw where the MAP probe looks: its attention over the patches, over the image")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--out", required=True, metavar="FILE.png", help="the picture to write (PNG, JPEG, ...)")
    p.add_argument("--head", type=int, metavar="K", help="draw head K alone (default: the mean over heads)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    common(p)
    p.set_defaults(func=cmd_attention)


def checked_output(args, suffixes, what):
    """--out checked before any work: one of `suffixes` (else a usage error saying `what`), then fileio's checks."""
    from . import cli, fileio

    if Path(args.out).suffix.lower() not in suffixes:
        raise cli.UsageError(f"--out {args.out}: {what}")
    return fileio.check_output(args.out, args.overwrite)


def cmd_attention(args):
    from . import cli, fileio
    from .api import ImageReadError

    formats = {ext: fmt for ext, fmt in Image.registered_extensions().items() if fmt in Image.SAVE}
    out = checked_output(args, formats, "name a picture file Pillow can write, e.g. heat.png")
    try:
        image = load_image(args.image)
    except ImageReadError as err:
        cli.error(str(err))
        return 1
    model, processor, _ = cli.load(args, text=False)
    heads = model.config.vision.num_attention_heads
    if args.head is not None and not 0 <= args.head < heads:
        raise cli.UsageError(f"--head {args.head}: this model's probe has heads 0..{heads - 1}")
    amap = attention_map(model, processor, image, max_num_patches=args.max_patches)
    grid = amap.mean if args.head is None else amap.heads[args.head]  # [h, w]
    picture = overlay(image, grid)
    fileio.write_file(out, lambda f: picture.save(f, format=formats[out.suffix.lower()]), args.overwrite)
    (h, w), top = grid.shape, int(grid.argmax())
    print(f"wrote {out}: {'mean of ' + str(heads) + ' heads' if args.head is None else f'head {args.head}'} over "
          f"a {h} x {w} patch grid; most attention ({grid.max():.3f}) on patch row {top // w}, column {top % w}",
          file=sys.stderr)
    return 0


def cmd_embed_patches(args):
    """`embed --patches`: one array [h, w, D] per readable image, in input order, with 'paths', 'layer', 'model'."""
    from . import cli, fileio

    if not args.patches:
        raise cli.UsageError("--layer applies to embed --patches only")
    out = checked_output(args, {".npz"}, "the output is a .npz file (one array per image); name it *.npz")
    layer = -1 if args.layer is None else args.layer
    files, failed = cli.expand(args.inputs)
    model, processor, folder = cli.load(args, text=False)
    try:
        layer_name(layer, model.config.vision.num_hidden_layers)
    except ValueError as err:
        raise cli.UsageError(f"--layer: {err}") from None
    arrays, done = {}, []
    for start in range(0, len(files), args.batch_size):
        pairs, errors = cli.read_images(files[start : start + args.batch_size])
        failed += len(errors)
        if pairs:
            grids_ = patch_features(model, processor, [im for _, im in pairs], layer,
                                    max_num_patches=args.max_patches)
            arrays.update({f"patches_{len(done) + i:05d}": g.numpy() for i, g in enumerate(grids_)})  # [h, w, D]
            done += [p for p, _ in pairs]
    # Plain arrays only (unicode strings for the names): np.load reads the file with allow_pickle=False.
    if not done:
        cli.error(f"no image could be read; {out} was not written")
        return 1
    names = dict(paths=np.array(done, dtype=str), layer=np.array(str(layer)), model=np.array(str(args.model or folder)))
    fileio.write_file(out, lambda f: np.savez(f, **arrays, **names), args.overwrite)
    print(f"wrote the patch features of {len(done)} images (layer {layer}) to {out}"
          + (f" ({failed} failed)" if failed else ""), file=sys.stderr)
    return 1 if failed else 0
