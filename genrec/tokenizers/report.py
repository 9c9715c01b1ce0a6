"""What a tokenizer fit did: code usage per level, collisions, reconstruction, time.

``report.json`` keys: ``levels`` (list of ``{"size", "used", "perplexity", "entropy"}``;
entropy in bits, perplexity = 2**entropy), ``collision_rate_before``,
``collision_rate_after``, ``fit_wall_time_s``, ``n_items``, plus scheme details.
``report.png`` draws the code-usage histogram of every level.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch


def level_stats(column: torch.Tensor, size: int) -> dict:
    counts = torch.bincount(column, minlength=size).double()
    p = counts[counts > 0] / counts.sum()
    entropy = float(-(p * torch.log2(p)).sum()) if len(p) else 0.0
    return {"size": int(size), "used": int((counts > 0).sum()), "perplexity": round(2**entropy, 3),
            "entropy": round(entropy, 4), "max_items_per_code": int(counts.max()) if len(counts) else 0}


def usage_warning(levels: list[dict], floor: float) -> str | None:
    first = levels[0]
    share = first["used"] / first["size"]
    if share < floor:
        return (f"LEVEL-1 COLLAPSE: only {first['used']} of {first['size']} codes used ({share:.0%} < "
                f"floor {floor:.0%}); the codes will carry little semantics")
    return None


def plot_report(codes: torch.Tensor, sizes: list[int], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_levels = codes.shape[1]
    fig, axes = plt.subplots(1, n_levels, figsize=(4 * n_levels, 3), squeeze=False)
    for level in range(n_levels):
        counts = torch.bincount(codes[:, level], minlength=sizes[level]).sort(descending=True).values
        ax = axes[0, level]
        ax.bar(range(len(counts)), counts.numpy(), width=1.0)
        used = int((counts > 0).sum())
        ax.set_title(f"level {level + 1}: {used}/{sizes[level]} codes used")
        ax.set_xlabel("code (sorted by items)")
        ax.set_ylabel("items")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    tmp.replace(path)


def headline(report: dict) -> str:
    levels = ", ".join(f"L{i + 1} {lv['used']}/{lv['size']} (ppl {lv['perplexity']:.0f})"
                       for i, lv in enumerate(report["levels"]))
    recon = report.get("reconstruction_mse")
    recon_text = f"; reconstruction MSE {recon:.4f}" if recon is not None and not math.isnan(recon) else ""
    return (f"{report['name']}: {report['n_items']} items; usage {levels}; collisions "
            f"{report['collision_rate_before']:.2%} -> {report['collision_rate_after']:.2%}"
            f"{recon_text}; fit {report['fit_wall_time_s']:.1f}s")
