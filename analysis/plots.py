"""Matplotlib figures with one consistent look. No display is needed (Agg backend)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402,F401  (re-exported for figures)
from matplotlib.patches import Polygon  # noqa: E402

#: Colours used across figures: the two classes, then lines.
CLASS_COLORS = ("#1f77b4", "#d62728")
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#7f7f7f", "#8c564b")

STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 110,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": False,
}


def figure(nrows: int = 1, ncols: int = 1, *, width: float = 4.0, height: float = 3.2, **kw):
    """A figure of ``nrows x ncols`` panels in the house style; returns ``(fig, axes)``."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows),
                                 squeeze=False, **kw)
    for ax in axes.flat:
        ax.grid(True, alpha=0.3)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    return fig, axes


def png_bytes(fig) -> bytes:
    """Render ``fig`` to PNG bytes and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def decision_line(ax, w, b, xlim, **kw):
    """Draw the line ``w . x + b = 0`` across ``xlim`` (vertical if ``w[1] == 0``)."""
    w = np.asarray(w, float)
    if abs(w[1]) > 1e-12:
        xs = np.linspace(*xlim, 2)
        ax.plot(xs, -(w[0] * xs + b) / w[1], **kw)
    elif abs(w[0]) > 1e-12:
        ax.axvline(-b / w[0], **kw)


def scatter_classes(ax, x, t, labels=("+1", "-1"), values=(1, -1)):
    """Scatter 2-D points of two classes with distinct markers (Fig 6.3's convention)."""
    x, t = np.asarray(x), np.asarray(t)
    for value, label, color, marker in zip(values, labels, CLASS_COLORS, ("o", "x")):
        pts = x[t == value]
        ax.scatter(pts[:, 0], pts[:, 1], c=color, marker=marker, s=45, label=label, zorder=3)


# Seven-segment glyph geometry: segment a..g as polygons in a 1 x 2 box.
_SEG = {
    "a": [(0.15, 2.0), (0.85, 2.0), (0.75, 1.9), (0.25, 1.9)],
    "b": [(0.9, 1.95), (0.9, 1.05), (0.8, 1.1), (0.8, 1.85)],
    "c": [(0.9, 0.95), (0.9, 0.05), (0.8, 0.15), (0.8, 0.9)],
    "d": [(0.15, 0.0), (0.85, 0.0), (0.75, 0.1), (0.25, 0.1)],
    "e": [(0.1, 0.95), (0.1, 0.05), (0.2, 0.15), (0.2, 0.9)],
    "f": [(0.1, 1.95), (0.1, 1.05), (0.2, 1.1), (0.2, 1.85)],
    "g": [(0.15, 1.0), (0.25, 1.05), (0.75, 1.05), (0.85, 1.0), (0.75, 0.95), (0.25, 0.95)],
}


def seven_segment(ax, vector, *, on="#d62728", off="#eeeeee"):
    """Draw a seven-segment glyph (segments a..g, 1 = lit) on ``ax``."""
    for lit, name in zip(np.asarray(vector), "abcdefg"):
        ax.add_patch(Polygon(_SEG[name], closed=True, color=on if lit > 0.5 else off))
    ax.set_xlim(-0.05, 1.05)
    ax.set_ylim(-0.1, 2.1)
    ax.set_aspect("equal")
    ax.axis("off")


def _log_levels(z, count: int = 30):
    lo = max(float(np.nanmin(z)), float(np.nanmax(z)) * 1e-12, 1e-300)
    return np.geomspace(lo, max(float(np.nanmax(z)), lo * 1.001), count)


def log_colorbar(cs, ax, label: str = "loss"):
    """A colorbar for log-normed filled contours, ticked at the powers of ten (the default
    ticks sit on the contour levels, with labels like 1.47303e-03 that crowd the figure)."""
    from matplotlib import ticker

    return ax.figure.colorbar(cs, ax=ax, label=label, ticks=ticker.LogLocator(),
                              format=ticker.LogFormatterSciNotation())


def symlog(ax, which: str, linthresh: float, values) -> None:
    """A symmetric-log scale on ``ax``'s ``which`` axis ("x" or "y"), ticked at 0 and at the
    powers of ten above ``linthresh`` that ``values`` reach on each side (matplotlib's
    default ticks at +-linthresh print on top of the one at 0)."""
    getattr(ax, f"set_{which}scale")("symlog", linthresh=linthresh)
    values = np.asarray(values, dtype=float)
    first = int(np.floor(np.log10(linthresh))) + 1
    ticks = [0.0]
    for sign in (1.0, -1.0):
        beyond = sign * values[sign * values > linthresh]
        if beyond.size:
            decades = range(first, int(np.ceil(np.log10(beyond.max()))) + 1)
            step = 2 if len(decades) > 6 else 1
            ticks += [sign * 10.0 ** k for k in decades[::-1][::step]]
    getattr(ax, f"set_{which}ticks")(sorted(ticks))


def landscape_contour(ax, sl, *, trajectory=None, log: bool = True, colorbar: bool = True,
                      xlabel: str = "direction 1", ylabel: str = "direction 2"):
    """Filled contours of a :class:`analysis.landscape.Slice` (log-spaced levels by default),
    the centre marked, and optionally a trajectory's (alpha, beta) coordinates (T, 2) drawn
    from its start (circle) to its end (star)."""
    aa, bb = np.meshgrid(sl.alpha, sl.beta)
    z = np.asarray(sl.loss)
    if log:
        cs = ax.contourf(aa, bb, np.maximum(z, _log_levels(z)[0]), levels=_log_levels(z),
                         norm=LogNorm(), cmap="viridis")
    else:
        cs = ax.contourf(aa, bb, z, levels=30, cmap="viridis")
    ax.contour(aa, bb, z, levels=cs.levels[::3], colors="w", linewidths=0.4, alpha=0.6)
    if colorbar and log:
        log_colorbar(cs, ax)
    elif colorbar:
        ax.figure.colorbar(cs, ax=ax, label="loss")
    ax.plot(0, 0, "+", color="r", ms=9)
    if trajectory is not None:
        tr = np.asarray(trajectory)
        ax.plot(tr[:, 0], tr[:, 1], ".-", color="w", lw=1, ms=3)
        ax.plot(tr[0, 0], tr[0, 1], "o", color="w", ms=5)
        ax.plot(tr[-1, 0], tr[-1, 1], "*", color="r", ms=9)
    ax.set(xlabel=xlabel, ylabel=ylabel)
    return cs


def landscape_surface(ax, sl, *, log: bool = False):
    """A 3-D surface of a slice on a ``projection="3d"`` axis (log10 of the loss if ``log``)."""
    aa, bb = np.meshgrid(sl.alpha, sl.beta)
    z = np.asarray(sl.loss)
    z = np.log10(np.maximum(z, _log_levels(z)[0])) if log else z
    ax.plot_surface(aa, bb, z, cmap="viridis", linewidth=0, antialiased=True, alpha=0.95,
                    rcount=min(60, len(sl.beta)), ccount=min(60, len(sl.alpha)))
    ax.set_zlabel("log10 loss" if log else "loss", fontsize=8, labelpad=2)
    ax.tick_params(labelsize=7)
