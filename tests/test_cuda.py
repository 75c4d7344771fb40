"""CUDA: the same model on the GPU (SDPA) agrees with the CPU. Skipped on machines without a CUDA GPU."""

import pytest
import torch
import torch.nn.functional as F

import siglip2_min
from hf_fixtures import naflex_inputs, text_inputs
from tolerance import assert_close

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; run `python -m pytest tests/test_cuda.py` on one"),
]
SHAPES = [(4, 4), (2, 7), (1, 3), (3, 5), (5, 1)]


def run(model, device, dtype=torch.float32):
    pv, mask, ss = naflex_inputs(SHAPES, 16)
    with torch.no_grad():
        return model(input_ids=text_inputs(len(SHAPES)).to(device), pixel_values=pv.to(device, dtype),
                     pixel_attention_mask=mask.to(device), spatial_shapes=ss)


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_cuda_fp32_matches_cpu(naflex_checkpoint, attn):
    folder, _ = naflex_checkpoint
    cpu = run(siglip2_min.load_model(folder), "cpu")
    # TF32 matmuls would cost ~1e-3; the comparison is of fp32 kernels, so switch TF32 off for it.
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        gpu = run(siglip2_min.load_model(folder, device="cuda", attn=attn), "cuda")
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
    # fp32 on both, different kernels and reduction orders: within 1e-4 on logits of order 1-10.
    for name in ("logits_per_image", "image_embeds", "text_embeds"):
        assert_close(f"cuda {attn} {name}", getattr(gpu, name), getattr(cpu, name), 1e-4)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_cuda_half_precision_is_close_to_fp32(naflex_checkpoint, dtype):
    folder, _ = naflex_checkpoint
    ref = run(siglip2_min.load_model(folder), "cpu")
    half = run(siglip2_min.load_model(folder, device="cuda", dtype=dtype), "cuda", dtype)
    for name in ("image_embeds", "text_embeds"):
        cos = F.cosine_similarity(getattr(half, name).float().cpu(), getattr(ref, name), dim=-1)
        assert cos.min() >= 0.999, f"cuda {dtype} {name}: min cosine {cos.min():.5f}"


def test_cuda_tf32_is_close_to_fp32(naflex_checkpoint):
    folder, _ = naflex_checkpoint
    ref = run(siglip2_min.load_model(folder), "cpu")
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        fast = run(siglip2_min.load_model(folder, device="cuda"), "cuda")
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
    # TF32 keeps 10 mantissa bits in matmul inputs (roundoff ~5e-4): closer than bf16, looser than fp32.
    for name in ("image_embeds", "text_embeds"):
        cos = F.cosine_similarity(getattr(fast, name).cpu(), getattr(ref, name), dim=-1)
        assert cos.min() >= 0.9999, f"cuda tf32 {name}: min cosine {cos.min():.6f}"
