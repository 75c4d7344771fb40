"""HF habits: processor keywords, get_image_features / get_text_features, `.score`, classify --json in the shape of
HF's zero-shot pipeline, similarity over several images. Each checked against transformers where HF has the feature."""

import json

import pytest
import torch
from PIL import Image

import siglip2_min
from siglip2_min.__main__ import main
from siglip2_min.naflex import patchify
from siglip2_min.processor import load_processor
from tiny_folder import make_model_folder
from tolerance import assert_close

TEXTS = ["a photo of a cat.", "a blue circle on a red background."]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(folder, model, processor, hf_model) for one random-weight NaFlex checkpoint folder."""
    folder, hf_model = make_model_folder(tmp_path_factory.mktemp("hf_surface"))
    return folder, siglip2_min.load_model(folder), load_processor(folder), hf_model


def pictures():
    return [Image.new("RGB", (30, 20), "red"), Image.new("RGB", (12, 40), "blue"), Image.new("RGB", (24, 24), "green")]


def test_processor_accepts_the_hf_keywords_that_ask_for_what_it_does(tiny):
    folder, _, processor, _ = tiny
    plain = processor(images=pictures(), text=TEXTS)
    hf_style = processor(images=pictures(), text=TEXTS, return_tensors="pt", padding="max_length", max_length=64,
                         truncation=True)
    assert plain.keys() == hf_style.keys()
    assert all(torch.equal(plain[k], hf_style[k]) for k in plain)
    import transformers

    hf_tokenizer = transformers.Siglip2Tokenizer.from_pretrained(folder)
    hf_ids = hf_tokenizer(TEXTS, return_tensors="pt", padding="max_length", max_length=64)["input_ids"]
    assert torch.equal(hf_style["input_ids"], hf_ids)


@pytest.mark.parametrize("kwargs, reason", [
    ({"return_tensors": "np"}, "torch tensors only"),
    ({"padding": True}, "ruins the scores"),
    ({"padding": "longest"}, "ruins the scores"),
    ({"padding": False}, "ruins the scores"),
    ({"max_length": 32}, "exactly 64 positions"),
    ({"truncation": False}, "always cut"),
])
def test_processor_refuses_other_hf_keywords_with_the_reason(tiny, kwargs, reason):
    _, _, processor, _ = tiny
    with pytest.raises(ValueError, match=reason):
        processor(text=TEXTS, **kwargs)


def test_get_image_features_returns_what_hf_returns(tiny):
    _, model, processor, hf_model = tiny
    inputs = processor(images=pictures(), return_tensors="pt")
    with torch.no_grad():
        ours = model.get_image_features(**inputs, output_hidden_states=True)
        hf = hf_model.get_image_features(**inputs, output_hidden_states=True)
    # fp32, same weights, other kernels: 1e-5. Padded rows are not meaningful (masked keys), so compare valid rows.
    assert_close("pooler_output", ours.pooler_output, hf.pooler_output, atol=1e-5)
    assert len(ours.hidden_states) == len(hf.hidden_states) == model.config.vision.num_hidden_layers + 1
    for i, (h, w) in enumerate(inputs["spatial_shapes"].tolist()):
        assert_close(f"last_hidden_state {i}", ours.last_hidden_state[i, : h * w], hf.last_hidden_state[i, : h * w],
                     atol=1e-5)
        for k, (a, b) in enumerate(zip(ours.hidden_states, hf.hidden_states)):
            assert_close(f"hidden_states[{k}] {i}", a[i, : h * w], b[i, : h * w], atol=1e-5)


def test_get_text_features_returns_what_hf_returns(tiny):
    _, model, processor, hf_model = tiny
    inputs = processor(text=TEXTS, return_tensors="pt", padding="max_length", max_length=64)
    with torch.no_grad():
        ours = model.get_text_features(**inputs, output_hidden_states=True)
        hf = hf_model.get_text_features(**inputs, output_hidden_states=True)
    assert_close("pooler_output", ours.pooler_output, hf.pooler_output, atol=1e-5)  # fp32, other kernels
    assert_close("last_hidden_state", ours.last_hidden_state, hf.last_hidden_state, atol=1e-5)
    for k, (a, b) in enumerate(zip(ours.hidden_states, hf.hidden_states, strict=True)):
        assert_close(f"hidden_states[{k}]", a, b, atol=1e-5)
    with pytest.raises(ValueError, match="without one"):
        model.get_text_features(inputs["input_ids"], attention_mask=torch.ones_like(inputs["input_ids"]))


def test_get_image_features_of_a_fixres_model_match_hf_on_the_same_pixels(fixres_checkpoint):
    folder, hf_model = fixres_checkpoint
    model = siglip2_min.load_model(folder)
    pixels = torch.rand(2, 3, 16, 16) * 2 - 1  # [B, C, S, S], model input scale
    patches = torch.stack([torch.from_numpy(patchify(p.permute(1, 2, 0).numpy(), 4)) for p in pixels])  # [B, 16, P]
    with torch.no_grad():
        ours = model.get_image_features(patches)
        hf = hf_model.get_image_features(pixel_values=pixels)
    assert_close("pooler_output", ours.pooler_output, hf.pooler_output, atol=1e-5)  # fp32, conv vs linear
    assert_close("last_hidden_state", ours.last_hidden_state, hf.last_hidden_state, atol=1e-5)


def test_label_scores_carry_label_and_score(tiny):
    _, model, processor, _ = tiny
    for row in siglip2_min.zero_shot(model, processor, pictures(), ["red", "blue"]):
        for item in row:
            label, probability = item
            assert (item.label, item.score) == (label, probability)


def test_classify_json_labels_are_hf_zero_shot_pipeline_output(tiny, tmp_path, capsys):
    """Same keys, order of keys, ranking and scores as transformers' pipeline on the same checkpoint folder."""
    import transformers

    folder, _, _, _ = tiny
    paths = []
    for i, image in enumerate(pictures()):
        paths.append(str(tmp_path / f"{i}.png"))
        image.save(paths[-1])
    labels = ["red", "blue", "a cat"]
    capsys.readouterr()
    assert main(["classify", *paths, "--labels", *labels, "--model", str(folder), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    pipeline = transformers.pipeline("zero-shot-image-classification", model=str(folder))
    expected = pipeline([Image.open(p) for p in paths], candidate_labels=labels)  # template "This is a photo of {}."
    for row, want in zip(rows, expected, strict=True):
        assert [list(e) for e in row["labels"]] == [list(e) for e in want] == [["score", "label"]] * len(labels)
        assert [e["label"] for e in row["labels"]] == [e["label"] for e in want]
        # fp32, the same weights through two implementations: 1e-5 on a sigmoid
        assert_close("scores vs HF pipeline", [e["score"] for e in row["labels"]], [e["score"] for e in want],
                     atol=1e-5)


def test_similarity_scores_several_images_in_input_order(tiny, tmp_path, capsys):
    folder, _, _, hf_model = tiny
    paths = []
    for i, image in enumerate(pictures()):
        paths.append(str(tmp_path / f"{i}.png"))
        image.save(paths[-1])
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"no")
    capsys.readouterr()
    assert main(["similarity", paths[0], str(broken), *paths[1:], "--texts", *TEXTS, "--model", str(folder),
                 "--json"]) == 1  # one image failed, the others are scored
    rows = json.loads(capsys.readouterr().out)
    assert [r["file"] for r in rows] == [paths[0], str(broken), *paths[1:]]
    assert "error" in rows[1]
    processor = load_processor(folder)
    with torch.no_grad():
        hf = hf_model(**processor(images=[Image.open(p) for p in paths], text=TEXTS)).logits_per_image  # [N, T]
    got = [[t["logit"] for t in r["texts"]] for r in rows if "texts" in r]
    assert_close("logits vs HF", got, hf, atol=1e-4)  # fp32 logits of scale exp(2.3) ~ 10: 1e-5 relative
