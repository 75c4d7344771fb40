"""SigLIP2 text tokenizer: lowercase, Gemma SentencePiece, EOS, right-pad with 0 to 64 tokens.

Paper: Tschannen et al., "SigLIP 2" (arXiv 2502.14786), section 2 (Gemma tokenizer, vocabulary 256k, 64 text
tokens). Upstream: big_vision `pp/tokenizer.py` with `eos="sticky"` and the SigLIP2 colab ("SigLIP 2 models work
best with lowercase texts"); HF `tokenization_siglip2.py` (parity oracle, docs/tokenizer-contract.md).

The contract, identical for the FixRes and NaFlex checkpoints:
  - lowercase per character, exactly as HF's Siglip2Tokenizer (the Rust `Lowercase()` normaliser). Not lowercasing
    costs several points of retrieval accuracy, and HF's FixRes path (`GemmaTokenizer`) forgets to do it;
  - no BOS; EOS (id 1) appended; text longer than 63 tokens keeps its first 63 then EOS ("sticky" EOS);
  - right-pad with <pad> (id 0) to exactly 64. The model pools the last position whatever it holds, so padding to
    the longest text in the batch instead (`padding=True`) silently ruins zero-shot accuracy.

Literal special-token strings in text ("<eos>", "<pad>") are encoded as ordinary text, as SentencePiece (and so
big_vision's training pipeline) does; HF's tokenizer would map them to control ids.

Letters: T texts, L = 64 tokens per text.
"""

import os
import warnings
from pathlib import Path

import numpy as np
import torch

from .checks import check_int

TEXT_LENGTH = 64  # the text tower's position table: every checkpoint was trained on exactly 64 tokens
MAX_TEXT_LENGTH = 1024  # 16x that: a length read from a config file is checked against it before any allocation
PAD_ID = 0
EOS_ID = 1

# tokenizer_config.json that lets HF load a `tokenizer.model` folder as a SigLIP2 tokenizer (Siglip2Tokenizer
# lowercases on top of it): no BOS, EOS appended, right padding.
HF_TOKENIZER_CONFIG = {
    "tokenizer_class": "GemmaTokenizer",
    "add_bos_token": False,
    "add_eos_token": True,
    "padding_side": "right",
    "model_input_names": ["input_ids"],
}


def train_sentencepiece(sentences, vocab_size, hard_vocab_limit=True):
    """A Gemma-shaped SentencePiece BPE model trained on `sentences`: the serialized `tokenizer.model` bytes.

    Gemma's options (docs/tokenizer-contract.md): BPE with byte fallback (256 byte pieces, so any text encodes),
    no dummy prefix, whitespace and digits kept as they are, ids <pad>=0 <eos>=1 <bos>=2 <unk>=3 <mask>=4. Used to
    train the bundled tiny model's tokenizer and the tests' tokenizers; the checkpoints ship Gemma's own 256k model.
    `hard_vocab_limit=False` lets a small corpus end with fewer than `vocab_size` pieces.
    """
    import io

    import sentencepiece as spm

    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_writer=buffer, vocab_size=vocab_size,
        hard_vocab_limit=hard_vocab_limit, model_type="bpe", byte_fallback=True, add_dummy_prefix=False,
        remove_extra_whitespaces=False, normalization_rule_name="identity", split_digits=True,
        allow_whitespace_only_pieces=True, pad_id=0, eos_id=1, bos_id=2, unk_id=3, pad_piece="<pad>",
        eos_piece="<eos>", bos_piece="<bos>", unk_piece="<unk>", user_defined_symbols=["<mask>"],
        character_coverage=1.0, num_threads=1, minloglevel=2,  # one thread: the same model on every run
    )  # fmt: skip
    return buffer.getvalue()


# --- lowercasing -------------------------------------------------------------------------------------------------
# Python's `str.lower()` is not per character: it turns a word-final capital sigma into 'ς' (Unicode's Final_Sigma
# context), where Rust's `char::to_lowercase` (and so HF) always gives 'σ'. Python 3.11 also knows Unicode 14 only,
# while the Rust standard library in `tokenizers` 0.23 lowercases letters added up to Unicode 17. This table holds
# exactly the code points where the two differ, found by comparing `tokenizers.normalizers.Lowercase()` with
# `str.lower()` over all 1,114,112 code points (tests/test_tokenizer.py repeats that comparison).
def _lower_table():
    table = {0x03A3: "\u03c3"}  # 'Σ' -> 'σ', never 'ς'
    singles = {0x1C89: 0x1C8A, 0xA7CB: 0x0264, 0xA7CC: 0xA7CD, 0xA7CE: 0xA7CF, 0xA7D2: 0xA7D3, 0xA7D4: 0xA7D5}
    singles.update({0xA7DA: 0xA7DB, 0xA7DC: 0x019B})
    table.update({k: chr(v) for k, v in singles.items()})
    for start, end, offset in ((0x10D50, 0x10D65, 0x20), (0x16EA0, 0x16EB8, 0x1B)):  # Garay, Beria Erfe capitals
        table.update({c: chr(c + offset) for c in range(start, end + 1)})
    return table


_LOWER_TABLE = _lower_table()


def lowercase(text):
    """Lowercase each character on its own, as HF's Siglip2Tokenizer does (Rust `char::to_lowercase`)."""
    # After the translation no capital sigma is left, so `lower()` has no context rule to apply.
    return text.translate(_LOWER_TABLE).lower()


