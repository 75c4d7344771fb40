"""Zero-shot classification and normalised embeddings, batched: the few calls most users need.

    model, processor = siglip2_min.load_model(folder), siglip2_min.load_processor(folder)
    siglip2_min.zero_shot(model, processor, ["cat.jpg"], ["cat", "dog"])   # [[LabelScore("cat", 0.83), ...]]
    siglip2_min.embed_images(model, processor, paths)                        # [N, D], unit length
    siglip2_min.embed_texts(model, processor, ["a cat"])                     # [T, D], unit length
    siglip2_min.zero_shot(model, processor, images, labels, templates="clip_paper", canonicalize=True)  # the papers'

Zero-shot classification is the SigLIP recipe (paper arXiv 2303.15343 section 4; HF
`ZeroShotImageClassificationPipeline`; big_vision SigLIP2 colab): put each label in a prompt template, embed
images and prompts, score every pair with `exp(logit_scale) * cos + logit_bias`, and read each score through a
**sigmoid**. Each probability is an independent "does this text match this image?", not a share of a softmax:
they need not sum to 1, several labels can be likely at once, and a right answer at 0.2 is normal for the
published checkpoints (a calibration choice of the sigmoid loss, not a bug; HF docs show 21% for a correct
"2 cats"). Rank by probability, or by logit: same order.

Images are Pillow images, uint8 numpy arrays [H, W], [H, W, 3] or [H, W, 4] (a stack [N, H, W, C] is N images),
or paths; they are read and converted to RGB one batch at a time, so a long list of paths does not fill memory.

Shapes: N images, T texts, C labels (classes), K templates, D embedding width.
"""

import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .checks import check_int
from .loss import pair_logits
from .naflex import ImageReadError, to_rgb
from .prompts import TEMPLATE_SETS, canonical_label, canonical_template, resolve_templates

DEFAULT_TEMPLATE = "This is a photo of {}."  # the HF pipeline's template, which the checkpoints were evaluated with


class LabelScore(NamedTuple):
    """One label's score for one image. Unpacks as `label, probability = score`."""

    label: str
    probability: float  # sigmoid(logit): independent per label, does not sum to 1 over labels

    @property
    def score(self):
        """The probability under the name HF's zero-shot pipeline gives it (`{"score", "label"}`)."""
        return self.probability


class ExclusiveLabelScore(NamedTuple):
    """One label's share of a softmax over the labels given (`zero_shot(softmax=True)`): exclusive-label
    probabilities, which sum to 1 and assume exactly one label is right; not the model's calibrated sigmoid."""

    label: str
    probability: float  # softmax over the labels: depends on which other labels were asked

    score = LabelScore.score


def load_image(image):
    """A Pillow RGB image from a Pillow image, a uint8 numpy array or a path: `naflex.to_rgb`, the processor's own
    conversion (transparency composited onto white, as HF does; a file turned upright by its EXIF orientation, as
    HF's `load_image` does). A path that cannot be used, whatever the reason, is an ImageReadError naming it."""
    try:
        return to_rgb(image)
    except ImageReadError:
        raise
    except ValueError as err:  # e.g. a 16-bit file: still this file's problem, so callers can skip just it
        if isinstance(image, (str, Path)):
            raise ImageReadError(str(err)) from None
        raise


def _as_list(items, what, single_types):
    """`items` as a list; a single item of `single_types` becomes a one-element list."""
    if isinstance(items, single_types):
        return [items]
    try:
        return list(items)
    except TypeError:
        raise TypeError(f"{what} must be a list, got {type(items).__name__}") from None


class Progress:
    """A one-line progress counter on stderr, `embed images  96/1000  10%  41.2/s`, redrawn in place.

    `enabled=None` shows it only when there is more than one batch and stderr is a terminal (so logs and pipes
    stay clean); True and False force it. No dependency: tqdm is not a core requirement.
    """

    def __init__(self, total, desc, enabled=None, batch_size=1, stream=None):
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = total > batch_size and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.enabled, self.total, self.desc = bool(enabled), total, desc
        self.done, self.start, self.last_draw = 0, time.monotonic(), 0.0

    def update(self, n, **values):
        """Count `n` more done; `values` (the training loss, say) are shown after the counter and time left."""
        self.done += n
        now = time.monotonic()
        if self.enabled and (now - self.last_draw > 0.1 or self.done >= self.total):
            rate = self.done / max(now - self.start, 1e-9)
            pct = 100 * self.done // max(self.total, 1)
            shown = "".join(f"  {k} {v:.3f}" for k, v in values.items())
            left = (self.total - self.done) / max(rate, 1e-9)
            counter = f"{self.desc}  {self.done}/{self.total}  {pct}%  {rate:.1f}/s  {left:.0f}s left"
            self.stream.write(f"\r{counter}{shown} ")
            self.stream.flush()
            self.last_draw = now

    def message(self, text):
        """Print a line above the counter (e.g. an error) without mixing the two on one line."""
        if self.enabled and self.done:
            self.stream.write("\r\033[K")  # back to the line start, clear it; update() redraws the counter
        self.stream.write(text + "\n")
        self.stream.flush()
        self.last_draw = 0.0

    def close(self):
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def _embed_dim(model):
    # The text head projects onto the shared embedding space, whose width is the vision width (giant-opt: 1536).
    config = model.config
    return config.text.projection_size if config.text else config.vision.hidden_size


