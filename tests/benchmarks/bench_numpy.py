"""Benchmark: the numpy twin against the torch model on a base-size vision batch, float32, CPU, one run.

    PYTHONPATH=$PWD python tests/benchmarks/bench_numpy.py [--batch 8] [--repeats 3] [--threads 1]

Builds a random-weight B/16 NaFlex checkpoint (width 768, 12 layers, MLP 3072, 12 heads, 256 patches; a tiny
text tower, since only the vision tower is timed) with transformers' `save_pretrained`, loads it with both
`siglip2_min.load_model` and `reference_numpy.load_model` in float32, and times `encode_image` on the same batch
of full 16x16 grids. Prints the median wall and CPU time of each and the ratio twin / torch (target: <= 2).

--threads sets both libraries' thread count (OpenBLAS for numpy, torch's intra-op pool) before they load. The
default, 1, gives a per-core figure that holds on a shared machine: with 2 threads on busy cores, OpenBLAS threads
each of the 96 small per-head products of attention and spin while they wait, which costs numpy several times its
work (seen here: 19 s CPU for a 4 s forward).
"""

import argparse
import sys
from pathlib import Path
import os
import tempfile
import time

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout, installed or not


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = str(args.threads)  # read at numpy import

    import numpy as np
    import torch
    import transformers

    import reference_numpy
    import siglip2_min

    torch.set_num_threads(args.threads)
    base = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12)
    config = transformers.Siglip2Config(
        text_config={**base, "vocab_size": 256, "num_hidden_layers": 1},
        vision_config={**base, "num_patches": 256, "patch_size": 16},
    )
    torch.manual_seed(0)
    B, N = args.batch, 256
    rng = np.random.default_rng(0)
    pixel_values = rng.uniform(-1, 1, (B, N, 16 * 16 * 3)).astype(np.float32)  # [B, N, p*p*3]
    mask = np.ones((B, N), dtype=np.int64)  # [B, N] every slot a real patch
    shapes = np.full((B, 2), 16, dtype=np.int64)  # [B, 2] 16x16 grids
    with tempfile.TemporaryDirectory() as folder:
        transformers.Siglip2Model(config).eval().save_pretrained(folder)
        twin = reference_numpy.load_model(folder, dtype=np.float32)
        model = siglip2_min.load_model(folder, dtype=torch.float32)
    tensors = [torch.from_numpy(a) for a in (pixel_values, mask, shapes)]

    def run_torch():
        with torch.inference_mode():
            return model.encode_image(*tensors)

    def run_twin():
        return twin.encode_image(pixel_values, mask, shapes)

    def median_times(fn):
        fn()  # warm-up: first-touch allocations, thread pools
        wall, cpu = [], []
        for _ in range(args.repeats):
            w, c = time.perf_counter(), time.process_time()
            fn()
            wall.append(time.perf_counter() - w)
            cpu.append(time.process_time() - c)
        return float(np.median(wall)), float(np.median(cpu))

    torch_wall, torch_cpu = median_times(run_torch)
    twin_wall, twin_cpu = median_times(run_twin)
    diff = np.abs(run_twin() - run_torch().numpy()).max()
    print(f"vision B/16, batch {B} x {N} patches, float32, {args.threads} thread(s), median of {args.repeats}")
    print(f"torch  encode_image: wall {torch_wall * 1e3:8.1f} ms   cpu {torch_cpu * 1e3:8.1f} ms")
    print(f"numpy  encode_image: wall {twin_wall * 1e3:8.1f} ms   cpu {twin_cpu * 1e3:8.1f} ms")
    print(f"ratio numpy / torch: wall {twin_wall / torch_wall:.2f}, cpu {twin_cpu / torch_cpu:.2f} (target <= 2)")
    print(f"max |twin - torch| on the pooled embeddings: {diff:.2e}")


if __name__ == "__main__":
    main()
