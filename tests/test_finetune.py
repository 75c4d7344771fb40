"""Fine-tuning: what is frozen stays bit-identical, the same seed gives the same weights, the output folder is
written whole or not at all and loads in transformers, and the command runs end to end (toy size, seconds)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw

import siglip2_min
from siglip2_min import finetune as ft
from siglip2_min.__main__ import main
from siglip2_min.datasets import read_captions
from siglip2_min.processor import load_processor
from tiny_folder import make_model_folder

ROOT = Path(__file__).resolve().parents[1]
COLOURS = {"red": (230, 20, 20), "blue": (20, 40, 230), "green": (20, 180, 40), "black": (0, 0, 0)}


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """(model folder, caption file, class folder): a random checkpoint, 12 drawn images with 2 captions each."""
    root = tmp_path_factory.mktemp("toy")
    folder, _ = make_model_folder(root / "model")
    rows = ["image,caption"]
    for i in range(12):
        name = list(COLOURS)[i % 4]
        image = Image.new("RGB", (16 + 4 * (i % 3), 16), "white")
        ImageDraw.Draw(image).ellipse([2, 2, 12, 10 + i % 5], fill=COLOURS[name])
        (root / "classes" / f"a_{name}_dot").mkdir(parents=True, exist_ok=True)
        image.save(root / "classes" / f"a_{name}_dot" / f"{i}.png")
        path = f"classes/a_{name}_dot/{i}.png"
        rows += [f"{path},a {name} dot", f"{path},a photo of a {name} circle"]
    (root / "pairs.csv").write_text("\n".join(rows) + "\n")
    return folder, root / "pairs.csv", root / "classes"


def _train(toy, train="all", seed=0, steps=3):
    model, processor = siglip2_min.load_model(toy[0]), load_processor(toy[0])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    names = ft.set_trainable(model, train)
    losses = ft.finetune(model, processor, read_captions(toy[1]), steps=steps, batch_size=4, lr=1e-2, warmup=1,
                         seed=seed, progress=False)
    return before, model.state_dict(), names, losses


@pytest.mark.parametrize("train, trained_prefixes", [
    ("text", ("text_model.",)),
    ("image", ("vision_model.",)),
    ("heads", ("vision_model.head.", "text_model.head.")),
])  # fmt: skip
def test_frozen_parameters_are_bit_identical_after_training(toy, train, trained_prefixes):
    before, after, names, _ = _train(toy, train)
    trained = {n for n in before if n.startswith(trained_prefixes) or n in ("logit_scale", "logit_bias")}
    assert set(names) == trained
    for name in before:
        if name in trained:
            assert not torch.equal(before[name], after[name]), f"{name} should have been trained"
        else:
            assert torch.equal(before[name], after[name]), f"{name} is frozen but changed"


def test_the_same_seed_gives_the_same_weights_and_another_seed_others(toy):
    _, a, _, losses_a = _train(toy, seed=3)
    _, b, _, losses_b = _train(toy, seed=3)
    _, c, _, _ = _train(toy, seed=4)
    assert losses_a == losses_b
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)  # another seed: other caption draws and batch order


def test_each_epoch_takes_every_image_once_with_one_of_its_captions(toy):
    captions = read_captions(toy[1])
    for epoch in range(3):
        pairs = ft.epoch_pairs(captions, epoch, seed=0)
        assert sorted(i for i, _ in pairs) == list(range(len(captions.images)))
        assert all(captions.text_image[j] == i for i, j in pairs)
    assert ft.epoch_pairs(captions, 0, 0) != ft.epoch_pairs(captions, 1, 0)  # reshuffled every epoch


def test_large_batches_take_the_chunked_loss_with_the_same_value(monkeypatch):
    g = torch.Generator().manual_seed(0)
    images, texts = torch.randn(10, 8, generator=g), torch.randn(10, 8, generator=g)
    model = type("Logits", (), {"logit_scale": torch.tensor([2.3]), "logit_bias": torch.tensor([-1.7])})
    whole = ft.pair_loss(images, texts, model, world=1)
    monkeypatch.setattr(ft, "CHUNK", 3)  # 10 pairs > 3: four blocks of text rows
    # Same sum in another order, float32: ~1e-6 relative.
    assert torch.allclose(ft.pair_loss(images, texts, model, world=1), whole, rtol=1e-5, atol=0)


def test_finetune_command_writes_a_folder_that_loads_here_and_in_transformers(toy, tmp_path, capsys):
    import transformers

    out = tmp_path / "tuned"
    args = ["finetune", "--model", str(toy[0]), "--captions", str(toy[1]), "--out", str(out), "--steps", "4",
            "--batch-size", "6", "--lr", "1e-2", "--eval-folder", str(toy[2]), "--eval-captions", str(toy[1])]
    assert main(args) == 0
    report = capsys.readouterr().out
    assert "before" in report and "a red dot" in report and "image to text R@1" in report
    info = json.loads((out / "finetune.json").read_text())
    assert len(info["losses"]) == 4 and set(info["before"]) == set(info["after"]) == {"zero_shot", "retrieval"}
    assert set(info["after"]["zero_shot"]) == {str(toy[2])}  # one result per --eval-folder
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["config.json", "model.safetensors", "tokenizer.model", "tokenizer_config.json", "preprocessor_config.json",
         "finetune.json"])
    ours = siglip2_min.load_model(out)
    hf = transformers.Siglip2Model.from_pretrained(out).eval()
    for name, tensor in hf.state_dict().items():
        assert torch.equal(tensor, ours.state_dict()[name]), name  # same bytes under the same names
    start = siglip2_min.load_model(toy[0])
    assert not torch.equal(start.logit_bias, ours.logit_bias)  # it was trained

    assert main(args) == 2  # exists: refused before any work
    assert "already exists" in capsys.readouterr().err
    assert (out / "finetune.json").read_text() == json.dumps(info, indent=2) + "\n"


def test_a_failure_during_training_leaves_nothing_behind(toy, tmp_path, capsys):
    broken = tmp_path / "broken.png"
    Image.new("RGB", (64, 64), "red").save(broken)  # as test_api's truncated file
    broken.write_bytes(broken.read_bytes()[:60])  # the header reads, the pixels do not
    captions = tmp_path / "pairs.csv"
    rows = toy[1].read_text().replace("classes/", f"{toy[1].parent}/classes/")  # image paths absolute
    captions.write_text(rows + f"{broken},a broken red dot\n")
    args = ["finetune", "--model", str(toy[0]), "--captions", str(captions), "--out", str(tmp_path / "tuned"),
            "--steps", "5", "--batch-size", "13"]
    assert main(args) == 1
    assert "broken.png" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.png", "pairs.csv"]  # no folder, no temp folder


def test_fixres_weights_are_saved_as_conv_kernels_transformers_reads(fixres_checkpoint, tmp_path):
    import transformers

    folder, hf = fixres_checkpoint
    model = siglip2_min.load_model(folder)
    (tmp_path / "out").mkdir()
    ft.save(model, Path(folder), tmp_path / "out", {})
    again = transformers.SiglipModel.from_pretrained(tmp_path / "out").eval()
    for name, tensor in hf.state_dict().items():
        assert torch.equal(tensor, again.state_dict()[name]), name


def test_two_processes_under_torchrun_take_the_steps_of_one(toy, tmp_path):
    """The ring loss over 2 gloo processes equals the one-process loss of the same global batch, step by step."""
    def run(nproc, out):
        path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}
        launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
        cmd = [*(launch if nproc > 1 else [sys.executable]), "-m", "siglip2_min", "finetune", "--model", str(toy[0]),
               "--captions", str(toy[1]), "--out", str(out), "--steps", "3", "--batch-size", "6", "--lr", "1e-3",
               "--threads", "1"]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads((out / "finetune.json").read_text())

    one, two = run(1, tmp_path / "one"), run(2, tmp_path / "two")
    assert two["world_size"] == 2
    # float32; the ring sums the same terms in another order (~1e-7 relative). AdamW's first steps are ~lr * sign(g),
    # so a gradient within rounding of 0 may step the other way; such a parameter barely moves the loss: 1e-5.
    assert torch.allclose(torch.tensor(two["losses"]), torch.tensor(one["losses"]), rtol=1e-5, atol=0)


def test_bfloat16_autocast_keeps_float32_weights(toy):
    # What `--dtype bfloat16` does (on a GPU in practice; CPU autocast runs the same code path).
    model, processor = siglip2_min.load_model(toy[0]), load_processor(toy[0])
    ft.set_trainable(model, "all")
    losses = ft.finetune(model, processor, read_captions(toy[1]), steps=2, batch_size=4, lr=1e-2, warmup=1,
                         progress=False, autocast=torch.bfloat16)
    assert all(torch.isfinite(torch.tensor(losses)))
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert not torch.equal(model.logit_bias, siglip2_min.load_model(toy[0]).logit_bias)
