"""TIGER reproduction (TIGER Table 1) and the item-ID ablation (random vs semantic codes).

    python bench/reproduce.py [--rows beauty:rqvae sports:rqvae ...] [--threads N] [--jobs N] [--skip-existing] [key=value ...]
    python bench/reproduce.py --continue --deadline-minutes 9 [...]   # lease-sized parts (see below)
    python bench/reproduce.py --summary-only

Each row ``<dataset>:<tokenizer>[@<encoder>][:<seed>]`` is one command, ``python train.py
experiment=tiger_<dataset> tokenizer=<tokenizer> [key=value ...]``: it fits (or reuses)
the item codes, trains TIGER with checkpoint selection on validation NDCG@10 and
reports on test in ``results/tiger-<tokenizer>-<dataset>/metrics.json``. Afterwards
(or with ``--summary-only``) every finished row is collected, with the paper's figures
and each run's learning curve (from its CSV log), into ``results/tiger/summary.json``
and ``results/tiger/table.md``. Needs the data root (GENREC_DATA_DIR). ``--jobs N``
runs N rows at once as separate processes (on one GPU: see ``bench/rows.py``).
``@<encoder>`` quantises another encoder's item text vectors (``bench/text_vectors.py``'s names:
``beauty:rqvae@gemma3-270m`` is tokenizer ``rqvae-gemma3-270m-beauty``, run
``tiger-rqvae-gemma3-270m-beauty``); ``:<seed>`` trains with another seed (``-seed<n>`` runs).

Lease-sized parts: with ``--continue`` a row whose report says it finished (early stopping,
``max_steps`` or ``max_epochs``) is skipped and a row with ``checkpoints/<run>/last.ckpt`` is
resumed (``trainer.resume=true``, exact on the fast path); ``--deadline-minutes M`` gives the rows
of this invocation M minutes in all, one after another, each stopped resumably
(``trainer.stop_after_minutes``) when its share runs out, so a row can go on in the next command
or the next session.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NamedTuple

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rows import add_row_options, parse_command_line, run_parallel  # noqa: E402
from text_vectors import ENCODERS  # noqa: E402

from genrec.artefacts import write_json_atomic, write_text_atomic  # noqa: E402
from genrec.config import compose  # noqa: E402
from genrec.evaluation.learning_curve import plot_curves, published_curve  # noqa: E402
from genrec.run_info import git_commit, hardware, versions  # noqa: E402

# TIGER (Rajput et al., NeurIPS 2023), Table 1: Recall@5, Recall@10, NDCG@5, NDCG@10
PAPER = {
    "beauty": {"recall@5": 0.0454, "recall@10": 0.0648, "ndcg@5": 0.0321, "ndcg@10": 0.0384},
    "sports": {"recall@5": 0.0264, "recall@10": 0.0400, "ndcg@5": 0.0181, "ndcg@10": 0.0225},
    "toys": {"recall@5": 0.0521, "recall@10": 0.0712, "ndcg@5": 0.0371, "ndcg@10": 0.0432},
}
REPRODUCTION = ["beauty:rqvae", "sports:rqvae", "toys:rqvae"]
ABLATION = ["beauty:random", "beauty:rqvae", "beauty:rqvae_sinkhorn", "beauty:rqkmeans", "beauty:rqkmeans_pca"]
# Sports' text regime (IDGenRec keywords, no title, brand or categories) on the same Beauty and Toys
# splits: how much of Sports' gap its missing titles explain (data=beauty_keywords, toys_keywords)
TEXT_SOURCE = ["beauty:rqvae", "beauty_keywords:rqvae", "toys:rqvae", "toys_keywords:rqvae"]
KEYWORD_DATA = {"beauty_keywords": "beauty", "toys_keywords": "toys"}
# The item text vectors RQ-VAE quantises: all-MiniLM-L6-v2 (the rows above) vs an offline LLM's
# mean-pooled states, on Beauty where Gemma-3-270M's are level with MiniLM's before training
TEXT_VECTORS = ["beauty:rqvae", "beauty:rqvae@gemma3-270m"]
COLUMNS = ("recall@5", "recall@10", "ndcg@5", "ndcg@10")


class Row(NamedTuple):
    dataset: str
    tokenizer: str
    encoder: str | None  # None: the tokenizer config's own text vectors (all-MiniLM-L6-v2)
    seed: int | None  # None: the experiment's (42)


def parse_row(row: str) -> Row:
    """``dataset:tokenizer[@encoder][:seed]``; a malformed row, an unknown encoder or a seed that is
    not a whole number is refused by name."""
    parts = row.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise SystemExit(f"row {row!r} is not dataset:tokenizer[@encoder][:seed] (e.g. beauty:rqvae@gemma3-270m:1)")
    tokenizer, _, encoder = parts[1].partition("@")
    if encoder and encoder not in ENCODERS:
        raise SystemExit(f"row {row!r}: unknown encoder {encoder!r}; encoders are {sorted(ENCODERS)}")
    if len(parts) == 3 and not parts[2].isdigit():
        raise SystemExit(f"row {row!r}: seed {parts[2]!r} is not a whole number")
    encoder = None if encoder in ("", "minilm") else encoder  # MiniLM: the tokenizer configs' own encoder
    return Row(parts[0], tokenizer, encoder, int(parts[2]) if len(parts) == 3 else None)


def tokenizer_name(row: str) -> str:
    """The fitted codes' name: ``<tokenizer>[-<encoder>]-<dataset>`` (``rqvae-gemma3-270m-beauty``)."""
    r = parse_row(row)
    return "-".join(filter(None, (r.tokenizer, r.encoder, r.dataset)))


