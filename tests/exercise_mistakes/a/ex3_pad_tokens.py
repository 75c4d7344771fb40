"""Mistake: appending EOS and then truncating, so a long text loses its EOS."""


def pad_ids(pieces, length=64):
    if length < 1:
        raise ValueError("length must be >= 1")
    ids = (list(pieces) + [1])[:length]
    return ids + [0] * (length - len(ids))
