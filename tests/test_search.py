"""`siglip2-min search` and `embed --texts`: rankings and scores against the API and HF, the model check, bad files."""

import json
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import siglip2_min
from siglip2_min import api
from siglip2_min.__main__ import main
from siglip2_min.processor import load_processor
from tiny_folder import make_model_folder
from tolerance import assert_close

QUERIES = ["a red picture", "a blue picture"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """(folder, hf_model, npz, image paths): image embeddings of four pictures written by `embed`."""
    root = tmp_path_factory.mktemp("search")
    folder, hf_model = make_model_folder(root / "model")
    paths = []
    for i, (colour, size) in enumerate([("red", (30, 20)), ("blue", (16, 40)), ("green", (24, 24)),
                                        ("yellow", (40, 12))]):
        paths.append(root / f"{i}_{colour}.png")
        Image.new("RGB", size, colour).save(paths[-1])
    npz = root / "emb.npz"
    assert main(["embed", *map(str, paths), "--model", str(folder), "--out", str(npz)]) == 0
    return folder, hf_model, npz, [str(p) for p in paths]


def test_search_json_ranks_every_stored_image_by_cosine_with_sigmoid_probabilities(store, capsys):
    folder, _, npz, paths = store
    capsys.readouterr()
    assert main(["search", str(npz), *QUERIES, "--top", "3", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    model, processor = siglip2_min.load_model(folder), load_processor(folder)
    images = torch.from_numpy(np.load(npz)["embeddings"])  # [N, D]
    texts = api.embed_texts(model, processor, QUERIES)  # [Q, D]
    cosine = texts @ images.T  # [Q, N]
    probs = torch.sigmoid(api.image_text_logits(model, images, texts)).T  # [Q, N]
    assert [r["query"] for r in results] == QUERIES
    for q, result in enumerate(results):
        order = cosine[q].argsort(descending=True)[:3].tolist()
        assert [r["path"] for r in result["results"]] == [paths[j] for j in order]
        assert_close("cosine", [r["cosine"] for r in result["results"]], cosine[q, order], atol=1e-6)
        assert_close("probability", [r["probability"] for r in result["results"]], probs[q, order], atol=1e-6)


def test_search_scores_match_hf_for_the_same_weights(store, capsys):
    """The query and image embeddings, and the logit, as HF's Siglip2Model computes them."""
    folder, hf_model, npz, paths = store
    capsys.readouterr()
    assert main(["search", str(npz), QUERIES[0], "--top", "4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)[0]["results"]
    processor = load_processor(folder)
    with torch.no_grad():
        out = hf_model(**processor(images=[Image.open(p) for p in paths], text=QUERIES[:1]))
    row = {p: j for j, p in enumerate(paths)}
    # fp32, different kernels: 1e-5 on unit vectors and on a sigmoid
    assert_close("probability vs HF", [r["probability"] for r in result],
                 torch.sigmoid(out.logits_per_text[0, [row[r["path"]] for r in result]]), atol=1e-5)


def test_embed_texts_writes_the_unit_embeddings_hf_computes(store, tmp_path, capsys):
    folder, hf_model, _, _ = store
    out = tmp_path / "texts.npz"
    assert main(["embed", "--texts", *QUERIES, "--model", str(folder), "--out", str(out)]) == 0
    stored = np.load(out, allow_pickle=False)
    assert list(stored["texts"]) == QUERIES and str(stored["model"]) == str(folder)
    ids = load_processor(folder)(text=QUERIES)["input_ids"]
    with torch.no_grad():
        hf = F.normalize(hf_model.get_text_features(input_ids=ids).pooler_output, dim=-1)
    assert_close("embed --texts vs HF", stored["embeddings"], hf, atol=1e-5)  # fp32, different kernels
    assert main(["embed", "--texts", "x", "--model", str(folder), "--out", str(out)]) == 2, "no silent overwrite"
    assert main(["embed", str(out), "--texts", "x", "--model", str(folder), "--out", str(tmp_path / "b.npz")]) == 2
    assert "takes no images" in capsys.readouterr().err


def test_search_refuses_a_model_other_than_the_one_that_made_the_file(store, tmp_path, capsys):
    folder, _, npz, _ = store
    other, _ = make_model_folder(tmp_path / "other", seed=1)
    assert main(["search", str(npz), "a cat", "--model", str(other)]) == 2
    err = capsys.readouterr().err
    assert str(folder) in err and "cannot be compared" in err
    # the same folder spelt another way is the same model
    relative = os.path.relpath(folder)
    assert main(["search", str(npz), "a cat", "--model", relative, "--json"]) == 0


def test_search_names_files_it_cannot_use(store, tmp_path, capsys):
    folder, _, npz, _ = store
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    texts = tmp_path / "texts.npz"
    assert main(["embed", "--texts", "a", "--model", str(folder), "--out", str(texts)]) == 0
    wide = tmp_path / "wide.npz"
    np.savez(wide, embeddings=np.zeros((2, 7), np.float32), paths=np.array(["a", "b"]), model=np.array(str(folder)))
    capsys.readouterr()
    assert main(["search", str(tmp_path / "broken.npz"), "q"]) == 1
    assert "broken.npz: not an embeddings file" in capsys.readouterr().err
    assert main(["search", str(tmp_path / "missing.npz"), "q"]) == 1
    assert "no such file" in capsys.readouterr().err
    assert main(["search", str(texts), "q"]) == 1
    assert "holds text embeddings" in capsys.readouterr().err
    assert main(["search", str(wide), "q"]) == 2
    assert "width 7" in capsys.readouterr().err
    assert main(["search", str(npz), "q", "--top", "0"]) == 2
