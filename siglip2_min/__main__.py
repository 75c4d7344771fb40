"""The `siglip2-min` command line: demo, classify, embed, similarity. Also `python -m siglip2_min`.

    siglip2-min demo                                       # draws shapes, classifies them with the bundled model
    siglip2-min classify a.png b.jpg --labels cat dog      # ranked labels per image, sigmoid probabilities
    siglip2-min embed photos/ --out emb.npz                # unit-length image embeddings, for scripts
    siglip2-min similarity a.png --texts "a cat" "a dog"   # one score per text

Output for scripts: `classify --json` prints a JSON list with one object per input, in input order:
`{"file": ..., "labels": [{"label": ..., "probability": ...}, ...]}` best first, or `{"file": ..., "error": ...}`.
`embed --out FILE.npz` writes `embeddings` [N, D] float32 (unit length) and `paths` [N] (the images read, in
order; unreadable ones are left out) and `model`; `np.load(FILE)` reads it without pickle.
`similarity --json` prints `{"file": ..., "texts": [{"text", "cosine", "logit", "probability"}, ...]}`.

`--model M` is a model folder or a Hugging Face id (see `siglip2_min.hub`); without it, the tiny model bundled
with the package. An unreadable image gets a one-line error naming it on stderr, the other images are still
processed, and the exit code is 1 when anything failed (2 for a usage error, as argparse does).
"""

import argparse
import json
import sys
from pathlib import Path

from . import evaluate, finetune

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}

SIGMOID_NOTE = (
    "Scores are sigmoid probabilities, one independent yes/no per text: they do not sum to 1, and a right answer "
    "at 0.2 is normal for the published checkpoints (calibration of the sigmoid loss, not a bug)."
)


def _error(message, progress=None):
    line = f"siglip2-min: error: {message}"
    progress.message(line) if progress is not None else print(line, file=sys.stderr)


def _load(args):
    """(model, processor, folder) for --model, or None after printing why it cannot be loaded."""
    import torch

    from . import hub
    from .processor import load_processor
    from .weights import load_model

    try:
        folder = hub.resolve_model(args.model)
        dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[args.dtype]
        model = load_model(folder, dtype=dtype, device=args.device)
        processor = load_processor(folder)
    except (OSError, ValueError, TypeError, RuntimeError) as err:
        _error(str(err).splitlines()[0] if str(err) else type(err).__name__)
        return None
    return model, processor, folder


def _read_images(paths, progress=None):
    """Read `paths`: ([(path, RGB image)] of the readable ones, {path: message} of the others, each printed)."""
    from .api import ImageReadError, load_image

    pairs, errors = [], {}
    for path in paths:
        try:
            pairs.append((path, load_image(path)))
        except ImageReadError as err:
            _error(str(err), progress)
            errors[path] = str(err)
    return pairs, errors


