"""Memory of loading a base-size checkpoint and of its first forward, anonymous and file-backed apart.

    python tests/benchmarks/bench_memory.py [--skip-hf]

Both `siglip2_min.load_model` and transformers read safetensors through a memory map: a float32 tensor that needs no
conversion stays a view of the mapped file, so its pages count as file-backed resident memory (page cache the
kernel can drop and re-read) once touched, not as anonymous memory (a copy the process owns). Peak RSS lumps the
two together, so this script reads `RssAnon` and `RssFile` from /proc/self/status at each stage, in a fresh process
per case: after the imports, after loading, after touching every parameter (summing it, as a forward would), and
after a first forward (one 16 x 16 image, one text). Linux only. Not a test: the numbers depend on the machine.

Cases: a random B/16 NaFlex checkpoint with the full 256k vocabulary (~1.4 GiB float32) loaded in float32 and in
bfloat16 (a conversion, so a copy), a FixRes B/16-224 checkpoint of the same size (its Conv2d patch embedding is
reshaped on load, so that tensor is copied) and, for comparison, transformers' `from_pretrained` of the NaFlex one.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2]))

BASE = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12)

PROBE = r"""
import json, sys, torch
sys.path.insert(0, REPO)
import siglip2_min, transformers

def status():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {k: int(fields[k].split()[0]) * 1024 for k in ("RssAnon", "RssFile", "VmHWM")}

stages = {"imports": status()}
if WHICH == "hf":
    cls = transformers.Siglip2Model if FAMILY == "naflex" else transformers.SiglipModel
    model = cls.from_pretrained(FOLDER, dtype=getattr(torch, DTYPE)).eval()
else:
    model = siglip2_min.load_model(FOLDER, dtype=getattr(torch, DTYPE))
stages["load"] = status()
with torch.no_grad():
    sum(float(p.float().sum()) for p in model.parameters())
stages["touch"] = status()
n = 256 if FAMILY == "naflex" else 196  # 16 x 16 NaFlex patches; FixRes 224 px / 16 = 14 x 14
pv = torch.rand(1, n, 768, dtype=getattr(torch, DTYPE))  # patches [1, N, p*p*3]
ids = torch.randint(5, 1000, (1, 64))
with torch.no_grad():
    if FAMILY == "naflex":
        model(input_ids=ids, pixel_values=pv, pixel_attention_mask=torch.ones(1, n, dtype=torch.long),
              spatial_shapes=torch.tensor([[16, 16]]))
    elif WHICH == "hf":
        model(input_ids=ids, pixel_values=torch.rand(1, 3, 224, 224, dtype=getattr(torch, DTYPE)))
    else:
        model(input_ids=ids, pixel_values=pv)
stages["forward"] = status()
print(json.dumps(stages))
"""


def save(folder, family):
    import transformers

    torch.manual_seed(0)
    text = {**BASE, "vocab_size": 256000}
    if family == "naflex":
        config = transformers.Siglip2Config(text_config=text, vision_config={**BASE, "num_patches": 256,
                                                                             "patch_size": 16})
        transformers.Siglip2Model(config).save_pretrained(folder)
    else:
        config = transformers.SiglipConfig(text_config=text, vision_config={**BASE, "image_size": 224,
                                                                            "patch_size": 16})
        transformers.SiglipModel(config).save_pretrained(folder)
    return (Path(folder) / "model.safetensors").stat().st_size


def run_probe(template, **names):
    """Run `template` in a fresh Python with each NAME replaced by repr(value) (REPO: this checkout); its last line
    of output, as JSON."""
    code = template.replace("REPO", repr(str(HERE.parents[2])))
    for name, value in names.items():
        code = code.replace(name, repr(str(value)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{' '.join(map(str, names.values()))} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def probe(folder, which, family, dtype):
    return run_probe(PROBE, WHICH=which, FOLDER=folder, FAMILY=family, DTYPE=dtype)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-hf", action="store_true", help="leave out transformers' loader")
    args = parser.parse_args()
    gib = 2**30
    cases = [("ours", "naflex", "float32"), ("ours", "naflex", "bfloat16"), ("ours", "fixres", "float32")]
    if not args.skip_hf:
        cases.append(("hf", "naflex", "float32"))
    print(f"torch {torch.__version__}; GiB growth over the state after imports (anonymous / file-backed); "
          "peak = VmHWM growth")
    print(f"{'case':<28} {'file':>6} | {'load':>13} | {'touch':>13} | {'forward':>13} | {'peak':>5}")
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        sizes = {family: save(Path(tmp) / family, family) for family in ("naflex", "fixres")}
        for which, family, dtype in cases:
            s = probe(Path(tmp) / family, which, family, dtype)
            base = s["imports"]

            def cell(stage):
                return (f"{(s[stage]['RssAnon'] - base['RssAnon']) / gib:5.2f} / "
                        f"{(s[stage]['RssFile'] - base['RssFile']) / gib:5.2f}")

            name = f"{which} {family} {dtype}"
            peak = (s["forward"]["VmHWM"] - base["VmHWM"]) / gib
            print(f"{name:<28} {sizes[family] / gib:6.2f} | {cell('load')} | {cell('touch')} | {cell('forward')} | "
                  f"{peak:5.2f}", flush=True)
            rows[name] = s
    print(json.dumps({"file_bytes": sizes, "stages": rows}))


if __name__ == "__main__":
    main()
