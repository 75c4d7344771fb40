"""Reading an HF-format SigLIP / SigLIP2 checkpoint folder into a nested dict of numpy arrays.

Mirrors `siglip2_min/weights.py`. The folder is what `save_pretrained` writes and what the hub serves:
`config.json` plus `model.safetensors` (or shards listed in `model.safetensors.index.json`). Only safetensors are
read (never pickle). Keys keep the checkpoint's names, split on dots, so `params["vision_model"]["encoder"]
["layers"][3]["self_attn"]["q_proj"]["weight"]` is `vision_model.encoder.layers.3.self_attn.q_proj.weight`.

`to_twin` is the one place where arrays change layout: every Linear weight is transposed to [in, out] (so the
forward is `x @ weight + bias`) and the FixRes Conv2d patch embedding becomes a Linear over (py, px, c)-flattened
patches. Nothing else is touched.

Letters (docs/model/index.md): D width, p patch side, G side of the position grid, F MLP width, V vocabulary,
C classes; patches have 3 channels (c).
"""

import json
import os

import numpy as np
from safetensors.numpy import load_file

# HF config defaults (transformers `Siglip2TextConfig`, `Siglip2VisionConfig`, `SiglipVisionConfig`): a published
# config.json omits every field equal to its default, so these are part of reading one.
TEXT_DEFAULTS = dict(num_attention_heads=12, layer_norm_eps=1e-6, hidden_act="gelu_pytorch_tanh", vocab_size=32000,
                     max_position_embeddings=64)
VISION_DEFAULTS = dict(
    num_attention_heads=12, layer_norm_eps=1e-6, hidden_act="gelu_pytorch_tanh", num_channels=3, patch_size=16,
    num_patches=256, image_size=224, vision_use_head=True,
)
FAMILIES = {"siglip2": "naflex", "siglip": "fixres"}  # config.json model_type -> checkpoint family
# HF's one-tower classes (Siglip2VisionModel, ...): the twin reads two-tower and classifier checkpoints only
ONE_TOWER = ("siglip2_vision_model", "siglip_vision_model", "siglip2_text_model", "siglip_text_model")


