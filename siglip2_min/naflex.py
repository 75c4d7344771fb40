"""NaFlex image preprocessing: resize to a patch budget, scale pixels, cut into patches, pad to the budget.

Paper: Tschannen et al., "SigLIP 2" (arXiv 2502.14786), section 2.4.2 (NaFlex: native aspect ratio, variable
sequence length). Upstream: big_vision `pp/proj/image_text/ops_naflex.py`; HF `image_processing_pil_siglip2.py`
(the parity oracle, docs/naflex.md). The FixRes family (`SiglipImageProcessor`) is the same pipeline with a
fixed S x S resize and a full grid, so both families feed the model the same patch layout.

Pipeline for one image of H x W pixels:
  1. pick the largest (Ht, Wt), both multiples of p, with (Ht/p)*(Wt/p) <= budget (HF's binary search on a scale);
  2. resize the uint8 RGB image with Pillow bilinear (antialiased when shrinking), as HF's PIL backend does;
  3. x/255, then (x - 0.5)/0.5, via a 256-entry lookup table (bit-identical to HF's float64 -> float32 arithmetic);
  4. cut into patches, row-major over the grid, pixels in (py, px, c) order inside a patch;
  5. zero-pad to the budget; mask 1 = real patch; spatial_shapes = (h, w) patches.

Letters: B images, H x W pixels, C = 3 channels, p patch size, h x w patch grid, N = budget (max_num_patches),
P = p*p*C values per patch.
"""

import math
import os
import struct
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image, ImageOps

from .checks import check_int

# Pillow's BILINEAR is a triangle filter widened by the scale when shrinking (i.e. antialiased), which is what HF's
# PIL backend and the checkpoints' `resample: 2` mean. torchvision's antialiased resize can differ by 1/255.
BILINEAR = Image.Resampling.BILINEAR

# Upper limits, checked before anything is allocated (a size from a config file or an argument must not hang or
# exhaust memory). 4096 patches is 4x the longest sequence the NaFlex checkpoints were trained with (1024) and
# attention's cost grows with its square; patch 64 is 4x the largest patch of any SigLIP checkpoint (16). Together:
# at most 4096 * 64*64*3 float32 = 192 MiB of pixel values per image.
MAX_NUM_PATCHES = 4096
MAX_PATCH_SIZE = 64

# Pillow modes of 16- and 32-bit integer and float pixels. HF's processor refuses them too: their values have no
# single mapping to 0..255 (a 16-bit scan spans 0..65535, a float image may hold 0..1 or 0..255), so guessing one
# would be silently wrong for the others (docs/errors.md).
WIDE_MODES = ("I", "F", "I;16", "I;16L", "I;16B", "I;16N")


class ImageReadError(ValueError):
    """An image file that cannot be read (missing, truncated, not an image); the message names the file."""


