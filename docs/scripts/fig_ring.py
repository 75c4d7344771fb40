"""Draw the ring exchange of `distributed_sigmoid_loss`: `python docs/scripts/fig_ring.py [--world 4] [--out DIR]`.

One panel per step of the ring for W ranks, plus a last panel with all steps together. Each panel is the global
n x n grid of (image block, text block) pairs, rows = images by owning rank, columns = texts by owning rank.
At step k rank r holds the texts of rank (r - k) mod W, the same rule `distributed_sigmoid_loss` uses, so it
computes block (r, r - k); step 0 is the local block with the positives on its diagonal. Writes
docs/figures/ring_exchange.png (committed); re-run after changing the exchange order.
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

FIGURES = Path(__file__).resolve().parents[1] / "figures"


def block_at(rank, step, world):
    """(image block, text block) that `rank` computes at ring step `step`: its images, rank (r - step)'s texts."""
    return rank, (rank - step) % world


def draw(world, out):
    colours = plt.get_cmap("tab10").colors
    # 3 panels a row, 11 in wide: in the ~950 px docs column the 12 pt text shows ~15 px tall
    rows = -(-(world + 1) // 3)
    fig, axes = plt.subplots(rows, 3, figsize=(11, 4.3 * rows + 0.6))
    axes = axes.ravel()
    for ax in axes[world + 1:]:
        ax.axis("off")
    for step, ax in enumerate(axes[:world + 1]):
        steps = range(world) if step == world else [step]
        for s in steps:
            for r in range(world):
                i, j = block_at(r, s, world)
                alpha = 0.85 if step < world else 0.35 + 0.5 * (s == 0)
                ax.add_patch(Rectangle((j, i), 1, 1, facecolor=colours[r], alpha=alpha, edgecolor="white", lw=2))
                x, y = (j + 0.3, i + 0.72) if s == 0 else (j + 0.5, i + 0.5)  # off the dotted diagonal
                ax.text(x, y, f"r{r}" if step < world else f"k={s}", ha="center", va="center",
                        fontsize=12, color="black")
                if s == 0:  # the positives: the diagonal of the local block
                    ax.plot([j + 0.1, j + 0.9], [i + 0.1, i + 0.9], color="black", lw=1, ls=":")
        ax.set_xlim(0, world)
        ax.set_ylim(world, 0)
        ax.set_aspect("equal")
        ax.set_xticks([k + 0.5 for k in range(world)], [f"T{k}" for k in range(world)], fontsize=12)
        ax.set_yticks([k + 0.5 for k in range(world)], [f"I{k}" for k in range(world)], fontsize=12)
        ax.tick_params(length=0)
        for k in range(world + 1):
            ax.axhline(k, color="0.8", lw=0.5)
            ax.axvline(k, color="0.8", lw=0.5)
        if step == 0:
            ax.set_title("step 0: local block\n(positives on the diagonal)", fontsize=12)
        elif step < world:
            ax.set_title(f"step {step}: rank r holds\ntexts of rank r-{step} (mod {world})", fontsize=12)
        else:
            ax.set_title("all steps: every block\nonce, by its image's rank", fontsize=12)
    fig.suptitle(f"distributed_sigmoid_loss, W = {world}: rows = images (I_r on rank r), columns = texts (T_s);\n"
                 "colour = the rank that computes the block", fontsize=13)
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "ring_exchange.png", dpi=110)
    print(f"wrote {out / 'ring_exchange.png'}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--world", type=int, default=4)
    p.add_argument("--out", type=Path, default=FIGURES)
    a = p.parse_args()
    draw(a.world, a.out)