def check_tower(model, tower):
    """A TypeError unless `model` is a SigLIP2 model, a ValueError naming `tower` ("vision", "text") if it lacks it."""
    if not (hasattr(model, "encode_image") and hasattr(model, "encode_text")):
        raise TypeError(f"need a SigLIP2 model (load_model of an image-text checkpoint: two-tower, or one of them), "
                        f"got {type(model).__name__}: an image-classification checkpoint has no text tower")
    model.require(tower)


def _device_dtype(model):
    param = next(model.parameters())
    return param.device, param.dtype


@torch.inference_mode()
def embed_images(model, processor, images, *, batch_size=32, max_num_patches=None, progress=None):
    """Unit-length image embeddings [N, D] (float32, CPU), in the order given.

    `max_num_patches` overrides the processor's NaFlex patch budget (more patches: more detail, slower).
    `progress`: None shows a counter on stderr for long runs on a terminal, True always, False never.
    Raises ImageReadError (a ValueError naming the file) for an unreadable path.
    """
    check_tower(model, "vision")
    if isinstance(images, np.ndarray):  # [H, W] or [H, W, C] is one image, [N, H, W, C] a batch
        images = list(images) if images.ndim == 4 else [images]  # [N, H, W, C] -> N arrays [H, W, C]
    images = _as_list(images, "images", (Image.Image, str, Path))
    check_int(batch_size, "batch_size")
    device, dtype = _device_dtype(model)

    def encode(batch):
        inputs = processor(images=[load_image(im) for im in batch], max_num_patches=max_num_patches)
        return model.encode_image(
            torch.as_tensor(inputs["pixel_values"]).to(device, dtype),  # [B, N, p*p*3]
            torch.as_tensor(inputs["pixel_attention_mask"]).to(device),  # [B, N]
            torch.as_tensor(inputs["spatial_shapes"]).to(device),  # [B, 2]
        )  # [B, D]

    return _embed_batches(model, images, encode, batch_size, "image embeddings", progress)  # [N, D]


@torch.inference_mode()
def embed_texts(model, processor, texts, *, batch_size=256, progress=None):
    """Unit-length text embeddings [T, D] (float32, CPU). Texts go in as given: no template is applied here.

    The processor lowercases and pads every text to 64 tokens, as the checkpoints were trained (docs/tokenizer-contract.md).
    """
    check_tower(model, "text")
    texts = _as_list(texts, "texts", str)
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"texts must be strings, got {type(text).__name__}: {text!r}")
    check_int(batch_size, "batch_size")
    device, _ = _device_dtype(model)

    def encode(batch):
        return model.encode_text(torch.as_tensor(processor(text=batch)["input_ids"]).to(device))  # [B, 64] -> [B, D]

    return _embed_batches(model, texts, encode, batch_size, "text embeddings", progress)  # [T, D]


def _embed_batches(model, items, encode, batch_size, what, progress):
    """`encode` each batch of `items` -> [B, D]; unit length, float32 on the CPU, checked finite; [len(items), D]."""
    bar = Progress(len(items), f"embed {what.split()[0]}s", progress, batch_size)
    out = []
    try:
        for start in range(0, len(items), batch_size):
            batch = items[start : start + batch_size]
            out.append(_finite(F.normalize(encode(batch).float(), dim=-1).cpu(), what))  # [B, D] unit length
            bar.update(len(batch))
    finally:
        bar.close()
    return torch.cat(out) if out else torch.zeros(0, _embed_dim(model))


def image_text_logits(model, image_embeds, text_embeds):
    """Logits [N, T] of every (image, text) pair, `exp(logit_scale) * cos + logit_bias`; sigmoid gives probabilities."""
    if getattr(model, "logit_scale", None) is None:
        raise ValueError(f"this model has the {model.config.towers} tower only, and so no logit_scale / logit_bias "
                         "to score (image, text) pairs: load both towers (load_model(path, towers='both'))")
    scale = model.logit_scale.detach().float().cpu()
    bias = model.logit_bias.detach().float().cpu()
    return _finite(pair_logits(image_embeds, text_embeds, scale, bias).T, "logits")  # [T, N] -> [N, T]


def _finite(values, what):
    """`values`, or a FloatingPointError: NaN or inf is never output (it would read as a score)."""
    if not torch.isfinite(values).all():
        raise FloatingPointError(
            f"the model produced non-finite {what} (NaN or inf): check the checkpoint's weights and "
            "preprocessor_config.json, or use float32 instead of float16"
        )
    return values


