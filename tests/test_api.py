"""zero_shot, embed_images, embed_texts: values against the model's own forward and HF, batching, inputs, errors."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

import siglip2_min
from siglip2_min import api
from siglip2_min.processor import load_processor
from tiny_folder import drawn_images, make_model_folder
from tolerance import assert_close

LABELS = ["cat", "dog", "blue circle", "red square"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(model, processor, hf_model, folder) for a random-weight checkpoint folder."""
    folder, hf_model = make_model_folder(tmp_path_factory.mktemp("tiny"))
    return siglip2_min.load_model(folder), load_processor(folder), hf_model, folder


def test_zero_shot_probabilities_are_sigmoid_of_the_model_logits(tiny):
    model, processor, hf_model, _ = tiny
    images = drawn_images()
    ranked = api.zero_shot(model, processor, images, LABELS)
    # Reference: one full forward pass of our model, and of HF's on the same inputs.
    prompts = [f"This is a photo of {label}." for label in LABELS]
    inputs = processor(images=images, text=prompts)
    with torch.no_grad():
        ours = model(**inputs).logits_per_image  # [N, T]
        hf = hf_model(**inputs).logits_per_image  # [N, T]
    got = torch.tensor([[dict(r)[label] for label in LABELS] for r in ranked])  # [N, T] back in label order
    # fp32, same weights; the API normalises the embeddings once more and batches texts separately: ~1e-7.
    assert_close("zero_shot vs own forward", got, torch.sigmoid(ours), atol=1e-6)
    assert_close("zero_shot vs HF forward", got, torch.sigmoid(hf), atol=1e-5)


def test_zero_shot_ranks_best_first_and_keeps_every_label(tiny):
    model, processor, _, _ = tiny
    ranked = api.zero_shot(model, processor, drawn_images(), LABELS)
    assert len(ranked) == 4
    for row in ranked:
        assert sorted(label for label, _ in row) == sorted(LABELS)
        probs = [p for _, p in row]
        assert probs == sorted(probs, reverse=True)
        assert all(0.0 < p < 1.0 for p in probs)
        assert isinstance(row[0], api.LabelScore) and row[0] == (row[0].label, row[0].probability)


def test_template_is_applied_to_labels(tiny):
    model, processor, _, _ = tiny
    images = drawn_images()[:2]
    plain = api.zero_shot(model, processor, images, ["A CAT", "a dog"], template="{}")
    named = api.zero_shot(model, processor, images, ["cat", "dog"], template="A {label}")
    texts = api.embed_texts(model, processor, ["a cat", "a dog"])  # lowercased by the tokenizer: same ids
    probs = torch.sigmoid(api.image_text_logits(model, api.embed_images(model, processor, images), texts))
    for i in range(2):
        assert_close("template {}", [dict(plain[i])["A CAT"], dict(plain[i])["a dog"]], probs[i], atol=1e-6)
        assert_close("template {label}", [dict(named[i])["cat"], dict(named[i])["dog"]], probs[i], atol=1e-6)


def test_batch_size_does_not_change_embeddings(tiny):
    model, processor, _, _ = tiny
    images = drawn_images() * 2
    one = api.embed_images(model, processor, images, batch_size=1)
    three = api.embed_images(model, processor, images, batch_size=3)
    whole = api.embed_images(model, processor, images)
    # Padding to a batch's patch budget is masked out; only summation order can differ: fp32 rounding.
    assert_close("batch 1 vs 3", one, three, atol=1e-6)
    assert_close("batch 1 vs all", one, whole, atol=1e-6)
    texts = ["a", "b c", "a longer caption of a photo", ""]
    assert_close("texts batch 1 vs all", api.embed_texts(model, processor, texts, batch_size=1),
                 api.embed_texts(model, processor, texts), atol=1e-6)


def test_embeddings_are_unit_length_float32_in_input_order(tiny):
    model, processor, _, _ = tiny
    images = drawn_images()
    emb = api.embed_images(model, processor, images)
    assert emb.shape == (4, model.config.text.projection_size) and emb.dtype == torch.float32
    assert_close("image norms", emb.norm(dim=-1), torch.ones(4), atol=1e-6)
    rev = api.embed_images(model, processor, images[::-1])
    assert_close("reversed order", rev, emb.flip(0), atol=1e-6)
    txt = api.embed_texts(model, processor, ["a cat", "a dog", "x"])
    assert txt.shape == (3, model.config.text.projection_size)
    assert_close("text norms", txt.norm(dim=-1), torch.ones(3), atol=1e-6)
    assert not torch.allclose(emb[0], emb[1]) and not torch.allclose(txt[0], txt[1])