# --- tokenizer ---------------------------------------------------------------------------------------------------
class Tokenizer:
    """Text -> int64 token ids [T, 64] for a SigLIP2 text tower, from a Gemma-style SentencePiece `tokenizer.model`.

        tok = Tokenizer("path/to/tokenizer.model")      # or the checkpoint folder holding it
        ids = tok(["a photo of a cat.", "a dog"])      # LongTensor [2, 64]
        tok.decode(ids)                                 # ['a photo of a cat.', 'a dog']
    """

    def __init__(self, path, length=TEXT_LENGTH):
        import sentencepiece

        path = Path(path)
        if path.is_dir():
            path = path / "tokenizer.model"
        if not path.is_file():
            raise FileNotFoundError(f"SentencePiece model not found: {path} (a SigLIP2 checkpoint ships tokenizer.model)")
        self.path = path
        self.length = check_int(length, "length")
        if length > MAX_TEXT_LENGTH:
            raise ValueError(f"length {length} is above the limit of {MAX_TEXT_LENGTH} tokens (SigLIP2 uses "
                             f"{TEXT_LENGTH}); each text is padded to it")
        try:
            self.sp = sentencepiece.SentencePieceProcessor(model_file=os.fspath(path))
        except (RuntimeError, OSError) as err:  # sentencepiece's errors for a corrupt, empty or unreadable file
            raise ValueError(f"{path}: not a readable SentencePiece model ({err})") from None
        # The checkpoints' ids are Gemma's: <pad>=0, <eos>=1. A model with other ids would pad with the wrong token.
        if self.sp.pad_id() != PAD_ID or self.sp.eos_id() != EOS_ID:
            raise ValueError(
                f"{path}: expected a Gemma-style model with <pad>=0 and <eos>=1, got pad_id={self.sp.pad_id()} "
                f"and eos_id={self.sp.eos_id()}"
            )

    @property
    def vocab_size(self):
        return self.sp.get_piece_size()

    def encode(self, texts):
        """Unpadded ids (lists of int, EOS included, at most `length`) for one text or a list of texts."""
        single = isinstance(texts, str)
        texts = _as_text_list(texts)
        pieces = self.sp.encode([lowercase(t) for t in texts])  # no BOS, no EOS: SentencePiece's defaults
        warn_truncated(texts, pieces, self.length)
        out = [ids[: self.length - 1] + [EOS_ID] for ids in pieces]  # sticky EOS: truncate, then EOS
        return out[0] if single else out

    def __call__(self, texts):
        """LongTensor [T, 64] (a single string gives [1, 64]): ids, EOS, then <pad> = 0 up to 64."""
        rows = self.encode([texts] if isinstance(texts, str) else texts)
        ids = np.full((len(rows), self.length), PAD_ID, dtype=np.int64)  # [T, L]
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
        return torch.from_numpy(ids)

    def decode(self, ids):
        """Ids [L] -> str, or [T, L] -> list of str; stops at the first EOS and drops padding."""
        array = ids.detach().cpu().numpy() if isinstance(ids, torch.Tensor) else np.asarray(ids)
        if array.ndim not in (1, 2) or not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"decode expects integer ids of shape [L] or [T, L], got {array.dtype} {array.shape}")
        rows = array[None] if array.ndim == 1 else array  # [T, L]
        texts = []
        for row in rows.tolist():
            if EOS_ID in row:
                row = row[: row.index(EOS_ID)]
            bad = [i for i in row if not 0 <= i < self.vocab_size]
            if bad:
                raise ValueError(f"token id {bad[0]} is outside the vocabulary of {self.vocab_size}")
            texts.append(self.sp.decode([i for i in row if i != PAD_ID]))
        return texts[0] if array.ndim == 1 else texts


class TextTruncatedWarning(UserWarning):
    """A text had more pieces than fit before EOS and was cut; the model never sees the rest."""


def warn_truncated(texts, pieces, length):
    """One warning per call naming the texts longer than `length - 1` pieces (the checkpoints cut them silently)."""
    cut = [(text, len(ids)) for text, ids in zip(texts, pieces) if len(ids) > length - 1]
    if cut:
        named = "; ".join(f"{text[:60]!r}{'...' if len(text) > 60 else ''} ({n} pieces)" for text, n in cut[:3])
        more = f" and {len(cut) - 3} more" if len(cut) > 3 else ""
        warnings.warn(f"{len(cut)} text(s) over {length - 1} pieces cut to the first {length - 1} plus EOS, so the "
                      f"model does not see the rest: {named}{more}", TextTruncatedWarning, stacklevel=3)


def _as_text_list(texts):
    if isinstance(texts, str):
        return [texts]
    if not isinstance(texts, (list, tuple)):
        raise TypeError(f"text must be a str or a list of str, got {type(texts).__name__}")
    if len(texts) == 0:
        raise ValueError("text is an empty list")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"text[{i}] has type {type(t).__name__} ({t!r:.60}), expected str")
        try:
            t.encode("utf-8")
        except UnicodeEncodeError as err:  # a lone surrogate: undecodable bytes from a command line or a file
            raise ValueError(
                f"text[{i}] ({t!r:.60}) is not valid Unicode: it holds the lone surrogate "
                f"U+{ord(t[err.start]):04X} at position {err.start} (undecodable bytes?)"
            ) from None
    return list(texts)
