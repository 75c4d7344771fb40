"""Mistake: a BOS (2) in front, as many other text encoders expect."""


def pad_ids(pieces, length=64):
    if length < 1:
        raise ValueError("length must be >= 1")
    ids = ([2] + list(pieces))[: length - 1] + [1]
    return ids + [0] * (length - len(ids))
