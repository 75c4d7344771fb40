"""fileio: outputs are checked before work, written under a temporary name and never half-written or overwritten."""

import pytest

from siglip2_min.fileio import OutputError, check_output, output_folder, write_file, write_text


def test_existing_file_is_not_overwritten_without_asking(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("precious")
    with pytest.raises(OutputError, match="already exists"):
        write_text(target, "new")
    assert target.read_text() == "precious"
    write_text(target, "new", overwrite=True)
    assert target.read_text() == "new"


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def half_then_fail(f):
        f.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_file(target, half_then_fail, overwrite=True)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


@pytest.mark.parametrize("case", ["missing parent", "is a folder", "empty"])
def test_bad_output_paths_are_refused_before_work(tmp_path, case):
    path = {"missing parent": tmp_path / "nope" / "x.npz", "is a folder": tmp_path, "empty": ""}[case]
    with pytest.raises(OutputError, match="does not exist|is a folder|empty"):
        check_output(path)


def test_folder_appears_only_when_complete_and_replaces_the_old_one_last(tmp_path):
    target = tmp_path / "model"
    with pytest.raises(RuntimeError):
        with output_folder(target) as tmp:
            (tmp / "config.json").write_text("{}")
            raise RuntimeError("training failed")
    assert not target.exists() and list(tmp_path.iterdir()) == []

    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(OutputError, match="already exists"):
        with output_folder(target):
            pass
    with pytest.raises(RuntimeError):
        with output_folder(target, overwrite=True) as tmp:
            raise RuntimeError("failed")
    assert (target / "old.txt").read_text() == "old"
    with output_folder(target, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
