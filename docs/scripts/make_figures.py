"""Draw the figures of the NaFlex page from the code itself: `python docs/scripts/make_figures.py [--out DIR]`.

Every number in the figures comes from siglip2_min: the target size and the patches from `siglip2_min.naflex`
(what the model is fed, turned back into an image with `unpatchify`), the position-table resize and its weights
from `siglip2_min.vision`. The "photo" is drawn procedurally here, so nothing is downloaded. The PNGs are
committed under docs/figures/; re-run this script after changing any of those functions.
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from siglip2_min.naflex import preprocess, target_size, unpatchify  # noqa: E402
from siglip2_min.vision import resize_position_table, resize_weights  # noqa: E402
from siglip2_min import load_model, load_processor  # noqa: E402
from siglip2_min.demo import DRAWINGS, draw  # noqa: E402
from siglip2_min.features import attention_map, overlay  # noqa: E402

FIGURES = Path(__file__).resolve().parents[1] / "figures"
PATCH = 16
DPI = 110
# The docs column is ~950 px wide in a 1280 px window: figures 11 in wide (1210 px) are shown at ~0.8 of their
# size, so 11-13 pt text stays 12-16 px tall on screen. Wide rows of panels are folded into two rows for that.
WIDTH = 11
plt.rcParams.update({"font.size": 12, "axes.titlesize": 12, "axes.labelsize": 12, "legend.fontsize": 11,
                     "xtick.labelsize": 11, "ytick.labelsize": 11, "figure.titlesize": 13})


def photo(height, width, seed=0):
    """A landscape drawn from formulas: sky gradient, sun, three ridges of hills, a lake, some texture. uint8 [H, W, 3]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)  # [H, W] each, in units of the longer side
    h_rel = height / max(height, width)
    img = np.zeros((height, width, 3))
    sky = np.clip(y / (0.6 * h_rel), 0, 1)[..., None]  # [H, W, 1]
    img[:] = (1 - sky) * np.array([0.25, 0.45, 0.85]) + sky * np.array([0.95, 0.8, 0.6])
    sun = (x - 0.72 * width / max(height, width)) ** 2 + (y - 0.22 * h_rel) ** 2 < (0.06 * h_rel) ** 2
    img[sun] = [1.0, 0.93, 0.55]
    colours = [[0.45, 0.55, 0.7], [0.3, 0.5, 0.3], [0.18, 0.35, 0.15]]
    for k, colour in enumerate(colours):
        ridge = h_rel * (0.45 + 0.1 * k + 0.05 * np.sin(9 * x[0] + 2 * k) + 0.03 * np.sin(23 * x[0] + k))  # [W]
        below = y >= ridge[None, :]
        img[below] = colour
    lake = y > 0.82 * h_rel
    img[lake] = np.array([0.2, 0.35, 0.6]) + 0.05 * np.sin(120 * y[lake])[:, None]
    img += rng.normal(0, 0.02, img.shape)  # texture, so the resize has something to smooth
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def what_the_model_sees(image, budget):
    """(pixels in [0, 1] of the resized image, (h, w) grid) from the patches `preprocess` feeds the model."""
    pixel_values, mask, spatial_shapes = preprocess(image, patch_size=PATCH, max_num_patches=budget)
    h, w = (int(v) for v in spatial_shapes[0])
    assert mask[0].sum() == h * w
    pixels = unpatchify(pixel_values[0], (h, w), PATCH)  # [h*p, w*p, 3] in [-1, 1]
    return (pixels + 1) / 2, (h, w)


def draw_grid(ax, h, w, colour="white"):
    for i in range(h + 1):
        ax.axhline(i * PATCH - 0.5, color=colour, lw=0.4, alpha=0.7)
    for j in range(w + 1):
        ax.axvline(j * PATCH - 0.5, color=colour, lw=0.4, alpha=0.7)


def fig_budgets(out):
    """The same photo at several patch budgets: the grid NaFlex picks and what the model receives."""
    image = photo(900, 1400)
    budgets = [16, 64, 256, 1024]
    fig, axes = plt.subplots(2, 3, figsize=(WIDTH, 7.6), dpi=DPI)
    axes = axes.ravel()
    axes[0].imshow(image)
    axes[0].set_title(f"input: {image.shape[0]} x {image.shape[1]} px\n(H:W = {image.shape[0] / image.shape[1]:.3f})")
    for ax, budget in zip(axes[1:], budgets):
        pixels, (h, w) = what_the_model_sees(image, budget)
        ax.imshow(pixels, interpolation="nearest")
        draw_grid(ax, h, w)
        ax.set_title(f"max_num_patches = {budget}\ngrid {h} x {w} = {h * w} patches\n{h * PATCH} x {w * PATCH} px "
                     f"(h:w = {h / w:.3f})")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[-1].axis("off")
    fig.suptitle("One photo, four budgets: NaFlex keeps the aspect ratio\nand uses as many 16 x 16 patches as fit")
    fig.tight_layout()
    fig.savefig(out / "naflex_budgets.png")
    plt.close(fig)


