"""sigmoid_loss against a naive float64 formula, and chunked_sigmoid_loss against sigmoid_loss (value and gradients)."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from siglip2_min.loss import INIT_LOGIT_BIAS, INIT_LOGIT_SCALE, chunked_sigmoid_loss, sigmoid_loss


def _inputs(n, d, seed, dtype=torch.float64, scale=INIT_LOGIT_SCALE, bias=INIT_LOGIT_BIAS):
    g = torch.Generator().manual_seed(seed)
    img = torch.randn(n, d, generator=g, dtype=dtype, requires_grad=True)
    txt = torch.randn(n, d, generator=g, dtype=dtype, requires_grad=True)
    # Make some pairs similar so positives and negatives both carry real gradient.
    with torch.no_grad():
        txt[: n // 2] += 2 * img[: n // 2]
    s = torch.tensor(scale, dtype=dtype, requires_grad=True)
    b = torch.tensor(bias, dtype=dtype, requires_grad=True)
    return img, txt, s, b


def _grads(loss_fn, img, txt, s, b, **kw):
    for t in (img, txt, s, b):
        t.grad = None
    loss = loss_fn(img, txt, s, b, **kw)
    loss.backward()
    return loss.detach(), [t.grad.clone() for t in (img, txt, s, b)]


def _assert_close(got, ref, atol, rtol, what):
    err = (got - ref).abs()
    bound = atol + rtol * ref.abs()
    if not bool((err <= bound).all()):
        i = int((err - bound).argmax())
        rel = (err / ref.abs().clamp_min(1e-300)).max().item()
        raise AssertionError(
            f"{what}: max abs err {err.max().item():.3e}, max rel err {rel:.3e}, "
            f"worst at flat index {i}: got {got.reshape(-1)[i].item()!r} ref {ref.reshape(-1)[i].item()!r}"
        )


def test_sigmoid_loss_matches_naive_formula():
    # The paper's Algorithm 1 written out pair by pair in Python floats (float64).
    img, txt, s, b = _inputs(7, 5, seed=0)
    ni = [[v / math.sqrt(sum(x * x for x in row)) for v in row] for row in img.tolist()]
    nt = [[v / math.sqrt(sum(x * x for x in row)) for v in row] for row in txt.tolist()]
    t, bias, n = math.exp(s.item()), b.item(), len(ni)
    total = 0.0
    for i in range(n):  # text
        for j in range(n):  # image
            logit = t * sum(p * q for p, q in zip(nt[i], ni[j])) + bias
            z = 1.0 if i == j else -1.0
            total += math.log1p(math.exp(-z * logit))  # -log sigmoid(z * logit); |logit| < 25 here, no overflow
    ref = torch.tensor(total / n, dtype=torch.float64)
    # float64 throughout; the two differ only in summation order over 49 terms of size <= ~20.
    _assert_close(sigmoid_loss(img, txt, s, b).detach(), ref, atol=1e-12, rtol=1e-12, what="sigmoid_loss vs naive")


@pytest.mark.parametrize("n,chunk", [(12, 4), (12, 5), (12, 1), (12, 12), (12, 100), (13, 3), (1, 1)])
def test_chunked_equals_full_value_and_gradients(n, chunk):
    img, txt, s, b = _inputs(n, 6, seed=n * 100 + chunk)
    ref_loss, ref_grads = _grads(sigmoid_loss, img, txt, s, b)
    loss, grads = _grads(chunked_sigmoid_loss, img, txt, s, b, chunk_size=chunk)
    # float64: same terms, different summation order; losses are O(n * 10), gradients O(1).
    _assert_close(loss, ref_loss, atol=1e-12, rtol=1e-12, what=f"loss n={n} chunk={chunk}")
    for name, g, r in zip(("image", "text", "logit_scale", "logit_bias"), grads, ref_grads):
        _assert_close(g, r, atol=1e-10, rtol=1e-10, what=f"d/d{name} n={n} chunk={chunk}")


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 20),
    d=st.integers(1, 8),
    chunk=st.integers(1, 25),
    scale=st.floats(-2.0, 5.0),
    bias=st.floats(-20.0, 20.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_chunked_equals_full_for_any_size_chunk_and_temperature(n, d, chunk, scale, bias, seed):
    img, txt, s, b = _inputs(n, d, seed, scale=scale, bias=bias)
    ref_loss, ref_grads = _grads(sigmoid_loss, img, txt, s, b)
    loss, grads = _grads(chunked_sigmoid_loss, img, txt, s, b, chunk_size=chunk)
    # |logit| up to e^5 + 20 ~ 170, so losses reach ~1e4: relative tolerance carries the comparison.
    _assert_close(loss, ref_loss, atol=1e-12, rtol=1e-12, what="loss")
    for name, g, r in zip(("image", "text", "logit_scale", "logit_bias"), grads, ref_grads):
        _assert_close(g, r, atol=1e-10, rtol=1e-10, what=f"d/d{name}")


def test_chunked_float32_close_to_full():
    img, txt, s, b = _inputs(64, 16, seed=1, dtype=torch.float32)
    ref_loss, ref_grads = _grads(sigmoid_loss, img, txt, s, b)
    loss, grads = _grads(chunked_sigmoid_loss, img, txt, s, b, chunk_size=10)
    # float32 sums of 64*64 terms in a different order: a few ulps of the total.
    _assert_close(loss, ref_loss, atol=1e-5, rtol=1e-5, what="float32 loss")
    for name, g, r in zip(("image", "text", "logit_scale", "logit_bias"), grads, ref_grads):
        _assert_close(g, r, atol=1e-5, rtol=1e-4, what=f"float32 d/d{name}")


def test_chunked_and_full_ignore_embedding_norm():
    img, txt, s, b = _inputs(9, 4, seed=3)
    ref = sigmoid_loss(img, txt, s, b)
    got = chunked_sigmoid_loss(3.0 * img, 0.5 * txt, s, b, chunk_size=4)
    _assert_close(got.detach(), ref.detach(), atol=1e-12, rtol=1e-12, what="scaled embeddings")


@pytest.mark.parametrize("chunk, error", [(0, ValueError), (-1, ValueError), (2.0, TypeError), (True, TypeError),
                                          (None, TypeError)])
def test_chunked_rejects_bad_chunk_size(chunk, error):
    img, txt, s, b = _inputs(4, 3, seed=0)
    with pytest.raises(error, match="chunk_size must be"):  # checks.check_int, the package's one positive-int check
        chunked_sigmoid_loss(img, txt, s, b, chunk_size=chunk)


@pytest.mark.parametrize("fn", [sigmoid_loss, lambda *a: chunked_sigmoid_loss(*a, chunk_size=2)])
@pytest.mark.parametrize("shapes", [((4, 3), (5, 3)), ((4, 3), (4, 2)), ((4,), (4,)), ((2, 4, 3), (2, 4, 3))])
def test_mismatched_embeddings_are_refused(fn, shapes):
    img, txt = torch.randn(*shapes[0]), torch.randn(*shapes[1])
    with pytest.raises(ValueError, match=r"same shape \[n, D\]"):
        fn(img, txt, torch.tensor(0.0), torch.tensor(0.0))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_chunked_follows_full_with_low_precision_embeddings_and_float32_parameters(dtype):
    # What autocast produces: half-precision embeddings, float32 logit_scale/logit_bias of shape [1], as in the model.
    img, txt, s, b = _inputs(40, 16, seed=5, dtype=torch.float32)
    img, txt = img.detach().to(dtype).requires_grad_(), txt.detach().to(dtype).requires_grad_()
    s, b = s.detach().reshape(1).requires_grad_(), b.detach().reshape(1).requires_grad_()
    ref_loss, ref_grads = _grads(sigmoid_loss, img, txt, s, b)
    loss, grads = _grads(chunked_sigmoid_loss, img, txt, s, b, chunk_size=7)
    assert loss.dtype == ref_loss.dtype and [g.dtype for g in grads] == [g.dtype for g in ref_grads]
    # Both compute the logits in float32; the embedding gradients are rounded to `dtype` (eps 7.8e-3 for
    # bfloat16) after different float32 sums, so compare them relative to their largest entry.
    _assert_close(loss.float(), ref_loss.float(), atol=0, rtol=1e-5, what=f"{dtype} loss")
    for name, g, r in zip(("image", "text", "logit_scale", "logit_bias"), grads, ref_grads):
        _assert_close(g.double(), r.double(), atol=2e-2 * r.abs().max().item(), rtol=0, what=f"{dtype} d/d{name}")
