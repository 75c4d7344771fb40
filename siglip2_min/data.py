"""A procedural image-caption dataset: coloured shapes on light backgrounds, with captions.

Small enough to train a tiny SigLIP2 on a laptop CPU in minutes, yet it exercises what matters: colour and shape
words that zero-shot classification can ask about ("This is a photo of a red star."), size and position words
that only retrieval can check, and images of aspect ratios from 1:3 to 3:1 at varied resolutions, so that
NaFlex's aspect-preserving resize (docs/naflex.md) and the per-image position-table resize are both used.

Every sample is a pure function of `(seed, split, index)`: its random generator is seeded by those three
numbers, so sample 17 of the training split is the same image on every machine and in every process (this is
what lets each rank of a distributed run draw its own shard of a batch), and the training and held-out splits
come from different generator streams. No upstream counterpart: SigLIP2 was trained on WebLI.
"""

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from .checks import check_int

SHAPES = ("circle", "square", "triangle", "star", "cross")

# Each colour is drawn by mixing two of its anchors and jittering a little, so the model sees a range of shades
# and also the exact values of Pillow's colour names ("green" is (0, 128, 0), "purple" (128, 0, 128)), which is
# what a hand-drawn test image is likely to use.
COLOURS = {
    "red": [(255, 0, 0), (220, 30, 30), (190, 20, 40), (240, 60, 50)],
    "green": [(0, 128, 0), (0, 200, 0), (40, 170, 60), (0, 255, 0), (20, 110, 40)],
    "blue": [(0, 0, 255), (30, 80, 220), (0, 0, 170), (30, 120, 255), (20, 40, 140)],
    "yellow": [(255, 255, 0), (245, 215, 20), (255, 230, 60), (230, 200, 0)],
    "purple": [(128, 0, 128), (150, 50, 200), (110, 30, 160), (160, 32, 240), (120, 40, 120)],
    "orange": [(255, 165, 0), (255, 130, 0), (240, 110, 20), (255, 140, 40)],
    "black": [(0, 0, 0), (30, 30, 30), (50, 45, 40), (20, 20, 35)],
}

# Fraction of the shorter image side taken by the shape's bounding box. Even "small" stays at least a few
# patches wide after NaFlex shrinks the image to the bundled model's 64 patches of 8 pixels.
SIZES = {"small": (0.35, 0.45), "medium": (0.5, 0.65), "large": (0.7, 0.9)}

MAX_ROTATION = 15  # degrees; half of the non-circular shapes are drawn upright, as a hand drawing would be

SPLITS = {"train": 0, "test": 1}  # each split is its own generator stream

# Caption phrasings. Several are close to the zero-shot template "This is a photo of {}." so that prompt works;
# the others teach size and position words. Captions are lowercase, as SigLIP2 expects (docs/tokenizer-contract.md).
PHRASINGS = (
    "a {colour} {shape}",
    "{colour} {shape}",
    "this is a photo of a {colour} {shape}.",
    "a photo of a {colour} {shape}.",
    "a {size} {colour} {shape} {where}",
    "a {size} {colour} {shape}",
    "a {colour} {shape} {where}",
    "this is a photo of a {size} {colour} {shape} {where}.",
    "a drawing of a {colour} {shape} on a {background} background",
    "there is a {size} {colour} {shape} {where}",
    "a {shape} in {colour}",
    # Without the colour: the text then says nothing but the shape (and maybe size and position), so the image
    # tower cannot satisfy it with colour alone. Colour is learned in a few steps either way.
    "a {shape}",
    "{shape}",
    "a photo of a {shape}.",
    "a {size} {shape} {where}",
)
COLOUR_FREE_PHRASINGS = tuple(p for p in PHRASINGS if "{colour}" not in p)  # for the single-colour groups


@dataclass(frozen=True)
class Sample:
    """One image with its attributes and a caption drawn from `PHRASINGS`."""

    image: Image.Image
    colour: str
    shape: str
    size: str  # small, medium or large
    where: str  # "on the left", "at the top right", "in the centre", ...
    background: str  # "white" or "light"
    caption: str

    @property
    def description(self):
        """The full canonical caption, used as the retrieval target: "a small red circle on the left"."""
        return f"a {self.size} {self.colour} {self.shape} {self.where}"