def fig_aspect(out):
    """Images of different shapes at one budget: each gets its own grid; the rest of the sequence is padding."""
    shapes = [(300, 2000), (1000, 1000), (1500, 600), (224, 1024)]
    budget = 256
    fig, axes = plt.subplots(4, 2, figsize=(WIDTH, 7.6), dpi=DPI, gridspec_kw={"height_ratios": [2.4, 0.25, 2.4, 0.25]},
                             layout="constrained")
    for k, (H, W) in enumerate(shapes):
        image = photo(H, W, seed=k)
        pixels, (h, w) = what_the_model_sees(image, budget)
        ax = axes[2 * (k // 2), k % 2]
        ax.imshow(pixels, interpolation="nearest")
        draw_grid(ax, h, w)
        ax.set_xticks([])
        ax.set_yticks([])
        th, tw = target_size(H, W, PATCH, budget)
        ax.set_title(f"{H} x {W} px (H:W {H / W:.2f})\n-> {th} x {tw} px, grid {h} x {w} (h:w {h / w:.2f})")
        # the sequence the model reads: h*w real patches, then padding up to the budget
        seq = axes[2 * (k // 2) + 1, k % 2]
        seq.add_patch(Rectangle((0, 0), h * w, 1, color="tab:green"))
        seq.add_patch(Rectangle((h * w, 0), budget - h * w, 1, color="lightgrey"))
        seq.set_xlim(0, budget)
        seq.set_ylim(0, 1)
        seq.set_yticks([])
        seq.set_xlabel(f"sequence of {budget}: {h * w} patches (mask 1),\n{budget - h * w} padding (mask 0)")
    fig.suptitle(f"Aspect ratio kept, budget shared: every image becomes <= {budget} patches")
    fig.savefig(out / "naflex_aspect.png")
    plt.close(fig)


def position_table(G=16, D=2):
    """A smooth G x G x D stand-in for a learned table (no checkpoint here): channel 0 a diagonal wave, channel 1
    a bump, so that a resize that flips, shifts or aliases the grid is visible. float32 [G, G, D]."""
    yy, xx = torch.meshgrid(torch.arange(G, dtype=torch.float32), torch.arange(G, dtype=torch.float32), indexing="ij")
    wave = torch.cos(2 * torch.pi * (yy / G + 0.5 * xx / G))  # [G, G]
    bump = torch.exp(-((yy - 4) ** 2 + (xx - 10) ** 2) / 12)  # [G, G]
    return torch.stack([wave, bump], dim=-1)[..., :D]  # [G, G, D]


def fig_position_table(out):
    """The 16 x 16 table resized to a few grids, with the weights that do it."""
    table = position_table()
    grids = [(16, 16), (7, 32), (32, 8), (4, 4), (53, 19)]
    fig, axes = plt.subplots(2, len(grids), figsize=(WIDTH, 5.4), dpi=DPI)
    for k, (h, w) in enumerate(grids):
        resized = resize_position_table(table, h, w).reshape(h, w, -1)  # [h*w, D] -> [h, w, D]
        for row, channel in enumerate(["channel 0 (a wave)", "channel 1 (a bump)"]):
            ax = axes[row, k]
            ax.imshow(resized[..., row].numpy(), cmap="viridis", vmin=table[..., row].min(), vmax=table[..., row].max(),
                      interpolation="nearest", aspect="equal")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"{h} x {w}" + (" (learned)" if (h, w) == (16, 16) else ""))
            if k == 0:
                ax.set_ylabel(channel)
    fig.suptitle("Position table [16, 16, D] resized per image:\nWh @ table @ Ww^T per channel (antialiased bilinear)")
    fig.tight_layout()
    fig.savefig(out / "position_table_resize.png")
    plt.close(fig)


def fig_resize_weights(out):
    """Rows of the weight matrices: shrinking widens the triangle (antialiasing), growing is plain bilinear; width 1
    averages everything, which torch's kernel gets wrong."""
    cases = [(16, 4), (16, 7), (16, 32), (16, 1)]
    fig, axes = plt.subplots(2, 3, figsize=(WIDTH, 7.4), dpi=DPI)
    axes = axes.ravel()
    for ax, (n_in, n_out) in zip(axes, cases):
        W = resize_weights(n_in, n_out).numpy()  # [out, in]
        colours = plt.cm.viridis(np.linspace(0, 0.9, n_out))
        rows = range(0, n_out, max(1, n_out // 8))  # at most ~8 rows, so the triangles stay readable
        for i in rows:
            ax.plot(np.arange(n_in), W[i], "o-", ms=3, color=colours[i], label=f"row {i}")
        ax.set_title(f"resize_weights({n_in}, {n_out}):\nrows of [{n_out}, {n_in}]")
        ax.set_xlabel("source row j")
        ax.set_xticks(range(0, n_in, 3))
    axes[0].set_ylabel("weight")
    axes[3].set_ylabel("weight")
    # the torch bug: a ramp 0..15 resized to an output 1 wide
    ramp = torch.arange(16, dtype=torch.float32).reshape(1, 1, 16, 1).expand(1, 1, 16, 16)
    ax = axes[4]
    axes[5].axis("off")
    for n_out in (8,):
        torch_rows = F.interpolate(ramp, size=(n_out, 1), mode="bilinear", align_corners=False, antialias=True)
        ours = resize_weights(16, n_out).float() @ torch.arange(16, dtype=torch.float32)  # [out]
        ax.plot(ours.numpy(), "o-", label="resize_weights (this project)")
        ax.plot(torch_rows.flatten().numpy(), "s--", label="torch F.interpolate, antialias=True")
    ax.set_title("a ramp 0..15 resized to (8, 1):\ntorch 2.13 on CPU is wrong at width 1")
    ax.set_xlabel("output row")
    axes[5].legend(*ax.get_legend_handles_labels(), loc="center left")  # the empty sixth panel holds the key
    fig.suptitle("Each curve is one output row i of the weight matrix (dark: first row, light: last)")
    fig.tight_layout()
    fig.savefig(out / "resize_weights.png")
    plt.close(fig)


def shape_share(model, processor, image):
    """(attention map, share of the head-mean attention on patches the shape touches, share of such patches)."""
    amap = attention_map(model, processor, image)
    pixel_values = processor(images=[image])["pixel_values"][0]  # [N, p*p*3] in [-1, 1]; white is 1
    h, w = amap.mean.shape
    touched = (pixel_values[: h * w] < 0.9).any(dim=1).reshape(h, w)  # [h, w] patches with any shape pixel
    return amap, float(amap.mean[touched].sum()), float(touched.float().mean())


def fig_attention_map(out):
    """The bundled model's MAP probe over the demo's drawn shapes: head mean per shape, then each head for one."""
    model, processor = load_model(), load_processor()
    images = [draw(colour, shape, size) for colour, shape, size in DRAWINGS]
    fig, axes = plt.subplots(2, len(images), figsize=(15, 6.4), dpi=DPI)
    for ax, (colour, shape, _), image in zip(axes[0], DRAWINGS, images):
        amap, on_shape, area = shape_share(model, processor, image)
        ax.imshow(overlay(image, amap.mean))
        ax.set_title(f"{colour} {shape}: {100 * on_shape:.0f}% of the attention\non the {100 * area:.0f}% of "
                     "patches the shape touches", fontsize=9)
    amap = attention_map(model, processor, images[3])
    axes[1, 0].imshow(images[3])
    axes[1, 0].set_title("input", fontsize=9)
    for k, ax in enumerate(axes[1, 1:]):
        if k < len(amap.heads):
            ax.imshow(overlay(images[3], amap.heads[k]))
            ax.set_title(f"head {k} (max {float(amap.heads[k].max()):.3f})", fontsize=9)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle("Where the pooled embedding comes from: the MAP probe's attention (attention_map) of the bundled "
                 "model; top: mean of the heads, bottom: each head", fontsize=11)
    fig.tight_layout()
    fig.savefig(out / "attention_map.png")
    plt.close(fig)


FIGURES_MADE = {
    "naflex_budgets.png": fig_budgets,
    "naflex_aspect.png": fig_aspect,
    "position_table_resize.png": fig_position_table,
    "resize_weights.png": fig_resize_weights,
    "attention_map.png": fig_attention_map,
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=FIGURES, help="folder for the PNGs (default: docs/figures)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, draw in FIGURES_MADE.items():
        draw(args.out)
        print(args.out / name)


if __name__ == "__main__":
    main()
