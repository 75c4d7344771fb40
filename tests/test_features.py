"""patch_features and attention_map: against the model's own intermediates, HF's hidden states and HF's
nn.MultiheadAttention weights, batch composition and padding, and the pooled output rebuilt from the map."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import siglip2_min
from siglip2_min import features
from siglip2_min.processor import load_processor
from tiny_folder import drawn_images, make_model_folder
from tolerance import assert_close


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(model, eager model, processor, hf_model) for one random-weight checkpoint folder (2 vision blocks)."""
    folder, hf_model = make_model_folder(tmp_path_factory.mktemp("tiny"))
    return (siglip2_min.load_model(folder), siglip2_min.load_model(folder, attn="eager"), load_processor(folder),
            hf_model)


@pytest.mark.parametrize("layer, name", [(0, "vision.block00"), (-1, "vision.block01"), (-2, "vision.block00"),
                                         ("post-LN", "vision.post_layernorm")])
def test_patch_features_equal_the_sliced_intermediates_with_the_grid_of_spatial_shapes(tiny, layer, name):
    model, _, processor, _ = tiny
    images = drawn_images()
    got = siglip2_min.patch_features(model, processor, images, layer=layer)
    inputs = processor(images=images)
    with torch.no_grad():
        _, inter = model.encode_image(inputs["pixel_values"], inputs["pixel_attention_mask"],
                                      inputs["spatial_shapes"], return_intermediates=True)
    assert len(got) == len(images)
    for i, (h, w) in enumerate(inputs["spatial_shapes"].tolist()):
        assert got[i].shape == (h, w, model.config.vision.hidden_size)
        # the same tensor, sliced and reshaped: exact
        assert torch.equal(got[i], inter[name][i, : h * w].reshape(h, w, -1))
    assert {tuple(g.shape[:2]) for g in got} != {tuple(got[0].shape[:2])}, "the images should have different grids"


def test_patch_features_match_hf_hidden_states(tiny):
    """layer=-k is HF's hidden_states[-k] (the penultimate block is what LLaVA-style models read); "post-LN" is
    HF's last_hidden_state."""
    model, _, processor, hf_model = tiny
    images = drawn_images()
    inputs = processor(images=images)
    with torch.no_grad():
        hf = hf_model.vision_model(pixel_values=inputs["pixel_values"],
                                   pixel_attention_mask=inputs["pixel_attention_mask"],
                                   spatial_shapes=inputs["spatial_shapes"], output_hidden_states=True)
    shapes = inputs["spatial_shapes"].tolist()
    # fp32, same weights, different kernels and a fused q/k/v matmul: ~1e-6 after two blocks
    for layer, ref in [(-1, hf.hidden_states[-1]), (-2, hf.hidden_states[-2]), ("post-LN", hf.last_hidden_state)]:
        got = siglip2_min.patch_features(model, processor, images, layer=layer)
        for i, (h, w) in enumerate(shapes):
            assert_close(f"layer {layer}, image {i}", got[i], ref[i, : h * w].reshape(h, w, -1), atol=1e-5)


def test_patch_features_do_not_depend_on_batch_composition(tiny):
    model, _, processor, _ = tiny
    images = drawn_images()
    together = siglip2_min.patch_features(model, processor, images, layer=-2)
    alone = [siglip2_min.patch_features(model, processor, [im], layer=-2)[0] for im in images]
    in_pairs = siglip2_min.patch_features(model, processor, images, layer=-2, batch_size=2)
    for i in range(len(images)):
        # Masked keys contribute exactly zero, but batch size changes the matmul blocking: float rounding only.
        assert_close(f"image {i} alone", alone[i], together[i], atol=1e-6)
        assert_close(f"image {i} in pairs", in_pairs[i], together[i], atol=1e-6)


