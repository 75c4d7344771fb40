"""Checks for exercise 7, the sigmoid loss: run `pytest docs/exercises/checks/test_ex7_sigmoid_loss.py`."""

import math

import pytest
import torch
from _exercise import implementation


sigmoid_loss = implementation("ex7_sigmoid_loss", "sigmoid_loss")


def _by_hand(image_embeds, text_embeds, logit_scale, logit_bias):
    """The paper's formula term by term in float64 Python: an independent oracle."""
    img = image_embeds.double() / image_embeds.double().norm(dim=-1, keepdim=True)
    txt = text_embeds.double() / text_embeds.double().norm(dim=-1, keepdim=True)
    n = img.shape[0]
    total = 0.0
    for i in range(n):
        for j in range(n):
            logit = float(txt[i] @ img[j]) * math.exp(float(logit_scale)) + float(logit_bias)
            z = 1.0 if i == j else -1.0
            total += math.log1p(math.exp(-z * logit))  # -log sigmoid(z * logit)
    return total / n


@pytest.mark.parametrize("n", [1, 2, 5])
def test_matches_the_formula(n):
    g = torch.Generator().manual_seed(n)
    img, txt = torch.randn(n, 8, generator=g) * 3, torch.randn(n, 8, generator=g)
    scale, bias = torch.tensor([1.7]), torch.tensor([-2.5])
    got = sigmoid_loss(img, txt, scale, bias)
    want = _by_hand(img, txt, scale, bias)
    # float32 logits of size ~10: a few ulps of each of n*n terms
    assert abs(float(got) - want) <= 1e-5 + 1e-5 * abs(want), f"got {float(got)}, formula gives {want}"


def test_is_a_scalar_and_not_symmetric_in_the_pairing():
    g = torch.Generator().manual_seed(0)
    img, txt = torch.randn(4, 8, generator=g), torch.randn(4, 8, generator=g)
    scale, bias = torch.tensor([2.3]), torch.tensor([-1.0])
    loss = sigmoid_loss(img, txt, scale, bias)
    assert loss.ndim == 0
    # the diagonal marks the positives: pairing text i with image i+1 must change the loss
    shuffled = sigmoid_loss(img, txt.roll(1, dims=0), scale, bias)
    assert abs(float(loss) - float(shuffled)) > 1e-3


def test_uses_exp_of_the_log_temperature():
    img = torch.eye(3)
    # cos = 1 on the diagonal, 0 off it: logit = exp(2) - 1 for positives, -1 for negatives
    got = sigmoid_loss(img, img.clone(), torch.tensor([2.0]), torch.tensor([-1.0]))
    pos, neg = math.exp(2.0) - 1, -1.0
    want = (3 * math.log1p(math.exp(-pos)) + 6 * math.log1p(math.exp(neg))) / 3
    assert abs(float(got) - want) <= 1e-5, f"got {float(got)}, want {want}"


def test_normalises_the_embeddings():
    g = torch.Generator().manual_seed(1)
    img, txt = torch.randn(3, 8, generator=g), torch.randn(3, 8, generator=g)
    scale, bias = torch.tensor([2.0]), torch.tensor([-1.0])
    a = sigmoid_loss(img, txt, scale, bias)
    b = sigmoid_loss(img * 7.0, txt * 0.1, scale, bias)
    assert abs(float(a) - float(b)) <= 1e-5 * abs(float(a)) + 1e-6


def test_stays_finite_for_huge_logits():
    img = torch.eye(4)
    loss = sigmoid_loss(img, img.clone(), torch.tensor([1.0]), torch.tensor([-200.0]))
    # positives sit at e - 200 ~ -197: sigmoid(-197) is 0 in float32, so log(sigmoid(x)) would give -inf here
    assert torch.isfinite(loss), "use a stable log-sigmoid (F.logsigmoid), not log(sigmoid(x))"
    want = 4 * math.log1p(math.exp(200 - math.e)) / 4  # the positives; the negatives (logit -200) add ~1e-87
    assert abs(float(loss) - want) <= 1e-4 * want, f"got {float(loss)}, want {want}"


def test_gradients_reach_every_input():
    g = torch.Generator().manual_seed(2)
    img = torch.randn(3, 8, generator=g, requires_grad=True)
    txt = torch.randn(3, 8, generator=g, requires_grad=True)
    scale = torch.tensor([1.0], requires_grad=True)
    bias = torch.tensor([-1.0], requires_grad=True)
    sigmoid_loss(img, txt, scale, bias).backward()
    for name, t in [("image_embeds", img), ("text_embeds", txt), ("logit_scale", scale), ("logit_bias", bias)]:
        assert t.grad is not None and t.grad.abs().sum() > 0, f"no gradient reaches {name}"


def test_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        sigmoid_loss(torch.randn(3, 8), torch.randn(4, 8), torch.tensor([0.0]), torch.tensor([0.0]))