def target_size(height, width, patch_size=16, max_num_patches=256):
    """(Ht, Wt) in pixels: the NaFlex resize target, both multiples of `patch_size`, at most `max_num_patches` patches.

    Same float64 binary search as HF `get_image_size_for_max_num_patches` (and big_vision in float32): find the
    largest scale in [1e-6, 100] at which `ceil(side*scale/p)*p` for both sides fits the budget, to within 1e-5.
    The result is not always the exact optimum (two sides can jump within 1e-5 of each other), and upscaling stops
    at 100x; we keep HF's answer rather than a closed form so that pixels match for every input.
    """
    check_int(height, "image height")
    check_int(width, "image width")
    check_int(patch_size, "patch_size")
    check_int(max_num_patches, "max_num_patches")

    def sides(scale):
        # ceil of a positive number is >= 1, so each side is at least one patch (HF's max(p, ...) never binds).
        return max(patch_size, math.ceil(height * scale / patch_size) * patch_size), max(
            patch_size, math.ceil(width * scale / patch_size) * patch_size
        )

    eps = 1e-5
    lo, hi = eps / 10, 100.0
    while hi - lo >= eps:
        mid = (lo + hi) / 2
        th, tw = sides(mid)
        if (th // patch_size) * (tw // patch_size) <= max_num_patches:
            lo = mid
        else:
            hi = mid
    th, tw = sides(lo)
    if (th // patch_size) * (tw // patch_size) > max_num_patches:
        # The search never tests its lower end 1e-6; HF silently returns too many patches here.
        raise ValueError(
            f"a {height}x{width} image needs {th // patch_size}x{tw // patch_size} patches of {patch_size} px even at "
            f"the smallest scale (1e-6), more than max_num_patches={max_num_patches}: crop or downscale it first"
        )
    return th, tw


def pixel_lut(rescale_factor=1 / 255, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), do_rescale=True, do_normalize=True):
    """[C, 256] float32 table: uint8 value -> model input, per channel.

    HF computes `float32(float64(x) * rescale_factor)` then `(x - float32(mean)) / float32(std)` in float32; the
    table repeats exactly that arithmetic for each of the 256 values, so a lookup gives bit-identical pixels.
    """
    mean = np.broadcast_to(np.asarray(mean, dtype=np.float32), (3,))  # [C]
    std = np.broadcast_to(np.asarray(std, dtype=np.float32), (3,))  # [C]
    x = np.arange(256, dtype=np.float64)  # [256]
    x = (x * rescale_factor if do_rescale else x).astype(np.float32)  # [256]
    if do_normalize:
        return ((x[None, :] - mean[:, None]) / std[:, None]).astype(np.float32)  # [C, 256]
    return np.repeat(x[None, :], 3, axis=0)  # [C, 256]


def patchify(image, patch_size):
    """[H, W, C] -> [h*w, p*p*C]: patches row-major over the grid, pixels in (py, px, c) order inside a patch.

    H and W must be multiples of p. This is the order HF's NaFlex Linear patch embedding expects, and the order in
    which a Conv2d(k=p, stride=p) weight [D, C, p, p] permuted to [D, p, p, C] reads its input.
    """
    H, W, C = image.shape
    h, w = H // patch_size, W // patch_size
    x = image.reshape(h, patch_size, w, patch_size, C)  # [H, W, C] -> [h, p, w, p, C]
    x = x.transpose(0, 2, 1, 3, 4)  # -> [h, w, p, p, C]
    return x.reshape(h * w, patch_size * patch_size * C)  # -> [h*w, P]


def unpatchify(patches, grid, patch_size, channels=3):
    """[>= h*w, p*p*C] -> [h*p, w*p, C]: the inverse of `patchify` (padding rows after h*w are ignored)."""
    h, w = (int(v) for v in grid)
    x = np.asarray(patches)[: h * w].reshape(h, w, patch_size, patch_size, channels)  # -> [h, w, p, p, C]
    x = x.transpose(0, 2, 1, 3, 4)  # -> [h, p, w, p, C]
    return x.reshape(h * patch_size, w * patch_size, channels)  # -> [H, W, C]


def to_rgb(image, index=0):
    """A Pillow RGB image from a Pillow image of any 8-bit mode, a uint8 [H, W] / [H, W, 1|3|4] array, or a file path.

    Transparency is composited onto white, as HF's `convert_to_rgb` does (`do_convert_rgb=True`); plain
    `convert("RGB")` would keep whatever colour the transparent pixels happen to store. A file is turned upright
    by its EXIF orientation, as HF's `load_image` does; an image or array given directly is used as it is, as HF's
    image processor does. 16-bit and float modes are refused (`WIDE_MODES`).
    """
    where = f"images[{index}]"
    if isinstance(image, (str, os.PathLike)):
        where = f"{where} ({os.fspath(image)})"
        image = _open(image)
    elif getattr(image, "filename", ""):
        where = f"{where} ({image.filename})"  # a lazily opened file: name it in any error below
    if isinstance(image, np.ndarray):
        image = _array_to_pil(image, where)
    if not isinstance(image, Image.Image):
        raise TypeError(
            f"{where} is a {type(image).__module__}.{type(image).__name__}; expected a PIL.Image.Image, "
            "a uint8 numpy array [H, W, 3] or a file path"
        )
    if image.width < 1 or image.height < 1:
        raise ValueError(f"{where} has zero size ({image.width}x{image.height} pixels)")
    if image.mode in WIDE_MODES:
        raise ValueError(
            f"{where} has Pillow mode {image.mode!r} (16-bit or float pixels), which has no single mapping to 0..255 "
            "(HF's processor refuses it too). Convert it to 8 bits for your data's range, e.g. 16-bit 0..65535: "
            "`Image.fromarray((np.asarray(im) >> 8).astype(np.uint8))`; float 0..1: "
            "`Image.fromarray((np.asarray(im) * 255).round().clip(0, 255).astype(np.uint8))`"
        )
    try:
        image.load()  # a lazily opened, truncated file fails here, with its name
        if image.mode == "RGB":
            return image
        if "A" in image.getbands() or "a" in image.getbands() or "transparency" in image.info:
            rgba = image.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return Image.alpha_composite(white, rgba).convert("RGB")
        return image.convert("RGB")
    except (ValueError, OSError) as err:
        raise ValueError(f"{where}: cannot convert a Pillow image of mode {image.mode!r} to RGB ({err})") from err


def _open(path):
    """Decode an image file, upright by its EXIF orientation; any failure is an ImageReadError naming the file."""
    try:
        image = Image.open(path)
        image.load()
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such file") from None
    except Image.DecompressionBombError as err:
        # Pillow's guard against decompression bombs stays on; say how to lift it for a trusted file.
        raise ImageReadError(
            f"{path}: {err} If you trust this file, raise the limit before loading it: "
            "`PIL.Image.MAX_IMAGE_PIXELS = n` accepts images up to 2*n pixels, `= None` turns the check off"
        ) from None
    except (OSError, SyntaxError, EOFError, ValueError, struct.error) as err:  # truncated, corrupt, not an image
        raise ImageReadError(f"{path}: not a readable image ({type(err).__name__}: {err})") from None
    try:
        return ImageOps.exif_transpose(image)  # as HF's load_image: a photo taken sideways is read upright
    except (OSError, SyntaxError, ValueError, struct.error) as err:  # a corrupt EXIF block
        raise ImageReadError(f"{path}: unreadable EXIF orientation ({type(err).__name__}: {err})") from None


def _array_to_pil(array, where):
    if array.dtype != np.uint8:
        raise TypeError(
            f"{where} is a numpy array of dtype {array.dtype}; expected uint8 pixels in 0..255 "
            "(for floats in [0, 1]: `(x * 255).round().astype(np.uint8)`)"
        )
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]  # [H, W, 1] -> [H, W]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[-1] in (3, 4))):
        raise ValueError(
            f"{where} is a numpy array of shape {array.shape}; expected [H, W], [H, W, 1], [H, W, 3] or [H, W, 4] "
            "(channels last)"
        )
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"{where} has zero size (array of shape {array.shape})")
    return Image.fromarray(np.ascontiguousarray(array))  # uint8 [H, W] -> L, [H, W, 3] -> RGB, [H, W, 4] -> RGBA