def run_name(row: str) -> str:
    seed = parse_row(row).seed
    return f"tiger-{tokenizer_name(row)}" + (f"-seed{seed}" if seed is not None else "")


def arguments(row: str) -> list[str]:
    """The ``train.py`` arguments of one row."""
    r = parse_row(row)
    experiment = KEYWORD_DATA.get(r.dataset, r.dataset)  # keyword text: the base dataset's experiment
    args = [f"experiment=tiger_{experiment}", f"tokenizer={r.tokenizer}"]
    if r.dataset != experiment:
        args.append(f"data={r.dataset}")
    if r.encoder:
        args += [*ENCODERS[r.encoder], f"tokenizer.name={tokenizer_name(row)}"]
    if r.seed is not None:
        args.append(f"seed={r.seed}")
    if r.dataset != experiment or r.encoder or r.seed is not None:
        args.append(f"run={run_name(row)}")
    return args


def learning_curve(run: str) -> list[dict]:
    """Per validation check: epoch, step, validation NDCG@10 / Recall@10, as the run published them
    (``results/<run>/learning_curve.json``) or, for a run published before that file, from its logs
    where this checkout has them (every part of a resumed run)."""
    keys = ("epoch", "step", "valid_ndcg@10", "valid_recall@10")
    return [{k: check[k] for k in keys if k in check} for check in published_curve(run)["valid"]]


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
        r = parse_row(row)
        train = report.get("train") or {}
        entries.append({
            "row": row, "dataset": r.dataset, "tokenizer": r.tokenizer, "encoder": r.encoder or "minilm",
            "run": run_name(row),
            "test": {k: report["test"][k] for k in COLUMNS}, "valid_ndcg@10": report["valid"].get("ndcg@10"),
            "paper": PAPER.get(r.dataset) if r.tokenizer == "rqvae" and not r.encoder else None,
            "steps": train.get("steps"), "epochs": train.get("epochs"), "stop_reason": train.get("stop_reason"),
            "fit_minutes": fit_minutes(train),
            "train_samples_per_s": train.get("samples_per_s"), "eval_users_per_s": report.get("eval", {}).get(
                "users_per_s"),
            "curve": learning_curve(run_name(row)), "commit": report.get("commit"),
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


FINISHED = ("early_stopping", "max_steps", "max_epochs")
EVALUATION_RESERVE_MINUTES = 1.5  # a part's final evaluation (every test user) and start-up
SHORTEST_PART_MINUTES = 2.0


def row_status(cfg) -> str:
    """``finished`` (its report says training ended for a reason other than a time cap),
    ``resumable`` (a last.ckpt exists) or ``new``."""
    report = Path(cfg.results_dir) / cfg.run / "metrics.json"
    if report.is_file() and (json.loads(report.read_text()).get("train") or {}).get("stop_reason") in FINISHED:
        return "finished"
    return "resumable" if (Path(cfg.checkpoints_dir) / cfg.run / "last.ckpt").is_file() else "new"


def run_in_parts(rows: list[str], overrides: list[str], deadline_minutes: float | None, arguments_of=None,
                 requires_of=None, reserve_minutes: float = EVALUATION_RESERVE_MINUTES):
    """Train ``rows`` one after another in this process, resuming unfinished ones, within the deadline,
    keeping ``reserve_minutes`` of it for each part's start-up and final evaluation.
    ``requires_of(row)``: rows that must have finished before ``row`` starts (it waits otherwise)."""
    import gc
    import time

    from genrec.training.pipeline import train_run

    arguments_of = arguments_of or arguments
    start = time.perf_counter()
    for row in rows:
        status = row_status(compose([*arguments_of(row), *overrides]))
        if status == "finished":
            print(f"skipping {row}: finished")
            continue
        waiting = [r for r in (requires_of(row) if requires_of else ())
                   if row_status(compose([*arguments_of(r), *overrides])) != "finished"]
        if waiting:
            print(f"{row} waits for {', '.join(waiting)} to finish")
            continue
        extra = ["trainer.resume=true"] if status == "resumable" else []
        if deadline_minutes is not None:
            left = deadline_minutes - (time.perf_counter() - start) / 60 - reserve_minutes
            if left < SHORTEST_PART_MINUTES:
                print(f"deadline: {row} and later rows wait for the next invocation")
                break
            extra.append(f"trainer.stop_after_minutes={left:.2f}")
        print(f"{'resuming' if extra and extra[0].startswith('trainer.resume') else 'starting'} {row}", flush=True)
        train_run(compose([*arguments_of(row), *overrides, *extra]))
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", nargs="+", default=REPRODUCTION + [r for r in ABLATION if r not in REPRODUCTION])
    add_row_options(parser)
    parser.add_argument("--continue", dest="resume", action="store_true",
                        help="skip finished rows, resume unfinished ones from last.ckpt")
    parser.add_argument("--deadline-minutes", type=float, default=None, help="this invocation's time for all rows")
    args, overrides = parse_command_line(parser)
    if not args.summary_only:
        rows = [r for r in args.rows
                if not (args.skip_existing and (Path("results") / run_name(r) / "metrics.json").is_file())]
        for row in sorted(set(args.rows) - set(rows)):
            print(f"skipping {row}: results exist")
        if args.resume or args.deadline_minutes:
            run_in_parts(rows, overrides, args.deadline_minutes)
        elif args.jobs > 1:
            failed = {k: v for k, v in run_parallel({run_name(r): arguments(r) + overrides for r in rows},
                                                     args.jobs).items() if v}
            if failed:
                print(f"failed runs (see checkpoints/<run>/console.log): {failed}")
        else:
            from genrec.training.pipeline import train_run

            for row in rows:
                train_run(compose([*arguments(row), *overrides]))
    every = list(dict.fromkeys(REPRODUCTION + ABLATION + TEXT_SOURCE + TEXT_VECTORS + args.rows))
    summary = summarise(every)
    write_json_atomic(Path("results") / "tiger" / "summary.json", summary)
    plot_curves({e["run"]: e["curve"] for e in summary["rows"]}, Path("results") / "tiger" / "learning_curves.png",
                "TIGER rows: validation NDCG@10 per check")
    text = (table(summary, REPRODUCTION, "Reproduction (RQ-VAE codes), test split") + "\n\n"
            + table(summary, ABLATION, "Item-ID ablation on Beauty, same generator and budget, test split") + "\n\n"
            + table(summary, TEXT_SOURCE, "Item text: real titles vs Sports' IDGenRec keywords, test split") + "\n\n"
            + table(summary, TEXT_VECTORS, "Item text vectors: all-MiniLM-L6-v2 vs Gemma-3-270M (mean-pooled), "
                    "test split"))
    write_text_atomic(Path("results") / "tiger" / "table.md", text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
