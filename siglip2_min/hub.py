"""Find a model folder from what a user typed: a folder, a Hugging Face id, or nothing (the bundled tiny model).

The one resolver of the package: `load_model`, `load_processor` and the command line all call
`resolve_model(M, files=...)` with the files each of them reads, and it answers "which folder holds M?" in
this order:
1. `M is None`: the tiny model bundled inside the package (`siglip2_min/assets/tiny/`).
2. an existing folder: that folder, when it holds `files`.
3. an HF id `owner/name` (e.g. `google/siglip2-base-patch16-naflex`):
   a. `$SIGLIP2_CHECKPOINTS/name/` (a plain folder of files, for machines that cannot download);
   b. the local HF cache, `$HF_HUB_CACHE` or `$HF_HOME/hub` or `~/.cache/huggingface/hub`, in its layout
      `models--owner--name/snapshots/<revision>/` (the revision named by `refs/main` first);
   c. a download with `huggingface_hub.snapshot_download`, when that package is installed and the machine is
      online (it writes into the HF cache, so the next run finds it in step b).
   Otherwise a `FileNotFoundError` that says exactly which files to put where.

Nothing here imports `huggingface_hub` unless step 3c runs: the core package does not depend on it.
Upstream: `huggingface_hub.constants` (cache location rules) and `file_download` (cache layout).
"""

import os
from pathlib import Path

BUNDLED = Path(__file__).parent / "assets" / "tiny"  # the tiny model trained by `python -m siglip2_min.train`

# What a model folder must hold for `load_model` + `load_processor`: the HF layout of the published checkpoints
# (a hub snapshot or download counts only when it holds all of these).
MODEL_FILES = ("config.json", "model.safetensors")
PROCESSOR_FILES = ("tokenizer.model", "preprocessor_config.json")
REQUIRED_FILES = MODEL_FILES + PROCESSOR_FILES
VISION_FILES = MODEL_FILES + ("preprocessor_config.json",)  # what an image-only command reads (no tokenizer)