def test_patch_features_do_not_depend_on_padding(tiny):
    """More padding slots after an image's patches change nothing in its valid patches."""
    model, _, processor, _ = tiny
    image = drawn_images()[1]  # 48 x 16: a grid smaller than the budget, so it is padded already
    inputs = processor(images=[image])
    pv, mask, shapes = inputs["pixel_values"], inputs["pixel_attention_mask"], inputs["spatial_shapes"]
    pv_more = torch.cat([pv, torch.randn(1, 9, pv.shape[-1])], dim=1)  # [1, N+9, P], garbage in the new slots
    mask_more = torch.cat([mask, torch.zeros(1, 9, dtype=mask.dtype)], dim=1)  # [1, N+9]
    with torch.no_grad():
        _, inter = model.encode_image(pv_more, mask_more, shapes, return_intermediates=True)
    got = siglip2_min.patch_features(model, processor, [image], layer=-1)[0]
    ref = features.grids(inter["vision.block01"], shapes)[0]
    assert (mask[0] == 0).any(), "the image should already have padding"
    assert_close("more padding", got, ref, atol=1e-6)  # same numbers, other kernel blocking


def test_patch_features_refuse_a_layer_that_does_not_exist(tiny):
    model, _, processor, _ = tiny
    for bad in (2, -3):
        with pytest.raises(ValueError, match="2 blocks"):
            siglip2_min.patch_features(model, processor, drawn_images()[:1], layer=bad)
    with pytest.raises(TypeError, match="post-LN"):
        siglip2_min.patch_features(model, processor, drawn_images()[:1], layer="last")


def test_attention_maps_sum_to_one_over_the_valid_patches(tiny):
    model, _, processor, _ = tiny
    for image in drawn_images():
        amap = siglip2_min.attention_map(model, processor, image)
        (h, w), = processor(images=[image])["spatial_shapes"].tolist()
        assert amap.heads.shape == (model.config.vision.num_attention_heads, h, w)
        assert amap.mean.shape == (h, w)
        assert (amap.heads >= 0).all()
        assert_close("sum per head", amap.heads.sum(dim=(1, 2)), torch.ones(len(amap.heads)), atol=1e-6)
        assert_close("mean over heads", amap.mean, amap.heads.mean(dim=0), atol=0)


