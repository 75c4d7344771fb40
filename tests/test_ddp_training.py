"""DDP training with `distributed_sigmoid_loss` takes the same step as one process on the concatenated batch.

Two gloo ranks on CPU, set up the way `torchrun` sets them up (MASTER_ADDR/MASTER_PORT/RANK/WORLD_SIZE and
`init_process_group(init_method="env://")`), train the small random NaFlex checkpoint of conftest.py in float64
with DDP and plain SGD for two steps, each rank on its own, unequal, share of the batch (2 and 3 pairs). Every
rank also trains an undistributed copy with `sigmoid_loss` on all 5 pairs, and checks that the losses and every
parameter after each step agree. That is the contract DDP needs: DDP averages gradients over ranks and
`distributed_sigmoid_loss` returns W * (rank's share) so that the average is the global gradient.

Two more run the training script of docs/distributed-loss.md under `torchrun`: 2 processes on gloo, and on
nccl with one process per GPU (at most 2) where CUDA is available.
"""

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel as DDP

import hf_fixtures
from siglip2_min import load_model
from siglip2_min.loss import distributed_sigmoid_loss, sigmoid_loss

SIZES = [2, 3]  # local batch per rank; unequal on purpose
STEPS, LR = 2, 0.5
# float64; the DDP path sums the same per-example gradients in another order (all-reduce, ring). Parameters are
# O(0.1..1) and updates O(1e-3..1e-1), so 1e-10 is ~1e5 ulps of slack yet far below any real discrepancy.
ATOL, RTOL = 1e-10, 1e-10


def _batch():
    n = sum(SIZES)
    shapes = [(4, 4), (2, 3), (3, 4), (1, 4), (4, 2)][:n]
    pixel_values, mask, spatial = hf_fixtures.naflex_inputs(shapes, max_patches=16, dtype=torch.float64)
    return dict(input_ids=hf_fixtures.text_inputs(n), pixel_values=pixel_values, pixel_attention_mask=mask,
                spatial_shapes=spatial)


def _worker(rank, world, port, folder):
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    dist.init_process_group("gloo", init_method="env://")  # what a torchrun-launched script does
    try:
        batch = _batch()
        lo, hi = sum(SIZES[:rank]), sum(SIZES[: rank + 1])
        local = {k: v[lo:hi] for k, v in batch.items()}

        ddp = DDP(load_model(folder, dtype=torch.float64).train().requires_grad_(True))
        ref = load_model(folder, dtype=torch.float64).train().requires_grad_(True)
        opt = torch.optim.SGD(ddp.parameters(), lr=LR)
        ref_opt = torch.optim.SGD(ref.parameters(), lr=LR)
        for step in range(STEPS):
            out = ddp(**local)
            loss = distributed_sigmoid_loss(out.image_embeds, out.text_embeds, ddp.module.logit_scale,
                                            ddp.module.logit_bias)
            opt.zero_grad()
            loss.backward()
            opt.step()

            ref_out = ref(**batch)
            ref_loss = sigmoid_loss(ref_out.image_embeds, ref_out.text_embeds, ref.logit_scale, ref.logit_bias)
            ref_opt.zero_grad()
            ref_loss.backward()
            ref_opt.step()

            mean_loss = loss.detach().clone()
            dist.all_reduce(mean_loss)
            mean_loss /= world
            assert abs(mean_loss - ref_loss).item() <= ATOL + RTOL * abs(ref_loss.item()), (
                f"rank {rank} step {step}: mean DDP loss {mean_loss.item()!r} vs global {ref_loss.item()!r}")
            moved, bad = 0, []
            for (name, p), q in zip(ddp.module.named_parameters(), ref.parameters()):
                err = (p - q).abs()
                if not bool((err <= ATOL + RTOL * q.abs()).all()):
                    bad.append(f"{name}: max abs err {err.max().item():.3e} at flat index {int(err.argmax())}")
                moved += int(p.grad is not None and p.grad.abs().max() > 0)
            assert not bad, f"rank {rank} step {step}: differs from single-process training: " + "; ".join(bad)
            # Guard against a vacuous pass: the step must actually change most parameters.
            assert moved >= len(list(ref.parameters())) // 2, f"only {moved} parameters got a gradient"
        dist.barrier()
    finally:
        dist.destroy_process_group()


def test_ddp_step_equals_single_process_step(naflex_checkpoint):
    folder, _ = naflex_checkpoint
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_worker, args=(len(SIZES), port, str(folder)), nprocs=len(SIZES), join=True)


def _docs_example():
    """The ```python block of docs/distributed-loss.md that defines the torchrun training script."""
    page = (Path(__file__).resolve().parents[1] / "docs" / "distributed-loss.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", page, flags=re.M | re.S)
    scripts = [b for b in blocks if "def main(" in b]
    assert len(scripts) == 1, f"expected one training script on the page, found {len(scripts)}"
    return scripts[0]


def _run_docs_example(folder, tmp_path, nproc, extra):
    script = tmp_path / "ddp_train.py"
    script.write_text(_docs_example())
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", str(script),
           "--model", str(folder), "--steps", "3", "--pairs", "3", "--lr", "1e-3", *extra]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, f"torchrun failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    losses = [float(x) for x in re.findall(r"^step \d+ global loss (\S+)$", proc.stdout, flags=re.M)]
    assert len(losses) == 3, f"expected 3 loss lines from rank 0, got:\n{proc.stdout}"
    # The batch is fixed, so three AdamW steps must lower the loss on it.
    assert losses[-1] < losses[0], f"loss did not go down: {losses}"


def test_docs_example_trains_under_torchrun_gloo(naflex_checkpoint, tmp_path):
    _run_docs_example(naflex_checkpoint[0], tmp_path, nproc=2, extra=["--cpu"])


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (nccl); the gloo test runs everywhere")
def test_docs_example_trains_under_torchrun_nccl(naflex_checkpoint, tmp_path):
    _run_docs_example(naflex_checkpoint[0], tmp_path, nproc=min(2, torch.cuda.device_count()), extra=[])
