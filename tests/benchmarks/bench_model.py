"""Model speed and loading memory: siglip2-min against transformers, same random B/16 NaFlex weights, one run.

    python tests/benchmarks/bench_model.py [--threads 2] [--repeats 3] [--batch 8] [--skip-memory] [--device cuda]

Prints ratios (ours vs transformers; > 1 means faster) for: images of one size (16 x 16 patches), images of mixed
aspect ratios 1:4 to 4:1 (each its own NaFlex grid of <= 256 patches), 64-token texts; and the peak resident memory
of loading a base-size checkpoint (full 256k vocabulary, ~1.5 GB fp32) relative to the file size. Not a test: the
numbers depend on the machine. Each timing is the median of `--repeats` runs, ours and theirs interleaved.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2]))

BASE_TEXT = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12)
# Patch grids NaFlex picks for 256 patches at aspect ratios from 1:4 to 4:1 (h * w <= 256 each).
MIXED = [(8, 32), (9, 28), (10, 25), (11, 23), (13, 19), (16, 16), (19, 13), (23, 11), (25, 10), (28, 9), (32, 8)]


def save_base_checkpoint(folder, vocab_size):
    import transformers

    torch.manual_seed(0)
    config = transformers.Siglip2Config(text_config={**BASE_TEXT, "vocab_size": vocab_size},
                                        vision_config={**BASE_TEXT, "num_patches": 256, "patch_size": 16})
    transformers.Siglip2Model(config).save_pretrained(folder)


def inputs(shapes, max_patches=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    pv = torch.zeros(len(shapes), max_patches, 768)
    mask = torch.zeros(len(shapes), max_patches, dtype=torch.long)
    for i, (h, w) in enumerate(shapes):
        pv[i, : h * w] = torch.rand(h * w, 768, generator=g) * 2 - 1
        mask[i, : h * w] = 1
    return pv, mask, torch.tensor(shapes)


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()  # CUDA calls return before the work is done
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def compare(name, ours, theirs, repeats, items):
    ours(), theirs()  # warm-up
    t_ours, t_theirs = [], []
    for _ in range(repeats):  # interleaved, so drifts in machine load hit both
        t_ours.append(median_time(ours, 1))
        t_theirs.append(median_time(theirs, 1))
    a, b = sorted(t_ours)[repeats // 2], sorted(t_theirs)[repeats // 2]
    print(f"{name:<34} ours {items / a:8.2f}/s   transformers {items / b:8.2f}/s   ratio {b / a:5.2f}x", flush=True)
    return b / a


def speed(folder, repeats, batch, device="cpu"):
    import transformers
    import siglip2_min

    ours = siglip2_min.load_model(folder, device=device)
    theirs = transformers.Siglip2Model.from_pretrained(folder).to(device).eval()
    equal = [t.to(device) for t in inputs([(16, 16)] * batch)]
    mixed = [t.to(device) for t in inputs([MIXED[i % len(MIXED)] for i in range(batch)])]
    ids = torch.randint(5, 1000, (4 * batch, 64), device=device)
    results = {}
    with torch.inference_mode():
        for label, (pv, mask, ss) in (("images, equal size (16x16)", equal), ("images, mixed 1:4..4:1", mixed)):
            check = (ours.encode_image(pv, mask, ss) -
                     theirs.get_image_features(pixel_values=pv, pixel_attention_mask=mask,
                                               spatial_shapes=ss).pooler_output).abs().max()
            assert check < 1e-3, f"outputs differ by {check}: the comparison would be meaningless"
            results[label] = compare(label, lambda: ours.encode_image(pv, mask, ss),
                                     lambda: theirs.get_image_features(pixel_values=pv, pixel_attention_mask=mask,
                                                                       spatial_shapes=ss), repeats, len(pv))
        results["texts (64 tokens)"] = compare("texts (64 tokens)", lambda: ours.encode_text(ids),
                                               lambda: theirs.get_text_features(input_ids=ids), repeats, len(ids))
    return results


def peak_load_memory(folder, which):
    """Peak RSS growth (bytes) of a fresh process while it loads the checkpoint, after imports."""
    code = f"""
import resource, sys, torch
sys.path.insert(0, {str(HERE.parents[2])!r})
import siglip2_min, transformers
def rss(): return int(open('/proc/self/statm').read().split()[1]) * {os.sysconf('SC_PAGE_SIZE')}
base = rss()
if {which!r} == 'ours':
    m = siglip2_min.load_model({str(folder)!r})
else:
    m = transformers.Siglip2Model.from_pretrained({str(folder)!r})
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(peak - base)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (the speed part; memory is measured on the CPU)")
    args = parser.parse_args()
    if args.device != "cpu" and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: torch sees no CUDA device here")
    torch.set_num_threads(args.threads)
    import transformers

    print(f"torch {torch.__version__}, transformers {transformers.__version__}, {args.device}, {args.threads} threads, "
          f"batch {args.batch}, median of {args.repeats}")
    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "speed"  # the vocabulary does not change the speed; a small one saves disk and time
        save_base_checkpoint(small, vocab_size=1000)
        results = speed(small, args.repeats, args.batch, args.device)
        if not args.skip_memory:
            full = Path(tmp) / "full"
            save_base_checkpoint(full, vocab_size=256000)
            size = (full / "model.safetensors").stat().st_size
            for which in ("ours", "transformers"):
                peak = peak_load_memory(full, which)
                results[f"load peak / file, {which}"] = peak / size
                print(f"load peak RSS growth, {which:<13} {peak / 2**30:6.2f} GiB = {peak / size:4.2f}x the "
                      f"{size / 2**30:.2f} GiB file", flush=True)
    print(json.dumps({k: round(v, 3) for k, v in results.items()}))


if __name__ == "__main__":
    main()
