"""Invariants of the procedural shapes dataset (`siglip2_min/data.py`) the bundled model is trained on."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from siglip2_min import data

SAMPLES = data.samples(0, 400, "train", seed=0)


def test_captions_name_the_colour_and_the_shape():
    with_colour = 0
    for s in SAMPLES:
        words = s.caption.replace(".", "").split()
        assert s.shape in words, s.caption
        assert not set(words) & (set(data.COLOURS) - {s.colour}), f"another colour named: {s.caption}"
        with_colour += s.colour in words
        assert s.caption == s.caption.lower(), "SigLIP2 captions are lowercase (docs/tokenizer-contract.md)"
    assert with_colour > len(SAMPLES) / 2, "most captions name the colour too"
    assert {s.colour for s in SAMPLES} == set(data.COLOURS)
    assert {s.shape for s in SAMPLES} == set(data.SHAPES)
    assert {s.size for s in SAMPLES} == set(data.SIZES)


def test_several_phrasings_are_used_including_the_zero_shot_template():
    used = set()
    for s in SAMPLES:
        fields = dict(colour=s.colour, shape=s.shape, size=s.size, where=s.where, background=s.background)
        used |= {p for p in data.PHRASINGS if p.format(**fields) == s.caption}
    assert len(used) >= 8, used
    assert "this is a photo of a {colour} {shape}." in used  # the pipeline template around "a {colour} {shape}"


def test_aspect_ratios_span_1_to_3_and_3_to_1_and_no_further():
    ratios = np.array([s.image.width / s.image.height for s in SAMPLES])
    assert ratios.min() >= 1 / 3 and ratios.max() <= 3, (ratios.min(), ratios.max())
    # The range is used: NaFlex has tall and wide images to handle, not just squares.
    assert (ratios < 0.5).sum() > 20 and (ratios > 2).sum() > 20


def test_backgrounds_are_light_and_white_ones_occur():
    corners = np.array([np.asarray(s.image)[0, 0] for s in SAMPLES], dtype=float)  # [n, 3]
    assert corners.min() >= 170, "backgrounds must stay light, so black shapes are visible and hand drawings fit"
    assert (corners.min(axis=1) >= 250).sum() > 40, "plain white backgrounds must be common"


def test_sample_is_a_pure_function_of_seed_split_and_index():
    a, b = data.sample(17, "train", 0), data.sample(17, "train", 0)
    assert a.caption == b.caption and a.image.size == b.image.size
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
    # A different index, split or seed is another generator stream.
    for other in (data.sample(18, "train", 0), data.sample(17, "test", 0), data.sample(17, "train", 1)):
        assert other.image.size != a.image.size or not np.array_equal(np.asarray(other.image), np.asarray(a.image))


def test_training_blocks_of_five_differ_only_in_shape():
    for start in range(0, 100, 5):
        block = SAMPLES[start : start + 5]
        assert sorted(s.shape for s in block) == sorted(data.SHAPES)
        keys = {(s.image.size, s.colour, s.size, s.where, s.background, s.caption.replace(s.shape, "_")) for s in block}
        assert len(keys) == 1, keys
    # Held-out samples are independent draws, not blocks.
    test = data.samples(0, 100, "test", seed=0)
    assert len({s.image.size for s in test}) > 90


def test_colour_override_changes_the_colour_and_nothing_else():
    for index in range(10):
        plain = data.sample(index, "train", 0)
        for colour in ("red", "black"):
            forced = data.sample(index, "train", 0, colour=colour)
            assert forced.colour == colour
            assert (forced.shape, forced.size, forced.where, forced.background, forced.image.size) == (
                plain.shape, plain.size, plain.where, plain.background, plain.image.size)
            assert forced.caption == plain.caption.replace(plain.colour, colour)
            # The shape's pixels take a shade of the forced colour: their mean is nearest to its anchors.
            pixels = np.asarray(forced.image, dtype=float).reshape(-1, 3)
            background = np.median(pixels, axis=0)
            shape_pixels = pixels[np.abs(pixels - background).max(axis=-1) > 60]
            mean = shape_pixels.mean(axis=0)
            nearest = min(data.COLOURS, key=lambda c: min(np.abs(mean - a).sum() for a in data.COLOURS[c]))
            assert nearest == colour, (index, colour, mean)
    with pytest.raises(ValueError, match="colour must be one of"):
        data.sample(0, colour="pink")


def test_name_colour_false_leaves_the_colour_out_of_the_caption():
    for index in range(40):
        plain, quiet = data.sample(index, "train", 0), data.sample(index, "train", 0, name_colour=False)
        words = quiet.caption.replace(".", "").split()
        assert quiet.shape in words and not set(words) & set(data.COLOURS), quiet.caption
        # Same drawing (the pixel noise may differ: it is drawn after the phrasing).
        assert (quiet.colour, quiet.shape, quiet.size, quiet.where, quiet.background, quiet.image.size) == (
            plain.colour, plain.shape, plain.size, plain.where, plain.background, plain.image.size)


def test_group_colours_are_deterministic_and_only_the_first_groups_get_one():
    steps = [data.group_colours(step, 0, 4, 1) for step in range(500)]
    assert steps == [data.group_colours(step, 0, 4, 1) for step in range(500)], "must agree across ranks"
    assert all(len(g) == 4 and g[0] in data.COLOURS and g[1:] == [None] * 3 for g in steps), steps[:3]
    firsts = [g[0] for g in steps]
    assert set(firsts) == set(data.COLOURS), "every colour must get its single-colour groups"
    # Drawn afresh each step, uniformly: 500 draws of 7 colours, expected 71 each, binomial sd 7.8.
    counts = [firsts.count(c) for c in data.COLOURS]
    assert max(abs(n - 500 / 7) for n in counts) < 30, counts
    assert firsts != [data.group_colours(step, 1, 4, 1)[0] for step in range(500)], "the seed must matter"
    assert data.group_colours(3, 0, 5, 2)[2:] == [None] * 3 and None not in data.group_colours(3, 0, 5, 2)[:2]
    assert data.group_colours(3, 0, 4, 0) == [None] * 4


def test_a_single_colour_group_has_one_colour_and_keeps_its_minimal_pairs():
    colour = data.group_colours(0, 0, 4, 1)[0]
    group = data.samples(0, 30, "train", 0, colour)
    assert {s.colour for s in group} == {colour}
    for start in range(0, 30, 5):
        assert sorted(s.shape for s in group[start : start + 5]) == sorted(data.SHAPES)


def _arm_width(form, radius=50):
    image = Image.new("L", (120, 120), 0)
    data._draw(ImageDraw.Draw(image), "cross", 60, 60, radius, 0.0, 255, form)
    row = np.asarray(image)[60 - int(0.8 * radius)]  # a row through the upper arm only
    return int((row > 0).sum())


def test_cross_arm_width_and_star_notches_vary_between_drawings():
    # form 0 .. 1: arms 0.4 .. 0.8 of the radius wide (20 .. 40 pixels at radius 50), to within a pixel of rasterising.
    assert abs(_arm_width(0.0) - 20) <= 1 and abs(_arm_width(1.0) - 40) <= 1, (_arm_width(0.0), _arm_width(1.0))
    stars = [Image.new("L", (120, 120), 0) for _ in range(2)]
    for image, form in zip(stars, (0.0, 1.0)):
        data._draw(ImageDraw.Draw(image), "star", 60, 60, 50, 0.0, 255, form)
    thin, fat = ((np.asarray(im) > 0).sum() for im in stars)
    assert fat > 1.3 * thin, (thin, fat)  # notches at 0.35 vs 0.5 of the radius: the area grows by ~0.5/0.35


def test_each_sample_draws_its_own_proportions(monkeypatch):
    forms, draw = [], data._draw
    monkeypatch.setattr(data, "_draw", lambda *args: forms.append(args[-1]) or draw(*args))
    data.samples(0, 200, "train", seed=0)
    assert min(forms) >= 0 and max(forms) <= 1 and max(forms) - min(forms) > 0.9, (min(forms), max(forms))
    assert len(set(forms)) == 200


def test_held_out_split_differs_from_training_split():
    train = {np.asarray(s.image).tobytes() for s in SAMPLES}
    test = {np.asarray(s.image).tobytes() for s in data.samples(0, 400, "test", seed=0)}
    assert not train & test


def test_position_words_match_where_the_shape_is_drawn():
    checked = 0
    for s in SAMPLES:
        pixels = np.asarray(s.image, dtype=float)  # [H, W, 3]
        background = np.median(np.concatenate([pixels[0], pixels[-1]]), axis=0)  # [3]
        ys, xs = np.nonzero(np.abs(pixels - background).max(axis=-1) > 40)  # shape pixels
        x, y = xs.mean() / s.image.width, ys.mean() / s.image.height
        if min(abs(v - t) for v in (x, y) for t in (1 / 3, 2 / 3)) < 0.05:
            continue  # centroid too near a third boundary to call
        assert s.where == data._where(x, y), (s.where, x, y)
        checked += 1
    assert checked > 150


def test_every_caption_is_in_the_tokenizer_training_text():
    known = set(data.all_captions())
    assert all(s.caption in known for s in SAMPLES)


@pytest.mark.parametrize(
    "bad, error",
    [(dict(split="val"), ValueError), (dict(index=-1), ValueError), (dict(index=1.5), TypeError)],
)
def test_bad_arguments_raise_a_clear_error(bad, error):
    with pytest.raises(error, match="split|index"):
        data.sample(**{**dict(index=0, split="train", seed=0), **bad})
