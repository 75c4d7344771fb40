"""NaFlex preprocessing: patch-count invariants (hypothesis), bad input, and exact parity with HF's PIL processor."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from siglip2_min import naflex

transformers = pytest.importorskip("transformers")
from transformers.models.siglip2.image_processing_pil_siglip2 import (  # noqa: E402
    Siglip2ImageProcessorPil,
    get_image_size_for_max_num_patches as hf_target_size,
)

# Sides up to 100k pixels: far past any photo, and the search's smallest scale (1e-6) still fits every budget there.
sides = st.integers(1, 100_000)
patch_sizes = st.integers(1, 64)
budgets = st.integers(1, 4096)
FAST = settings(max_examples=300, deadline=None)
SLOW = settings(max_examples=25, deadline=None)  # these build and resize real images


def n_patches(size, p):
    return (size[0] // p) * (size[1] // p)


# --- target size -------------------------------------------------------------------------------------------------
@FAST
@given(sides, sides, patch_sizes, budgets)
def test_patch_count_never_exceeds_budget(height, width, p, budget):
    assert n_patches(naflex.target_size(height, width, p, budget), p) <= budget


@FAST
@given(sides, sides, patch_sizes, budgets)
def test_each_side_is_a_whole_number_of_patches_and_at_least_one(height, width, p, budget):
    th, tw = naflex.target_size(height, width, p, budget)
    assert th % p == 0 and tw % p == 0
    assert th >= p and tw >= p


@FAST
@given(sides, sides, patch_sizes, budgets)
def test_target_size_equals_hf_search(height, width, p, budget):
    assert naflex.target_size(height, width, p, budget) == hf_target_size(height, width, p, budget)


def test_target_size_equals_hf_search_on_20000_seeded_cases():
    rng = np.random.default_rng(0)
    for height, width, p, budget in zip(
        rng.integers(1, 6000, 20000), rng.integers(1, 6000, 20000), rng.integers(1, 33, 20000), rng.integers(1, 2049, 20000)
    ):
        args = int(height), int(width), int(p), int(budget)
        assert naflex.target_size(*args) == hf_target_size(*args), args


@FAST
@given(sides, sides, patch_sizes, budgets, st.integers(1, 2000))
def test_more_budget_never_gives_fewer_patches(height, width, p, budget, extra):
    small = naflex.target_size(height, width, p, budget)
    large = naflex.target_size(height, width, p, budget + extra)
    assert n_patches(large, p) >= n_patches(small, p)


@FAST
@given(sides, sides, patch_sizes, budgets)
def test_aspect_distortion_is_within_one_patch_per_side(height, width, p, budget):
    # Both sides come from one scale s with side*s <= target < side*s + p, so such an s must exist:
    # the intervals ((target - p)/side, target/side] of the two sides overlap.
    th, tw = naflex.target_size(height, width, p, budget)
    low = max((th - p) / height, (tw - p) / width)
    high = min(th / height, tw / width)
    assert low < high, (th / height, tw / width)


def test_target_size_golden_table():
    # docs/naflex.md: HF (float64) and big_vision (float32) give these for the published patch size 16.
    assert naflex.target_size(2853, 1000, 16, 1024) == (848, 304)
    assert naflex.target_size(224, 1024, 16, 256) == (112, 512)
    assert naflex.target_size(2200, 1700, 16, 256) == (288, 224)
    # HF's own golden images (docs/parity.md): 224x224 and 1024x1024 -> 16x16 patches, 224x1024 -> 7x32.
    assert naflex.target_size(224, 224, 16, 256) == naflex.target_size(1024, 1024, 16, 256) == (256, 256)
    assert naflex.target_size(224, 1024, 16, 256) == (7 * 16, 32 * 16)


# --- patches, mask, spatial shapes -------------------------------------------------------------------------------
image_shapes = st.tuples(st.integers(1, 120), st.integers(1, 120))


def random_image(shape, seed):
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


@SLOW
@given(st.lists(image_shapes, min_size=1, max_size=4), st.integers(1, 16), st.integers(1, 80))
def test_mask_sum_equals_h_times_w_equals_product_of_spatial_shapes(shapes, p, budget):
    images = [random_image(s, i) for i, s in enumerate(shapes)]
    pixel_values, mask, spatial_shapes = naflex.preprocess(images, p, budget)
    assert pixel_values.shape == (len(images), budget, p * p * 3)
    for i, (height, width) in enumerate(shapes):
        th, tw = naflex.target_size(height, width, p, budget)
        assert tuple(spatial_shapes[i]) == (th // p, tw // p)
        assert mask[i].sum() == (th // p) * (tw // p) == spatial_shapes[i].prod()
        assert mask[i, : mask[i].sum()].all()  # real patches first, then padding


@SLOW
@given(st.lists(image_shapes, min_size=1, max_size=4), st.integers(1, 16), st.integers(1, 80))
def test_padded_rows_are_zero(shapes, p, budget):
    pixel_values, mask, _ = naflex.preprocess([random_image(s, i) for i, s in enumerate(shapes)], p, budget)
    assert (pixel_values[mask == 0] == 0).all()


@FAST
@given(st.integers(1, 12), st.integers(1, 12), st.integers(1, 8), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_unpatchify_inverts_patchify(h, w, p, channels, seed):
    image = np.random.default_rng(seed).integers(0, 256, (h * p, w * p, channels), dtype=np.uint8)
    patches = naflex.patchify(image, p)
    assert patches.shape == (h * w, p * p * channels)
    assert np.array_equal(naflex.unpatchify(patches, (h, w), p, channels), image)


def test_patchify_order_is_row_major_grid_then_py_px_c():
    # Value = its own (y, x, c) coordinates, so every position in the output says where it came from.
    p, h, w = 2, 2, 3
    y, x, c = np.meshgrid(np.arange(h * p), np.arange(w * p), np.arange(3), indexing="ij")
    patches = naflex.patchify(y * 100 + x * 10 + c, p)  # [h*w, p*p*3]
    k = 1 * w + 2  # patch (row 1, col 2)
    expected = [(1 * p + py) * 100 + (2 * p + px) * 10 + ch for py in range(p) for px in range(p) for ch in range(3)]
    assert patches[k].tolist() == expected


@SLOW
@given(st.lists(image_shapes, min_size=2, max_size=5), st.randoms(use_true_random=False))
def test_permuting_a_batch_permutes_the_outputs(shapes, rnd):
    images = [random_image(s, i) for i, s in enumerate(shapes)]
    order = list(range(len(images)))
    rnd.shuffle(order)
    base = naflex.preprocess(images, 4, 24)
    permuted = naflex.preprocess([images[i] for i in order], 4, 24)
    for a, b in zip(base, permuted):
        assert np.array_equal(a[order], b)


def test_threads_give_the_same_bytes_as_one_thread():
    images = [random_image((37 + 11 * i, 90 - 7 * i), i) for i in range(6)]
    one = naflex.preprocess(images, 8, 40, num_threads=1)
    two = naflex.preprocess(images, 8, 40, num_threads=2)
    for a, b in zip(one, two):
        assert np.array_equal(a, b)


# --- exact parity with HF's PIL backend ----------------------------------------------------------------------------
def assert_matches_hf(images, p, budget, lut=None, **hf_kwargs):
    hf = Siglip2ImageProcessorPil(patch_size=p, max_num_patches=budget, **hf_kwargs)(images, return_tensors="pt")
    pixel_values, mask, spatial_shapes = (torch.from_numpy(a) for a in naflex.preprocess(images, p, budget, lut=lut))
    # Integer outputs exactly; pixels to 1e-6 (the bound): the lookup table repeats HF's float64 -> float32
    # arithmetic and both resize with the same Pillow call, so the difference is 0 in practice.
    assert torch.equal(spatial_shapes, hf["spatial_shapes"]), (spatial_shapes, hf["spatial_shapes"])
    assert torch.equal(mask, hf["pixel_attention_mask"])
    err = (pixel_values - hf["pixel_values"]).abs()
    where = np.unravel_index(int(err.argmax()), err.shape)
    assert err.max() <= 1e-6, f"max abs error {err.max():.3g} at (image, patch, value) {where}"


# Extreme aspect ratios, 1-pixel images, one patch wide, bigger than the budget, smaller than one patch.
PARITY_SHAPES = [(1, 1), (1, 3000), (3000, 1), (2, 999), (7, 5), (16, 16), (224, 1024), (481, 640), (1000, 37)]


@pytest.mark.parametrize("p, budget", [(16, 256), (16, 1024), (14, 64), (4, 16), (8, 7), (1, 30), (32, 1)])
def test_pixels_mask_and_shapes_equal_hf_pil_processor(p, budget):
    images = [Image.fromarray(random_image(s, i)) for i, s in enumerate(PARITY_SHAPES)]
    assert_matches_hf(images, p, budget)


@SLOW
@given(st.lists(image_shapes, min_size=1, max_size=3), st.integers(1, 20), st.integers(1, 100))
def test_random_images_equal_hf_pil_processor(shapes, p, budget):
    assert_matches_hf([Image.fromarray(random_image(s, i)) for i, s in enumerate(shapes)], p, budget)


def test_per_channel_mean_and_std_equal_hf():
    # Not the SigLIP2 values (0.5 everywhere), but HF configs may carry any: the per-channel table path.
    mean, std = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
    images = [Image.fromarray(random_image(s, i)) for i, s in enumerate(PARITY_SHAPES[:5])]
    lut = naflex.pixel_lut(mean=mean, std=std)
    assert_matches_hf(images, 8, 30, lut=lut, image_mean=mean, image_std=std)


def mode_images():
    rgba = random_image((33, 47), 7)
    rgba = np.concatenate([rgba, np.random.default_rng(8).integers(0, 256, (33, 47, 1), dtype=np.uint8)], -1)
    base = Image.fromarray(rgba, "RGBA")
    palette_with_transparency = base.convert("RGB").convert("P")
    palette_with_transparency.info["transparency"] = 3
    return {
        "RGBA": base,
        "LA": base.convert("LA"),
        "L": base.convert("L"),
        "1": base.convert("1"),
        "P": base.convert("RGB").convert("P"),
        "P+transparency": palette_with_transparency,
        "CMYK": base.convert("CMYK"),
        "YCbCr": base.convert("RGB").convert("YCbCr"),
    }


@pytest.mark.parametrize("mode", list(mode_images()))
def test_any_pillow_mode_equals_hf_convert_to_rgb(mode):
    # HF composites transparency onto white when asked to convert (`do_convert_rgb=True`, the FixRes default).
    assert_matches_hf([mode_images()[mode]], 4, 20, do_convert_rgb=True)


def test_numpy_arrays_equal_pillow_images():
    array = random_image((50, 70), 3)
    from_pil = naflex.preprocess([Image.fromarray(array)], 8, 30)
    for a, b in zip(from_pil, naflex.preprocess([array], 8, 30)):
        assert np.array_equal(a, b)
    gray = array[..., 0]
    for a, b in zip(naflex.preprocess(gray, 8, 30), naflex.preprocess(gray[..., None], 8, 30)):
        assert np.array_equal(a, b)
    for a, b in zip(naflex.preprocess(gray, 8, 30), naflex.preprocess(Image.fromarray(gray, "L"), 8, 30)):
        assert np.array_equal(a, b)


# --- bad input ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(max_num_patches=0), ValueError, "max_num_patches must be >= 1"),
        (dict(max_num_patches=-3), ValueError, "max_num_patches must be >= 1"),
        (dict(patch_size=0), ValueError, "patch_size must be >= 1"),
        (dict(patch_size=2.5), TypeError, "patch_size must be an int"),
        (dict(max_num_patches=None), TypeError, "max_num_patches must be an int"),
    ],
)
def test_bad_budget_or_patch_size_is_named(kwargs, error, message):
    with pytest.raises(error, match=message):
        naflex.preprocess([random_image((8, 8), 0)], **kwargs)


@pytest.mark.parametrize(
    "images, error, message",
    [
        ([], ValueError, "empty list"),
        ([np.zeros((0, 5, 3), np.uint8)], ValueError, r"images\[0\] has zero size"),
        ([np.zeros((5, 5, 3), np.uint8), Image.new("RGB", (0, 4))], ValueError, r"images\[1\] has zero size"),
        ([np.zeros((5, 5, 3), np.float32)], TypeError, "dtype float32; expected uint8"),
        ([np.zeros((3, 5, 5), np.uint8)], ValueError, r"shape \(3, 5, 5\).*channels last"),
        ([np.zeros((2, 2, 2, 3), np.uint8)], ValueError, "shape"),
        ([torch.zeros(3, 8, 8)], TypeError, r"images\[0\] is a torch.Tensor"),
        (["not an image", 3], TypeError, r"images\[1\] is a builtins.int"),
    ],
)
def test_bad_images_are_named(images, error, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Image.new("RGB", (4, 4)).save("not an image", format="PNG")  # a file path is a valid input; the int next to it is not
    with pytest.raises(error, match=message):
        naflex.preprocess(images, 4, 8)


def test_side_too_long_for_the_search_is_an_error_not_a_silent_overflow():
    # At scale 1e-6 a 20M-pixel side is still 20 patches of 1 px; HF would return 400 patches for a budget of 1.
    with pytest.raises(ValueError, match="smallest scale"):
        naflex.target_size(20_000_000, 20_000_000, 1, 1)


def test_decompression_bomb_guard_stays_on_and_says_how_to_lift_it(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("RGB", (64, 64)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 64*64 = 4096 > 2 * 1000: Pillow refuses to decode
    with pytest.raises(ValueError, match=r"exceeds limit.*MAX_IMAGE_PIXELS = n"):
        naflex.preprocess([path], 4, 8)
