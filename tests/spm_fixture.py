"""A tiny Gemma-shaped SentencePiece model, trained in a second, for offline tokenizer tests.

The published SigLIP2 checkpoints use Gemma's 256k-piece SentencePiece BPE model (byte fallback, no dummy prefix,
identity normalisation, split digits; ids <pad>=0 <eos>=1 <bos>=2 <unk>=3 <mask>=4; docs/tokenizer-contract.md). This trains the
same kind of model on a few sentences so that tests can build our tokenizer and Hugging Face's `Siglip2Tokenizer`
from one `tokenizer.model` and compare ids without downloading anything.

    path = train_tiny_spm(tmp_path)                 # -> tmp_path / "tokenizer.model" (+ tokenizer_config.json)
"""

import json
from pathlib import Path

from siglip2_min.tokenizer import HF_TOKENIZER_CONFIG, train_sentencepiece

# Lowercase captions: the tokenizer lowercases before encoding, so uppercase pieces would never be used. Few distinct
# characters, so that 256 byte pieces + 5 specials + these 21 characters still leave merges within a vocab of 300.
SENTENCES = [
    "a photo of a cat.",
    "a photo of a dog.",
    "this is a photo of two cats.",
    "this is a photo of two dogs.",
    "a blue circle on a red background.",
    "a green circle on a red background.",
    "a blue dog with a green border on a red background.",
]

# A richer corpus (digits, punctuation, tabs, newlines, accents, Greek, emoji) for tokenizer parity tests: it needs
# `vocab_size` >= 420, so its ids do not fit the 300-token fixture checkpoints.
RICH_SENTENCES = [
    "a photo of a cat sitting on a red sofa.",
    "this is a photo of 2 cats.  this is a photo of 12 dogs!",
    "a blue circle with a green border on a red background.",
    "an ellipse drawn on a plain background, 1024 pixels wide.",
    "two dogs running on the beach at sunset...",
    "the quick brown fox jumps over the lazy dog",
    "people walking in the rain with umbrellas\tand coats",
    "a train arriving at the station\nin the morning",
    "close-up of a bird perched on a branch (winter)",
    "une photo d'un chat noir; ein foto von einem hund über der straße",
    "οδός σε μια πόλη 😀 🐱",
]

def train_tiny_spm(folder, sentences=None, vocab_size=300):
    """Train a Gemma-shaped SentencePiece BPE model; write `tokenizer.model` and `tokenizer_config.json` in `folder`.

    `vocab_size` 300 matches the random-weight text towers of `tests/hf_fixtures.py` (256 byte pieces + 5 specials +
    a few merges), so ids from this model are valid inputs for those checkpoints. Returns the `tokenizer.model` path.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tokenizer.model"
    path.write_bytes(train_sentencepiece(sentences or SENTENCES, vocab_size))
    (folder / "tokenizer_config.json").write_text(json.dumps(HF_TOKENIZER_CONFIG, indent=2))
    return path
