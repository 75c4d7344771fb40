"""Loading HF-format checkpoints: `config.json` plus safetensors, copied into the modules by name.

Upstream: HF `modeling_utils.PreTrainedModel.from_pretrained` (the folder layout and shard index) and
`convert_siglip2_to_hf.py` (the parameter names). Module and parameter names here are the checkpoint's, so
loading is a copy by name plus this short list of transforms:

1. FixRes checkpoints store the patch embedding as Conv2d weights [D, 3, p, p]; a stride-p, kernel-p convolution
   is a Linear over patches flattened in (py, px, c) order, so the weight becomes
   `W.permute(0, 2, 3, 1).reshape(D, p*p*3)`.
2. Image-classification checkpoints carry `vision_model.head.*`, which HF's classifier never uses (it
   mean-pools); those tensors are skipped.

`hf_state_dict(model)` undoes this list (a dropped tensor stays dropped): what `train.py` saves, and what any
code that writes a model back to the HF layout should save.

Safetensors only: a `.bin`/`.pt` pickle can execute code when loaded, so it is refused. Tensors are read one at
a time into modules built on the meta device, so at no point are two full copies of the weights in memory.
"""

import json
from dataclasses import replace
from pathlib import Path

import torch
from safetensors import safe_open

from .hf_config import from_hf_config
from .hub import resolve_model
from .layers import check_attn
from .model import ImageClassifier, SigLIP2

PATCH_KEY = "vision_model.embeddings.patch_embedding.weight"
TOWERS = ("both", "vision", "text")


class CheckpointError(ValueError):
    """A checkpoint folder that cannot be loaded: the message names the file or key and the shapes."""


def read_config(folder):
    """The model config from `folder/config.json`."""
    file = Path(folder) / "config.json"
    if not file.is_file():
        raise FileNotFoundError(f"{file} is missing: a model folder needs config.json and model.safetensors")
    try:
        return from_hf_config(json.loads(file.read_text()))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{file} is not valid JSON: {e}") from None
    except (ValueError, TypeError) as e:  # every value is checked (hf_config.py): the message names the key
        raise CheckpointError(f"{file}: {e}") from None


def keep_towers(config, towers):
    """`config` with only `towers` ("both", "vision" or "text"); a ValueError when it lacks one of them."""
    missing = [t for t in ("vision", "text") if towers in ("both", t) and getattr(config, t) is None]
    if missing:
        raise ValueError(f"the checkpoint has no {missing[0]} tower (it holds the {config.towers} tower only); "
                         f"load it with towers={config.towers!r}")
    if config.num_labels and towers != "vision":
        raise ValueError("an image-classification checkpoint has no text tower; load it with towers='vision' "
                         "(or leave towers out)")
    return replace(config, text=config.text if towers != "vision" else None,
                   vision=config.vision if towers != "text" else None)


def checkpoint_files(folder):
    """{tensor name: safetensors file}: one `model.safetensors`, or the shards of `model.safetensors.index.json`."""
    folder = Path(folder)
    index, single = folder / "model.safetensors.index.json", folder / "model.safetensors"
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise CheckpointError(f"{index} is not a valid shard index (needs a 'weight_map'): {e}") from None
        return {name: folder / shard for name, shard in weight_map.items()}
    if single.is_file():
        return {name: single for name in _open(single).keys()}
    pickles = sorted(p.name for p in folder.glob("*.bin")) + sorted(p.name for p in folder.glob("*.pt"))
    hint = (f" Found {pickles}: pickle files can run arbitrary code when loaded, so they are not read; convert "
            "them with transformers (`from_pretrained(...).save_pretrained(dir)` writes safetensors).") if pickles else ""
    raise FileNotFoundError(f"no model.safetensors or model.safetensors.index.json in {folder}.{hint}")


def _open(file):
    try:
        return safe_open(str(file), framework="pt")
    except FileNotFoundError:
        raise FileNotFoundError(f"checkpoint shard {file} is missing") from None
    except Exception as e:  # safetensors raises its own error type for a truncated or corrupt header
        raise CheckpointError(f"{file} is not a readable safetensors file: {e}") from None


def _transform(name, tensor, config):
    """Map one checkpoint tensor to this package's layout; None drops it (see the module docstring)."""
    if config.num_labels and name.startswith("vision_model.head."):
        return None
    if name == PATCH_KEY and tensor.ndim == 4:
        D, C, p, _ = tensor.shape
        return tensor.permute(0, 2, 3, 1).reshape(D, p * p * C)  # Conv2d [D, 3, p, p] -> Linear [D, p*p*3]
    return tensor


