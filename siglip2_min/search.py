"""Text search over stored image embeddings, and text embeddings from the command line.

    siglip2-min embed photos/ --out photos.npz                  # once: unit-length image embeddings
    siglip2-min search photos.npz "a red car" --top 5            # then any number of queries
    siglip2-min embed --texts "a red car" "a dog" --out texts.npz

A search embeds each query with the model that made the `.npz` (its `model` entry), and ranks the stored images
by cosine similarity, which is also the order of the pair logits `exp(logit_scale) * cos + logit_bias`; the
probability shown is the sigmoid of that logit (independent per image, as everywhere in SigLIP). Queries go in as
given, without a prompt template. Embeddings from one model mean nothing to another, so a `--model` that is not the
one recorded in the file is refused.

Shapes: N stored images, Q queries, D embedding width.
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch

from .checks import arg_int


class EmbeddingFileError(ValueError):
    """An embeddings `.npz` that cannot be read or is not what `embed` writes; the message names the file."""


def load_embeddings(path):
    """(embeddings [N, D] float32, paths [N] of str, model) from a `.npz` written by `siglip2-min embed`."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in stored.files}
    except FileNotFoundError:
        raise EmbeddingFileError(f"{path}: no such file") from None
    except (OSError, ValueError) as err:  # not a zip, a truncated file, or pickled objects
        raise EmbeddingFileError(f"{path}: not an embeddings file written by `siglip2-min embed` ({err})") from None
    if "paths" not in arrays or "embeddings" not in arrays:
        held = "text embeddings" if "texts" in arrays else "patch features" if "layer" in arrays else "other arrays"
        raise EmbeddingFileError(f"{path}: holds {held}, not image embeddings; make them with "
                                 "`siglip2-min embed IMAGES --out FILE.npz`")
    embeddings, paths = arrays["embeddings"], arrays["paths"]
    if embeddings.ndim != 2 or not np.issubdtype(embeddings.dtype, np.floating) or len(paths) != len(embeddings):
        raise EmbeddingFileError(f"{path}: 'embeddings' must be floats [N, D] with one entry of 'paths' per row, "
                                 f"got {embeddings.dtype} {embeddings.shape} and {len(paths)} paths")
    model = str(arrays["model"]) if "model" in arrays else None
    return torch.from_numpy(embeddings.astype(np.float32)), [str(p) for p in paths], model


def same_model(a, b):
    """True when the model names `a` and `b` (folders, HF ids, None for the bundled model) are one model folder."""
    from .hub import resolve_model

    try:
        return (Path(resolve_model(a, allow_download=False)).resolve()
                == Path(resolve_model(b, allow_download=False)).resolve())
    except (FileNotFoundError, ValueError):  # a name not on this machine: only the same name is the same model
        return a == b


def rank(model, processor, embeddings, queries, top=5):
    """For each query, the `top` stored images best first: lists of (row, cosine, probability)."""
    from .api import embed_texts, image_text_logits

    text_embeds = embed_texts(model, processor, queries, progress=False)  # [Q, D]
    cosine = text_embeds @ embeddings.T  # [Q, D] @ [D, N] -> [Q, N]
    probs = torch.sigmoid(image_text_logits(model, embeddings, text_embeds).T)  # [N, Q] -> [Q, N]
    order = cosine.argsort(dim=1, descending=True, stable=True)[:, :top]  # [Q, K]: ties keep file order
    return [[(j, float(cosine[q, j]), float(probs[q, j])) for j in row.tolist()] for q, row in enumerate(order)]


# ------------------------------------------------------------------------------------------- command line


def add_embed_options(p):
    """`embed --texts TEXT ...`: text embeddings instead of image embeddings."""
    p.add_argument("--texts", nargs="+", metavar="TEXT",
                   help="embed these texts (as given, no template) instead of images: arrays 'embeddings' [T, D] "
                        "and 'texts' [T]")


def add_parser(sub, common):
    """`siglip2-min search EMB.npz QUERY ... [--top K] [--json]`."""
    p = sub.add_parser("search", help="rank the images of an embeddings .npz (from `embed`) against text queries")
    p.add_argument("embeddings", metavar="EMB.npz", help="image embeddings written by `siglip2-min embed`")
    p.add_argument("queries", nargs="+", metavar="QUERY", help="texts to search for, as given (no template)")
    p.add_argument("--top", type=arg_int(1), default=5, metavar="K", help="results per query (default 5)")
    p.add_argument("--json", action="store_true",
                   help='print [{"query", "results": [{"path", "cosine", "probability"}, ...]}, ...]')
    common(p)
    p.set_defaults(func=cmd_search)


def cmd_search(args):
    from . import cli

    try:
        embeddings, paths, made_by = load_embeddings(args.embeddings)
    except EmbeddingFileError as err:
        cli.error(str(err))
        return 1
    if made_by is None and args.model is None:
        raise cli.UsageError(f"{args.embeddings} does not say which model made it; pass that model with --model")
    if args.model is not None and made_by is not None and not same_model(args.model, made_by):
        raise cli.UsageError(f"{args.embeddings} was made by the model {made_by}, not --model {args.model}: "
                             "embeddings of different models cannot be compared. Leave out --model to use the one "
                             "that made them")
    args.model = args.model if args.model is not None else made_by
    model, processor, _ = cli.load(args)
    if embeddings.shape[1] != model.config.text.projection_size:
        raise cli.UsageError(f"{args.embeddings}: embeddings of width {embeddings.shape[1]}, but {args.model} "
                             f"embeds into {model.config.text.projection_size}")
    ranked = rank(model, processor, embeddings, args.queries, args.top)
    if args.json:
        print(json.dumps([{"query": q, "results": [{"path": paths[j], "cosine": c, "probability": p}
                                                   for j, c, p in rows]}
                          for q, rows in zip(args.queries, ranked)], indent=2, allow_nan=False))
        return 0
    for query, rows in zip(args.queries, ranked):
        print(f"{query}\n{'probability':>13}  {'cosine':>7}  path")
        for j, c, p in rows:
            print(f"  {p:11.4f}  {c:7.4f}  {paths[j]}")
    return 0


def cmd_embed_texts(args):
    """`embed --texts`: 'embeddings' [T, D] float32 (unit length), 'texts' [T], 'model'."""
    from . import cli, fileio
    from .api import embed_texts
    from .features import checked_output

    if args.inputs or args.patches or args.layer is not None:
        raise cli.UsageError("embed --texts takes no images, --patches or --layer: run embed once for images, once "
                             "for texts")
    out = checked_output(args, {".npz"}, "the output is a .npz file (arrays 'embeddings', 'texts'); name it *.npz")
    model, processor, folder = cli.load(args)
    embeddings = embed_texts(model, processor, args.texts, batch_size=args.batch_size).numpy()  # [T, D]
    arrays = dict(embeddings=embeddings.astype(np.float32), texts=np.array(args.texts, dtype=str),
                  model=np.array(str(args.model or folder)))
    fileio.write_file(out, lambda f: np.savez(f, **arrays), args.overwrite)
    print(f"wrote {len(args.texts)} text embeddings of width {embeddings.shape[1]} to {args.out}", file=sys.stderr)
    return 0
