"""Tokenizer: the SigLIP2 text contract, and ids equal to HF's Siglip2Tokenizer on hypothesis-generated strings.

Both tokenizers read one tiny Gemma-shaped SentencePiece model trained here (tests/spm_fixture.py, docs/tokenizer-contract.md), so nothing is downloaded.
"""

import sys

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from siglip2_min.tokenizer import EOS_ID, PAD_ID, TEXT_LENGTH, Tokenizer, lowercase
from spm_fixture import RICH_SENTENCES, train_tiny_spm

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spm")
    train_tiny_spm(folder, RICH_SENTENCES, vocab_size=420)  # richer than the 300-token default: more merges to get wrong
    return folder


@pytest.fixture(scope="module")
def tok(folder):
    return Tokenizer(folder / "tokenizer.model")


@pytest.fixture(scope="module")
def hf_tok(folder):
    return transformers.Siglip2Tokenizer.from_pretrained(folder)


def hf_ids(hf_tok, texts):
    # What HF's Siglip2Processor does (processing_siglip2.py text_kwargs): pad to max_length 64, truncate.
    out = hf_tok(texts, padding="max_length", truncation=True, max_length=TEXT_LENGTH, return_tensors="pt")
    return out["input_ids"]


# --- lowercasing -------------------------------------------------------------------------------------------------
def test_lowercase_equals_hf_normalizer_on_every_code_point():
    normalizer = pytest.importorskip("tokenizers").normalizers.Lowercase()
    diffs = []
    for code in range(sys.maxunicode + 1):
        if 0xD800 <= code <= 0xDFFF:  # surrogates are not characters
            continue
        ch = chr(code)
        if lowercase(ch) != normalizer.normalize_str(ch):
            diffs.append(hex(code))
    assert not diffs, f"{len(diffs)} code points lowercase differently from HF, first {diffs[:10]}"


def test_lowercase_is_per_character_so_final_sigma_stays_sigma():
    # Python's str.lower() would give 'οδος' (final-sigma context rule); HF's Rust normaliser gives 'οδοσ'.
    assert lowercase("ΟΔΟΣ ΣΑ") == "οδοσ σα"
    assert lowercase("İstanbul") == "i\u0307stanbul"  # dotted capital I -> i + combining dot, as in HF
    assert lowercase("A Photo Of 2 CATS.") == "a photo of 2 cats."


# --- the contract ------------------------------------------------------------------------------------------------
def test_output_is_int64_64_wide_batch_in_batch_out(tok):
    ids = tok(["a photo of a cat.", "a dog", ""])
    assert ids.dtype == torch.int64 and ids.shape == (3, TEXT_LENGTH)
    assert tok("a dog").shape == (1, TEXT_LENGTH)
    assert torch.equal(tok("a dog")[0], ids[1])


def test_no_bos_eos_appended_right_padded_with_zero(tok):
    ids = tok("a photo of a cat.")[0].tolist()
    pieces = tok.sp.encode("a photo of a cat.")
    assert ids[: len(pieces)] == pieces and tok.sp.bos_id() not in ids
    assert ids[len(pieces)] == EOS_ID
    assert set(ids[len(pieces) + 1 :]) == {PAD_ID}


def test_empty_string_is_eos_then_padding(tok):
    assert tok("")[0].tolist() == [EOS_ID] + [PAD_ID] * (TEXT_LENGTH - 1)


def test_long_text_keeps_first_63_tokens_then_eos(tok):
    text = "the quick brown fox jumps over the lazy dog. " * 20
    pieces = tok.sp.encode(text)
    assert len(pieces) > 3 * TEXT_LENGTH
    assert tok(text)[0].tolist() == pieces[: TEXT_LENGTH - 1] + [EOS_ID]


def test_uppercase_gives_the_same_ids_as_lowercase(tok):
    assert torch.equal(tok("A Blue Circle ON A RED Background"), tok("a blue circle on a red background"))


def test_decode_inverts_encode_up_to_lowercasing(tok):
    texts = ["  Two Dogs\trunning\non the beach 😀  ", "οδός σε μια πόλη"]
    assert tok.decode(tok(texts)) == [lowercase(t) for t in texts]
    assert tok.decode(tok(texts)[0]) == lowercase(texts[0])


