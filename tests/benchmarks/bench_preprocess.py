"""Benchmark: NaFlex preprocessing throughput against HF's `Siglip2ImageProcessorPil`, with identical outputs.

64 photo-sized RGB images of mixed sizes (480x640 up to 3000x4000, both orientations), already decoded in memory
as Pillow images, processed to patch budgets 256 and 1024 with patch size 16. Each side runs 3 times; the best time
counts. HF converts every full-size image Pillow -> numpy -> Pillow before resizing; we resize first and convert the
small result once, and resize images in parallel threads (Pillow releases the GIL).

    PYTHONPATH=$PWD python tests/benchmarks/bench_preprocess.py [--threads 2] [--repeats 3]
"""

import argparse
import sys
from pathlib import Path
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout, installed or not

from siglip2_min import naflex

SIZES = [(480, 640), (640, 480), (768, 1024), (1080, 1920), (1200, 1600), (2048, 1536), (2448, 3264), (3000, 4000)]


def photo(height, width, rng):
    # Smooth colour gradients plus noise: resize cost does not depend on content, but this is not a flat image.
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    base = 255 * (0.5 + 0.25 * np.sin(6 * x + 3 * y + np.arange(3, dtype=np.float32)))  # [H, W, 3]
    noise = rng.integers(0, 32, (height, width, 3), dtype=np.uint8)
    return Image.fromarray((base.astype(np.uint8) // 2 + noise).astype(np.uint8))


def best_time(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from transformers import Siglip2ImageProcessorPil

    rng = np.random.default_rng(0)
    images = [photo(*SIZES[i % len(SIZES)], rng) for i in range(64)]
    megapixels = sum(im.width * im.height for im in images) / 1e6
    print(f"64 images, {megapixels:.0f} megapixels in all; {args.threads} threads; best of {args.repeats}")

    for budget in (256, 1024):
        hf_proc = Siglip2ImageProcessorPil(patch_size=16, max_num_patches=budget)
        t_hf, hf = best_time(lambda: hf_proc(images, return_tensors="pt"), args.repeats)
        t_one, one = best_time(lambda: naflex.preprocess(images, 16, budget, num_threads=1), args.repeats)
        t_ours, ours = best_time(lambda: naflex.preprocess(images, 16, budget, num_threads=args.threads), args.repeats)
        names = ("pixel_values", "pixel_attention_mask", "spatial_shapes")
        for result in (one, ours):
            for name, array in zip(names, result):
                assert torch.equal(torch.from_numpy(array), hf[name]), f"{name} differs from HF at budget {budget}"
        print(
            f"budget {budget:4d}: HF {t_hf:6.2f} s ({64 / t_hf:5.1f} img/s) | ours 1 thread {t_one:5.2f} s "
            f"({t_hf / t_one:4.1f}x) | ours {args.threads} threads {t_ours:5.2f} s ({64 / t_ours:5.1f} img/s, "
            f"{t_hf / t_ours:4.1f}x) | outputs identical"
        )


if __name__ == "__main__":
    main()
