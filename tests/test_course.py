"""The course exercise's data: a new shape in data.py's styles, a replay of the old ones, held-out class folders."""

import numpy as np
import pytest

from siglip2_min import course, data
from siglip2_min.datasets import read_captions, read_class_folder


@pytest.mark.parametrize("shape", course.NEW_SHAPES)
def test_new_shape_samples_are_reproducible_and_the_splits_differ(shape):
    a, b = course.new_shape_sample(3, shape, "train", seed=0), course.new_shape_sample(3, shape, "train", seed=0)
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image)) and a.caption == b.caption
    test = course.new_shape_sample(3, shape, "test", seed=0)
    assert not (test.image.size == a.image.size and np.array_equal(np.asarray(test.image), np.asarray(a.image)))
    assert a.colour in data.COLOURS and a.size in data.SIZES
    drawn = np.asarray(a.image).reshape(-1, 3)
    assert len(np.unique(drawn, axis=0)) > 1  # something is drawn on the background


def test_written_exercise_has_replay_pairs_and_held_out_class_folders(tmp_path):
    course.write(tmp_path / "ex", "arrow", train_per_shape=10, replay=15, heldout_per_shape=3)
    pairs = read_captions(tmp_path / "ex" / "train.csv")
    assert len(pairs.images) == 25
    assert sum("arrow" in t for t in pairs.texts) == 10  # 10 of the new shape, 15 replayed
    assert {s.caption for s in data.samples(0, 15, "train")} <= set(pairs.texts)  # replay: data.py's own samples
    shapes = read_class_folder(tmp_path / "ex" / "heldout" / "shapes")
    colours = read_class_folder(tmp_path / "ex" / "heldout" / "colours")
    assert shapes.class_names == sorted(("arrow", *data.SHAPES))
    assert np.bincount(shapes.targets).tolist() == [3] * 6
    assert len(colours.paths) == 18 and set(colours.class_names) <= set(data.COLOURS)
