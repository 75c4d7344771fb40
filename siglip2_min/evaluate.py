"""Zero-shot classification and image-text retrieval benchmarks on users' own data, and their commands.

    siglip2-min evaluate zero-shot --model M --folder ROOT [--template clip_paper] [--canonicalize] [--json OUT]
    siglip2-min evaluate retrieval --model M --captions FILE [--json OUT]

Zero-shot: each class's text embedding is the renormalised mean over the templates (`api.class_text_embeddings`,
the protocol of big_vision's `discriminative_classifier.py`); each image takes the class of highest cosine, which is
also the class of highest sigmoid probability. Retrieval: recall@K both ways, as big_vision's
`image_text_retrieval.py` counts it: an image is found when any of its captions is among the K texts that score
highest for it; a text when its image is among the K images that score highest for it. A candidate that scores
exactly as high as the right one does not push it down (captions repeated word for word score exactly alike).
Both embed through `api.embed_images` / `api.embed_texts`, batched, with progress on a terminal.
Formats: `datasets.py`. Shapes: N images, T texts, C classes, D embedding width.
"""

import argparse
import json

import torch

from . import api, cli, datasets, prompts
from .fileio import check_output, write_text

RECALL_KS = (1, 5, 10)
TOP_CONFUSED = 10  # class pairs listed under "confused"


def classification_metrics(scores, targets, class_names):
    """top1, top5 (fractions), per-class top-1, the most confused (true, predicted) pairs and n, from scores [N, C]."""
    targets = torch.as_tensor(targets)  # [N]
    n, c = scores.shape
    ranked = scores.argsort(dim=-1, descending=True, stable=True)  # [N, C] best first; ties: lower class index
    predicted = ranked[:, 0]  # [N]
    hit1 = predicted == targets  # [N]
    hit5 = (ranked[:, : min(5, c)] == targets[:, None]).any(dim=-1)  # [N]
    per_class = {name: hit1[targets == k].float().mean().item() for k, name in enumerate(class_names)}
    counts = torch.zeros(c, c, dtype=torch.long).index_put_((targets, predicted), torch.ones(n, dtype=torch.long),
                                                            accumulate=True)  # [C, C] rows true, columns predicted
    counts.fill_diagonal_(0)
    pairs = sorted(((-int(counts[t, p]), t, p) for t in range(c) for p in range(c) if counts[t, p]))[:TOP_CONFUSED]
    confused = [{"true": class_names[t], "predicted": class_names[p], "count": -k} for k, t, p in pairs]
    return {"top1": hit1.float().mean().item(), "top5": hit5.float().mean().item(), "per_class": per_class,
            "confused": confused, "n": n}  # fmt: skip


def recall_at_k(image_embeds, text_embeds, text_image, ks=RECALL_KS):
    """Image-to-text and text-to-image recall@K (fractions) for unit-length embeddings [N, D] and [T, D]."""
    text_image = torch.as_tensor(text_image)  # [T] image of each text
    sims = image_embeds @ text_embeds.T  # [N, T] cosines
    own = torch.zeros_like(sims, dtype=torch.bool)  # [N, T] True where text j describes image i
    own[text_image, torch.arange(len(text_image))] = True
    best_own = sims.masked_fill(~own, float("-inf")).max(dim=-1, keepdim=True).values  # [N, 1]
    image_rank = (sims > best_own).sum(dim=-1)  # [N] texts strictly better than the image's best caption
    right = sims[text_image, torch.arange(len(text_image))]  # [T] each text's score with its own image
    text_rank = (sims > right[None, :]).sum(dim=0)  # [T] images strictly better than the text's own
    return {
        "image_to_text": {f"R@{k}": (image_rank < k).float().mean().item() for k in ks},
        "text_to_image": {f"R@{k}": (text_rank < k).float().mean().item() for k in ks},
    }


def zero_shot_accuracy(model, processor, data, templates=(api.DEFAULT_TEMPLATE,), canonicalize=False,
                       batch_size=32, max_num_patches=None, progress=None):
    """`classification_metrics` of a `datasets.ClassFolder` classified zero-shot by its class names."""
    class_embeds = api.class_text_embeddings(model, processor, data.class_names, templates, canonicalize)  # [C, D]
    image_embeds = api.embed_images(model, processor, data.paths, batch_size=batch_size,
                                    max_num_patches=max_num_patches, progress=progress)  # [N, D]
    return classification_metrics(image_embeds @ class_embeds.T, data.targets, data.class_names)


