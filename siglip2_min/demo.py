"""`siglip2-min demo`: draw a few coloured shapes, classify them zero-shot, print a table.

The whole pipeline in one command, offline, on the tiny model bundled with the package: Pillow drawing ->
NaFlex preprocessing (each image keeps its aspect ratio) -> both towers -> sigmoid scores against every
"{colour} {shape}" label of the procedural dataset the bundled model was trained on (`siglip2_min/data.py`).
The drawings are made here, not taken from that dataset, so the demo also shows the model generalising a little.
"""

import json
import math
from pathlib import Path

from PIL import Image, ImageDraw

from .api import DEFAULT_TEMPLATE, zero_shot
from .data import label, zero_shot_labels
from .fileio import check_output, write_file

# (colour, shape, (width, height)): Pillow colour names, and sizes of different aspect ratios.
DRAWINGS = [
    ("red", "circle", (128, 128)),
    ("blue", "square", (160, 112)),
    ("green", "triangle", (112, 160)),
    ("purple", "star", (144, 144)),
    ("black", "cross", (192, 96)),
]


def draw(colour, shape, size):
    """A white image of `size` (width, height) with one filled `colour` `shape` in the middle."""
    width, height = size
    image = Image.new("RGB", size, "white")
    pen = ImageDraw.Draw(image)
    cx, cy, r = width / 2, height / 2, 0.38 * min(width, height)
    if shape == "circle":
        pen.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    elif shape == "square":
        pen.rectangle([cx - 0.75 * r, cy - 0.75 * r, cx + 0.75 * r, cy + 0.75 * r], fill=colour)
    elif shape == "triangle":
        pen.polygon([(cx + r * math.sin(a), cy - r * math.cos(a)) for a in (0, 2 * math.pi / 3, 4 * math.pi / 3)],
                    fill=colour)
    elif shape == "star":  # 5 points: radii alternate between r and 0.42 r
        pen.polygon([(cx + rad * math.sin(math.pi * k / 5), cy - rad * math.cos(math.pi * k / 5))
                     for k, rad in zip(range(10), [r, 0.42 * r] * 5)], fill=colour)
    elif shape == "cross":
        arm = 0.3 * r
        pen.rectangle([cx - r, cy - arm, cx + r, cy + arm], fill=colour)
        pen.rectangle([cx - arm, cy - r, cx + arm, cy + r], fill=colour)
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return image


def labels():
    """Every "a {colour} {shape}" of the bundled model's training data, e.g. "a red circle"."""
    return zero_shot_labels()[1]


def save_paths(folder, overwrite=False):
    """The PNG files `run(save=folder)` writes, checked before any work: `folder` may exist (it is created if not),
    but a file of the same name is replaced only with `overwrite`. Raises fileio.OutputError."""
    folder = Path(folder)
    if not folder.is_dir():
        check_output(folder, folder=True)  # a file of that name, or a missing parent: refused here
        return [folder / f"{colour}_{shape}.png" for colour, shape, _ in DRAWINGS]
    return [check_output(folder / f"{colour}_{shape}.png", overwrite) for colour, shape, _ in DRAWINGS]


def run(model, processor, folder, save=None, json_out=False, template=DEFAULT_TEMPLATE, overwrite=False):
    """Draw, classify, print; returns the exit code (0: it ran, whatever the model answered).

    `save`: a folder for the drawings as PNG files (see `save_paths`; nothing is overwritten without `overwrite`).
    """
    names = labels()
    paths = save_paths(save, overwrite) if save else []
    images = [draw(colour, shape, size) for colour, shape, size in DRAWINGS]
    if save:
        Path(save).mkdir(exist_ok=True)
        for path, image in zip(paths, images):
            write_file(path, lambda f: image.save(f, format="PNG"), overwrite)
    ranked = zero_shot(model, processor, images, names, template, progress=False)
    truths = [label(colour, shape) for colour, shape, _ in DRAWINGS]
    if json_out:
        rows = [{"drawn": truth, "size": list(size), "labels": [{"label": l, "probability": p} for l, p in r[:5]]}
                for truth, (_, _, size), r in zip(truths, DRAWINGS, ranked)]
        print(json.dumps(rows, indent=2))
        return 0
    print(f"model: {folder}")
    print(f"labels: {len(names)} ({names[0]!r} ... {names[-1]!r}) in the template {template!r}\n")
    print(f"{'drawn':<18} {'size':>8}   {'best guess':<18} {'p':>6}   {'runner-up':<18} {'p':>6}")
    for truth, (_, _, (w, h)), r in zip(truths, DRAWINGS, ranked):
        mark = "ok" if r[0].label == truth else f"(p of the right label {dict(r)[truth]:.4f})"
        print(f"{truth:<18} {f'{w}x{h}':>8}   {r[0].label:<18} {r[0].probability:6.4f}   "
              f"{r[1].label:<18} {r[1].probability:6.4f}   {mark}")
    right = sum(r[0].label == t for t, r in zip(truths, ranked))
    print(f"\n{right} of {len(truths)} right. Scores are sigmoid probabilities, one independent yes/no per label: "
          "they need not sum to 1.")
    return 0
