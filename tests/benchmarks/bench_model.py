"""Model speed and loading memory: siglip2-min against transformers, same random B/16 NaFlex weights, one run.

    python tests/benchmarks/bench_model.py [--threads 2] [--repeats 3] [--batches 8 32] [--text-batches 8 64]
                                           [--skip-memory] [--profile] [--device cuda]

Prints ratios (ours vs transformers; > 1 means faster) for: images of one size (16 x 16 patches) and images of
mixed aspect ratios 1:4 to 4:1 (each its own NaFlex grid of <= 256 patches) at each of `--batches`, 64-token texts
at each of `--text-batches`; the time to load the checkpoint; and the peak resident memory of loading a base-size
checkpoint (full 256k vocabulary, ~1.5 GB fp32) relative to the file size. `--profile` adds torch.profiler's table
of the top operators of each implementation on a mixed batch of 8. Not a test: the numbers depend on the machine.
Each timing is the median of `--repeats` runs, ours and theirs interleaved.
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


def compare(name, ours, theirs, repeats, items, unit="/s"):
    ours(), theirs()  # warm-up
    t_ours, t_theirs = [], []
    for _ in range(repeats):  # interleaved, so drifts in machine load hit both
        t_ours.append(median_time(ours, 1))
        t_theirs.append(median_time(theirs, 1))
    a, b = sorted(t_ours)[repeats // 2], sorted(t_theirs)[repeats // 2]
    load = f"load average {os.getloadavg()[0]:.1f}"  # on a shared machine, the context of every figure
    if unit:
        print(f"{name:<40} ours {items / a:8.2f}/s   transformers {items / b:8.2f}/s   ratio {b / a:5.2f}x   {load}",
              flush=True)
    else:
        print(f"{name:<40} ours {a:8.2f} s    transformers {b:8.2f} s    ratio {b / a:5.2f}x   {load}", flush=True)
    return b / a


def roofline(repeats, tokens=2048, D=768, F=3072, layers=12, patches=256):
    """Measured float32 matmul FLOP/s (the MLP's [tokens, D] @ [D, F] product) and the images/s it would allow.

    FLOPs per image of the B/16 vision tower at 256 patches: per layer and token, 2 * (4 D^2 + 2 D F) in the
    q/k/v/out and MLP products and 2 * 2 * N * D in q k^T and the weighted sum of v; the patch embedding and
    the head add < 1%.
    """
    a, w = torch.randn(tokens, D), torch.randn(D, F)
    a @ w  # warm-up
    seconds = median_time(lambda: a @ w, max(repeats, 5))
    flops_per_s = 2 * tokens * D * F / seconds
    per_image = layers * patches * (2 * (4 * D * D + 2 * D * F) + 4 * patches * D)
    print(f"roofline: matmul {flops_per_s / 1e9:.1f} GFLOP/s; {per_image / 1e9:.1f} GFLOP an image -> at most "
          f"{flops_per_s / per_image:.2f} images/s", flush=True)
    return flops_per_s / per_image


def load_times(folder, repeats, device):
    """Median seconds of `load_model` and of transformers' `from_pretrained` (+ eval), interleaved."""
    import transformers
    import siglip2_min

    return compare("load the checkpoint", lambda: siglip2_min.load_model(folder, device=device),
                   lambda: transformers.Siglip2Model.from_pretrained(folder).to(device).eval(), repeats, 1, unit="")


def speed(folder, repeats, batches, text_batches, device="cpu"):
    import transformers
    import siglip2_min

    ours = siglip2_min.load_model(folder, device=device)
    theirs = transformers.Siglip2Model.from_pretrained(folder).to(device).eval()
    results = {}
    with torch.inference_mode():
        for batch in batches:
            equal = [t.to(device) for t in inputs([(16, 16)] * batch)]
            mixed = [t.to(device) for t in inputs([MIXED[i % len(MIXED)] for i in range(batch)])]
            for label, (pv, mask, ss) in ((f"images, equal (16x16), batch {batch}", equal),
                                          (f"images, mixed 1:4..4:1, batch {batch}", mixed)):
                check = (ours.encode_image(pv, mask, ss) -
                         theirs.get_image_features(pixel_values=pv, pixel_attention_mask=mask,
                                                   spatial_shapes=ss).pooler_output).abs().max()
                assert check < 1e-3, f"outputs differ by {check}: the comparison would be meaningless"
                results[label] = compare(label, lambda: ours.encode_image(pv, mask, ss),
                                         lambda: theirs.get_image_features(pixel_values=pv, pixel_attention_mask=mask,
                                                                           spatial_shapes=ss), repeats, len(pv))
        for batch in text_batches:
            ids = torch.randint(5, 1000, (batch, 64), device=device)
            label = f"texts (64 tokens), batch {batch}"
            results[label] = compare(label, lambda: ours.encode_text(ids),
                                     lambda: theirs.get_text_features(input_ids=ids), repeats, len(ids))
    return results


def profile(folder, rows=12):
    """torch.profiler's top operators (self CPU time) of each implementation on one mixed batch of 8."""
    import transformers
    import siglip2_min
    from torch.profiler import ProfilerActivity, profile as profiler

    ours = siglip2_min.load_model(folder)
    theirs = transformers.Siglip2Model.from_pretrained(folder).eval()
    pv, mask, ss = inputs([MIXED[i % len(MIXED)] for i in range(8)])
    runs = {"siglip2-min": lambda: ours.encode_image(pv, mask, ss),
            "transformers": lambda: theirs.get_image_features(pixel_values=pv, pixel_attention_mask=mask,
                                                              spatial_shapes=ss)}
    with torch.inference_mode():
        for name, run in runs.items():
            run()  # warm-up
            with profiler(activities=[ProfilerActivity.CPU]) as prof:
                run()
            print(f"\n{name}, mixed batch 8:\n" +
                  prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows), flush=True)


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
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 32], help="image batch sizes")
    parser.add_argument("--text-batches", type=int, nargs="+", default=[8, 64], help="text batch sizes")
    parser.add_argument("--profile", action="store_true", help="also print the top operators of each")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (the speed part; memory is measured on the CPU)")
    args = parser.parse_args()
    if args.device != "cpu" and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: torch sees no CUDA device here")
    torch.set_num_threads(args.threads)
    import transformers

    print(f"torch {torch.__version__}, transformers {transformers.__version__}, {args.device}, {args.threads} threads, "
          f"median of {args.repeats}, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "speed"  # the vocabulary does not change the speed; a small one saves disk and time
        save_base_checkpoint(small, vocab_size=1000)
        results = speed(small, args.repeats, args.batches, args.text_batches, args.device)
        results["load time"] = load_times(small, args.repeats, args.device)
        if args.device == "cpu":
            results["roofline images/s"] = roofline(args.repeats)
        if args.profile:
            profile(small)
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
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