def _expand(inputs):
    """(files, n_failed): files as given; a folder becomes the image files under it (by suffix, recursively,
    sorted by path, hidden ones skipped). A folder without images counts as a failure."""
    files, failed = [], 0
    for item in inputs:
        path = Path(item)
        if not path.is_dir():
            files.append(str(item))
            continue
        found = sorted(
            p for p in path.rglob("*")
            if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        if not found:
            _error(f"{item}: folder has no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
            failed += 1
        files += [str(p) for p in found]
    return files, failed


# ---------------------------------------------------------------------------------------------------- commands


def cmd_classify(args):
    from .api import zero_shot

    loaded = _load(args)
    if loaded is None:
        return 1
    model, processor, _ = loaded
    files, failed = _expand(args.images)
    rows = []
    # Read and classify one batch at a time: a long list of large photos never sits in memory at once.
    for start in range(0, len(files), args.batch_size):
        chunk = files[start : start + args.batch_size]
        pairs, errors = _read_images(chunk)
        failed += len(errors)
        ranked = iter(zero_shot(model, processor, [im for _, im in pairs], args.labels, args.template,
                                max_num_patches=args.max_patches, progress=False) if pairs else [])
        for path in chunk:  # input order, failures in place
            rows.append({"file": path, "error": errors[path]} if path in errors
                        else {"file": path, "labels": next(ranked)})
    if args.json:
        print(json.dumps([_json_row(r) for r in rows], indent=2))
    else:
        for r in rows:
            if "labels" in r:
                print(r["file"])
                for label, prob in r["labels"][: args.top]:
                    print(f"  {prob:7.4f}  {label}")
    return 1 if failed else 0


def _json_row(result):
    if "labels" not in result:
        return result
    return {"file": result["file"], "labels": [{"label": l, "probability": p} for l, p in result["labels"]]}


def cmd_embed(args):
    import numpy as np
    import torch

    from .api import Progress, embed_images

    if Path(args.out).suffix != ".npz":
        _error(f"--out {args.out}: the output is a .npz file (numpy arrays 'embeddings' and 'paths'); name it *.npz")
        return 2
    if not Path(args.out).resolve().parent.is_dir():
        _error(f"--out {args.out}: folder {Path(args.out).resolve().parent} does not exist")
        return 2
    files, failed = _expand(args.inputs)
    loaded = _load(args)
    if loaded is None:
        return 1
    model, processor, folder = loaded
    bar = Progress(len(files), "embed", args.progress, args.batch_size)
    done, chunks = [], []
    try:
        for start in range(0, len(files), args.batch_size):
            pairs, errors = _read_images(files[start : start + args.batch_size], bar)
            failed += len(errors)
            if pairs:
                chunks.append(embed_images(model, processor, [im for _, im in pairs],
                                           max_num_patches=args.max_patches, progress=False))
                done += [p for p, _ in pairs]
            bar.update(len(files[start : start + args.batch_size]))
    finally:
        bar.close()
    dim = model.config.text.projection_size
    embeddings = torch.cat(chunks).numpy() if chunks else np.zeros((0, dim), np.float32)  # [N, D]
    # .npz of plain arrays (unicode strings for paths): np.load reads it with allow_pickle=False.
    np.savez(args.out, embeddings=embeddings.astype(np.float32), paths=np.array(done, dtype=str),
             model=np.array(str(args.model or folder)))
    print(f"wrote {len(done)} embeddings of width {embeddings.shape[1]} to {args.out}"
          + (f" ({failed} failed)" if failed else ""), file=sys.stderr)
    return 1 if failed else 0


def cmd_similarity(args):
    import torch

    from .api import embed_images, embed_texts, image_text_logits, ImageReadError, load_image

    try:
        image = load_image(args.image)
    except ImageReadError as err:
        _error(str(err))
        return 1
    loaded = _load(args)
    if loaded is None:
        return 1
    model, processor, _ = loaded
    image_embeds = embed_images(model, processor, [image], max_num_patches=args.max_patches)  # [1, D]
    text_embeds = embed_texts(model, processor, args.texts)  # [T, D]
    cosine = (image_embeds @ text_embeds.T)[0]  # [T]
    logits = image_text_logits(model, image_embeds, text_embeds)[0]  # [T]
    probs = torch.sigmoid(logits)  # [T]
    rows = [{"text": t, "cosine": c, "logit": l, "probability": p}
            for t, c, l, p in zip(args.texts, cosine.tolist(), logits.tolist(), probs.tolist())]
    if args.json:
        print(json.dumps({"file": args.image, "texts": rows}, indent=2))
    else:
        print(f"{'probability':>11}  {'logit':>8}  {'cosine':>7}  text")
        for r in rows:
            print(f"{r['probability']:11.4f}  {r['logit']:8.3f}  {r['cosine']:7.4f}  {r['text']}")
    return 0


def cmd_demo(args):
    from . import demo

    loaded = _load(args)
    if loaded is None:
        return 1
    model, processor, folder = loaded
    return demo.run(model, processor, folder, save=args.save, json_out=args.json)


# ------------------------------------------------------------------------------------------------------ parser


def build_parser():
    parser = argparse.ArgumentParser(
        prog="siglip2-min",
        description="SigLIP2 image-text encoders: zero-shot classification and embeddings. " + SIGMOID_NOTE,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p):
        p.add_argument("--model", metavar="M", help="model folder or Hugging Face id, e.g. "
                       "google/siglip2-base-patch16-naflex (default: the bundled tiny model)")
        p.add_argument("--max-patches", type=_positive_int, dest="max_patches", metavar="N",
                       help="NaFlex patch budget per image (default: the model's preprocessor_config.json)")
        p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")
        p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
        p.add_argument("--batch-size", type=_positive_int, default=32, dest="batch_size", metavar="B")

    p = sub.add_parser("demo", help="draw a few shapes and classify them with the bundled model")
    common(p)
    p.add_argument("--save", metavar="DIR", help="also write the drawn images as PNG files into DIR")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("classify", help="rank labels for each image (zero-shot)", description=SIGMOID_NOTE)
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files, or folders searched for images")
    p.add_argument("--labels", nargs="+", required=True, metavar="LABEL")
    p.add_argument("--template", default="This is a photo of {}.",
                   help="prompt for each label, '{}' marks the label (default: %(default)r)")
    p.add_argument("--top", type=_positive_int, default=5, help="labels shown per image in the table (default 5)")
    p.add_argument("--json", action="store_true",
                   help="print a JSON list, one object per image: file and labels ranked with probabilities, "
                        "or file and error")
    common(p)
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("embed", help="write unit-length image embeddings to a .npz file")
    p.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR", help="images, or folders searched for images")
    p.add_argument("--out", required=True, metavar="FILE.npz",
                   help="arrays 'embeddings' [N, D] float32 and 'paths' [N] (the images that were read, in order)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress on stderr (default: when stderr is a terminal)")
    common(p)
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("similarity", help="score one image against texts (no template)", description=SIGMOID_NOTE)
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--texts", nargs="+", required=True, metavar="TEXT")
    p.add_argument("--json", action="store_true")
    common(p)
    p.set_defaults(func=cmd_similarity)
    evaluate.add_parser(sub, common)
    finetune.add_parser(sub, common)
    return parser


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def main(argv=None):
    """Run the command line; returns the exit code (0 ok, 1 something failed, 2 usage error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:  # argparse exits on --help and usage errors; return its code instead
        return exit.code if isinstance(exit.code, int) else 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