def check_limits(patch_size, max_num_patches):
    """TypeError/ValueError unless 1 <= patch_size <= MAX_PATCH_SIZE and 1 <= max_num_patches <= MAX_NUM_PATCHES."""
    check_int(patch_size, "patch_size")
    check_int(max_num_patches, "max_num_patches")
    if patch_size > MAX_PATCH_SIZE:
        raise ValueError(f"patch_size {patch_size} is above the limit of {MAX_PATCH_SIZE} (4x the largest SigLIP "
                         "patch, 16): each patch is patch_size**2 * 3 values")
    if max_num_patches > MAX_NUM_PATCHES:
        raise ValueError(f"max_num_patches {max_num_patches} is above the limit of {MAX_NUM_PATCHES} (4x the "
                         "longest sequence SigLIP2 was trained with, 1024; attention's cost grows with its square)")


def _fill(out_row, rgb, size, patch_size, lut, resample):
    """Resize one RGB image to `size` (Ht, Wt), scale through `lut`, patchify into `out_row` [N, P]; returns h*w."""
    th, tw = size
    resized = rgb.resize((tw, th), resample) if rgb.size != (tw, th) else rgb
    pixels = np.asarray(resized)  # [Ht, Wt, C] uint8: the one Pillow -> numpy copy, at the small size
    pixels = pixels[: th - th % patch_size, : tw - tw % patch_size]  # FixRes S % p: drop what the conv never sees
    if (lut == lut[0]).all():
        values = np.take(lut[0], pixels)  # [Ht, Wt, C] float32; one table for every channel: a single gather
    else:
        values = lut[np.arange(3), pixels]  # [Ht, Wt, C] float32; per-channel tables
    patches = patchify(values, patch_size)  # [h*w, P]
    out_row[: len(patches)] = patches
    return len(patches)