def hf_state_dict(model):
    """The model's tensors under their checkpoint names and in the checkpoint's layout: the inverse of `_transform`.

    Loading a file and saving `hf_state_dict(model)` gives back its tensors bit for bit (less the classifier's
    unused MAP head); `transformers` loads the result. The tensors share the parameters' memory (no second copy
    of the model), each contiguous and apart from the others, as `safetensors.torch.save_file` requires.
    """
    state = {name: t.detach().contiguous() for name, t in model.state_dict().items()}
    if model.config.vision is not None and not model.config.vision.naflex:  # FixRes: Linear [D, p*p*3] -> Conv2d [D, 3, p, p], inverting transform 1
        D, P = state[PATCH_KEY].shape
        p = model.config.vision.patch_size
        state[PATCH_KEY] = state[PATCH_KEY].reshape(D, p, p, P // (p * p)).permute(0, 3, 1, 2).contiguous()
    return state


def select_towers(files, stored, config):
    """({module name: file}, {module name: name in the file}) for the tensors of `config`'s towers.

    `stored` is the checkpoint's own config (`read_config`): a one-tower HF folder names its tensors without the
    `vision_model.` / `text_model.` prefix (transformers 5's `Siglip2VisionModel.save_pretrained`) or with it
    (transformers 4's), so the prefix is added where it is missing. The other tower's tensors, and the pair's
    `logit_scale` / `logit_bias` in a one-tower model, are never read.
    """
    if stored.towers != "both":
        prefix = f"{stored.towers}_model."
        names = {name if name.startswith(prefix) else prefix + name: name for name in files}
    else:
        names = {name: name for name in files}
    keep = {"both": ("",), "vision": ("vision_model.", "classifier."), "text": ("text_model.",)}[config.towers]
    names = {name: old for name, old in names.items() if name.startswith(keep)}
    return {name: files[old] for name, old in names.items()}, names


def load_model(path=None, dtype=torch.float32, device="cpu", attn="sdpa", towers=None):
    """Load a SigLIP2 checkpoint folder (HF layout) into `SigLIP2`, or `ImageClassifier` for a classifier.

    path: a folder with `config.json` and `model.safetensors` (or shards); None loads the bundled tiny model.
    dtype: torch.float32, torch.bfloat16 or torch.float16 (float64 for parity tests); device: "cpu", "cuda", ...
    attn: "sdpa" (fused kernel) or "eager" (the formula written out; same numbers to float rounding).
    towers: "vision", "text" or "both": build and read only these (an image-only user skips the text tower's
    256k-token embedding); None: every tower the checkpoint has (one for an HF `Siglip2VisionModel` folder).
    """
    check_attn(attn)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype such as torch.float32, got {dtype!r}")
    if towers not in (None, *TOWERS):
        raise ValueError(f"towers must be 'vision', 'text', 'both' or None (every tower the checkpoint has), "
                         f"got {towers!r}")
    folder = resolve_model(path, files=("config.json",))  # the weights' files are checked below, by name
    stored = read_config(folder)
    try:
        config = stored if towers is None else keep_towers(stored, towers)
    except ValueError as e:
        raise CheckpointError(f"{folder}: {e}") from None
    with torch.device("meta"):  # shapes only: the real tensors come from the file
        model = (ImageClassifier if config.num_labels else SigLIP2)(config, attn=attn)
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}

    files, source = select_towers(checkpoint_files(folder), stored, config)
    handles = {file: _open(file) for file in set(files.values())}
    state, problems = {}, []
    for name, file in files.items():
        if name not in expected:
            if not (config.num_labels and name.startswith("vision_model.head.")):
                problems.append(f"unexpected tensor {name!r} in {file.name}")
            continue
        try:
            tensor = handles[file].get_tensor(source[name])
        except Exception as e:
            raise CheckpointError(f"cannot read tensor {name!r} from {file}: {e}") from None
        if not tensor.dtype.is_floating_point:  # an int/bool weight would be cast silently by .to(dtype)
            problems.append(f"{name!r} is stored as {tensor.dtype} in {file.name}; weights must be floating point")
            continue
        tensor = _transform(name, tensor, config)
        if tuple(tensor.shape) != expected[name]:
            problems.append(f"{name!r} has shape {tuple(tensor.shape)} in {file.name}, the config needs {expected[name]}")
            continue
        state[name] = tensor.to(device=device, dtype=dtype)  # one tensor at a time: no second full copy
    problems += [f"missing tensor {name!r} (shape {shape})" for name, shape in expected.items() if name not in files]
    if problems:
        shown = "\n  ".join(problems[:20]) + (f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else "")
        raise CheckpointError(f"checkpoint {folder} does not match its config.json:\n  {shown}")
    model.load_state_dict(state, assign=True)
    return model.eval().requires_grad_(False)
