"""distributed_sigmoid_loss on gloo (CPU), spawned processes, world sizes 1-4, float64: equal to the global loss.

Each world size is one spawn; every rank builds the same global batch from a seed, keeps its slice, and checks
the documented contract (see `distributed_sigmoid_loss`): the mean over ranks of the returned losses equals
`sigmoid_loss` on the concatenated batch, the mean over ranks of the logit_scale/logit_bias gradients equals
their global gradients, and each rank's embedding gradients equal W times the global gradient of its rows.
A failed check raises in the rank, which fails `mp.spawn` with the rank's traceback.
"""

import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from siglip2_min.loss import INIT_LOGIT_BIAS, INIT_LOGIT_SCALE, distributed_sigmoid_loss, sigmoid_loss

# float64 throughout: the ring sums the same terms as the global loss in another order. Losses are O(10),
# gradients O(1e-2..1), so these bounds leave ~1e4 ulps of slack and still catch any missing term (>= 1e-5 here).
LOSS_ATOL, LOSS_RTOL = 1e-12, 1e-12
GRAD_ATOL, GRAD_RTOL = 1e-10, 1e-10


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _check(got, ref, atol, rtol, what):
    err = (got - ref).abs()
    bound = atol + rtol * ref.abs()
    assert bool((err <= bound).all()), (
        f"rank {dist.get_rank()}: {what}: max abs err {err.max().item():.3e}, "
        f"max rel err {(err / ref.abs().clamp_min(1e-300)).max().item():.3e} "
        f"at flat index {int((err - bound).argmax())}"
    )


def _global_batch(sizes, d, seed):
    g = torch.Generator().manual_seed(seed)
    n = sum(sizes)
    img = torch.randn(n, d, generator=g, dtype=torch.float64)
    txt = torch.randn(n, d, generator=g, dtype=torch.float64) + 1.5 * img  # positives clearly positive
    scale = torch.tensor(INIT_LOGIT_SCALE + 0.3, dtype=torch.float64)
    bias = torch.tensor(INIT_LOGIT_BIAS + 4.0, dtype=torch.float64)
    return img, txt, scale, bias


def _leaf(t):
    return t.clone().requires_grad_(True)


def _check_against_global(sizes, d, seed, group=None, members=None):
    """Run the distributed loss on this rank's slice of a seeded global batch and check it against the global loss."""
    members = members if members is not None else list(range(dist.get_world_size()))
    world, r = len(members), members.index(dist.get_rank())
    img, txt, scale, bias = _global_batch(sizes, d, seed)

    ref_args = [_leaf(t) for t in (img, txt, scale, bias)]
    ref_loss = sigmoid_loss(*ref_args)
    ref_loss.backward()
    ref_grad_img, ref_grad_txt, ref_grad_scale, ref_grad_bias = (t.grad for t in ref_args)

    lo, hi = sum(sizes[:r]), sum(sizes[: r + 1])
    args = [_leaf(img[lo:hi]), _leaf(txt[lo:hi]), _leaf(scale), _leaf(bias)]
    loss = distributed_sigmoid_loss(*args, group=group)
    loss.backward()

    losses = [torch.empty_like(loss) for _ in range(world)]
    dist.all_gather(losses, loss.detach(), group=group)
    _check(torch.stack(losses).mean(), ref_loss.detach(), LOSS_ATOL, LOSS_RTOL, f"mean loss, sizes {sizes}")
    # The embedding rows this rank owns: W times the global gradient (DDP's mean over ranks divides W out).
    _check(args[0].grad, world * ref_grad_img[lo:hi], GRAD_ATOL, GRAD_RTOL, f"d/d image rows, sizes {sizes}")
    _check(args[1].grad, world * ref_grad_txt[lo:hi], GRAD_ATOL, GRAD_RTOL, f"d/d text rows, sizes {sizes}")
    for name, t, ref in (("logit_scale", args[2], ref_grad_scale), ("logit_bias", args[3], ref_grad_bias)):
        g = t.grad.clone()
        dist.all_reduce(g, group=group)  # SUM, then / W: the mean DDP would apply
        _check(g / world, ref, GRAD_ATOL, GRAD_RTOL, f"mean d/d{name}, sizes {sizes}")


def _worker(rank, world, port):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        _check_against_global([3] * world, d=5, seed=world)  # equal local batches
        _check_against_global([1, 4, 2, 3][:world], d=4, seed=10 + world)  # unequal local batches
        _check_against_global([2] * world, d=1, seed=20 + world)  # D = 1: cosines are exactly +-1

        # Refusals: raised on every rank (the sizes are gathered first), so no rank is left waiting.
        x = torch.randn(2, 3 if rank else 4, dtype=torch.float64)
        if world > 1:
            try:
                distributed_sigmoid_loss(x, x, torch.tensor(0.0), torch.tensor(0.0))
                raise AssertionError("different D per rank was not refused")
            except ValueError as e:
                assert "same width D" in str(e) and "[2, 4]" in str(e) and "[2, 3]" in str(e), str(e)
        y = torch.randn(0 if rank == world - 1 else 2, 3, dtype=torch.float64)
        try:
            distributed_sigmoid_loss(y, y, torch.tensor(0.0), torch.tensor(0.0))
            raise AssertionError("an empty local batch was not refused")
        except ValueError as e:
            assert ">= 1 pair" in str(e) and "[0, 3]" in str(e), str(e)

        if world >= 3:  # a sub-group: ring over ranks 1..W-1 only, with group-local neighbours
            members = list(range(1, world))
            group = dist.new_group(members)
            if rank in members:
                _check_against_global([2, 3, 1][: len(members)], d=3, seed=30 + world, group=group, members=members)
            else:
                try:
                    distributed_sigmoid_loss(x, x, torch.tensor(0.0), torch.tensor(0.0), group=group)
                    raise AssertionError("a rank outside `group` was not refused")
                except ValueError as e:
                    assert "not a member" in str(e), str(e)
        dist.barrier()
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_distributed_loss_equals_global_loss(world):
    mp.spawn(_worker, args=(world, _free_port()), nprocs=world, join=True)


def test_distributed_loss_needs_initialised_process_group():
    assert not dist.is_initialized()
    x = torch.randn(2, 3)
    with pytest.raises(RuntimeError, match="torch.distributed initialised"):
        distributed_sigmoid_loss(x, x, torch.tensor(0.0), torch.tensor(0.0))


def test_distributed_loss_refuses_mismatched_local_pairs():
    with pytest.raises(ValueError, match=r"same shape \[n, D\]"):
        distributed_sigmoid_loss(torch.randn(2, 3), torch.randn(3, 3), torch.tensor(0.0), torch.tensor(0.0))
