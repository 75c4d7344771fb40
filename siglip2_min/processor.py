"""The SigLIP2 processor: images and text -> the tensors `model(**inputs)` takes, read from a checkpoint folder.

Upstream: HF `processing_siglip2.py` / `processing_siglip.py`, which pair an image processor with a tokenizer and
read `preprocessor_config.json` (docs/tokenizer-contract.md and docs/naflex.md). One processor serves both checkpoint families:

  - NaFlex (`config.json` model_type "siglip2", `Siglip2ImageProcessor`): resize to a patch budget, pad to it;
  - FixRes (model_type "siglip", `SiglipImageProcessor` with `size: {height, width}`): resize to S x S, full grid.

Both give patches [B, N, p*p*3] with a mask and spatial shapes, so the model has a single input layout. Text is
lowercased for both families (HF forgets to for FixRes checkpoints) and padded to 64 tokens.

Letters: B images, N patches per image (budget), P = p*p*3, T texts, L = 64.
"""

import json
import math
from pathlib import Path

import torch
from PIL import Image

from .naflex import BILINEAR, check_limits, pixel_lut, preprocess
from .hf_config import TOWER_TYPES
from .tokenizer import MAX_TEXT_LENGTH, TEXT_LENGTH, Tokenizer
from .hub import resolve_model
from .weights import CheckpointError

# Where `load_processor()` looks when no folder is given: the small checkpoint bundled with the package.

_NAFLEX_PROCESSORS = ("Siglip2ImageProcessor", "Siglip2ImageProcessorFast", "Siglip2ImageProcessorPil")
_FIXRES_PROCESSORS = ("SiglipImageProcessor", "SiglipImageProcessorFast", "SiglipImageProcessorPil")


class Processor:
    """Callable: `processor(images=None, text=None, max_num_patches=None, patch_size=None)` -> dict of tensors.

    Keys: `pixel_values` [B, N, P] float32, `pixel_attention_mask` [B, N] int32, `spatial_shapes` [B, 2] int64
    (only when images are given), `input_ids` [T, 64] int64 (only when text is given).

    HF's keywords are accepted where they ask for what this processor does anyway (`check_hf_options`):
    `return_tensors="pt"`, `padding="max_length"`, `max_length=64`, `truncation=True`.
    """

    def __init__(
        self,
        tokenizer_path,
        naflex=True,
        patch_size=16,
        max_num_patches=256,
        image_size=None,
        lut=None,
        resample=BILINEAR,
        text_length=TEXT_LENGTH,
        num_threads=None,
    ):
        self.tokenizer_path = Path(tokenizer_path)
        self.naflex = naflex
        self.patch_size = patch_size
        self.max_num_patches = max_num_patches if naflex else None
        self.image_size = None if naflex else tuple(image_size)  # FixRes (height, width) in pixels
        self.lut = pixel_lut() if lut is None else lut  # [C, 256] uint8 -> model input
        self.resample = resample
        self.text_length = text_length
        self.num_threads = num_threads  # None: torch.get_num_threads() at call time
        self._tokenizer = None

    @property
    def tokenizer(self):
        # Loaded on first use, so an image-only folder (e.g. a classifier) needs no tokenizer.model.
        if self._tokenizer is None:
            self._tokenizer = Tokenizer(self.tokenizer_path, length=self.text_length)
        return self._tokenizer

    def __call__(self, images=None, text=None, max_num_patches=None, patch_size=None, *, return_tensors=None,
                 padding="max_length", max_length=None, truncation=True):
        check_hf_options(return_tensors, padding, max_length, truncation, self.text_length)
        if images is None and text is None:
            raise ValueError("nothing to process: pass images=..., text=... or both")
        out = {}
        if images is not None:
            if not self.naflex and max_num_patches is not None:
                raise ValueError(
                    "max_num_patches applies to NaFlex checkpoints; this FixRes checkpoint always resizes to "
                    f"{self.image_size[0]}x{self.image_size[1]}"
                )
            threads = torch.get_num_threads() if self.num_threads is None else self.num_threads
            arrays = preprocess(
                images,
                patch_size=self.patch_size if patch_size is None else patch_size,
                max_num_patches=self.max_num_patches if max_num_patches is None else max_num_patches,
                lut=self.lut,
                fixed_size=self.image_size,  # None for NaFlex
                resample=self.resample,
                num_threads=threads,
            )
            names = ("pixel_values", "pixel_attention_mask", "spatial_shapes")
            out.update({k: torch.from_numpy(v) for k, v in zip(names, arrays)})
        if text is not None:
            out["input_ids"] = self.tokenizer(text)  # [T, L]
        return out

    def __repr__(self):
        if self.naflex:
            images = f"NaFlex, patch {self.patch_size}, max_num_patches {self.max_num_patches}"
        else:
            images = f"FixRes {self.image_size[0]}x{self.image_size[1]}, patch {self.patch_size}"
        return f"Processor({images}; text {self.text_length} tokens from {self.tokenizer_path})"


