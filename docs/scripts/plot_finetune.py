"""Plot the loss of a fine-tuning run from its `finetune.json`: `python docs/scripts/plot_finetune.py RUN.json OUT.png`.

`siglip2-min finetune` writes `finetune.json` into its output folder: the options, the loss of every step, the
timings and the before/after measurements (docs/evaluate-finetune.md).
"""

import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", help="a finetune.json")
    parser.add_argument("out", help="the PNG to write")
    args = parser.parse_args()
    info = json.loads(open(args.run).read())
    losses = np.array(info["losses"])
    steps = np.arange(1, len(losses) + 1)
    window = min(20, len(losses))
    smooth = np.convolve(losses, np.ones(window) / window, mode="valid")  # mean of the last `window` steps
    fig, ax = plt.subplots(figsize=(6.4, 3.4), dpi=110)
    ax.plot(steps, losses, color="0.75", lw=0.8, label="loss of each batch")
    ax.plot(steps[window - 1 :], smooth, color="C0", lw=2, label=f"mean of {window} steps")
    ax.set_xlabel("step")
    ax.set_ylabel("sigmoid loss (per image)")
    a = info["args"]
    ax.set_title(f"fine-tuning the bundled model: --train {a['train']}, lr {a['lr']:g}, batch {a['batch_size']}")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out)


if __name__ == "__main__":
    main()
