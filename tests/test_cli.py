"""The `siglip2-min` command line: output formats, values against the API, unreadable files, exit codes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import siglip2_min
from siglip2_min import api
from siglip2_min.__main__ import main
from siglip2_min.processor import load_processor
from tiny_folder import make_model_folder
from tolerance import assert_close

REPO = Path(__file__).resolve().parents[1]
BUNDLED_CONFIG = REPO / "siglip2_min" / "assets" / "tiny" / "config.json"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(folder, model, processor) for a random-weight checkpoint folder."""
    folder, _ = make_model_folder(tmp_path_factory.mktemp("tiny"))
    return folder, siglip2_min.load_model(folder), load_processor(folder)


@pytest.fixture()
def pictures(tmp_path):
    """A folder with three readable images (one in a subfolder), one corrupt .png and a text file."""
    root = tmp_path / "pictures"
    (root / "sub").mkdir(parents=True)
    Image.new("RGB", (30, 20), "red").save(root / "b_red.png")
    Image.new("RGB", (16, 40), "blue").save(root / "a_blue.jpg")
    Image.new("RGB", (24, 24), "green").save(root / "sub" / "c_green.png")
    (root / "d_broken.png").write_bytes(b"\x89PNG but not really")
    (root / "notes.txt").write_text("not an image")
    return root


def test_classify_json_ranks_labels_and_reports_unreadable_files(tiny, pictures, capsys):
    folder, model, processor = tiny
    good = [str(pictures / "b_red.png"), str(pictures / "a_blue.jpg")]
    broken, missing = str(pictures / "d_broken.png"), str(pictures / "nope.png")
    code = main(["classify", good[0], broken, good[1], missing, "--labels", "red", "blue", "green",
                 "--model", str(folder), "--json"])
    out, err = capsys.readouterr()
    assert code == 1  # something failed
    err_lines = err.strip().splitlines()
    assert len(err_lines) == 2 and "d_broken.png" in err_lines[0] and "nope.png" in err_lines[1]
    rows = json.loads(out)
    assert [r["file"] for r in rows] == [good[0], broken, good[1], missing]  # input order, failures in place
    assert "error" in rows[1] and "error" in rows[3] and "labels" not in rows[1]
    expected = api.zero_shot(model, processor, good, ["red", "blue", "green"])
    for row, ranked in zip([rows[0], rows[2]], expected):
        assert [e["label"] for e in row["labels"]] == [label for label, _ in ranked]
        assert_close("cli probabilities", [e["score"] for e in row["labels"]], [p for _, p in ranked],
                     atol=1e-7)


