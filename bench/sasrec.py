"""Train SASRec (BCE and CE) on Beauty, Sports and Toys and compare with published rows.

    python bench/sasrec.py [--datasets beauty toys] [--losses bce ce] [--skip-existing] [key=value ...]

Each run is the experiment ``sasrec_<loss>_<dataset>`` (model selection on validation
NDCG@10, report on test) and writes ``results/sasrec_<loss>_<dataset>/metrics.json``.
The summary goes to ``results/sasrec/summary.json`` and ``results/sasrec/table.md``.
Needs the data root (GENREC_DATA_DIR) with the shared P5 files.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from genrec.artefacts import write_json_atomic, write_text_atomic  # noqa: E402
from genrec.config import compose  # noqa: E402
from genrec.quiet import quiet_libraries  # noqa: E402
from genrec.run_info import git_commit, hardware, versions  # noqa: E402
from genrec.training.pipeline import train_run  # noqa: E402

# TIGER (Rajput et al. 2023), Table 1, SASRec rows: Recall@5, Recall@10, NDCG@5, NDCG@10 (BCE loss)
PUBLISHED_BCE = {
    "beauty": {"recall@5": 0.0387, "recall@10": 0.0605, "ndcg@5": 0.0249, "ndcg@10": 0.0318},
    "sports": {"recall@5": 0.0233, "recall@10": 0.0350, "ndcg@5": 0.0154, "ndcg@10": 0.0192},
    "toys": {"recall@5": 0.0463, "recall@10": 0.0675, "ndcg@5": 0.0306, "ndcg@10": 0.0374},
}
COLUMNS = ("recall@5", "recall@10", "ndcg@5", "ndcg@10")


def table(rows: list[dict]) -> str:
    head = ("| run | " + " | ".join(COLUMNS) + " | published (TIGER Tab. 1) R@10 / N@10 | within ±15% | epochs | "
            "fit time | stopped |")
    lines = [head, "|" + "---|" * (len(COLUMNS) + 6)]
    for row in rows:
        published = PUBLISHED_BCE[row["dataset"]]
        pub = f"{published['recall@10']:.4f} / {published['ndcg@10']:.4f}" if row["loss"] == "bce" else "n/a (CE)"
        within = "n/a"
        if row["loss"] == "bce":
            ok = all(abs(row["test"][c] / published[c] - 1) <= 0.15 for c in ("recall@10", "ndcg@10"))
            within = "yes" if ok else "no"
        lines.append(
            f"| {row['run']} | " + " | ".join(f"{row['test'][c]:.4f}" for c in COLUMNS)
            + f" | {pub} | {within} | {row['epochs']} | {row['fit_s'] / 60:.1f} min | "
            + f"{row.get('stop_reason') or 'not recorded'} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["beauty", "toys", "sports"])
    parser.add_argument("--losses", nargs="+", default=["bce", "ce"])
    parser.add_argument("--skip-existing", action="store_true", help="reuse results/<run>/metrics.json")
    parser.add_argument("overrides", nargs="*", help="config overrides for every run")
    args = parser.parse_args()
    quiet_libraries()  # no Lightning banners or tips from the runs trained in this process
    rows = []
    for dataset in args.datasets:
        for loss in args.losses:
            run = f"sasrec_{loss}_{dataset}"
            path = Path("results") / run / "metrics.json"
            if args.skip_existing and path.is_file():
                report = json.loads(path.read_text())
            else:
                report = train_run(compose([f"experiment={run}", "trainer.enable_progress_bar=false", *args.overrides]))
            rows.append({"run": run, "dataset": dataset, "loss": loss, "test": report["test"],
                         "valid": report["valid"], "epochs": report["train"]["epochs"],
                         "fit_s": report["train"].get("train_time_total_s") or report["train"]["wall_time_s"],
                         "stop_reason": report["train"].get("stop_reason")})
    out = Path("results") / "sasrec"
    write_json_atomic(out / "summary.json", {
        "rows": rows, "published_bce": PUBLISHED_BCE, "commit": git_commit(), "versions": versions(),
        "hardware": hardware(),
        "protocol": "leave-one-out, full ranking, seen items excluded, best validation NDCG@10 checkpoint",
    })
    text = table(rows)
    write_text_atomic(out / "table.md", text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
