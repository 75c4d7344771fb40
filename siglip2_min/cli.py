"""What the `siglip2-min` commands share: the model for a device, images read one by one, folders expanded.

Every problem found here is a one-line message: a `UsageError` (exit code 2) for the model, device or setup, and
a line on stderr for each input that cannot be read, which the command counts as a failure (exit code 1) while
it goes on with the others (docs/errors.md).
"""

import os
import sys
from pathlib import Path



class UsageError(ValueError):
    """A command line that cannot be run as given: one line on stderr, exit code 2."""


def error(message, progress=None):
    line = f"siglip2-min: error: {message}"
    progress.message(line) if progress is not None else print(line, file=sys.stderr)


def check_device(name):
    """`name` if torch can put a model there on this machine, else a UsageError saying why."""
    import torch

    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"--device {name}: not a device name (cpu, cuda, cuda:1, mps)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"--device {name}: CUDA is not available on this machine (torch {torch.__version__}); "
                             "use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UsageError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise UsageError(f"--device {name}: MPS is not available on this machine; use --device cpu")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise UsageError(f"--device {name}: expected cpu, cuda, cuda:N or mps")
    return name


def load(args, text=True):
    """(model, processor, folder) for --model: both towers and the tokenizer when `text`, else the vision tower only
    (so `embed` and `attention` never read the text tower's 256k-token embedding, and take a vision-only folder)."""
    import torch

    from . import hub
    from .processor import load_processor
    from .weights import load_model

    device = check_device(args.device)
    folder = hub.resolve_model(args.model, files=hub.REQUIRED_FILES if text else hub.VISION_FILES)
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[args.dtype]
    model = load_model(folder, dtype=dtype, device=device, towers=None if text else "vision")
    if not hasattr(model, "encode_text"):
        raise UsageError(f"{folder} is an image-classification checkpoint ({type(model).__name__}, no text tower); "
                         f"`{args.command}` needs an image-text (two-tower) SigLIP2 model")
    if text and model.config.towers != "both":
        raise UsageError(f"{folder} holds the {model.config.towers} tower only; `{args.command}` needs an image-text "
                         "(two-tower) SigLIP2 model")
    processor = load_processor(folder)
    if text:
        processor.tokenizer  # loaded now, so a corrupt tokenizer.model is a setup error before any work
    return model, processor, folder


def read_images(paths, progress=None):
    """Read `paths`: ([(path, RGB image)] of the readable ones, {path: message} of the others, each printed)."""
    from .api import ImageReadError, load_image

    pairs, errors = [], {}
    for path in paths:
        try:
            pairs.append((path, load_image(path)))
        except ImageReadError as err:
            error(str(err), progress)
            errors[path] = str(err)
    return pairs, errors


def expand(inputs):
    """(files, n_failed): files as given; a folder becomes the image files under it (by suffix, recursively,
    sorted by path, hidden ones skipped). A folder without images, or one that cannot be read, counts as a failure
    and is named on stderr: nothing is skipped silently."""
    from .datasets import image_suffixes

    suffixes = image_suffixes()
    files, failed = [], 0
    for item in inputs:
        if not Path(item).is_dir():
            files.append(str(item))
            continue
        unreadable = []
        found = []
        for folder, subfolders, names in os.walk(item, onerror=unreadable.append):
            subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
            found += [Path(folder) / n for n in names if not n.startswith(".") and Path(n).suffix.lower() in
                      suffixes and (Path(folder) / n).is_file()]
        for err in unreadable:
            error(f"{err.filename}: cannot read the folder ({err.strerror or err})")
        failed += len(unreadable)
        if not found and not unreadable:
            error(f"{item}: folder has no image files (none of the {len(suffixes)} extensions Pillow opens, "
                  "such as .png .jpg .webp)")
            failed += 1
        files += [str(p) for p in sorted(found)]
    return files, failed
