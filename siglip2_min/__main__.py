"""The `siglip2-min` command line: demo, classify, embed, similarity (and search, attention, export: search.py,
features.py, export.py).
Also `python -m siglip2_min`.

    siglip2-min demo                                       # draws shapes, classifies them with the bundled model
    siglip2-min classify a.png b.jpg --labels cat dog      # ranked labels per image, sigmoid probabilities
    siglip2-min embed photos/ --out emb.npz                # unit-length image embeddings, for scripts
    siglip2-min similarity a.png b.png --texts "a cat" "a dog"   # one score per image and text
    siglip2-min search emb.npz "a red car"                 # stored images ranked against a text
    siglip2-min attention a.png --out heat.png             # the MAP probe's attention drawn over the image
    siglip2-min export --out tiny_onnx                     # ONNX graphs of both towers (export.py)

Output for scripts: `classify --json` prints a JSON list with one object per input, in input order:
`{"file": ..., "labels": [{"score": ..., "label": ...}, ...]}` best first (HF's zero-shot pipeline shape; the score is
the sigmoid probability), or `{"file": ..., "error": ...}`.
`embed --out FILE.npz` writes `embeddings` [N, D] float32 (unit length) and `paths` [N] (the images read, in
order; unreadable ones are left out) and `model`; `np.load(FILE)` reads it without pickle. It never replaces an
existing file unless `--overwrite` is given, and writes nothing when no input could be read.
`similarity --json` prints a list with one object per image, in input order:
`{"file": ..., "texts": [{"text", "cosine", "logit", "probability"}, ...]}` or `{"file": ..., "error": ...}`.
With `--json`, stdout is valid JSON on every path: an error that stops the command prints `{"error": ...}`.

`--model M` is a model folder or a Hugging Face id (see `siglip2_min.hub`); without it, the tiny model bundled
with the package. Exit codes (docs/errors.md): 0 ok; 1 some inputs failed (each named in a one-line error on
stderr, the other inputs still processed); 2 a usage or setup error (bad arguments, model, output path), one line
on stderr before any work is done. `--debug` shows the traceback instead.
"""

import argparse
import json
import sys
from pathlib import Path

from . import cli
from .api import DEFAULT_TEMPLATE
from .checks import arg_int

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

SIGMOID_NOTE = (
    "Scores are sigmoid probabilities, one independent yes/no per text: they do not sum to 1, and a right answer "
    "at 0.2 is normal for the published checkpoints (calibration of the sigmoid loss, not a bug)."
)

# What a user's mistake raises (a bad file, value, path or setup), printed as one line with exit code 2.
# RuntimeError covers torch's (a device, out of memory). Anything else is unexpected (a bug, or a malformed file no
# check foresaw): one line too, marked as unexpected; --debug shows the traceback.
USER_ERRORS = (OSError, ValueError, TypeError, ArithmeticError, RuntimeError, MemoryError)


def _print_json(value):
    print(json.dumps(value, indent=2, allow_nan=False))  # NaN is not JSON; api refuses non-finite scores anyway


# ---------------------------------------------------------------------------------------------------- commands


def cmd_classify(args):
    import torch

    from .api import Progress, apply_template, check_labels, embed_images, embed_texts, image_text_logits, rank_labels

    labels = check_labels(args.labels)  # usage errors first, before the model is loaded
    prompts = [apply_template(args.template, label) for label in labels]
    model, processor, _ = cli.load(args)
    files, failed = cli.expand(args.images)
    text_embeds = embed_texts(model, processor, prompts, progress=False)  # [T, D], once for every image
    rows = []
    bar = Progress(len(files), "classify", args.progress, args.batch_size)
    # Read and embed one batch at a time: a long list of large photos never sits in memory at once.
    try:
        for start in range(0, len(files), args.batch_size):
            chunk = files[start : start + args.batch_size]
            pairs, errors = cli.read_images(chunk, bar)
            failed += len(errors)
            ranked = iter([])
            if pairs:
                image_embeds = embed_images(model, processor, [im for _, im in pairs], batch_size=args.batch_size,
                                            max_num_patches=args.max_patches, progress=False)  # [B, D]
                ranked = iter(rank_labels(labels, torch.sigmoid(image_text_logits(model, image_embeds, text_embeds))))
            for path in chunk:  # input order, failures in place
                rows.append({"file": path, "error": errors[path]} if path in errors
                            else {"file": path, "labels": next(ranked)})
            bar.update(len(chunk))
    finally:
        bar.close()
    if args.json:
        _print_json([_json_row(r) for r in rows])
    else:
        for r in rows:
            if "labels" in r:
                print(r["file"])
                for label, prob in r["labels"][: args.top]:
                    print(f"  {prob:7.4f}  {label}")
    return EXIT_FAILED if failed else EXIT_OK


