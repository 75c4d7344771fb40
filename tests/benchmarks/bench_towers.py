"""Load time and memory of `load_model(path, towers=...)` on a base-size checkpoint with the full 256k vocabulary.

    python tests/benchmarks/bench_towers.py [--repeats 3]

The same random B/16 NaFlex checkpoint as bench_memory.py (~1.4 GiB float32), loaded with towers "both", "vision"
and "text", in float32 (tensors stay views of the memory-mapped file) and bfloat16 (every tensor converted, so a
copy the process owns), each in a fresh process: seconds for `load_model` (after a warm-up load of the bundled tiny
model), then RssAnon / RssFile growth after touching every parameter (as a forward would). Linux only. Not a test.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))
from bench_memory import run_probe, save  # noqa: E402

PROBE = r"""
import json, sys, time, torch
sys.path.insert(0, REPO)
import siglip2_min

def status():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {k: int(fields[k].split()[0]) * 1024 for k in ("RssAnon", "RssFile")}

# The first model built on the meta device pays a one-time warm-up of torch's meta kernels (seconds, the same for
# any size): pay it on the bundled tiny model, so the time below is what the checkpoint's size costs.
siglip2_min.load_model(None)
base = status()
start = time.perf_counter()
model = siglip2_min.load_model(FOLDER, dtype=getattr(torch, DTYPE), towers=TOWERS)
seconds = time.perf_counter() - start
with torch.no_grad():
    sum(float(p.float().sum()) for p in model.parameters())
touched = status()
params = sum(p.numel() for p in model.parameters())
print(json.dumps(dict(seconds=seconds, params=params, **{k: touched[k] - base[k] for k in base})))
"""


def probe(folder, towers, dtype):
    return run_probe(PROBE, FOLDER=folder, TOWERS=towers, DTYPE=dtype)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per case; the fastest load is shown")
    args = parser.parse_args()
    gib = 2**30
    print(f"torch {torch.__version__}; GiB growth after touching every parameter (anonymous / file-backed)")
    print(f"{'towers':<8} {'dtype':<9} {'params':>8} {'load s':>7} {'anon':>6} {'file':>6}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        save(Path(tmp), "naflex")
        for dtype in ("float32", "bfloat16"):
            for towers in ("both", "vision", "text"):
                runs = [probe(tmp, towers, dtype) for _ in range(args.repeats)]
                r = min(runs, key=lambda run: run["seconds"])
                print(f"{towers:<8} {dtype:<9} {r['params'] / 1e6:7.1f}M {r['seconds']:7.2f} "
                      f"{r['RssAnon'] / gib:6.2f} {r['RssFile'] / gib:6.2f}", flush=True)
                rows.append(dict(towers=towers, dtype=dtype, **r))
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
