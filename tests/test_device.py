"""Device discipline without a GPU: every path that runs on the model's device, run on fake tensors off the CPU.

`FakeTensorMode` gives tensors that carry a device, dtype and shape but no data, and it checks every op's
devices as a GPU would: a tensor built on the CPU inside a forward (`torch.arange(n)` without `device=`) meeting
one on the model's device raises `FakeTensorDeviceMismatchError` here, on a CPU-only machine, where on a GPU it
would crash. A value read back to the host (`.item()`, `.tolist()`, `if tensor.any():`) raises too: that is a
host sync, which belongs at the entry points (`siglip2_min/checks.py`), so the forwards here run with `check=False`.

The model's device is a fake "meta" device, not a fake "cuda" one: on the CPU-only build of torch, Python
indexing (`x[:, -1]`), SDPA and autograd on a fake DEVICE tensor call the DEVICE runtime (its device guard) and fail
for that reason alone. Any device other than the CPU catches the same mistakes; the resize, the bug first found
with a fake CUDA table, is also checked on "cuda:0" (not "cuda": a bare "cuda" asks the driver for its index).
"""

import pytest
import torch
from PIL import Image
from torch._subclasses.fake_tensor import FakeTensorMode

import siglip2_min.api as api_module
import siglip2_min.model as model_module
from siglip2_min.api import embed_images, embed_texts, image_text_logits
from siglip2_min.config import SigLIP2Config, TextConfig, VisionConfig
from siglip2_min.finetune import pair_loss, set_trainable
from siglip2_min.loss import chunked_sigmoid_loss, sigmoid_loss
from siglip2_min.model import ImageClassifier, SigLIP2
from siglip2_min.processor import load_processor
from siglip2_min.train import param_groups
from siglip2_min.vision import resize_position_table
from siglip2_min.hub import BUNDLED
from siglip2_min.weights import read_config

DEVICE = torch.device("meta")  # the model's device (see the module docstring)
TEXT = TextConfig(vocab_size=50, hidden_size=16, intermediate_size=24, num_hidden_layers=1, num_attention_heads=2,
                  projection_size=24)
NAFLEX = VisionConfig(hidden_size=24, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, patch_size=2,
                      num_patches=16)
FIXRES = VisionConfig(hidden_size=24, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, patch_size=2,
                      num_patches=16, naflex=False, image_size=8)
CONFIGS = {"naflex": SigLIP2Config(text=TEXT, vision=NAFLEX),
           "fixres": SigLIP2Config(text=TEXT, vision=FIXRES, model_type="siglip")}


def fake_on_device(module):
    """The module with every parameter replaced by an (uninitialised) fake DEVICE tensor of the same shape."""
    for m in module.modules():
        for name, p in m.named_parameters(recurse=False):
            setattr(m, name, torch.nn.Parameter(torch.empty(p.shape, dtype=p.dtype, device=DEVICE)))
    assert not list(module.buffers()), "the model has no buffers; if one is added, move it here too"
    return module


def build(cls, config, attn):
    with torch.device("meta"):  # shapes only; the fake DEVICE tensors replace them below
        return fake_on_device(cls(config, attn=attn))


def image_inputs(config, B=3, N=12):
    """Patches [B, N, p*p*3], mask [B, N], spatial_shapes [B, 2], all on the fake DEVICE device."""
    v = config.vision
    if not v.naflex:
        N = v.num_patches
    pixel_values = torch.randn(B, N, v.patch_dim, device=DEVICE)
    shapes = [[3, 4], [1, 5], [2, 1]] if v.naflex else [[v.grid_size] * 2] * B
    return pixel_values, torch.ones(B, N, dtype=torch.long, device=DEVICE), torch.tensor(shapes).to(DEVICE)


@pytest.mark.parametrize("device", [DEVICE, torch.device("cuda", 0)])
def test_position_resize_stays_on_the_table_device(device):
    with FakeTensorMode():
        out = resize_position_table(torch.randn(4, 4, 8, device=device), 3, 5)  # [G, G, D] -> [h*w, D]
        assert out.device == device and out.shape == (15, 8)


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("family", ["naflex", "fixres"])
def test_both_towers_and_the_loss_run_on_the_device(family, attn):
    with FakeTensorMode():
        model = build(SigLIP2, CONFIGS[family], attn).train()
        pixel_values, mask, shapes = image_inputs(model.config)
        input_ids = torch.randint(0, TEXT.vocab_size, (3, 64), device=DEVICE)
        out = model(input_ids, pixel_values, mask, shapes, return_loss=True, check=False)
        assert out.logits_per_image.device == DEVICE and out.logits_per_image.shape == (3, 3)
        assert out.loss.device == DEVICE and out.loss.shape == ()
        out.loss.backward()  # a training step's backward: every gradient lands on the device too
        assert {p.grad.device for p in model.parameters()} == {DEVICE}


