"""A run's learning curve from its CSV logs (every part of a resumed run), its plot, and the copy
kept with its results.

Both training paths write ``checkpoints/<run>/logs/metrics.csv`` in Lightning's CSVLogger
layout (one row per event); a resumed run adds ``logs/resumed-<n>/metrics.csv``. Checkpoints
are git-ignored and stay on the machine that trained, so the curve is also written to
``results/<run>/learning_curve.json`` beside the run's metrics and plot: benchmark summaries
read it there, in any checkout.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from genrec.artefacts import write_json_atomic

CURVE_FILE = "learning_curve.json"


def log_files(run_dir: Path) -> list[Path]:
    parts = sorted((Path(run_dir) / "logs").glob("resumed-*/metrics.csv"), key=lambda p: int(p.parent.name.split("-")[1]))
    return [p for p in [Path(run_dir) / "logs" / "metrics.csv", *parts] if p.is_file()]


def read_curve(run_dir: Path, monitor: str = "ndcg@10") -> dict[str, list[dict]]:
    """``{"valid": [{"epoch", "step", "valid_<metric>"...}], "train": [{"step", "loss"}]}``."""
    valid, train = [], []
    for path in log_files(run_dir):
        with open(path) as handle:
            for row in csv.DictReader(handle):
                if row.get(f"valid/{monitor}"):
                    valid.append({"epoch": int(row["epoch"]), "step": int(row["step"]),
                                  **{f"valid_{k.split('/', 1)[1]}": float(v) for k, v in row.items()
                                     if k.startswith("valid/") and v}})
                if row.get("train/loss"):
                    train.append({"step": int(row["step"]), "loss": float(row["train/loss"])})
    return {"valid": valid, "train": train}


def plot_curve(curve: dict, path: Path, title: str, monitor: str = "ndcg@10") -> Path | None:
    """Validation ``monitor`` and training loss against the step, as a PNG; None without data."""
    if not curve["valid"] and not curve["train"]:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, left = plt.subplots(figsize=(6.4, 3.6), dpi=100)
    if curve["train"]:
        left.plot([r["step"] for r in curve["train"]], [r["loss"] for r in curve["train"]], color="0.6", lw=1)
        left.set_ylabel("training loss", color="0.4")
    left.set_xlabel("step")
    if curve["valid"]:
        right = left.twinx() if curve["train"] else left  # no loss kept: one axis, no empty scale beside it
        right.plot([r["step"] for r in curve["valid"]], [r[f"valid_{monitor}"] for r in curve["valid"]],
                   color="tab:blue", marker="o", ms=3)
        right.set_ylabel(f"validation {monitor}", color="tab:blue")
    left.set_title(title, fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def plot_curves(curves: dict[str, list[dict]], path: Path, title: str, monitor: str = "ndcg@10") -> Path | None:
    """Several runs' validation ``monitor`` against the step in one figure (the PNG beside a benchmark's
    summary), one line per ``{label: validation checks}``; None when no run has a check."""
    curves = {label: checks for label, checks in curves.items() if checks}
    if not curves:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8.8, 4.2), dpi=100)
    for label, checks in curves.items():
        axis.plot([c["step"] for c in checks], [c[f"valid_{monitor}"] for c in checks], marker="o", ms=2.5,
                  lw=1.2, label=label)
    axis.set_xlabel("step")
    axis.set_ylabel(f"validation {monitor}")
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))  # outside: no line hidden
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


TRAIN_POINTS_KEPT = 1000


def save_curve(curve: dict, path: Path, monitor: str = "ndcg@10") -> Path:
    """Write ``{"monitor", "valid": [...], "train": [...]}`` (what :func:`read_curve` returns) as JSON:
    every validation check, and the training loss thinned to at most ``TRAIN_POINTS_KEPT`` evenly
    spaced entries (the last always kept) so a 200k-step run's file stays small enough to commit."""
    train = curve["train"]
    if len(train) > TRAIN_POINTS_KEPT:
        stride = -(-len(train) // TRAIN_POINTS_KEPT)
        train = train[::stride] + ([train[-1]] if (len(train) - 1) % stride else [])
    write_json_atomic(Path(path), {"monitor": monitor, "valid": curve["valid"], "train": train})
    return Path(path)


def published_curve(run: str, results_dir: Path = Path("results"), checkpoints_dir: Path = Path("checkpoints"),
                    monitor: str = "ndcg@10") -> dict[str, list[dict]]:
    """A run's curve as published with its results (``results/<run>/learning_curve.json``), else read
    from its logs where this checkout has them (runs published before the JSON was written); empty
    lists where neither is here."""
    path = Path(results_dir) / run / CURVE_FILE
    if path.is_file():
        stored = json.loads(path.read_text())
        return {"valid": stored.get("valid", []), "train": stored.get("train", [])}
    return read_curve(Path(checkpoints_dir) / run, monitor)