def sample(index, split="train", seed=0, colour=None, name_colour=True):
    """Sample `index` of `split` ("train" or "test") for `seed`: the same image and caption on every call.

    `colour`, when given, replaces the colour the generator would draw (everything else about the sample stays the
    same, the caption names the new colour); `name_colour=False` draws the caption from the phrasings that leave
    the colour out. The training script uses both for its single-colour groups (`group_colours`).
    """
    if colour is not None and colour not in COLOURS:
        raise ValueError(f"colour must be one of {list(COLOURS)} or None, got {colour!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    check_int(index, "index", minimum=0)
    # Training samples come in blocks of 5 consecutive indices that share everything (image size, background,
    # colour, size, position, caption phrasing) except the shape, one of each. Colour and position are learned
    # in a few steps, but shape, which needs the spatial layout of several patches, is not: such "minimal pairs"
    # in a batch are negatives that only shape can tell apart, which gives the shape words a strong gradient from
    # the start. Held-out samples are independent draws.
    block, slot = divmod(int(index), len(SHAPES)) if split == "train" else (int(index), 0)
    rng = np.random.default_rng([int(seed), SPLITS[split], block])

    # Aspect ratio log-uniform in [1/3, 3], area from about 48x48 to 160x160 pixels.
    aspect = math.exp(rng.uniform(math.log(1 / 3), math.log(3)))  # width / height
    side = rng.uniform(48, 160)
    height = max(16, round(side / math.sqrt(aspect)))
    width = min(3 * height, max(math.ceil(height / 3), round(side * math.sqrt(aspect))))  # rounding stays in 1:3..3:1

    background, bg_rgb = _background(rng)
    drawn = str(rng.choice(list(COLOURS)))  # drawn even when overridden, so the rest of the sample is unchanged
    colour = drawn if colour is None else colour
    shape = SHAPES[(int(rng.integers(len(SHAPES))) + slot) % len(SHAPES)]
    size = str(rng.choice(list(SIZES)))
    rgb = _shade(rng, COLOURS[colour])

    short = min(width, height)
    extent = rng.uniform(*SIZES[size]) * short  # bounding-box side in pixels
    # Centre anywhere that keeps the whole shape inside the image.
    cx = rng.uniform(extent / 2, width - extent / 2)
    cy = rng.uniform(extent / 2, height - extent / 2)
    phrasings = PHRASINGS if name_colour else COLOUR_FREE_PHRASINGS
    phrasing = phrasings[int(rng.integers(len(phrasings)))]
    noisy, noise_level = rng.random() < 0.3, rng.uniform(2, 8)
    rng = np.random.default_rng([int(seed), SPLITS[split], int(index), 1])  # this sample's own draws
    angle = 0.0 if shape == "circle" or rng.random() < 0.5 else rng.uniform(-MAX_ROTATION, MAX_ROTATION)

    image = Image.new("RGB", (width, height), bg_rgb)
    if noisy:  # faint pixel noise, so a perfectly flat background is not the only kind
        noise = rng.normal(0, noise_level, (height, width, 1))
        pixels = np.clip(np.asarray(image, dtype=np.float32) + noise, 0, 255).astype(np.uint8)
        image = Image.fromarray(pixels)
    form = rng.random()  # drawn last, so everything else about the sample is as it was before it was added
    _draw(ImageDraw.Draw(image), shape, cx, cy, extent / 2, angle, rgb, form)

    where = _where(cx / width, cy / height)
    caption = phrasing.format(colour=colour, shape=shape, size=size, where=where, background=background)
    return Sample(image, colour, shape, size, where, background, caption)


def samples(start, stop, split="train", seed=0, colour=None, name_colour=True):
    """Samples `start .. stop-1` of a split, as a list (see `sample` for `colour` and `name_colour`)."""
    return [sample(i, split, seed, colour, name_colour) for i in range(start, stop)]


def group_colours(step, seed, groups, one_colour):
    """The colour of every sample in each group of training step `step`: the first `one_colour` groups get one
    colour each, drawn afresh every step; the rest are None, the generator's own mixed colours.

    Why: in a group of one colour only shape, size and position tell pairs apart, so colour (the easy feature)
    cannot suppress shape (docs/training.md, "Why the batch is split into groups", has the measurements).
    Deterministic in (seed, step): every rank of a distributed run agrees.
    """
    rng = np.random.default_rng([int(seed), 2, int(step)])  # 2: a stream apart from the two splits'
    names = list(COLOURS)
    return [names[int(rng.integers(len(names)))] if g < one_colour else None for g in range(groups)]


def label(colour, shape):
    """The zero-shot label of a colour and a shape, "a red circle": the words the demo and the evaluation ask for."""
    return f"a {colour} {shape}"


def zero_shot_labels():
    """([(colour, shape)], [label]) for every colour and shape, in a fixed order: the 35 zero-shot classes."""
    pairs = [(colour, shape) for colour in COLOURS for shape in SHAPES]
    return pairs, [label(colour, shape) for colour, shape in pairs]


def all_captions():
    """Every caption the dataset can produce (the tokenizer's training text), in a fixed order."""
    wheres = [_where(x, y) for y in (0.1, 0.5, 0.9) for x in (0.1, 0.5, 0.9)]
    out = []
    for phrasing in PHRASINGS:
        for colour in COLOURS:
            for shape in SHAPES:
                for size in SIZES:
                    for where in wheres:
                        for background in ("white", "light"):
                            out.append(
                                phrasing.format(
                                    colour=colour, shape=shape, size=size, where=where, background=background
                                )
                            )
    return sorted(set(out))


def _background(rng):
    """A light background: white, near-white, or a light tint, never dark enough to hide a black shape."""
    kind = rng.random()
    if kind < 0.3:
        return "white", (255, 255, 255)
    if kind < 0.55:
        grey = int(rng.integers(225, 256))
        return "white", (grey, grey, grey)
    tint = rng.integers(190, 256, size=3)  # pale colour: every channel high, so it reads as "light"
    return "light", tuple(int(c) for c in tint)


def _shade(rng, anchors):
    """A shade between two anchors of a colour, jittered by a few levels per channel."""
    a, b = rng.choice(len(anchors), size=2)
    t = rng.random()
    rgb = (1 - t) * np.array(anchors[a]) + t * np.array(anchors[b]) + rng.normal(0, 6, 3)
    return tuple(int(c) for c in np.clip(np.round(rgb), 0, 255))


def _where(x, y):
    """Position words from the shape centre in relative coordinates (0..1): thirds of the image."""
    col = "left" if x < 1 / 3 else "right" if x > 2 / 3 else ""
    row = "top" if y < 1 / 3 else "bottom" if y > 2 / 3 else ""
    if row and col:
        return f"at the {row} {col}"
    if row:
        return f"at the {row}"
    if col:
        return f"on the {col}"
    return "in the centre"


def _polygon(cx, cy, radius, angle, points):
    """Rotate polygon `points` (unit coordinates, y down) by `angle` degrees and place it at (cx, cy)."""
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    return [(cx + radius * (c * x - s * y), cy + radius * (s * x + c * y)) for x, y in points]


def _star(inner):
    """A five-pointed star: outer points at radius 1, the notches between them at `inner`."""
    return [(r * math.sin(math.pi * k / 5), -r * math.cos(math.pi * k / 5)) for k, r in zip(range(10), [1, inner] * 5)]


def _cross(h):
    """A plus sign: arms from -1 to 1, `h` their half-width."""
    return [(-h, -1), (h, -1), (h, -h), (1, -h), (1, h), (h, h), (h, 1), (-h, 1), (-h, h), (-1, h), (-1, -h), (-h, -h)]


_TRIANGLE = [(0, -1), (math.sqrt(3) / 2, 0.5), (-math.sqrt(3) / 2, 0.5)]
_SQUARE = [(-0.75, -0.75), (0.75, -0.75), (0.75, 0.75), (-0.75, 0.75)]  # shrunk so a rotated square still fits


def _draw(draw, shape, cx, cy, radius, angle, rgb, form=0.5):
    """Draw a filled shape whose bounding circle has `radius`, centred at (cx, cy).

    `form` (0 to 1) sets the proportions that vary between drawings by hand: a cross's arms are 0.4 to 0.8 of the
    radius wide, a star's notches at 0.35 to 0.5 of it. With fixed proportions (arms 0.6 wide) a model trained
    here called most crosses with arms 0.67 wide "square" while getting its own crosses right.
    """
    if shape == "circle":
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=rgb)
        return
    if shape == "star":
        points = _star(0.35 + 0.15 * form)
    elif shape == "cross":
        points = _cross(0.2 + 0.2 * form)
    else:
        points = {"square": _SQUARE, "triangle": _TRIANGLE}[shape]
    draw.polygon(_polygon(cx, cy, radius, angle, points), fill=rgb)
