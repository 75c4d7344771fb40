"""Bad and hostile inputs, as users hand them in: every one ends in a clear error naming the problem (one line on the
command line, exit code 2 for a usage or setup error, 1 for failed inputs), never a traceback from inside
torch/numpy/PIL, a hang, a silently wrong result, or a changed or half-written file (docs/errors.md).

Kinds: data loss (outputs), CLI usage and setup, trainer and compare arguments, images, checkpoint files, size
limits, texts. Every case that can fail after touching the disk checks that nothing on disk changed."""

import io
import json
import os
import shutil
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import hf_fixtures
import siglip2_min
from siglip2_min import api, naflex, train
from siglip2_min.__main__ import main
from siglip2_min.processor import load_processor
from siglip2_min.tokenizer import Tokenizer
from siglip2_min.weights import CheckpointError
from tiny_folder import make_model_folder

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A complete random-weight model folder (patch 4, 16 patches), never modified: copy it to change a file."""
    return make_model_folder(tmp_path_factory.mktemp("tiny"))[0]


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """An image file shared by the property tests, never modified."""
    path = tmp_path_factory.mktemp("photo") / "blue.png"
    Image.new("RGB", (20, 30), "blue").save(path)
    return path


@pytest.fixture()
def image(tmp_path):
    path = tmp_path / "red.png"
    Image.new("RGB", (30, 20), "red").save(path)
    return path


def copy_with(folder, tmp_path, name, content):
    """A copy of `folder` in which file `name` holds `content` (bytes, or JSON-able data)."""
    copy = tmp_path / "model"
    shutil.copytree(folder, copy)
    data = content if isinstance(content, bytes) else json.dumps(content).encode()
    (copy / name).write_bytes(data)
    return copy


def snapshot(root):
    """{relative path: bytes} of every file under `root`: equal before and after means nothing on disk changed."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(Path(root).rglob("*")) if p.is_file()}


