"""Run the torch model and the numpy twin side by side on one checkpoint; report where they first diverge.

    python -m reference_numpy.compare FOLDER [--dtype float64|float32] [--atol A] [--rtol R] [--seed S]

For any HF-format checkpoint folder (NaFlex or FixRes, random or published), this builds one batch of inputs
(NaFlex: mixed patch grids with padding and a one-patch-wide image; FixRes: the fixed grid; texts ending in EOS
then padding), runs `siglip2_min.load_model(FOLDER)` and `reference_numpy.load_model(FOLDER)` in the same dtype,
and prints for every named intermediate (vision.embeddings, vision.block00, ..., text.pooled), the embeddings,
the logits and the loss, the max abs and rel difference, the worst error as a fraction of its tolerance
("of tol"), and whether `|twin - torch| <= atol + rtol*|torch|` holds everywhere. It exits 1 and names the
first name that fails; 2 (one line on stderr) for a folder it cannot load or a bad argument. For an image-classification checkpoint it compares the vision intermediates and the
class logits. Vision rows at padded patch slots are not compared: their values carry no meaning.

The only module of `reference_numpy` that imports torch: `import reference_numpy` does not import it.
"""

import argparse
import sys
from typing import NamedTuple

import numpy as np

import reference_numpy

# Default tolerances, |twin - torch| <= atol + rtol * |torch|. float64: both sides round at ~1e-16 per operation
# and a few dozen layers accumulate that to ~1e-13, so 1e-10 leaves room without hiding a real error (a wrong eps,
# a float32 round trip or the width-1 resize bug all show at 1e-7 or more). float32: rounding is ~6e-8 per
# operation and the summation orders differ (BLAS vs torch kernels), which accumulates to ~1e-6 in small models.
TOLERANCES = {"float64": (1e-10, 1e-10), "float32": (1e-5, 1e-5)}
OUTPUTS = ("image_embeds", "text_embeds", "logits_per_image", "logits_per_text", "loss")  # of the two-tower model