def load_processor(path=None, num_threads=None):
    """A `Processor` from an HF-layout checkpoint folder (`tokenizer.model`, `config.json`, `preprocessor_config.json`).

    With `path=None`, the tiny model bundled in `siglip2_min/assets/tiny/`. Without `preprocessor_config.json`
    the published checkpoints' settings are assumed (bilinear, x/255, mean = std = 0.5) with the patch size, budget
    or image size from `config.json`. Every value read is checked here (type, range, the limits of
    `naflex.check_limits`), so a bad file is a CheckpointError naming the file and key, not NaN scores later.
    """
    folder = resolve_model(path, files=())  # None: the bundled model; the files are checked below
    config_file, pre_file = folder / "config.json", folder / "preprocessor_config.json"
    if not config_file.is_file() and not pre_file.is_file():
        raise FileNotFoundError(f"{folder} has neither config.json nor preprocessor_config.json")
    config, pre = _read_json(config_file), _read_json(pre_file)
    model_type = _get(config, "model_type", "siglip2", str, config_file)
    model_type, tower = TOWER_TYPES.get(model_type, (model_type, None))  # a one-tower config is that tower's, flat
    vision = config if tower == "vision" else {} if tower else _get(config, "vision_config", {}, dict, config_file)
    text = config if tower == "text" else {} if tower else _get(config, "text_config", {}, dict, config_file)
    text_length = _get(text, "max_position_embeddings", TEXT_LENGTH, lambda v: _is(v, int) and v <= MAX_TEXT_LENGTH,
                       config_file)

    kind = _get(pre, "image_processor_type", None, str, pre_file)
    if kind is None:
        naflex = model_type != "siglip"
    elif kind in _NAFLEX_PROCESSORS + _FIXRES_PROCESSORS:
        naflex = kind in _NAFLEX_PROCESSORS
    else:
        raise CheckpointError(
            f"{pre_file}: image_processor_type {kind!r} is not a SigLIP processor "
            f"(expected one of {_NAFLEX_PROCESSORS + _FIXRES_PROCESSORS})"
        )
    if model_type in ("siglip", "siglip2") and naflex != (model_type == "siglip2"):
        raise CheckpointError(f"{folder}: config.json model_type {model_type!r} does not match {kind!r}")

    model_patch = _get(vision, "patch_size", 16, int, config_file)
    patch_size = _get(pre, "patch_size", model_patch, int, pre_file)
    if patch_size != model_patch:
        raise CheckpointError(f"{pre_file}: preprocessor patch_size {patch_size} differs from the model's {model_patch} "
                              "(config.json)")
    if naflex:
        image_size = None
        max_num_patches = _get(pre, "max_num_patches", _get(vision, "num_patches", 256, int, config_file), int,
                               pre_file)
        grid = max_num_patches
    else:
        size = _get(pre, "size", {}, dict, pre_file)
        default = _get(vision, "image_size", 224, int, config_file)
        image_size = (_get(size, "height", default, int, pre_file), _get(size, "width", default, int, pre_file))
        if min(image_size) < patch_size:
            raise CheckpointError(f"{pre_file}: size {image_size} is smaller than patch_size {patch_size}")
        max_num_patches, grid = None, (image_size[0] // patch_size) * (image_size[1] // patch_size)
    try:
        check_limits(patch_size, grid)
    except ValueError as err:
        raise CheckpointError(f"{pre_file if pre_file.is_file() else config_file}: {err}") from None
    lut = pixel_lut(
        rescale_factor=_get(pre, "rescale_factor", 1 / 255, _positive, pre_file),
        mean=_get(pre, "image_mean", 0.5, _channels, pre_file),
        std=_get(pre, "image_std", 0.5, lambda v: _channels(v) and all(x > 0 for x in _listed(v)), pre_file),
        do_rescale=_get(pre, "do_rescale", True, bool, pre_file),
        do_normalize=_get(pre, "do_normalize", True, bool, pre_file),
    )
    resample = _get(pre, "resample", BILINEAR, lambda v: type(v) is int and v in set(Image.Resampling), pre_file)
    return Processor(
        folder / "tokenizer.model",
        naflex=naflex,
        patch_size=patch_size,
        max_num_patches=max_num_patches,
        image_size=image_size,
        lut=lut,
        resample=Image.Resampling(resample),
        text_length=text_length,
        num_threads=num_threads,
    )


# --- checking what the JSON files hold ---------------------------------------------------------------------------
def _is(value, kind):
    # JSON has no int/bool distinction that Python keeps: True is an int here, and 16.0 is not.
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1
    return isinstance(value, kind)


def _listed(value):
    return value if isinstance(value, list) else [value]


def _positive(value):
    return _is(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _channels(value):
    """One finite number, or a list of 1 or 3 (per channel)."""
    values = _listed(value)
    return len(values) in (1, 3) and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in values
    )


# What each check (or key) expects, for the message.
_EXPECTED = {int: "an integer >= 1", str: "a string", dict: "an object", bool: "true or false",
             _positive: "a finite number > 0", _channels: "a finite number or a list of 1 or 3 of them",
             "image_std": "finite numbers > 0 (it divides every pixel: 0 gives NaN scores)",
             "max_position_embeddings": f"an integer from 1 to {MAX_TEXT_LENGTH}"}


def _get(mapping, key, default, check, file):
    """mapping[key] (or `default` when absent) if `check` (a type, or a predicate) accepts it, else CheckpointError."""
    if not isinstance(mapping, dict):
        raise CheckpointError(f"{file}: expected a JSON object, got {type(mapping).__name__}")
    if key not in mapping:
        return default
    value = mapping[key]
    ok = _is(value, check) if isinstance(check, type) else check(value)
    if not ok:
        expected = _EXPECTED.get(key, _EXPECTED.get(check, "a valid value"))
        raise CheckpointError(f"{file}: {key} must be {expected}, got {value!r}")
    return value


def _read_json(path):
    """The JSON object in `path`, {} if there is no such file; anything but an object is a CheckpointError."""
    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path} is not valid JSON: {err}") from None
    if not isinstance(value, dict):
        raise CheckpointError(f"{path}: expected a JSON object {{...}}, got {type(value).__name__}")
    return value