def hf_cache_dir():
    """The HF hub cache folder, by the same rules as `huggingface_hub.constants.HF_HUB_CACHE`."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg).expanduser() / "huggingface" / "hub"


def is_hf_id(name):
    """True for strings shaped like a hub id, `owner/name`, with no path syntax of a local folder."""
    parts = str(name).split("/")
    return (
        len(parts) == 2
        and all(parts)
        and not str(name).startswith((".", "~"))
        and all(p not in (".", "..") for p in parts)
    )


def missing_files(folder, files=REQUIRED_FILES):
    """The names in `files` that `folder` lacks."""
    return [f for f in files if not (Path(folder) / f).is_file()]


def find_local(hf_id):
    """The folder holding `hf_id` on this machine (SIGLIP2_CHECKPOINTS, then the HF cache), or None.

    A folder counts only when it has every file of REQUIRED_FILES, so a half-finished download is not used.
    """
    if not is_hf_id(hf_id):
        raise ValueError(f"{hf_id!r} is not a Hugging Face id of the form 'owner/name'")
    owner, name = hf_id.split("/")
    candidates = []
    if os.environ.get("SIGLIP2_CHECKPOINTS"):
        root = Path(os.environ["SIGLIP2_CHECKPOINTS"]).expanduser()
        candidates += [root / name, root / owner / name]
    repo = hf_cache_dir() / f"models--{owner}--{name}"
    ref = repo / "refs" / "main"
    if ref.is_file():
        candidates.append(repo / "snapshots" / ref.read_text().strip())
    snapshots = repo / "snapshots"
    if snapshots.is_dir():
        # Newest first: with no refs/main (e.g. a copied cache) the latest download is the best guess. lstat: a
        # dangling link left by a cleaned-up cache has no target to stat, and is then skipped by is_dir below.
        candidates += sorted(snapshots.iterdir(), key=lambda p: p.lstat().st_mtime, reverse=True)
    for folder in candidates:
        if folder.is_dir() and not missing_files(folder):
            return folder
    for folder in candidates:  # the HF cache links each file to its blob: say so when a blob is gone
        dangling = [f for f in REQUIRED_FILES if (folder / f).is_symlink() and not (folder / f).exists()]
        if dangling:
            raise FileNotFoundError(
                f"{folder / dangling[0]} is a link to a file that no longer exists "
                f"({os.readlink(folder / dangling[0])}): the HF cache is damaged; delete {folder} and download "
                f"{hf_id} again"
            )
    return None


def how_to_get(hf_id):
    """The instructions shown when `hf_id` is neither on disk nor downloadable: which files, where to put them."""
    name = hf_id.split("/")[-1]
    root = os.environ.get("SIGLIP2_CHECKPOINTS") or "<a folder of your choice>"
    return (
        f"{hf_id} is not on this machine. Download these files from https://huggingface.co/{hf_id}/tree/main: "
        f"{', '.join(REQUIRED_FILES)}; put them in {Path(root) / name}/ and set SIGLIP2_CHECKPOINTS={root} "
        f"(or pass that folder to --model / load_model). On a machine that is online, "
        f"`pip install huggingface_hub` and this command download them into the HF cache ({hf_cache_dir()}) "
        f"by themselves; `hf download {hf_id} {' '.join(REQUIRED_FILES)}` does the same."
    )


def download(hf_id):
    """Download the REQUIRED_FILES of `hf_id` into the HF cache: `(folder, None)`, or `(None, reason)`.

    Impossible means: huggingface_hub not installed, HF_HUB_OFFLINE set, or the download failed (offline, no
    such repo, no access). The caller then shows `how_to_get`; the reason is appended to it.
    """
    try:
        import huggingface_hub
    except ImportError:
        return None, "huggingface_hub is not installed"
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        return None, "HF_HUB_OFFLINE is set"
    try:
        folder = huggingface_hub.snapshot_download(hf_id, allow_patterns=list(REQUIRED_FILES))
    except Exception as err:  # network errors, missing repo, gated repo: all mean "not downloadable from here"
        return None, f"download failed: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    lacking = missing_files(folder)
    if lacking:
        return None, f"the download has no {', '.join(lacking)}"
    return Path(folder), None


def resolve_model(name_or_path=None, allow_download=True, files=REQUIRED_FILES):
    """The folder to load for `name_or_path`: None (bundled tiny model), a folder, or an HF id. See the module doc.

    `files`: what the caller reads from a folder (`load_model` checks the weights itself: shards, pickles).
    Raises FileNotFoundError with a message that names what is missing and how to get it.
    """
    if name_or_path is None:
        lacking = missing_files(BUNDLED, files) if BUNDLED.is_dir() else ["every file (no such folder)"]
        if lacking:
            raise FileNotFoundError(
                f"the bundled model is missing: {BUNDLED} lacks {', '.join(lacking)}. Reinstall the "
                "package, or rebuild it with `python -m siglip2_min.train --out siglip2_min/assets/tiny --overwrite`, "
                "or pass a model (--model / load_model(path))."
            )
        return BUNDLED
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        lacking = missing_files(path, files)
        if lacking:
            raise FileNotFoundError(
                f"model folder {path} lacks {', '.join(lacking)} (a model folder holds {', '.join(REQUIRED_FILES)})"
            )
        return path
    if not is_hf_id(name_or_path):
        raise FileNotFoundError(
            f"model folder {str(name_or_path)!r} does not exist, and it is not a Hugging Face id of the form "
            "'owner/name' (e.g. google/siglip2-base-patch16-naflex)"
        )
    folder = find_local(name_or_path)
    if folder is not None:
        return folder
    reason = "downloads are turned off"
    if allow_download:
        folder, reason = download(name_or_path)
        if folder is not None:
            return folder
    raise FileNotFoundError(f"{how_to_get(name_or_path)} (No download: {reason}.)")