def _json_row(result):
    if "labels" not in result:
        return result
    # each "labels" list has the shape of HF's zero-shot pipeline output for one image: [{"score", "label"}, ...]
    return {"file": result["file"], "labels": [{"score": p, "label": l} for l, p in result["labels"]]}


def cmd_embed(args):
    import numpy as np
    import torch

    from .api import Progress, embed_images
    from .fileio import check_output, write_file

    if args.patches or args.layer is not None or args.texts:  # siglip2_min/features.py, siglip2_min/search.py
        from . import features, search
        return search.cmd_embed_texts(args) if args.texts else features.cmd_embed_patches(args)
    if not args.inputs:
        raise cli.UsageError("embed: give images or folders (or --texts TEXT ...)")
    if Path(args.out).suffix != ".npz":
        raise cli.UsageError(f"--out {args.out}: the output is a .npz file (numpy arrays 'embeddings' and 'paths'); "
                         "name it *.npz")
    check_output(args.out, args.overwrite)  # before any work: a bad --out costs nothing
    files, failed = cli.expand(args.inputs)
    model, processor, folder = cli.load(args, text=False)
    bar = Progress(len(files), "embed", args.progress, args.batch_size)
    done, chunks = [], []
    try:
        for start in range(0, len(files), args.batch_size):
            pairs, errors = cli.read_images(files[start : start + args.batch_size], bar)
            failed += len(errors)
            if pairs:
                chunks.append(embed_images(model, processor, [im for _, im in pairs], batch_size=args.batch_size,
                                           max_num_patches=args.max_patches, progress=False))
                done += [p for p, _ in pairs]
            bar.update(len(files[start : start + args.batch_size]))
    finally:
        bar.close()
    if not done:
        cli.error(f"no image could be read; {args.out} was not written")
        return EXIT_FAILED
    embeddings = torch.cat(chunks).numpy().astype(np.float32)  # [N, D]
    # .npz of plain arrays (unicode strings for paths): np.load reads it with allow_pickle=False. Written under a
    # temporary name and renamed: a failure (a full disk) leaves the old file or none, never half of one.
    write_file(args.out, lambda f: np.savez(f, embeddings=embeddings, paths=np.array(done, dtype=str),
                                            model=np.array(str(args.model or folder))), args.overwrite)
    print(f"wrote {len(done)} embeddings of width {embeddings.shape[1]} to {args.out}"
          + (f" ({failed} failed)" if failed else ""), file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def cmd_similarity(args):
    import torch

    from .api import embed_images, embed_texts, image_text_logits

    files, failed = cli.expand(args.images)
    pairs, errors = cli.read_images(files)
    failed += len(errors)
    rows = {path: {"file": path, "error": message} for path, message in errors.items()}
    if pairs:
        model, processor, _ = cli.load(args)
        image_embeds = embed_images(model, processor, [im for _, im in pairs], max_num_patches=args.max_patches)
        text_embeds = embed_texts(model, processor, args.texts)  # [T, D]
        cosine = image_embeds @ text_embeds.T  # [N, D] @ [D, T] -> [N, T]
        logits = image_text_logits(model, image_embeds, text_embeds)  # [N, T]
        probs = torch.sigmoid(logits)  # [N, T]
        for (path, _), c, l, p in zip(pairs, cosine.tolist(), logits.tolist(), probs.tolist()):
            rows[path] = {"file": path, "texts": [{"text": t, "cosine": ci, "logit": li, "probability": pi}
                                                  for t, ci, li, pi in zip(args.texts, c, l, p)]}
    rows = [rows[path] for path in files]  # input order, failures in place
    if args.json:
        _print_json(rows)
    else:
        for row in rows:
            if "texts" in row:
                print(f"{row['file']}\n{'probability':>13}  {'logit':>8}  {'cosine':>7}  text")
                for r in row["texts"]:
                    print(f"  {r['probability']:11.4f}  {r['logit']:8.3f}  {r['cosine']:7.4f}  {r['text']}")
    return EXIT_FAILED if failed else EXIT_OK


def cmd_demo(args):
    from . import demo

    if args.save:
        demo.save_paths(args.save, args.overwrite)  # before any work
    model, processor, folder = cli.load(args)
    return demo.run(model, processor, folder, save=args.save, json_out=args.json, overwrite=args.overwrite)


# ------------------------------------------------------------------------------------------------------ parser


def build_parser():
    from . import evaluate, export, features, finetune, search

    parser = argparse.ArgumentParser(
        prog="siglip2-min",
        description="SigLIP2 image-text encoders: zero-shot classification and embeddings. " + SIGMOID_NOTE,
    )
    parser.add_argument("--version", action="version", version=f"siglip2-min {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p):
        p.add_argument("--model", metavar="M", help="model folder or Hugging Face id, e.g. "
                       "google/siglip2-base-patch16-naflex (default: the bundled tiny model)")
        p.add_argument("--max-patches", type=arg_int(1), dest="max_patches", metavar="N",
                       help="NaFlex patch budget per image, at most 4096 (default: the model's "
                            "preprocessor_config.json)")
        p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")
        p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
        p.add_argument("--batch-size", type=arg_int(1), default=32, dest="batch_size", metavar="B",
                       help="images per model call (default 32)")
        p.add_argument("--debug", action="store_true", help="show the traceback of an error")

    p = sub.add_parser("demo", help="draw a few shapes and classify them with the bundled model")
    common(p)
    p.add_argument("--save", metavar="DIR", help="also write the drawn images as PNG files into DIR")
    p.add_argument("--overwrite", action="store_true", help="replace files of the same names in DIR")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("classify", help="rank labels for each image (zero-shot)", description=SIGMOID_NOTE)
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files, or folders searched for images")
    p.add_argument("--labels", nargs="+", required=True, metavar="LABEL")
    p.add_argument("--template", default=DEFAULT_TEMPLATE,
                   help="prompt for each label, '{}' marks the label (default: %(default)r)")
    p.add_argument("--top", type=arg_int(1), default=5, help="labels shown per image in the table (default 5)")
    p.add_argument("--json", action="store_true",
                   help="print a JSON list, one object per image: file and labels ranked with probabilities, "
                        "or file and error")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress on stderr (default: when stderr is a terminal)")
    common(p)
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("embed", help="write unit-length image embeddings to a .npz file")
    p.add_argument("inputs", nargs="*", metavar="FILE_OR_DIR", help="images, or folders searched for images")
    p.add_argument("--out", required=True, metavar="FILE.npz",
                   help="arrays 'embeddings' [N, D] float32 and 'paths' [N] (the images that were read, in order)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress on stderr (default: when stderr is a terminal)")
    common(p)
    features.add_embed_options(p)
    search.add_embed_options(p)
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("similarity", help="score images against texts (no template)", description=SIGMOID_NOTE)
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files, or folders searched for images")
    p.add_argument("--texts", nargs="+", required=True, metavar="TEXT")
    p.add_argument("--json", action="store_true")
    common(p)
    p.set_defaults(func=cmd_similarity)
    features.add_parser(sub, common)
    search.add_parser(sub, common)
    evaluate.add_parser(sub, common)
    finetune.add_parser(sub, common)
    export.add_parser(sub, common)
    return parser


def _version():
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("siglip2-min")
    except PackageNotFoundError:  # run from a checkout that was never pip-installed
        return "(not installed; see pyproject.toml)"


def main(argv=None):
    """Run the command line; returns the exit code (0 ok, 1 some inputs failed, 2 usage or setup error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:  # argparse exits on --help and usage errors; return its code instead
        return exit.code if isinstance(exit.code, int) else EXIT_USAGE
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130  # the shell's code for Ctrl-C; outputs are only ever renamed into place, so none is half-written
    except USER_ERRORS as err:
        if args.debug:
            raise
        message = str(err) or type(err).__name__  # a checkpoint's mismatch list is a few lines: keep them all
    except Exception as err:  # a case no check foresaw: still one line, and --debug shows where
        if args.debug:
            raise
        message = f"unexpected {type(err).__name__}: {err} (run with --debug for the traceback)"
    cli.error(message)
    if getattr(args, "json", False):
        _print_json({"error": message})
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
