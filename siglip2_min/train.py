"""Train the bundled tiny SigLIP2 (NaFlex) from scratch on the procedural shapes dataset, on a CPU, in minutes.

    python -m siglip2_min.train --out DIR [--steps 1500] [--seed 0] [--batch-size 120] [--groups 5]
    torchrun --nproc_per_node=N -m siglip2_min.train --out DIR     # same global batch, split over N ranks

What it does, in order: train a tiny SentencePiece tokenizer with the Gemma options (docs/tokenizer-contract.md) on every
caption the dataset can produce; build a small two-tower SigLIP2 with big_vision's initialisation and the paper's
logit_scale = log 10, logit_bias = -10 (SigLIP paper section 3.1); train it with the sigmoid loss (`loss.py`), AdamW,
linear warmup then cosine decay, on batches drawn on the fly from `data.py`, each batch a few groups with the loss
taken within each group and some groups in a single colour (docs/training.md says why); write the model in the
Hugging Face layout (config.json, model.safetensors, tokenizer.model, tokenizer_config.json,
preprocessor_config.json); evaluate zero-shot colour and shape accuracy and image-to-caption R@1 on 500 held-out
images. docs/training.md tells the story of the recipe and its measurements.

Upstream: big_vision `trainers/proj/image_text/siglip.py` (the training step) and `configs/proj/image_text/siglip2.py`.
Seeded: with the same seed, batch size and thread count, two runs on one machine give the same weights.

Shapes: B = batch size (images = texts), N = max patches, P = patch_size**2 * 3, D = embedding width.
"""

import argparse
import json
import math
import os
import time

import torch

from . import data
from .api import DEFAULT_TEMPLATE, Progress, apply_template, embed_images, embed_texts
from .checks import arg_float, arg_int
from .config import PRESETS
from .hf_config import to_hf_config
from .fileio import OutputError, check_output, output_folder
from .loss import INIT_LOGIT_BIAS, INIT_LOGIT_SCALE, distributed_sigmoid_loss, sigmoid_loss
from .model import SigLIP2
from .processor import load_processor
from .tokenizer import HF_TOKENIZER_CONFIG, PAD_ID, train_sentencepiece
from .weights import hf_state_dict


PATCH_SIZE = 8
MAX_NUM_PATCHES = 64  # an 8x8 grid for a square image, 4x16 for 1:3 ... NaFlex keeps the aspect ratio
VOCAB_SIZE = 512  # 5 specials + 256 byte-fallback pieces + letters and merges of the caption words
GROUPS = 5  # each batch is 5 groups of pairs; the sigmoid loss of each group sees only its own pairs as negatives
ONE_COLOUR_GROUPS = 2  # of them, drawn in a single colour each: then only shape (and size, position) tells pairs apart

CONFIG = PRESETS["siglip2-min-tiny"]  # the bundled model (config.py)


def preprocessor_config():
    """preprocessor_config.json in HF `Siglip2ImageProcessor` format: resize, x/255, (x - 0.5) / 0.5, patchify."""
    return {
        "image_processor_type": "Siglip2ImageProcessor",
        "processor_class": "Siglip2Processor",
        "do_resize": True,
        "resample": 2,  # PIL bilinear
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
        "do_convert_rgb": True,
        "patch_size": PATCH_SIZE,
        "max_num_patches": MAX_NUM_PATCHES,
    }