def test_the_pooled_output_rebuilt_from_the_attention_map_is_the_models(tiny):
    """The map is the probe's attention itself: mixing the values with it, then out_proj and the head's MLP,
    gives the model's pooled embedding."""
    _, eager, processor, _ = tiny
    head = eager.vision_model.head
    for image in drawn_images():
        inputs = processor(images=[image])
        (h, w), = inputs["spatial_shapes"].tolist()
        with torch.no_grad():
            pooled, inter = eager.encode_image(inputs["pixel_values"], inputs["pixel_attention_mask"],
                                               inputs["spatial_shapes"], return_intermediates=True)
            weights = siglip2_min.attention_map(eager, processor, image).heads.reshape(-1, h * w)  # [H, n]
            x = inter["vision.post_layernorm"][0, : h * w]  # [n, D]
            _, _, wv = head.attention.in_proj_weight.chunk(3)
            _, _, bv = head.attention.in_proj_bias.chunk(3)
            H, D = len(weights), x.shape[-1]
            v = F.linear(x, wv, bv).view(h * w, H, D // H).transpose(0, 1)  # [H, n, Dh]
            mixed = (weights[:, None, :] @ v).reshape(1, D)  # [H, 1, n] @ [H, n, Dh] -> [1, D]
            attended = head.attention.out_proj(mixed)  # [1, D]
            rebuilt = attended + head.mlp(head.layernorm(attended))  # [1, D]
        # eager path in fp32, the same operations in another grouping: 1e-6
        assert_close("rebuilt pooled", rebuilt, pooled, atol=1e-6)


def test_attention_map_equals_torch_multihead_attention_weights_of_hf_head(tiny):
    """Independent oracle: HF's pooling head is a torch nn.MultiheadAttention, which returns its weights."""
    model, _, processor, hf_model = tiny
    images = drawn_images()
    inputs = processor(images=images)
    with torch.no_grad():
        hidden = hf_model.vision_model(pixel_values=inputs["pixel_values"],
                                       pixel_attention_mask=inputs["pixel_attention_mask"],
                                       spatial_shapes=inputs["spatial_shapes"]).last_hidden_state  # [B, N, D]
        head = hf_model.vision_model.head
        probe = head.probe.expand(len(images), -1, -1)  # [B, 1, D]
        _, ref = head.attention(probe, hidden, hidden, key_padding_mask=inputs["pixel_attention_mask"] == 0,
                                need_weights=True, average_attn_weights=False)  # [B, H, 1, N]
    for i, ((h, w), image) in enumerate(zip(inputs["spatial_shapes"].tolist(), images)):
        got = siglip2_min.attention_map(model, processor, image)
        assert_close(f"image {i}", got.heads, ref[i, :, 0, : h * w].reshape(-1, h, w), atol=1e-6)
        assert (ref[i, :, 0, h * w :] == 0).all(), "HF gives padding no weight either"


def test_the_bundled_models_probe_attends_to_the_drawn_shape_more_than_uniformly():
    """What the docs figure shows: on each demo drawing, the share of attention on the patches the shape touches
    is larger than the share of those patches (uniform attention would make them equal)."""
    from siglip2_min.demo import DRAWINGS, draw

    model, processor = siglip2_min.load_model(), siglip2_min.load_processor()
    for colour, shape, size in DRAWINGS:
        image = draw(colour, shape, size)
        amap = siglip2_min.attention_map(model, processor, image)
        h, w = amap.mean.shape
        touched = (processor(images=[image])["pixel_values"][0, : h * w] < 0.9).any(dim=1).reshape(h, w)
        on_shape, area = float(amap.mean[touched].sum()), float(touched.float().mean())
        assert on_shape > 1.2 * area, f"{colour} {shape}: {on_shape:.2f} of the attention on {area:.2f} of patches"


# ------------------------------------------------------------------------------------------- command line


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_model_folder(tmp_path_factory.mktemp("cli"))[0]


def test_embed_patches_writes_one_grid_per_readable_image_in_order(folder, tmp_path, capsys):
    from siglip2_min.__main__ import main

    images = drawn_images()
    paths = [tmp_path / f"{i}.png" for i in range(len(images))]
    for image, path in zip(images, paths):
        image.save(path)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "patches.npz"
    argv = ["embed", "--patches", str(paths[0]), str(tmp_path / "broken.png"), *map(str, paths[1:]),
            "--layer", "post-LN", "--model", str(folder), "--out", str(out), "--batch-size", "2"]
    assert main(argv) == 1  # one input failed, the others are written
    assert "broken.png" in capsys.readouterr().err
    stored = np.load(out, allow_pickle=False)
    assert list(stored["paths"]) == list(map(str, paths))
    assert str(stored["layer"]) == "post-LN"
    model, processor = siglip2_min.load_model(folder), load_processor(folder)
    ref = siglip2_min.patch_features(model, processor, images, layer="post-LN")
    for i, grid in enumerate(ref):
        assert_close(f"image {i}", stored[f"patches_{i:05d}"], grid, atol=1e-6)  # other batches: rounding only
    assert main(argv) == 2, "an existing output is not replaced"
    assert main(["embed", "--patches", str(paths[0]), "--layer", "7", "--model", str(folder),
                 "--out", str(tmp_path / "other.npz")]) == 2
    assert "2 blocks" in capsys.readouterr().err
    assert main(["embed", str(paths[0]), "--layer", "-2", "--model", str(folder), "--out", str(tmp_path / "o.npz")]) == 2
    assert "--patches only" in capsys.readouterr().err


def test_attention_command_draws_the_map_over_the_image(folder, tmp_path, capsys):
    from siglip2_min.__main__ import main

    image = drawn_images()[1]
    image.save(tmp_path / "in.png")
    out = tmp_path / "heat.png"
    argv = ["attention", str(tmp_path / "in.png"), "--out", str(out), "--model", str(folder)]
    assert main(argv) == 0
    drawn = Image.open(out)
    assert drawn.size == image.size
    model, processor = siglip2_min.load_model(folder), load_processor(folder)
    expected = features.overlay(image, siglip2_min.attention_map(model, processor, image).mean)
    assert np.array_equal(np.asarray(drawn), np.asarray(expected))  # PNG is lossless
    assert main(argv) == 2 and out.is_file(), "an existing picture is kept without --overwrite"
    assert main(argv + ["--overwrite", "--head", "3"]) == 0
    assert main(argv + ["--overwrite", "--head", "4"]) == 2
    assert main(["attention", str(tmp_path / "missing.png"), "--out", str(tmp_path / "x.png")]) == 1
    assert main(["attention", str(tmp_path / "in.png"), "--out", str(tmp_path / "x.npz")]) == 2
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "x.npz").exists()