# --- parity with HF ----------------------------------------------------------------------------------------------
WORDS = ["a", "photo", "of", "cat", "Cats", "DOGS", "2", "1024", "über", "STRASSE", "Straße", "İstanbul"]
WORDS += ["ΟΔΟΣ", "Σ", "ǅ", "ﬃ", "😀", "🐱👍🏽", "x\u0301", "日本語"]
SPACES = [" ", "  ", "   ", "\t", "\n", " \t\n ", "\r\n", "\u00a0", "\u3000"]
# Strings that mix caption words, odd Unicode case, whitespace runs, emoji and arbitrary code points; lists up to
# 150 parts run far past 64 tokens.
texts = st.lists(
    st.one_of(st.sampled_from(WORDS), st.sampled_from(SPACES), st.text(max_size=6)), max_size=150
).map("".join)
SPECIAL = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]


@settings(max_examples=300, deadline=None)
@given(st.lists(texts, min_size=1, max_size=4))
def test_ids_equal_hf_siglip2_tokenizer(tok, hf_tok, batch):
    # Literal special-token strings are the one documented difference (next test).
    assume(not any(s in lowercase(t) for t in batch for s in SPECIAL))
    ours, theirs = tok(batch), hf_ids(hf_tok, batch)
    assert torch.equal(ours, theirs), [(t, a.tolist(), b.tolist()) for t, a, b in zip(batch, ours, theirs)]


def test_ids_equal_hf_on_edge_cases(tok, hf_tok):
    batch = ["", " ", "\t\n", "ΟΔΟΣ", "İ", "a" * 500, "😀" * 40, "\x00", "A  B\t\tC\n\nD", "x" + " " * 100]
    assert torch.equal(tok(batch), hf_ids(hf_tok, batch))


def test_literal_special_token_text_is_encoded_as_text_unlike_hf(tok, hf_tok):
    # SentencePiece (what big_vision trained with) encodes "<eos>" typed in a caption as characters; HF's tokenizer
    # turns it into the EOS id. We follow SentencePiece: a caption cannot end itself early.
    ours, theirs = tok("a <eos> b")[0].tolist(), hf_ids(hf_tok, ["a <eos> b"])[0].tolist()
    assert ours.index(EOS_ID) > theirs.index(EOS_ID)
    assert tok.decode(tok("a <eos> b"))[0] == "a <eos> b"


@settings(max_examples=100, deadline=None)
@given(texts)
def test_fixres_ids_equal_hf_gemma_tokenizer_on_lowercased_text(tok, folder, text):
    # HF's FixRes checkpoints load a GemmaTokenizer, which does not lowercase (docs/tokenizer-contract.md): ours lowercases
    # for both families, so it equals Gemma's ids on text that was lowercased first.
    assume(not any(s in lowercase(text) for s in SPECIAL))
    gemma = _gemma(folder)
    assert torch.equal(tok(text), hf_ids(gemma, [lowercase(text)]))


_GEMMA = {}


def _gemma(folder):
    if folder not in _GEMMA:
        _GEMMA[folder] = transformers.GemmaTokenizer.from_pretrained(folder)
    return _GEMMA[folder]


# --- bad input ---------------------------------------------------------------------------------------------------
def test_non_string_is_a_type_error_naming_the_item(tok):
    with pytest.raises(TypeError, match=r"text\[1\] has type int"):
        tok(["a cat", 3])
    with pytest.raises(TypeError, match="str or a list of str"):
        tok(b"bytes")
    with pytest.raises(ValueError, match="empty list"):
        tok([])


def test_missing_model_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="tokenizer.model"):
        Tokenizer(tmp_path)
    with pytest.raises(FileNotFoundError, match="other.model"):
        Tokenizer(tmp_path / "other.model")


def test_model_with_other_special_ids_is_refused(tmp_path):
    import io

    import sentencepiece as spm

    buf = io.BytesIO()
    sentences = iter(["a photo of a cat"] * 4)
    spm.SentencePieceTrainer.train(sentence_iterator=sentences, model_writer=buf, vocab_size=12, minloglevel=2)
    (tmp_path / "tokenizer.model").write_bytes(buf.getvalue())  # SentencePiece defaults: unk=0, bos=1, eos=2
    with pytest.raises(ValueError, match="<pad>=0 and <eos>=1"):
        Tokenizer(tmp_path)


def test_decode_rejects_out_of_vocabulary_ids(tok):
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode([5, 100_000, 1])