# docs/tokenizer-contract.md: Gemma's special ids, no BOS, EOS appended, right padding.
def init_weights(model, seed):
    """big_vision's initialisation, applied by parameter name so it does not depend on the module classes.

    Dense kernels Xavier-uniform, biases zero, LayerNorms one/zero, token embeddings N(0, 1/sqrt(D)) (flax
    `Embed`), the vision position table N(0, 1/sqrt(D)) (big_vision `posemb="learn"`), and the paper's
    logit_scale = log 10 (temperature 10) and logit_bias = -10: with n-1 negatives per positive, a strongly
    negative bias keeps the initial loss from being dominated by the easy negatives (SigLIP paper section 3.1).
    One departure: the <pad> embedding and the text position table start at zero, so the pooled position 63
    (padding, for short captions) starts as a mix of the caption's words rather than one vector for every
    caption (docs/training.md, "Initialisation", has the measurements).
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if name == "logit_scale":
                p.fill_(INIT_LOGIT_SCALE)
            elif name == "logit_bias":
                p.fill_(INIT_LOGIT_BIAS)
            elif "norm" in name:  # layer_norm1/2, post_layernorm, final_layer_norm, head.layernorm
                p.fill_(1.0 if name.endswith("weight") else 0.0)
            elif name.endswith("bias"):
                p.zero_()
            elif name == "text_model.embeddings.position_embedding.weight":
                p.zero_()  # the pooled pad position starts as a bag of the caption's words (docstring)
            elif "embedding.weight" in name and "patch_embedding" not in name:  # token and position tables
                p.normal_(0.0, p.shape[-1] ** -0.5, generator=g)
                if name == "text_model.embeddings.token_embedding.weight":
                    p[PAD_ID].zero_()
            else:  # dense kernels, the fused MAP in_proj, the patch embedding, the probe
                fan_out, fan_in = p.shape[0] if p.ndim > 1 else 1, p.shape[-1]
                bound = math.sqrt(6.0 / (fan_in + fan_out))
                p.uniform_(-bound, bound, generator=g)


def new_model(seed):
    """A freshly initialised SigLIP2 of the bundled size (see `init_weights`)."""
    model = SigLIP2(CONFIG)
    init_weights(model, seed)
    return model


def batch_inputs(processor, split, indices, seed, colours=None):
    """Model inputs for the samples `indices` of a split: each image with the caption drawn for it.

    `colours`, when given, holds one colour per sample (`data.sample`'s override; its caption then leaves the colour
    out, see `data.group_colours`), or None for the generator's own colour."""
    batch = [data.sample(int(i), split, seed, c, c is None) for i, c in zip(indices, colours or [None] * len(indices))]
    # pixel_values [B, N, P], pixel_attention_mask [B, N], spatial_shapes [B, 2], input_ids [B, 64]
    return processor(images=[s.image for s in batch], text=[s.caption for s in batch])


@torch.no_grad()
def evaluate(model, processor, n=500, seed=0, batch_size=100):
    """Zero-shot colour and shape accuracy and image-to-caption R@1 on held-out samples 0..n-1 of the test split.

    Zero-shot: each image against the 35 labels "a {colour} {shape}" in the template "This is a photo of {}.",
    the best-scoring label taken. Retrieval: each image against the distinct full descriptions ("a small red
    circle on the left") of all n images; a hit when the best description is the image's own. Many images share
    a description, so distinct texts are the gallery and a tie between copies cannot count against an image.
    """
    samples = data.samples(0, n, "test", seed)
    quiet = dict(batch_size=batch_size, progress=False)
    image_embeds = embed_images(model, processor, [s.image for s in samples], **quiet)  # [n, D], unit length
    pairs, labels = data.zero_shot_labels()
    prompts = [apply_template(DEFAULT_TEMPLATE, label) for label in labels]  # "This is a photo of a red circle."
    label_embeds = embed_texts(model, processor, prompts, **quiet)  # [35, D], unit length
    # Sigmoid, scale and bias are monotonic, so the best label by cosine is the best by probability too.
    guesses = [pairs[int(b)] for b in (image_embeds @ label_embeds.T).argmax(dim=-1)]  # [n] (colour, shape)

    gallery = sorted({s.description for s in samples})
    gallery_embeds = embed_texts(model, processor, gallery, **quiet)  # [G, D], unit length
    best = (image_embeds @ gallery_embeds.T).argmax(dim=-1)  # [n]
    retrieval_hits = sum(gallery[int(b)] == s.description for b, s in zip(best, samples))
    return {
        "images": n,
        "shape_accuracy": sum(g[1] == s.shape for g, s in zip(guesses, samples)) / n,
        "colour_accuracy": sum(g[0] == s.colour for g, s in zip(guesses, samples)) / n,
        "both_accuracy": sum(g == (s.colour, s.shape) for g, s in zip(guesses, samples)) / n,
        "retrieval_r1": retrieval_hits / n,
        "retrieval_gallery": len(gallery),
    }