def test_classify_table_and_success_exit_code(tiny, pictures, capsys):
    folder, _, _ = tiny
    code = main(["classify", str(pictures / "b_red.png"), "--labels", "red", "blue", "green", "--top", "2",
                 "--model", str(folder), "--max-patches", "4"])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].endswith("b_red.png") and len(lines) == 3  # file, then the top 2 labels
    assert all(line.split()[-1] in ("red", "blue", "green") for line in lines[1:])
    code = main(["classify", str(pictures / "sub"), "--labels", "red", "green", "--model", str(folder), "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert code == 0 and [r["file"] for r in rows] == [str(pictures / "sub" / "c_green.png")]  # a folder expands


def test_max_patches_changes_the_patch_budget(tiny, pictures, capsys):
    folder, model, processor = tiny
    path = str(pictures / "b_red.png")
    main(["classify", path, "--labels", "red", "blue", "--model", str(folder), "--max-patches", "4", "--json"])
    got = json.loads(capsys.readouterr().out)[0]["labels"]
    want = api.zero_shot(model, processor, [path], ["red", "blue"], max_num_patches=4)[0]
    assert_close("--max-patches 4", [e["score"] for e in got], [p for _, p in want], atol=1e-7)
    default = api.zero_shot(model, processor, [path], ["red", "blue"])[0]
    assert abs(dict(default)["red"] - dict(want)["red"]) > 1e-6  # 4 patches is a different input than 16


def test_embed_folder_writes_npz_readable_without_pickle(tiny, pictures, tmp_path, capsys):
    folder, model, processor = tiny
    out = tmp_path / "emb.npz"
    code = main(["embed", str(pictures), "--out", str(out), "--model", str(folder), "--batch-size", "2"])
    err = capsys.readouterr().err
    assert code == 1 and "d_broken.png" in err  # the corrupt file fails, the others are still embedded
    data = np.load(out, allow_pickle=False)
    expected_paths = [str(pictures / "a_blue.jpg"), str(pictures / "b_red.png"), str(pictures / "sub" / "c_green.png")]
    assert list(data["paths"]) == expected_paths  # sorted, recursive, .txt and the corrupt file left out
    assert data["embeddings"].dtype == np.float32
    assert_close("embed vs api", data["embeddings"], api.embed_images(model, processor, expected_paths), atol=1e-6)


def test_embed_progress_and_success(tiny, pictures, tmp_path, capsys):
    folder, model, _ = tiny
    out = tmp_path / "two.npz"
    code = main(["embed", str(pictures / "b_red.png"), str(pictures / "a_blue.jpg"), "--out", str(out),
                 "--model", str(folder), "--batch-size", "1", "--progress"])
    err = capsys.readouterr().err
    assert code == 0 and "embed  2/2  100%" in err
    assert np.load(out)["embeddings"].shape == (2, model.config.text.projection_size)


def test_embed_rejects_output_that_is_not_npz(tiny, pictures, tmp_path, capsys):
    folder, _, _ = tiny
    code = main(["embed", str(pictures), "--out", str(tmp_path / "emb.pkl"), "--model", str(folder)])
    assert code == 2 and ".npz" in capsys.readouterr().err
    assert not (tmp_path / "emb.pkl").exists()
    code = main(["embed", str(pictures), "--out", str(tmp_path / "no" / "emb.npz"), "--model", str(folder)])
    assert code == 2 and "does not exist" in capsys.readouterr().err


def test_similarity_reports_cosine_logit_and_sigmoid(tiny, pictures, capsys):
    folder, model, _ = tiny
    texts = ["a red picture", "a blue picture"]
    code = main(["similarity", str(pictures / "b_red.png"), "--texts", *texts, "--model", str(folder), "--json"])
    assert code == 0
    rows = json.loads(capsys.readouterr().out)[0]["texts"]
    assert [r["text"] for r in rows] == texts
    scale, bias = model.logit_scale.exp().item(), model.logit_bias.item()
    for r in rows:
        assert abs(r["logit"] - (r["cosine"] * scale + bias)) <= 1e-5 * max(1, abs(r["logit"]))
        assert abs(r["probability"] - 1 / (1 + np.exp(-r["logit"]))) <= 1e-6
    code = main(["similarity", str(pictures / "d_broken.png"), "--texts", "x", "--model", str(folder)])
    assert code == 1 and "d_broken.png" in capsys.readouterr().err


def test_missing_model_is_one_clear_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SIGLIP2_CHECKPOINTS", str(tmp_path / "ckpts"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    image = tmp_path / "x.png"
    Image.new("RGB", (8, 8)).save(image)
    code = main(["classify", str(image), "--labels", "a", "--model", "google/siglip2-base-patch16-naflex"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1  # a setup error (docs/errors.md)
    assert "model.safetensors" in err and str(tmp_path / "ckpts" / "siglip2-base-patch16-naflex") in err
    code = main(["classify", str(image), "--labels", "a", "--model", str(tmp_path / "no_such_folder")])
    assert code == 2 and "no_such_folder" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys):
    assert main(["classify", "x.png"]) == 2  # --labels missing
    assert main(["classify", "x.png", "--labels", "a", "--max-patches", "0"]) == 2
    assert main([]) == 2
    assert "usage" in capsys.readouterr().err
    assert main(["--help"]) == 0


def _run_module(args):
    """`python -m siglip2_min ARGS` in a fresh interpreter where transformers, huggingface_hub and tqdm cannot be
    imported, as on a machine with only the core dependencies (None in sys.modules makes `import` fail)."""
    code = (
        "import sys, runpy\n"
        "for name in ('transformers', 'huggingface_hub', 'tqdm'):\n    sys.modules[name] = None\n"
        "sys.argv = ['siglip2-min'] + sys.argv[1:]\n"
        "runpy.run_module('siglip2_min', run_name='__main__', alter_sys=True)\n"
    )
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)


def test_python_dash_m_runs_without_optional_packages(tiny, pictures):
    folder, _, _ = tiny
    result = _run_module(["classify", str(pictures / "b_red.png"), "--labels", "red", "blue",
                          "--model", str(folder), "--json"])
    assert result.returncode == 0, result.stderr
    assert [e["label"] for e in json.loads(result.stdout)[0]["labels"]][0] in ("red", "blue")


@pytest.mark.skipif(not BUNDLED_CONFIG.is_file(),
                    reason=f"the bundled model is not built ({BUNDLED_CONFIG} missing): run "
                           "`python -m siglip2_min.train --out siglip2_min/assets/tiny --overwrite`")
def test_demo_runs_on_the_bundled_model_with_core_packages_only():
    result = _run_module(["demo"])
    assert result.returncode == 0, result.stderr
    assert "best guess" in result.stdout and "right." in result.stdout
    rows = json.loads(_run_module(["demo", "--json"]).stdout)
    from siglip2_min.demo import DRAWINGS, labels

    assert [r["drawn"] for r in rows] == [f"a {c} {s}" for c, s, _ in DRAWINGS]
    for row in rows:
        assert all(e["label"] in labels() for e in row["labels"])
        probs = [e["probability"] for e in row["labels"]]
        assert probs == sorted(probs, reverse=True) and all(0 < p < 1 for p in probs)


def test_classify_encodes_the_prompts_once_and_batches_images_by_batch_size(tiny, pictures, monkeypatch, capsys):
    folder, _, _ = tiny
    calls = {"texts": [], "images": []}
    real_texts, real_images = api.embed_texts, api.embed_images
    monkeypatch.setattr(api, "embed_texts", lambda m, p, texts, **kw: calls["texts"].append(list(texts))
                        or real_texts(m, p, texts, **kw))
    monkeypatch.setattr(api, "embed_images", lambda m, p, images, **kw: calls["images"].append(
                        (len(images), kw["batch_size"])) or real_images(m, p, images, **kw))
    code = main(["classify", str(pictures), "--labels", "red", "blue", "--model", str(folder), "--batch-size", "2",
                 "--json"])
    assert code == 1 and len(json.loads(capsys.readouterr().out)) == 4  # 3 images and the corrupt one
    assert calls["texts"] == [["This is a photo of red.", "This is a photo of blue."]]  # once, for every chunk
    # files in sorted order: a_blue, b_red | d_broken (failed), sub/c_green -> chunks of 2 and 1 readable images
    assert calls["images"] == [(2, 2), (1, 2)]