def make_inputs(model, seed=0):
    """One batch of numpy inputs that exercises padding, mixed grids and a width-1 image for `model`'s checkpoint."""
    rng = np.random.default_rng(seed)
    embeddings = model.params["vision_model"]["embeddings"]
    G = int(round(embeddings["position_embedding"]["weight"].shape[0] ** 0.5))  # side of the position table
    P = embeddings["patch_embedding"]["weight"].shape[0]  # p*p*C values per patch
    if model.config["family"] == "naflex":
        # tall, wide, one patch wide, one patch high; N > every h*w so each image has padding slots
        shapes = [(3, 5), (4, 1), (1, 6), (2, 2)]
        N = 18
    else:
        shapes = [(G, G)] * 2  # FixRes: one fixed grid, no padding
        N = G * G
    B = len(shapes)
    pixel_values = np.zeros((B, N, P))  # [B, N, P] zero in padding slots
    mask = np.zeros((B, N), dtype=np.int64)  # [B, N]
    for i, (h, w) in enumerate(shapes):
        pixel_values[i, : h * w] = rng.uniform(-1, 1, (h * w, P))  # pixels scaled to [-1, 1] as preprocessed
        mask[i, : h * w] = 1
    inputs = dict(pixel_values=pixel_values, pixel_attention_mask=mask, spatial_shapes=np.array(shapes))
    if "text_model" not in model.params:  # an image classifier
        return inputs
    token, position = (model.params["text_model"]["embeddings"][k]["weight"] for k in ("token_embedding",
                                                                                       "position_embedding"))
    V, L = token.shape[0], position.shape[0]
    input_ids = np.zeros((B, L), dtype=np.int64)  # [T, L] right-padded with 0, T = B texts for the loss
    for i, n in enumerate([0, L - 1, 3, L // 2][:B] + [5] * (B - 4)):  # empty text, full text, short texts
        input_ids[i, :n] = rng.integers(5, V, n) if V > 5 else 0
        input_ids[i, n] = 1 if V > 1 else 0  # EOS
    return dict(input_ids=input_ids, **inputs)


class Row(NamedTuple):
    """One line of the table. of_tol: max |twin - torch| / (atol + rtol*|torch|), over 1 where it fails."""

    name: str
    max_abs: float
    max_rel: float
    of_tol: float
    ok: bool
    where: object  # index of the element worst against its tolerance, or why there is none


def difference(name, twin, ref, atol, rtol):
    """Compare one array pair elementwise; the relative error is floored at atol so exact zeros don't explode."""
    if twin is None or ref is None:
        return Row(name, np.inf, np.inf, np.inf, False, f"missing on the {'twin' if twin is None else 'torch'} side")
    twin, ref = np.asarray(twin, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    if twin.shape != ref.shape:
        return Row(name, np.inf, np.inf, np.inf, False, f"shape {twin.shape} vs {ref.shape}")
    if twin.size == 0:
        return Row(name, 0.0, 0.0, 0.0, True, None)
    diff = np.abs(twin - ref)
    tol = atol + rtol * np.abs(ref)
    ratio = np.divide(diff, tol, out=np.where(diff > 0, np.inf, 0.0), where=tol > 0)  # > 1 where tol is exceeded
    floor = np.maximum(np.abs(ref), atol)
    rel = np.divide(diff, floor, out=np.where(diff > 0, np.inf, 0.0), where=floor > 0)
    worst = tuple(int(i) for i in np.unravel_index(np.argmax(ratio), ratio.shape))
    return Row(name, float(diff.max()), float(rel.max()), float(ratio.max()), bool(np.all(ratio <= 1)), worst)


def run_both(folder, dtype="float64", inputs=None, seed=0):
    """{name: (twin array, torch array)} for every compared quantity, in forward order (vision, text, head)."""
    import torch

    import siglip2_min

    twin = reference_numpy.load_model(folder, dtype=np.dtype(dtype))
    model = siglip2_min.load_model(folder, dtype=getattr(torch, dtype))
    inputs = make_inputs(twin, seed) if inputs is None else inputs
    t_inputs = {k: torch.as_tensor(np.asarray(v)) for k, v in inputs.items()}
    t_inputs["pixel_values"] = t_inputs["pixel_values"].to(getattr(torch, dtype))
    image = [inputs[k] for k in ("pixel_values", "pixel_attention_mask", "spatial_shapes")]
    t_image = [t_inputs[k] for k in ("pixel_values", "pixel_attention_mask", "spatial_shapes")]
    if isinstance(twin, reference_numpy.ImageClassifier):
        torch_vision, torch_text, twin_text = {}, {}, {}
        with torch.no_grad():
            model.vision_model(*t_image, intermediates=torch_vision)
            torch_out = {"logits": model(*t_image)}
        twin_logits, twin_vision = twin(*image, return_intermediates=True)
        twin_out = {"logits": twin_logits}
    else:
        with torch.no_grad():
            _, torch_vision = model.encode_image(*t_image, return_intermediates=True)
            _, torch_text = model.encode_text(t_inputs["input_ids"], return_intermediates=True)
            out = model(**t_inputs, return_loss=True)
        torch_out = {name: getattr(out, name) for name in OUTPUTS}
        _, twin_vision = twin.encode_image(*image, return_intermediates=True)
        _, twin_text = twin.encode_text(inputs["input_ids"], return_intermediates=True)
        twin_out = twin(**inputs, return_loss=True)

    valid = np.asarray(inputs["pixel_attention_mask"]).astype(bool)  # [B, N]
    pairs = {}
    for name, value in twin_vision.items():
        ref = _numpy(torch_vision.get(name))
        if value.ndim == 3 and ref is not None and ref.shape == value.shape:  # [B, N, D]: valid rows only
            value, ref = value[valid], ref[valid]  # -> [valid patches, D]
        pairs[name] = (value, ref)
    for name, value in twin_text.items():
        pairs[name] = (value, _numpy(torch_text.get(name)))
    for name in torch_out:
        pairs[name] = (twin_out.get(name), _numpy(torch_out[name]))
    for name in set(torch_vision) | set(torch_text):
        if name not in pairs:  # an intermediate the twin does not produce: a naming mismatch, reported as such
            pairs[name] = (None, _numpy((torch_vision | torch_text)[name]))
    return pairs


def _numpy(t):
    return None if t is None else t.detach().cpu().double().numpy()


def compare(folder, dtype="float64", atol=None, rtol=None, inputs=None, seed=0, file=sys.stdout):
    """Print the table to `file`; return (rows, the name of the first failing row or None)."""
    default_atol, default_rtol = TOLERANCES[dtype]
    atol = default_atol if atol is None else atol
    rtol = default_rtol if rtol is None else rtol
    rows = [difference(name, twin, ref, atol, rtol) for name, (twin, ref) in run_both(folder, dtype, inputs,
                                                                                       seed).items()]
    first = next((row.name for row in rows if not row.ok), None)
    print(f"{folder}: numpy twin vs torch, {dtype}, pass iff |twin - torch| <= {atol:g} + {rtol:g}*|torch|", file=file)
    print(format_table(rows), file=file)
    print("all within tolerance" if first is None else f"first divergence: {first}", file=file)
    return rows, first


def format_table(rows):
    lines = [f"{'name':24s} {'max abs':>10s} {'max rel':>10s} {'of tol':>10s}  result"]
    for row in rows:
        result = "ok" if row.ok else f"FAIL at {row.where}"
        lines.append(f"{row.name:24s} {row.max_abs:10.2e} {row.max_rel:10.2e} {row.of_tol:10.2e}  {result}")
    return "\n".join(lines)


def main(argv=None):
    """Exit code 0: every row within tolerance; 1: a divergence (named); 2: a usage error or a folder that cannot
    be loaded (one line on stderr; `--debug` shows the traceback)."""
    from siglip2_min.checks import arg_float, arg_int

    parser = argparse.ArgumentParser(prog="python -m reference_numpy.compare", description="Compare the numpy twin with the torch model on a checkpoint.")
    parser.add_argument("folder", help="HF-format checkpoint folder (config.json + model.safetensors)")
    parser.add_argument("--dtype", choices=sorted(TOLERANCES), default="float64")
    parser.add_argument("--atol", type=arg_float(0), default=None, help="absolute tolerance (default by dtype)")
    parser.add_argument("--rtol", type=arg_float(0), default=None, help="relative tolerance (default by dtype)")
    parser.add_argument("--seed", type=arg_int(0), default=0, help="seed of the generated inputs")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    args = parser.parse_args(argv)
    try:
        _, first = compare(args.folder, args.dtype, args.atol, args.rtol, seed=args.seed)
    except Exception as err:  # a folder that cannot be loaded: one line, whatever the loader raised
        if args.debug:
            raise
        print(f"{parser.prog}: error: {args.folder}: {type(err).__name__}: {err} (--debug shows the traceback)",
              file=sys.stderr)
        return 2
    return 0 if first is None else 1


if __name__ == "__main__":
    sys.exit(main())
