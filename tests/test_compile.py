"""The towers compile as one graph each: `torch.compile(..., fullgraph=True)` raises on any graph break.

The towers read nothing back to the host and have no data-dependent shapes (docs/model/embeddings.md), so Dynamo
captures each whole. The entry-point checks do read values on the host; a compiled loop validates its inputs
once and passes `check=False`. Backend "aot_eager" traces the graph (Dynamo, then AOT autograd) without
generating kernels, which keeps this test to seconds; the graph is what `fullgraph` is about.
"""

import pytest
import torch
from PIL import Image

import siglip2_min
from siglip2_min.checks import check_image_inputs
from tolerance import assert_close


@pytest.fixture(scope="module")
def bundled():
    model, processor = siglip2_min.load_model(), siglip2_min.load_processor()
    images = [Image.new("RGB", (64, 32), "red"), Image.new("RGB", (30, 90), "blue")]  # two grids, padding
    inputs = {k: torch.as_tensor(v) for k, v in processor(images=images, text=["a red square", "a star"]).items()}
    return model, inputs


def test_both_towers_compile_without_graph_breaks(bundled):
    model, inputs = bundled
    torch._dynamo.reset()
    mask, shapes = check_image_inputs(model.config.vision, inputs["pixel_values"], inputs["pixel_attention_mask"],
                                      inputs["spatial_shapes"])  # once, outside the compiled code
    image_tower = torch.compile(model.encode_image, fullgraph=True, backend="aot_eager")
    text_tower = torch.compile(model.encode_text, fullgraph=True, backend="aot_eager")
    with torch.no_grad():
        images = image_tower(inputs["pixel_values"], mask, shapes, check=False)  # [B, E]
        texts = text_tower(inputs["input_ids"], check=False)  # [T, E]
        # Same operations, traced: equal to the eager forward up to float32 reordering (observed 0).
        assert_close("compiled image tower", images, model.encode_image(inputs["pixel_values"],
                     inputs["pixel_attention_mask"], inputs["spatial_shapes"]), 1e-5)
        assert_close("compiled text tower", texts, model.encode_text(inputs["input_ids"]), 1e-5)
