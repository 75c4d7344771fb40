"""Writing files so that a failure never costs the user data: check first, write to a temporary name, then rename.

Every file or folder the project writes (embeddings, trained or fine-tuned models, demo images, exports, golden
files) goes through here:
- `check_output(path)` before any work starts: the parent folder exists and is writable, the path is not a folder
  (or not a file, for a folder output), and it does not exist unless the caller passed `overwrite=True`;
- `write_file(path, write)` hands `write` an open file under a temporary name in the same folder, and only when it
  returns is the file fsynced and moved into place with `os.replace` (atomic on POSIX). A crash, a full disk or an
  exception leaves the old file, or nothing;
- `output_folder(path)` does the same for a folder: the caller fills a temporary sibling folder, which is renamed
  into place when the `with` block ends without an error.
"""

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


class OutputError(OSError):
    """An output path that cannot be written, or that exists and would be overwritten without `overwrite=True`."""


def check_output(path, overwrite=False, folder=False):
    """Check that `path` can be written (as a file, or a folder with `folder=True`) before any work; returns a Path."""
    if not str(path):
        raise OutputError("the output path is empty")
    path = Path(path)
    kind = "folder" if folder else "file"
    if path.exists() or path.is_symlink():
        if folder and not path.is_dir():
            raise OutputError(f"{path}: exists and is not a folder")
        if not folder and path.is_dir():
            raise OutputError(f"{path}: is a folder; give a file name")
        if not overwrite:
            raise OutputError(f"{path}: already exists; pass --overwrite (overwrite=True) to replace it")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{path}: cannot write the {kind}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: cannot write the {kind}: the folder {parent} is not writable")
    return path


def write_file(path, write, overwrite=False, mode="wb"):
    """Call `write(f)` on a temporary file beside `path`, then move it to `path`; nothing is left on failure."""
    path = check_output(path, overwrite)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path, text, overwrite=False):
    return write_file(path, lambda f: f.write(text), overwrite, mode="w")


@contextmanager
def output_folder(path, overwrite=False):
    """Yield a temporary folder beside `path` to fill; it becomes `path` only if the block ends without an error.

    With `overwrite=True` an existing folder is replaced only after the new one is complete (moved aside, the new
    one renamed in, then the old one removed), so the old folder survives any failure before that point.
    """
    path = check_output(path, overwrite, folder=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        tmp.chmod(0o755)
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
