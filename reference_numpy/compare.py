"""Run the torch model and the numpy twin side by side on one checkpoint; report where they first diverge.

    python -m reference_numpy.compare FOLDER [--dtype float64|float32] [--atol A] [--rtol R] [--seed S]

For any HF-format checkpoint folder (NaFlex or FixRes, random or published), this builds one batch of inputs
(NaFlex: mixed patch grids with padding and a one-patch-wide image; FixRes: the fixed grid; texts ending in EOS
then padding), runs `siglip2_min.load_model(FOLDER)` and `reference_numpy.load_model(FOLDER)` in the same dtype,
and prints for every named intermediate (vision.embeddings, vision.block00, ..., text.pooled), the embeddings,
the logits and the loss, the max abs and rel difference and whether `|twin - torch| <= atol + rtol*|torch|`
holds everywhere. It exits 1 and names the first name that fails. Vision rows at padded patch slots are not
compared: their values carry no meaning.

The only module of `reference_numpy` that imports torch: `import reference_numpy` does not import it.
"""

import argparse
import sys

import numpy as np

import reference_numpy

# Default tolerances, |twin - torch| <= atol + rtol * |torch|. float64: both sides round at ~1e-16 per operation
# and a few dozen layers accumulate that to ~1e-13, so 1e-10 leaves room without hiding a real error (a wrong eps,
# a float32 round trip or the width-1 resize bug all show at 1e-7 or more). float32: rounding is ~6e-8 per
# operation and the summation orders differ (BLAS vs torch kernels), which accumulates to ~1e-6 in small models.
TOLERANCES = {"float64": (1e-10, 1e-10), "float32": (1e-5, 1e-5)}


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
    token, position = (model.params["text_model"]["embeddings"][k]["weight"] for k in ("token_embedding",
                                                                                       "position_embedding"))
    V, L = token.shape[0], position.shape[0]
    input_ids = np.zeros((B, L), dtype=np.int64)  # [T, L] right-padded with 0, T = B texts for the loss
    for i, n in enumerate([0, L - 1, 3, L // 2][:B] + [5] * (B - 4)):  # empty text, full text, short texts
        input_ids[i, :n] = rng.integers(5, V, n) if V > 5 else 0
        input_ids[i, n] = 1 if V > 1 else 0  # EOS
    return dict(input_ids=input_ids, pixel_values=pixel_values, pixel_attention_mask=mask,
                spatial_shapes=np.array(shapes, dtype=np.int64))


def difference(twin, ref, atol, rtol):
    """(max abs difference, max rel difference, passes, index of the worst element by tolerance ratio)."""
    twin, ref = np.asarray(twin, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    if twin.shape != ref.shape:
        return np.inf, np.inf, False, None
    diff = np.abs(twin - ref)
    if diff.size == 0:
        return 0.0, 0.0, True, None
    tol = atol + rtol * np.abs(ref)
    ratio = np.divide(diff, tol, out=np.where(diff > 0, np.inf, 0.0), where=tol > 0)  # > 1 where tol is exceeded
    worst = np.unravel_index(np.argmax(ratio), ratio.shape)
    floor = np.maximum(np.abs(ref), atol)  # relative to the reference, floored so exact zeros don't explode
    rel = np.divide(diff, floor, out=np.where(diff > 0, np.inf, 0.0), where=floor > 0)
    return float(diff.max()), float(rel.max()), bool(np.all(ratio <= 1)), tuple(int(i) for i in worst)


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
    with torch.no_grad():
        _, torch_vision = model.encode_image(*[t_inputs[k] for k in ("pixel_values", "pixel_attention_mask",
                                                                      "spatial_shapes")], return_intermediates=True)
        _, torch_text = model.encode_text(t_inputs["input_ids"], return_intermediates=True)
        torch_out = model(**t_inputs, return_loss=True)
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
    for name in ("image_embeds", "text_embeds", "logits_per_image", "logits_per_text", "loss"):
        pairs[name] = (twin_out[name], _numpy(getattr(torch_out, name)))
    for name in set(torch_vision) | set(torch_text):
        if name not in pairs:  # an intermediate the twin does not produce: a naming mismatch, reported as such
            pairs[name] = (None, _numpy((torch_vision | torch_text)[name]))
    return pairs


def _numpy(t):
    return None if t is None else t.detach().cpu().double().numpy()


def compare(folder, dtype="float64", atol=None, rtol=None, inputs=None, seed=0, file=sys.stdout):
    """Print the table; return (rows, first failing name or None). rows: (name, max abs, max rel, ok, where)."""
    default_atol, default_rtol = TOLERANCES[dtype]
    atol = default_atol if atol is None else atol
    rtol = default_rtol if rtol is None else rtol
    rows, first = [], None
    print(f"{folder}: numpy twin vs torch, {dtype}, pass iff |twin - torch| <= {atol:g} + {rtol:g}*|torch|", file=file)
    print(f"{'name':24s} {'max abs':>10s} {'max rel':>10s}  result", file=file)
    for name, (twin, ref) in run_both(folder, dtype, inputs, seed).items():
        if twin is None or ref is None:
            row = (name, np.inf, np.inf, False, "missing on the " + ("twin" if twin is None else "torch") + " side")
        else:
            abs_err, rel_err, ok, where = difference(twin, ref, atol, rtol)
            row = (name, abs_err, rel_err, ok, where if twin.shape == np.shape(ref) else
                   f"shape {twin.shape} vs {np.shape(ref)}")
        rows.append(row)
        if not row[3] and first is None:
            first = name
        status = "ok" if row[3] else f"FAIL at {row[4]}"
        print(f"{name:24s} {row[1]:10.2e} {row[2]:10.2e}  {status}", file=file)
    print("all within tolerance" if first is None else f"first divergence: {first}", file=file)
    return rows, first


def main(argv=None):
    parser = argparse.ArgumentParser(description="Compare the numpy twin with the torch model on a checkpoint.")
    parser.add_argument("folder", help="HF-format checkpoint folder (config.json + model.safetensors)")
    parser.add_argument("--dtype", choices=sorted(TOLERANCES), default="float64")
    parser.add_argument("--atol", type=float, default=None, help="absolute tolerance (default by dtype)")
    parser.add_argument("--rtol", type=float, default=None, help="relative tolerance (default by dtype)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated inputs")
    args = parser.parse_args(argv)
    _, first = compare(args.folder, args.dtype, args.atol, args.rtol, seed=args.seed)
    return 0 if first is None else 1


if __name__ == "__main__":
    sys.exit(main())
