"""TIGER reproduction (TIGER Table 1) and the item-ID ablation (random vs semantic codes).

    python bench/reproduce.py [--rows beauty:rqvae sports:rqvae ...] [--threads N] [--jobs N] [--skip-existing] [key=value ...]
    python bench/reproduce.py --summary-only

Each row ``<dataset>:<tokenizer>`` is one command, ``python train.py
experiment=tiger_<dataset> tokenizer=<tokenizer> [key=value ...]``: it fits (or reuses)
the item codes, trains TIGER with checkpoint selection on validation NDCG@10 and
reports on test in ``results/tiger-<tokenizer>-<dataset>/metrics.json``. Afterwards
(or with ``--summary-only``) every finished row is collected, with the paper's figures
and each run's learning curve (from its CSV log), into ``results/tiger/summary.json``
and ``results/tiger/table.md``. Needs the data root (GENREC_DATA_DIR). ``--jobs N``
runs N rows at once as separate processes (on one GPU: see ``bench/rows.py``).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rows import run_parallel, split_overrides  # noqa: E402

from genrec.artefacts import write_json_atomic, write_text_atomic  # noqa: E402
from genrec.config import compose  # noqa: E402
from genrec.run_info import git_commit, hardware, versions  # noqa: E402

# TIGER (Rajput et al., NeurIPS 2023), Table 1: Recall@5, Recall@10, NDCG@5, NDCG@10
PAPER = {
    "beauty": {"recall@5": 0.0454, "recall@10": 0.0648, "ndcg@5": 0.0321, "ndcg@10": 0.0384},
    "sports": {"recall@5": 0.0264, "recall@10": 0.0400, "ndcg@5": 0.0181, "ndcg@10": 0.0225},
    "toys": {"recall@5": 0.0521, "recall@10": 0.0712, "ndcg@5": 0.0371, "ndcg@10": 0.0432},
}
REPRODUCTION = ["beauty:rqvae", "sports:rqvae", "toys:rqvae"]
ABLATION = ["beauty:random", "beauty:rqvae", "beauty:rqvae_sinkhorn", "beauty:rqkmeans"]
COLUMNS = ("recall@5", "recall@10", "ndcg@5", "ndcg@10")


def run_name(row: str) -> str:
    dataset, tokenizer = row.split(":")
    return f"tiger-{tokenizer}-{dataset}"


def arguments(row: str) -> list[str]:
    dataset, tokenizer = row.split(":")
    return [f"experiment=tiger_{dataset}", f"tokenizer={tokenizer}"]


def learning_curve(run_dir: Path) -> list[dict]:
    """Per validation check: epoch, step and the validation NDCG@10 / Recall@10 logged in training,
    across the parts of a resumed run (``logs/metrics.csv``, then ``logs/resumed-<n>/metrics.csv``)."""
    parts = sorted((run_dir / "logs").glob("resumed-*/metrics.csv"), key=lambda p: int(p.parent.name.split("-")[1]))
    curve = []
    for log in [run_dir / "logs" / "metrics.csv", *parts]:
        if not log.is_file():
            continue
        with open(log) as f:
            for line in csv.DictReader(f):
                if line.get("valid/ndcg@10"):
                    curve.append({"epoch": int(line["epoch"]), "step": int(line["step"]),
                                  "valid_ndcg@10": float(line["valid/ndcg@10"]),
                                  "valid_recall@10": float(line["valid/recall@10"])})
    return curve


def fit_minutes(train: dict) -> float:
    """Training time of a run over all its parts (resumed runs), else this process's fit time."""
    return round((train.get("train_time_total_s") or train.get("wall_time_s", 0)) / 60, 1)


def summarise(rows: list[str]) -> dict:
    entries = []
    for row in rows:
        path = Path("results") / run_name(row) / "metrics.json"
        if not path.is_file():
            continue
        report = json.loads(path.read_text())
        dataset, tokenizer = row.split(":")
        train = report.get("train") or {}
        entries.append({
            "row": row, "dataset": dataset, "tokenizer": tokenizer, "run": run_name(row),
            "test": {k: report["test"][k] for k in COLUMNS}, "valid_ndcg@10": report["valid"].get("ndcg@10"),
            "paper": PAPER[dataset] if tokenizer == "rqvae" else None,
            "steps": train.get("steps"), "epochs": train.get("epochs"), "stop_reason": train.get("stop_reason"),
            "fit_minutes": fit_minutes(train),
            "train_samples_per_s": train.get("samples_per_s"), "eval_users_per_s": report.get("eval", {}).get(
                "users_per_s"),
            "curve": learning_curve(Path("checkpoints") / run_name(row)), "commit": report.get("commit"),
        })
    return {"rows": entries, "commit": git_commit(), "versions": versions(), "hardware": hardware()}


def table(summary: dict, rows: list[str], title: str) -> str:
    lines = [f"**{title}**", "", "| run | " + " | ".join(COLUMNS) + " | paper (TIGER Tab. 1) | steps | fit | stop |",
             "|" + "---|" * (len(COLUMNS) + 5)]
    by_row = {e["row"]: e for e in summary["rows"]}
    for row in rows:
        e = by_row.get(row)
        if e is None:
            lines.append(f"| {run_name(row)} | " + " | ".join("not run" for _ in COLUMNS) + " | | | | |")
            continue
        paper = " / ".join(f"{e['paper'][k]:.4f}" for k in COLUMNS) if e["paper"] else ""
        lines.append(f"| {e['run']} | " + " | ".join(f"{e['test'][k]:.4f}" for k in COLUMNS)
                     + f" | {paper} | {e['steps']} | {e['fit_minutes']} min | {e['stop_reason']} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", nargs="+", default=REPRODUCTION + [r for r in ABLATION if r not in REPRODUCTION])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--jobs", type=int, default=1, help="rows trained at once, each in its own process")
    parser.add_argument("--skip-existing", action="store_true")
    parser.add_argument("--summary-only", action="store_true")
    options, overrides = split_overrides(sys.argv[1:])
    args = parser.parse_args(options)
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.summary_only:
        rows = [r for r in args.rows
                if not (args.skip_existing and (Path("results") / run_name(r) / "metrics.json").is_file())]
        for row in sorted(set(args.rows) - set(rows)):
            print(f"skipping {row}: results exist")
        if args.jobs > 1:
            failed = {k: v for k, v in run_parallel({run_name(r): arguments(r) + overrides for r in rows},
                                                     args.jobs).items() if v}
            if failed:
                print(f"failed runs (see checkpoints/<run>/console.log): {failed}")
        else:
            from genrec.training.pipeline import train_run

            for row in rows:
                train_run(compose([*arguments(row), *overrides]))
    every = list(dict.fromkeys(REPRODUCTION + ABLATION + args.rows))
    summary = summarise(every)
    write_json_atomic(Path("results") / "tiger" / "summary.json", summary)
    text = (table(summary, REPRODUCTION, "Reproduction (RQ-VAE codes), test split") + "\n\n"
            + table(summary, ABLATION, "Item-ID ablation on Beauty, same generator and budget, test split"))
    write_text_atomic(Path("results") / "tiger" / "table.md", text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