def check_hf_options(return_tensors, padding, max_length, truncation, text_length=TEXT_LENGTH):
    """Accept HF processor keywords that ask for what this processor always does; refuse the others with the reason.

    It always returns torch tensors, pads every text to `text_length` (64) tokens and truncates longer ones: the
    text tower pools its last position and was trained at exactly that length, so other padding ruins the scores.
    """
    if return_tensors not in (None, "pt"):
        raise ValueError(f"return_tensors={return_tensors!r}: this processor returns torch tensors only "
                         "(return_tensors='pt'); call .numpy() on them for numpy")
    if padding != "max_length":
        raise ValueError(f"padding={padding!r}: SigLIP2 texts are always padded to max_length ({text_length} tokens); "
                         "the model pools the last position, so padding=True (to the longest text) or no padding "
                         "silently ruins the scores (docs/tokenizer-contract.md)")
    if max_length not in (None, text_length):
        raise ValueError(f"max_length={max_length!r}: the text tower has exactly {text_length} positions and was "
                         f"trained at that length; use max_length={text_length} or leave it out")
    if truncation is not True:
        raise ValueError(f"truncation={truncation!r}: a text over {text_length - 1} pieces is always cut to its "
                         f"first {text_length - 1} pieces plus EOS; the model has no room for more")