def apply_template(template, label):
    """The prompt for one label: `{}` or `{label}` in the template is replaced by the label."""
    if not isinstance(template, str):
        raise TypeError(f"template must be a string such as 'This is a photo of {{}}.', got {type(template).__name__}"
                        " (several templates go in `templates=`)")
    for slot in ("{label}", "{}"):
        if slot in template:
            return template.replace(slot, label)
    raise ValueError(f"the template needs a '{{}}' where the label goes, got {template!r} "
                     f"(template set names: {', '.join(sorted(TEMPLATE_SETS))})")


def check_labels(labels):
    """`labels` as a list of distinct, non-empty strings, else TypeError/ValueError naming the problem."""
    if isinstance(labels, str):
        raise TypeError(f"labels must be a list of strings, not one string ({labels!r})")
    labels = _as_list(labels, "labels", ())
    if not labels:
        raise ValueError("labels must be a non-empty list of strings")
    for label in labels:
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"every label must be a non-empty string, got {label!r}")
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(f"labels must be distinct, got {', '.join(map(repr, repeated))} more than once")
    return labels


def rank_labels(labels, probs, kind=LabelScore):
    """One list per row of `probs` [N, T] of `kind(label, probability)`, best first (ties keep label order)."""
    results = []
    for row in probs.tolist():
        order = sorted(range(len(labels)), key=lambda j: -row[j])  # stable: ties keep label order
        results.append([kind(labels[j], row[j]) for j in order])
    return results


def class_text_embeddings(model, processor, labels, templates, canonicalize=False, batch_size=256):
    """One unit-length text embedding per label [C, D]: the mean over `templates` of the unit-length embeddings of
    the label in each template, renormalised (big_vision's `_average_embeddings`, open_clip's
    `build_zero_shot_classifier`). One template gives that prompt's embedding itself.

    `templates`: a list of templates and/or set names (`prompts.TEMPLATE_SETS`, e.g. "clip_paper"). `canonicalize`:
    labels and templates as big_vision's evaluator rewrites them (`prompts.canonicalize`).
    """
    templates = resolve_templates(templates)
    if canonicalize:
        labels = [canonical_label(label) for label in labels]
        templates = [canonical_template(t) for t in templates]
    prompts = [apply_template(t, label) for t in templates for label in labels]  # template-major: [K * C]
    embeds = embed_texts(model, processor, prompts, batch_size=batch_size, progress=False)  # [K*C, D] unit length
    if len(templates) == 1:
        return embeds  # [C, D]
    return F.normalize(embeds.reshape(len(templates), len(labels), -1).mean(dim=0), dim=-1)  # [K, C, D] -> [C, D]


def zero_shot(
    model,
    processor,
    images,
    labels,
    template=DEFAULT_TEMPLATE,
    *,
    templates=None,
    canonicalize=False,
    softmax=False,
    batch_size=32,
    max_num_patches=None,
    progress=None,
):
    """Classify images against free-text labels. Returns one list per image of `LabelScore(label, probability)`,
    best first (ties keep the order of `labels`).

    Probabilities are sigmoids of the pair logits, independent per label: they do not sum to 1, and a correct
    label at 0.2 is normal for the published checkpoints (sigmoid-loss calibration, not a bug).
    `softmax=True` instead returns `ExclusiveLabelScore`s: a softmax of the same logits over the labels given,
    which sums to 1 and is right only when exactly one label applies; the ranking is the same.

    `template` is applied to every label (`"This is a photo of {}."`, HF's pipeline default); pass `"{}"` to use
    the labels as they are. `templates` (a list, or a set name such as "clip_paper") replaces it with a prompt
    ensemble: each label's text embedding is the renormalised mean over the templates (`class_text_embeddings`).
    `canonicalize=True` rewrites labels and templates as big_vision's evaluator does (`prompts.py`; the returned
    labels stay as given). Images: see `load_image`; paths are read one batch at a time.
    """
    labels = check_labels(labels)
    check_tower(model, "vision")
    check_tower(model, "text")
    apply_template(template, "")  # a list given as `template` is refused with a pointer to `templates=`
    if templates is not None and template != DEFAULT_TEMPLATE:
        raise ValueError("give either template= (one) or templates= (an ensemble), not both")
    text_embeds = class_text_embeddings(
        model, processor, labels, [template] if templates is None else templates, canonicalize
    )  # [T, D]
    image_embeds = embed_images(
        model, processor, images, batch_size=batch_size, max_num_patches=max_num_patches, progress=progress
    )  # [N, D]
    logits = image_text_logits(model, image_embeds, text_embeds)  # [N, T]
    probs = torch.softmax(logits, dim=-1) if softmax else torch.sigmoid(logits)  # [N, T]
    return rank_labels(labels, probs, ExclusiveLabelScore if softmax else LabelScore)
