"""Cost against SLO attainment, one panel per scenario, one point per strategy (matplotlib)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

from bench.routing.report import Figures


def plot(results: Mapping[str, Mapping[str, Figures]], out: Path) -> None:
    n = len(results)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 4 * rows), squeeze=False)
    for ax, (scenario, by_strategy) in zip(axes.flat, results.items(), strict=False):
        for name, r in by_strategy.items():
            x, y = r.get("slo"), r.get("usd_per_mtok")
            if not isinstance(x, float) or not isinstance(y, float):
                continue
            ax.scatter([x * 100], [y], marker="*" if name == "oracle" else "o", s=80)
            ax.annotate(name, (x * 100, y), fontsize=7, xytext=(4, 4), textcoords="offset points")
        ax.set_title(scenario, fontsize=9)
        ax.set_xlabel("SLO met (%)")
        ax.set_ylabel("$ / Mtok")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
