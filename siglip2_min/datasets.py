"""Users' own data, in the two formats people already have, checked completely before any model work starts.

- **Class folder** (classification): `ROOT/<class name>/*.jpg`, one sub-folder per class; the class name is the
  folder name with `_` read as a space (`golden_retriever` -> "golden retriever"). Images may sit in deeper
  sub-folders of their class; hidden files and folders are skipped; any extension Pillow opens is an image.
- **Image-caption file** (retrieval, fine-tuning): CSV with a header row naming the columns `image` and `caption`
  (other columns are ignored), or JSONL with one object `{"image": ..., "caption": ...}` per line, where the caption
  may also be a list of captions. Image paths are relative to the file's folder (absolute ones are kept). An image
  may have several captions: several rows, or a list.

Problems are reported as `FILE:LINE: what is wrong`, all of them (the first 10 shown) in one `DatasetError`, and a
listed image that does not exist is such a problem: nothing has been computed when it is raised.
"""

import csv
import functools
import json
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

MAX_SHOWN = 10  # problems listed in one error message; the count of the rest follows


class DatasetError(ValueError):
    """A class folder or caption file that cannot be used; the message names every file and line at fault."""


@functools.cache
def image_suffixes():
    """Every extension Pillow opens (`PIL.Image.registered_extensions()`: .avif, .heic with a plugin, ...), less its
    stub formats (BUFR, GRIB, HDF5, WMF), which it can name but not decode without an extra handler."""
    from PIL import ImageFile

    Image.init()  # registers every plugin, not only the ones imported so far

    def decodes(fmt):
        factory = Image.OPEN.get(fmt, (None,))[0]
        return factory is not None and not (isinstance(factory, type) and issubclass(factory, ImageFile.StubImageFile))

    return frozenset(ext for ext, fmt in Image.registered_extensions().items() if decodes(fmt))


@dataclass(frozen=True)
class ClassFolder:
    """Images with integer targets: `paths[i]` is of class `class_names[targets[i]]`."""

    paths: list  # [N] image paths, class by class, sorted within each class
    targets: list  # [N] class index of each image
    class_names: list  # [C] from the folder names, `_` read as a space, in sorted folder order


@dataclass(frozen=True)
class Captions:
    """Image-caption pairs: `texts[j]` describes `images[text_image[j]]`; every image has at least one text."""

    images: list  # [N] distinct image paths, in the order of their first row
    texts: list  # [T] captions, in file order
    text_image: list  # [T] index into `images` of each caption's image
    lines: list  # [T] the file line each caption came from, for messages


def _raise_if(problems, what):
    if problems:
        more = f"\n  ... and {len(problems) - MAX_SHOWN} more" if len(problems) > MAX_SHOWN else ""
        raise DatasetError(f"{what}: {len(problems)} problem(s):\n  " + "\n  ".join(problems[:MAX_SHOWN]) + more)