def test_paths_arrays_and_pil_images_give_the_same_embeddings(tiny, tmp_path):
    model, processor, _, _ = tiny
    images = drawn_images()
    paths = []
    for i, image in enumerate(images):
        paths.append(tmp_path / f"{i}.png")
        image.save(paths[-1])
    arrays = [np.asarray(im) for im in images]
    rgba = [np.asarray(im.convert("RGBA")) for im in images]
    ref = api.embed_images(model, processor, images)
    for name, inputs in [("paths", paths), ("str paths", [str(p) for p in paths]), ("arrays", arrays),
                         ("rgba arrays", rgba)]:
        assert_close(name, api.embed_images(model, processor, inputs), ref, atol=0)
    single = api.embed_images(model, processor, images[0])  # one image, not in a list
    assert_close("single image", single, ref[:1], atol=1e-6)
    assert_close("single array", api.embed_images(model, processor, arrays[0]), ref[:1], atol=1e-6)
    stacked = np.stack([arrays[0], arrays[0]])  # [2, H, W, 3]: a batch of two
    assert_close("stacked arrays", api.embed_images(model, processor, stacked), ref[[0, 0]], atol=1e-6)


def test_empty_inputs_give_empty_results(tiny):
    model, processor, _, _ = tiny
    assert api.zero_shot(model, processor, [], LABELS) == []
    assert api.embed_images(model, processor, []).shape == (0, model.config.text.projection_size)
    assert api.embed_texts(model, processor, []).shape == (0, model.config.text.projection_size)


def test_bad_inputs_raise_clear_errors(tiny, tmp_path):
    model, processor, _, folder = tiny
    image = drawn_images()[0]
    with pytest.raises(TypeError, match="not one string"):
        api.zero_shot(model, processor, [image], "cat")
    with pytest.raises(ValueError, match="non-empty list"):
        api.zero_shot(model, processor, [image], [])
    with pytest.raises(ValueError, match="distinct"):
        api.zero_shot(model, processor, [image], ["cat", "cat"])
    with pytest.raises(ValueError, match="non-empty string"):
        api.zero_shot(model, processor, [image], ["cat", ""])
    with pytest.raises(ValueError, match="template"):
        api.zero_shot(model, processor, [image], ["cat"], template="a photo")
    with pytest.raises(TypeError, match="uint8"):
        api.embed_images(model, processor, [np.zeros((8, 8, 3), np.float32)])
    with pytest.raises(ValueError, match="shape"):
        api.embed_images(model, processor, [np.zeros((8, 8, 2), np.uint8)])
    with pytest.raises(TypeError, match="PIL.Image"):
        api.embed_images(model, processor, [42])
    with pytest.raises(ValueError, match="batch_size"):
        api.embed_images(model, processor, [image], batch_size=0)
    with pytest.raises(TypeError, match="strings"):
        api.embed_texts(model, processor, ["ok", 3])
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png at all")
    with pytest.raises(api.ImageReadError, match="broken.png"):
        api.embed_images(model, processor, [image, broken])
    with pytest.raises(api.ImageReadError, match="missing.jpg: no such file"):
        api.embed_images(model, processor, [tmp_path / "missing.jpg"])
    classifier = torch.nn.Linear(2, 2)  # no text tower
    with pytest.raises(TypeError, match="two-tower"):
        api.embed_texts(classifier, processor, ["a"])


def test_truncated_image_file_is_reported_by_name(tmp_path):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(buffer, format="PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(buffer.getvalue()[:60])  # header intact, pixel data cut
    with pytest.raises(api.ImageReadError, match="cut.png"):
        api.load_image(path)


def test_progress_counter_draws_only_when_enabled():
    shown, hidden, auto = io.StringIO(), io.StringIO(), io.StringIO()
    for stream, enabled in [(shown, True), (hidden, False), (auto, None)]:
        bar = api.Progress(3, "embed", enabled, batch_size=1, stream=stream)
        for _ in range(3):
            bar.update(1)
        bar.close()
    assert "embed  3/3  100%" in shown.getvalue() and shown.getvalue().endswith("\n")
    assert hidden.getvalue() == ""
    assert auto.getvalue() == ""  # StringIO is not a terminal: auto stays quiet in logs and pipes


def test_progress_flag_reaches_stderr(tiny, capsys):
    model, processor, _, _ = tiny
    api.embed_images(model, processor, drawn_images(), batch_size=2, progress=True)
    assert "embed images  4/4  100%" in capsys.readouterr().err
    api.embed_images(model, processor, drawn_images(), batch_size=2, progress=False)
    assert capsys.readouterr().err == ""