def read_config(folder):
    """The few config fields the forward pass needs; every width and depth is read off the weights instead."""
    path = os.path.join(folder, "config.json")
    if not os.path.isfile(path):
        raise ValueError(f"{folder!r} is not a checkpoint folder: no config.json")
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path} must hold a JSON object, got {type(raw).__name__}")
    model_type = raw.get("model_type")
    if model_type in ONE_TOWER:
        raise ValueError(f"{path}: model_type {model_type!r} is a one-tower checkpoint; the numpy twin reads "
                         "two-tower and image-classification checkpoints only (siglip2_min.load_model reads one tower)")
    if model_type not in FAMILIES:
        raise ValueError(f"config.json model_type must be 'siglip2' (NaFlex) or 'siglip' (FixRes), got {model_type!r}")
    subs = {name: {} if raw.get(name) is None else raw[name] for name in ("text_config", "vision_config")}
    for name, sub in subs.items():
        if not isinstance(sub, dict):
            raise ValueError(f"{path}: {name} must be a JSON object, got {type(sub).__name__}")
    text = {**TEXT_DEFAULTS, **subs["text_config"]}
    vision = {**VISION_DEFAULTS, **subs["vision_config"]}
    for name, tower in (("text_config", text), ("vision_config", vision)):
        if tower["hidden_act"] != "gelu_pytorch_tanh":  # every SigLIP2 checkpoint uses the tanh approximation
            raise ValueError(f"{name}.hidden_act {tower['hidden_act']!r} is not supported (only gelu_pytorch_tanh)")
    # An image classifier (HF Siglip2ForImageClassification) mean-pools the vision tower: no text tower, no MAP head.
    architectures = raw.get("architectures") or []
    classifier = {"Siglip2ForImageClassification", "SiglipForImageClassification"} & set(
        architectures if isinstance(architectures, list) else [])
    labels = raw.get("id2label") if classifier else {}
    if not isinstance(labels, dict):
        raise ValueError(f"{path}: id2label must be a JSON object of class names, got {type(labels).__name__}")
    num_labels = len(labels)
    if classifier and num_labels < 1:
        raise ValueError("an image-classification config.json needs an id2label with at least one class")
    if not classifier and not vision["vision_use_head"]:
        raise ValueError("vision_config.vision_use_head = false is not supported: the model pools with the MAP head")
    for key in ("patch_size", "image_size"):
        if isinstance(vision[key], (list, tuple)):  # HF allows (h, w); SigLIP checkpoints are square
            if vision[key][0] != vision[key][1]:
                raise ValueError(f"vision_config.{key} must be square, got {vision[key]}")
            vision[key] = vision[key][0]
    for name, tower, keys in (("text_config", text, ("num_attention_heads", "vocab_size", "max_position_embeddings")),
                              ("vision_config", vision, ("num_attention_heads", "num_channels", "patch_size",
                                                         "num_patches", "image_size"))):
        for key in keys:  # a zero or a string would fail deep in the forward pass (a division, a reshape)
            if isinstance(tower[key], bool) or not isinstance(tower[key], int) or tower[key] < 1:
                raise ValueError(f"{path}: {name}.{key} is {tower[key]!r}, expected a positive integer")
        eps = tower["layer_norm_eps"]
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps < 1:
            raise ValueError(f"{path}: {name}.layer_norm_eps is {eps!r}, expected a number in (0, 1)")
    naflex = FAMILIES[model_type] == "naflex"
    # NaFlex: a square table of num_patches (256 = 16x16) resized per image; FixRes: one fixed (S/p) x (S/p) grid
    # (So400m/14 at 384: 384 // 14 = 27, the convolution drops the last 6 pixel rows and columns).
    grid_size = int(round(vision["num_patches"] ** 0.5)) if naflex else vision["image_size"] // vision["patch_size"]
    return dict(
        family=FAMILIES[model_type], num_labels=num_labels,
        text=dict(num_heads=text["num_attention_heads"], eps=text["layer_norm_eps"], vocab_size=text["vocab_size"],
                  max_position_embeddings=text["max_position_embeddings"]),
        vision=dict(num_heads=vision["num_attention_heads"], eps=vision["layer_norm_eps"], naflex=naflex,
                    patch_size=vision["patch_size"], num_channels=vision["num_channels"], grid_size=grid_size,
                    use_head=not classifier),
    )