def retrieval_recall(model, processor, data, batch_size=32, max_num_patches=None, progress=None):
    """`recall_at_k` of a `datasets.Captions`."""
    image_embeds = api.embed_images(model, processor, data.images, batch_size=batch_size,
                                    max_num_patches=max_num_patches, progress=progress)  # [N, D]
    text_embeds = api.embed_texts(model, processor, data.texts, progress=progress)  # [T, D]
    return recall_at_k(image_embeds, text_embeds, data.text_image)


# ------------------------------------------------------------------------------------------------- command line


def add_parser(subparsers, common):
    """`evaluate zero-shot` and `evaluate retrieval`; `common` adds --model, --device, --dtype, ... to a parser."""
    p = subparsers.add_parser("evaluate", help="zero-shot accuracy on a class folder, or retrieval recall@K")
    kinds = p.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    z = kinds.add_parser("zero-shot", help="top-1/top-5 accuracy on ROOT/<class name>/<images>")
    z.add_argument("--folder", required=True, metavar="ROOT", help="one sub-folder of images per class, "
                   "named by the class ('_' read as a space)")
    z.add_argument("--template", action="append", metavar="T", help="prompt template with '{}' for the class, "
                   "repeatable (the class embedding is the mean over them), or a set name: "
                   f"{', '.join(prompts.TEMPLATE_SETS)} (clip_paper: the papers' 81). "
                   f"Default: {api.DEFAULT_TEMPLATE!r}")
    z.add_argument("--canonicalize", action="store_true", help="lowercase class names and templates and strip "
                   "their punctuation, as big_vision's evaluator does for published numbers")
    r = kinds.add_parser("retrieval", help="image-to-text and text-to-image recall@1/5/10 on a caption file")
    r.add_argument("--captions", required=True, metavar="FILE", help="CSV (header image,caption) or JSONL")
    for q in (z, r):
        q.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT ('-': standard output)")
        q.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
        q.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="progress on stderr (default: when stderr is a terminal)")
        common(q)
        q.set_defaults(func=run)


def run(args):
    """Read and check the data and the output path, load the model, evaluate, report. Exit codes: 0 done,
    1 an image failed while embedding, 2 bad data, output path or model (nothing computed)."""
    try:
        if args.json and args.json != "-":
            check_output(args.json, args.overwrite)
        zero_shot = args.benchmark == "zero-shot"
        data = datasets.read_class_folder(args.folder) if zero_shot else datasets.read_captions(args.captions)
        templates = args.template if zero_shot and args.template else [api.DEFAULT_TEMPLATE]
        if zero_shot:  # a template without its '{}' is refused here, before the model is loaded
            [api.apply_template(t, "x") for t in prompts.resolve_templates(templates)]
        model, processor, _ = cli.load(args)
    except (OSError, ValueError, TypeError, RuntimeError) as err:
        cli.error(str(err))
        return 2
    quiet = dict(batch_size=args.batch_size, max_num_patches=args.max_patches, progress=args.progress)
    try:
        if zero_shot:
            result = zero_shot_accuracy(model, processor, data, templates, args.canonicalize, **quiet)
        else:
            result = retrieval_recall(model, processor, data, **quiet)
    except api.ImageReadError as err:
        cli.error(str(err))
        return 1
    print(report_zero_shot(result, data, templates, args.canonicalize) if zero_shot else report_retrieval(result, data))
    if args.json == "-":
        print(json.dumps(result, indent=2))
    elif args.json:
        write_text(args.json, json.dumps(result, indent=2) + "\n", args.overwrite)
    return 0


def report_zero_shot(result, data, templates, canonicalize):
    n_templates = len(prompts.resolve_templates(templates))
    lines = [f"zero-shot on {result['n']} images of {len(data.class_names)} classes, {n_templates} template(s)"
             f"{', canonicalised' if canonicalize else ''}: top-1 {result['top1']:.1%}, top-5 {result['top5']:.1%}",
             "per class (top-1):"]
    sizes = torch.bincount(torch.as_tensor(data.targets), minlength=len(data.class_names)).tolist()
    lines += [f"  {acc:7.1%}  {name} ({k} images)" for (name, acc), k in zip(result["per_class"].items(), sizes)]
    if result["confused"]:
        lines.append("most confused (true -> predicted):")
        lines += [f"  {c['count']:6d}  {c['true']} -> {c['predicted']}" for c in result["confused"]]
    return "\n".join(lines)


def report_retrieval(result, data):
    lines = [f"retrieval on {len(data.images)} images and {len(data.texts)} captions:"]
    for way in ("image_to_text", "text_to_image"):
        lines.append(f"  {way.replace('_', ' '):13s}  " + "  ".join(f"{k} {v:.1%}" for k, v in result[way].items()))
    return "\n".join(lines)