def preprocess(
    images, patch_size=16, max_num_patches=256, lut=None, fixed_size=None, resample=BILINEAR, num_threads=1
):
    """Images -> (pixel_values [B, N, P] float32, pixel_attention_mask [B, N] int32, spatial_shapes [B, 2] int64).

    `images`: one image or a list (Pillow images of any mode, uint8 arrays, file paths). NaFlex by default; with
    `fixed_size` (S, S) (FixRes), every image is resized to S x S and cut into a full (S//p) x (S//p) grid, dropping
    the last S % p pixel rows and columns as the checkpoints' stride-p convolution does (So400m/14 at 384: 27x27).
    `lut` is a `pixel_lut()` table; `resample` a Pillow filter (the checkpoints' configs say 2, bilinear).
    Images are processed in `num_threads` threads: Pillow releases the GIL while resizing.
    """
    if isinstance(images, (list, tuple)):
        if len(images) == 0:
            raise ValueError("images is an empty list")
        images = list(images)
    else:
        images = [images]
    if fixed_size is not None:
        height, width = (check_int(side, "image size") for side in fixed_size)
        check_int(patch_size, "patch_size")
        if min(height, width) < patch_size:
            raise ValueError(f"image size {height}x{width} is smaller than patch_size {patch_size}")
        max_num_patches = (height // patch_size) * (width // patch_size)
    check_limits(patch_size, max_num_patches)  # before any image is decoded or any array allocated
    lut = pixel_lut() if lut is None else lut
    rgbs = [to_rgb(image, i) for i, image in enumerate(images)]  # validates every input before any work
    if fixed_size is not None:
        sizes = [(height, width)] * len(rgbs)
        grids = [(height // patch_size, width // patch_size)] * len(rgbs)
    else:
        sizes = [target_size(im.height, im.width, patch_size, max_num_patches) for im in rgbs]
        grids = [(th // patch_size, tw // patch_size) for th, tw in sizes]

    B, N, P = len(rgbs), max_num_patches, patch_size * patch_size * 3
    pixel_values = np.zeros((B, N, P), dtype=np.float32)  # [B, N, P]; pad rows stay exactly 0
    mask = np.zeros((B, N), dtype=np.int32)  # [B, N]
    spatial_shapes = np.array(grids, dtype=np.int64).reshape(B, 2)  # [B, 2] (h, w)

    def work(i):
        n = _fill(pixel_values[i], rgbs[i], sizes[i], patch_size, lut, resample)
        mask[i, :n] = 1

    if num_threads > 1 and B > 1:
        with ThreadPoolExecutor(max_workers=min(num_threads, B)) as pool:
            list(pool.map(work, range(B)))  # list() re-raises the first worker error
    else:
        for i in range(B):
            work(i)
    return pixel_values, mask, spatial_shapes