def read_safetensors(folder):
    """{checkpoint name: array} from model.safetensors, or from every shard its index lists."""
    index = os.path.join(folder, "model.safetensors.index.json")
    single = os.path.join(folder, "model.safetensors")
    if os.path.isfile(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    elif os.path.isfile(single):
        files = ["model.safetensors"]
    else:
        raise ValueError(f"no model.safetensors (or model.safetensors.index.json) in {folder!r}")
    state = {}
    for name in files:
        try:
            tensors = load_file(os.path.join(folder, name))
        except TypeError as e:  # numpy has no bfloat16: safetensors.numpy refuses BF16 tensors (without ml_dtypes)
            raise ValueError(f"{name}: {e}; convert the checkpoint to float32 to read it with numpy") from e
        for key, array in tensors.items():  # with ml_dtypes installed BF16 loads: refused the same way, and ints
            if array.dtype not in (np.float16, np.float32, np.float64):
                raise ValueError(f"{name}: tensor {key!r} is stored as {array.dtype}; the twin reads float16/32/64 "
                                 "weights: convert the checkpoint to float32 to read it with numpy")
        state.update(tensors)
    return state


def encoder_shapes(state, tower, width):
    """{name: shape} of one tower's encoder layers; depth and MLP width read off `state`."""
    F = state[f"{tower}.encoder.layers.0.mlp.fc1.weight"].shape[0]
    depth = 1 + max(int(k.split(".")[3]) for k in state if k.startswith(f"{tower}.encoder.layers."))
    shapes = {}
    for i in range(depth):
        pre = f"{tower}.encoder.layers.{i}"
        for ln in ("layer_norm1", "layer_norm2"):
            shapes[f"{pre}.{ln}.weight"] = shapes[f"{pre}.{ln}.bias"] = (width,)
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            shapes[f"{pre}.self_attn.{proj}.weight"] = (width, width)
            shapes[f"{pre}.self_attn.{proj}.bias"] = (width,)
        shapes[f"{pre}.mlp.fc1.weight"], shapes[f"{pre}.mlp.fc1.bias"] = (F, width), (F,)
        shapes[f"{pre}.mlp.fc2.weight"], shapes[f"{pre}.mlp.fc2.bias"] = (width, F), (width,)
    return shapes


def expected_shapes(state, config):
    """{name: shape} the checkpoint must hold (a two-tower model, or an image classifier), sizes read off `state`."""
    required = ["vision_model.embeddings.patch_embedding.weight"]
    required += ["classifier.weight"] if config["num_labels"] else ["text_model.head.weight"]
    for name in required:
        if name not in state:
            kind = "an image-classification" if config["num_labels"] else "a SigLIP two-tower"
            raise ValueError(f"not {kind} checkpoint: {name} is missing")
    D = state["vision_model.embeddings.patch_embedding.weight"].shape[0]  # vision width
    Fv = state["vision_model.encoder.layers.0.mlp.fc1.weight"].shape[0]  # vision MLP width
    shapes = encoder_shapes(state, "vision_model", D)
    shapes.update({
        "vision_model.embeddings.patch_embedding.weight": state["vision_model.embeddings.patch_embedding.weight"].shape,
        "vision_model.embeddings.patch_embedding.bias": (D,),
        "vision_model.embeddings.position_embedding.weight": (
            state["vision_model.embeddings.position_embedding.weight"].shape[0], D),
        "vision_model.post_layernorm.weight": (D,), "vision_model.post_layernorm.bias": (D,),
    })
    if config["num_labels"]:
        C = config["num_labels"]
        shapes.update({"classifier.weight": (C, D), "classifier.bias": (C,)})
        return shapes
    shapes.update({
        "vision_model.head.probe": (1, 1, D),
        "vision_model.head.attention.in_proj_weight": (3 * D, D), "vision_model.head.attention.in_proj_bias": (3 * D,),
        "vision_model.head.attention.out_proj.weight": (D, D), "vision_model.head.attention.out_proj.bias": (D,),
        "vision_model.head.layernorm.weight": (D,), "vision_model.head.layernorm.bias": (D,),
        "vision_model.head.mlp.fc1.weight": (Fv, D), "vision_model.head.mlp.fc1.bias": (Fv,),
        "vision_model.head.mlp.fc2.weight": (D, Fv), "vision_model.head.mlp.fc2.bias": (D,),
        "logit_scale": (1,), "logit_bias": (1,),
    })
    Dt = state["text_model.embeddings.token_embedding.weight"].shape[1]  # D of the text tower
    V = state["text_model.embeddings.token_embedding.weight"].shape[0]  # vocabulary (256000 in real checkpoints)
    L = state["text_model.embeddings.position_embedding.weight"].shape[0]  # text length (64)
    E = state["text_model.head.weight"].shape[0]  # embedding width (1536 for giant-opt's text tower)
    shapes.update(encoder_shapes(state, "text_model", Dt))
    shapes.update({
        "text_model.embeddings.token_embedding.weight": (V, Dt),
        "text_model.embeddings.position_embedding.weight": (L, Dt),
        "text_model.final_layer_norm.weight": (Dt,), "text_model.final_layer_norm.bias": (Dt,),
        "text_model.head.weight": (E, Dt), "text_model.head.bias": (E,),
    })
    return shapes


def check_state(state, config):
    """Fail loudly, naming the key, on a missing, unexpected or wrongly shaped tensor, or one config disagrees with.

    Returns the tensors the model uses.
    """
    if config["num_labels"]:  # HF's classifier keeps the MAP head's weights but mean-pools instead: skip them
        state = {k: v for k, v in state.items() if not k.startswith("vision_model.head.")}
    try:
        shapes = expected_shapes(state, config)
    except KeyError as e:
        raise ValueError(f"checkpoint is missing {e.args[0]}") from e
    missing = sorted(set(shapes) - set(state))
    unexpected = sorted(set(state) - set(shapes))
    if missing:
        raise ValueError(f"checkpoint is missing {len(missing)} tensors, first {missing[:3]}")
    if unexpected:
        raise ValueError(f"checkpoint has {len(unexpected)} unexpected tensors, first {unexpected[:3]}")
    for name, shape in shapes.items():
        if tuple(state[name].shape) != tuple(shape):
            raise ValueError(f"{name} has shape {tuple(state[name].shape)}, expected {tuple(shape)}")
    v, t = config["vision"], config["text"]
    D = state["vision_model.post_layernorm.weight"].shape[0]
    from_config = {  # the sizes config.json states, against the tensors
        "vision_model.embeddings.position_embedding.weight": (v["grid_size"] ** 2, D),
        "vision_model.embeddings.patch_embedding.weight": (
            (D, v["num_channels"], v["patch_size"], v["patch_size"]) if not v["naflex"]
            else (D, v["patch_size"] ** 2 * v["num_channels"])),
    }
    if not config["num_labels"]:
        from_config["text_model.embeddings.token_embedding.weight"] = (t["vocab_size"], None)
        from_config["text_model.embeddings.position_embedding.weight"] = (t["max_position_embeddings"], None)
    for name, shape in from_config.items():
        actual = tuple(state[name].shape)
        if any(want is not None and want != got for want, got in zip(shape, actual)) or len(shape) != len(actual):
            raise ValueError(f"{name} has shape {actual}, but config.json implies {shape} (None: any)")
    for tower, cfg in (("vision_model", v), ("text_model", t))[: 1 if config["num_labels"] else 2]:
        width = state[f"{tower}.encoder.layers.0.layer_norm1.weight"].shape[0]
        if width % cfg["num_heads"]:
            raise ValueError(f"{tower} width {width} is not divisible by num_attention_heads {cfg['num_heads']}")
    return state


def nest(state):
    """'a.b.3.c' -> params['a']['b'][3]['c']: numeric parts become list indices, as in the checkpoint's modules."""
    params = {}
    for name, array in state.items():
        *path, leaf = name.split(".")
        node = params
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = array
    return _lists(params)


def _lists(node):
    if not isinstance(node, dict):
        return node
    if node and all(k.isdigit() for k in node):
        return [_lists(node[str(i)]) for i in range(len(node))]
    return {k: _lists(v) for k, v in node.items()}


def to_twin(state, dtype):
    """Checkpoint tensors -> the twin's layout, in `dtype`. Every transpose and reshape of a weight is here.

    - Linear weights [out, in] -> [in, out], so every projection is `x @ weight + bias`.
    - FixRes patch embedding: Conv2d [D, 3, p, p] -> Linear [p*p*3, D] over patches flattened in (py, px, c)
      order (a stride-p, kernel-p convolution is exactly that Linear: docs/model/embeddings.md).
      This includes the MAP head's fused `in_proj_weight` [3D, D] (nn.MultiheadAttention: q, k, v stacked),
      which becomes [D, 3D] with q, k, v side by side.
    """
    state = {k: np.asarray(v, dtype=dtype) for k, v in state.items()}
    twin = {}
    for name, w in state.items():
        if name == "vision_model.embeddings.patch_embedding.weight" and w.ndim == 4:
            w = w.transpose(0, 2, 3, 1).reshape(w.shape[0], -1)  # [D, 3, p, p] -> [D, p, p, 3] -> [D, p*p*3]
        is_table = "token_embedding" in name or "position_embedding" in name  # nn.Embedding: looked up, not applied
        is_linear = name.endswith("weight") and w.ndim == 2 and not is_table  # "weight" also ends in_proj_weight
        twin[name] = np.ascontiguousarray(w.T) if is_linear else w  # [out, in] -> [in, out]
    return nest(twin)