def _visible_files(folder, suffixes):
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in suffixes and p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def read_class_folder(root):
    """The images of `ROOT/<class>/...` with their class indices (see the module docstring)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder (expected ROOT/<class name>/<images>)")
    suffixes = image_suffixes()
    problems = [f"{p}: an image outside any class folder (put it in ROOT/<class name>/)"
                for p in sorted(root.iterdir()) if p.is_file() and p.suffix.lower() in suffixes]
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    names, seen = [], {}
    paths, targets = [], []
    for folder in folders:
        name = " ".join(folder.name.replace("_", " ").split())
        if not name:
            problems.append(f"{folder}: a class folder needs a name")
        elif name in seen:
            problems.append(f"{folder}: class {name!r} again (also {seen[name]})")
        seen.setdefault(name, folder)
        files = _visible_files(folder, suffixes)
        if not files:
            problems.append(f"{folder}: class folder without images")
        paths += files
        targets += [len(names)] * len(files)
        names.append(name)
    if len(folders) < 2 and not problems:
        problems.append(f"{root}: needs at least two class folders, found {[f.name for f in folders]}")
    problems += unreadable_images(paths)
    _raise_if(problems, f"class folder {root}")
    return ClassFolder([str(p) for p in paths], targets, names)


def unreadable_images(paths, lines=None, source=None):
    """One message per path that is missing or whose header Pillow cannot read (the pixels are not decoded)."""
    problems = []
    for i, path in enumerate(paths):
        where = f"{source}:{lines[i]}: " if lines else ""
        try:
            with Image.open(path) as image:
                image.size  # the header is read by open(); this only names what was checked
        except FileNotFoundError:
            problems.append(f"{where}{path}: no such image file")
        except (OSError, ValueError) as err:  # includes Pillow's UnidentifiedImageError and folders
            problems.append(f"{where}{path}: not a readable image ({err})")
    return problems


def read_captions(file):
    """The image-caption pairs of a CSV or JSONL file (see the module docstring); every image checked first."""
    file = Path(file)
    if not file.is_file():
        raise DatasetError(f"{file}: no such caption file")
    suffix = file.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise DatasetError(f"{file}: a caption file is .csv (header image,caption) or .jsonl "
                           f'({{"image": ..., "caption": ...}} per line), got {suffix or "no extension"!r}')
    try:
        text = file.read_text(encoding="utf-8-sig")  # -sig: a byte-order mark from spreadsheet exports is skipped
    except UnicodeDecodeError as err:
        raise DatasetError(f"{file}: not UTF-8 text ({err})") from None
    rows, problems = (_csv_rows if suffix == ".csv" else _jsonl_rows)(text, file)
    if not rows and not problems:
        problems.append(f"{file}: no image-caption rows")
    images, index, texts, text_image, lines, first_lines = [], {}, [], [], [], []
    for line, image, caption in rows:
        path = Path(image) if Path(image).is_absolute() else file.parent / image
        if path not in index:
            index[path] = len(images)
            images.append(path)
            first_lines.append(line)
        texts.append(caption)
        text_image.append(index[path])
        lines.append(line)
    problems += unreadable_images(images, first_lines, file)
    _raise_if(problems, f"caption file {file}")
    return Captions([str(p) for p in images], texts, text_image, lines)


def _check_row(file, line, image, caption):
    """'' when the row is good, else the message."""
    if not isinstance(image, str) or not image.strip():
        return f"{file}:{line}: the image path is empty"
    if not isinstance(caption, str) or not caption.strip():
        return f"{file}:{line}: the caption of {image} is empty or not text ({caption!r})"
    return ""


def _csv_rows(text, file):
    reader = csv.reader(text.splitlines(keepends=True))
    rows, problems = [], []
    try:
        header = [h.strip().lower() for h in next(reader, [])]
        if "image" not in header or "caption" not in header:
            return [], [f"{file}:1: the header must name the columns 'image' and 'caption', got {header}"]
        i, c = header.index("image"), header.index("caption")
        line = reader.line_num
        for record in reader:
            start, line = line + 1, reader.line_num  # a quoted caption may span lines: report where the row starts
            if not record or not "".join(record).strip():
                continue
            if len(record) != len(header):
                problems.append(f"{file}:{start}: {len(record)} fields, the header has {len(header)}")
                continue
            problem = _check_row(file, start, record[i], record[c])
            problems += [problem] if problem else []
            rows += [] if problem else [(start, record[i].strip(), record[c])]
    except csv.Error as err:
        problems.append(f"{file}:{reader.line_num}: not valid CSV ({err})")
    return rows, problems


def _jsonl_rows(text, file):
    rows, problems = [], []
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as err:
            problems.append(f"{file}:{line}: not valid JSON ({err.msg})")
            continue
        if not isinstance(record, dict) or "image" not in record or "caption" not in record:
            got = raw.strip()[:80]
            problems.append(f'{file}:{line}: expected an object with keys "image" and "caption", got {got}')
            continue
        captions = record["caption"] if isinstance(record["caption"], list) else [record["caption"]]
        found = [_check_row(file, line, record["image"], c) for c in captions or [""]]
        problems += [p for p in found if p]
        if not any(found):
            rows += [(line, record["image"].strip(), c) for c in captions]
    return rows, problems
