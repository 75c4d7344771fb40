"""Checks for exercise 9, the chunked loss's backward: run `pytest docs/exercises/checks/test_ex9_loss_backward.py`."""

import pytest
import torch
import torch.nn.functional as F
from _exercise import implementation
from torch.overrides import TorchFunctionMode

chunked_loss_grads = implementation("ex9_loss_backward", "chunked_loss_grads")


def _inputs(n=10, D=6, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    image = torch.randn(n, D, generator=g, dtype=dtype) * 2  # not unit length: the normalisation has a gradient
    text = torch.randn(n, D, generator=g, dtype=dtype) * 0.5
    return image, text, torch.tensor([1.3], dtype=dtype), torch.tensor([-2.0], dtype=dtype)


def _autograd(image, text, logit_scale, logit_bias):
    """Autograd through the loss written densely in float64: an independent oracle."""
    inputs = [x.detach().double().requires_grad_() for x in (image, text, logit_scale, logit_bias)]
    img, txt, scale, bias = inputs
    with torch.enable_grad():
        logits = F.normalize(txt, dim=-1) @ F.normalize(img, dim=-1).T * scale.exp() + bias  # [n, n]
        z = 2 * torch.eye(len(logits), dtype=torch.float64) - 1
        loss = F.softplus(-z * logits).sum() / len(logits)
    return torch.autograd.grad(loss, inputs)


def _grads(*args):
    with torch.no_grad():
        got = chunked_loss_grads(*args)
    assert isinstance(got, (tuple, list)) and len(got) == 4, "return the four gradients as a tuple"
    return got


@pytest.mark.parametrize("chunk_size", [1, 3, 10, 64])
def test_matches_autograd_of_the_dense_loss(chunk_size):
    args = _inputs()
    got = _grads(*args, chunk_size)
    for name, g, want, x in zip(["image_embeds", "text_embeds", "logit_scale", "logit_bias"], got, _autograd(*args),
                                args):
        assert tuple(g.shape) == tuple(x.shape), f"d loss / d {name} has shape {tuple(g.shape)}, not {tuple(x.shape)}"
        # float64 both sides: sums of n*n terms in different orders differ by ~1e-15
        torch.testing.assert_close(g, want, rtol=1e-9, atol=1e-12, msg=lambda m: f"d loss / d {name}: {m}")


def test_gradients_at_large_logits_are_finite_and_right():
    image, text, scale, bias = _inputs(seed=1)
    scale, bias = torch.tensor([4.6], dtype=torch.float64), torch.tensor([-30.0], dtype=torch.float64)
    got = _grads(image, text, scale, bias, 4)
    for g, want in zip(got, _autograd(image, text, scale, bias)):
        assert torch.isfinite(g).all()
        torch.testing.assert_close(g, want, rtol=1e-9, atol=1e-12)


def test_float32_in_float32_out():
    args = _inputs(seed=2, dtype=torch.float32)
    got = _grads(*args, 4)
    assert all(g.dtype == torch.float32 for g in got)
    for g, want in zip(got, _autograd(*args)):
        torch.testing.assert_close(g.double(), want, rtol=1e-4, atol=1e-5)  # float32 rounding over n*n terms


class _LargestTensor(TorchFunctionMode):
    """Records the largest tensor any torch function returns while active."""

    largest = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


def test_never_makes_the_n_by_n_logits():
    n, c = 64, 8
    args = _inputs(n=n, D=4, seed=3)
    with _LargestTensor() as watch:
        got = _grads(*args, c)
    assert watch.largest <= c * n, f"a tensor of {watch.largest} values was made; chunks of {c} texts need {c * n}"
    torch.testing.assert_close(got[1], _autograd(*args)[1], rtol=1e-9, atol=1e-12)
