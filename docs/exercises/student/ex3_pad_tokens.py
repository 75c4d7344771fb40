"""Exercise 3: token ids with a sticky EOS, padded to 64 (docs/exercises/ex3_pad_tokens.md).

Check your solution with:  pytest docs/exercises/checks/test_ex3_pad_tokens.py
"""

EOS_ID = 1
PAD_ID = 0


def pad_ids(pieces, length=64):
    """The `length` ids the text tower reads, from the SentencePiece ids of an already lowercased text.

    Args:
        pieces: list of int, the text's SentencePiece ids (no BOS, no EOS).
        length: the text length, 64 for every SigLIP2 checkpoint.

    Returns:
        list of `length` ints: the pieces, then EOS (1), then PAD (0). If the pieces do not fit, keep the first
        `length - 1` of them and end with EOS (the EOS is "sticky"). `length < 1` raises ValueError.
    """
    raise NotImplementedError("write pad_ids")
