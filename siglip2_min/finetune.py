"""Fine-tune a SigLIP2 checkpoint on your own image-caption pairs with the sigmoid loss; `siglip2-min finetune`.

    siglip2-min finetune --model M --captions pairs.csv --out DIR [--train all|text|image|heads]
    torchrun --nproc_per_node=N -m siglip2_min finetune ...        # the same global batch over N processes

The recipe is the paper's where it applies (SigLIP arXiv 2303.15343, big_vision `siglip.py`): the sigmoid loss
(`loss.py`; the chunked form for large batches, the ring form across processes), AdamW with betas (0.9, 0.95),
linear warmup then cosine decay, weight decay on the matrices only (`train.param_groups`). Each epoch takes every
image once with one of its captions drawn at random, in a shuffled order: two captions of one image in a batch
would be each other's false negatives. `--train text` locks the image tower (LiT, Zhai et al. 2022), `image` the
text tower, `heads` trains only the MAP head, the text head and the logit scale and bias. Deterministic: the same
seed, data, batch size and thread count give the same weights. The result is written as a complete HF-layout
folder (loads with `load_model` and with transformers), through a temporary folder: nothing half-written.

Shapes: B = global batch, b = this process's share, D = embedding width.
"""

import argparse
import json
import shutil
import time

import numpy as np
import torch

from . import cli, datasets, evaluate
from .api import Progress, load_image
from .fileio import check_output, output_folder
from .loss import chunked_sigmoid_loss, distributed_sigmoid_loss, sigmoid_loss
from .train import _init_distributed, lr_at, param_groups
from .weights import hf_state_dict

TRAIN = ("all", "text", "image", "heads")
# Defaults: the course-sized proof in docs/evaluate-finetune.md was measured with them (the bundled tiny model).
EPOCHS = 15.0
BATCH_SIZE = 60
LR = 5e-4
WARMUP = 20
CHUNK = 256  # text rows per block of the chunked loss; batches above this use it (memory O(B * CHUNK), not B^2)
WEIGHT_FILES = ("*.safetensors", "*.safetensors.index.json", "*.bin", "*.pt", "training.json", "finetune.json")


def set_trainable(model, train):
    """Mark what `train` trains (see the module docstring); returns the names of the trainable parameters."""
    if train not in TRAIN:
        raise ValueError(f"train must be one of {TRAIN}, got {train!r}")
    prefix = {"all": ("",), "text": ("text_model.",), "image": ("vision_model.",),
              "heads": ("vision_model.head.", "text_model.head.")}[train]  # fmt: skip
    names = []
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(prefix) or name in ("logit_scale", "logit_bias"))
        names += [name] if p.requires_grad else []
    return names


def epoch_pairs(captions, epoch, seed):
    """[(image index, text index)] for one epoch: every image once, one of its captions each, shuffled."""
    rng = np.random.default_rng([int(seed), int(epoch)])
    texts_of = [[] for _ in captions.images]
    for j, i in enumerate(captions.text_image):
        texts_of[i].append(j)
    return [(int(i), texts_of[i][int(rng.integers(len(texts_of[i])))]) for i in rng.permutation(len(texts_of))]


