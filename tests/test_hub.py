"""Model lookup: folders, SIGLIP2_CHECKPOINTS, the HF cache layout, the download hook, and the message otherwise."""

import sys
import types

import pytest

from siglip2_min import hub

HF_ID = "google/siglip2-base-patch16-naflex"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No real cache, no checkpoints folder, no network: every test sets what it needs."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf_cache"))
    monkeypatch.delenv("SIGLIP2_CHECKPOINTS", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def fill(folder, files=hub.REQUIRED_FILES):
    folder.mkdir(parents=True, exist_ok=True)
    for name in files:
        (folder / name).write_text("{}")
    return folder


def test_is_hf_id():
    assert hub.is_hf_id("google/siglip2-base-patch16-naflex")
    for not_id in ["siglip2", "a/b/c", "./a", "../a", "/abs/path", "~/x", "a/", "/a", "./x/y"]:
        assert not hub.is_hf_id(not_id), not_id


def test_a_folder_resolves_to_itself_and_an_incomplete_one_names_what_is_missing(tmp_path):
    folder = fill(tmp_path / "model")
    assert hub.resolve_model(str(folder)) == folder
    (folder / "tokenizer.model").unlink()
    with pytest.raises(FileNotFoundError, match="lacks tokenizer.model"):
        hub.resolve_model(folder)


def test_unknown_name_that_is_not_an_id(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a Hugging Face id"):
        hub.resolve_model(str(tmp_path / "nothing" / "here" / "x"))


def test_checkpoints_folder_is_searched_by_model_name(tmp_path, monkeypatch):
    folder = fill(tmp_path / "ckpts" / "siglip2-base-patch16-naflex")
    monkeypatch.setenv("SIGLIP2_CHECKPOINTS", str(tmp_path / "ckpts"))
    assert hub.resolve_model(HF_ID) == folder
    assert hub.find_local(HF_ID) == folder


def test_hf_cache_snapshot_named_by_refs_main(tmp_path):
    repo = tmp_path / "hf_cache" / "models--google--siglip2-base-patch16-naflex"
    fill(repo / "snapshots" / "newer_but_incomplete", files=hub.MODEL_FILES)  # a half-finished download
    good = fill(repo / "snapshots" / "abc123")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123\n")
    assert hub.resolve_model(HF_ID) == good
    (repo / "refs" / "main").unlink()  # no ref: any complete snapshot
    assert hub.find_local(HF_ID) == good


def test_hf_home_gives_the_cache_when_hf_hub_cache_is_unset(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert hub.hf_cache_dir() == tmp_path / "home" / "hub"


def test_not_found_message_says_which_files_go_where(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGLIP2_CHECKPOINTS", str(tmp_path / "ckpts"))
    with pytest.raises(FileNotFoundError) as info:
        hub.resolve_model(HF_ID)
    message = str(info.value)
    for name in hub.REQUIRED_FILES:
        assert name in message
    assert str(tmp_path / "ckpts" / "siglip2-base-patch16-naflex") in message
    assert f"https://huggingface.co/{HF_ID}" in message and "HF_HUB_OFFLINE" in message


def test_download_hook_is_used_when_online(tmp_path, monkeypatch):
    """A stand-in `huggingface_hub` module: the real one would go to the network."""
    calls = []

    def snapshot_download(repo_id, allow_patterns):
        calls.append((repo_id, sorted(allow_patterns)))
        return str(fill(tmp_path / "downloaded"))

    monkeypatch.setitem(sys.modules, "huggingface_hub", types.SimpleNamespace(snapshot_download=snapshot_download))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert hub.resolve_model(HF_ID) == tmp_path / "downloaded"
    assert calls == [(HF_ID, sorted(hub.REQUIRED_FILES))]
    with pytest.raises(FileNotFoundError, match="downloads are turned off"):
        hub.resolve_model(HF_ID, allow_download=False)


def test_failed_download_gives_the_instructions_and_the_reason(monkeypatch):
    def snapshot_download(repo_id, allow_patterns):
        raise ConnectionError("no route to host")

    monkeypatch.setitem(sys.modules, "huggingface_hub", types.SimpleNamespace(snapshot_download=snapshot_download))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    with pytest.raises(FileNotFoundError, match="ConnectionError: no route to host") as info:
        hub.resolve_model(HF_ID)
    assert "tokenizer.model" in str(info.value)


def test_missing_huggingface_hub_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import raises ImportError
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    with pytest.raises(FileNotFoundError, match="huggingface_hub is not installed"):
        hub.resolve_model(HF_ID)


def test_a_dangling_snapshot_link_is_skipped_and_a_dangling_weights_link_is_named(tmp_path):
    # The HF cache links snapshots/<rev>/<file> to blobs/<hash>; a cleaned-up cache can leave links to nothing.
    snapshots = tmp_path / "hf_cache" / "models--google--siglip2-base-patch16-naflex" / "snapshots"
    snapshots.mkdir(parents=True)
    (snapshots / "gone").symlink_to(tmp_path / "no_such_snapshot")
    good = fill(snapshots / "abc123")
    assert hub.find_local(HF_ID) == good
    (good / "model.safetensors").unlink()
    (good / "model.safetensors").symlink_to(tmp_path / "blobs" / "deadbeef")
    with pytest.raises(FileNotFoundError, match=r"model.safetensors is a link to a file that no longer exists.*"
                                                r"delete .*abc123 and download google/siglip2-base-patch16-naflex"):
        hub.find_local(HF_ID)
