"""The GPU plan in one script: speed, memory, SDPA kernel and accuracy of each precision, against transformers.

    python tests/benchmarks/bench_cuda.py [--batches 1 8 32 128] [--patches 256 1024] [--warmup 3] [--repeats 5]
    python tests/benchmarks/bench_cuda.py --device cpu --batches 1 2 --patches 16 --small   # a dry run without GPU

Random B/16 NaFlex weights (`bench_model.save_base_checkpoint`), images of mixed aspect ratios at each patch budget.
For every precision (fp32 with TF32 off, fp32 with TF32 on, bf16) and every (batch, budget): our `encode_image`
and transformers' `get_image_features` (same precision, sdpa), `--warmup` calls each, then the median of
`--repeats` timed calls (synchronised); `torch.cuda.max_memory_allocated` of one call; the SDPA kernel the profiler
saw (flash, memory-efficient, cuDNN or the math fallback); and the smallest cosine of our pooled embeddings to
ours in fp32 with TF32 off. One JSON line at the end for the record.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parents[2]))
from bench_model import save_base_checkpoint  # noqa: E402

PRECISIONS = {"fp32": (torch.float32, False), "tf32": (torch.float32, True), "bf16": (torch.bfloat16, False)}
KERNELS = ("flash", "efficient", "cudnn", "math")  # substrings of the profiler's SDPA kernel names


def mixed_grids(batch, budget):
    """Grids of aspect ratios 1:4 .. 4:1 with h * w <= budget each."""
    grids = []
    for i in range(batch):
        ratio = 4 ** ((i % 9) / 4 - 1)  # 1/4 .. 4
        h = max(1, min(budget, int((budget * ratio) ** 0.5)))
        grids.append((h, max(1, budget // h)))
    return grids


def make_inputs(grids, budget, patch_dim, device, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    pv = torch.zeros(len(grids), budget, patch_dim)
    mask = torch.zeros(len(grids), budget, dtype=torch.long)
    for i, (h, w) in enumerate(grids):
        pv[i, : h * w] = torch.rand(h * w, patch_dim, generator=g) * 2 - 1
        mask[i, : h * w] = 1
    return pv.to(device, dtype), mask.to(device), torch.tensor(grids, device=device)


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def timed(fn, device, warmup, repeats):
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def peak_memory(fn, device):
    if device != "cuda":
        return None
    torch.cuda.reset_peak_memory_stats()
    fn()
    sync(device)
    return torch.cuda.max_memory_allocated()


def sdpa_kernels(fn, device):
    """The SDPA kernels that ran, by the profiler's kernel names (CUDA only)."""
    if device != "cuda":
        return []
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        sync(device)
    names = {e.key.lower() for e in prof.key_averages()}
    return sorted({k for k in KERNELS for n in names if k in n and ("attention" in n or "fmha" in n or "sdp" in n)})


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32, 128])
    parser.add_argument("--patches", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--small", action="store_true", help="a 2-layer, width-64 model: for a dry run on the CPU")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("torch sees no CUDA device here (use --device cpu --small for a dry run of the script)")
    if args.warmup < 1 or args.repeats < 1:
        parser.error("--warmup and --repeats must be >= 1")
    import transformers

    import siglip2_min

    device = args.device
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), transformers {transformers.__version__}, {name}")
    records = []
    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        if args.small:
            cfg = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4)
            config = transformers.Siglip2Config(text_config={**cfg, "vocab_size": 1000},
                                                vision_config={**cfg, "num_patches": 256, "patch_size": 16})
            torch.manual_seed(0)
            transformers.Siglip2Model(config).save_pretrained(tmp)
        else:
            save_base_checkpoint(tmp, vocab_size=1000)
        reference = siglip2_min.load_model(tmp, device=device)  # fp32, TF32 off: the accuracy reference
        patch_dim = reference.config.vision.patch_dim
        print(f"{'precision':<9} {'batch':>5} {'patches':>7} | {'ours img/s':>10} {'HF img/s':>9} {'ratio':>6} | "
              f"{'ours MiB':>8} {'HF MiB':>8} | {'sdpa kernel':<16} | min cos")
        for label, (dtype, tf32) in PRECISIONS.items():
            torch.backends.cuda.matmul.allow_tf32 = tf32
            torch.backends.cudnn.allow_tf32 = tf32
            ours = siglip2_min.load_model(tmp, device=device, dtype=dtype)
            theirs = transformers.Siglip2Model.from_pretrained(tmp, dtype=dtype, attn_implementation="sdpa")
            theirs = theirs.to(device).eval()
            for budget in args.patches:
                for batch in args.batches:
                    pv, mask, ss = make_inputs(mixed_grids(batch, budget), budget, patch_dim, device, dtype)
                    run_ours = lambda: ours.encode_image(pv, mask, ss)  # noqa: E731
                    run_hf = lambda: theirs.get_image_features(  # noqa: E731
                        pixel_values=pv, pixel_attention_mask=mask, spatial_shapes=ss)
                    torch.backends.cuda.matmul.allow_tf32 = False
                    ref = F.normalize(reference.encode_image(pv.float(), mask, ss), dim=-1)
                    torch.backends.cuda.matmul.allow_tf32 = tf32
                    cos = F.cosine_similarity(F.normalize(run_ours().float(), dim=-1), ref, dim=-1).min().item()
                    t_ours = timed(run_ours, device, args.warmup, args.repeats)
                    t_hf = timed(run_hf, device, args.warmup, args.repeats)
                    mem_ours, mem_hf = peak_memory(run_ours, device), peak_memory(run_hf, device)
                    kernels = sdpa_kernels(run_ours, device)
                    mib = lambda b: "-" if b is None else f"{b / 2**20:.0f}"  # noqa: E731
                    print(f"{label:<9} {batch:>5} {budget:>7} | {batch / t_ours:10.1f} {batch / t_hf:9.1f} "
                          f"{t_hf / t_ours:5.2f}x | {mib(mem_ours):>8} {mib(mem_hf):>8} | "
                          f"{','.join(kernels) or '-':<16} | {cos:.6f}", flush=True)
                    records.append(dict(precision=label, batch=batch, patches=budget, ours_s=t_ours, hf_s=t_hf,
                                        ours_bytes=mem_ours, hf_bytes=mem_hf, sdpa=kernels, min_cosine=cos))
            del ours, theirs
    print(json.dumps(records))


if __name__ == "__main__":
    main()
