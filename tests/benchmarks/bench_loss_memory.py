"""Peak extra CPU memory of forward + backward: `sigmoid_loss` vs `chunked_sigmoid_loss` (not a test).

Method: each variant runs in a fresh Python process (so one run's freed pages cannot hide another's). The
process builds the float32 inputs [n, D] with requires_grad, then resets the kernel's peak-RSS counter
(`echo 5 > /proc/self/clear_refs`, Linux >= 4.0), reads the current RSS, runs loss.backward(), and reads
the peak RSS (VmHWM in /proc/self/status). "Extra" = peak - RSS before the call: everything the loss
allocated, including the normalised copies and the gradients of the embeddings ([n, D] each). Torch's CPU
allocator does not cache, and buffers this large are mmap-ed by malloc and returned on free, so RSS tracks
live tensors closely. Linux only.

    PYTHONPATH=$PWD python tests/benchmarks/bench_loss_memory.py            # n = 16384, D = 768
    PYTHONPATH=$PWD python tests/benchmarks/bench_loss_memory.py --n 4096 --chunks 256 1024
The full version at n = 16384 needs ~10 GB of RAM.
"""

import argparse
import json
import subprocess
import sys
import time


def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def loss_fn(chunk):
    from siglip2_min.loss import chunked_sigmoid_loss, sigmoid_loss

    if chunk == 0:
        return sigmoid_loss
    return lambda *args: chunked_sigmoid_loss(*args, chunk_size=chunk)


def run_one(n, d, chunk):
    """In this process: extra peak RSS (MiB) and seconds of forward + backward of one loss variant."""
    import torch

    # Warm-up on a tiny batch: the first matmul/backward maps library code and thread pools into RSS (tens of
    # MiB) that has nothing to do with the loss's buffers.
    warm = [torch.randn(8, d, requires_grad=True) for _ in range(2)]
    loss_fn(chunk)(*warm, torch.tensor(2.3, requires_grad=True), torch.tensor(-10.0, requires_grad=True)).backward()
    torch.manual_seed(0)
    img = torch.randn(n, d, requires_grad=True)  # [n, D]
    txt = torch.randn(n, d, requires_grad=True)  # [n, D]
    scale = torch.tensor(2.3, requires_grad=True)
    bias = torch.tensor(-10.0, requires_grad=True)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM (peak RSS) to the current RSS
    base = _status_kib("VmRSS")
    t0 = time.perf_counter()
    loss = loss_fn(chunk)(img, txt, scale, bias)
    loss.backward()
    seconds = time.perf_counter() - t0
    peak = _status_kib("VmHWM")
    return {"chunk": chunk, "extra_mib": (peak - base) / 1024, "seconds": seconds, "loss": loss.item()}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=16384)
    p.add_argument("--d", type=int, default=768)
    p.add_argument("--chunks", type=int, nargs="+", default=[512, 1024, 2048])
    p.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # internal: run one variant
    a = p.parse_args()
    if a.one is not None:
        print(json.dumps(run_one(a.n, a.d, a.one)))
        return
    rows = []
    for chunk in [0] + a.chunks:  # 0 = the full sigmoid_loss
        cmd = [sys.executable, __file__, "--n", str(a.n), "--d", str(a.d), "--one", str(chunk)]
        rows.append(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout))
    full = rows[0]
    print(f"n = {a.n}, D = {a.d}, float32, forward + backward; n x n float32 = {a.n * a.n * 4 / 2**20:.0f} MiB")
    print(f"{'variant':>24} {'extra MiB':>10} {'/ full':>7} {'seconds':>8} {'loss':>12}")
    for r in rows:
        name = "sigmoid_loss" if r["chunk"] == 0 else f"chunked, chunk={r['chunk']}"
        ratio = r["extra_mib"] / full["extra_mib"]
        print(f"{name:>24} {r['extra_mib']:>10.0f} {ratio:>7.3f} {r['seconds']:>8.2f} {r['loss']:>12.6f}")


if __name__ == "__main__":
    main()
