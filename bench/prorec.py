"""PRORec ablation on Beauty (and the three-dataset rows): same generator size and budget per row.

    python bench/prorec.py [--variants textonly concat noalign nodistill full] [--datasets beauty]
                           [--threads N] [--jobs N] [--skip-existing] [key=value ...]
    python bench/prorec.py --summary-only

Each row is one ``python train.py ...`` command (see ``VARIANTS``) with
``run=prorec-<variant>-<dataset>``, writing ``results/prorec-<variant>-<dataset>/metrics.json``;
the ``textonly`` row is TIGER on text-only RQ-VAE codes, the very run of the TIGER
reproduction (``tiger-rqvae-<dataset>``, same command), so it is trained once and shared.
``--jobs N`` trains N rows at once as separate processes (``bench/rows.py``).
The summary (test Recall/NDCG@5/10/20, the semantic-domination figures of each row's
tokenizer, budget, learning curve) goes to ``results/prorec/summary.json`` and
``results/prorec/table.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from reproduce import fit_minutes, learning_curve  # noqa: E402
from rows import add_row_options, parse_command_line, run_parallel  # noqa: E402

from genrec.artefacts import write_json_atomic, write_text_atomic  # noqa: E402
from genrec.config import compose  # noqa: E402
from genrec.evaluation.learning_curve import plot_curves  # noqa: E402
from genrec.run_info import git_commit, hardware, versions  # noqa: E402

VARIANTS = {  # variant -> train.py arguments (the experiment file is chosen per dataset)
    "textonly": ["experiment=tiger_{dataset}"],
    "concat": ["experiment=tiger_{dataset}", "tokenizer=concat"],
    "noalign": ["experiment=prorec_{dataset}", "tokenizer=prorec_noalign"],
    "nodistill": ["experiment=prorec_{dataset}", "generator.distill_weight=0"],
    "full": ["experiment=prorec_{dataset}"],
}
COLUMNS = ("recall@5", "recall@10", "recall@20", "ndcg@5", "ndcg@10", "ndcg@20")


def run_name(variant: str, dataset: str) -> str:
    if variant == "textonly":  # the TIGER reproduction's row: same command, trained once
        return f"tiger-rqvae-{dataset}"
    return f"prorec-{variant}-{dataset}"


def arguments(variant: str, dataset: str) -> list[str]:
    return [a.format(dataset=dataset) for a in VARIANTS[variant]] + [f"run={run_name(variant, dataset)}"]


def summarise(datasets: list[str]) -> dict:
    rows = []
    for dataset in datasets:
        for variant in VARIANTS:
            path = Path("results") / run_name(variant, dataset) / "metrics.json"
            if not path.is_file():
                continue
            report = json.loads(path.read_text())
            tokenizer = report["config"]["tokenizer"]["name"]
            fusion, codes_check = fusion_of_the_codes_read(report, tokenizer)
            train = report.get("train") or {}
            rows.append({"variant": variant, "dataset": dataset, "run": run_name(variant, dataset),
                         "command": "python train.py " + " ".join(arguments(variant, dataset)),
                         "test": {k: report["test"][k] for k in COLUMNS}, "tokenizer": tokenizer,
                         "semantic_domination": (fusion or {}).get("semantic_domination"),
                         "codes_check": codes_check,
                         "steps": train.get("steps"), "fit_minutes": fit_minutes(train),
                         "stop_reason": train.get("stop_reason"), "samples_per_s": train.get("samples_per_s"),
                         "curve": learning_curve(run_name(variant, dataset)),
                         "commit": report.get("commit")})
    return {"rows": rows, "commit": git_commit(), "versions": versions(), "hardware": hardware()}


def fusion_of_the_codes_read(report: dict, tokenizer: str) -> tuple[dict | None, str]:
    """The fusion statistics of ``results/tokenizers/<tokenizer>.json`` where they describe the codes
    the run read, and how that is known: ``same codes`` (the run recorded the codes' fingerprint and it
    matches), ``refit since`` (it differs: a later fit under the same name, so no figure), or
    ``unchecked`` (the run predates codes fingerprints in run records)."""
    path = Path("results") / "tokenizers" / f"{tokenizer}.json"
    if not path.is_file():
        return None, "no tokenizer report"
    tokenizer_report = json.loads(path.read_text())
    read = (report.get("item_codes") or {}).get("fingerprint")
    if read is None:
        return tokenizer_report.get("fusion"), "unchecked"
    if read != tokenizer_report.get("codes_fingerprint"):
        return None, "refit since"
    return tokenizer_report.get("fusion"), "same codes"


def table(summary: dict) -> str:
    lines = ["| variant | run | " + " | ".join(COLUMNS) + " | text / collab. overlap | steps | fit | stop |",
             "|" + "---|" * (len(COLUMNS) + 6)]
    for row in summary["rows"]:
        domination, check = row["semantic_domination"], row.get("codes_check")
        overlap = (f"{domination['text_overlap']:.2f} / {domination['collaborative_overlap']:.2f}"
                   + (" †" if check == "unchecked" else "") if domination
                   else "codes refit since" if check == "refit since" else "text only")
        lines.append(f"| {row['dataset']}: {row['variant']} | {row['run']} | " + " | ".join(f"{row['test'][k]:.4f}" for k in COLUMNS)
                     + f" | {overlap} | {row['steps']} | {row['fit_minutes']} min | {row['stop_reason']} |")
    if any(row.get("codes_check") == "unchecked" and row["semantic_domination"] for row in summary["rows"]):
        lines.append("\n† the overlap of the tokenizer's current fit: the run's record predates codes "
                     "fingerprints, so it cannot say whether the run read these codes or an earlier fit's.")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--datasets", nargs="+", default=["beauty"])
    add_row_options(parser)
    args, overrides = parse_command_line(parser)
    if not args.summary_only:
        todo = {}
        for dataset in args.datasets:
            for variant in args.variants:
                if args.skip_existing and (Path("results") / run_name(variant, dataset) / "metrics.json").is_file():
                    print(f"skipping {run_name(variant, dataset)}: results exist")
                    continue
                todo[run_name(variant, dataset)] = arguments(variant, dataset) + overrides
        if args.jobs > 1:
            failed = {k: v for k, v in run_parallel(todo, args.jobs).items() if v}
            if failed:
                print(f"failed runs (see checkpoints/<run>/console.log): {failed}")
        else:
            from genrec.training.pipeline import train_run

            for arguments_ in todo.values():
                train_run(compose(arguments_))
    summary = summarise(sorted({"beauty", "sports", "toys"}))
    write_json_atomic(Path("results") / "prorec" / "summary.json", summary)
    plot_curves({f"{r['dataset']}: {r['variant']}": r["curve"] for r in summary["rows"]},
                Path("results") / "prorec" / "learning_curves.png", "PRORec rows: validation NDCG@10 per check")
    text = table(summary)
    write_text_atomic(Path("results") / "prorec" / "table.md", text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