def test_chunked_and_plain_loss_run_on_the_device_forward_and_backward():
    with FakeTensorMode():
        inputs = [torch.randn(5, 8, device=DEVICE), torch.randn(5, 8, device=DEVICE),  # [n, D] images, texts
                  torch.zeros(1, device=DEVICE), torch.zeros(1, device=DEVICE)]  # logit scale, bias
        inputs = [t.requires_grad_() for t in inputs]
        chunked_sigmoid_loss(*inputs, chunk_size=2).backward()  # its backward is written by hand
        sigmoid_loss(*inputs).backward()
        assert [t.grad.device for t in inputs] == [DEVICE] * 4


def test_image_classifier_runs_on_the_device():
    config = SigLIP2Config(text=TEXT, vision=NAFLEX, num_labels=4)
    with FakeTensorMode():
        model = build(ImageClassifier, config, "sdpa")
        logits = model(*image_inputs(config), check=False)
        assert logits.device == DEVICE and logits.shape == (3, 4)


def test_api_batching_moves_every_input_to_the_model_device(monkeypatch):
    # embed_images / embed_texts (and zero_shot, which is these two plus image_text_logits on the CPU) with the
    # bundled tiny model's config and processor. The entry-point checks read values on the host by design, which
    # fake tensors cannot; here they pass the inputs through unchanged (they are tested in test_model.py).
    monkeypatch.setattr(model_module, "check_image_inputs", lambda config, pv, mask, shapes: (mask, shapes))
    monkeypatch.setattr(model_module, "check_text_inputs", lambda config, ids: None)
    # The API's NaN/inf check reads results back on the CPU, after they left the device: fake tensors hold no values.
    monkeypatch.setattr(api_module, "_finite", lambda values, what: values)
    processor = load_processor()
    images = [Image.new("RGB", size, "red") for size in ((64, 32), (20, 90), (48, 48))]
    with FakeTensorMode():
        model = build(SigLIP2, read_config(BUNDLED), "sdpa")
        image_embeds = embed_images(model, processor, images, batch_size=2, progress=False)  # two batches
        text_embeds = embed_texts(model, processor, ["a red square", "a blue star", "a circle"], batch_size=2,
                                  progress=False)
        logits = image_text_logits(model, image_embeds, text_embeds)
    E = model.config.text.projection_size
    assert image_embeds.shape == (3, E) and text_embeds.shape == (3, E) and logits.shape == (3, 3)
    assert {t.device.type for t in (image_embeds, text_embeds, logits)} == {"cpu"}  # results come back to the host


def test_one_finetuning_step_stays_on_the_model_device(monkeypatch):
    # What finetune.finetune does in a step, without its host-side loss readout: the processor's inputs moved to
    # the model's device, both towers, the sigmoid loss, backward and one AdamW step over finetune's groups.
    monkeypatch.setattr(model_module, "check_image_inputs", lambda config, pv, mask, shapes: (mask, shapes))
    monkeypatch.setattr(model_module, "check_text_inputs", lambda config, ids: None)
    processor = load_processor()
    images = [Image.new("RGB", size, "red") for size in ((64, 32), (20, 90), (48, 48))]
    inputs = processor(images=images, text=["a red square", "a blue star", "a circle"])
    # The processor's tensors are real CPU tensors, made outside the mode: they become fake CPU tensors on use, so
    # one that is not moved to the model's device still fails the test.
    with FakeTensorMode(allow_non_fake_inputs=True):
        model = build(SigLIP2, read_config(BUNDLED), "sdpa")
        set_trainable(model, "all")
        opt = torch.optim.AdamW(param_groups(model, 1e-4), lr=1e-4)
        out = model(**{k: torch.as_tensor(v).to(DEVICE) for k, v in inputs.items()})
        loss = pair_loss(out.image_embeds.float(), out.text_embeds.float(), model, world=1)
        loss.backward()
        opt.step()
    assert loss.device == DEVICE and all(p.grad.device == DEVICE for p in model.parameters() if p.requires_grad)
