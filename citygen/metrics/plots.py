"""Pictures of a realism report: per-statistic overlays of real and generated, and sheets."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from citygen import atomic
from citygen.metrics.catalog import STATISTICS, Statistic, profile
from citygen.metrics.stats import arrays

_COLORS = {
    "test": "black",
    "model": "tab:red",
    "jittered_grid": "tab:blue",
    "random_planar": "tab:green",
    "growth": "tab:orange",
}


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    with atomic.atomic_path(path) as tmp, tmp.open("wb") as fh:
        fig.savefig(fh, format="png", dpi=110, facecolor="white")
    return path


def _centers(s: Statistic) -> np.ndarray:
    if s.weighted:
        return np.arange(0, 360, 360 / (s.bins - 1))
    return (s.edges[:-1] + s.edges[1:]) / 2


def write_overlays(sets: dict[str, list[nx.Graph]], path: str | Path) -> Path:
    """One panel per statistic: the mean histogram (or value distribution) of every set."""
    profs = {k: profile([arrays(G) for G in v]) for k, v in sets.items() if v}
    fig = Figure(figsize=(16, 11))
    for i, s in enumerate(STATISTICS):
        ax = fig.add_subplot(3, 4, i + 1)
        for name, p in profs.items():
            style = {
                "color": _COLORS.get(name, "gray"),
                "lw": 2.2 if name in ("test", "model") else 1.2,
                "label": name,
            }
            if s.kind == "hist":
                ax.plot(_centers(s), p.hist[s.name][:, 1:].mean(0), **style)
            else:
                v = p.scalar[s.name]
                v = v[np.isfinite(v)]
                if v.size:
                    ax.hist(v, bins=20, histtype="step", density=True, **style)
        ax.set_title(f"{s.name} ({s.unit})", fontsize=9)
        ax.tick_params(labelsize=7)
    fig.axes[0].legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, Path(path))


def write_plots(
    sets: dict[str, list[nx.Graph]], out_dir: str | Path, per_sheet: int = 16
) -> list[Path]:
    """Overlays plus a sheet of layouts per set, in ``out_dir`` (created)."""
    from export.plot import write_sheet

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = [write_overlays(sets, out / "statistics.png")]
    for name, layouts in sets.items():
        if layouts:
            files.append(
                write_sheet(
                    layouts[:per_sheet],
                    out / f"sheet_{name}.png",
                    [f"{name} {i}" for i in range(min(per_sheet, len(layouts)))],
                )
            )
    return files
