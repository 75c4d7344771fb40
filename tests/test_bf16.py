"""bfloat16 as a fast mode on the CPU: `load_model(..., dtype=torch.bfloat16)` against float32 on the bundled model.

bfloat16 keeps 8 significant bits (unit roundoff 2**-9 ~ 2e-3), so every matmul, LayerNorm and softmax rounds
its output at ~1e-3 relative; over the blocks of a tower these roundings add up like a random walk and tilt each
pooled embedding by a small angle theta, with cosine 1 - theta**2 / 2 to its float32 twin. Measured here: >= 0.99997
for images and texts of the bundled model (0.99994 on a random base-size model, tests/benchmarks/bench_bf16.py).
The bound 0.9999 (theta <= 0.014 rad) leaves a margin of 4x on 1 - cosine. An image-text cosine then moves by at
most theta_image + theta_text, which bounds the change of every logit at scale 1, and so whether a zero-shot answer
can flip: only where the float32 top-1 and top-2 cosines are closer than that.
"""

import math

import pytest
import torch

import siglip2_min
from siglip2_min import data, demo
from siglip2_min.processor import load_processor

MIN_COSINE = 0.9999


@pytest.fixture(scope="module")
def embeddings():
    processor = load_processor()
    images = [s.image for s in data.samples(0, 32, split="test")]
    texts = [siglip2_min.api.DEFAULT_TEMPLATE.format(label) for label in demo.labels()]
    out = {}
    for dtype in (torch.float32, torch.bfloat16):
        model = siglip2_min.load_model(dtype=dtype)
        out[dtype] = (siglip2_min.embed_images(model, processor, images, progress=False),
                      siglip2_min.embed_texts(model, processor, texts, progress=False))  # float32, unit length
    return out


def test_bf16_embeddings_stay_within_the_stated_angle_of_fp32(embeddings):
    (i32, t32), (i16, t16) = embeddings[torch.float32], embeddings[torch.bfloat16]
    for name, a, b in (("images", i32, i16), ("texts", t32, t16)):
        cos = (a * b).sum(dim=-1)  # [N] both unit length
        worst = int(cos.argmin())
        assert cos[worst] >= MIN_COSINE, f"bf16 {name}[{worst}]: cosine to fp32 {cos[worst]:.6f} < {MIN_COSINE}"


def test_bf16_logits_at_scale_one_move_less_than_the_two_angles(embeddings):
    (i32, t32), (i16, t16) = embeddings[torch.float32], embeddings[torch.bfloat16]
    theta = lambda a, b: torch.arccos((a * b).sum(-1).clamp(max=1)).max().item()  # noqa: E731
    bound = theta(i32, i16) + theta(t32, t16)
    diff = (i16 @ t16.T - i32 @ t32.T).abs()  # [N, T] image-text cosines = logits at scale 1, bias 0
    assert diff.max() <= bound + 1e-6, f"cosine moved by {diff.max():.2e} > theta_i + theta_t = {bound:.2e}"
    assert bound <= 2 * math.acos(MIN_COSINE)
    # A zero-shot answer can flip only where fp32's top two cosines are within 2 * bound of each other.
    top2 = (i32 @ t32.T).topk(2, dim=-1).values  # [N, 2]
    safe = (top2[:, 0] - top2[:, 1]) > 2 * bound  # [N]
    assert safe.sum() >= len(safe) // 2, "too few clear-cut images for the check to mean anything"
    assert torch.equal((i16 @ t16.T).argmax(-1)[safe], (i32 @ t32.T).argmax(-1)[safe])
