"""Checks for exercise 3, token ids: run `pytest docs/exercises/checks/test_ex3_pad_tokens.py`."""

import random

import pytest
from _exercise import implementation

EOS, PAD = 1, 0


pad_ids = implementation("ex3_pad_tokens", "pad_ids")


def test_the_empty_text():
    assert list(pad_ids([])) == [EOS] + [PAD] * 63


def test_a_short_text():
    assert list(pad_ids([17, 23, 5])) == [17, 23, 5, EOS] + [PAD] * 60


@pytest.mark.parametrize("n", [63, 64, 65, 1000])
def test_long_texts_keep_63_pieces_and_a_sticky_eos(n):
    pieces = list(range(10, 10 + n))
    got = list(pad_ids(pieces))
    assert len(got) == 64
    assert got[-1] == EOS, "the EOS must survive truncation"
    assert got[:63] == pieces[:63]


def test_other_lengths():
    assert list(pad_ids([7, 8, 9], length=2)) == [7, EOS]
    assert list(pad_ids([7, 8, 9], length=1)) == [EOS]
    with pytest.raises(ValueError):
        pad_ids([7], length=0)


@pytest.mark.parametrize("seed", range(20))
def test_invariants_on_random_texts(seed):
    rng = random.Random(seed)
    pieces = [rng.randint(5, 255999) for _ in range(rng.randint(0, 100))]
    got = list(pad_ids(pieces))
    assert len(got) == 64
    assert got.count(EOS) == 1, "exactly one EOS"
    end = got.index(EOS)
    assert got[:end] == pieces[:end] and end == min(len(pieces), 63), "the kept pieces are a prefix, up to 63"
    assert all(t == PAD for t in got[end + 1:]), "only padding after the EOS"
