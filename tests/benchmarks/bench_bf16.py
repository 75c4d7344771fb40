"""bfloat16 on the CPU: speed and error of `load_model(..., dtype=torch.bfloat16)` against float32, one run.

    python tests/benchmarks/bench_bf16.py [--threads 2] [--repeats 3] [--batch 8]

Same random B/16 NaFlex weights and inputs as `bench_model.py`. Prints, for images of one size, images of mixed
aspect ratios and 64-token texts: our float32 and bfloat16 throughput (interleaved, median of `--repeats`) and
transformers' float32 and `torch.autocast("cpu", torch.bfloat16)`, each as a ratio to our float32; then the error of
the bfloat16 embeddings against float32 (smallest cosine) and of the image-text cosine matrix (the logits at scale 1,
bias 0). A CPU with native bf16 instructions (avx512_bf16, AMX) gains the most; one without may be slower in bf16.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))
from bench_model import MIXED, compare, inputs, save_base_checkpoint  # noqa: E402  (same checkpoint and inputs)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import transformers

    import siglip2_min

    print(f"torch {torch.__version__}, transformers {transformers.__version__}, cpu capability "
          f"{torch.backends.cpu.get_cpu_capability()}, {args.threads} threads, median of {args.repeats}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        save_base_checkpoint(tmp, vocab_size=1000)
        fp32 = siglip2_min.load_model(tmp)
        bf16 = siglip2_min.load_model(tmp, dtype=torch.bfloat16)
        hf = transformers.Siglip2Model.from_pretrained(tmp).eval()
        equal = inputs([(16, 16)] * args.batch)
        mixed = inputs([MIXED[i % len(MIXED)] for i in range(args.batch)])
        ids = torch.randint(5, 1000, (4 * args.batch, 64))

        def hf_autocast(fn):
            def run():
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return fn()
            return run

        embeds = {}
        for label, (pv, mask, ss) in (("images, equal size (16x16)", equal), ("images, mixed 1:4..4:1", mixed)):
            ours32 = lambda: fp32.encode_image(pv, mask, ss)  # noqa: E731
            ours16 = lambda: bf16.encode_image(pv.bfloat16(), mask, ss)  # noqa: E731
            theirs = lambda: hf.get_image_features(pixel_values=pv, pixel_attention_mask=mask,  # noqa: E731
                                                   spatial_shapes=ss).pooler_output
            results[f"{label}: ours bf16 / ours fp32"] = compare(f"{label} bf16", ours16, ours32, args.repeats, len(pv))
            results[f"{label}: HF autocast bf16 / ours fp32"] = compare(f"{label} HF autocast", hf_autocast(theirs),
                                                                        ours32, args.repeats, len(pv))
            embeds[label] = (F.normalize(ours32(), dim=-1), F.normalize(ours16().float(), dim=-1))
        results["texts: ours bf16 / ours fp32"] = compare("texts bf16", lambda: bf16.encode_text(ids),
                                                          lambda: fp32.encode_text(ids), args.repeats, len(ids))
        theirs = lambda: hf.get_text_features(input_ids=ids).pooler_output  # noqa: E731
        results["texts: HF autocast bf16 / ours fp32"] = compare("texts HF autocast", hf_autocast(theirs),
                                                                 lambda: fp32.encode_text(ids), args.repeats, len(ids))
        text32, text16 = F.normalize(fp32.encode_text(ids), dim=-1), F.normalize(bf16.encode_text(ids).float(), dim=-1)
        print("(in the ratios above, 'transformers' is our float32 and 'ours' the bf16 variant named)")
        for label, (img32, img16) in embeds.items():
            cos = F.cosine_similarity(img16, img32, dim=-1).min().item()
            logit_err = (img16 @ text16.T - img32 @ text32.T).abs().max().item()
            results[f"{label}: min cosine bf16 vs fp32"] = cos
            results[f"{label}: max |cos matrix diff|"] = logit_err
            print(f"{label:<30} image cosine bf16 vs fp32 >= {cos:.6f}; image-text cosines differ by <= {logit_err:.2e}")
        cos = F.cosine_similarity(text16, text32, dim=-1).min().item()
        results["texts: min cosine bf16 vs fp32"] = cos
        print(f"{'texts':<30} text cosine bf16 vs fp32 >= {cos:.6f}")
    print(json.dumps({k: round(v, 6) for k, v in results.items()}))


if __name__ == "__main__":
    main()