def cli(capsys, *argv):
    """(exit code, stdout, stderr) of `siglip2-min ARGV`, asserting no traceback reached the user."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    return code, out, err


def one_error_line(err, *words):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("siglip2-min: error: "), err
    for word in words:
        assert word in lines[0], (word, err)


# --- data loss: outputs are checked first, never replaced without asking, never half-written ---------------------
def test_embed_refuses_an_existing_out_and_leaves_it_untouched(folder, image, tmp_path, capsys):
    out = tmp_path / "emb.npz"
    out.write_bytes(b"precious")
    code, _, err = cli(capsys, "embed", image, "--out", out, "--model", folder)
    assert code == 2 and out.read_bytes() == b"precious"
    one_error_line(err, "already exists", "--overwrite")
    code, _, _ = cli(capsys, "embed", image, "--out", out, "--model", folder, "--overwrite")
    assert code == 0 and np.load(out)["embeddings"].shape[0] == 1


def test_embed_writes_nothing_when_every_input_failed(folder, tmp_path, capsys):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG no")
    out = tmp_path / "emb.npz"
    code, _, err = cli(capsys, "embed", broken, "--out", out, "--model", folder)
    assert code == 1 and not out.exists() and "not written" in err and "broken.png" in err
    out.write_bytes(b"precious")  # and with --overwrite the old file stays: an empty result replaces nothing
    code, _, _ = cli(capsys, "embed", broken, "--out", out, "--model", folder, "--overwrite")
    assert code == 1 and out.read_bytes() == b"precious"


def test_a_failed_embed_write_leaves_the_old_file_and_no_temporary(folder, image, tmp_path, capsys, monkeypatch):
    out = tmp_path / "emb.npz"
    out.write_bytes(b"precious")
    before = snapshot(tmp_path)

    def disk_full(f, **arrays):
        f.write(b"half an archive")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    code, _, err = cli(capsys, "embed", image, "--out", out, "--model", folder, "--overwrite")
    assert code == 2 and "No space left" in err
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("case", ["a folder", "missing folder", "unwritable folder", "not .npz"])
def test_a_bad_embed_out_is_refused_before_any_work(case, folder, image, tmp_path, capsys, monkeypatch):
    out = {"a folder": tmp_path / "dir.npz", "missing folder": tmp_path / "no" / "e.npz",
           "unwritable folder": tmp_path / "e.npz", "not .npz": tmp_path / "e.pkl"}[case]
    if case == "a folder":
        out.mkdir()
    if case == "unwritable folder":  # the tests run as root, for whom every folder is writable: ask os.access
        monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path)
    monkeypatch.setattr(siglip2_min.hub, "resolve_model", lambda *a: pytest.fail("work started before the check"))
    before = snapshot(tmp_path)
    code, _, err = cli(capsys, "embed", image, "--out", out, "--model", folder)
    assert code == 2 and snapshot(tmp_path) == before
    one_error_line(err, {"a folder": "is a folder", "missing folder": "does not exist",
                         "unwritable folder": "not writable", "not .npz": ".npz"}[case])


def test_demo_save_never_replaces_a_users_file(tmp_path, capsys):
    saved = tmp_path / "drawings"
    saved.mkdir()
    (saved / "red_circle.png").write_bytes(b"mine")
    code, _, err = cli(capsys, "demo", "--save", saved)
    assert code == 2 and (saved / "red_circle.png").read_bytes() == b"mine" and len(list(saved.iterdir())) == 1
    one_error_line(err, "red_circle.png", "already exists")
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    code, _, err = cli(capsys, "demo", "--save", a_file)
    assert code == 2 and a_file.read_text() == "x"
    one_error_line(err, "a_file", "not a folder")


def test_demo_save_writes_its_drawings_and_overwrites_only_when_asked(tmp_path, capsys):
    saved = tmp_path / "drawings"
    code, _, _ = cli(capsys, "demo", "--save", saved, "--json")
    assert code == 0 and len(list(saved.glob("*.png"))) == 5
    (saved / "red_circle.png").write_bytes(b"mine")
    assert cli(capsys, "demo", "--save", saved, "--overwrite", "--json")[0] == 0
    assert Image.open(saved / "red_circle.png").size == (128, 128)


def test_train_refuses_an_existing_out_and_a_failed_run_leaves_no_folder(tmp_path, monkeypatch, capsys):
    old = tmp_path / "model"
    old.mkdir()
    (old / "config.json").write_text("{}")
    before = snapshot(tmp_path)
    with pytest.raises(SystemExit) as exit:
        train.main(["--out", str(old), "--steps", "1"])
    assert exit.value.code == 2 and "already exists" in capsys.readouterr().err and snapshot(tmp_path) == before

    def crash(*args, **kwargs):
        raise RuntimeError("killed part-way")

    monkeypatch.setattr(train, "train", crash)  # after the tokenizer and config files are written
    with pytest.raises(RuntimeError, match="part-way"):
        train.main(["--out", str(tmp_path / "new"), "--steps", "1"])
    with pytest.raises(RuntimeError, match="part-way"):
        train.main(["--out", str(old), "--steps", "1", "--overwrite"])
    assert snapshot(tmp_path) == before and sorted(os.listdir(tmp_path)) == ["model"]  # no temporary left


def test_golden_files_are_written_whole_or_not_at_all(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_golden", REPO / "tests" / "golden" / "make_golden.py")
    make_golden = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_golden)
    target = tmp_path / "golden.json"
    target.write_text('{"old": 1}')
    make_golden.REPO = tmp_path  # `write` prints the path relative to REPO
    with pytest.raises(ValueError):  # NaN is not JSON: refused before the old file is touched
        make_golden.write(target, {"logits": float("nan")})
    assert target.read_text() == '{"old": 1}' and os.listdir(tmp_path) == ["golden.json"]
    make_golden.write(target, {"logits": 1.5})
    assert json.loads(target.read_text()) == {"logits": 1.5}


# --- the command line: one line, exit 2, before any work -----------------------------------------------------------
@pytest.mark.parametrize(
    "args, words",
    [
        (["--labels", "cat", "cat"], ["distinct", "'cat'"]),
        (["--labels", ""], ["non-empty", "''"]),
        (["--labels", "   "], ["non-empty"]),
        (["--labels", "cat", "--template", "a photo"], ["template", "{}", "'a photo'"]),
        (["--labels", "cat", "--device", "cuda"], ["--device cuda", "CUDA is not available"]),
        (["--labels", "cat", "--device", "cuda:7"], ["--device cuda:7", "CUDA is not available"]),
        (["--labels", "cat", "--device", "toaster"], ["--device toaster", "not a device"]),
        (["--labels", "a \udcff cat"], ["lone surrogate", "U+DCFF"]),
        (["--labels", "cat", "--max-patches", "100000"], ["100000", "limit of 4096"]),
        (["--labels", "cat", "--max-patches", "100000000"], ["100000000", "limit of 4096"]),
    ],
)
def test_classify_usage_errors_are_one_line(args, words, folder, image, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the same on a machine with a GPU
    start = time.monotonic()
    code, out, err = cli(capsys, "classify", image, "--model", folder, *args)
    assert code == 2 and out == ""
    one_error_line(err, *words)
    assert time.monotonic() - start < 30  # a budget of 1e8 is refused, not allocated


OPTIONS = ["--labels", "--template", "--top", "--max-patches", "--batch-size", "--device", "--dtype", "--json", "--model"]
VALUES = ["cat", "", "{}", "0", "-1", "2", "4096", "99999", "nan", "cpu", "cuda", "float16", "a \udcff", "{} {}"]


@settings(max_examples=40, deadline=None)
@given(argv=st.lists(st.sampled_from(OPTIONS + VALUES), max_size=8))
def test_any_classify_command_line_ends_in_0_1_or_2_without_a_traceback(argv, folder, photo):
    # Labels first (the drawn options may replace them) so most runs reach the model; the model is named last so
    # that every run loads the small random one. argparse's own usage errors count too.
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["classify", str(photo), "--labels", "cat", "dog", *argv, "--model", str(folder)])
    assert code in (0, 1, 2) and "Traceback" not in err.getvalue(), (argv, err.getvalue())
    if code == 2:
        assert "error:" in err.getvalue().strip().splitlines()[-1], (argv, err.getvalue())
    if code != 2 and "--json" in argv:
        json.loads(out.getvalue())


def test_json_is_valid_on_error_paths(folder, image, tmp_path, capsys):
    code, out, err = cli(capsys, "classify", image, "--labels", "cat", "cat", "--model", folder, "--json")
    assert code == 2 and "distinct" in json.loads(out)["error"]
    code, out, _ = cli(capsys, "similarity", tmp_path / "missing.png", "--texts", "x", "--model", folder, "--json")
    assert code == 1 and "no such file" in json.loads(out)[0]["error"]  # one row per image, as classify
    code, out, _ = cli(capsys, "classify", tmp_path / "missing.png", image, "--labels", "a", "b", "--model", folder,
                       "--json")
    rows = json.loads(out)
    assert code == 1 and "no such file" in rows[0]["error"] and len(rows[1]["labels"]) == 2


def test_debug_shows_the_traceback(folder, image):
    with pytest.raises(ValueError, match="distinct"):
        main(["classify", str(image), "--labels", "cat", "cat", "--model", str(folder), "--debug"])


@pytest.mark.parametrize(
    "name, content, words",
    [
        ("tokenizer.model", b"not a sentencepiece model", ["tokenizer.model", "not a readable SentencePiece"]),
        ("tokenizer.model", b"", ["tokenizer.model", "not a readable SentencePiece"]),
        ("preprocessor_config.json", {"image_processor_type": "Siglip2ImageProcessor", "image_std": 0},
         ["preprocessor_config.json", "image_std", "NaN"]),
        ("preprocessor_config.json", [], ["preprocessor_config.json", "JSON object"]),
        ("model.safetensors", b"\x00\x01", ["model.safetensors"]),
    ],
)
def test_a_broken_model_file_is_one_line_before_any_work(name, content, words, folder, image, tmp_path, capsys):
    broken = copy_with(folder, tmp_path, name, content)
    before = snapshot(tmp_path)
    code, out, err = cli(capsys, "classify", image, "--labels", "cat", "--model", broken)
    assert code == 2 and out == "" and snapshot(tmp_path) == before
    one_error_line(err, *words)


def test_an_image_classifier_given_to_a_text_command_is_one_line(folder, image, tmp_path, capsys):
    classifier = tmp_path / "classifier"
    hf_fixtures.hf_classifier_model().save_pretrained(classifier)
    for name in ("tokenizer.model", "tokenizer_config.json", "preprocessor_config.json"):
        shutil.copy(folder / name, classifier / name)
    capsys.readouterr()  # save_pretrained's progress bar
    for command in (["classify", image, "--labels", "cat"], ["similarity", image, "--texts", "cat"]):
        code, _, err = cli(capsys, *command, "--model", classifier)
        assert code == 2
        one_error_line(err, "image-classification checkpoint", command[0])


def test_an_unreadable_subfolder_is_reported_not_skipped(folder, tmp_path, capsys, monkeypatch):
    photos = tmp_path / "photos"
    (photos / "locked").mkdir(parents=True)
    Image.new("RGB", (8, 8), "blue").save(photos / "a.png")
    real_scandir = os.scandir

    def scandir(path="."):  # as root every folder is readable, so the denial is simulated
        if Path(path) == photos / "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    code, out, err = cli(capsys, "classify", photos, "--labels", "blue", "red", "--model", folder, "--json")
    assert code == 1 and [Path(r["file"]).name for r in json.loads(out)] == ["a.png"]
    one_error_line(err, "locked", "cannot read the folder", "Permission denied")


def test_non_finite_scores_are_an_error_not_output(folder, image):
    model, processor = siglip2_min.load_model(folder), load_processor(folder)
    model.logit_bias.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="non-finite logits"):
        api.zero_shot(model, processor, [str(image)], ["cat", "dog"])
    model.vision_model.post_layernorm.weight.fill_(float("inf"))
    with pytest.raises(FloatingPointError, match="non-finite image embeddings"):
        api.embed_images(model, processor, [str(image)])


# --- trainer and compare arguments ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, words",
    [
        (["--batch-size", "0"], ["--batch-size", ">= 1"]),
        (["--lr", "nan"], ["--lr", "finite number > 0"]),
        (["--lr", "inf"], ["--lr", "finite"]),
        (["--lr", "0"], ["--lr", "> 0"]),
        (["--threads", "-1"], ["--threads", ">= 0"]),
        (["--seed", "-1"], ["--seed", ">= 0"]),
        (["--eval-images", "0"], ["--eval-images", ">= 1"]),
        (["--steps", "-1"], ["--steps", ">= 1"]),
        (["--steps", "1.5"], ["--steps", "'1.5'"]),
        (["--weight-decay", "-0.1"], ["--weight-decay", ">= 0"]),
        (["--out", ""], ["--out", "empty"]),
    ],
)
def test_bad_trainer_arguments_are_usage_errors(args, words, tmp_path, capsys):
    argv = ["--out", str(tmp_path / "model")] + args  # a later --out replaces the first
    with pytest.raises(SystemExit) as exit:
        train.main(argv)
    err = capsys.readouterr().err
    assert exit.value.code == 2 and "Traceback" not in err
    assert all(w in err.strip().splitlines()[-1] for w in words), err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("case", ["empty folder", "missing folder", "config is a list", "atol -1", "atol nan"])
def test_compare_refuses_bad_folders_and_tolerances_in_one_line(case, folder, tmp_path, capsys):
    from reference_numpy import compare

    args = {"empty folder": [str(tmp_path)], "missing folder": [str(tmp_path / "nope")],
            "config is a list": [str(copy_with(folder, tmp_path, "config.json", []))],
            "atol -1": [str(folder), "--atol", "-1"], "atol nan": [str(folder), "--atol", "nan"]}[case]
    try:
        code = compare.main(args)
    except SystemExit as exit:  # argparse's usage error
        code = exit.code
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()[-1]) > 0, err
    assert ("--atol" in err and "finite number >= 0" in err) if "atol" in case else "error:" in err


# --- images ----------------------------------------------------------------------------------------------------------
def exif_rotated_jpeg(path, orientation=6):
    """A 40x20 JPEG with a red left half, tagged with an EXIF orientation (6: rotate 90 degrees to view)."""
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(path, exif=exif.tobytes(), quality=95)
    return path


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_image_files_are_turned_upright_as_hf_load_image_does(orientation, tmp_path):
    from transformers.image_utils import load_image as hf_load_image

    path = exif_rotated_jpeg(tmp_path / "photo.jpg", orientation)
    ours = api.load_image(str(path))
    assert np.array_equal(np.asarray(ours), np.asarray(hf_load_image(str(path))))  # the same pixels, exactly
    assert ours.size == ((20, 40) if orientation in (6, 8) else (40, 20))
    # An image handed in directly is used as it is, as HF's image processor uses it.
    raw = Image.open(path)
    assert naflex.to_rgb(raw).size == (40, 20)


@pytest.mark.parametrize("mode", ["I;16", "I", "F"])
def test_16_bit_and_float_images_are_refused_as_hf_refuses_them(mode, tmp_path):
    from transformers.models.siglip2.image_processing_pil_siglip2 import Siglip2ImageProcessorPil

    values = {"I;16": np.full((8, 8), 40000, np.uint16), "I": np.full((8, 8), 40000, np.int32),
              "F": np.full((8, 8), 0.5, np.float32)}[mode]
    image = Image.fromarray(values)
    assert image.mode == mode
    with pytest.raises(ValueError):  # the reference: HF's processor refuses it too
        Siglip2ImageProcessorPil(patch_size=4, max_num_patches=16)(image, return_tensors="np")
    with pytest.raises(ValueError, match=rf"mode '{mode}' \(16-bit or float pixels\).*Convert it"):
        naflex.preprocess([image], 4, 16)
    if mode == "I;16":  # a 16-bit PNG file: an ImageReadError naming it, so the CLI skips just that file
        image.save(tmp_path / "scan.png")
        with pytest.raises(api.ImageReadError, match="scan.png"):
            api.load_image(tmp_path / "scan.png")


PNG_BYTES = io.BytesIO()
Image.fromarray(np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(PNG_BYTES, "PNG")
JPEG_BYTES = io.BytesIO()
Image.fromarray(np.random.default_rng(1).integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(JPEG_BYTES, "JPEG")


@settings(max_examples=60, deadline=None)
@given(data=st.sampled_from([PNG_BYTES.getvalue(), JPEG_BYTES.getvalue()]), keep=st.floats(0, 0.99))
def test_a_truncated_image_file_is_an_error_naming_it(data, keep, tmp_path_factory):
    path = tmp_path_factory.mktemp("cut") / "cut.img"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(api.ImageReadError, match="cut.img"):
        api.load_image(path)


def test_a_lazily_opened_truncated_image_is_named_too(tmp_path):
    path = tmp_path / "lazy.jpg"
    path.write_bytes(JPEG_BYTES.getvalue()[: len(JPEG_BYTES.getvalue()) * 6 // 10])  # the header opens, pixels fail
    with pytest.raises(ValueError, match="lazy.jpg"):
        naflex.preprocess([Image.open(path)], 4, 16)


# --- checkpoint files read by the processor ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "pre, key",
    [
        ({"image_std": 0}, "image_std"),
        ({"image_std": [0.5, 0, 0.5]}, "image_std"),
        ({"image_std": -1}, "image_std"),
        ({"image_mean": "grey"}, "image_mean"),
        ({"image_mean": [0.5, 0.5]}, "image_mean"),
        ({"rescale_factor": 0}, "rescale_factor"),
        ({"rescale_factor": None}, "rescale_factor"),
        ({"patch_size": "4"}, "patch_size"),
        ({"patch_size": 4.0}, "patch_size"),
        ({"patch_size": 100_000}, "patch_size"),
        ({"max_num_patches": 100_000_000}, "max_num_patches"),
        ({"max_num_patches": 0}, "max_num_patches"),
        ({"resample": 99}, "resample"),
        ({"do_normalize": "yes"}, "do_normalize"),
        ({"image_processor_type": ["x"]}, "image_processor_type"),
    ],
)
def test_bad_preprocessor_values_are_refused_on_load(pre, key, folder, tmp_path):
    base = json.loads((folder / "preprocessor_config.json").read_text())
    broken = copy_with(folder, tmp_path, "preprocessor_config.json", {**base, **pre})
    with pytest.raises(CheckpointError, match=rf"preprocessor_config.json.*{key}"):
        load_processor(broken)


@pytest.mark.parametrize("value", [0, "64", 10**9])
def test_a_bad_text_length_in_config_json_is_refused_before_any_allocation(value, folder, tmp_path):
    config = json.loads((folder / "config.json").read_text())
    config["text_config"]["max_position_embeddings"] = value
    with pytest.raises(CheckpointError, match=r"config.json: max_position_embeddings must be an integer from 1"):
        load_processor(copy_with(folder, tmp_path, "config.json", config))


@pytest.mark.parametrize("content", [b"[]", b"null", b"7", b"{", b"\xff\xfe"])
def test_a_preprocessor_config_that_is_not_an_object_is_refused(content, folder, tmp_path):
    with pytest.raises(CheckpointError, match="preprocessor_config.json"):
        load_processor(copy_with(folder, tmp_path, "preprocessor_config.json", content))


# --- size limits -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(max_num_patches=100_000), ["max_num_patches 100000", "limit of 4096", "1024"]),
        (dict(max_num_patches=100_000_000), ["limit of 4096"]),
        (dict(patch_size=100_000), ["patch_size 100000", "limit of 64"]),
        (dict(max_num_patches=naflex.MAX_NUM_PATCHES + 1), ["limit of 4096"]),
    ],
)
def test_sizes_above_the_limits_are_refused_before_any_allocation(kwargs, words):
    start = time.monotonic()
    with pytest.raises(ValueError) as err:
        naflex.preprocess([np.zeros((8, 8, 3), np.uint8)], **{"patch_size": 4, "max_num_patches": 16, **kwargs})
    assert all(w in str(err.value) for w in words), str(err.value)
    assert time.monotonic() - start < 1  # refused, not attempted


def test_the_largest_allowed_budget_runs():
    values, mask, shapes = naflex.preprocess([np.zeros((8, 8, 3), np.uint8)], 1, naflex.MAX_NUM_PATCHES)
    assert values.shape == (1, 4096, 3) and int(mask.sum()) == 64 * 64


# --- texts -------------------------------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(before=st.text(max_size=20), surrogate=st.integers(0xD800, 0xDFFF), after=st.text(max_size=20))
def test_a_lone_surrogate_in_any_text_is_named(before, surrogate, after, folder):
    text = before + chr(surrogate) + after
    with pytest.raises(ValueError, match=f"lone surrogate U\\+{surrogate:04X}"):
        Tokenizer(folder)([text])


@settings(max_examples=60, deadline=None)
@given(text=st.text(st.characters(blacklist_categories=["Cs"]), max_size=200))
def test_any_valid_text_gives_64_ids_ending_in_eos_then_padding(text, folder):
    ids = Tokenizer(folder)(text)[0].tolist()  # [64]
    assert len(ids) == 64 and 1 in ids and all(i == 0 for i in ids[ids.index(1) + 1 :])


@pytest.mark.parametrize("content, key", [
    ([], "JSON object"),
    (None, "JSON object"),
    ({"model_type": "siglip2", "text_config": []}, "text_config"),
    ({"model_type": "siglip2", "vision_config": "big"}, "vision_config"),
    ({"model_type": "siglip2", "architectures": ["Siglip2ForImageClassification"]}, "id2label"),
    ({"model_type": "siglip2", "architectures": ["Siglip2ForImageClassification"], "id2label": ["cat"]}, "id2label"),
    ({"model_type": "siglip2", "vision_config": {"num_attention_heads": 0}}, "num_attention_heads"),
    ({"model_type": "siglip2", "text_config": {"num_attention_heads": 0}}, "num_attention_heads"),
    ({"model_type": "siglip2", "vision_config": {"patch_size": 16.0}}, "patch_size"),
    ({"model_type": "siglip2", "vision_config": {"patch_size": "16"}}, "patch_size"),
    ({"model_type": "siglip", "vision_config": {"image_size": "224"}}, "image_size"),
])
def test_a_malformed_config_json_names_file_and_key_in_both_loaders(content, key, tmp_path):
    # Never an AttributeError, KeyError or ZeroDivisionError from deep inside: the torch loader's CheckpointError and
    # the numpy twin's ValueError both name the file and the key.
    import reference_numpy.weights

    (tmp_path / "config.json").write_text(json.dumps(content))
    with pytest.raises(CheckpointError, match=rf"config.json: .*{key}"):
        siglip2_min.weights.read_config(tmp_path)
    with pytest.raises(ValueError, match=rf"config.json.*{key}") as info:
        reference_numpy.weights.read_config(str(tmp_path))
    assert type(info.value) is ValueError


def test_the_numpy_twin_refuses_a_one_tower_folder_saying_so(tmp_path):
    import reference_numpy

    hf_fixtures.hf_naflex_model().vision_model.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="'siglip2_vision_model' is a one-tower checkpoint; the numpy twin reads"):
        reference_numpy.load_model(tmp_path)


def test_the_numpy_twin_refuses_bfloat16_even_after_ml_dtypes_is_imported(tmp_path):
    # onnx imports ml_dtypes, which teaches numpy bfloat16: the twin's answer must not depend on what ran before.
    import reference_numpy

    pytest.importorskip("ml_dtypes")  # installed with the [export] extra (onnx)
    hf_fixtures.hf_naflex_model().to(torch.bfloat16).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="stored as bfloat16.*convert the checkpoint to float32"):
        reference_numpy.load_model(tmp_path)
