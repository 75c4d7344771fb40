"""Data for the course exercise: teach the bundled tiny model a shape it has never seen, by fine-tuning.

    python -m siglip2_min.course DIR [--shape diamond]

writes, in the styles of `data.py` (same colours, sizes, positions, backgrounds, aspect ratios and caption
phrasings):
- `DIR/train.csv` and `DIR/train/`: image-caption pairs, a third of them the new shape, two thirds a replay of the
  five shapes the model was trained on (samples of `data.py`'s training split), so that fine-tuning does not forget
  them;
- `DIR/heldout/shapes/<shape>/` and `DIR/heldout/colours/<colour>/`: the same held-out images (`data.py`'s test
  split for the old shapes, a separate stream for the new one), as two class folders for `evaluate zero-shot`.
Nothing of the held-out part was seen in training, by the bundled model or by the fine-tuning.

New shapes are drawn here, not in `data.py`, so that every sample the bundled model was trained on stays the same.
docs/evaluate-finetune.md walks through the exercise with its measured figures.
"""

import argparse
import math
import sys

import numpy as np
from PIL import Image, ImageDraw

from . import data
from .fileio import output_folder

TRAIN_PER_SHAPE = 1200  # new-shape training pairs
REPLAY = 2400  # replay pairs of the five old shapes (480 each); the sizes are docs/evaluate-finetune.md's tuning
HELDOUT_PER_SHAPE = 60  # held-out images of each of the six shapes
STREAM = 7  # seeds the new shape's generator apart from data.py's streams (0 train, 1 test, 2 group colours)


def _arrow(form):
    """An arrow pointing right: a shaft of half-width 0.15-0.3 and a head from x = 0.1 to the tip."""
    h = 0.15 + 0.15 * form
    return [(-1, -h), (0.1, -h), (0.1, -0.75), (1, 0), (0.1, 0.75), (0.1, h), (-1, h)]


def _diamond(form):
    """A rhombus standing on a corner, 0.5-0.7 times as wide as it is tall."""
    w = 0.5 + 0.2 * form
    return [(0, -1), (w, 0), (0, 1), (-w, 0)]


def _crescent(image, cx, cy, radius, angle, rgb, form):
    """A crescent moon: a disc with a smaller disc bitten out of one side (through a mask, so a noisy background
    shows through the bite)."""
    mask = Image.new("L", image.size, 0)
    draw = ImageDraw.Draw(mask)
    draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=255)
    shift, bite = (0.35 + 0.25 * form) * radius, 0.85 * radius
    bx, by = cx + shift * math.cos(math.radians(angle)), cy + shift * math.sin(math.radians(angle))
    draw.ellipse([bx - bite, by - bite, bx + bite, by + bite], fill=0)
    image.paste(rgb, mask=mask)


# The exercise's shape is the diamond; the defaults of `finetune` were chosen on it (and on the arrow, which is
# harder: docs/evaluate-finetune.md). The crescent was measured once, with those defaults, as a check.
NEW_SHAPES = ("arrow", "diamond", "crescent")


def new_shape_sample(index, shape, split="train", seed=0):
    """Sample `index` of a new shape, drawn with `data.sample`'s distributions (its own random stream)."""
    if shape not in NEW_SHAPES:
        raise ValueError(f"shape must be one of {NEW_SHAPES}, got {shape!r}")
    rng = np.random.default_rng([int(seed), STREAM, data.SPLITS[split], NEW_SHAPES.index(shape), int(index)])
    aspect = math.exp(rng.uniform(math.log(1 / 3), math.log(3)))  # width / height, as data.sample
    side = rng.uniform(48, 160)
    height = max(16, round(side / math.sqrt(aspect)))
    width = min(3 * height, max(math.ceil(height / 3), round(side * math.sqrt(aspect))))
    background, bg_rgb = data._background(rng)
    colour = str(rng.choice(list(data.COLOURS)))
    size = str(rng.choice(list(data.SIZES)))
    rgb = data._shade(rng, data.COLOURS[colour])
    extent = rng.uniform(*data.SIZES[size]) * min(width, height)
    cx, cy = rng.uniform(extent / 2, width - extent / 2), rng.uniform(extent / 2, height - extent / 2)
    phrasing = data.PHRASINGS[int(rng.integers(len(data.PHRASINGS)))]
    angle = 90 * int(rng.integers(4)) + rng.uniform(-data.MAX_ROTATION, data.MAX_ROTATION)  # any direction
    image = Image.new("RGB", (width, height), bg_rgb)
    if rng.random() < 0.3:  # faint pixel noise, as data.sample
        noise = rng.normal(0, rng.uniform(2, 8), (height, width, 1))
        image = Image.fromarray(np.clip(np.asarray(image, dtype=np.float32) + noise, 0, 255).astype(np.uint8))
    form = rng.random()
    if shape in ("arrow", "diamond"):
        points = _arrow(form) if shape == "arrow" else _diamond(form)
        if shape == "diamond":
            angle = rng.uniform(-data.MAX_ROTATION, data.MAX_ROTATION)  # upright: a rotated diamond is a square
        ImageDraw.Draw(image).polygon(data._polygon(cx, cy, extent / 2, angle, points), fill=rgb)
    else:
        _crescent(image, cx, cy, extent / 2, angle, rgb, form)
    where = data._where(cx / width, cy / height)
    caption = phrasing.format(colour=colour, shape=shape, size=size, where=where, background=background)
    return data.Sample(image, colour, shape, size, where, background, caption)


def write(out, shape="diamond", seed=0, overwrite=False, train_per_shape=TRAIN_PER_SHAPE, replay=REPLAY,
          heldout_per_shape=HELDOUT_PER_SHAPE):
    """Write the exercise's data into the folder `out` (see the module docstring); returns its path."""
    with output_folder(out, overwrite) as tmp:
        rows = ["image,caption"]
        (tmp / "train").mkdir()
        train = [new_shape_sample(i, shape, "train", seed) for i in range(train_per_shape)]
        train += data.samples(0, replay, "train", seed)  # replay: blocks of the five old shapes
        for i, s in enumerate(train):
            s.image.save(tmp / "train" / f"{i:05d}.png")
            rows.append(f'train/{i:05d}.png,"{s.caption}"')
        (tmp / "train.csv").write_text("\n".join(rows) + "\n")
        heldout = [new_shape_sample(i, shape, "test", seed) for i in range(heldout_per_shape)]
        old, i = {name: 0 for name in data.SHAPES}, 0
        while min(old.values()) < heldout_per_shape:  # test-split samples until every old shape has its share
            s = data.sample(i, "test", seed)
            if old[s.shape] < heldout_per_shape:
                old[s.shape] += 1
                heldout.append(s)
            i += 1
        for i, s in enumerate(heldout):
            for kind, name in (("shapes", s.shape), ("colours", s.colour)):
                (tmp / "heldout" / kind / name).mkdir(parents=True, exist_ok=True)
                s.image.save(tmp / "heldout" / kind / name / f"{i:04d}.png")
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m siglip2_min.course", description=__doc__.split("\n")[0])
    parser.add_argument("out", metavar="DIR", help="folder to create")
    parser.add_argument("--shape", choices=NEW_SHAPES, default="diamond", help="the new shape (default diamond)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    try:
        write(args.out, args.shape, args.seed, args.overwrite)
    except OSError as err:
        print(f"siglip2-min: error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}/train.csv ({TRAIN_PER_SHAPE + REPLAY} pairs) and {args.out}/heldout/ "
          f"({6 * HELDOUT_PER_SHAPE} images, by shape and by colour)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
