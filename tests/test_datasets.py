"""Class folders and image-caption files: what they read, and every bad input named with its file and line."""

import json

import pytest
from PIL import Image

from siglip2_min.datasets import DatasetError, read_captions, read_class_folder


def _image(path, colour="red"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 6), colour).save(path)
    return path


def test_class_folder_reads_names_with_underscores_as_spaces_and_skips_hidden_files(tmp_path):
    _image(tmp_path / "golden_retriever" / "b.png")
    _image(tmp_path / "golden_retriever" / "a.jpg")
    _image(tmp_path / "golden_retriever" / "deeper" / "c.webp")
    _image(tmp_path / "cat" / "x.png")
    _image(tmp_path / "cat" / ".hidden.png")
    _image(tmp_path / ".thumbnails" / "t.png")
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    data = read_class_folder(tmp_path)
    assert data.class_names == ["cat", "golden retriever"]
    names = [p.split("/")[-1] for p in data.paths]
    assert names == ["x.png", "a.jpg", "b.png", "c.webp"]
    assert data.targets == [0, 1, 1, 1]


@pytest.mark.parametrize("layout, message", [
    ({"cat/a.png": True}, "needs at least two class folders"),
    ({"cat/a.png": True, "dog/readme.txt": False}, "dog: class folder without images"),
    ({"cat/a.png": True, "dog/b.png": True, "stray.png": True}, "stray.png: an image outside any class folder"),
    ({"sea_lion/a.png": True, "sea lion/b.png": True}, "class 'sea lion' again"),
    ({"cat/a.png": True, "dog/broken.png": False}, "broken.png: not a readable image"),
])  # fmt: skip
def test_bad_class_folders_are_refused_naming_the_problem(tmp_path, layout, message):
    for name, is_image in layout.items():
        if is_image:
            _image(tmp_path / name)
        else:
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_text("garbage")
    with pytest.raises(DatasetError, match=message):
        read_class_folder(tmp_path)


def test_csv_and_jsonl_give_the_same_pairs_with_several_captions_per_image(tmp_path):
    _image(tmp_path / "img" / "a.png")
    _image(tmp_path / "img" / "b.png", "blue")
    (tmp_path / "pairs.csv").write_text(
        "id,image,caption\n1,img/a.png,a red square\n2,img/b.png,\"a blue,\nsquare\"\n3,img/a.png,red\n"
    )
    (tmp_path / "pairs.jsonl").write_text(
        json.dumps({"image": "img/a.png", "caption": "a red square"}) + "\n\n"
        + json.dumps({"image": "img/b.png", "caption": "a blue,\nsquare"}) + "\n"
        + json.dumps({"image": "img/a.png", "caption": ["red"]}) + "\n"
    )
    csv_pairs, jsonl_pairs = read_captions(tmp_path / "pairs.csv"), read_captions(tmp_path / "pairs.jsonl")
    for pairs in (csv_pairs, jsonl_pairs):
        assert pairs.images == [str(tmp_path / "img" / "a.png"), str(tmp_path / "img" / "b.png")]
        assert pairs.texts == ["a red square", "a blue,\nsquare", "red"]
        assert pairs.text_image == [0, 1, 0]
    assert csv_pairs.lines == [2, 3, 5]  # the quoted caption spans lines 3-4: its row is reported at 3
    assert jsonl_pairs.lines == [1, 3, 4]


def test_a_missing_image_is_an_error_naming_its_line_before_any_work(tmp_path):
    _image(tmp_path / "a.png")
    (tmp_path / "pairs.csv").write_text("image,caption\na.png,ok\nmissing.png,gone\nmissing.png,again\n")
    with pytest.raises(DatasetError, match=r"pairs.csv:3: .*missing.png: no such image file") as err:
        read_captions(tmp_path / "pairs.csv")
    assert "1 problem" in str(err.value)  # one missing image, reported once at its first row


@pytest.mark.parametrize("name, content, message", [
    ("p.csv", "file,text\na.png,x\n", r"p.csv:1: the header must name the columns 'image' and 'caption'"),
    ("p.csv", "image,caption\na.png\n", r"p.csv:2: 1 fields, the header has 2"),
    ("p.csv", "image,caption\na.png,x\na.png,  \n", r"p.csv:3: the caption of a.png is empty"),
    ("p.csv", "image,caption\n,x\n", r"p.csv:2: the image path is empty"),
    ("p.csv", "image,caption\n", r"no image-caption rows"),
    ("p.jsonl", '{"image": "a.png", "caption": "x"}\n{"image": "a.png"\n', r"p.jsonl:2: not valid JSON"),
    ("p.jsonl", '{"image": "a.png", "text": "x"}\n', r'p.jsonl:1: expected an object with keys "image" and "caption"'),
    ("p.jsonl", '{"image": "a.png", "caption": [1]}\n', r"p.jsonl:1: the caption of a.png is empty or not text"),
    ("p.txt", "a.png x\n", r"a caption file is .csv"),
])  # fmt: skip
def test_bad_caption_rows_are_reported_with_their_line_number(tmp_path, name, content, message):
    _image(tmp_path / "a.png")
    (tmp_path / name).write_text(content)
    with pytest.raises(DatasetError, match=message):
        read_captions(tmp_path / name)


def test_every_problem_is_counted_and_the_first_ten_shown(tmp_path):
    rows = "".join(f"m{i}.png,x\n" for i in range(12))
    (tmp_path / "p.csv").write_text("image,caption\n" + rows)
    with pytest.raises(DatasetError, match=r"12 problem\(s\)") as err:
        read_captions(tmp_path / "p.csv")
    assert "p.csv:11:" in str(err.value) and "p.csv:12:" not in str(err.value) and "and 2 more" in str(err.value)


def test_non_utf8_caption_file_is_refused(tmp_path):
    (tmp_path / "p.csv").write_bytes(b"image,caption\na.png,caf\xe9\n")
    with pytest.raises(DatasetError, match="not UTF-8"):
        read_captions(tmp_path / "p.csv")
