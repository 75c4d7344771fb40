"""Checks for exercise 10, fine-tuning the tiny model: run `pytest docs/exercises/checks/test_ex10_finetune.py`."""

import copy

import pytest
import torch
from _exercise import implementation

import siglip2_min
from siglip2_min.demo import draw

finetune = implementation("ex10_finetune", "finetune")
top1 = implementation("ex10_finetune", "top1")

COLOURS = ("red", "blue", "green", "black")
SHAPES = ("circle", "square")
SWAP = {"circle": "square", "square": "circle"}
IMAGES = [draw(colour, shape, (96, 96)) for colour in COLOURS for shape in SHAPES]
TRUE = [f"a {colour} {shape}" for colour in COLOURS for shape in SHAPES]
SWAPPED = [f"a {colour} {SWAP[shape]}" for colour in COLOURS for shape in SHAPES]


@pytest.fixture(scope="module")
def bundled():
    torch.manual_seed(0)
    return siglip2_min.load_model(), siglip2_min.load_processor()


def _fresh(bundled):
    model, processor = bundled
    return copy.deepcopy(model), processor


def _loss(model, processor, captions):
    with torch.no_grad():
        return float(model(**processor(images=IMAGES, text=captions), return_loss=True).loss)


def test_top1_reads_the_bundled_model(bundled):
    model, processor = _fresh(bundled)
    assert top1(model, processor, IMAGES, TRUE) == TRUE  # the bundled model knows its colours and shapes
    assert top1(model, processor, IMAGES[:1], ["a red square", "a red circle"]) == ["a red circle"]


def test_lr_zero_changes_no_weight_and_reports_the_untouched_loss(bundled):
    model, processor = _fresh(bundled)
    before = _loss(model, processor, SWAPPED)
    weights = copy.deepcopy(model.state_dict())
    losses = finetune(model, processor, IMAGES, SWAPPED, steps=2, lr=0.0)
    assert len(losses) == 2 and all(isinstance(x, float) for x in losses), "one float per step"
    # same model, same inputs, float32: only summation order may differ
    assert losses == pytest.approx([before, before], rel=1e-4), "at lr=0 every loss is the untouched model's"
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items()), "lr=0 moved a weight"
    assert not model.training, "leave the model in eval mode"


def test_fine_tuning_teaches_swapped_names(bundled):
    """15 steps on circles captioned as squares and squares as circles: the model now reads them swapped."""
    model, processor = _fresh(bundled)
    before = _loss(model, processor, SWAPPED)
    losses = finetune(model, processor, IMAGES, SWAPPED, steps=15)
    assert len(losses) == 15
    assert losses[0] == pytest.approx(before, rel=1e-4), "the first loss is the batch's loss before any step"
    assert losses[-1] < 0.5 * losses[0], f"the loss did not fall: {losses[0]:.3f} -> {losses[-1]:.3f}"
    assert any(p.ne(q).any() for p, q in zip(model.parameters(), bundled[0].parameters())), "no weight changed"
    assert top1(model, processor, IMAGES, TRUE) == SWAPPED, "after fine-tuning each shape should take the other name"
