"""Small things a user meets first: the truncation warning, classify's progress on a terminal, folder scans that take
every format Pillow opens, `--version`."""

import importlib.metadata
import io
import json
import sys
import warnings

import pytest
import torch
from PIL import Image

from siglip2_min.__main__ import main
from siglip2_min.datasets import image_suffixes
from siglip2_min.tokenizer import EOS_ID, TEXT_LENGTH, TextTruncatedWarning, Tokenizer
from spm_fixture import train_tiny_spm
from tiny_folder import make_model_folder


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    return Tokenizer(train_tiny_spm(tmp_path_factory.mktemp("spm")))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_model_folder(tmp_path_factory.mktemp("model"))[0]


def text_of(tok, n):
    """A text of exactly `n` SentencePiece pieces, built word by word (pieces do not merge across "a dog. ")."""
    text = ""
    while len(tok.sp.encode(text)) < n:
        text += "a dog. "
        while len(tok.sp.encode(text)) > n:
            text = text[:-1]
    assert len(tok.sp.encode(text)) == n, "could not build a text of exactly n pieces"
    return text


def test_a_text_that_fits_gives_no_warning_and_one_that_does_not_is_named(tok):
    fits, over = text_of(tok, TEXT_LENGTH - 1), text_of(tok, TEXT_LENGTH)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        assert tok(fits)[0, -1] == EOS_ID  # 63 pieces + EOS fill all 64 positions, nothing is cut
    with pytest.warns(TextTruncatedWarning, match=r"\(64 pieces\)") as caught:
        ids = tok([fits, over, "a cat"])
    assert len(caught) == 1 and over[:60] in str(caught[0].message) and "1 text(s)" in str(caught[0].message)
    assert ids[1].tolist() == tok.sp.encode(over)[: TEXT_LENGTH - 1] + [EOS_ID]


def test_one_warning_per_call_names_every_cut_text_and_the_ids_are_hfs(tok, tmp_path):
    import transformers

    long_a, long_b = text_of(tok, 70), "the " + text_of(tok, 100)
    with pytest.warns(TextTruncatedWarning) as caught:
        ids = tok([long_a, "short", long_b])
    assert len(caught) == 1
    message = str(caught[0].message)
    assert message.startswith("2 text(s)") and "(70 pieces)" in message and repr(long_b[:60]) in message
    hf = transformers.Siglip2Tokenizer.from_pretrained(tok.path.parent)
    hf_ids = hf([long_a, "short", long_b], padding="max_length", truncation=True, max_length=TEXT_LENGTH,
                return_tensors="pt")["input_ids"]
    assert torch.equal(ids, hf_ids), "the warning changes nothing in the ids HF makes"


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_classify_shows_progress_on_a_terminal_and_not_in_a_pipe(folder, tmp_path, monkeypatch, capsys):
    paths = []
    for i in range(3):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.new("RGB", (20, 20), (80 * i, 0, 0)).save(paths[-1])
    argv = ["classify", *paths, "--labels", "red", "blue", "--model", str(folder), "--batch-size", "1"]
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(argv) == 0
    assert "classify  3/3  100%" in terminal.getvalue()
    monkeypatch.undo()
    capsys.readouterr()
    assert main(argv) == 0
    assert "classify  " not in capsys.readouterr().err  # captured stderr is not a terminal
    assert main(argv + ["--progress"]) == 0
    assert "classify  3/3" in capsys.readouterr().err


def test_folder_scans_take_every_format_pillow_decodes(folder, tmp_path, capsys):
    root = tmp_path / "pictures"
    root.mkdir()
    saved = [".avif", ".qoi", ".tga", ".pcx", ".png"]  # the first four were skipped by a fixed list of suffixes
    for suffix in saved:
        Image.new("RGB", (16, 16), "red").save(root / f"x{suffix}")
    (root / "data.h5").write_bytes(b"\x89HDF\r\n\x1a\n")  # a stub format Pillow names but cannot decode
    (root / "notes.txt").write_text("not an image")
    assert set(saved) <= image_suffixes() and ".h5" not in image_suffixes()
    assert main(["classify", str(root), "--labels", "red", "blue", "--model", str(folder), "--json"]) == 0
    files = [row["file"] for row in json.loads(capsys.readouterr().out)]
    assert sorted(files) == sorted(str(root / f"x{s}") for s in saved)


def test_version_prints_the_installed_package_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"siglip2-min {importlib.metadata.version('siglip2-min')}"
