"""Checks for exercise 1, the NaFlex target size: run `pytest docs/exercises/checks/test_ex1_target_size.py`."""

import math
import random

import pytest
from _exercise import implementation


target_size = implementation("ex1_target_size", "target_size")


def _grid_at(scale, height, width, p):
    """The patch grid at a given scale, straight from the rule."""
    return max(1, math.ceil(height * scale / p)), max(1, math.ceil(width * scale / p))


@pytest.mark.parametrize(
    "height, width, budget, expected",
    [
        # HF `get_image_size_for_max_num_patches` (float64) and big_vision `ops_naflex` (float32) both give these
        (2853, 1000, 1024, (848, 304)),
        (224, 1024, 256, (112, 512)),
        (2200, 1700, 256, (288, 224)),
        # the images of HF's SigLIP2 integration test at 256 patches: grids (16, 16) and (7, 32)
        (224, 224, 256, (256, 256)),
        (1024, 1024, 256, (256, 256)),
    ],
)
def test_known_sizes(height, width, budget, expected):
    got = target_size(height, width, 16, budget)
    assert tuple(got) == expected, f"{height}x{width} with {budget} patches: got {got}, expected {expected}"


def _random_cases(n=60, seed=0):
    rng = random.Random(seed)
    for _ in range(n):
        p = rng.choice([14, 16, 32])
        yield rng.randint(1, 4000), rng.randint(1, 4000), p, rng.choice([1, 16, 64, 196, 256, 576, 1024])


@pytest.mark.parametrize("height, width, p, budget", list(_random_cases()))
def test_is_a_patch_multiple_that_fits_and_is_maximal(height, width, p, budget):
    th, tw = target_size(height, width, p, budget)
    assert isinstance(th, int) and isinstance(tw, int), f"return ints, got {type(th)}, {type(tw)}"
    assert th > 0 and tw > 0 and th % p == 0 and tw % p == 0, f"({th}, {tw}) are not positive multiples of {p}"
    h, w = th // p, tw // p
    assert h * w <= budget, f"grid {h}x{w} = {h * w} patches exceeds the budget {budget}"
    # Maximal: ceil(side * s / p) stays at h (w) up to s = h*p/height (w*p/width); just past the first of those
    # the grid grows. The bisection stops within 1e-5 of the best scale, so 2e-5 past it the grid must not fit.
    grow = min(h * p / height, w * p / width) + 2e-5
    if grow < 100:
        gh, gw = _grid_at(grow, height, width, p)
        assert gh * gw > budget, (
            f"{height}x{width}, p={p}, budget {budget}: got grid {h}x{w}, but the larger grid {gh}x{gw} also fits"
        )


def test_extreme_shapes_and_the_smallest_budget():
    # a 1-pixel image is scaled up by at most 100x: 100 px -> ceil(100 / 16) = 7 patches a side
    assert tuple(target_size(1, 1, 16, 256)) == (112, 112)
    # a budget of one patch: the smallest grid, 1 x 1, whatever the image
    assert tuple(target_size(1, 4000, 16, 1)) == (16, 16)
    # a 1 x 4000 line keeps one patch row and gets all 256 patches along its width
    assert tuple(target_size(1, 4000, 16, 256)) == (16, 4096)
    # a small image is scaled up until the budget is full
    assert tuple(target_size(10, 10, 16, 256)) == (256, 256)
