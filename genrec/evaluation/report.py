"""``results/<run>/metrics.json`` and the table printed after a run.

The file's shape is fixed, since every benchmark reads it::

    {"valid": {...}, "test": {"recall@10": ..., "ndcg@10": ..., ...},
     "config": {...}, "seed": 42, "commit": "...", "versions": {...},
     "hardware": {...}, "wall_time_s": ..., plus run details (dataset, train, eval, and for a
     generator over item codes ``item_codes``: the tokenizer's name, scheme and codes fingerprint)}
"""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import OmegaConf

from genrec.artefacts import write_json_atomic
from genrec.run_info import git_commit, hardware, versions


def build_report(valid: dict, test: dict, config: dict, seed: int, wall_time_s: float, **details) -> dict:
    return {
        "valid": valid,
        "test": test,
        "config": config,
        "seed": seed,
        "commit": git_commit(),
        "versions": versions(),
        "hardware": hardware(),
        "wall_time_s": round(wall_time_s, 2),
        **details,
    }


def item_codes_details(model, cfg) -> dict:
    """``{"item_codes": {name, scheme, levels, fingerprint}}`` for a generator over item codes, so two
    runs' reports say whether they read the same codes (a refit under the same name may differ);
    ``{}`` for a model without codes (SASRec)."""
    codes = getattr(model, "item_codes", None)
    if codes is None:
        return {}
    name = OmegaConf.select(cfg, "tokenizer.name")
    return {"item_codes": {"name": name, "scheme": codes.scheme, "levels": codes.codebook_sizes,
                           "fingerprint": codes.fingerprint}}


def write_report(results_dir: Path, run: str, report: dict) -> Path:
    path = Path(results_dir) / run / "metrics.json"
    write_json_atomic(path, report)
    return path


def reference_test_metrics(results_dir: Path, reference: str | None) -> tuple[str, dict] | None:
    """``evaluation.reference``: another run's test metrics (``results/<reference>/metrics.json``),
    printed beside a run's own so its figure has a yardstick; None when unset or not there."""
    if not reference:
        return None
    path = Path(results_dir) / reference / "metrics.json"
    try:
        return f"{reference} test", json.loads(path.read_text())["test"]
    except (OSError, ValueError, KeyError):
        return None


def format_table(rows: dict[str, dict], ks=(1, 5, 10, 20)) -> str:
    """A plain-text table: one row per split, Recall@K and NDCG@K columns."""
    columns = [f"recall@{k}" for k in ks] + [f"ndcg@{k}" for k in ks]
    width = max(8, *(len(name) + 1 for name in rows))
    header = f"{'split':<{width}}" + "".join(f"{c:>11}" for c in columns)
    lines = [header, "-" * len(header)]
    for name, metrics in rows.items():
        lines.append(f"{name:<{width}}" + "".join(f"{metrics.get(c, float('nan')):>11.4f}" for c in columns))
    return "\n".join(lines)