def finetune(model, processor, captions, *, steps, batch_size=BATCH_SIZE, lr=LR, warmup=WARMUP, weight_decay=1e-4,
             max_num_patches=None, seed=0, rank=0, world=1, progress=None, autocast=None):
    """Train the parameters of `model` that require grad (`set_trainable`), in place, on a `datasets.Captions`
    for `steps` steps of `batch_size` pairs; returns the loss of every step. With several processes (torchrun),
    `model` is the DistributedDataParallel wrapper, each rank embeds its b = B / world pairs and the ring loss
    sees the whole batch. `autocast`: e.g. torch.bfloat16 for mixed precision on a GPU (weights and optimizer
    stay in float32)."""
    core = model.module if hasattr(model, "module") else model
    device = next(core.parameters()).device
    per_epoch = len(captions.images) // batch_size
    if per_epoch < 1:
        raise ValueError(f"batch size {batch_size} is more than the {len(captions.images)} images; lower --batch-size")
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(param_groups(core, weight_decay), lr=lr, betas=(0.9, 0.95))
    bar = Progress(steps, "finetune", progress if rank == 0 else False)
    losses, pairs, local = [], [], batch_size // world
    model.train()
    try:
        for step in range(steps):
            if step % per_epoch == 0:
                pairs = epoch_pairs(captions, step // per_epoch, seed)
            start = (step % per_epoch) * batch_size + rank * local  # this rank's share of the global batch
            batch = pairs[start : start + local]
            inputs = processor(images=[load_image(captions.images[i]) for i, _ in batch],
                               text=[captions.texts[j] for _, j in batch], max_num_patches=max_num_patches)
            inputs = {k: torch.as_tensor(v).to(device) for k, v in inputs.items()}
            for group in opt.param_groups:
                group["lr"] = lr_at(step, steps, lr, warmup)
            with torch.autocast(device.type, dtype=autocast, enabled=autocast is not None):
                out = model(**inputs)
            loss = pair_loss(out.image_embeds.float(), out.text_embeds.float(), core, world)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            shown = loss.detach().clone()
            if world > 1:  # the mean over ranks of what the ring loss returns is the global loss
                torch.distributed.all_reduce(shown)
                shown /= world
            losses.append(shown.item())
            bar.update(1, loss=losses[-1])
    finally:
        bar.close()
        model.eval()
    return losses


def pair_loss(image_embeds, text_embeds, core, world):
    """The sigmoid loss of the batch: over the ring of processes, in chunks when large, or in one piece."""
    if world > 1:
        return distributed_sigmoid_loss(image_embeds, text_embeds, core.logit_scale, core.logit_bias)
    if image_embeds.shape[0] > CHUNK:
        return chunked_sigmoid_loss(image_embeds, text_embeds, core.logit_scale, core.logit_bias, CHUNK)
    return sigmoid_loss(image_embeds, text_embeds, core.logit_scale, core.logit_bias)


def save(model, source, folder, info):
    """Write `model` into `folder` in the layout of `source`: its config, tokenizer and preprocessor files copied,
    the weights as one `model.safetensors` under the HF names, `info` as `finetune.json`."""
    from safetensors.torch import save_file

    for file in sorted(source.iterdir()):
        if file.is_file() and not any(file.match(pattern) for pattern in WEIGHT_FILES):
            shutil.copy2(file, folder / file.name)
    save_file(hf_state_dict(model), folder / "model.safetensors", metadata={"format": "pt"})
    (folder / "finetune.json").write_text(json.dumps(info, indent=2) + "\n")


# ------------------------------------------------------------------------------------------------- command line


def add_parser(subparsers, common):
    """`siglip2-min finetune`; `common` adds --model, --device, --dtype, --batch-size, --max-patches."""
    p = subparsers.add_parser("finetune", help="fine-tune a model on an image-caption file (sigmoid loss)",
                              description=__doc__.split("\n")[0])
    p.add_argument("--captions", required=True, metavar="FILE", help="CSV (header image,caption) or JSONL")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the fine-tuned model (HF layout)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace DIR if it exists (only once the new one is complete)")
    p.add_argument("--train", choices=TRAIN, default="all", help="what to train: all; text (image tower locked, "
                   "LiT); image (text tower locked); heads (MAP head, text head, logit scale and bias). Default: all")
    p.add_argument("--epochs", type=float, default=EPOCHS, help="passes over the images (default %(default)s)")
    p.add_argument("--steps", type=int, help="number of steps, instead of --epochs")
    p.add_argument("--lr", type=float, default=LR, help="peak learning rate (default %(default)s)")
    p.add_argument("--warmup", type=int, default=WARMUP, help="linear warmup steps (default %(default)s)")
    p.add_argument("--weight-decay", type=float, default=1e-4, dest="weight_decay")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-folder", metavar="ROOT", action="append", default=[],
                   help="class folder: zero-shot accuracy before and after (repeatable)")
    p.add_argument("--eval-captions", metavar="FILE", help="caption file: retrieval recall before and after")
    p.add_argument("--template", action="append", metavar="T", help="zero-shot template(s) for --eval-folder "
                   "(as in `evaluate zero-shot`)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress with loss and time left on stderr (default: when stderr is a terminal)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    common(p)
    p.set_defaults(func=run, batch_size=BATCH_SIZE, canonicalize=False)


def run(args):
    """Check everything, load, evaluate, train, evaluate, write. Exit codes: 0 done; 1 an image failed during
    training (nothing written); 2 bad data, options, output folder or model (nothing computed)."""
    try:
        check_output(args.out, args.overwrite, folder=True)
        captions = datasets.read_captions(args.captions)
        evals = {"zero_shot": {root: datasets.read_class_folder(root) for root in args.eval_folder},
                 "retrieval": datasets.read_captions(args.eval_captions) if args.eval_captions else None}
        templates = args.template or [evaluate.api.DEFAULT_TEMPLATE]
        steps = args.steps or round(args.epochs * (len(captions.images) // args.batch_size))
        if steps < 1 or args.batch_size > len(captions.images):
            raise ValueError(f"{len(captions.images)} images make no step of batch size {args.batch_size} "
                             f"with --epochs {args.epochs}; lower --batch-size or raise --epochs/--steps")
        if args.threads:
            torch.set_num_threads(args.threads)
        rank, world = _init_distributed()
        if args.batch_size % world:
            raise ValueError(f"--batch-size {args.batch_size} must be divisible by the {world} processes")
        if world > 1 and args.device == "cuda":
            args.device = f"cuda:{rank % torch.cuda.device_count()}"
        autocast = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}[args.dtype]
        args.dtype = "float32"  # weights and optimizer in float32; --dtype sets the autocast compute type
        model, processor, source = cli.load(args)
    except (OSError, ValueError, TypeError, RuntimeError) as err:
        cli.error(str(err))
        return 2
    trainable = set_trainable(model, args.train)
    quiet = dict(batch_size=args.batch_size, max_num_patches=args.max_patches, progress=False)

    def measure():
        out = {}
        if evals["zero_shot"]:
            out["zero_shot"] = {root: evaluate.zero_shot_accuracy(model, processor, data, templates, **quiet)
                                for root, data in evals["zero_shot"].items()}
        if evals["retrieval"]:
            out["retrieval"] = evaluate.retrieval_recall(model, processor, evals["retrieval"], **quiet)
        return out

    try:
        before = measure() if rank == 0 else {}
        start = time.time()
        wrapped = model
        if world > 1:
            from torch.nn.parallel import DistributedDataParallel

            wrapped = DistributedDataParallel(model)
        losses = finetune(wrapped, processor, captions, steps=steps, batch_size=args.batch_size, lr=args.lr,
                          warmup=args.warmup, weight_decay=args.weight_decay,
                          max_num_patches=args.max_patches, seed=args.seed, rank=rank, world=world,
                          progress=args.progress, autocast=autocast)
        seconds = time.time() - start
        after = measure() if rank == 0 else {}
    except evaluate.api.ImageReadError as err:
        cli.error(f"{err}; nothing was written")
        return 1
    finally:
        if world > 1:
            torch.distributed.destroy_process_group()
    if rank != 0:
        return 0
    model.requires_grad_(False)
    info = {"args": {k: v for k, v in vars(args).items() if k != "func"}, "world_size": world,
            "torch_threads": torch.get_num_threads(), "torch_version": torch.__version__, "steps": steps,
            "trainable_parameters": sum(p.numel() for n, p in model.named_parameters() if n in set(trainable)),
            "train_seconds": round(seconds, 1), "losses": losses, "before": before, "after": after}  # fmt: skip
    with output_folder(args.out, args.overwrite) as folder:
        save(model, source, folder, info)
    print(report(before, after, info))
    return 0


def report(before, after, info):
    """A before/after table of every measurement, and what was trained for how long."""
    lines = [f"fine-tuned {info['trainable_parameters']:,} parameters ({info['args']['train']}) for {info['steps']} "
             f"steps in {info['train_seconds']:.0f}s; loss {info['losses'][0]:.3f} -> {info['losses'][-1]:.3f}; "
             f"saved to {info['args']['out']}"]
    rows = []
    for root, b in before.get("zero_shot", {}).items():
        a = after["zero_shot"][root]
        rows += [(f"{root} top-1", b["top1"], a["top1"]), ("  top-5", b["top5"], a["top5"])]
        rows += [(f"  {name}", b["per_class"][name], a["per_class"][name]) for name in b["per_class"]]
    if "retrieval" in before:
        for way in ("image_to_text", "text_to_image"):
            rows += [(f"{way.replace('_', ' ')} {k}", before["retrieval"][way][k], after["retrieval"][way][k])
                     for k in before["retrieval"][way]]
    if rows:
        width = max(24, *(len(name) for name, _, _ in rows))
        lines.append(f"{'':{width}s} {'before':>7s} {'after':>7s}")
        lines += [f"{name:{width}s} {b:7.1%} {a:7.1%}" for name, b, a in rows]
    return "\n".join(lines)
