"""The training script (`python -m siglip2_min.train`): its command line, its grouped loss, and that a distributed
run takes the same steps as one process. Its batches' contents are tested in test_data.py."""

import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel as DDP

import siglip2_min
from siglip2_min import data, train
from siglip2_min.loss import sigmoid_loss
from siglip2_min.processor import load_processor

FOLDER = Path(siglip2_min.__file__).parent / "assets" / "tiny"  # only its preprocessing files are used here


@pytest.mark.parametrize(
    "args, message",
    [
        (["--groups", "7"], "--groups must be a positive divisor of --batch-size 120, got 7"),
        (["--groups", "0"], "argument --groups: expected an integer >= 1, got 0"),
        (["--groups", "4", "--one-colour", "5"], "--one-colour must lie in [0, --groups = 4], got 5"),
        (["--one-colour", "-1"], "argument --one-colour: expected an integer >= 0, got -1"),
    ],
)
def test_bad_group_arguments_are_refused_with_a_message(args, message, tmp_path, capsys):
    with pytest.raises(SystemExit):
        train.main(["--out", str(tmp_path), *args])
    assert message in capsys.readouterr().err


def test_the_grouped_loss_is_the_sum_of_each_groups_own_sigmoid_loss():
    g = torch.Generator().manual_seed(0)
    image, text = torch.randn(12, 8, generator=g), torch.randn(12, 8, generator=g)
    scale, bias = torch.tensor(2.3), torch.tensor(-10.0)
    grouped = train.loss_fn(image, text, scale, bias, world=1, groups=3)
    by_hand = sum(sigmoid_loss(image[i : i + 4], text[i : i + 4], scale, bias) for i in (0, 4, 8))
    whole = train.loss_fn(image, text, scale, bias, world=1, groups=1)
    # The same float32 sums in the same order: equal to rounding.
    assert abs(grouped - by_hand) <= 1e-6 * abs(by_hand), (grouped.item(), by_hand.item())
    assert abs(whole - sigmoid_loss(image, text, scale, bias)) <= 1e-6 * abs(whole)
    # Negatives from other groups are left out, so the grouped loss is not the whole batch's.
    assert abs(grouped - whole) > 0.1, (grouped.item(), whole.item())


def test_a_batch_draws_the_forced_colour_and_leaves_it_out_of_those_captions():
    seen = {}
    capture = lambda images, text: seen.update(images=images, text=text)  # stands in for the processor
    colours = ["red"] * 5 + [None] * 5
    train.batch_inputs(capture, "train", range(10), 0, colours)
    plain = data.samples(0, 10, "train", 0)
    for k, (text, colour) in enumerate(zip(seen["text"], colours)):
        words = set(text.replace(".", "").split())
        if colour:  # the whole group is red: naming it would tell no pair apart (data.group_colours)
            assert not words & set(data.COLOURS), text
        else:
            assert text == plain[k].caption
    red = np.asarray(seen["images"][0], dtype=float).reshape(-1, 3)
    assert red[:, 0].max() > 150 and (red[:, 0] - red[:, 2]).max() > 100  # a red shape is drawn in it


STEPS, BATCH = 2, 20  # 2 ranks of 10 pairs; with 5 groups of 4, group 2 straddles the two ranks
# float64: the ranks' gradients are averaged by DDP's all-reduce, in another order than one process sums them.
# Parameters are O(0.01..1) and AdamW moves them by ~lr = 1e-3 a step, so 1e-9 is far below any real difference.
ATOL, RTOL = 1e-9, 1e-9


def _worker(rank, world, port, groups):
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    dist.init_process_group("gloo", init_method="env://")  # what torchrun and train.main do
    try:
        processor = load_processor(FOLDER)
        kwargs = dict(steps=STEPS, batch_size=BATCH, seed=0, lr=1e-3, warmup=1, weight_decay=1e-4, groups=groups,
                      one_colour=min(2, groups))
        ddp = train.train(DDP(train.new_model(0).double()), processor, rank=rank, world=world, **kwargs).module
        alone = train.train(train.new_model(0).double(), processor, rank=0, world=1, **kwargs)
        start = train.new_model(0).double()
        bad, moved = [], 0
        for (name, p), q, p0 in zip(ddp.named_parameters(), alone.parameters(), start.parameters()):
            err = (p - q).abs()
            if not bool((err <= ATOL + RTOL * q.abs()).all()):
                bad.append(f"{name}: max abs err {err.max().item():.3e} at flat index {int(err.argmax())}")
            moved += int(not torch.equal(q, p0))
        assert not bad, f"rank {rank}: {len(bad)} parameters differ from single-process training: " + "; ".join(bad[:5])
        assert moved >= len(list(start.parameters())) // 2, f"only {moved} parameters moved"
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("groups", [5, 1], ids=["5-groups", "one-loss-ring"])
def test_two_ranks_train_exactly_like_one_process(groups):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_worker, args=(2, port, groups), nprocs=2, join=True)


def test_the_command_writes_a_loadable_model_and_is_reproducible(tmp_path, capsys):
    """`python -m siglip2_min.train` end to end at toy size, twice: the same seed gives the same weights."""
    from safetensors.torch import load_file

    args = ["--steps", "3", "--batch-size", "10", "--groups", "2", "--one-colour", "1", "--eval-images", "10",
            "--threads", "1"]
    for run in ("a", "b"):
        train.main(["--out", str(tmp_path / run), *args])
    printed = capsys.readouterr().out
    assert printed.count("held-out zero-shot on 10 images") == 2, printed
    info = json.loads((tmp_path / "a" / "training.json").read_text())
    assert info["args"]["groups"] == 2 and info["evaluation"]["images"] == 10, info
    model = siglip2_min.load_model(tmp_path / "a")  # the HF layout the package reads
    assert model.config.vision.num_patches == train.MAX_NUM_PATCHES
    a, b = (load_file(tmp_path / run / "model.safetensors") for run in ("a", "b"))
    assert a.keys() == b.keys()
    differ = [name for name in a if not torch.equal(a[name], b[name])]
    assert not differ, f"same seed, batch and threads, yet {len(differ)} tensors differ, e.g. {differ[:3]}"
    start = train.new_model(0).state_dict()
    assert sum(not torch.equal(a[k], start[k]) for k in a) > len(a) // 2, "training left the weights unchanged"