def lr_at(step, steps, peak, warmup):
    """Linear warmup to `peak`, then cosine decay to zero (big_vision `schedule=[("linear", warmup), "cosine"]`)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


def param_groups(model, weight_decay):
    """AdamW parameter groups of the parameters that require grad: weight decay on the matrices only, none on
    gains, biases, position tables, logit_scale and logit_bias (big_vision's `wd_mults`)."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = [p for n, p in named if p.ndim >= 2 and "position_embedding" not in n]
    no_decay = [p for n, p in named if p.ndim < 2 or "position_embedding" in n]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def train(model, processor, steps, batch_size, seed, lr, warmup, weight_decay, rank=0, world=1, eval_every=0,
          groups=GROUPS, one_colour=ONE_COLOUR_GROUPS):
    """The training loop: each step's global batch is samples [step*B, (step+1)*B) of the train split.

    The batch is `groups` consecutive groups of B/groups pairs, and the loss is the sum of the groups' sigmoid
    losses: each image's negatives are the texts of its own group. The first `one_colour` groups of every step are
    each drawn in a single colour (docs/training.md says why). With several ranks, each rank draws and embeds
    its B/W consecutive pairs and the loss brings the groups together (`loss_fn`)."""
    opt = torch.optim.AdamW(param_groups(model, weight_decay), lr=lr, betas=(0.9, 0.95))
    core = model.module if hasattr(model, "module") else model
    progress = Progress(steps, "train", enabled=rank == 0)  # steps done, steps/s, time left, loss
    local = batch_size // world
    model.train()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, lr, warmup)
        start = step * batch_size + rank * local  # this rank's shard of the global batch
        group_colours = data.group_colours(step, seed, groups, one_colour)  # [groups] a colour, or None for mixed
        colours = [group_colours[i // (batch_size // groups)] for i in range(rank * local, (rank + 1) * local)]
        inputs = batch_inputs(processor, "train", range(start, start + local), seed, colours)
        out = model(**inputs)
        loss = loss_fn(out.image_embeds, out.text_embeds, core.logit_scale, core.logit_bias, world, groups)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        shown = loss.detach().clone()
        if world > 1:  # the mean over ranks is the global loss (see loss_fn)
            torch.distributed.all_reduce(shown)
            shown /= world
        progress.update(1, loss=shown.item(), t=core.logit_scale.exp().item(), b=core.logit_bias.item())
        if eval_every and rank == 0 and (step + 1) % eval_every == 0 and step + 1 < steps:
            core.eval()
            r = evaluate(core, processor, n=100, seed=seed)
            report = ", ".join(f"{k} {v:.2f}" for k, v in r.items())
            progress.message(f"step {step + 1}, 100 held-out images: {report}")
            core.train()
    progress.close()
    model.eval()
    return model


def loss_fn(image_embeds, text_embeds, logit_scale, logit_bias, world, groups=1):
    """The sum over the batch's groups of each group's sigmoid loss; with several ranks, what this rank returns.

    One group: the global batch is a single loss. With several ranks each holds only its own pairs, and
    `distributed_sigmoid_loss` passes text embeddings round a ring (docs/distributed-loss.md); it returns W times
    this rank's share, so that DDP's gradient average is the global gradient. Several groups (a group may straddle
    two ranks): every rank gathers the whole batch, [local, D] -> [B, D], and returns the global loss; the
    gather's backward sums the W ranks' identical gradients for this rank's pairs, and DDP's average undoes the W.
    """
    if groups == 1 and world > 1:
        return distributed_sigmoid_loss(image_embeds, text_embeds, logit_scale, logit_bias)
    if world > 1:
        from torch.distributed.nn.functional import all_gather  # differentiable, unlike torch.distributed's

        image_embeds, text_embeds = torch.cat(all_gather(image_embeds)), torch.cat(all_gather(text_embeds))
    size = image_embeds.shape[0] // groups  # pairs per group
    pairs = zip(image_embeds.split(size), text_embeds.split(size))  # groups blocks of [size, D]
    return sum(sigmoid_loss(i, t, logit_scale, logit_bias) for i, t in pairs)


def write_preprocessing(out_dir, sp_bytes):
    """The tokenizer and preprocessor files, and config.json: everything `load_processor(out_dir)` reads."""
    (out_dir / "tokenizer.model").write_bytes(sp_bytes)
    for name, content in [
        ("config.json", to_hf_config(CONFIG)),
        ("tokenizer_config.json", HF_TOKENIZER_CONFIG),
        ("preprocessor_config.json", preprocessor_config()),
    ]:
        (out_dir / name).write_text(json.dumps(content, indent=2) + "\n")


def save_weights(out_dir, model, info):
    """model.safetensors with the HF parameter names (loads in `load_model` and `transformers.Siglip2Model`)."""
    from safetensors.torch import save_file

    save_file(hf_state_dict(model), out_dir / "model.safetensors", metadata={"format": "pt"})
    (out_dir / "training.json").write_text(json.dumps(info, indent=2) + "\n")


def _init_distributed():
    """(rank, world size) from torchrun's environment; a process group only when there is more than one rank."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    import torch.distributed as dist

    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), world


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m siglip2_min.train", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="folder for the trained model (Hugging Face layout); written "
                        "under a temporary name and renamed when complete")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists (only once the new "
                        "model is complete)")
    parser.add_argument("--steps", type=arg_int(1), default=1500)
    parser.add_argument("--batch-size", type=arg_int(1), default=120, help="global batch, split evenly into groups; "
                        "groups of a multiple of 5 keep the training split's blocks of 5 minimal pairs together")
    parser.add_argument("--lr", type=arg_float(0, strict=True), default=1e-3)
    parser.add_argument("--warmup", type=arg_int(0), default=50)
    parser.add_argument("--weight-decay", type=arg_float(0), default=1e-4)
    parser.add_argument("--seed", type=arg_int(0), default=0)
    parser.add_argument("--eval-images", type=arg_int(1), default=500)
    parser.add_argument("--groups", type=arg_int(1), default=GROUPS, help="groups per batch; each group's pairs are "
                        "the negatives of its own loss (1: the whole batch, as in SigLIP)")
    parser.add_argument("--one-colour", type=arg_int(0), default=ONE_COLOUR_GROUPS,
                        help="how many of the groups are drawn in a single colour (see data.group_colours)")
    parser.add_argument("--eval-every", type=arg_int(0), default=0,
                        help="also evaluate on 100 images every this many steps")
    parser.add_argument("--threads", type=arg_int(0), default=0, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.batch_size % args.groups:
        parser.error(f"--groups must be a positive divisor of --batch-size {args.batch_size}, got {args.groups}")
    if args.one_colour > args.groups:
        parser.error(f"--one-colour must lie in [0, --groups = {args.groups}], got {args.one_colour}")
    try:
        check_output(args.out, args.overwrite, folder=True)  # before any work: a bad --out costs nothing
    except OutputError as err:
        parser.error(f"--out: {err}")
    return parser, args


def main(argv=None):
    parser, args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rank, world = _init_distributed()
    if args.batch_size % world:
        parser.error(f"--batch-size {args.batch_size} must be divisible by the number of ranks {world}")
    if rank != 0:
        run(args, None, rank, world)
        return
    # The whole folder is written under a temporary name and renamed at the end: a run that fails part-way
    # leaves no folder (or the old one, with --overwrite), never one that no longer loads.
    with output_folder(args.out, args.overwrite) as folder:
        results, seconds = run(args, folder, rank, world)
    print(
        f"held-out zero-shot on {results['images']} images: shape {results['shape_accuracy']:.1%}, "
        f"colour {results['colour_accuracy']:.1%}, both {results['both_accuracy']:.1%}; "
        f"image-to-caption R@1 {results['retrieval_r1']:.1%} (gallery of {results['retrieval_gallery']} captions); "
        f"trained in {seconds:.0f}s; saved to {args.out}"
    )


def run(args, folder, rank, world):
    """Tokenizer, training, evaluation, weights into `folder` (rank 0; the other ranks get its path and train)."""
    start = time.time()
    if rank == 0:  # the tokenizer is trained first: the processor reads it back from the output folder
        write_preprocessing(folder, train_sentencepiece(data.all_captions(), VOCAB_SIZE, hard_vocab_limit=False))
    if world > 1:
        shared = [str(folder)]
        torch.distributed.broadcast_object_list(shared, src=0)  # also waits for rank 0's files
        folder = shared[0]
    processor = load_processor(folder)
    model = new_model(args.seed)  # the same seed on every rank: identical replicas before DDP's first step
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(model)
    train(
        model, processor, args.steps, args.batch_size, args.seed, args.lr, args.warmup, args.weight_decay, rank, world,
        args.eval_every, args.groups, args.one_colour,
    )  # fmt: skip
    model = model.module if world > 1 else model
    train_seconds = time.time() - start
    if world > 1:
        torch.distributed.destroy_process_group()
    if rank != 0:
        return None
    results = evaluate(model, processor, n=args.eval_images, seed=args.seed)
    info = {
        "args": {k: v for k, v in vars(args).items() if k not in ("out", "overwrite")},
        "world_size": world,
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "train_seconds": round(train_seconds, 1),
        "evaluation": results,
    }
    save_weights(folder, model, info)
    return results, train_seconds


if __name__ == "__main__":
    main()
