"""The zero-shot protocol (template ensembles, canonicalisation, softmax) and the evaluate benchmarks: by hand on
small cases, and against embeddings computed by transformers on a random checkpoint."""

import json

import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

import siglip2_min
from siglip2_min import api, prompts
from siglip2_min.__main__ import main
from siglip2_min.datasets import read_captions, read_class_folder
from siglip2_min.evaluate import classification_metrics, recall_at_k, retrieval_recall, zero_shot_accuracy
from siglip2_min.processor import load_processor
from tiny_folder import make_model_folder
from tolerance import assert_close

CLASSES = ["red square", "blue circle", "green_dot"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(model, processor, hf_model, folder) for a random-weight checkpoint folder."""
    folder, hf_model = make_model_folder(tmp_path_factory.mktemp("tiny"))
    return siglip2_min.load_model(folder), load_processor(folder), hf_model, folder


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """A class folder of 3 classes x 3 drawn images, and a caption file over the same 9 images (2 captions each)."""
    root = tmp_path_factory.mktemp("data")
    rows = ["image,caption"]
    for k, name in enumerate(CLASSES):
        (root / "classes" / name).mkdir(parents=True)
        for i in range(3):
            image = Image.new("RGB", (20 + 7 * i, 30 - 5 * k), (250, 240 - 50 * k, 30 * i))
            ImageDraw.Draw(image).ellipse([3, 3, 14, 12 + i], fill=(40 * k, 90, 200 - 30 * i))
            image.save(root / "classes" / name / f"{i}.png")
            rows += [f"classes/{name}/{i}.png,a {name} number {i}", f"classes/{name}/{i}.png,{name}"]
    (root / "captions.csv").write_text("\n".join(rows) + "\n")
    return root


def hf_embeds(hf_model, processor, images=None, texts=None):
    """Unit-length embeddings computed by transformers' towers on our processor's inputs (its parity is tested
    in test_processor.py and test_tokenizer.py)."""
    with torch.no_grad():
        if texts is not None:
            out = hf_model.text_model(input_ids=torch.as_tensor(processor(text=texts)["input_ids"])).pooler_output
        else:
            inputs = processor(images=[Image.open(p).convert("RGB") for p in images])
            out = hf_model.vision_model(**{k: torch.as_tensor(v) for k, v in inputs.items()}).pooler_output
    return F.normalize(out, dim=-1)


# ------------------------------------------------------------------------------------------------ the protocol


def test_template_ensemble_is_the_renormalised_mean_of_unit_embeddings(tiny):
    model, processor, hf_model, _ = tiny
    templates = ["a photo of a {}.", "{}", "a drawing of the {label}"]
    got = api.class_text_embeddings(model, processor, CLASSES, templates)  # [C, D]
    # By hand: embed every prompt of a class alone, average the unit vectors, renormalise.
    for k, label in enumerate(CLASSES):
        prompts_k = [t.replace("{label}", "{}").format(label) for t in templates]
        ours = api.embed_texts(model, processor, prompts_k).mean(dim=0)  # [D]
        hf = hf_embeds(hf_model, processor, texts=prompts_k).mean(dim=0)  # [D]
        # fp32 embeddings of the same weights, batched differently: ~1e-7; HF's kernels: ~1e-6.
        assert_close(f"class {label} vs by hand", got[k], ours / ours.norm(), atol=1e-6)
        assert_close(f"class {label} vs HF", got[k], hf / hf.norm(), atol=1e-5)
    assert torch.allclose(got.norm(dim=-1), torch.ones(len(CLASSES)), atol=1e-6)


def test_one_template_gives_the_old_zero_shot_scores(tiny, data_root):
    model, processor, _, _ = tiny
    images = sorted(str(p) for p in (data_root / "classes").rglob("*.png"))
    old = api.zero_shot(model, processor, images, CLASSES, "a photo of {}")
    new = api.zero_shot(model, processor, images, CLASSES, templates=["a photo of {}"])
    assert old == new  # one template: its embedding as is, no averaging


def test_canonicalisation_follows_big_vision(tiny):
    # Rules of big_vision prompt_engineering._canonicalize and first_class_name_only (see prompts.py).
    assert prompts.canonical_label("Great_White  Shark, Carcharodon") == "great white shark"
    assert prompts.canonical_label("T-shirt (men's)") == "tshirt mens"
    assert prompts.canonical_template("This is a {label} in {a} video-game.") == "this is a {} in a videogame"
    assert prompts.canonical_template("a {} photo {}.") == "a {} photo {}"
    assert len(prompts.TEMPLATE_SETS["clip_paper"]) == 81  # big_vision CLIP_PAPER_PROMPT_TEMPLATES: 80 + "{}"
    model, processor, _, _ = tiny
    got = api.class_text_embeddings(model, processor, ["Blue_Circle!"], ["A photo of {}."], canonicalize=True)
    want = api.embed_texts(model, processor, ["a photo of blue circle"])
    assert_close("canonicalised prompt", got, want, atol=1e-6)  # same text, two batchings: ~1e-7


def test_softmax_is_labelled_exclusive_sums_to_one_and_keeps_the_ranking(tiny, data_root):
    model, processor, _, _ = tiny
    images = sorted(str(p) for p in (data_root / "classes").rglob("*.png"))[:3]
    sig = api.zero_shot(model, processor, images, CLASSES, templates="clip_best")
    soft = api.zero_shot(model, processor, images, CLASSES, templates="clip_best", softmax=True)
    for s, x in zip(sig, soft):
        assert all(isinstance(r, api.ExclusiveLabelScore) for r in x)
        assert [r.label for r in s] == [r.label for r in x]
        assert abs(sum(r.probability for r in x) - 1) < 1e-6  # float32 softmax over 3 labels
        logits = torch.logit(torch.tensor([r.probability for r in s], dtype=torch.float64))  # back from sigmoid
        assert_close("softmax of the sigmoid's logits", torch.tensor([r.probability for r in x], dtype=torch.float64),
                     torch.softmax(logits, 0), atol=1e-5)  # logit() of float32 probabilities: ~1e-6


def test_template_errors_name_the_fix(tiny):
    model, processor, _, _ = tiny
    with pytest.raises(ValueError, match="not both"):
        api.zero_shot(model, processor, [Image.new("RGB", (8, 8))], CLASSES, "a {}", templates=["b {}"])
    with pytest.raises(TypeError, match="templates="):
        api.zero_shot(model, processor, [Image.new("RGB", (8, 8))], CLASSES, ["a {}", "b {}"])
    with pytest.raises(ValueError, match="clip_paper"):
        api.zero_shot(model, processor, [Image.new("RGB", (8, 8))], CLASSES, templates=["clip-paper"])


# ------------------------------------------------------------------------------------------------- the metrics


def test_classification_metrics_by_hand():
    scores = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.8, 0.1, 0.1], [0.1, 0.3, 0.2], [0.5, 0.4, 0.3]])
    got = classification_metrics(scores, [0, 1, 1, 2, 2], ["a", "b", "c"])
    # Predictions a, b, a, b, a: right for images 0 and 1; c never wins, so top-1 of c is 0.
    assert got["top1"] == pytest.approx(2 / 5) and got["top5"] == 1.0 and got["n"] == 5
    assert got["per_class"] == {"a": 1.0, "b": 0.5, "c": 0.0}
    # Most frequent first, then by class order (true, then predicted).
    assert got["confused"] == [{"true": "b", "predicted": "a", "count": 1}, {"true": "c", "predicted": "a", "count": 1},
                               {"true": "c", "predicted": "b", "count": 1}]
    top2 = classification_metrics(scores[:, :2], [0, 1, 1, 0, 1], ["a", "b"])
    assert top2["top5"] == 1.0 and top2["top1"] == pytest.approx(2 / 5)


def test_recall_at_k_by_hand_any_caption_counts_for_an_image():
    # 3 images along the axes, so each cosine is a text's coordinate; texts 0, 1 describe image 0, 2 image 1, 3 image 2.
    images = torch.eye(3)
    texts = torch.tensor([[0.6, 0.8, 0.0], [0.8, 0.0, 0.6], [0.6, 0.0, 0.8], [0.0, 0.28, 0.96]])  # unit length
    got = recall_at_k(images, texts, [0, 0, 1, 2], ks=(1, 2))
    # Image 0: its text 1 (0.8) is first: hit@1. Image 1: its text 2 (0.0) is behind texts 0 (0.8) and 3 (0.28): miss
    # at 1 and 2. Image 2: its text 3 (0.96) is first. So 2/3 at K = 1 and at K = 2.
    assert got["image_to_text"] == {"R@1": pytest.approx(2 / 3), "R@2": pytest.approx(2 / 3)}
    # Text 0: image 1 (0.8) beats its image 0 (0.6): hit@2 only. Text 1: image 0 first. Text 2: images 2 (0.8) and
    # 0 (0.6) beat its image 1 (0.0): miss. Text 3: image 2 first. So 2/4 at K = 1, 3/4 at K = 2.
    assert got["text_to_image"] == {"R@1": pytest.approx(2 / 4), "R@2": pytest.approx(3 / 4)}


def test_benchmarks_equal_the_metrics_of_transformers_embeddings(tiny, data_root):
    # The metrics are ranks of cosines, and a random tiny model puts many cosines within 1e-6 of each other, where
    # float rounding (the thread count, the kernel) decides the order: equal metrics from two implementations would
    # be luck. So the check is in two exact parts: the embeddings the benchmarks use equal transformers' within
    # 1e-5 (two fp32 implementations of the same forward; test_model.py's bound), and each benchmark equals the
    # metric computed by hand from those embeddings.
    model, processor, hf_model, _ = tiny
    classes = read_class_folder(data_root / "classes")
    templates = ["a photo of {}.", "{}"]
    got = zero_shot_accuracy(model, processor, classes, templates, batch_size=4)
    class_embeds = api.class_text_embeddings(model, processor, classes.class_names, templates)  # [C, D]
    hf_text = torch.stack([hf_embeds(hf_model, processor, texts=[t.format(c) for t in templates]).mean(0)
                           for c in classes.class_names])  # [C, D] mean over templates, by hand
    assert_close("class embeddings vs transformers", class_embeds, F.normalize(hf_text, dim=-1), 1e-5)
    image_embeds = api.embed_images(model, processor, classes.paths, batch_size=4, progress=False)  # as got's
    assert_close("image embeddings vs transformers", image_embeds, hf_embeds(hf_model, processor,
                                                                             images=classes.paths), 1e-5)
    assert got == classification_metrics(image_embeds @ class_embeds.T, classes.targets, classes.class_names)

    captions = read_captions(data_root / "captions.csv")
    got = retrieval_recall(model, processor, captions, batch_size=4)
    image_embeds = api.embed_images(model, processor, captions.images, batch_size=4, progress=False)  # as got's
    text_embeds = api.embed_texts(model, processor, captions.texts, progress=False)  # [T, D]
    assert_close("caption image embeddings vs transformers", image_embeds,
                 hf_embeds(hf_model, processor, images=captions.images), 1e-5)
    assert_close("caption text embeddings vs transformers", text_embeds,
                 hf_embeds(hf_model, processor, texts=captions.texts), 1e-5)
    assert got == recall_at_k(image_embeds, text_embeds, captions.text_image)


# ----------------------------------------------------------------------------------------------- command line


def test_evaluate_commands_write_the_documented_json_keys(tiny, data_root, tmp_path):
    folder = str(tiny[3])
    out = tmp_path / "zs.json"
    args = ["evaluate", "zero-shot", "--model", folder, "--folder", str(data_root / "classes"), "--json", str(out)]
    assert main(args + ["--template", "clip_best", "--template", "a {}", "--canonicalize"]) == 0
    zs = json.loads(out.read_text())
    assert set(zs) == {"top1", "top5", "per_class", "confused", "n"} and zs["n"] == 9
    assert set(zs["per_class"]) == set(c.replace("_", " ") for c in CLASSES)
    assert main(args) == 2  # the file exists: refused before any work, file unchanged
    assert json.loads(out.read_text()) == zs

    out = tmp_path / "r.json"
    assert main(["evaluate", "retrieval", "--model", folder, "--captions", str(data_root / "captions.csv"),
                 "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert {k: set(v) for k, v in r.items()} == {w: {"R@1", "R@5", "R@10"} for w in ("image_to_text", "text_to_image")}


@pytest.mark.parametrize("extra, message", [
    (["--folder", "/nonexistent/x"], "not a folder"),
    (["--folder", "{classes}", "--template", "no slot"], "needs a '{}'"),
    (["--folder", "{classes}", "--model", "/nonexistent/model"], "does not exist"),
])  # fmt: skip
def test_evaluate_setup_errors_exit_2_with_one_line(tiny, data_root, tmp_path, capsys, extra, message):
    args = [a.replace("{classes}", str(data_root / "classes")) for a in extra]
    model = [] if "--model" in args else ["--model", str(tiny[3])]
    assert main(["evaluate", "zero-shot", *model, *args, "--json", str(tmp_path / "o.json")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o.json").exists()
