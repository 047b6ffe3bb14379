"""Matplotlib figures for the Saliency and Filters pages (object API, no pyplot state: safe in
Streamlit's threads)."""
from __future__ import annotations

import numpy as np

from fer import CLASS_NAMES

CMAP = "jet"


def _figure(w, h):
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), dpi=100)


def overlay(face, attribution=None, alpha: float = 0.5, scale: int = 3, note: str = "") -> np.ndarray:
    """uint8 RGB (48*scale, 48*scale): the face with a map (in [0,1]) blended over it in `CMAP`,
    or greyed out with `note` written on it when there is no map. An image, not a figure: a grid
    of 15 of them is drawn in milliseconds where a Matplotlib grid took 0.7 s."""
    import cv2
    from matplotlib import colormaps

    gray = np.repeat(np.asarray(face, np.float32)[..., None], 3, axis=-1)
    if attribution is not None and np.ptp(attribution) == 0:
        attribution, note = None, "empty map: no positive evidence"
    if attribution is None:
        rgb = 0.25 * gray + 0.75 * 255.0
    else:
        lut = (colormaps[CMAP](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.float32)
        heat = lut[np.clip(np.asarray(attribution) * 255 + 0.5, 0, 255).astype(np.uint8)]
        rgb = (1 - alpha) * gray + alpha * heat
    size = 48 * scale
    img = cv2.resize(np.clip(rgb, 0, 255).astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST)
    for k, line in enumerate(_wrap(note, 16)):
        cv2.putText(img, line, (6, size // 2 - 8 + 16 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (40, 40, 40), 1, cv2.LINE_AA)
    return img


def strip(images, pad: int = 4) -> np.ndarray:
    """Equal-size uint8 RGB images side by side, each with `pad` white pixels on both sides: one
    picture per row of a grid (one request and one element in the browser instead of one per
    image), whose tile k is centred at (k + 0.5) / n of its width."""
    images = [np.asarray(im, np.uint8) for im in images]
    if not images:
        raise ValueError("strip: no images")
    if len({im.shape for im in images}) != 1:
        raise ValueError(f"strip: images differ in shape: {sorted({im.shape for im in images})}")
    widths = ((0, 0), (pad, pad), (0, 0)) if images[0].ndim == 3 else ((0, 0), (pad, pad))
    return np.concatenate([np.pad(im, widths, constant_values=255) for im in images], axis=1)


def _wrap(text: str, width: int) -> list:
    lines, line = [], ""
    for word in text.replace("\n", " ").split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + ([line] if line else [])


def colour_bar(width: int = 240, height: int = 14) -> np.ndarray:
    """uint8 RGB strip of `CMAP` from 0 (left) to 1 (right), the legend of `overlay`."""
    from matplotlib import colormaps

    row = (colormaps[CMAP](np.linspace(0, 1, width))[:, :3] * 255).astype(np.uint8)
    return np.repeat(row[None], height, axis=0)


def maps_figure(face, rows, methods, alpha: float = 0.5):
    """Grid of maps overlaid on the face, one shared colour bar.

    rows: list of (row label, {method: map (48,48) or a str saying why there is none}).
    """
    n_r, n_c = max(1, len(rows)), max(1, len(methods))
    fig = _figure(1.9 * n_c + 1.0, 2.0 * n_r + 0.3)
    axes = np.atleast_2d(fig.subplots(n_r, n_c, squeeze=False))
    im = None
    for r, (label, maps) in enumerate(rows):
        for c, method in enumerate(methods):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            ax.imshow(face, cmap="gray", vmin=0, vmax=255)
            value = maps.get(method)
            if isinstance(value, np.ndarray) and np.ptp(value) == 0:
                value = "empty map:\nno positive\nevidence"
            if isinstance(value, np.ndarray):
                im = ax.imshow(value, cmap=CMAP, vmin=0.0, vmax=1.0, alpha=alpha)
            else:
                ax.imshow(np.full_like(face, 255), cmap="gray", vmin=0, vmax=255, alpha=0.75)
                ax.text(24, 24, "n/a" if not value else str(value), ha="center", va="center", fontsize=7, wrap=True)
            if r == 0:
                ax.set_title(method, fontsize=9)
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
    if im is not None:
        cb = fig.colorbar(im, ax=axes.ravel().tolist(), fraction=0.025, pad=0.02)
        cb.set_label("attribution (scaled per map)", fontsize=8)
    return fig


def probs_figure(probs_by_run: dict, true_class=None):
    """Grouped horizontal bars: the probability of each class, one colour per run."""
    k = max(1, len(probs_by_run))
    fig = _figure(6.0, 0.8 + 0.24 * len(CLASS_NAMES) * (1 + 0.35 * (min(k, 4) - 1)))
    ax = fig.subplots()
    h = 0.8 / k
    y = np.arange(len(CLASS_NAMES))
    for i, (name, p) in enumerate(probs_by_run.items()):
        ax.barh(y + (i - (k - 1) / 2) * h, p, height=h, label=name)
    labels = [f"{c} (true)" if true_class is not None and i == true_class else c for i, c in enumerate(CLASS_NAMES)]
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def image_grid(images, titles=None, cmap="gray", vmin=None, vmax=None, cols: int = 16, size: float = 0.9, suptitle=None):
    """A grid of small images with optional titles (e.g. filter index and activation)."""
    n = len(images)
    cols = max(1, min(cols, n))
    rows = max(1, int(np.ceil(n / cols)))
    fig = _figure(size * cols + 0.2, (size + (0.28 if titles is not None else 0.05)) * rows + (0.3 if suptitle else 0.1))
    axes = np.atleast_2d(fig.subplots(rows, cols, squeeze=False))
    for i, ax in enumerate(axes.ravel()):
        ax.set_xticks([])
        ax.set_yticks([])
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap=cmap, vmin=vmin, vmax=vmax)
            if titles is not None:
                ax.set_title(titles[i], fontsize=6, pad=2)
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.9 if suptitle else 0.97, wspace=0.06, hspace=0.35)
    return fig


def tiles(images, cmap: str = "gray", vmin=None, vmax=None, scale: int = 2) -> list:
    """uint8 RGB images (upscaled `scale`x, nearest) for st.image's flowing grid: one list of
    pictures draws in milliseconds where a Matplotlib grid of 64 took half a second."""
    import cv2
    from matplotlib import colormaps

    out = []
    lut = (colormaps[cmap](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)
    for im in np.asarray(images, np.float32):
        lo = float(im.min()) if vmin is None else vmin
        hi = float(im.max()) if vmax is None else vmax
        idx = np.clip((im - lo) / (hi - lo if hi > lo else 1.0) * 255 + 0.5, 0, 255).astype(np.uint8)
        rgb = lut[idx]
        out.append(cv2.resize(rgb, (rgb.shape[1] * scale, rgb.shape[0] * scale), interpolation=cv2.INTER_NEAREST))
    return out


def stretch(images) -> np.ndarray:
    """Per-image contrast stretch to 0..1 (to see the structure of each preferred input)."""
    x = np.asarray(images, np.float32)
    lo = x.min(axis=(-2, -1), keepdims=True)
    hi = x.max(axis=(-2, -1), keepdims=True)
    return (x - lo) / np.where(hi > lo, hi - lo, 1.0)


def curves_figure(curves: dict, kind: str):
    """Mean deletion or insertion curves, one line per method (random order dashed)."""
    fig = _figure(4.8, 3.2)
    ax = fig.subplots()
    for name, c in curves.items():
        ax.plot(c["fractions"], c[kind], label=name, ls="--" if name == "random order" else "-", color="k" if name == "random order" else None)
    ax.set_xlabel(f"fraction of pixels {'removed' if kind == 'deletion' else 'added'} (most salient first)")
    ax.set_ylabel("class probability")
    ax.set_ylim(0, 1)
    ax.set_title(kind.capitalize(), fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def randomisation_figure(frame):
    """Spearman correlation with the trained model's maps against the randomisation step."""
    fig = _figure(6.4, 3.4)
    ax = fig.subplots()
    steps = sorted(frame["step"].unique())
    labels = [frame.loc[frame["step"] == s, "layer"].iloc[0] for s in steps]
    for m, g in frame.groupby("method", sort=False):
        g = g.sort_values("step")
        ax.plot(g["step"], g["spearman"], marker="o", ms=3, label=m)
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xticks(steps, labels, rotation=60, ha="right", fontsize=6)
    ax.set_ylabel("Spearman rank correlation\nwith the trained model's maps", fontsize=8)
    ax.set_xlabel("re-initialised down to layer (cascading from the output)", fontsize=8)
    ax.set_ylim(-0.2, 1.05)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
